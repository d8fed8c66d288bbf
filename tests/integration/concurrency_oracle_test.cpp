// The concurrency oracle: many threads run read-decide-append cycles on overlapping random
// boundaries; afterwards the final log is checked against what every call saw and expected.
//
// For every successful append: the greatest sequence number among the events before it that match
// its filter equals the maximum it decided on, and no other append's matching event sits between
// its own events. Every conflicting append left nothing. For every query: the events of the final
// log that match its filter, up to the maximum it returned, are exactly the events it returned (no
// event became visible later below a maximum already reported).

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixture.hpp"

namespace {

using eventstore::build_event_filter;
using eventstore::Filter;
using eventstore::FilterPredicate;
using eventstore::P;
using eventstore::SequenceNumber;
using eventstore::StorableEvent;

// The filter semantics, evaluated in C++ on a decoded event, independently of the SQL and of the
// library's own JSON reader.
bool matches(const Filter& f, const StorableEvent& e) {
    const auto payload = nlohmann::json::parse(e.payload_json, nullptr, /*allow_exceptions=*/false);
    if (!payload.is_object()) {
        return false;
    }
    auto has = [&](const FilterPredicate& p) {
        // jsonb keeps the last of duplicate keys; the payloads here have none.
        const auto member = payload.find(p.key());
        return member != payload.end() && member->is_string() && member->get<std::string>() == p.val();
    };
    if (f.sequence_number_higher_than() > 0 && e.sequence_number <= f.sequence_number_higher_than()) {
        return false;
    }
    bool constrained = false;
    for (const auto& item : f.items()) {
        if (item.empty()) {
            continue;
        }
        constrained = true;
        const auto& types = item.event_types();
        const bool type_ok = types.empty() || std::find(types.begin(), types.end(), e.event_type) != types.end();
        bool preds_ok = true;
        if (!item.predicates().empty()) {
            preds_ok = item.all_predicates_must_match()
                           ? std::all_of(item.predicates().begin(), item.predicates().end(), has)
                           : std::any_of(item.predicates().begin(), item.predicates().end(), has);
        }
        if (type_ok && preds_ok) {
            return true;
        }
    }
    return !constrained;
}

const std::vector<std::string> types{"Opened", "Moved", "Closed"};
const std::vector<std::string> keys{"k1", "k2"};
const std::vector<std::string> values{"v1", "v2", "v3"};

Filter random_filter(std::mt19937& rng) {
    auto pick = [&](const std::vector<std::string>& from) {
        return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
    };
    auto pred = [&] { return P(pick(keys), pick(values)); };
    switch (std::uniform_int_distribution<int>(0, 4)(rng)) {
    case 0:
        return build_event_filter().matching().any_event_type_of(pick(types), pick(types)).finalize();
    case 1:
        return build_event_filter().matching().any_predicate_of(pred(), pred()).finalize();
    case 2:
        return build_event_filter()
            .matching()
            .all_predicates_of(P("k1", pick(values)), P("k2", pick(values)))
            .finalize();
    case 3:
        return build_event_filter().matching().any_event_type_of(pick(types)).and_any_predicate_of(pred()).finalize();
    default:
        return build_event_filter()
            .matching()
            .any_event_type_of(pick(types))
            .and_all_predicates_of(pred())
            .or_matching()
            .any_predicate_of(pred())
            .finalize();
    }
}

struct AppendRecord {
    Filter filter;
    SequenceNumber expected = 0;
    std::string id;
    std::size_t event_count = 0;
    bool succeeded = false;
};

struct QueryRecord {
    Filter filter;
    SequenceNumber max = 0;
    std::vector<SequenceNumber> seen;
};

class ConcurrencyOracle : public eventstore::test::StoreTest {
protected:
    [[nodiscard]] eventstore::postgres::PoolOptions pool_options() const override { return {.max_connections = 16}; }
};

constexpr int thread_count = 10;
constexpr int cycles_per_thread = 60;

TEST_F(ConcurrencyOracle, OverlappingBoundariesNeverLoseAConflictOrSkipAnEvent) {
    std::mutex mutex;
    std::vector<AppendRecord> appends;
    std::vector<QueryRecord> queries;
    std::atomic<int> conflicts{0};
    std::atomic<int> failures{0};

    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(1000 + t));
            for (int c = 0; c < cycles_per_thread; ++c) {
                Filter filter = random_filter(rng);
                try {
                    auto [events, max] = store().query(filter);
                    QueryRecord q{filter, max, {}};
                    for (const auto& e : events) {
                        q.seen.push_back(e.sequence_number);
                    }
                    // Decide: 1 or 2 events whose payloads draw from the same small vocabulary as the
                    // filters, so that other threads' boundaries overlap with them.
                    AppendRecord a{filter, max, "t" + std::to_string(t) + "c" + std::to_string(c),
                                   std::uniform_int_distribution<std::size_t>(1, 2)(rng), false};
                    std::vector<StorableEvent> batch;
                    for (std::size_t i = 0; i < a.event_count; ++i) {
                        const std::string payload = nlohmann::ordered_json{{"id", a.id},
                                                                           {"k1", values[rng() % values.size()]},
                                                                           {"k2", values[rng() % values.size()]}}
                                                        .dump();
                        batch.push_back(eventstore::build_storable_event_with_empty_metadata(
                            types[rng() % types.size()], std::chrono::system_clock::now(), payload));
                    }
                    try {
                        store().append(filter, max, batch);
                        a.succeeded = true;
                    } catch (const eventstore::ConcurrencyConflict&) {
                        ++conflicts;
                    }
                    std::lock_guard lock(mutex);
                    queries.push_back(std::move(q));
                    appends.push_back(std::move(a));
                } catch (const std::exception& e) {
                    ADD_FAILURE() << "unexpected error: " << e.what();
                    ++failures;
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    ASSERT_EQ(failures.load(), 0);

    const auto log = store().query(build_event_filter().matching_any_event()).events;
    std::map<std::string, std::vector<const StorableEvent*>> by_id;
    for (const auto& e : log) {
        const auto payload = nlohmann::json::parse(e.payload_json, nullptr, /*allow_exceptions=*/false);
        ASSERT_TRUE(payload.is_object()) << e.payload_json;
        if (const auto id = payload.find("id"); id != payload.end() && id->is_string()) {
            by_id[id->get<std::string>()].push_back(&e);
        }
    }

    int successes = 0;
    for (const auto& a : appends) {
        const auto it = by_id.find(a.id);
        if (!a.succeeded) {
            EXPECT_TRUE(it == by_id.end()) << "conflicting append " << a.id << " left events behind";
            continue;
        }
        ++successes;
        ASSERT_TRUE(it != by_id.end()) << "successful append " << a.id << " left no events";
        ASSERT_EQ(it->second.size(), a.event_count) << a.id;
        const SequenceNumber first = it->second.front()->sequence_number;
        const SequenceNumber last = it->second.back()->sequence_number;
        SequenceNumber greatest_before = 0;
        for (const auto& e : log) {
            if (!matches(a.filter, e)) {
                continue;
            }
            if (e.sequence_number < first) {
                greatest_before = std::max(greatest_before, e.sequence_number);
            } else if (e.sequence_number < last) {
                const bool own = std::any_of(it->second.begin(), it->second.end(),
                                             [&](const StorableEvent* mine) { return mine == &e; });
                EXPECT_TRUE(own) << "event " << e.sequence_number << " of another append sits inside " << a.id;
            }
        }
        EXPECT_EQ(greatest_before, a.expected)
            << "append " << a.id << " succeeded on a stale maximum (filter " << a.filter.serialize() << ")";
    }

    for (const auto& q : queries) {
        std::vector<SequenceNumber> expected;
        for (const auto& e : log) {
            if (e.sequence_number <= q.max && matches(q.filter, e)) {
                expected.push_back(e.sequence_number);
            }
        }
        EXPECT_EQ(q.seen, expected) << "a query reporting maximum " << q.max << " for " << q.filter.serialize()
                                    << " missed or invented events";
    }

    // The run must have exercised both outcomes, or it proved nothing.
    EXPECT_GT(successes, thread_count * cycles_per_thread / 10);
    EXPECT_GT(conflicts.load(), 0);
    std::cout << "oracle: " << successes << " successful appends, " << conflicts.load() << " conflicts, "
              << queries.size() << " queries checked, " << log.size() << " events\n";
}

TEST_F(ConcurrencyOracle, DisjointBoundariesNeverConflict) {
    std::atomic<int> conflicts{0};
    std::atomic<int> appended{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            const std::string mine = "book-" + std::to_string(t);
            // The same event types and a shared payload member for every thread: only the boundary's own
            // key differs, so any needless serialisation or false conflict would show.
            const Filter filter = build_event_filter()
                                      .matching()
                                      .any_event_type_of("BookCopyLentToReader", "BookCopyReturnedByReader")
                                      .and_any_predicate_of(P("BookID", mine))
                                      .finalize();
            for (int c = 0; c < 40; ++c) {
                try {
                    auto [events, max] = store().query(filter);
                    const char* type = (events.size() % 2 == 0) ? "BookCopyLentToReader" : "BookCopyReturnedByReader";
                    store().append(filter, max,
                                   eventstore::build_storable_event_with_empty_metadata(
                                       type, std::chrono::system_clock::now(),
                                       nlohmann::ordered_json{{"BookID", mine}, {"EventType", type}}.dump()));
                    ++appended;
                } catch (const eventstore::ConcurrencyConflict&) {
                    ++conflicts;
                } catch (const std::exception& e) {
                    ADD_FAILURE() << e.what();
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(conflicts.load(), 0);
    EXPECT_EQ(appended.load(), 8 * 40);
    EXPECT_EQ(store().query(build_event_filter().matching_any_event()).events.size(), 8U * 40U);
}

} // namespace
