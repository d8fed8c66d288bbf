// The in-memory store: the PostgreSQL engine's semantics (matching, read options, conditional and
// idempotent appends, input checks, errors, snapshots) without a database.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/eventstore.hpp>
#include <eventstore/memory.hpp>

namespace {

using namespace eventstore;
using std::chrono::microseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TimePoint at(int second) { return TimePoint(seconds(1'700'000'000 + second)); }

StorableEvent event(std::string type, std::string payload, std::vector<std::string> tags = {}, std::string id = {},
                    TimePoint occurred_at = at(0)) {
    StorableEvent e;
    e.event_type = std::move(type);
    e.occurred_at = occurred_at;
    e.payload_json = std::move(payload);
    e.metadata_json = "{}";
    e.tags = std::move(tags);
    e.id = std::move(id);
    return e;
}

// UUIDs that differ in their last digits.
std::string uuid(int n) {
    std::string digits = std::to_string(n);
    return "0190a1b2-c3d4-7e5f-8a9b-" + std::string(12 - digits.size(), '0') + digits;
}

std::vector<SequenceNumber> positions(const QueryResult& result) {
    std::vector<SequenceNumber> out;
    for (const StorableEvent& e : result.events) {
        out.push_back(e.sequence_number);
    }
    return out;
}

// The Error the action throws (not a ConcurrencyConflict).
template <typename Action>
std::optional<Error> thrown(Action action) {
    try {
        action();
    } catch (const ConcurrencyConflict& conflict) {
        ADD_FAILURE() << "unexpected conflict: " << conflict.what();
        return std::nullopt;
    } catch (const Error& error) {
        return error;
    }
    ADD_FAILURE() << "no eventstore::Error thrown";
    return std::nullopt;
}

// Expects the action to throw Error(code) caused by `cause`.
template <typename Action>
void expect_error(Action action, Errc code, std::optional<Errc> cause) {
    const std::optional<Error> error = thrown(action);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->code(), code) << error->what();
    EXPECT_EQ(error->cause(), cause) << error->what();
}

const Filter everything;

class MemoryStore : public testing::Test {
protected:
    // Appends unconditionally (on the current maximum of every event) and returns the result.
    AppendResult add(std::vector<StorableEvent> events) {
        return store.append(everything, store.query(everything).max_sequence_number, events);
    }
    std::vector<SequenceNumber> matching(const Filter& filter) { return positions(store.query(filter)); }
    std::size_t count() { return store.query(everything).events.size(); }

    memory::EventStore store;
};

// --- appends and what is stored -----------------------------------------------------------------------

TEST_F(MemoryStore, AppendsNumberEventsFromOneInArgumentOrder) {
    EXPECT_EQ(add({event("A", R"({"n":1})"), event("B", R"({"n":2})")}).last_sequence_number, 2U);
    const AppendResult third = add({event("C", R"({"n":3})")});
    EXPECT_EQ(third.last_sequence_number, 3U);
    EXPECT_FALSE(third.already_stored);
    const QueryResult all = store.query(everything);
    EXPECT_EQ(positions(all), (std::vector<SequenceNumber>{1, 2, 3}));
    EXPECT_EQ(all.events[0].event_type, "A");
    EXPECT_EQ(all.events[1].event_type, "B");
    EXPECT_EQ(all.events[2].event_type, "C");
    EXPECT_EQ(all.max_sequence_number, 3U);
}

TEST_F(MemoryStore, StoresEventsAsTheEngineReturnsThem) {
    StorableEvent e = event("A", R"({ "b" : 1, "a" : "x" })", {"t:1", "t:2", "t:1", "t:3", "t:2"},
                            "0190A1B2-C3D4-7E5F-8A9B-ABCDEF012345", at(5) + nanoseconds(1999));
    e.metadata_json = R"({"trace": "abc"})";
    add({e});
    const StorableEvent stored = store.query(everything).events.at(0);
    EXPECT_EQ(stored.tags, (std::vector<std::string>{"t:1", "t:2", "t:3"}));
    EXPECT_EQ(stored.id, "0190a1b2-c3d4-7e5f-8a9b-abcdef012345");
    EXPECT_EQ(stored.occurred_at, at(5) + microseconds(1));
    EXPECT_EQ(stored.payload_json, R"({ "b" : 1, "a" : "x" })"); // as given: not normalised (documented)
    EXPECT_EQ(stored.metadata_json, R"({"trace": "abc"})");
    EXPECT_EQ(stored.sequence_number, 1U);
}

TEST_F(MemoryStore, OccurredAtIsFlooredToMicrosecondsBeforeTheEpochToo) {
    add({event("A", "{}", {}, {}, TimePoint(-nanoseconds(1)))});
    EXPECT_EQ(store.query(everything).events.at(0).occurred_at, TimePoint(-microseconds(1)));
}

TEST_F(MemoryStore, AnEmptyAppendDoesNothing) {
    const AppendResult result = store.append(everything, 7, std::span<const StorableEvent>());
    EXPECT_EQ(result.last_sequence_number, 0U);
    EXPECT_FALSE(result.already_stored);
    EXPECT_EQ(count(), 0U);
}

TEST_F(MemoryStore, WorksThroughTheInterfaceAndTheFactory) {
    const std::unique_ptr<memory::EventStore> made = memory::new_event_store();
    eventstore::EventStore& generic = *made;
    generic.append(everything, 0, event("A", "{}"));
    generic.append(Context(), everything, 1, event("B", "{}"));
    EXPECT_EQ(generic.query(Context(), everything).max_sequence_number, 2U);
    EXPECT_EQ(generic.query(everything, ReadOptions{0, true, 1}).events.at(0).event_type, "B");
    EXPECT_EQ(count(), 0U); // stores share nothing
}

// --- matching ------------------------------------------------------------------------------------------

class Matching : public MemoryStore {
protected:
    void SetUp() override {
        add({
            event("Added", R"({"book":"b1","copy":"c1"})", {"book:b1", "copy:c1"}, {}, at(10)),          // 1
            event("Lent", R"({"book":"b1","reader":"r1"})", {"book:b1", "reader:r1"}, {}, at(20)),       // 2
            event("Added", R"({"book":"b2","copy":"c2"})", {"book:b2"}, {}, at(30)),                     // 3
            event("Returned", R"({"book":"b1","reader":"r2"})", {"reader:r2", "book:b1"}, {}, at(40)),   // 4
            event("Lent", R"({"book":"b2","reader":"r1","n":7})", {"book:b2", "reader:r1"}, {}, at(50)), // 5
        });
    }
};

TEST_F(Matching, ByEventTypes) {
    EXPECT_EQ(matching(build_event_filter().matching().any_event_type_of("Lent").finalize()),
              (std::vector<SequenceNumber>{2, 5}));
    EXPECT_EQ(matching(build_event_filter().matching().any_event_type_of("Added", "Returned").finalize()),
              (std::vector<SequenceNumber>{1, 3, 4}));
    EXPECT_TRUE(matching(build_event_filter().matching().any_event_type_of("lent").finalize()).empty());
}

TEST_F(Matching, ByAnyPredicate) {
    EXPECT_EQ(matching(build_event_filter().matching().any_predicate_of(P("book", "b1")).finalize()),
              (std::vector<SequenceNumber>{1, 2, 4}));
    EXPECT_EQ(matching(build_event_filter()
                           .matching()
                           .any_event_type_of("Lent", "Returned")
                           .and_any_predicate_of(P("reader", "r2"), P("book", "b2"))
                           .finalize()),
              (std::vector<SequenceNumber>{4, 5}));
}

TEST_F(Matching, ByAllPredicates) {
    EXPECT_EQ(
        matching(build_event_filter().matching().all_predicates_of(P("book", "b1"), P("reader", "r1")).finalize()),
        (std::vector<SequenceNumber>{2}));
    // The same key asked for with two values matches nothing.
    EXPECT_TRUE(matching(build_event_filter().matching().all_predicates_of(P("book", "b1"), P("book", "b2")).finalize())
                    .empty());
    EXPECT_EQ(matching(build_event_filter().matching().all_predicates_of(P("book", "b1"), P("book", "b1")).finalize()),
              (std::vector<SequenceNumber>{1, 2, 4}));
}

TEST_F(Matching, ByTagsAllOfWhichTheEventCarries) {
    EXPECT_EQ(matching(build_event_filter().matching().all_tags_of("book:b1").finalize()),
              (std::vector<SequenceNumber>{1, 2, 4}));
    EXPECT_EQ(matching(build_event_filter().matching().all_tags_of("reader:r1", "book:b2").finalize()),
              (std::vector<SequenceNumber>{5}));
    EXPECT_TRUE(matching(build_event_filter().matching().all_tags_of("book:b1", "book:b2").finalize()).empty());
    EXPECT_EQ(
        matching(build_event_filter().matching().any_event_type_of("Lent").and_all_tags_of("reader:r1").finalize()),
        (std::vector<SequenceNumber>{2, 5}));
    EXPECT_EQ(matching(build_event_filter()
                           .matching()
                           .any_event_type_of("Lent", "Returned")
                           .and_any_predicate_of(P("book", "b1"))
                           .and_all_tags_of("reader:r2")
                           .finalize()),
              (std::vector<SequenceNumber>{4}));
}

TEST_F(Matching, ItemsAreOred) {
    EXPECT_EQ(matching(build_event_filter()
                           .matching()
                           .any_event_type_of("Returned")
                           .or_matching()
                           .all_tags_of("book:b2")
                           .or_matching()
                           .any_predicate_of(P("copy", "c1"))
                           .finalize()),
              (std::vector<SequenceNumber>{1, 3, 4, 5}));
}

TEST_F(Matching, ByTimeBoundsInclusive) {
    EXPECT_EQ(matching(build_event_filter().occurred_from(at(20)).finalize()),
              (std::vector<SequenceNumber>{2, 3, 4, 5}));
    EXPECT_EQ(matching(build_event_filter().occurred_until(at(20)).finalize()), (std::vector<SequenceNumber>{1, 2}));
    EXPECT_EQ(matching(build_event_filter()
                           .matching()
                           .any_event_type_of("Lent", "Added")
                           .occurred_from(at(20))
                           .and_occurred_until(at(50))
                           .finalize()),
              (std::vector<SequenceNumber>{2, 3, 5}));
    // Bounds count in whole microseconds, as the engine binds them: a bound a few nanoseconds past an
    // event's time still includes it.
    EXPECT_EQ(matching(build_event_filter().occurred_from(at(50) + nanoseconds(999)).finalize()),
              (std::vector<SequenceNumber>{5}));
}

TEST_F(Matching, BySequenceNumberLowerBoundExclusive) {
    EXPECT_EQ(matching(build_event_filter().with_sequence_number_higher_than(3).finalize()),
              (std::vector<SequenceNumber>{4, 5}));
    EXPECT_EQ(
        matching(
            build_event_filter().matching().any_event_type_of("Lent").with_sequence_number_higher_than(2).finalize()),
        (std::vector<SequenceNumber>{5}));
    EXPECT_TRUE(matching(build_event_filter().with_sequence_number_higher_than(5).finalize()).empty());
}

TEST_F(Matching, EmptyItemsAreIgnored) {
    // An item with nothing in it is dropped: a filter of only such items matches every event.
    const Filter only_bound = build_event_filter().occurred_until(at(30)).finalize();
    ASSERT_EQ(only_bound.items().size(), 1U);
    EXPECT_TRUE(only_bound.items()[0].empty());
    EXPECT_EQ(matching(only_bound), (std::vector<SequenceNumber>{1, 2, 3}));
    EXPECT_EQ(matching(everything), (std::vector<SequenceNumber>{1, 2, 3, 4, 5}));
}

TEST_F(MemoryStore, PredicatesMatchTopLevelStringsAsJsonbHoldsThem) {
    add({
        event("E", R"({"k":"v"})"),                     // 1
        event("E", R"({"k":"\u0076"})"),                // 2: the same string, escaped
        event("E", R"({"k":1})"),                       // 3: a number never matches
        event("E", R"({"k":["v"]})"),                   // 4: nor an array
        event("E", R"({"o":{"k":"v"}})"),               // 5: nor a nested member
        event("E", R"({"k":"x","k":"v"})"),             // 6: the last of duplicate keys counts
        event("E", R"({"k":"v","k":1})"),               // 7: ... even when it is not a string
        event("E", R"({"k":"V"})"),                     // 8: case-sensitive
        event("E", R"({"k":"a\"b"})"),                  // 9
        event("E", "{\"k\":\"\xC3\xA9\",\"n\":\"1\"}"), // 10
    });
    EXPECT_EQ(matching(build_event_filter().matching().any_predicate_of(P("k", "v")).finalize()),
              (std::vector<SequenceNumber>{1, 2, 6}));
    EXPECT_EQ(matching(build_event_filter().matching().any_predicate_of(P("k", "x")).finalize()),
              (std::vector<SequenceNumber>{}));
    EXPECT_EQ(matching(build_event_filter().matching().any_predicate_of(P("k", "a\"b")).finalize()),
              (std::vector<SequenceNumber>{9}));
    EXPECT_EQ(matching(build_event_filter().matching().any_predicate_of(P("k", "\u00e9")).finalize()),
              (std::vector<SequenceNumber>{10}));
    EXPECT_EQ(matching(build_event_filter().matching().any_predicate_of(P("k", "1")).finalize()),
              (std::vector<SequenceNumber>{}));
    EXPECT_EQ(matching(build_event_filter().matching().any_predicate_of(P("n", "1")).finalize()),
              (std::vector<SequenceNumber>{10}));
}

// --- read options -------------------------------------------------------------------------------------

class ReadingWithOptions : public MemoryStore {
protected:
    void SetUp() override {
        for (int i = 1; i <= 10; ++i) {
            add({event(i % 2 == 0 ? "Even" : "Odd", "{}")});
        }
    }
    std::vector<SequenceNumber> read(const Filter& filter, ReadOptions options, SequenceNumber expected_max) {
        const QueryResult result = store.query(filter, options);
        std::vector<SequenceNumber> got = positions(result);
        SequenceNumber greatest = 0;
        for (SequenceNumber p : got) {
            greatest = std::max(greatest, p);
        }
        EXPECT_EQ(result.max_sequence_number, greatest);
        EXPECT_EQ(result.max_sequence_number, expected_max);
        return got;
    }
    const Filter odd = build_event_filter().matching().any_event_type_of("Odd").finalize();
};

TEST_F(ReadingWithOptions, FromIsAnInclusiveLowerBound) {
    EXPECT_EQ(read(everything, {7, false, 0}, 10), (std::vector<SequenceNumber>{7, 8, 9, 10}));
    EXPECT_EQ(read(odd, {4, false, 0}, 9), (std::vector<SequenceNumber>{5, 7, 9}));
    EXPECT_EQ(read(odd, {5, false, 0}, 9), (std::vector<SequenceNumber>{5, 7, 9}));
    EXPECT_EQ(read(everything, {11, false, 0}, 0), (std::vector<SequenceNumber>{}));
    EXPECT_EQ(read(everything, {std::numeric_limits<SequenceNumber>::max(), false, 0}, 0),
              (std::vector<SequenceNumber>{}));
}

TEST_F(ReadingWithOptions, BackwardsIsDescendingAndFromIsTheHighest) {
    EXPECT_EQ(read(odd, {0, true, 0}, 9), (std::vector<SequenceNumber>{9, 7, 5, 3, 1}));
    EXPECT_EQ(read(odd, {6, true, 0}, 5), (std::vector<SequenceNumber>{5, 3, 1}));
    EXPECT_EQ(read(odd, {5, true, 0}, 5), (std::vector<SequenceNumber>{5, 3, 1}));
    EXPECT_EQ(read(everything, {100, true, 2}, 10), (std::vector<SequenceNumber>{10, 9}));
}

TEST_F(ReadingWithOptions, LimitCapsTheCountAndTheMaximumIsTheGreatestReturned) {
    EXPECT_EQ(read(odd, {0, false, 2}, 3), (std::vector<SequenceNumber>{1, 3}));
    EXPECT_EQ(read(odd, {4, false, 2}, 7), (std::vector<SequenceNumber>{5, 7}));
    EXPECT_EQ(read(odd, {0, true, 1}, 9), (std::vector<SequenceNumber>{9}));
    EXPECT_EQ(read(odd, {8, true, 2}, 7), (std::vector<SequenceNumber>{7, 5}));
    EXPECT_EQ(read(odd, {0, false, 100}, 9), (std::vector<SequenceNumber>{1, 3, 5, 7, 9}));
}

TEST_F(ReadingWithOptions, CombineWithTheFilterBounds) {
    const Filter later_odd =
        build_event_filter().matching().any_event_type_of("Odd").with_sequence_number_higher_than(3).finalize();
    EXPECT_EQ(read(later_odd, {0, true, 0}, 9), (std::vector<SequenceNumber>{9, 7, 5}));
    EXPECT_EQ(read(later_odd, {2, false, 1}, 5), (std::vector<SequenceNumber>{5}));
    EXPECT_EQ(read(later_odd, {3, true, 0}, 0), (std::vector<SequenceNumber>{}));
}

// --- conditional appends ------------------------------------------------------------------------------

TEST_F(MemoryStore, AConditionOnAStaleMaximumConflictsAndWritesNothing) {
    const Filter book1 = build_event_filter().matching().all_tags_of("book:b1").finalize();
    const Filter book2 = build_event_filter().matching().all_tags_of("book:b2").finalize();
    EXPECT_EQ(store.append(book1, 0, event("Added", "{}", {"book:b1"})).last_sequence_number, 1U);
    // Another boundary's event does not move this one's maximum.
    EXPECT_EQ(store.append(book2, 0, event("Added", "{}", {"book:b2"})).last_sequence_number, 2U);
    EXPECT_THROW(store.append(book1, 0, event("Lent", "{}", {"book:b1"})), ConcurrencyConflict);
    EXPECT_THROW(store.append(book1, 2, event("Lent", "{}", {"book:b1"})), ConcurrencyConflict);
    EXPECT_EQ(count(), 2U);
    EXPECT_EQ(store.append(book1, 1, event("Lent", "{}", {"book:b1"})).last_sequence_number, 3U);
    EXPECT_EQ(store.query(book1).max_sequence_number, 3U);
}

TEST_F(MemoryStore, TheConditionUsesTheWholeFilterWithItsBounds) {
    add({event("A", "{}", {}, {}, at(10)), event("A", "{}", {}, {}, at(20))});
    const Filter early = build_event_filter().matching().any_event_type_of("A").occurred_until(at(15)).finalize();
    EXPECT_THROW(store.append(early, 2, event("A", "{}", {}, {}, at(30))), ConcurrencyConflict);
    EXPECT_EQ(store.append(early, 1, event("A", "{}", {}, {}, at(30))).last_sequence_number, 3U);
    const Filter above = build_event_filter().with_sequence_number_higher_than(3).finalize();
    EXPECT_EQ(store.append(above, 0, event("A", "{}")).last_sequence_number, 4U);
}

TEST_F(MemoryStore, AnExpectedMaximumBeyondBigintConflicts) {
    EXPECT_THROW(store.append(everything, static_cast<SequenceNumber>(std::numeric_limits<std::int64_t>::max()) + 1,
                              event("A", "{}")),
                 ConcurrencyConflict);
    EXPECT_EQ(count(), 0U);
}

// --- idempotent appends -------------------------------------------------------------------------------

class Idempotency : public MemoryStore {
protected:
    void SetUp() override {
        add({event("Other", "{}")}); // position 1, so that positions and counts differ
        original = store.append(everything, 1, first_try);
    }
    std::vector<StorableEvent> first_try{
        event("Subscribed", R"({"student":"s1","course":"c1","credits":3})", {"student:s1", "course:c1"}, uuid(1)),
        event("Paid", R"({"student":"s1","amount":1.5,"items":[1,2]})", {"student:s1"}, uuid(2)),
    };
    AppendResult original;
};

TEST_F(Idempotency, ARetryReturnsTheOriginalResultWhateverTheCondition) {
    EXPECT_EQ(original.last_sequence_number, 3U);
    EXPECT_FALSE(original.already_stored);
    for (SequenceNumber expected : {SequenceNumber{0}, SequenceNumber{1}, SequenceNumber{3}, SequenceNumber{99}}) {
        const AppendResult retry = store.append(everything, expected, first_try);
        EXPECT_EQ(retry.last_sequence_number, 3U);
        EXPECT_TRUE(retry.already_stored);
    }
    EXPECT_EQ(count(), 3U);
}

TEST_F(Idempotency, TheSameEventsSpelledDifferentlyAreTheSame) {
    std::vector<StorableEvent> again{
        event("Subscribed", R"( { "credits" : 3.0, "course":"c1", "student" : "\u0073\u0031" } )",
              {"course:c1", "student:s1", "course:c1"}, "0190A1B2-C3D4-7E5F-8A9B-000000000001", at(99)),
        event("Paid", R"({"items":[1e0,20e-1],"amount":15e-1,"student":"s0","student":"s1"})", {"student:s1"}, uuid(2),
              at(98)),
    };
    again[0].metadata_json = R"({"attempt":2})"; // metadata and occurred_at are not compared
    const AppendResult retry = store.append(everything, 0, again);
    EXPECT_EQ(retry.last_sequence_number, 3U);
    EXPECT_TRUE(retry.already_stored);
    EXPECT_EQ(count(), 3U);
    // What is stored is the first attempt's.
    EXPECT_EQ(store.query(everything).events.at(1).metadata_json, "{}");
}

TEST_F(Idempotency, ARetryOfPartOfTheEventsReturnsTheLastOnesPosition) {
    const AppendResult retry = store.append(everything, 0, std::span<const StorableEvent>(first_try.data(), 1));
    EXPECT_EQ(retry.last_sequence_number, 2U);
    EXPECT_TRUE(retry.already_stored);
}

TEST_F(Idempotency, AnIdStoredForADifferentEventIsADuplicateAndNothingIsWritten) {
    const auto expect_duplicate = [&](std::vector<StorableEvent> events) {
        expect_error([&] { store.append(everything, 3, events); }, Errc::appending_event_failed,
                     Errc::duplicate_event_id);
        EXPECT_EQ(count(), 3U);
    };
    std::vector<StorableEvent> changed = first_try;
    changed[1].payload_json = R"({"student":"s1","amount":1.6,"items":[1,2]})";
    expect_duplicate(changed);
    changed = first_try;
    changed[1].payload_json = R"({"student":"s1","amount":1.5,"items":[2,1]})";
    expect_duplicate(changed);
    changed = first_try;
    changed[0].event_type = "Unsubscribed";
    expect_duplicate(changed);
    changed = first_try;
    changed[0].tags = {"student:s1"};
    expect_duplicate(changed);
    changed = first_try;
    changed[0].tags.emplace_back("course:c2");
    expect_duplicate(changed);
    // An id is unique across the store, whatever the new event looks like.
    expect_duplicate({event("Else", "{}", {}, uuid(2))});
    const std::optional<Error> error = thrown([&] { store.append(everything, 3, changed); });
    ASSERT_TRUE(error.has_value());
    EXPECT_TRUE(error->is_input_error());
    EXPECT_FALSE(error->is_retryable());
}

TEST_F(Idempotency, MixingStoredAndNewIdsIsADuplicateAndNothingIsWritten) {
    std::vector<StorableEvent> mixed = first_try;
    mixed.push_back(event("Paid", "{}", {}, uuid(3)));
    expect_error([&] { store.append(everything, 3, mixed); }, Errc::appending_event_failed, Errc::duplicate_event_id);
    mixed = {event("New", "{}", {}, uuid(4)), first_try[0]};
    expect_error([&] { store.append(everything, 3, mixed); }, Errc::appending_event_failed, Errc::duplicate_event_id);
    mixed = {first_try[0], event("New", "{}")}; // an event without an id beside a stored one
    expect_error([&] { store.append(everything, 3, mixed); }, Errc::appending_event_failed, Errc::duplicate_event_id);
    EXPECT_EQ(count(), 3U);
    // The new id was not taken by the failed calls.
    EXPECT_EQ(store.append(everything, 3, event("New", "{}", {}, uuid(4))).last_sequence_number, 4U);
}

TEST_F(Idempotency, EventsWithoutIdsAreNeverRetries) {
    const StorableEvent plain = event("Other", "{}");
    EXPECT_EQ(store.append(everything, 3, plain).last_sequence_number, 4U);
    EXPECT_EQ(store.append(everything, 4, plain).last_sequence_number, 5U);
    EXPECT_THROW(store.append(everything, 4, plain), ConcurrencyConflict);
}

TEST_F(MemoryStore, TwoEventsOfOneAppendCannotShareAnId) {
    expect_error(
        [&] {
            add({event("A", "{}", {}, uuid(1)), event("A", "{}", {}, uuid(1))});
        },
        Errc::appending_event_failed, Errc::duplicate_event_id);
    // Ids are compared in lowercase.
    expect_error(
        [&] {
            add({event("A", "{}", {}, "0190a1b2-c3d4-7e5f-8a9b-00000000000a"),
                 event("B", "{}", {}, "0190A1B2-C3D4-7E5F-8A9B-00000000000A")});
        },
        Errc::appending_event_failed, Errc::duplicate_event_id);
    // Found as the events are checked, in order, as the engine does: before a bad event after them.
    expect_error(
        [&] {
            add({event("A", "{}", {}, uuid(1)), event("A", "{}", {}, uuid(1)), event("", "{}")});
        },
        Errc::appending_event_failed, Errc::duplicate_event_id);
    expect_error(
        [&] {
            add({event("A", "{}", {}, uuid(1)), event("", "{}"), event("A", "{}", {}, uuid(1))});
        },
        Errc::appending_event_failed, Errc::invalid_event_type);
    EXPECT_EQ(count(), 0U);
}

TEST_F(MemoryStore, EightThreadsRacingOneIdempotentAppendStoreOneCopy) {
    constexpr int threads = 8;
    const Filter course = build_event_filter().matching().all_tags_of("course:c1").finalize();
    const std::vector<StorableEvent> events{event("CourseDefined", R"({"course":"c1"})", {"course:c1"}, uuid(10)),
                                            event("CourseOpened", R"({"course":"c1"})", {"course:c1"}, uuid(11))};
    std::atomic<bool> go{false};
    std::vector<AppendResult> results(threads);
    std::vector<std::thread> runners;
    runners.reserve(threads);
    for (int i = 0; i < threads; ++i) {
        runners.emplace_back([&, i] {
            while (!go.load()) {
                std::this_thread::yield();
            }
            results[static_cast<std::size_t>(i)] = store.append(course, 0, events);
        });
    }
    go = true;
    for (std::thread& t : runners) {
        t.join();
    }
    int first = 0;
    for (const AppendResult& result : results) {
        EXPECT_EQ(result.last_sequence_number, 2U);
        first += result.already_stored ? 0 : 1;
    }
    EXPECT_EQ(first, 1);
    EXPECT_EQ(positions(store.query(everything)), (std::vector<SequenceNumber>{1, 2}));
}

// Threads contending on one boundary through decide_and_append: every decision lands exactly once.
TEST_F(MemoryStore, ConcurrentDecideAndAppendLoseNoIncrement) {
    constexpr int threads = 8;
    constexpr int increments = 25;
    const Filter counter = build_event_filter().matching().any_event_type_of("Incremented").finalize();
    std::vector<std::thread> runners;
    runners.reserve(threads);
    for (int i = 0; i < threads; ++i) {
        runners.emplace_back([&] {
            for (int n = 0; n < increments; ++n) {
                decide_and_append(
                    store, Context(), counter,
                    [](const QueryResult& read) {
                        return StorableEvents{
                            event("Incremented", R"({"to":")" + std::to_string(read.events.size() + 1) + R"("})")};
                    },
                    RetryPolicy{1000, std::chrono::milliseconds(0)});
            }
        });
    }
    for (std::thread& t : runners) {
        t.join();
    }
    const QueryResult all = store.query(counter);
    ASSERT_EQ(all.events.size(), static_cast<std::size_t>(threads * increments));
    for (std::size_t i = 0; i < all.events.size(); ++i) {
        EXPECT_EQ(all.events[i].payload_json, R"({"to":")" + std::to_string(i + 1) + R"("})");
    }
}

// --- input errors -------------------------------------------------------------------------------------

TEST_F(MemoryStore, BadEventsAreInputErrorsAndNothingIsWritten) {
    const StorableEvent good = event("A", "{}");
    const auto expect_rejected = [&](const StorableEvent& bad, Errc cause) {
        // The bad event second: nothing of the append is written.
        const std::vector<StorableEvent> events{good, bad};
        const std::optional<Error> error = thrown([&] { store.append(everything, 0, events); });
        ASSERT_TRUE(error.has_value());
        EXPECT_EQ(error->code(), Errc::appending_event_failed) << error->what();
        EXPECT_EQ(error->cause(), cause) << error->what();
        EXPECT_TRUE(error->is_input_error());
        EXPECT_NE(error->detail().find("event 1: "), std::string::npos) << error->detail();
        EXPECT_EQ(count(), 0U);
    };
    expect_rejected(event("", "{}"), Errc::invalid_event_type);
    expect_rejected(event(std::string("A\0B", 3), "{}"), Errc::invalid_event_type);
    expect_rejected(event(std::string(max_event_type_length + 1, 'x'), "{}"), Errc::invalid_event_type);
    expect_rejected(event("A", "{"), Errc::invalid_payload_json);
    expect_rejected(event("A", "[]"), Errc::invalid_payload_json);
    expect_rejected(event("A", R"({"a":"\u0000"})"), Errc::invalid_payload_json);
    StorableEvent bad_metadata = good;
    bad_metadata.metadata_json = "";
    expect_rejected(bad_metadata, Errc::invalid_metadata_json);
    expect_rejected(event("A", "{}", {""}), Errc::invalid_tag);
    expect_rejected(event("A", "{}", {std::string("a\0b", 3)}), Errc::invalid_tag);
    expect_rejected(event("A", "{}", {"\xFF"}), Errc::invalid_tag);
    expect_rejected(event("A", "{}", {std::string(max_tag_length + 1, 't')}), Errc::invalid_tag);
    expect_rejected(event("A", "{}", {}, "not-a-uuid"), Errc::invalid_event_id);
    expect_rejected(event("A", "{}", {}, "0190a1b2c3d47e5f8a9b000000000001"), Errc::invalid_event_id);
}

TEST_F(MemoryStore, BadFiltersAreInputErrorsOfTheOperation) {
    const std::vector<Filter> bad{
        build_event_filter().matching().any_event_type_of(std::string("A\0", 2)).finalize(),
        build_event_filter().matching().any_event_type_of("\xC3").finalize(),
        build_event_filter().matching().any_predicate_of(P(std::string("k\0", 2), "v")).finalize(),
        build_event_filter().matching().any_predicate_of(P("k", "\xFF")).finalize(),
        build_event_filter().matching().all_tags_of(std::string("t\0", 2)).finalize(),
        build_event_filter().matching().any_event_type_of("A").and_all_tags_of("\xE2\x82").finalize(),
    };
    add({event("A", "{}")});
    for (const Filter& filter : bad) {
        expect_error([&] { (void)store.query(filter); }, Errc::querying_events_failed, Errc::invalid_filter);
        expect_error([&] { store.append(filter, 0, event("A", "{}")); }, Errc::appending_event_failed,
                     Errc::invalid_filter);
    }
    EXPECT_EQ(count(), 1U);
}

// --- the Context --------------------------------------------------------------------------------------

TEST_F(MemoryStore, ACancelledContextFailsEveryCallBeforeItStarts) {
    std::stop_source stop;
    stop.request_stop();
    const Context cancelled = Context().with_stop_token(stop.get_token());
    const Snapshot snapshot = build_snapshot("P", everything.hash(), 1, "{}");
    expect_error([&] { (void)store.query(cancelled, everything); }, Errc::querying_events_failed, Errc::canceled);
    expect_error([&] { store.append(cancelled, everything, 0, event("A", "{}")); }, Errc::appending_event_failed,
                 Errc::canceled);
    expect_error([&] { store.append(cancelled, everything, 0, std::span<const StorableEvent>()); },
                 Errc::appending_event_failed, Errc::canceled);
    expect_error([&] { store.save_snapshot(cancelled, snapshot); }, Errc::saving_snapshot_failed, Errc::canceled);
    expect_error([&] { (void)store.load_snapshot(cancelled, "P", everything); }, Errc::loading_snapshot_failed,
                 Errc::canceled);
    expect_error([&] { store.delete_snapshot(cancelled, "P", everything); }, Errc::deleting_snapshot_failed,
                 Errc::canceled);
    EXPECT_EQ(count(), 0U);
    EXPECT_FALSE(store.load_snapshot("P", everything).has_value());
}

TEST_F(MemoryStore, APassedDeadlineFailsEveryCallBeforeItStarts) {
    const Context late = Context().with_deadline(std::chrono::steady_clock::now() - seconds(1));
    const Snapshot snapshot = build_snapshot("P", everything.hash(), 1, "{}");
    expect_error([&] { (void)store.query(late, everything, ReadOptions{}); }, Errc::querying_events_failed,
                 Errc::deadline_exceeded);
    expect_error([&] { store.append(late, everything, 0, event("A", "{}")); }, Errc::appending_event_failed,
                 Errc::deadline_exceeded);
    expect_error([&] { store.save_snapshot(late, snapshot); }, Errc::saving_snapshot_failed, Errc::deadline_exceeded);
    expect_error([&] { (void)store.load_snapshot(late, "P", everything); }, Errc::loading_snapshot_failed,
                 Errc::deadline_exceeded);
    expect_error([&] { store.delete_snapshot(late, "P", everything); }, Errc::deleting_snapshot_failed,
                 Errc::deadline_exceeded);
    EXPECT_EQ(count(), 0U);
    // A deadline still ahead is no obstacle.
    EXPECT_EQ(store.append(Context().with_timeout(seconds(60)), everything, 0, event("A", "{}")).last_sequence_number,
              1U);
}

// --- snapshots ----------------------------------------------------------------------------------------

TEST_F(MemoryStore, SnapshotsAreSavedLoadedAndDeletedByProjectionAndFilter) {
    const Filter books = build_event_filter().matching().any_event_type_of("Added").finalize();
    const Filter readers = build_event_filter().matching().any_event_type_of("Lent").finalize();
    EXPECT_FALSE(store.load_snapshot("Shelf", books).has_value());

    const auto before = std::chrono::system_clock::now();
    Snapshot saved = build_snapshot("Shelf", books.hash(), 5, R"({"books": 2})");
    saved.created_at = TimePoint(); // the store sets it
    store.save_snapshot(saved);
    const std::optional<Snapshot> loaded = store.load_snapshot("Shelf", books);
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->projection_type, "Shelf");
    EXPECT_EQ(loaded->filter_hash, books.hash());
    EXPECT_EQ(loaded->sequence_number, 5U);
    EXPECT_EQ(loaded->data_json, R"({"books": 2})");
    EXPECT_GE(loaded->created_at, std::chrono::floor<microseconds>(before));
    EXPECT_LE(loaded->created_at, std::chrono::system_clock::now());

    EXPECT_FALSE(store.load_snapshot("Shelf", readers).has_value());
    EXPECT_FALSE(store.load_snapshot("Other", books).has_value());

    store.delete_snapshot("Shelf", books);
    EXPECT_FALSE(store.load_snapshot("Shelf", books).has_value());
    EXPECT_NO_THROW(store.delete_snapshot("Shelf", books)); // idempotent
}

TEST_F(MemoryStore, ALowerSequenceNumberNeverOverwritesASnapshot) {
    const Filter books = build_event_filter().matching().any_event_type_of("Added").finalize();
    store.save_snapshot(build_snapshot("Shelf", books.hash(), 5, R"({"v":5})"));
    store.save_snapshot(build_snapshot("Shelf", books.hash(), 4, R"({"v":4})"));
    EXPECT_EQ(store.load_snapshot("Shelf", books)->data_json, R"({"v":5})");
    store.save_snapshot(build_snapshot("Shelf", books.hash(), 5, R"({"v":"5 again"})"));
    EXPECT_EQ(store.load_snapshot("Shelf", books)->data_json, R"({"v":"5 again"})");
    store.save_snapshot(build_snapshot("Shelf", books.hash(), 9, R"({"v":9})"));
    EXPECT_EQ(store.load_snapshot("Shelf", books)->sequence_number, 9U);
}

TEST_F(MemoryStore, BadSnapshotsAreRejectedAsTheEngineRejectsThem) {
    const std::string hash = everything.hash();
    expect_error(
        [&] {
            store.save_snapshot(Snapshot{"", hash, 1, "{}", {}});
        },
        Errc::empty_projection_type, std::nullopt);
    expect_error([&] { store.save_snapshot(Snapshot{"P", "", 1, "{}", {}}); }, Errc::empty_filter_hash, std::nullopt);
    expect_error(
        [&] {
            store.save_snapshot(Snapshot{"P", hash, 1, "[]", {}});
        },
        Errc::invalid_snapshot_json, std::nullopt);
    expect_error(
        [&] {
            store.save_snapshot(Snapshot{
                "P", hash, static_cast<SequenceNumber>(std::numeric_limits<std::int64_t>::max()) + 1, "{}", {}});
        },
        Errc::saving_snapshot_failed, std::nullopt);
    expect_error([&] { (void)store.load_snapshot("", everything); }, Errc::empty_projection_type, std::nullopt);
    expect_error([&] { store.delete_snapshot("", everything); }, Errc::empty_projection_type, std::nullopt);
    EXPECT_FALSE(store.load_snapshot("P", everything).has_value());
}

// --- decide_and_append --------------------------------------------------------------------------------

TEST_F(MemoryStore, DecideAndAppendDecidesAgainAfterAConflict) {
    const Filter course = build_event_filter().matching().all_tags_of("course:c1").finalize();
    int decisions = 0;
    const AppendResult result = decide_and_append(store, Context(), course, [&](const QueryResult& read) {
        ++decisions;
        if (decisions == 1) {
            // Someone else appends to the boundary between this read and its append.
            store.append(course, read.max_sequence_number, event("Competitor", "{}", {"course:c1"}));
        }
        return StorableEvents{
            event("Subscribed", R"({"seen":")" + std::to_string(read.events.size()) + R"("})", {"course:c1"})};
    });
    EXPECT_EQ(decisions, 2);
    EXPECT_EQ(result.last_sequence_number, 2U);
    const QueryResult all = store.query(course);
    ASSERT_EQ(all.events.size(), 2U);
    EXPECT_EQ(all.events[1].payload_json, R"({"seen":"1"})");
}

TEST_F(MemoryStore, DecideAndAppendGivesUpAfterItsAttempts) {
    int decisions = 0;
    EXPECT_THROW(decide_and_append(
                     store, Context(), everything,
                     [&](const QueryResult& read) {
                         ++decisions;
                         store.append(everything, read.max_sequence_number, event("Competitor", "{}"));
                         return StorableEvents{event("Mine", "{}")};
                     },
                     RetryPolicy{3, std::chrono::milliseconds(0)}),
                 ConcurrencyConflict);
    EXPECT_EQ(decisions, 3);
    EXPECT_EQ(count(), 3U); // the competitors' only
}

TEST_F(MemoryStore, DecideAndAppendWithNothingToAppendWritesNothing) {
    const AppendResult result =
        decide_and_append(store, Context(), everything, [](const QueryResult&) { return StorableEvents{}; });
    EXPECT_EQ(result.last_sequence_number, 0U);
    EXPECT_EQ(count(), 0U);
}

TEST_F(MemoryStore, DecideAndAppendRetriedWithIdsIsIdempotent) {
    const auto decide = [](const QueryResult&) {
        return StorableEvents{event("Subscribed", R"({"student":"s1"})", {"student:s1"}, uuid(7))};
    };
    const AppendResult first = decide_and_append(store, Context(), everything, decide);
    const AppendResult again = decide_and_append(store, Context(), everything, decide);
    EXPECT_EQ(first.last_sequence_number, 1U);
    EXPECT_FALSE(first.already_stored);
    EXPECT_EQ(again.last_sequence_number, 1U);
    EXPECT_TRUE(again.already_stored);
    EXPECT_EQ(count(), 1U);
}

} // namespace
