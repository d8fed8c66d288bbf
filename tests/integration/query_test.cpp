// Query: the Go library's table of filters over its nine-event book-lending fixture, and the edges of
// filter matching (items OR-ed, predicates on top-level string members only, escaping).

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/fixture.hpp"

namespace {

using eventstore::build_event_filter;
using eventstore::build_storable_event_with_empty_metadata;
using eventstore::Errc;
using eventstore::Filter;
using eventstore::P;
using eventstore::QueryResult;
using eventstore::SequenceNumber;
using eventstore::StorableEvent;
using eventstore::StorableEvents;
using namespace eventstore::test;

const std::string book_1 = make_uuid(0xB1);
const std::string book_2 = make_uuid(0xB2);
const std::string reader_1 = make_uuid(0xA1);
const std::string reader_2 = make_uuid(0xA2);

const std::string added{book_copy_added_to_circulation};
const std::string removed{book_copy_removed_from_circulation};
const std::string lent{book_copy_lent_to_reader};
const std::string returned{book_copy_returned_by_reader};

// The Go fixture: 9 events at t = 1..9 s after the epoch, sequence numbers 1..9.
StorableEvents nine_events() {
    return {
        added_to_circulation(book_1, at(1)),         // 1
        lent_to_reader(book_1, reader_1, at(2)),     // 2
        returned_by_reader(book_1, reader_1, at(3)), // 3
        removed_from_circulation(book_1, at(4)),     // 4
        added_to_circulation(book_2, at(5)),         // 5
        lent_to_reader(book_2, reader_2, at(6)),     // 6
        returned_by_reader(book_2, reader_2, at(7)), // 7
        lent_to_reader(book_2, reader_1, at(8)),     // 8
        returned_by_reader(book_2, reader_1, at(9)), // 9
    };
}

class QueryTest : public StoreTest {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        if (HasFatalFailure()) {
            return;
        }
        m_events = nine_events();
        // One append per event, each expecting the stream of everything so far: sequence numbers 1..9.
        for (std::size_t i = 0; i < m_events.size(); ++i) {
            store().append(Filter(), static_cast<SequenceNumber>(i), m_events[i]);
        }
        ASSERT_EQ(count_rows(), 9);
    }

    // Checks that `result` holds exactly the fixture events with these sequence numbers, in order.
    void expect_events(const QueryResult& result, const std::vector<SequenceNumber>& expected) {
        ASSERT_EQ(result.events.size(), expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i) {
            SCOPED_TRACE("event " + std::to_string(i));
            EXPECT_TRUE(same_event(result.events[i], m_events[expected[i] - 1], expected[i]));
        }
        EXPECT_EQ(result.max_sequence_number, expected.empty() ? 0 : expected.back());
    }

    StorableEvents m_events;
};

// --- Test_QueryingWithFilter_WorksAsExpected: the 20 cases ---------------------------------------------

struct QueryCase {
    const char* name;
    Filter (*filter)();
    std::vector<SequenceNumber> expected;
};

void PrintTo(const QueryCase& c, std::ostream* os) { *os << c.name; }

Filter two_items() {
    return build_event_filter()
        .matching()
        .any_event_type_of(lent)
        .and_any_predicate_of(P("BookID", book_1))
        .or_matching()
        .any_event_type_of(returned)
        .and_any_predicate_of(P("BookID", book_2))
        .finalize();
}

std::vector<QueryCase> query_cases() {
    return {
        {"EmptyFilter", [] { return build_event_filter().matching_any_event(); }, {1, 2, 3, 4, 5, 6, 7, 8, 9}},
        {"OccurredFrom", [] { return build_event_filter().occurred_from(at(5)).finalize(); }, {5, 6, 7, 8, 9}},
        {"OccurredUntil", [] { return build_event_filter().occurred_until(at(1)).finalize(); }, {1}},
        {"OccurredFromUntil",
         [] { return build_event_filter().occurred_from(at(2)).and_occurred_until(at(7)).finalize(); },
         {2, 3, 4, 5, 6, 7}},
        {"EventType", [] { return build_event_filter().matching().any_event_type_of(added).finalize(); }, {1, 5}},
        {"AnyOfTwoEventTypes",
         [] { return build_event_filter().matching().any_event_type_of(added, removed).finalize(); },
         {1, 4, 5}},
        {"Predicate",
         [] { return build_event_filter().matching().any_predicate_of(P("BookID", book_1)).finalize(); },
         {1, 2, 3, 4}},
        {"AnyOfTwoPredicates",
         [] {
             return build_event_filter()
                 .matching()
                 .any_predicate_of(P("BookID", book_1), P("ReaderID", reader_1))
                 .finalize();
         },
         {1, 2, 3, 4, 8, 9}},
        {"AllOfTwoPredicates",
         [] {
             return build_event_filter()
                 .matching()
                 .all_predicates_of(P("BookID", book_1), P("ReaderID", reader_1))
                 .finalize();
         },
         {2, 3}},
        {"EventTypeAndPredicate",
         [] {
             return build_event_filter()
                 .matching()
                 .any_event_type_of(lent)
                 .and_any_predicate_of(P("ReaderID", reader_1))
                 .finalize();
         },
         {2, 8}},
        {"EventTypeAndAnyOfTwoPredicates",
         [] {
             return build_event_filter()
                 .matching()
                 .any_event_type_of(lent)
                 .and_any_predicate_of(P("BookID", book_1), P("ReaderID", reader_2))
                 .finalize();
         },
         {2, 6}},
        {"EventTypeAndAllOfTwoPredicates",
         [] {
             return build_event_filter()
                 .matching()
                 .any_event_type_of(lent)
                 .and_all_predicates_of(P("BookID", book_2), P("ReaderID", reader_1))
                 .finalize();
         },
         {8}},
        {"AnyOfTwoEventTypesAndPredicate",
         [] {
             return build_event_filter()
                 .matching()
                 .any_event_type_of(added, removed)
                 .and_any_predicate_of(P("BookID", book_1))
                 .finalize();
         },
         {1, 4}},
        {"AnyOfTwoEventTypesAndAnyOfTwoValuesOfOneKey",
         [] {
             return build_event_filter()
                 .matching()
                 .any_event_type_of(lent, returned)
                 .and_any_predicate_of(P("BookID", book_1), P("BookID", book_2))
                 .finalize();
         },
         {2, 3, 6, 7, 8, 9}},
        {"AnyOfTwoEventTypesAndAllOfTwoPredicates",
         [] {
             return build_event_filter()
                 .matching()
                 .any_event_type_of(lent, returned)
                 .and_all_predicates_of(P("BookID", book_2), P("ReaderID", reader_1))
                 .finalize();
         },
         {8, 9}},
        {"TwoItems", two_items, {2, 7, 9}},
        {"TwoItemsOccurredFrom",
         [] {
             return build_event_filter()
                 .matching()
                 .any_event_type_of(lent)
                 .and_any_predicate_of(P("BookID", book_1))
                 .or_matching()
                 .any_event_type_of(returned)
                 .and_any_predicate_of(P("BookID", book_2))
                 .occurred_from(at(7))
                 .finalize();
         },
         {7, 9}},
        {"TwoItemsOccurredUntil",
         [] {
             return build_event_filter()
                 .matching()
                 .any_event_type_of(lent)
                 .and_any_predicate_of(P("BookID", book_1))
                 .or_matching()
                 .any_event_type_of(returned)
                 .and_any_predicate_of(P("BookID", book_2))
                 .occurred_until(at(7))
                 .finalize();
         },
         {2, 7}},
        {"TwoItemsOccurredFromUntilSameInstant",
         [] {
             return build_event_filter()
                 .matching()
                 .any_event_type_of(lent)
                 .and_any_predicate_of(P("BookID", book_1))
                 .or_matching()
                 .any_event_type_of(returned)
                 .and_any_predicate_of(P("BookID", book_2))
                 .occurred_from(at(7))
                 .and_occurred_until(at(7))
                 .finalize();
         },
         {7}},
        {"TwoItemsSequenceNumberHigherThan",
         [] {
             return build_event_filter()
                 .matching()
                 .any_event_type_of(lent)
                 .and_any_predicate_of(P("BookID", book_1))
                 .or_matching()
                 .any_event_type_of(returned)
                 .and_any_predicate_of(P("BookID", book_2))
                 .with_sequence_number_higher_than(8)
                 .finalize();
         },
         {9}},
    };
}

class Test_QueryingWithFilter_WorksAsExpected : public QueryTest, public ::testing::WithParamInterface<QueryCase> {};

TEST_P(Test_QueryingWithFilter_WorksAsExpected, Case) {
    const QueryCase& c = GetParam();
    SCOPED_TRACE(c.name);
    const QueryResult result = store().query(c.filter());
    expect_events(result, c.expected);
}

INSTANTIATE_TEST_SUITE_P(Table, Test_QueryingWithFilter_WorksAsExpected, ::testing::ValuesIn(query_cases()),
                         [](const ::testing::TestParamInfo<QueryCase>& p) { return std::string(p.param.name); });

TEST(QueryCases, TableHasTheTwentyGoCases) { EXPECT_EQ(query_cases().size(), 20U); }

// --- stream edges -----------------------------------------------------------------------------------------

TEST_F(QueryTest, UnknownStreamGivesEmptyResultAndZero) {
    const QueryResult result = store().query(book_filter(make_uuid(0xDEAD)));
    EXPECT_TRUE(result.events.empty());
    EXPECT_EQ(result.max_sequence_number, 0U);
}

TEST_F(QueryTest, EmptyResultWithSequenceBoundStillGivesZero) {
    const QueryResult result = store().query(build_event_filter().with_sequence_number_higher_than(9).finalize());
    EXPECT_TRUE(result.events.empty());
    EXPECT_EQ(result.max_sequence_number, 0U);
}

TEST_F(QueryTest, MaxSequenceNumberIsTheLastMatchingEventsNumber) {
    // Book 1's last event is 4, although the table holds events up to 9.
    expect_events(store().query(book_filter(book_1)), {1, 2, 3, 4});
    expect_events(store().query(book_filter(book_2)), {5, 6, 7, 8, 9});
    expect_events(store().query(book_or_reader_filter(book_1, reader_2)), {1, 2, 3, 4, 6, 7});
}

TEST_F(QueryTest, ReturnedEventsCarryTheirMetadata) {
    const std::string meta = metadata_json(make_uuid(1), make_uuid(2), make_uuid(3));
    const StorableEvent e =
        eventstore::build_storable_event(lent, at(10), lent_to_reader_payload(book_1, reader_2, at(10)), meta);
    store().append(book_filter(book_1), 4, e);
    const QueryResult result = store().query(book_filter(book_1));
    ASSERT_EQ(result.events.size(), 5U);
    EXPECT_TRUE(same_event(result.events.back(), e, 10));
    EXPECT_TRUE(json_equal(result.events.front().metadata_json, "{}"));
}

// --- payload round trip ---------------------------------------------------------------------------------------

TEST_F(QueryTest, PayloadRoundTripIsSemanticAsNormalisedByJsonb) {
    const std::string payload =
        R"({ "ZKey" : "v" ,  "A": [1, 2.50, {"n":null}],"BookID":"x-1", "Deep":{"b":true,"a":false} })";
    const StorableEvent e = build_storable_event_with_empty_metadata("Odd", at(100), payload);
    append_unconditionally(e);

    const QueryResult result = store().query(build_event_filter().matching().any_event_type_of("Odd").finalize());
    ASSERT_EQ(result.events.size(), 1U);
    const StorableEvent& got = result.events.front();
    EXPECT_EQ(got.sequence_number, 10U);
    EXPECT_EQ(got.occurred_at, at(100));
    EXPECT_TRUE(json_equal(got.payload_json, payload));
    // Not byte-exact: what comes back is jsonb's own rendering of the document.
    EXPECT_NE(got.payload_json, payload);
    EXPECT_EQ(got.payload_json, jsonb_text(payload));
}

TEST_F(QueryTest, OccurredAtRoundTripsWithMicrosecondPrecision) {
    const auto t = at(1'750'000'000) + std::chrono::microseconds(123'456);
    const StorableEvent e = lent_to_reader(book_1, reader_1, t);
    append_unconditionally(e);
    const QueryResult result = store().query(build_event_filter().with_sequence_number_higher_than(9).finalize());
    ASSERT_EQ(result.events.size(), 1U);
    EXPECT_TRUE(same_event(result.events.front(), e, 10));
}

// --- predicate values and keys that need escaping -------------------------------------------------------------

struct Tricky {
    std::string key;
    std::string value;
    std::string near_miss_value; // stored too, under the same key: must not match
};

std::vector<Tricky> tricky_predicates() {
    return {
        {"Name", "O'Reilly Media, Inc.", "O''Reilly Media, Inc."},
        {"Name", "a\"b\\c", "a\"b\\\\c"},
        {"Name", "a\"b\\c", "a\\\"b\\c"},
        {"Title", "\xC3\xBC\xE2\x82\xAC\xF0\x9F\x98\x80",
         "u\xCC\x88\xE2\x82\xAC\xF0\x9F\x98\x80"}, // ü€😀 vs u+combining
        {"Title", "| , = : %", "|,=:%"},
        {"Title", "%", "_"},
        {"Title", "\\u0041", "A"},
        {"Title", "line\nbreak\ttab", "line\\nbreak\\ttab"},
        {"Title", "'); DROP TABLE x; --", "'); DROP TABLE x; -- "},
        {"Title", "\"}", "\"} "},
        {"we'ird \"key\" \xC3\xBC|=:%,", "v", "V"},
        {"k\\", "\"", "\\\""},
    };
}

TEST_F(QueryTest, PredicateKeysAndValuesWithSpecialCharactersAreStoredAndMatchedExactly) {
    const auto cases = tricky_predicates();
    std::vector<SequenceNumber> exact_sequence(cases.size());
    SequenceNumber next = 10;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const Tricky& c = cases[i];
        // The near miss first, so that a filter matching both would report two events.
        append_unconditionally(build_storable_event_with_empty_metadata(
            "Tricky", at(1000), nlohmann::ordered_json{{c.key, c.near_miss_value}, {"Case", i}}.dump()));
        ++next;
        append_unconditionally(build_storable_event_with_empty_metadata(
            "Tricky", at(1000), nlohmann::ordered_json{{c.key, c.value}, {"Case", i}}.dump()));
        exact_sequence[i] = next++;
    }
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const Tricky& c = cases[i];
        SCOPED_TRACE("case " + std::to_string(i) + ": key " + nlohmann::json(c.key).dump() + ", value " +
                     nlohmann::json(c.value).dump());
        // Distinct cases may share a value (the two a"b\c ones): the event of the other case matches too.
        std::vector<SequenceNumber> expected;
        for (std::size_t j = 0; j < cases.size(); ++j) {
            if (cases[j].key == c.key && cases[j].value == c.value) {
                expected.push_back(exact_sequence[j]);
            }
            if (cases[j].key == c.key && cases[j].near_miss_value == c.value) {
                expected.push_back(exact_sequence[j] - 1);
            }
        }
        std::sort(expected.begin(), expected.end());
        for (const Filter& f : {build_event_filter().matching().any_predicate_of(P(c.key, c.value)).finalize(),
                                build_event_filter()
                                    .matching()
                                    .any_event_type_of("Tricky")
                                    .and_all_predicates_of(P(c.key, c.value))
                                    .finalize()}) {
            const QueryResult result = store().query(f);
            std::vector<SequenceNumber> got;
            for (const StorableEvent& e : result.events) {
                got.push_back(e.sequence_number);
            }
            EXPECT_EQ(got, expected);
            const auto own = std::find(got.begin(), got.end(), exact_sequence[i]);
            ASSERT_NE(own, got.end());
            const StorableEvent& e = result.events[static_cast<std::size_t>(own - got.begin())];
            EXPECT_TRUE(json_equal(e.payload_json, nlohmann::json{{c.key, c.value}, {"Case", i}}.dump()));
        }
    }
    // Nothing else was touched by the values spliced into filters.
    EXPECT_EQ(count_rows(), 9 + 2 * static_cast<std::int64_t>(cases.size()));
}

TEST_F(QueryTest, FixturePublisherWithApostropheCanBeFilteredOn) {
    const QueryResult result = store().query(
        build_event_filter().matching().any_predicate_of(P("Publisher", "O'Reilly Media, Inc.")).finalize());
    expect_events(result, {1, 5});
}

TEST_F(QueryTest, NulBytesInPredicatesAreRejectedBeforeQuerying) {
    using namespace std::string_literals;
    const std::vector<eventstore::FilterPredicate> predicates{P("Book\0ID"s, book_1), P("BookID", "b\0"s)};
    for (const auto& p : predicates) {
        SCOPED_TRACE(nlohmann::json(p.key()).dump() + "=" + nlohmann::json(p.val()).dump());
        // A pool that has never been used: if the query reached the database, it would open a connection.
        auto fresh_pool = eventstore::postgres::ConnectionPool::create(conninfo());
        auto fresh_store = make_store(fresh_pool);
        const auto err = thrown_error(
            [&] { (void)fresh_store->query(build_event_filter().matching().any_predicate_of(p).finalize()); });
        ASSERT_TRUE(err.has_value());
        EXPECT_EQ(err->code(), Errc::querying_events_failed) << describe(err);
        EXPECT_TRUE(err->is(Errc::querying_events_failed)) << describe(err);
        EXPECT_TRUE(err->is(Errc::invalid_filter)) << describe(err);
        EXPECT_EQ(fresh_pool->open_connections(), 0U);
    }
}

// --- what a predicate never matches -----------------------------------------------------------------------

TEST_F(QueryTest, PredicateMatchesOnlyTopLevelStringValues) {
    const std::vector<std::string> payloads{
        R"({"Year":2021})",               // 10: a number
        R"({"Year":{"Year":"2021"}})",    // 11: a nested object holding the pair
        R"({"Nested":{"Year":"2021"}})",  // 12: the pair one level down
        R"({"Year":["2021"]})",           // 13: an array holding the string
        R"({"Year":[["2021"]]})",         // 14: deeper
        R"({"Year":"2021 "})",            // 15: a near miss
        R"({"year":"2021"})",             // 16: another key (case-sensitive)
        R"({"Year":"2021"})",             // 17: the one match
        R"({"Other":"x","Year":"2021"})", // 18: also a match
    };
    for (const std::string& p : payloads) {
        append_unconditionally(build_storable_event_with_empty_metadata("Shape", at(50), p));
    }
    const QueryResult result =
        store().query(build_event_filter().matching().any_predicate_of(P("Year", "2021")).finalize());
    std::vector<SequenceNumber> got;
    for (const StorableEvent& e : result.events) {
        got.push_back(e.sequence_number);
    }
    EXPECT_EQ(got, (std::vector<SequenceNumber>{17, 18}));
    EXPECT_EQ(result.max_sequence_number, 18U);
}

TEST_F(QueryTest, AllOfTwoValuesForTheSameKeyMatchesNothing) {
    // Each alone matches.
    expect_events(store().query(build_event_filter().matching().all_predicates_of(P("BookID", book_1)).finalize()),
                  {1, 2, 3, 4});
    expect_events(store().query(build_event_filter().matching().all_predicates_of(P("BookID", book_2)).finalize()),
                  {5, 6, 7, 8, 9});
    const QueryResult both = store().query(
        build_event_filter().matching().all_predicates_of(P("BookID", book_1), P("BookID", book_2)).finalize());
    EXPECT_TRUE(both.events.empty());
    EXPECT_EQ(both.max_sequence_number, 0U);
    const QueryResult typed = store().query(build_event_filter()
                                                .matching()
                                                .any_event_type_of(lent, returned)
                                                .and_all_predicates_of(P("BookID", book_1), P("BookID", book_2))
                                                .finalize());
    EXPECT_TRUE(typed.events.empty());
}

TEST_F(QueryTest, AllOfWithARepeatedIdenticalPredicateMatchesLikeOne) {
    expect_events(
        store().query(build_event_filter()
                          .matching()
                          .all_predicates_of(P("BookID", book_2), P("ReaderID", reader_1), P("BookID", book_2))
                          .finalize()),
        {8, 9});
}

// --- items ------------------------------------------------------------------------------------------------

TEST_F(QueryTest, PredicatesOnlyItemOrTypesOnlyItem) {
    // The Go library's SQL for it: WHERE (payload @> '{"K": "V"}' OR ("event_type" = 'B')).
    const Filter f = build_event_filter()
                         .matching()
                         .any_predicate_of(P("BookID", book_1))
                         .or_matching()
                         .any_event_type_of(added)
                         .finalize();
    expect_events(store().query(f), {1, 2, 3, 4, 5});
}

TEST_F(QueryTest, EmptyItemOrTypeIsDroppedNotMatchAll) {
    const Filter f =
        build_event_filter().matching().any_event_type_of("").or_matching().any_event_type_of(removed).finalize();
    ASSERT_EQ(f.items().size(), 2U);
    ASSERT_TRUE(f.items().front().empty());
    // Go drops the empty item from the OR: only the type matters, not "everything".
    expect_events(store().query(f), {4});
}

TEST_F(QueryTest, OnlyEmptyItemsMatchEverythingInTheWindow) {
    expect_events(store().query(build_event_filter().matching().any_event_type_of("").finalize()),
                  {1, 2, 3, 4, 5, 6, 7, 8, 9});
    expect_events(store().query(build_event_filter().with_sequence_number_higher_than(6).finalize()), {7, 8, 9});
}

} // namespace
