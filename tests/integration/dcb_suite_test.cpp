// The three checks of the DCB specification's test suite (consistency, monotonic reads, parallel
// writes), run in-process against the PostgreSQL engine, and the backwards limit-1 read they rely on.
//
// The suite drives a store over HTTP for ten seconds per check; here each check runs its threads for
// EVENTSTORE_SOAK_DCB_SECONDS (default 2, so that the ThreadSanitizer run stays short) and then checks
// the final log, read once, against what every call saw and was told:
// - consistency: every successful append's condition held (the greatest event matching its query below
//   its first new event is exactly the `after` it read), every conflicting append left nothing, and
//   for every conflict an event matching its query above `after` was visible when it ended;
// - monotonic: a reader following the log with inclusive `from` reads never sees a position lower than
//   one it saw before, and misses none (the out-of-order commit that breaks naive PostgreSQL stores);
// - parallel writes: appends conditioned on unrelated tags never conflict and never fail.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixture.hpp"

namespace {

using eventstore::AppendResult;
using eventstore::build_event_filter;
using eventstore::EmptyFilterItemBuilder;
using eventstore::Filter;
using eventstore::QueryResult;
using eventstore::ReadOptions;
using eventstore::SequenceNumber;
using eventstore::StorableEvent;
using eventstore::StorableEvents;
using Clock = std::chrono::steady_clock;

// How long each concurrent check keeps its threads busy. The suite's own runs are 10 s; a soak run
// sets more.
std::chrono::milliseconds run_time() {
    const char* value = std::getenv("EVENTSTORE_SOAK_DCB_SECONDS"); // NOLINT(concurrency-mt-unsafe)
    const double seconds = value != nullptr && *value != '\0' ? std::max(0.1, std::atof(value)) : 2.0;
    return std::chrono::milliseconds(static_cast<long long>(seconds * 1000));
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Small vocabularies, so that the writers' queries overlap each other's events often.
const std::vector<std::string> event_types{"Alpha", "Beta", "Gamma"};
const std::vector<std::string> tag_words{"t1", "t2", "t3", "t4", "t5"};

// A query item in the specification's terms, kept beside the Filter built from it so that the checks
// evaluate the query in C++, independently of the engine's SQL.
struct QueryItem {
    std::vector<std::string> types; // OR-ed; none = any type
    std::vector<std::string> tags;  // AND-ed; none = no tag required
};

// The specification's query: items OR-ed; no items (Query.all()) matches every event.
struct Query {
    std::vector<QueryItem> items;
    Filter filter;
};

// For failure messages: the filter's serialisation, which is empty for the empty query.
std::string describe(const Query& q) {
    return q.items.empty() ? std::string("the empty query") : "filter " + q.filter.serialize();
}

bool item_matches(const QueryItem& item, const StorableEvent& e) {
    if (!item.types.empty() && std::find(item.types.begin(), item.types.end(), e.event_type) == item.types.end()) {
        return false;
    }
    return std::all_of(item.tags.begin(), item.tags.end(), [&](const std::string& tag) {
        return std::find(e.tags.begin(), e.tags.end(), tag) != e.tags.end();
    });
}

bool query_matches(const Query& q, const StorableEvent& e) {
    return q.items.empty() ||
           std::any_of(q.items.begin(), q.items.end(), [&](const QueryItem& item) { return item_matches(item, e); });
}

// The items as a Filter, through the runtime-list overloads a client translating queries would use.
Filter add_items(EmptyFilterItemBuilder builder, std::span<const QueryItem> items) {
    const QueryItem& item = items.front();
    const std::span<const QueryItem> rest = items.subspan(1);
    auto close = [&](auto&& step) -> Filter {
        if (rest.empty()) {
            return std::move(step).finalize();
        }
        return add_items(std::move(step).or_matching(), rest);
    };
    if (item.types.empty()) {
        return close(std::move(builder).all_tags_of(std::span<const std::string>(item.tags)));
    }
    auto typed = std::move(builder).any_event_type_of(std::span<const std::string>(item.types));
    if (item.tags.empty()) {
        return close(std::move(typed));
    }
    return close(std::move(typed).and_all_tags_of(std::span<const std::string>(item.tags)));
}

// `count` distinct words of `from`, in random order.
std::vector<std::string> sample(std::mt19937& rng, const std::vector<std::string>& from, std::size_t count) {
    std::vector<std::string> words = from;
    std::shuffle(words.begin(), words.end(), rng);
    words.resize(std::min(count, words.size()));
    return words;
}

std::size_t uniform(std::mt19937& rng, std::size_t low, std::size_t high) {
    return std::uniform_int_distribution<std::size_t>(low, high)(rng);
}

// 0-3 items of 0-3 tags, each with event types half of the time. An item with neither matches every
// event in the specification, so the whole query does: it becomes the empty query, Filter(). (An item
// built from empty lists would be refused by the builder, and an empty item is dropped from the OR.)
Query random_query(std::mt19937& rng) {
    Query q;
    const std::size_t item_count = uniform(rng, 0, 3);
    for (std::size_t i = 0; i < item_count; ++i) {
        QueryItem item;
        item.tags = sample(rng, tag_words, uniform(rng, 0, 3));
        if (rng() % 2 == 0) {
            item.types = sample(rng, event_types, uniform(rng, 1, 2));
        }
        if (item.types.empty() && item.tags.empty()) {
            q.items.clear();
            break;
        }
        q.items.push_back(std::move(item));
    }
    if (!q.items.empty()) {
        q.filter = add_items(build_event_filter().matching(), q.items);
    }
    return q;
}

// The newest position matching the filter, the way the suite finds `after`: one event, backwards.
SequenceNumber newest_matching(eventstore::EventStore& store, const Filter& filter) {
    const QueryResult newest = store.query(filter, ReadOptions{0, true, 1});
    if (newest.events.size() > 1) {
        ADD_FAILURE() << "a limit-1 read returned " << newest.events.size() << " events";
    }
    if (!newest.events.empty() && newest.max_sequence_number != newest.events.front().sequence_number) {
        ADD_FAILURE() << "a limit-1 read returned event " << newest.events.front().sequence_number << " with maximum "
                      << newest.max_sequence_number;
    }
    return newest.max_sequence_number;
}

StorableEvent make_event(std::string type, std::vector<std::string> tags, const nlohmann::ordered_json& data) {
    StorableEvent e = eventstore::build_storable_event_with_empty_metadata(
        std::move(type), std::chrono::system_clock::now(), data.dump());
    e.tags = std::move(tags);
    return e;
}

// The whole log, oldest first, and the checks every test makes of it.
StorableEvents whole_log(eventstore::EventStore& store) {
    StorableEvents log = store.query(Filter()).events;
    for (std::size_t i = 1; i < log.size(); ++i) {
        if (log[i].sequence_number <= log[i - 1].sequence_number) {
            ADD_FAILURE() << "the log is not in ascending order at " << i << ": " << log[i - 1].sequence_number
                          << " then " << log[i].sequence_number;
            break;
        }
    }
    return log;
}

// The string member `key` of the event's payload, "" when it has none.
std::string payload_string(const StorableEvent& e, const char* key) {
    const auto data = nlohmann::json::parse(e.payload_json, nullptr, false);
    return data.is_object() && data.contains(key) && data[key].is_string() ? data[key].get<std::string>()
                                                                           : std::string();
}

class DcbSuite : public eventstore::test::StoreTest {
protected:
    // Every thread of a check holds a connection at once, as the suite's virtual users do.
    [[nodiscard]] eventstore::postgres::PoolOptions pool_options() const override { return {.max_connections = 24}; }
};

// --- the read the checks rely on ------------------------------------------------------------------

TEST_F(DcbSuite, BackwardsLimitOneReadsTheNewestMatchingPosition) {
    auto append_one = [&](std::vector<std::string> tags) {
        const SequenceNumber max = store().query(Filter(), ReadOptions{0, true, 1}).max_sequence_number;
        return store().append(Filter(), max, make_event("Alpha", std::move(tags), {{"n", 1}})).last_sequence_number;
    };
    // Events without the tag before, between and after the tagged ones: the tag's positions have gaps.
    append_one({"other"});
    const SequenceNumber p1 = append_one({"course:c1"});
    append_one({"other"});
    const SequenceNumber p2 = append_one({"course:c1", "student:s1"});
    append_one({});
    const SequenceNumber p3 = append_one({"student:s2", "course:c1"});
    const SequenceNumber last = append_one({"other"});
    ASSERT_LT(p1, p2);
    ASSERT_LT(p2, p3);
    const Filter on_tag = build_event_filter().matching().all_tags_of("course:c1").finalize();
    auto positions = [](const QueryResult& r) {
        std::vector<SequenceNumber> out;
        for (const auto& e : r.events) {
            out.push_back(e.sequence_number);
        }
        return out;
    };
    using Positions = std::vector<SequenceNumber>;

    QueryResult newest = store().query(on_tag, ReadOptions{0, true, 1});
    EXPECT_EQ(positions(newest), Positions{p3});
    EXPECT_EQ(newest.max_sequence_number, p3);

    QueryResult at_p2 = store().query(on_tag, ReadOptions{p2, true, 1});
    EXPECT_EQ(positions(at_p2), Positions{p2}) << "a backwards `from` is inclusive";
    EXPECT_EQ(at_p2.max_sequence_number, p2);

    // Between two matching positions, a backwards read starts at the one below.
    QueryResult below = store().query(on_tag, ReadOptions{p3 - 1, true, 0});
    EXPECT_EQ(positions(below), (Positions{p2, p1}));
    EXPECT_EQ(below.max_sequence_number, p2) << "the maximum of a descending read is its first event";

    QueryResult first_two = store().query(on_tag, ReadOptions{0, false, 2});
    EXPECT_EQ(positions(first_two), (Positions{p1, p2}));
    EXPECT_EQ(first_two.max_sequence_number, p2) << "a limited read's maximum is the greatest it returned";

    QueryResult from_p2 = store().query(on_tag, ReadOptions{p2, false, 0});
    EXPECT_EQ(positions(from_p2), (Positions{p2, p3})) << "a forward `from` is inclusive";
    EXPECT_EQ(from_p2.max_sequence_number, p3);

    QueryResult everything_newest = store().query(Filter(), ReadOptions{0, true, 1});
    EXPECT_EQ(positions(everything_newest), Positions{last});

    QueryResult none =
        store().query(build_event_filter().matching().all_tags_of("course:none").finalize(), ReadOptions{0, true, 1});
    EXPECT_TRUE(none.events.empty());
    EXPECT_EQ(none.max_sequence_number, 0U);

    QueryResult nothing_below = store().query(on_tag, ReadOptions{p1 - 1, true, 1});
    EXPECT_TRUE(nothing_below.events.empty());
    EXPECT_EQ(nothing_below.max_sequence_number, 0U);
}

// The condition the consistency check uses, one append at a time: `after` read as the suite reads it
// lets the append through; a matching event above it makes the append fail and write nothing.
TEST_F(DcbSuite, AnAppendConditionedOnTheNewestMatchingPositionHoldsUntilAMatchingEventArrives) {
    const Filter course = build_event_filter().matching().all_tags_of("course:c1").finalize();
    const SequenceNumber after = newest_matching(store(), course);
    EXPECT_EQ(after, 0U);
    const AppendResult first = store().append(course, after, make_event("Alpha", {"course:c1"}, {{"n", 1}}));
    EXPECT_FALSE(first.already_stored);

    // A non-matching event does not move the boundary.
    store().append(Filter(), first.last_sequence_number, make_event("Alpha", {"course:c2"}, {{"n", 2}}));
    EXPECT_EQ(newest_matching(store(), course), first.last_sequence_number);

    // A stale `after` (an event matching the query arrived above it) conflicts.
    EXPECT_THROW(store().append(course, after, make_event("Beta", {"course:c1"}, {{"n", 3}})),
                 eventstore::ConcurrencyConflict);
    EXPECT_EQ(count_rows(), 2);
}

// Where this store's condition differs from the specification's (docs/dcb.md): the check is that the
// greatest matching position is exactly `after`, so an `after` above it (say, the global head) fails
// although no matching event follows it. The specification would let the append through.
TEST_F(DcbSuite, AnAfterAboveTheNewestMatchingPositionConflicts) {
    const Filter course = build_event_filter().matching().all_tags_of("course:c1").finalize();
    const SequenceNumber matching =
        store().append(course, 0, make_event("Alpha", {"course:c1"}, {{"n", 1}})).last_sequence_number;
    const SequenceNumber head =
        store().append(Filter(), matching, make_event("Alpha", {"course:c2"}, {{"n", 2}})).last_sequence_number;
    ASSERT_GT(head, matching);
    EXPECT_THROW(store().append(course, head, make_event("Beta", {"course:c1"}, {{"n", 3}})),
                 eventstore::ConcurrencyConflict);
    // The workaround: the query's own newest position.
    EXPECT_NO_THROW(
        store().append(course, newest_matching(store(), course), make_event("Beta", {"course:c1"}, {{"n", 4}})));
}

// --- 1. consistency --------------------------------------------------------------------------------

struct AppendAttempt {
    Query query;
    SequenceNumber after = 0;
    std::string id; // in every event's payload: what finds the append's events in the log
    std::size_t event_count = 0;
    bool succeeded = false;
    SequenceNumber last_sequence_number = 0; // from AppendResult, when it succeeded
    SequenceNumber head_after_conflict = 0;  // the log's newest position read right after a conflict
};

TEST_F(DcbSuite, ConsistencyEveryAppendConditionHeld) {
    constexpr int writers = 20;
    const auto duration = run_time();
    std::mutex mutex;
    std::vector<AppendAttempt> attempts;
    std::atomic<int> errors{0};
    const auto started = Clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            std::mt19937 rng(static_cast<unsigned>(7 + w));
            std::vector<AppendAttempt> mine;
            for (int c = 0; c == 0 || Clock::now() - started < duration; ++c) {
                AppendAttempt a;
                a.query = random_query(rng);
                a.id = "w" + std::to_string(w) + "c" + std::to_string(c);
                a.event_count = uniform(rng, 1, 2);
                try {
                    a.after = newest_matching(store(), a.query.filter);
                    StorableEvents events;
                    for (std::size_t i = 0; i < a.event_count; ++i) {
                        events.push_back(make_event(event_types[rng() % event_types.size()],
                                                    sample(rng, tag_words, uniform(rng, 0, 3)),
                                                    {{"append", a.id}, {"i", i}}));
                    }
                    try {
                        a.last_sequence_number = store().append(a.query.filter, a.after, events).last_sequence_number;
                        a.succeeded = true;
                    } catch (const eventstore::ConcurrencyConflict&) {
                        a.head_after_conflict = store().query(Filter(), ReadOptions{0, true, 1}).max_sequence_number;
                    }
                    mine.push_back(std::move(a));
                } catch (const std::exception& e) {
                    ADD_FAILURE() << "append " << a.id << ": " << e.what();
                    ++errors;
                }
            }
            std::lock_guard lock(mutex);
            std::move(mine.begin(), mine.end(), std::back_inserter(attempts));
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    const double running = seconds_since(started);
    ASSERT_EQ(errors.load(), 0);

    const auto checking = Clock::now();
    const StorableEvents log = whole_log(store());
    std::map<std::string, std::vector<std::size_t>> by_append; // append id -> indexes into the log
    for (std::size_t i = 0; i < log.size(); ++i) {
        by_append[payload_string(log[i], "append")].push_back(i);
    }
    auto index_above = [&](SequenceNumber position) {
        return static_cast<std::size_t>(
            std::upper_bound(log.begin(), log.end(), position,
                             [](SequenceNumber p, const StorableEvent& e) { return p < e.sequence_number; }) -
            log.begin());
    };
    int violations = 0;
    auto violation = [&](const std::string& what) {
        if (++violations <= 20) {
            ADD_FAILURE() << what;
        }
    };
    int successes = 0;
    int conflicts = 0;
    int empty_queries = 0;
    std::size_t appended_events = 0;
    for (const AppendAttempt& a : attempts) {
        empty_queries += a.query.items.empty() ? 1 : 0;
        const auto found = by_append.find(a.id);
        if (!a.succeeded) {
            ++conflicts;
            if (found != by_append.end()) {
                violation("conflicting append " + a.id + " left " + std::to_string(found->second.size()) + " events");
            }
            // The conflict was real: an event matching the query, above `after`, was there when the
            // attempt ended (so at or below the head read right after it).
            bool cause = false;
            for (std::size_t i = index_above(a.after); i < log.size() && !cause; ++i) {
                cause = log[i].sequence_number <= a.head_after_conflict && query_matches(a.query, log[i]);
            }
            if (!cause) {
                violation("append " + a.id + " conflicted on `after` " + std::to_string(a.after) +
                          " but no matching event sits in (" + std::to_string(a.after) + ", " +
                          std::to_string(a.head_after_conflict) + "]; " + describe(a.query));
            }
            continue;
        }
        ++successes;
        const std::size_t count = found == by_append.end() ? 0 : found->second.size();
        if (count != a.event_count) {
            violation("successful append " + a.id + " left " + std::to_string(count) + " of its " +
                      std::to_string(a.event_count) + " events");
            continue;
        }
        appended_events += count;
        const std::vector<std::size_t>& own = found->second;
        if (log[own.back()].sequence_number != a.last_sequence_number) {
            violation("append " + a.id + " reported last position " + std::to_string(a.last_sequence_number) +
                      ", its last event is at " + std::to_string(log[own.back()].sequence_number));
        }
        // Its condition held: the newest event matching its query below its first event is `after`.
        SequenceNumber newest_before = 0;
        for (std::size_t i = own.front(); i-- > 0;) {
            if (query_matches(a.query, log[i])) {
                newest_before = log[i].sequence_number;
                break;
            }
        }
        if (newest_before != a.after) {
            violation("append " + a.id + " succeeded on `after` " + std::to_string(a.after) +
                      " but the newest matching event before it is " + std::to_string(newest_before) + "; " +
                      describe(a.query));
        }
        // And no other append's matching event came between its own.
        for (std::size_t i = own.front(); i <= own.back(); ++i) {
            if (std::find(own.begin(), own.end(), i) == own.end() && query_matches(a.query, log[i])) {
                violation("event " + std::to_string(log[i].sequence_number) + " of another append sits inside " + a.id);
            }
        }
    }
    if (appended_events != log.size()) {
        violation("the log holds " + std::to_string(log.size()) + " events, the successful appends " +
                  std::to_string(appended_events));
    }
    std::cout << "consistency: " << attempts.size() << " appends by " << writers << " writers in " << running
              << " s: " << successes << " successful, " << conflicts << " conflicts, " << empty_queries
              << " on the empty query; " << log.size() << " events; " << violations << " violations; "
              << seconds_since(checking) << " s checking\n";
    EXPECT_EQ(violations, 0) << "(the first 20 are reported above)";
    // Both outcomes, or the run proved nothing.
    EXPECT_GT(successes, 0);
    EXPECT_GT(conflicts, 0);
    EXPECT_GT(empty_queries, 0);
}

// --- 2. monotonic reads ------------------------------------------------------------------------------

TEST_F(DcbSuite, MonotonicAReaderFollowingTheLogNeverSeesAPositionGoBack) {
    constexpr int writers = 5;
    const auto duration = run_time();
    std::atomic<bool> writing{true};
    std::atomic<int> errors{0};
    std::vector<std::size_t> appended(writers, 0); // events per writer; each written by its own thread
    const auto started = Clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            // Each writer's own tag is its condition, so that the writers commit in parallel and their
            // positions may be handed out in one order and committed in another.
            const std::string tag = "writer:" + std::to_string(w);
            const Filter mine = build_event_filter().matching().all_tags_of(tag).finalize();
            std::mt19937 rng(static_cast<unsigned>(100 + w));
            SequenceNumber last = 0;
            std::size_t n = 0;
            for (int c = 0; c == 0 || Clock::now() - started < duration; ++c) {
                StorableEvents events;
                const std::size_t count = uniform(rng, 1, 2);
                for (std::size_t i = 0; i < count; ++i) {
                    events.push_back(make_event(event_types[rng() % event_types.size()], {tag, "monotonic"},
                                                {{"writer", w}, {"n", n + i}}));
                }
                try {
                    last = store().append(mine, last, events).last_sequence_number;
                    n += count;
                } catch (const std::exception& e) {
                    ADD_FAILURE() << "writer " << w << ": " << e.what();
                    ++errors;
                    return;
                }
            }
            appended[static_cast<std::size_t>(w)] = n;
        });
    }

    std::set<SequenceNumber> seen;
    SequenceNumber last_seen = 0;
    int reads = 0;
    int going_back = 0;
    auto follow = [&] {
        const QueryResult r = store().query(Filter(), ReadOptions{last_seen + 1, false, 0});
        ++reads;
        for (const StorableEvent& e : r.events) {
            if (e.sequence_number <= last_seen) {
                if (++going_back <= 10) {
                    ADD_FAILURE() << "position " << e.sequence_number << " read after " << last_seen;
                }
            }
            last_seen = std::max(last_seen, e.sequence_number);
            seen.insert(e.sequence_number);
        }
        if (!r.events.empty() && r.max_sequence_number != r.events.back().sequence_number) {
            ADD_FAILURE() << "a forward read's maximum " << r.max_sequence_number << " is not its last event "
                          << r.events.back().sequence_number;
        }
    };
    // A whole-log read: a position at or below the last one seen that the reader has not seen is a
    // lower position that became visible after higher ones.
    int late = 0;
    auto recheck = [&] {
        for (const StorableEvent& e : store().query(Filter()).events) {
            if (e.sequence_number <= last_seen && seen.count(e.sequence_number) == 0) {
                if (++late <= 10) {
                    ADD_FAILURE() << "position " << e.sequence_number << " became visible after " << last_seen
                                  << " had been read";
                }
                seen.insert(e.sequence_number); // reported once
            }
        }
    };
    std::thread reader([&] {
        try {
            while (writing.load()) {
                follow();
                if (reads % 16 == 0) {
                    recheck();
                }
            }
        } catch (const std::exception& e) {
            ADD_FAILURE() << "reader: " << e.what();
            ++errors;
        }
    });
    for (auto& t : threads) {
        t.join();
    }
    writing = false;
    reader.join();
    const double running = seconds_since(started);
    ASSERT_EQ(errors.load(), 0);
    const SequenceNumber reader_last = last_seen;
    follow();

    const StorableEvents log = whole_log(store());
    std::size_t expected_events = 0;
    std::vector<std::vector<long long>> per_writer(writers);
    for (const StorableEvent& e : log) {
        const auto data = nlohmann::json::parse(e.payload_json);
        per_writer.at(data.at("writer").get<std::size_t>()).push_back(data.at("n").get<long long>());
    }
    for (int w = 0; w < writers; ++w) {
        const auto& ns = per_writer[static_cast<std::size_t>(w)];
        expected_events += appended[static_cast<std::size_t>(w)];
        EXPECT_EQ(ns.size(), appended[static_cast<std::size_t>(w)]) << "writer " << w;
        for (std::size_t i = 0; i < ns.size(); ++i) {
            if (ns[i] != static_cast<long long>(i)) {
                ADD_FAILURE() << "writer " << w << "'s event " << ns[i] << " is its " << i << "th in the log";
                break;
            }
        }
    }
    EXPECT_EQ(log.size(), expected_events);
    std::size_t missed = 0;
    for (const StorableEvent& e : log) {
        if (e.sequence_number <= reader_last && seen.count(e.sequence_number) == 0) {
            ++missed;
        }
    }
    EXPECT_EQ(missed, 0U) << "events at or below the reader's last position " << reader_last
                          << " that its `from` reads never returned";
    EXPECT_EQ(seen.size(), log.size()) << "the reader's final read caught up with the log";
    std::cout << "monotonic: " << log.size() << " events by " << writers << " writers in " << running << " s; " << reads
              << " reads followed the log to position " << reader_last << "; " << going_back
              << " positions going back, " << late << " late, " << missed << " missed\n";
    EXPECT_EQ(going_back, 0);
    EXPECT_EQ(late, 0);
    EXPECT_GT(reads, 1);
}

// --- 3. parallel writes ------------------------------------------------------------------------------

TEST_F(DcbSuite, ParallelWritesOnUnrelatedTagsNeverConflict) {
    constexpr int writers = 20;
    const auto duration = run_time();
    std::atomic<int> conflicts{0};
    std::atomic<int> errors{0};
    std::vector<std::size_t> appends(writers, 0);
    const auto started = Clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            const std::string tag = "user:" + std::to_string(w);
            const Filter mine = build_event_filter().matching().all_tags_of(tag).finalize();
            std::mt19937 rng(static_cast<unsigned>(200 + w));
            std::size_t done = 0;
            for (int c = 0; c == 0 || Clock::now() - started < duration; ++c) {
                try {
                    // The suite's way: read the newest position of the boundary, then append after it.
                    // Every event also carries a tag all writers share, so their writes touch common
                    // index entries and only the conditions are disjoint.
                    const SequenceNumber after = newest_matching(store(), mine);
                    store().append(mine, after,
                                   make_event(event_types[rng() % event_types.size()], {tag, "parallel"},
                                              {{"user", w}, {"n", c}}));
                    ++done;
                } catch (const eventstore::ConcurrencyConflict& e) {
                    if (++conflicts <= 10) {
                        ADD_FAILURE() << "writer " << w << ": " << e.what();
                    }
                } catch (const std::exception& e) {
                    if (++errors <= 10) {
                        ADD_FAILURE() << "writer " << w << ": " << e.what();
                    }
                }
            }
            appends[static_cast<std::size_t>(w)] = done;
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    const double running = seconds_since(started);
    std::size_t total = 0;
    for (int w = 0; w < writers; ++w) {
        const std::string tag = "user:" + std::to_string(w);
        const auto events = store().query(build_event_filter().matching().all_tags_of(tag).finalize()).events;
        EXPECT_EQ(events.size(), appends[static_cast<std::size_t>(w)]) << tag;
        total += appends[static_cast<std::size_t>(w)];
    }
    EXPECT_EQ(whole_log(store()).size(), total);
    std::cout << "parallel writes: " << total << " appends by " << writers << " writers in " << running << " s ("
              << static_cast<double>(total) / running << " per second); " << conflicts.load() << " conflicts, "
              << errors.load() << " errors\n";
    EXPECT_EQ(conflicts.load(), 0);
    EXPECT_EQ(errors.load(), 0);
}

} // namespace
