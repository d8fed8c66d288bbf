#ifndef EVENTSTORE_TESTS_INTEGRATION_ORACLE_HPP
#define EVENTSTORE_TESTS_INTEGRATION_ORACLE_HPP

// The concurrency oracle's parts (concurrency_oracle_test.cpp explains the checks): random boundaries
// over a small vocabulary, rounds of read-decide-append cycles on threads that record what every call
// saw and expected, and the check of those records against the final log. Other tests run it on
// stores of their own (inside the application's transactions: soci_adapter_test.cpp).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <eventstore/eventstore.hpp>

namespace eventstore::test::oracle {

// An event of the log as the oracle reads it: its type and its payload's string members, decoded once
// with nlohmann-json, independently of the library's own JSON reader.
struct DecodedEvent {
    const StorableEvent* event = nullptr;
    std::map<std::string, std::string> strings; // jsonb keeps the last of duplicate keys; there are none
};

inline DecodedEvent decode(const StorableEvent& e) {
    DecodedEvent d{&e, {}};
    const auto payload = nlohmann::json::parse(e.payload_json, nullptr, /*allow_exceptions=*/false);
    if (payload.is_object()) {
        for (const auto& [key, value] : payload.items()) {
            if (value.is_string()) {
                d.strings.emplace(key, value.get<std::string>());
            }
        }
    }
    return d;
}

// The filter semantics, evaluated in C++ on a decoded event, independently of the SQL.
inline bool matches(const Filter& f, const DecodedEvent& d) {
    const StorableEvent& e = *d.event;
    auto has = [&](const FilterPredicate& p) {
        const auto member = d.strings.find(p.key());
        return member != d.strings.end() && member->second == p.val();
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
        const bool tags_ok = std::all_of(item.tags().begin(), item.tags().end(), [&](const std::string& tag) {
            return std::find(e.tags.begin(), e.tags.end(), tag) != e.tags.end();
        });
        if (type_ok && preds_ok && tags_ok) {
            return true;
        }
    }
    return !constrained;
}

// The small vocabulary of one round: its filters and events draw on it, so boundaries overlap. Round 0
// (the whole run at the default size) uses the plain words; a soak's later rounds suffix them, so that no
// filter of one round matches an event of another: each round is an oracle run of its own on one
// growing table, and a query's result stays the size of one round's log.
struct Vocabulary {
    std::vector<std::string> types{"Opened", "Moved", "Closed"};
    std::vector<std::string> keys{"k1", "k2"};
    std::vector<std::string> values{"v1", "v2", "v3"};
    std::vector<std::string> tags{"course:c1", "course:c2", "student:s1"};

    int round = 0;

    explicit Vocabulary(int round_number) : round(round_number) {
        if (round > 0) {
            for (auto* words : {&types, &values, &tags}) {
                for (auto& w : *words) {
                    w += "_r" + std::to_string(round);
                }
            }
        }
    }
};

inline Filter random_filter(std::mt19937& rng, const Vocabulary& vocabulary) {
    auto pick = [&](const std::vector<std::string>& from) {
        return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
    };
    const auto& types = vocabulary.types;
    const auto& values = vocabulary.values;
    auto pred = [&] { return P(pick(vocabulary.keys), pick(values)); };
    switch (std::uniform_int_distribution<int>(0, 8)(rng)) {
    case 6:
        return build_event_filter().matching().all_tags_of(pick(vocabulary.tags)).finalize();
    case 7:
        return build_event_filter()
            .matching()
            .any_event_type_of(pick(types))
            .and_all_tags_of(pick(vocabulary.tags), pick(vocabulary.tags))
            .or_matching()
            .any_predicate_of(pred())
            .and_all_tags_of(pick(vocabulary.tags))
            .finalize();
    case 8:
        // The empty query of the DCB specification: every event. A soak's later rounds share the table
        // with the earlier ones, whose events their checks leave out: there, every event of the round.
        if (vocabulary.round == 0) {
            return Filter();
        }
        return build_event_filter().matching().any_event_type_of(std::span<const std::string>(types)).finalize();
    case 0:
        return build_event_filter().matching().any_event_type_of(pick(types), pick(types)).finalize();
    case 5: {
        // More keys than the advisory-lock budget: the read locks the global key's stripes, and so
        // does an append on it (src/postgres/lock_keys.hpp).
        std::vector<std::string> wide{pick(types)};
        for (int i = 0; i < 40; ++i) {
            wide.push_back("Unused" + std::to_string(i));
        }
        return build_event_filter().matching().any_event_type_of(std::span<const std::string>(wide)).finalize();
    }
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
    bool newest_only = false; // a backwards read of limit 1: it saw the newest matching event only
};

// What one round recorded.
struct Round {
    std::vector<AppendRecord> appends;
    std::vector<QueryRecord> queries;
};

// The size of the run. By default (CI) one round of 10 threads x 60 cycles. A soak run sets
// EVENTSTORE_SOAK_APPENDS (at least that many appends, in as many rounds as it takes) and optionally
// EVENTSTORE_SOAK_THREADS.
inline int env_int(const char* name, int fallback) {
    const char* value = std::getenv(name); // NOLINT(concurrency-mt-unsafe): read before any thread starts
    return value != nullptr && *value != '\0' ? std::max(1, std::atoi(value)) : fallback;
}
inline const int thread_count = env_int("EVENTSTORE_SOAK_THREADS", 10);
inline constexpr int cycles_per_thread = 60;
inline const int round_count =
    (env_int("EVENTSTORE_SOAK_APPENDS", 1) + thread_count * cycles_per_thread - 1) / (thread_count * cycles_per_thread);

// Runs one round: every thread does read-decide-append cycles on the round's vocabulary.
// What one thread's cycles run on, and what wraps each cycle: by default the same store for every
// thread, each call its own transaction.
class Worker {
public:
    Worker() = default;
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    virtual ~Worker() = default;
    // The store of the cycle begun last.
    virtual eventstore::EventStore& store() = 0;
    // Before the cycle's query.
    virtual void begin() {}
    // After the cycle's append (`appended`: it did not conflict): whether its events are to stay (a
    // worker may roll the cycle back). An exception ends the cycle's transaction unfinished.
    virtual bool end(const std::string& /*id*/, bool appended) { return appended; }
};

class SharedStore final : public Worker {
public:
    explicit SharedStore(eventstore::EventStore& store) : m_store(store) {}
    eventstore::EventStore& store() override { return m_store; }

private:
    eventstore::EventStore& m_store;
};

using WorkerFactory = std::function<std::unique_ptr<Worker>(int thread)>;

Round run_round(eventstore::EventStore& store, int round, std::atomic<int>& conflicts, std::atomic<int>& failures);

// The same with a worker of its own per thread.
inline Round run_round(const WorkerFactory& make_worker, int round, std::atomic<int>& conflicts,
                       std::atomic<int>& failures) {
    const Vocabulary vocabulary(round);
    const auto& values = vocabulary.values;
    const auto& types = vocabulary.types;
    std::mutex mutex;
    Round result;
    std::vector<std::thread> threads;
    for (int t = 0; t < thread_count; ++t) {
        threads.emplace_back([&, t] {
            const std::unique_ptr<Worker> worker = make_worker(t);
            std::mt19937 rng(static_cast<unsigned>(1000 + t + 7919 * round));
            for (int c = 0; c < cycles_per_thread; ++c) {
                Filter filter = random_filter(rng, vocabulary);
                try {
                    worker->begin();
                    eventstore::EventStore& store = worker->store();
                    // One read in four is the DCB suite's: only the newest matching event (backwards,
                    // limit 1), whose position is the boundary's maximum.
                    const bool newest_only = rng() % 4 == 0;
                    auto [events, max] = store.query(eventstore::Context(), filter,
                                                     eventstore::ReadOptions{0, newest_only, newest_only ? 1U : 0U});
                    QueryRecord q{filter, max, {}, newest_only};
                    for (const auto& e : events) {
                        q.seen.push_back(e.sequence_number);
                    }
                    // Decide: 1 or 2 events whose payloads draw from the same small vocabulary as the
                    // filters, so that other threads' boundaries overlap with them.
                    AppendRecord a{filter, max,
                                   "r" + std::to_string(round) + "t" + std::to_string(t) + "c" + std::to_string(c),
                                   std::uniform_int_distribution<std::size_t>(1, 2)(rng), false};
                    std::vector<StorableEvent> batch;
                    // One append in eight writes events with more string members than the lock
                    // budget, so that it takes the global key's stripes exclusively.
                    const bool wide = rng() % 8 == 0;
                    for (std::size_t i = 0; i < a.event_count; ++i) {
                        nlohmann::ordered_json document{
                            {"id", a.id}, {"k1", values[rng() % values.size()]}, {"k2", values[rng() % values.size()]}};
                        for (int m = 0; wide && m < 300; ++m) {
                            document["x" + std::to_string(m)] = "y";
                        }
                        const std::string payload = document.dump();
                        batch.push_back(eventstore::build_storable_event_with_empty_metadata(
                            types[rng() % types.size()], std::chrono::system_clock::now(), payload));
                        // 0 to 2 tags of the round's vocabulary (a repeat is dropped by the store).
                        for (std::size_t n = rng() % 3; n > 0; --n) {
                            batch.back().tags.push_back(vocabulary.tags[rng() % vocabulary.tags.size()]);
                        }
                    }
                    bool appended = false;
                    try {
                        store.append(filter, max, batch);
                        appended = true;
                    } catch (const eventstore::ConcurrencyConflict&) {
                        ++conflicts;
                    }
                    a.succeeded = worker->end(a.id, appended);
                    std::lock_guard lock(mutex);
                    result.queries.push_back(std::move(q));
                    result.appends.push_back(std::move(a));
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
    return result;
}

inline Round run_round(eventstore::EventStore& store, int round, std::atomic<int>& conflicts,
                       std::atomic<int>& failures) {
    return run_round([&](int) { return std::make_unique<SharedStore>(store); }, round, conflicts, failures);
}

// Checks one round's records against the round's events in the log (ascending sequence numbers).
// Returns the number of violations; the first few fail the test with their details.
inline int check_round(const Round& round, const std::vector<DecodedEvent>& log, int& successes) {
    int violations = 0;
    auto violation = [&](const std::string& what) {
        if (++violations <= 20) {
            ADD_FAILURE() << what;
        }
    };
    std::map<std::string, std::vector<const DecodedEvent*>> by_id;
    for (const auto& d : log) {
        if (const auto id = d.strings.find("id"); id != d.strings.end()) {
            by_id[id->second].push_back(&d);
        }
    }
    for (const auto& a : round.appends) {
        const auto it = by_id.find(a.id);
        if (!a.succeeded) {
            if (it != by_id.end()) {
                violation("conflicting append " + a.id + " left events behind");
            }
            continue;
        }
        ++successes;
        const std::size_t found = it == by_id.end() ? 0 : it->second.size();
        if (found != a.event_count) {
            violation("successful append " + a.id + " left " + std::to_string(found) + " of its " +
                      std::to_string(a.event_count) + " events");
            continue;
        }
        const SequenceNumber first = it->second.front()->event->sequence_number;
        const SequenceNumber last = it->second.back()->event->sequence_number;
        SequenceNumber greatest_before = 0;
        for (const auto& d : log) {
            if (!matches(a.filter, d)) {
                continue;
            }
            const SequenceNumber n = d.event->sequence_number;
            if (n < first) {
                greatest_before = std::max(greatest_before, n);
            } else if (n < last) {
                const bool own = std::any_of(it->second.begin(), it->second.end(),
                                             [&](const DecodedEvent* mine) { return mine == &d; });
                if (!own) {
                    violation("event " + std::to_string(n) + " of another append sits inside " + a.id);
                }
            }
        }
        if (greatest_before != a.expected) {
            violation("append " + a.id + " succeeded on a stale maximum " + std::to_string(a.expected) +
                      " (greatest matching event before it: " + std::to_string(greatest_before) + ", filter " +
                      a.filter.serialize() + ")");
        }
    }
    for (const auto& q : round.queries) {
        std::vector<SequenceNumber> expected;
        for (const auto& d : log) {
            if (d.event->sequence_number <= q.max && matches(q.filter, d)) {
                expected.push_back(d.event->sequence_number);
            }
        }
        if (q.newest_only && !expected.empty()) {
            expected.erase(expected.begin(), expected.end() - 1);
        }
        if (q.seen != expected) {
            violation("a query reporting maximum " + std::to_string(q.max) + " for " + q.filter.serialize() + " saw " +
                      std::to_string(q.seen.size()) + " events, the log holds " + std::to_string(expected.size()));
        }
    }
    return violations;
}

// The round's events: every one has a type of the round's vocabulary, and no other round's event can
// match the round's filters, so they are all its checks need. Once the round's calls have returned,
// none of its events can appear later, so checking them is checking the final log.
inline std::vector<eventstore::StorableEvent> round_log(eventstore::EventStore& store, int round) {
    const Vocabulary vocabulary(round);
    return store
        .query(eventstore::build_event_filter()
                   .matching()
                   .any_event_type_of(vocabulary.types[0], vocabulary.types[1], vocabulary.types[2])
                   .finalize())
        .events;
}

inline std::vector<DecodedEvent> decode_all(const std::vector<eventstore::StorableEvent>& log) {
    std::vector<DecodedEvent> decoded;
    decoded.reserve(log.size());
    for (const auto& e : log) {
        decoded.push_back(decode(e));
    }
    return decoded;
}

// Checks a round run inside application transactions, each cycle writing the application's own row
// (`application_rows`, the ids found in its table) in the same transaction as the append: the round's
// events pass check_round (appends rolled back count as failed ones: none of their events may be in
// the log), and the application's rows are exactly the committed appends. Returns the violations.
inline int check_transaction_round(const Round& round, eventstore::EventStore& store,
                                   const std::set<std::string>& application_rows, int& successes) {
    const auto log = round_log(store, 0);
    int violations = check_round(round, decode_all(log), successes);
    std::set<std::string> committed;
    for (const auto& a : round.appends) {
        if (a.succeeded) {
            committed.insert(a.id);
        }
    }
    if (application_rows != committed) {
        ++violations;
        ADD_FAILURE() << "the application's rows (" << application_rows.size() << ") are not the committed appends ("
                      << committed.size() << ")";
    }
    return violations;
}

} // namespace eventstore::test::oracle

#endif
