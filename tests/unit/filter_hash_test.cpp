// Filter::serialize() and Filter::hash(): the Go library's test vectors (same text, same hash), its hash
// tests, the UTC time format, and the escaping that makes the serialisation injective.
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/filter.hpp>

namespace {

using eventstore::build_event_filter;
using eventstore::Filter;
using eventstore::P;
using eventstore::TimePoint;

TimePoint utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0, long long ns = 0) {
    using namespace std::chrono;
    return sys_days{year{y} / mo / d} + hours{h} + minutes{mi} + seconds{s} + nanoseconds{ns};
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// ---- golden vectors ---------------------------------------------------------------------------------------

struct Golden {
    const char* name;
    Filter filter;
    std::string serialisation;
    std::string hash;
};

std::vector<Golden> golden_vectors() {
    return {
        {"matching_any_event", build_event_filter().matching_any_event(), "",
         "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"one_type", build_event_filter().matching().any_event_type_of("A").finalize(),
         "item:0|event_types:A|predicate_logic:OR",
         "sha256:f5bda0a936bc1e742362ca0da54680fad2c077a5216656c51439a81f7e09c95f"},
        {"sanitised_types_and_predicates",
         build_event_filter()
             .matching()
             .any_event_type_of("B", "A", "A", "")
             .and_any_predicate_of(P("Key2", "Value2"), P("Key1", "Value1"))
             .finalize(),
         "item:0|event_types:A,B|predicates:Key1=Value1,Key2=Value2|predicate_logic:OR",
         "sha256:6bccfe8d5e18fb35a26d0ff5137aa3de75bed9a6930d543c9f48eb6a9db77bd5"},
        {"type_and_sequence",
         build_event_filter()
             .matching()
             .any_event_type_of("TestEvent")
             .with_sequence_number_higher_than(98765)
             .finalize(),
         "item:0|event_types:TestEvent|predicate_logic:OR||sequence_higher_than:98765",
         "sha256:a870dae80cfd59285b59ac91b564fe54dc035c5ca9c4a7e42cb931d5fc2ba530"},
        {"root_sequence", build_event_filter().with_sequence_number_higher_than(5).finalize(),
         "item:0|predicate_logic:OR||sequence_higher_than:5",
         "sha256:407861a69b0e110f3007c8275b36350617409c3fe8406974bd70dce596bf3216"},
        {"all_predicates", build_event_filter().matching().all_predicates_of(P("K", "V")).finalize(),
         "item:0|predicates:K=V|predicate_logic:AND",
         "sha256:b6ba9316ffbf9a66d35dd726d37e3a9cc1833e1476960a6d39dfc98275e690c6"},
        {"book_types_and_id",
         build_event_filter()
             .matching()
             .any_event_type_of("BookCopyReturnedByReader", "BookCopyLentToReader", "BookCopyRemovedFromCirculation",
                                "BookCopyAddedToCirculation")
             .and_any_predicate_of(P("BookID", "0198f8b2-1c3e-7d6a-9a4b-0123456789ab"))
             .finalize(),
         "item:0|event_types:BookCopyAddedToCirculation,BookCopyLentToReader,BookCopyRemovedFromCirculation,"
         "BookCopyReturnedByReader|predicates:BookID=0198f8b2-1c3e-7d6a-9a4b-0123456789ab|predicate_logic:OR",
         "sha256:e8d1e46cee6cc5366528733f00ca9454f99b607906ba40f33ef878b6774c4633"},
    };
}

TEST(FilterGolden, SerialisationAndHashMatchTheGoLibrary) {
    for (const Golden& golden : golden_vectors()) {
        EXPECT_EQ(golden.filter.serialize(), golden.serialisation) << golden.name;
        EXPECT_EQ(golden.filter.hash(), golden.hash) << golden.name;
    }
}

TEST(FilterGolden, OffsetTimesAreNormalisedToUtc) {
    // Go writes a time in its own zone, so its golden row "occurred_from:2025-01-01T13:00:00+01:00" (hash
    // sha256:cbc06889...) cannot be produced here: a system_clock time point carries no zone, and this library
    // always writes UTC. The same instant therefore serialises as 12:00:00Z, and the same instant always gets
    // the same hash whatever zone the caller had in mind.
    const TimePoint instant = utc(2025, 1, 1, 13) - std::chrono::hours{1}; // 13:00 at +01:00
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("B", "A", "A", "")
                         .and_any_predicate_of(P("Key2", "Value2"), P("Key1", "Value1"))
                         .occurred_from(instant)
                         .finalize();
    EXPECT_EQ(f.serialize(), "item:0|event_types:A,B|predicates:Key1=Value1,Key2=Value2|predicate_logic:OR"
                             "||occurred_from:2025-01-01T12:00:00Z");
    EXPECT_NE(f.hash(), "sha256:cbc06889744632fa96ba0d5ba9ce0e6a4ed6b8702cccb58db60d0e737e0e738d");
    EXPECT_EQ(f.hash(), build_event_filter()
                            .matching()
                            .any_event_type_of("A", "B")
                            .and_any_predicate_of(P("Key1", "Value1"), P("Key2", "Value2"))
                            .occurred_from(utc(2025, 1, 1, 12))
                            .finalize()
                            .hash());
}

// ---- time format: Go's RFC3339Nano in UTC ----------------------------------------------------------------

std::string from_part(TimePoint t) {
    const std::string s = build_event_filter().occurred_from(t).finalize().serialize();
    const std::string marker = "occurred_from:";
    return s.substr(s.find(marker) + marker.size());
}

TEST(FilterTimeFormat, Rfc3339NanoUtc) {
    EXPECT_EQ(from_part(utc(2025, 1, 1, 12)), "2025-01-01T12:00:00Z");
    EXPECT_EQ(from_part(utc(2025, 1, 2, 9, 0, 0, 500000000)), "2025-01-02T09:00:00.5Z");
    EXPECT_EQ(from_part(utc(2025, 12, 31, 23, 59, 59, 123456000)), "2025-12-31T23:59:59.123456Z");
    EXPECT_EQ(from_part(utc(2024, 2, 29, 0, 0, 0, 1)), "2024-02-29T00:00:00.000000001Z");
    EXPECT_EQ(from_part(utc(2000, 3, 1, 7, 8, 9, 100)), "2000-03-01T07:08:09.0000001Z");
    EXPECT_EQ(from_part(utc(1970, 1, 1)), "1970-01-01T00:00:00Z");
    EXPECT_EQ(from_part(utc(1969, 12, 31, 23, 59, 59, 999000000)), "1969-12-31T23:59:59.999Z");
    EXPECT_EQ(from_part(utc(1900, 1, 1, 1, 2, 3)), "1900-01-01T01:02:03Z");
}

// The first and last days the clock can represent (nanoseconds since 1970 in an int64, as libstdc++'s
// system_clock counts them): finding the day by flooring the time itself overflowed there (found by
// fuzz/filter_fuzz.cpp, as undefined behaviour under UBSan).
TEST(FilterTimeFormat, TheClocksFirstAndLastDays) {
    EXPECT_EQ(from_part(TimePoint::min()), "1677-09-21T00:12:43.145224192Z");
    EXPECT_EQ(from_part(TimePoint::max()), "2262-04-11T23:47:16.854775807Z");
    EXPECT_EQ(from_part(TimePoint::min() + std::chrono::hours{23}), "1677-09-21T23:12:43.145224192Z");
    EXPECT_EQ(from_part(TimePoint::max() - std::chrono::hours{23}), "2262-04-11T00:47:16.854775807Z");
    EXPECT_EQ(from_part(utc(1677, 9, 22)), "1677-09-22T00:00:00Z");
}

TEST(FilterTimeFormat, BothBoundsInOrder) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A")
                         .occurred_from(utc(2025, 1, 1, 12))
                         .and_occurred_until(utc(2025, 1, 2, 9, 0, 0, 500000000))
                         .finalize();
    EXPECT_EQ(f.serialize(), "item:0|event_types:A|predicate_logic:OR||occurred_from:2025-01-01T12:00:00Z"
                             "||occurred_until:2025-01-02T09:00:00.5Z");
    const Filter until_only = build_event_filter().occurred_until(utc(2025, 6, 1)).finalize();
    EXPECT_EQ(until_only.serialize(), "item:0|predicate_logic:OR||occurred_until:2025-06-01T00:00:00Z");
}

// ---- Go hash tests -----------------------------------------------------------------------------------------

TEST(FilterHash, Deterministic) {
    const std::vector<Filter> filters = {
        build_event_filter().matching_any_event(),
        build_event_filter().matching().any_event_type_of("A", "B").finalize(),
        build_event_filter().matching().any_predicate_of(P("k", "v")).finalize(),
        build_event_filter()
            .matching()
            .all_predicates_of(P("k", "v"), P("k2", "v2"))
            .and_any_event_type_of("A")
            .finalize(),
        build_event_filter().occurred_from(utc(2025, 1, 1)).and_occurred_until(utc(2025, 2, 1)).finalize(),
        build_event_filter().matching().any_event_type_of("A").with_sequence_number_higher_than(9).finalize(),
    };
    for (const Filter& f : filters) {
        const std::string h = f.hash();
        EXPECT_EQ(h, f.hash());
        EXPECT_EQ(h.size(), 71U);
        EXPECT_EQ(h.rfind("sha256:", 0), 0U);
        EXPECT_EQ(h.substr(7).find_first_not_of("0123456789abcdef"), std::string::npos) << h;
    }
}

TEST(FilterHash, DifferentFiltersDifferentHashes) {
    const auto typed = [](const char* type) {
        return build_event_filter().matching().any_event_type_of(type).finalize();
    };
    EXPECT_NE(typed("A").hash(), typed("B").hash());

    const auto with_value = [](const char* value) {
        return build_event_filter().matching().any_predicate_of(P("k", value)).finalize();
    };
    EXPECT_NE(with_value("1").hash(), with_value("2").hash());

    EXPECT_NE(build_event_filter().matching().any_predicate_of(P("a", "1"), P("b", "2")).finalize().hash(),
              build_event_filter().matching().all_predicates_of(P("a", "1"), P("b", "2")).finalize().hash());

    const auto from = [](TimePoint t) {
        return build_event_filter().matching().any_event_type_of("A").occurred_from(t).finalize();
    };
    EXPECT_NE(from(utc(2025, 1, 1)).hash(), from(utc(2025, 1, 2)).hash());
    EXPECT_NE(from(utc(2025, 1, 1)).hash(), from(utc(2025, 1, 1, 0, 0, 0, 1)).hash());
    EXPECT_NE(from(utc(2025, 1, 1)).hash(),
              build_event_filter().matching().any_event_type_of("A").occurred_until(utc(2025, 1, 1)).finalize().hash());

    const auto seq = [](std::uint64_t n) {
        return build_event_filter().matching().any_event_type_of("A").with_sequence_number_higher_than(n).finalize();
    };
    EXPECT_NE(seq(1).hash(), seq(2).hash());
    EXPECT_NE(seq(1).hash(), typed("A").hash());
}

TEST(FilterHash, SameFilterSameHash) {
    const auto build = [] {
        return build_event_filter()
            .matching()
            .any_event_type_of("A", "B")
            .and_any_predicate_of(P("k1", "v1"), P("k2", "v2"))
            .occurred_from(utc(2025, 1, 1))
            .finalize();
    };
    EXPECT_EQ(build().hash(), build().hash());

    const Filter reordered = build_event_filter()
                                 .matching()
                                 .any_event_type_of("B", "A", "B", "")
                                 .and_any_predicate_of(P("k2", "v2"), P("k1", "v1"), P("", "x"))
                                 .occurred_from(utc(2025, 1, 1))
                                 .finalize();
    EXPECT_EQ(reordered.hash(), build().hash());
    EXPECT_EQ(reordered, build());
}

// ---- Go serialisation tests ---------------------------------------------------------------------------------

TEST(FilterSerialize, IncludesAllComponents) {
    const std::string s = build_event_filter()
                              .matching()
                              .any_event_type_of("EventA")
                              .and_all_predicates_of(P("BookID", "book-123"))
                              .or_matching()
                              .any_event_type_of("EventB")
                              .and_any_predicate_of(P("ReaderID", "reader-1"))
                              .occurred_from(utc(2025, 1, 1))
                              .and_occurred_until(utc(2025, 12, 31))
                              .finalize()
                              .serialize();
    for (const char* part : {"EventA", "BookID=book-123", "predicate_logic:AND", "predicate_logic:OR",
                             "occurred_from:", "occurred_until:", "item:0", "item:1"}) {
        EXPECT_TRUE(contains(s, part)) << part << " in " << s;
    }
    EXPECT_EQ(s, "item:0|event_types:EventA|predicates:BookID=book-123|predicate_logic:AND"
                 "||item:1|event_types:EventB|predicates:ReaderID=reader-1|predicate_logic:OR"
                 "||occurred_from:2025-01-01T00:00:00Z||occurred_until:2025-12-31T00:00:00Z");
}

TEST(FilterSerialize, WithSequenceBoundary) {
    const std::string s = build_event_filter()
                              .matching()
                              .any_event_type_of("A")
                              .with_sequence_number_higher_than(98765)
                              .finalize()
                              .serialize();
    EXPECT_TRUE(contains(s, "sequence_higher_than:98765"));
    EXPECT_FALSE(contains(s, "occurred_from:"));
    EXPECT_FALSE(contains(s, "occurred_until:"));
}

TEST(FilterSerialize, EmptyComponents) {
    const std::string s = build_event_filter().matching().any_event_type_of("A").finalize().serialize();
    EXPECT_TRUE(contains(s, "predicate_logic:OR"));
    EXPECT_FALSE(contains(s, "predicates:"));
    EXPECT_FALSE(contains(s, "occurred_from:"));
    EXPECT_FALSE(contains(s, "sequence_higher_than:"));
}

TEST(FilterSerialize, EmptyItemsKeepTheirPlace) {
    const Filter f =
        build_event_filter().matching().any_event_type_of("").or_matching().any_event_type_of("A").finalize();
    EXPECT_EQ(f.serialize(), "item:0|predicate_logic:OR||item:1|event_types:A|predicate_logic:OR");
}

// ---- injectivity ------------------------------------------------------------------------------------------------

// The Go library's serialisation of the items alone, without escaping: used to prove that a pair of filters
// really collides there.
std::string go_items_serialisation(const Filter& f) {
    std::string out;
    for (std::size_t i = 0; i < f.items().size(); ++i) {
        const auto& item = f.items()[i];
        out += (i > 0 ? "||item:" : "item:") + std::to_string(i);
        if (!item.event_types().empty()) {
            out += "|event_types:";
            for (std::size_t t = 0; t < item.event_types().size(); ++t) {
                out += (t > 0 ? "," : "") + item.event_types()[t];
            }
        }
        if (!item.predicates().empty()) {
            out += "|predicates:";
            for (std::size_t p = 0; p < item.predicates().size(); ++p) {
                out += (p > 0 ? "," : "") + item.predicates()[p].key() + "=" + item.predicates()[p].val();
            }
        }
        out += item.all_predicates_must_match() ? "|predicate_logic:AND" : "|predicate_logic:OR";
    }
    return out;
}

TEST(FilterInjectivity, GoCollisionsSerialiseDifferently) {
    // Each pair serialises identically in the Go library.
    struct Pair {
        Filter first;
        Filter second;
    };
    const std::vector<Pair> pairs = {
        // a value holding ',' and '=' versus two predicates
        {build_event_filter().matching().any_predicate_of(P("a", "b,c=d")).finalize(),
         build_event_filter().matching().any_predicate_of(P("a", "b"), P("c", "d")).finalize()},
        // '=' moved between key and value
        {build_event_filter().matching().any_predicate_of(P("a=b", "c")).finalize(),
         build_event_filter().matching().any_predicate_of(P("a", "b=c")).finalize()},
        // one type holding ',' versus two types
        {build_event_filter().matching().any_event_type_of("A,B").finalize(),
         build_event_filter().matching().any_event_type_of("A", "B").finalize()},
        // a type swallowing the predicates field
        {build_event_filter().matching().any_event_type_of("X|predicates:k=v").finalize(),
         build_event_filter().matching().any_event_type_of("X").and_any_predicate_of(P("k", "v")).finalize()},
        // a type swallowing a whole second item
        {build_event_filter().matching().any_event_type_of("A|predicate_logic:OR||item:1|event_types:B").finalize(),
         build_event_filter().matching().any_event_type_of("A").or_matching().any_event_type_of("B").finalize()},
        // a value swallowing the AND logic and a second item
        {build_event_filter()
             .matching()
             .any_predicate_of(P("k", "v|predicate_logic:AND||item:1|predicates:k2=v2"))
             .finalize(),
         build_event_filter()
             .matching()
             .all_predicates_of(P("k", "v"))
             .or_matching()
             .any_predicate_of(P("k2", "v2"))
             .finalize()},
    };
    for (std::size_t i = 0; i < pairs.size(); ++i) {
        EXPECT_EQ(go_items_serialisation(pairs[i].first), go_items_serialisation(pairs[i].second)) << "pair " << i;
        EXPECT_NE(pairs[i].first.serialize(), pairs[i].second.serialize()) << "pair " << i;
        EXPECT_NE(pairs[i].first.hash(), pairs[i].second.hash()) << "pair " << i;
    }
}

TEST(FilterInjectivity, DelimitersArePercentEncoded) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("T|1,2=3:4%5")
                         .and_any_predicate_of(P("k:=", "v,|%"))
                         .finalize();
    EXPECT_EQ(f.serialize(),
              "item:0|event_types:T%7C1%2C2%3D3%3A4%255|predicates:k%3A%3D=v%2C%7C%25|predicate_logic:OR");
}

TEST(FilterInjectivity, PercentItselfIsEscapedFirst) {
    // Without escaping '%', the literal text "%7C" and the escaped "|" would serialise alike.
    const Filter literal = build_event_filter().matching().any_event_type_of("%7C").finalize();
    const Filter pipe = build_event_filter().matching().any_event_type_of("|").finalize();
    EXPECT_EQ(literal.serialize(), "item:0|event_types:%257C|predicate_logic:OR");
    EXPECT_EQ(pipe.serialize(), "item:0|event_types:%7C|predicate_logic:OR");
    EXPECT_NE(literal.hash(), pipe.hash());
}

TEST(FilterInjectivity, ManyTrickyFiltersAllDiffer) {
    const std::vector<std::string> names = {"a", "b",   "a,b", "a|b", "a=b", "a:b", "a%b",  "a%2Cb",
                                            "%", "%25", ",",   "|",   "=",   ":",   "a||b", "item:1"};
    std::set<std::string> serialisations;
    std::size_t built = 0;
    for (const std::string& x : names) {
        serialisations.insert(build_event_filter().matching().any_event_type_of(x).finalize().serialize());
        serialisations.insert(build_event_filter().matching().any_predicate_of(P(x, "v")).finalize().serialize());
        serialisations.insert(build_event_filter().matching().any_predicate_of(P("k", x)).finalize().serialize());
        built += 3;
        for (const std::string& y : names) {
            if (x < y) {
                serialisations.insert(build_event_filter().matching().any_event_type_of(x, y).finalize().serialize());
                serialisations.insert(build_event_filter().matching().any_predicate_of(P(x, y)).finalize().serialize());
                built += 2;
            }
        }
    }
    EXPECT_EQ(serialisations.size(), built);
}

TEST(FilterInjectivity, QuotesBackslashesAndUnicodeAreVerbatim) {
    const std::string value = "O'Reilly \"Media\" \\ Inc. Z\xC3\xBCrich \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\x9A";
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("Typ\xC3\xA9")
                         .and_any_predicate_of(P("Publisher", value))
                         .finalize();
    EXPECT_EQ(f.serialize(), "item:0|event_types:Typ\xC3\xA9|predicates:Publisher=" + value + "|predicate_logic:OR");
}

} // namespace
