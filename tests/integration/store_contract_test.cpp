// The promises of the eventstore::EventStore interface, checked on both of its stores: the PostgreSQL
// engine (on tables of the test's own) and the in-memory store. Code written against the interface must
// be able to move between them, so each check here holds for both or the stores differ.
//
// Two known differences are allowed for: the engine's positions may have gaps, so positions are only
// compared with positions the same store returned; and the engine returns documents as jsonb text, so
// payloads and snapshot data are compared as JSON values.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <eventstore/memory.hpp>

#include "integration/fixture.hpp"

namespace eventstore::test {
namespace {

using Strings = std::vector<std::string>;
using Positions = std::vector<SequenceNumber>;

enum class Kind { postgres, memory };

void PrintTo(Kind kind, std::ostream* os) { *os << (kind == Kind::postgres ? "postgres" : "memory"); }

// The events' time unless a test needs another; the stores keep whole microseconds, rounding down.
const TimePoint t0 = TimePoint(std::chrono::seconds(1'700'000'000));

StorableEvent ev(std::string type, std::string payload = "{}", Strings tags = {}, std::string id = {},
                 TimePoint occurred_at = t0) {
    StorableEvent e;
    e.event_type = std::move(type);
    e.occurred_at = occurred_at;
    e.payload_json = std::move(payload);
    e.metadata_json = "{}";
    e.tags = std::move(tags);
    e.id = std::move(id);
    return e;
}

Positions positions(const QueryResult& r) {
    Positions out;
    for (const StorableEvent& e : r.events) {
        out.push_back(e.sequence_number);
    }
    return out;
}

Strings types(const QueryResult& r) {
    Strings out;
    for (const StorableEvent& e : r.events) {
        out.push_back(e.event_type);
    }
    return out;
}

::testing::AssertionResult same_json(const std::string& actual, const std::string& expected) {
    if (nlohmann::json::parse(actual) == nlohmann::json::parse(expected)) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "JSON differs: " << actual << " vs " << expected;
}

// Whether `action` throws an eventstore::Error that is(code).
template <typename Action>
::testing::AssertionResult throws_error(Errc code, Action&& action) {
    const std::optional<Error> error = thrown_error(std::forward<Action>(action));
    if (!error) {
        return ::testing::AssertionFailure() << "nothing thrown, expected " << name(code);
    }
    if (!error->is(code)) {
        return ::testing::AssertionFailure() << "expected " << name(code) << ", got " << describe(*error);
    }
    return ::testing::AssertionSuccess() << describe(*error);
}

// One fixture for both stores: the engine's mechanics are StoreTest's, and are only set up when the
// engine is the store under test.
class StoreContract : public StoreTest, public ::testing::WithParamInterface<Kind> {
protected:
    void SetUp() override {
        if (GetParam() == Kind::postgres) {
            StoreTest::SetUp();
            m_subject = &StoreTest::store();
        } else {
            m_memory = memory::new_event_store();
            m_subject = m_memory.get();
        }
    }

    [[nodiscard]] EventStore& subject() const { return *m_subject; }

    // Appends one event whatever the log holds; returns its position.
    SequenceNumber put(const StorableEvent& e) {
        const SequenceNumber max = subject().query(Filter()).max_sequence_number;
        return subject().append(Filter(), max, e).last_sequence_number;
    }

    Positions read(const Filter& f, const ReadOptions& options = {}) {
        return positions(subject().query(Context(), f, options));
    }

    std::size_t event_count() { return subject().query(Filter()).events.size(); }

private:
    std::unique_ptr<memory::EventStore> m_memory;
    EventStore* m_subject = nullptr;
};

// --- queries ---------------------------------------------------------------------------------------------

TEST_P(StoreContract, AnEmptyStoreReadsNothing) {
    const QueryResult r = subject().query(Filter());
    EXPECT_TRUE(r.events.empty());
    EXPECT_EQ(r.max_sequence_number, 0U);
    EXPECT_EQ(subject().query(Context(), Filter(), ReadOptions{0, true, 3}).max_sequence_number, 0U);
}

TEST_P(StoreContract, EventsComeBackAsStoredInAscendingOrder) {
    const std::string id = "0198F8B2-1C3E-7D6A-9A4B-0000000000AB";
    StorableEvent e = ev("A", R"({"k":"v","n":1})", {"t2", "t1", "t2"}, id, t0 + std::chrono::nanoseconds(1'500));
    e.metadata_json = R"({"m":"x"})";
    const SequenceNumber p1 = put(e);
    const SequenceNumber p2 = put(ev("B"));
    EXPECT_LT(p1, p2);
    const QueryResult r = subject().query(Filter());
    ASSERT_EQ(r.events.size(), 2U);
    EXPECT_EQ(positions(r), (Positions{p1, p2}));
    EXPECT_EQ(r.max_sequence_number, p2);
    const StorableEvent& a = r.events[0];
    EXPECT_EQ(a.event_type, "A");
    EXPECT_TRUE(same_json(a.payload_json, e.payload_json));
    EXPECT_TRUE(same_json(a.metadata_json, e.metadata_json));
    EXPECT_EQ(a.tags, (Strings{"t2", "t1"})) << "in order, without repeats";
    EXPECT_EQ(a.id, "0198f8b2-1c3e-7d6a-9a4b-0000000000ab") << "in lowercase";
    EXPECT_EQ(a.occurred_at, t0 + std::chrono::microseconds(1)) << "whole microseconds, rounded down";
    EXPECT_TRUE(r.events[1].tags.empty());
    EXPECT_EQ(r.events[1].id, "");
}

TEST_P(StoreContract, ATimeBeforeTheEpochIsRoundedDownToo) {
    put(ev("A", "{}", {}, {}, TimePoint(std::chrono::nanoseconds(-1))));
    EXPECT_EQ(subject().query(Filter()).events.at(0).occurred_at, TimePoint(std::chrono::microseconds(-1)));
}

TEST_P(StoreContract, AnItemMatchesAnyOfItsEventTypes) {
    const SequenceNumber a1 = put(ev("A"));
    put(ev("B"));
    const SequenceNumber c = put(ev("C"));
    const SequenceNumber a2 = put(ev("A"));
    EXPECT_EQ(read(build_event_filter().matching().any_event_type_of("A", "C").finalize()), (Positions{a1, c, a2}));
    EXPECT_EQ(read(build_event_filter().matching().any_event_type_of("Z").finalize()), Positions{});
}

TEST_P(StoreContract, PredicatesMatchTopLevelStringMembers) {
    const SequenceNumber k1m_x = put(ev("E", R"({"k":"1","m":"x"})"));
    const SequenceNumber k2m_x = put(ev("E", R"({"k":"2","m":"x"})"));
    const SequenceNumber k1m_y = put(ev("E", R"({"m":"y","k":"1"})"));
    put(ev("E", R"({"k":1})"));                                      // a number
    put(ev("E", R"({"k":["1"]})"));                                  // an array holding the string
    put(ev("E", R"({"n":{"k":"1"}})"));                              // nested
    put(ev("E", R"({"K":"1"})"));                                    // case-sensitive keys
    put(ev("E", R"({"k":"1 "})"));                                   // exact values
    const SequenceNumber dup = put(ev("E", R"({"k":"0","k":"1"})")); // the last of duplicate keys counts
    put(ev("E", R"({"k":"1","k":"0"})"));
    const SequenceNumber escaped = put(ev("E", R"({"\u006b":"\u0031"})"));

    EXPECT_EQ(read(build_event_filter().matching().any_predicate_of(P("k", "1")).finalize()),
              (Positions{k1m_x, k1m_y, dup, escaped}));
    EXPECT_EQ(read(build_event_filter().matching().any_predicate_of(P("k", "1"), P("k", "2")).finalize()),
              (Positions{k1m_x, k2m_x, k1m_y, dup, escaped}));
    EXPECT_EQ(read(build_event_filter().matching().all_predicates_of(P("k", "1"), P("m", "x")).finalize()),
              (Positions{k1m_x}));
    EXPECT_EQ(read(build_event_filter().matching().all_predicates_of(P("k", "1"), P("k", "2")).finalize()),
              Positions{});
}

TEST_P(StoreContract, PredicateValuesNeedNoEscaping) {
    const SequenceNumber quote = put(ev("E", R"({"k":"a\"b\\c"})"));
    const SequenceNumber accent = put(ev("E", R"({"k":"\u00e9"})"));
    const SequenceNumber slash = put(ev("E", R"({"k":"a\/b"})"));
    put(ev("E", R"({"k":"e"})"));
    EXPECT_EQ(read(build_event_filter().matching().any_predicate_of(P("k", "a\"b\\c")).finalize()), (Positions{quote}));
    EXPECT_EQ(read(build_event_filter().matching().any_predicate_of(P("k", "\xc3\xa9")).finalize()),
              (Positions{accent}));
    EXPECT_EQ(read(build_event_filter().matching().any_predicate_of(P("k", "a/b")).finalize()), (Positions{slash}));
}

TEST_P(StoreContract, AnItemMatchesEventsCarryingAllOfItsTags) {
    // Tags that a text[] literal would have to quote.
    const Strings odd{"NULL", "a,b", "q\"\\{}", " sp ", "\xc3\xa9"};
    const SequenceNumber a = put(ev("S", "{}", {"student:s1", "course:c1"}));
    const SequenceNumber b = put(ev("S", "{}", {"student:s2", "course:c1"}));
    const SequenceNumber c = put(ev("O", "{}", {"course:c1"}));
    const SequenceNumber d = put(ev("S", R"({"k":"v"})", {"student:s1", "course:c2"}));
    const SequenceNumber o = put(ev("X", "{}", odd));
    put(ev("X", "{}", {"null", "a", "b"}));

    EXPECT_EQ(read(build_event_filter().matching().all_tags_of("course:c1").finalize()), (Positions{a, b, c}));
    EXPECT_EQ(read(build_event_filter().matching().all_tags_of("course:c1", "student:s1").finalize()), (Positions{a}));
    EXPECT_EQ(read(build_event_filter().matching().any_event_type_of("S").and_all_tags_of("student:s1").finalize()),
              (Positions{a, d}));
    EXPECT_EQ(
        read(build_event_filter().matching().any_predicate_of(P("k", "v")).and_all_tags_of("course:c2").finalize()),
        (Positions{d}));
    EXPECT_EQ(read(build_event_filter().matching().all_tags_of("course:c3").finalize()), Positions{});
    for (const std::string& tag : odd) {
        EXPECT_EQ(read(build_event_filter().matching().all_tags_of(tag).finalize()), (Positions{o})) << tag;
    }
    EXPECT_EQ(read(build_event_filter().matching().all_tags_of(std::span<const std::string>(odd)).finalize()),
              (Positions{o}));
}

TEST_P(StoreContract, ItemsAreOred) {
    const SequenceNumber a = put(ev("A", R"({"k":"1"})", {"t"}));
    const SequenceNumber b = put(ev("B", R"({"k":"2"})"));
    put(ev("C", R"({"k":"3"})", {"t"}));
    const SequenceNumber d = put(ev("D", "{}", {"u"}));
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A", "C")
                         .and_any_predicate_of(P("k", "1"))
                         .or_matching()
                         .any_predicate_of(P("k", "2"))
                         .or_matching()
                         .all_tags_of("u")
                         .finalize();
    EXPECT_EQ(read(f), (Positions{a, b, d}));
}

TEST_P(StoreContract, TimeBoundsAreInclusiveInWholeMicroseconds) {
    using std::chrono::microseconds;
    using std::chrono::nanoseconds;
    const SequenceNumber early = put(ev("T", "{}", {}, {}, t0 + nanoseconds(999))); // kept as t0
    const SequenceNumber mid = put(ev("T", "{}", {}, {}, t0 + nanoseconds(1'500))); // kept as t0 + 1 us
    const SequenceNumber late = put(ev("T", "{}", {}, {}, t0 + microseconds(3)));
    const auto between = [&](TimePoint from, TimePoint until) {
        return read(build_event_filter()
                        .matching()
                        .any_event_type_of("T")
                        .occurred_from(from)
                        .and_occurred_until(until)
                        .finalize());
    };
    EXPECT_EQ(between(t0, t0 + microseconds(3)), (Positions{early, mid, late}));
    EXPECT_EQ(between(t0 + nanoseconds(1'999), t0 + nanoseconds(2'999)), (Positions{mid}));
    EXPECT_EQ(between(t0 + nanoseconds(1), t0 + nanoseconds(999)), (Positions{early}));
    EXPECT_EQ(read(build_event_filter().occurred_from(t0 + microseconds(2)).finalize()), (Positions{late}));
    EXPECT_EQ(read(build_event_filter().occurred_until(t0 + nanoseconds(1'001)).finalize()), (Positions{early, mid}));
}

TEST_P(StoreContract, ASequenceBoundIsExclusive) {
    Positions p;
    for (int i = 0; i < 4; ++i) {
        p.push_back(put(ev("S")));
    }
    EXPECT_EQ(read(build_event_filter().with_sequence_number_higher_than(p[1]).finalize()), (Positions{p[2], p[3]}));
    EXPECT_EQ(
        read(build_event_filter().matching().any_event_type_of("S").with_sequence_number_higher_than(p[3]).finalize()),
        Positions{});
    EXPECT_EQ(read(build_event_filter().with_sequence_number_higher_than(~SequenceNumber{0}).finalize()), Positions{});
}

TEST_P(StoreContract, ReadOptionsBoundOrderAndLimit) {
    Positions p;
    Positions other;
    for (int i = 0; i < 5; ++i) {
        p.push_back(put(ev("T", "{}", {"t"})));
        other.push_back(put(ev("U", "{}", {"u"})));
    }
    const Filter f = build_event_filter().matching().all_tags_of("t").finalize();
    const auto check = [&](ReadOptions o, const Positions& expected) {
        const QueryResult r = subject().query(Context(), f, o);
        EXPECT_EQ(positions(r), expected) << "from " << o.from << " backwards " << o.backwards << " limit " << o.limit;
        // The greatest returned, whatever the order: never one past events left out.
        SequenceNumber max = 0;
        for (const SequenceNumber s : expected) {
            max = std::max(max, s);
        }
        EXPECT_EQ(r.max_sequence_number, max);
    };
    check({}, p);
    check({0, false, 2}, {p[0], p[1]});
    check({0, true, 0}, {p[4], p[3], p[2], p[1], p[0]});
    check({0, true, 1}, {p[4]});
    check({p[2], false, 0}, {p[2], p[3], p[4]});
    check({p[2], true, 2}, {p[2], p[1]});
    // A bound on another boundary's event: the nearest matching ones on the right side of it.
    check({other[1], false, 2}, {p[2], p[3]});
    check({other[1], true, 0}, {p[1], p[0]});
    check({other[4], false, 0}, {});
    check({other[4] + 1000, true, 1}, {p[4]});
    check({~SequenceNumber{0}, true, 2}, {p[4], p[3]});
    check({~SequenceNumber{0}, false, 0}, {});
    check({0, false, ~std::size_t{0}}, p);
    // The filter's exclusive bound and an inclusive from together.
    const Filter above =
        build_event_filter().matching().all_tags_of("t").with_sequence_number_higher_than(p[1]).finalize();
    EXPECT_EQ(read(above, ReadOptions{p[1], false, 0}), (Positions{p[2], p[3], p[4]}));
    EXPECT_EQ(read(above, ReadOptions{p[3], true, 0}), (Positions{p[3], p[2]}));
}

// --- appends -------------------------------------------------------------------------------------------

TEST_P(StoreContract, AnAppendReturnsThePositionOfItsLastEventAndKeepsTheirOrder) {
    const std::vector<StorableEvent> events{ev("A", R"({"i":"0"})"), ev("B", R"({"i":"1"})"), ev("C", R"({"i":"2"})")};
    const AppendResult r = subject().append(Filter(), 0, events);
    EXPECT_FALSE(r.already_stored);
    const QueryResult all = subject().query(Filter());
    EXPECT_EQ(types(all), (Strings{"A", "B", "C"}));
    EXPECT_EQ(r.last_sequence_number, all.max_sequence_number);
    const AppendResult next = subject().append(Filter(), all.max_sequence_number, ev("D"));
    EXPECT_GT(next.last_sequence_number, r.last_sequence_number);
    EXPECT_EQ(next.last_sequence_number, subject().query(Filter()).max_sequence_number);

    const AppendResult none = subject().append(Filter(), 12345, std::span<const StorableEvent>());
    EXPECT_EQ(none.last_sequence_number, 0U);
    EXPECT_FALSE(none.already_stored);
    EXPECT_EQ(event_count(), 4U);
}

TEST_P(StoreContract, AStaleConditionConflictsAndWritesNothing) {
    const Filter course = build_event_filter().matching().all_tags_of("course:c1").finalize();
    const Filter other = build_event_filter().matching().all_tags_of("course:c2").finalize();
    EXPECT_EQ(subject().query(course).max_sequence_number, 0U);
    const SequenceNumber first = subject().append(course, 0, ev("Opened", "{}", {"course:c1"})).last_sequence_number;
    // Someone else's event on the boundary, after the read.
    const SequenceNumber seen = subject().query(course).max_sequence_number;
    EXPECT_EQ(seen, first);
    put(ev("Subscribed", "{}", {"course:c1", "student:s9"}));
    const std::vector<StorableEvent> two{ev("Subscribed", "{}", {"course:c1"}), ev("Subscribed", "{}", {"course:c1"})};
    bool conflicted = false;
    try {
        subject().append(course, seen, two);
    } catch (const ConcurrencyConflict& e) {
        conflicted = true;
        EXPECT_EQ(e.code(), Errc::concurrency_conflict);
        EXPECT_FALSE(e.is_input_error());
    }
    EXPECT_TRUE(conflicted);
    EXPECT_EQ(event_count(), 2U);
    // An expectation above the real maximum conflicts too, and so does 0 on a boundary with events.
    EXPECT_TRUE(throws_error(Errc::concurrency_conflict,
                             [&] { subject().append(course, subject().query(course).max_sequence_number + 1, two); }));
    EXPECT_TRUE(throws_error(Errc::concurrency_conflict, [&] { subject().append(course, 0, two); }));
    EXPECT_TRUE(throws_error(Errc::concurrency_conflict, [&] { subject().append(course, ~SequenceNumber{0}, two); }));
    EXPECT_EQ(event_count(), 2U);
    // A disjoint boundary is not touched; the current maximum succeeds.
    EXPECT_NO_THROW(subject().append(other, 0, ev("Opened", "{}", {"course:c2"})));
    EXPECT_NO_THROW(subject().append(course, subject().query(course).max_sequence_number, two));
    EXPECT_EQ(event_count(), 5U);
}

TEST_P(StoreContract, TheConditionCountsOnlyTheFiltersMatches) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A")
                         .and_any_predicate_of(P("k", "1"))
                         .with_sequence_number_higher_than(0)
                         .finalize();
    put(ev("A", R"({"k":"2"})"));
    put(ev("B", R"({"k":"1"})"));
    EXPECT_NO_THROW(subject().append(f, 0, ev("A", R"({"k":"1"})")));
    EXPECT_TRUE(throws_error(Errc::concurrency_conflict, [&] { subject().append(f, 0, ev("A", R"({"k":"1"})")); }));
    // A sequence bound above the match hides it from the condition.
    const SequenceNumber max = subject().query(Filter()).max_sequence_number;
    const Filter above =
        build_event_filter().matching().any_event_type_of("A").with_sequence_number_higher_than(max).finalize();
    EXPECT_NO_THROW(subject().append(above, 0, ev("A")));
    // Time bounds likewise.
    const Filter later =
        build_event_filter().matching().any_event_type_of("A").occurred_from(t0 + std::chrono::hours(1)).finalize();
    EXPECT_NO_THROW(subject().append(later, 0, ev("A")));
    EXPECT_EQ(event_count(), 5U);
}

// --- idempotency ---------------------------------------------------------------------------------------

TEST_P(StoreContract, ARetriedAppendReturnsTheOriginalResult) {
    const std::string id1 = make_uuid(1);
    const std::string id2 = make_uuid(2);
    const Filter course = build_event_filter().matching().all_tags_of("course:c1").finalize();
    const std::vector<StorableEvent> events{ev("Subscribed", R"({"a":1,"b":"x"})", {"course:c1"}, id1),
                                            ev("Subscribed", "{}", {"course:c1", "s"}, id2)};
    const AppendResult first = subject().append(course, 0, events);
    EXPECT_FALSE(first.already_stored);
    put(ev("Later", "{}", {"course:c1"}));
    // The same events rebuilt: upper-case id, another key order, spacing and number spelling, tags in
    // another order, another time and metadata; the condition is stale by now.
    std::vector<StorableEvent> again{ev("Subscribed", R"({ "b": "x", "a": 1.0 })", {"course:c1"}, id1),
                                     ev("Subscribed", "{}", {"s", "course:c1", "s"}, id2, t0 + std::chrono::hours(1))};
    for (char& c : again[0].id) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    again[1].metadata_json = R"({"retry":"yes"})";
    const AppendResult retry = subject().append(course, 0, again);
    EXPECT_TRUE(retry.already_stored);
    EXPECT_EQ(retry.last_sequence_number, first.last_sequence_number);
    const QueryResult stored = subject().query(course);
    ASSERT_EQ(stored.events.size(), 3U);
    EXPECT_EQ(stored.events[0].id, id1);
    EXPECT_EQ(stored.events[1].id, id2);
    EXPECT_EQ(stored.events[1].occurred_at, t0) << "the retry wrote nothing";
    EXPECT_TRUE(same_json(stored.events[1].metadata_json, "{}"));
    // A retry of part of the append: the positions are still the originals.
    EXPECT_EQ(subject().append(course, 0, again[0]).last_sequence_number, stored.events[0].sequence_number);
    EXPECT_TRUE(subject().append(course, 0, again[0]).already_stored);
    // In another order: the position of the last event given.
    const std::vector<StorableEvent> reversed{again[1], again[0]};
    EXPECT_EQ(subject().append(course, 0, reversed).last_sequence_number, stored.events[0].sequence_number);
    EXPECT_EQ(event_count(), 3U);
}

TEST_P(StoreContract, AnIdReusedForAnotherEventIsRefused) {
    const std::string id = make_uuid(7);
    const SequenceNumber stored = put(ev("A", R"({"n":1})", {"t"}, id));
    const auto expect_duplicate = [&](const std::vector<StorableEvent>& events) {
        const std::optional<Error> error = thrown_error([&] { subject().append(Filter(), stored, events); });
        ASSERT_TRUE(error);
        EXPECT_EQ(error->code(), Errc::appending_event_failed) << describe(error);
        EXPECT_TRUE(error->is(Errc::duplicate_event_id)) << describe(error);
        EXPECT_TRUE(error->is_input_error()) << describe(error);
        EXPECT_EQ(event_count(), 1U);
    };
    expect_duplicate({ev("A", R"({"n":2})", {"t"}, id)});                                  // another payload
    expect_duplicate({ev("A", R"({"n":1,"m":null})", {"t"}, id)});                         // another member
    expect_duplicate({ev("B", R"({"n":1})", {"t"}, id)});                                  // another type
    expect_duplicate({ev("A", R"({"n":1})", {"t", "u"}, id)});                             // more tags
    expect_duplicate({ev("A", R"({"n":1})", {}, id)});                                     // no tags
    expect_duplicate({ev("A", R"({"n":1})", {"t"}, id), ev("A")});                         // stored and without id
    expect_duplicate({ev("A"), ev("A", R"({"n":1})", {"t"}, id)});                         // the same, the other way
    expect_duplicate({ev("A", R"({"n":1})", {"t"}, id), ev("A", "{}", {}, make_uuid(8))}); // stored and new
    // Twice in one append, in any case, with or without anything stored.
    expect_duplicate({ev("A", "{}", {}, make_uuid(9)), ev("A", "{}", {}, make_uuid(9))});
    std::string upper = make_uuid(10);
    for (char& c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    expect_duplicate({ev("A", "{}", {}, make_uuid(10)), ev("A", "{}", {}, upper)});
    expect_duplicate({ev("A", R"({"n":1})", {"t"}, id), ev("A", R"({"n":1})", {"t"}, id)});
    // The id refused above stayed free.
    EXPECT_NO_THROW(subject().append(Filter(), stored, ev("A", "{}", {}, make_uuid(8))));
}

// --- input errors ----------------------------------------------------------------------------------------

TEST_P(StoreContract, BadEventsAreRefusedBeforeAnyWrite) {
    const auto refused = [&](Errc cause, const StorableEvent& bad) {
        // The bad event second: nothing of the append is written.
        const std::vector<StorableEvent> events{ev("Good"), bad};
        const std::optional<Error> error = thrown_error([&] { subject().append(Filter(), 0, events); });
        if (!error) {
            return ::testing::AssertionFailure() << "accepted";
        }
        if (error->code() != Errc::appending_event_failed || !error->is(cause) || !error->is_input_error()) {
            return ::testing::AssertionFailure() << describe(*error);
        }
        return ::testing::AssertionSuccess();
    };
    EXPECT_TRUE(refused(Errc::invalid_tag, ev("T", "{}", {""})));
    EXPECT_TRUE(refused(Errc::invalid_tag, ev("T", "{}", {std::string("a\0b", 3)})));
    EXPECT_TRUE(refused(Errc::invalid_tag, ev("T", "{}", {std::string(max_tag_length + 1, 'x')})));
    EXPECT_TRUE(refused(Errc::invalid_tag, ev("T", "{}", {"ok", "\xff"})));
    EXPECT_TRUE(refused(Errc::invalid_event_id, ev("T", "{}", {}, "not-a-uuid")));
    EXPECT_TRUE(refused(Errc::invalid_event_id, ev("T", "{}", {}, "0198f8b2-1c3e-7d6a-9a4b-00000000000g")));
    EXPECT_TRUE(refused(Errc::invalid_event_id, ev("T", "{}", {}, "0198f8b21c3e7d6a9a4b000000000001")));
    EXPECT_TRUE(refused(Errc::invalid_event_id, ev("T", "{}", {}, "{0198f8b2-1c3e-7d6a-9a4b-000000000001}")));
    EXPECT_TRUE(refused(Errc::invalid_event_type, ev("")));
    EXPECT_TRUE(refused(Errc::invalid_event_type, ev(std::string("a\0b", 3))));
    EXPECT_TRUE(refused(Errc::invalid_payload_json, ev("T", "[]")));
    EXPECT_TRUE(refused(Errc::invalid_payload_json, ev("T", R"({"k":"\u0000"})")));
    StorableEvent bad_metadata = ev("T");
    bad_metadata.metadata_json = "{";
    EXPECT_TRUE(refused(Errc::invalid_metadata_json, bad_metadata));
    // A tag just at the limit is fine.
    EXPECT_NO_THROW(put(ev("T", "{}", {std::string(max_tag_length, 'x')})));
    EXPECT_EQ(event_count(), 1U);
}

TEST_P(StoreContract, FiltersTheDatabaseCannotHoldAreRefused) {
    put(ev("A", "{}", {"t"}));
    const std::string nul("a\0b", 3);
    const std::vector<Filter> bad{
        build_event_filter().matching().all_tags_of(nul).finalize(),
        build_event_filter().matching().any_event_type_of("A").and_all_tags_of("t", nul).finalize(),
        build_event_filter().matching().any_event_type_of(nul).finalize(),
        build_event_filter().matching().any_predicate_of(P("k", nul)).finalize(),
        build_event_filter().matching().any_predicate_of(P(nul, "v")).finalize(),
        build_event_filter().matching().all_tags_of("\xff").finalize(),
        build_event_filter().matching().any_event_type_of("A").or_matching().all_tags_of(nul).finalize(),
    };
    for (std::size_t i = 0; i < bad.size(); ++i) {
        SCOPED_TRACE("filter " + std::to_string(i));
        const auto query = thrown_error([&] { subject().query(bad[i]); });
        ASSERT_TRUE(query);
        EXPECT_EQ(query->code(), Errc::querying_events_failed) << describe(query);
        EXPECT_TRUE(query->is(Errc::invalid_filter)) << describe(query);
        EXPECT_TRUE(query->is_input_error());
        const auto append = thrown_error([&] { subject().append(bad[i], 0, ev("A")); });
        ASSERT_TRUE(append);
        EXPECT_EQ(append->code(), Errc::appending_event_failed) << describe(append);
        EXPECT_TRUE(append->is(Errc::invalid_filter)) << describe(append);
    }
    EXPECT_EQ(event_count(), 1U);
    // A bad event is reported before a bad filter.
    EXPECT_TRUE(throws_error(Errc::invalid_tag, [&] { subject().append(bad[0], 0, ev("A", "{}", {""})); }));
}

// --- contexts --------------------------------------------------------------------------------------------

TEST_P(StoreContract, AContextThatEndedFailsTheCallAndWritesNothing) {
    put(ev("A"));
    std::stop_source source;
    source.request_stop();
    const Context cancelled = Context().with_stop_token(source.get_token());
    const Context expired = Context().with_deadline(std::chrono::steady_clock::now() - std::chrono::seconds(1));
    struct Ended {
        Context ctx;
        Errc reason;
    };
    for (const Ended& ended : {Ended{cancelled, Errc::canceled}, Ended{expired, Errc::deadline_exceeded}}) {
        const Context& ctx = ended.ctx;
        const Errc reason = ended.reason;
        SCOPED_TRACE(std::string(name(reason)));
        const auto query = thrown_error([&] { (void)subject().query(ctx, Filter(), ReadOptions{}); });
        ASSERT_TRUE(query);
        EXPECT_EQ(query->code(), Errc::querying_events_failed) << describe(query);
        EXPECT_TRUE(query->is(reason)) << describe(query);
        const auto append = thrown_error([&] { subject().append(ctx, Filter(), 1, ev("B")); });
        ASSERT_TRUE(append);
        EXPECT_EQ(append->code(), Errc::appending_event_failed) << describe(append);
        EXPECT_TRUE(append->is(reason)) << describe(append);
        EXPECT_TRUE(throws_error(reason, [&] {
            decide_and_append(subject(), ctx, Filter(), [](const QueryResult&) { return StorableEvents{ev("C")}; });
        }));
        EXPECT_TRUE(throws_error(reason, [&] { subject().save_snapshot(ctx, build_snapshot("P", "h", 1, "{}")); }));
        EXPECT_TRUE(throws_error(reason, [&] { (void)subject().load_snapshot(ctx, "P", Filter()); }));
        EXPECT_TRUE(throws_error(reason, [&] { subject().delete_snapshot(ctx, "P", Filter()); }));
    }
    EXPECT_EQ(event_count(), 1U);
    EXPECT_FALSE(subject().load_snapshot("P", Filter()).has_value());
}

// --- snapshots -------------------------------------------------------------------------------------------

TEST_P(StoreContract, ALowerSnapshotNeverOverwrites) {
    const Filter f = build_event_filter().matching().any_event_type_of("A").finalize();
    const Filter g = build_event_filter().matching().any_event_type_of("B").finalize();
    EXPECT_FALSE(subject().load_snapshot("P", f));
    subject().save_snapshot(build_snapshot("P", f.hash(), 5, R"({"n":5})"));
    const auto expect = [&](std::string_view type, const Filter& filter, SequenceNumber seq, const std::string& data) {
        const std::optional<Snapshot> s = subject().load_snapshot(type, filter);
        ASSERT_TRUE(s) << type;
        EXPECT_EQ(s->projection_type, type);
        EXPECT_EQ(s->filter_hash, filter.hash());
        EXPECT_EQ(s->sequence_number, seq);
        EXPECT_TRUE(same_json(s->data_json, data));
    };
    expect("P", f, 5, R"({"n":5})");
    subject().save_snapshot(build_snapshot("P", f.hash(), 3, R"({"n":3})"));
    expect("P", f, 5, R"({"n":5})");
    subject().save_snapshot(build_snapshot("P", f.hash(), 5, R"({"n":"again", "m": [1, 2]})"));
    expect("P", f, 5, R"({"m":[1,2],"n":"again"})");
    subject().save_snapshot(build_snapshot("P", f.hash(), 8, R"({"n":8})"));
    expect("P", f, 8, R"({"n":8})");
    // Keyed by projection type and filter.
    EXPECT_FALSE(subject().load_snapshot("Q", f));
    EXPECT_FALSE(subject().load_snapshot("P", g));
    subject().save_snapshot(build_snapshot("Q", f.hash(), 1, R"({"q":1})"));
    subject().save_snapshot(build_snapshot("P", g.hash(), 0, "{}"));
    expect("Q", f, 1, R"({"q":1})");
    expect("P", g, 0, "{}");
    expect("P", f, 8, R"({"n":8})");
    // Deleting one leaves the others; deleting what is not there is no error.
    subject().delete_snapshot("P", f);
    EXPECT_FALSE(subject().load_snapshot("P", f));
    expect("Q", f, 1, R"({"q":1})");
    EXPECT_NO_THROW(subject().delete_snapshot("P", f));
    EXPECT_NO_THROW(subject().delete_snapshot("nobody", g));
    // After a delete, any sequence number is saved again.
    subject().save_snapshot(build_snapshot("P", f.hash(), 2, R"({"n":2})"));
    expect("P", f, 2, R"({"n":2})");
}

TEST_P(StoreContract, SnapshotInputIsCheckedAsItsOwnCodes) {
    const Filter f;
    Snapshot s;
    s.projection_type = "P";
    s.filter_hash = f.hash();
    s.sequence_number = 1;
    s.data_json = "{}";
    Snapshot no_type = s;
    no_type.projection_type = "";
    Snapshot no_hash = s;
    no_hash.filter_hash = "";
    Snapshot not_object = s;
    not_object.data_json = "[1]";
    Snapshot not_json = s;
    not_json.data_json = "{";
    const auto code_of = [&](const auto& action) {
        const std::optional<Error> e = thrown_error(action);
        return e ? e->code() : Errc::concurrency_conflict;
    };
    EXPECT_EQ(code_of([&] { subject().save_snapshot(no_type); }), Errc::empty_projection_type);
    EXPECT_EQ(code_of([&] { subject().save_snapshot(no_hash); }), Errc::empty_filter_hash);
    EXPECT_EQ(code_of([&] { subject().save_snapshot(not_object); }), Errc::invalid_snapshot_json);
    EXPECT_EQ(code_of([&] { subject().save_snapshot(not_json); }), Errc::invalid_snapshot_json);
    EXPECT_EQ(code_of([&] { (void)subject().load_snapshot("", f); }), Errc::empty_projection_type);
    EXPECT_EQ(code_of([&] { subject().delete_snapshot("", f); }), Errc::empty_projection_type);
    Snapshot too_far = s;
    too_far.sequence_number = ~SequenceNumber{0};
    EXPECT_EQ(code_of([&] { subject().save_snapshot(too_far); }), Errc::saving_snapshot_failed);
    EXPECT_FALSE(subject().load_snapshot("P", f));
}

// Projection types and filter hashes are keys: two that differ only after a NUL byte are different
// keys, and must not share a snapshot (or be refused as input, as a NUL in a filter or tag is).
// Both stores refuse them (invalid_snapshot_key): libpq would cut a text parameter at its NUL byte, and
// "P\0one" and "P\0two" would both be saved, loaded and deleted as "P".
TEST_P(StoreContract, SnapshotKeysDifferingAfterANulByteAreKeptApartOrRefused) {
    const Filter f;
    const auto saved = [&](const std::string& type, const std::string& hash, SequenceNumber seq) {
        Snapshot s;
        s.projection_type = type;
        s.filter_hash = hash;
        s.sequence_number = seq;
        s.data_json = R"({"n":)" + std::to_string(seq) + "}";
        const std::optional<Error> refused = thrown_error([&] { subject().save_snapshot(s); });
        EXPECT_TRUE(!refused || refused->is_input_error()) << describe(refused);
        return !refused;
    };
    const std::string one("P\0one", 5);
    const std::string two("P\0two", 5);
    if (saved(one, f.hash(), 2) && saved(two, f.hash(), 1)) {
        const std::optional<Snapshot> a = subject().load_snapshot(one, f);
        const std::optional<Snapshot> b = subject().load_snapshot(two, f);
        ASSERT_TRUE(a.has_value() && b.has_value());
        EXPECT_EQ(a->projection_type, one);
        EXPECT_EQ(a->sequence_number, 2U);
        EXPECT_EQ(b->projection_type, two);
        EXPECT_EQ(b->sequence_number, 1U) << "the second type's save went to the first's snapshot";
        EXPECT_FALSE(subject().load_snapshot("P", f).has_value()) << "found under the type cut at its NUL byte";
        subject().delete_snapshot(two, f);
        EXPECT_TRUE(subject().load_snapshot(one, f).has_value()) << "deleted with the other type";
    }
    // A hash with something after a NUL byte is not the filter's hash.
    if (saved("H", f.hash() + std::string("\0more", 5), 1)) {
        EXPECT_FALSE(subject().load_snapshot("H", f).has_value()) << "found under the hash cut at its NUL byte";
    }
}

// A projection type the database cannot hold as text is an input error (as invalid UTF-8 in a tag or
// filter is), or is kept as given.
// Both stores refuse it before any database work (invalid_snapshot_key); PostgreSQL would refuse it
// after a round trip (SQLSTATE 22021).
TEST_P(StoreContract, SnapshotKeysOfInvalidUtf8AreKeptOrRefusedAsInput) {
    const Filter f;
    const std::string bad = "P\xff";
    const auto input_error_or_nothing = [&](const auto& action) {
        const std::optional<Error> e = thrown_error(action);
        if (e && !e->is_input_error()) {
            return ::testing::AssertionFailure() << describe(*e);
        }
        return ::testing::AssertionSuccess();
    };
    EXPECT_TRUE(input_error_or_nothing([&] { subject().save_snapshot(build_snapshot(bad, f.hash(), 1, "{}")); }));
    EXPECT_TRUE(input_error_or_nothing([&] { (void)subject().load_snapshot(bad, f); }));
    EXPECT_TRUE(input_error_or_nothing([&] { subject().delete_snapshot(bad, f); }));
}

// A long projection type is kept, or refused as input before any database work (as an event type or
// tag over 1024 bytes is).
// Both stores refuse a key over max_snapshot_key_length (invalid_snapshot_key): PostgreSQL would refuse
// the row when projection type and filter hash together do not fit a btree entry of the snapshot
// table's key (about 2,700 bytes), SQLSTATE 54000.
TEST_P(StoreContract, ALongProjectionTypeIsKeptOrRefusedAsInput) {
    // Random letters, which compression cannot shorten.
    std::string type;
    std::uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 4000; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        type += static_cast<char>('a' + x % 26);
    }
    const Filter f;
    const std::optional<Error> refused =
        thrown_error([&] { subject().save_snapshot(build_snapshot(type, f.hash(), 1, "{}")); });
    if (refused) {
        EXPECT_TRUE(refused->is_input_error()) << describe(refused);
        return;
    }
    const std::optional<Snapshot> s = subject().load_snapshot(type, f);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->projection_type, type);
}

// --- decide_and_append -------------------------------------------------------------------------------

TEST_P(StoreContract, DecideAndAppendDecidesAgainAfterAConflict) {
    const Filter course = build_event_filter().matching().all_tags_of("course:c1").finalize();
    put(ev("Opened", "{}", {"course:c1"}));
    std::vector<std::size_t> seen;
    const AppendResult r = decide_and_append(subject(), Context(), course, [&](const QueryResult& read) {
        seen.push_back(read.events.size());
        if (seen.size() == 1) {
            // Another writer gets in between this read and its append.
            put(ev("Subscribed", "{}", {"course:c1", "student:s0"}));
        }
        return StorableEvents{ev("Subscribed", "{}", {"course:c1", "student:s1"})};
    });
    EXPECT_EQ(seen, (std::vector<std::size_t>{1, 2}));
    EXPECT_FALSE(r.already_stored);
    const QueryResult all = subject().query(course);
    EXPECT_EQ(all.events.size(), 3U);
    EXPECT_EQ(r.last_sequence_number, all.max_sequence_number);
    EXPECT_EQ(all.events.back().tags, (Strings{"course:c1", "student:s1"}));
}

TEST_P(StoreContract, DecideAndAppendGivesUpAfterItsAttempts) {
    const Filter course = build_event_filter().matching().all_tags_of("course:c1").finalize();
    int calls = 0;
    const auto interfering = [&](const QueryResult&) {
        ++calls;
        put(ev("Subscribed", "{}", {"course:c1"}));
        return StorableEvents{ev("Mine", "{}", {"course:c1"})};
    };
    EXPECT_TRUE(throws_error(Errc::concurrency_conflict, [&] {
        decide_and_append(subject(), Context(), course, interfering, RetryPolicy{3, std::chrono::milliseconds(0)});
    }));
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(types(subject().query(course)), (Strings{"Subscribed", "Subscribed", "Subscribed"}));
    // Nothing to decide: nothing written.
    const AppendResult none =
        decide_and_append(subject(), Context(), course, [](const QueryResult&) { return StorableEvents{}; });
    EXPECT_EQ(none.last_sequence_number, 0U);
    EXPECT_EQ(event_count(), 3U);
}

std::string kind_name(const ::testing::TestParamInfo<Kind>& info) {
    return info.param == Kind::postgres ? "postgres" : "memory";
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContract, ::testing::Values(Kind::postgres, Kind::memory), kind_name);

} // namespace
} // namespace eventstore::test
