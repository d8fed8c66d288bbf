// The store behind PgBouncer in transaction pooling mode, on fewer server sessions than it has clients:
// PoolOptions::behind_transaction_pooler. The rest of the suite runs through a pooler too (the matrix's
// pgbouncer round); these are the hazards of sharing server sessions themselves.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/connection>

#include <eventstore/postgres/pqxx.hpp>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using eventstore::build_event_filter;
using eventstore::Context;
using eventstore::Errc;
using eventstore::Filter;
using eventstore::P;
using eventstore::SequenceNumber;
using eventstore::StorableEvent;
using eventstore::postgres::ConnectionPool;
using eventstore::postgres::PoolOptions;
using eventstore::test::PgBouncer;
using eventstore::test::PgSession;

constexpr int server_sessions = 2;
constexpr int threads = 12;

class Pooler : public eventstore::test::StoreTest {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        bouncer = std::make_unique<PgBouncer>(eventstore::test::postgres().conninfo(),
                                              eventstore::test::PgBouncerOptions{.pool_size = server_sessions});
    }

    // A store on the fixture's tables, through this test's PgBouncer.
    std::unique_ptr<eventstore::postgres::EventStore> pooled_store(bool flagged, std::size_t connections = threads) {
        PoolOptions options;
        options.max_connections = connections;
        options.behind_transaction_pooler = flagged;
        return make_store(ConnectionPool::create(bouncer->through(conninfo()), options));
    }

    // Server sessions PgBouncer holds for the test database (SHOW SERVERS on its console: the third
    // column is the database).
    int server_connections() {
        const std::string database = raw().scalar("SELECT current_database()").value_or("");
        PgSession admin(bouncer->admin_conninfo());
        const auto servers = admin.exec("SHOW SERVERS");
        int n = 0;
        for (int row = 0; row < servers.rows(); ++row) {
            n += servers.value(row, 2) == database ? 1 : 0;
        }
        return n;
    }

    std::unique_ptr<PgBouncer> bouncer;
};

// Runs body(t) for t in [0, n) on a thread each, all at once, and returns what each threw ("" when it
// threw nothing).
template <typename Body>
std::vector<std::string> on_threads(int n, Body body) {
    std::vector<std::string> failures(static_cast<std::size_t>(n));
    std::vector<std::thread> workers;
    workers.reserve(failures.size());
    for (int t = 0; t < n; ++t) {
        workers.emplace_back([&failures, &body, t] {
            try {
                body(t);
            } catch (const std::exception& e) {
                failures[static_cast<std::size_t>(t)] = e.what();
            }
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    return failures;
}

void expect_none_failed(const std::vector<std::string>& failures) {
    for (std::size_t t = 0; t < failures.size(); ++t) {
        EXPECT_EQ(failures[t], "") << "thread " << t;
    }
}

StorableEvent event_of(int thread, int n) {
    return eventstore::build_storable_event_with_empty_metadata("Counted", eventstore::test::at(n),
                                                                R"({"Thread":")" + std::to_string(thread) +
                                                                    R"(","N":")" + std::to_string(n) + R"("})");
}

Filter thread_filter(int thread) {
    return build_event_filter()
        .matching()
        .any_event_type_of("Counted")
        .and_any_predicate_of(P("Thread", std::to_string(thread)))
        .finalize();
}

// Each thread counts its own events through filters of different shapes (so statements of different
// texts and parameter counts share the server sessions), and checks every answer against what it
// wrote: a statement of another client's run in its place would answer wrongly or fail.
TEST_F(Pooler, ManyThreadsOnTwoServerSessionsEachGetTheirOwnAnswers) {
    auto store = pooled_store(true);
    constexpr int rounds = 25;
    std::atomic<int> wrong{0};
    expect_none_failed(on_threads(threads, [&](int t) {
        SequenceNumber seen = 0;
        for (int n = 1; n <= rounds; ++n) {
            store->append(thread_filter(t), seen, event_of(t, n));
            const auto mine = store->query(thread_filter(t));
            const auto latest =
                store->query(build_event_filter()
                                 .matching()
                                 .any_event_type_of("Counted")
                                 .and_all_predicates_of(P("Thread", std::to_string(t)), P("N", std::to_string(n)))
                                 .occurred_from(eventstore::test::at(n))
                                 .and_occurred_until(eventstore::test::at(n + 1))
                                 .finalize());
            seen = mine.max_sequence_number;
            if (mine.events.size() != static_cast<std::size_t>(n) || latest.events.size() != 1 ||
                latest.events.front().sequence_number != mine.events.back().sequence_number) {
                ++wrong;
            }
        }
    }));
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(count_rows(), threads * rounds);
    EXPECT_LE(server_connections(), server_sessions);
}

// Without the setting, behind such a pooler, a call fails with an error that names it; it never runs
// another client's statement in place of its own.
TEST_F(Pooler, WithoutTheSettingCallsFailWithAnErrorNamingItAndNeverAnswerWrongly) {
    auto store = pooled_store(false);
    std::atomic<int> named{0};
    std::atomic<int> wrong{0};
    // Errors other than the one naming the setting are thrown on: on_threads reports them.
    expect_none_failed(on_threads(threads, [&](int t) {
        for (int n = 1; n <= 40; ++n) {
            try {
                const auto found = n % 2 == 0 ? store->query(thread_filter(t)) : store->query(Filter());
                if (!found.events.empty()) {
                    ++wrong; // nothing was written
                }
            } catch (const eventstore::Error& e) {
                if (std::string(e.what()).find("PoolOptions::behind_transaction_pooler") == std::string::npos) {
                    throw;
                }
                ++named;
            }
        }
    }));
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_GT(named.load(), 0) << "two server sessions for " << threads << " clients: some call must meet it";
}

// Calls cancelled at random moments through the pooler (it forwards the cancel request to the server
// session running the statement) leave nothing for the next client of that session: a second store's
// calls, on the same single server session, never fail.
TEST_F(Pooler, CancelledCallsLeaveNothingBehindForTheNextClient) {
    auto single = std::make_unique<PgBouncer>(eventstore::test::postgres().conninfo(),
                                              eventstore::test::PgBouncerOptions{.pool_size = 1});
    PoolOptions options;
    options.max_connections = 2;
    options.behind_transaction_pooler = true;
    auto cancelled = make_store(ConnectionPool::create(single->through(conninfo()), options));
    auto canary = make_store(ConnectionPool::create(single->through(conninfo()), options));
    std::vector<StorableEvent> events;
    std::size_t threes = 0;
    for (int n = 1; n <= 3000; ++n) {
        events.push_back(event_of(n % 7, n));
        threes += n % 7 == 3 ? 1 : 0;
    }
    cancelled->import_events(Context(), events);

    std::atomic<bool> done{false};
    std::atomic<int> canary_calls{0};
    std::string canary_failure;
    std::thread canary_thread([&] {
        try {
            while (!done) {
                if (canary->query(thread_filter(3)).events.size() != threes) {
                    canary_failure = "wrong answer";
                    return;
                }
                ++canary_calls;
            }
        } catch (const std::exception& e) {
            canary_failure = e.what();
        }
    });
    std::mt19937 random(7);
    int interrupted = 0;
    int completed = 0;
    const auto until = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < until) {
        const auto timeout = std::chrono::microseconds(std::uniform_int_distribution<int>(0, 4000)(random));
        try {
            (void)cancelled->query(Context().with_timeout(timeout), Filter());
            ++completed;
        } catch (const eventstore::Error& e) {
            ASSERT_TRUE(e.is(Errc::deadline_exceeded)) << e.what();
            ++interrupted;
        }
    }
    done = true;
    canary_thread.join();
    EXPECT_EQ(canary_failure, "");
    EXPECT_GT(canary_calls.load(), 0);
    EXPECT_GT(interrupted, 0);
    // The server session is clean: no transaction of ours left open, no statement left running.
    EXPECT_EQ(raw().scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                           "pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction', "
                           "'idle in transaction (aborted)')"),
              "0");
    EXPECT_EQ(cancelled->query(thread_filter(3)).events.size(), threes);
    std::cout << "pooler cancellation: " << interrupted << " calls interrupted, " << completed << " completed, "
              << canary_calls.load() << " canary calls\n";
}

// migrate() on a table that holds events builds the indexes a later version added, concurrently; behind
// the pooler several migrators take turns on a lock held in a transaction (not a session's), and every
// index ends up valid.
TEST_F(Pooler, MigratorsBuildLateIndexesOnATableWithEventsThroughThePooler) {
    const std::string table = eventstore::test::unique_table_name("late");
    // The table as the Go library's schema script creates it, with an event.
    raw().exec("CREATE TABLE " + table +
               " (sequence_number BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL, "
               "event_type TEXT NOT NULL, payload JSONB NOT NULL, metadata JSONB DEFAULT '{}')");
    raw().exec("INSERT INTO " + table +
               R"( (occurred_at, event_type, payload) VALUES ('1970-01-01T00:00:01Z', 'Counted', '{"Thread": "1"}'))");
    PoolOptions options;
    options.max_connections = 2;
    options.behind_transaction_pooler = true;
    constexpr int migrators = 3;
    expect_none_failed(on_threads(migrators, [&](int /*migrator*/) {
        eventstore::postgres::new_event_store_from_pool(ConnectionPool::create(bouncer->through(conninfo()), options),
                                                        eventstore::postgres::with_table_name(table))
            ->migrate();
    }));
    EXPECT_EQ(
        raw().scalar("SELECT count(*) FROM pg_index WHERE indrelid = '" + table + "'::regclass AND NOT indisvalid"),
        "0");
    // The same indexes as a table the store created itself.
    const std::string fresh = eventstore::test::unique_table_name("fresh");
    eventstore::postgres::new_event_store_from_pool(ConnectionPool::create(conninfo()),
                                                    eventstore::postgres::with_table_name(fresh))
        ->migrate();
    const auto indexes = [&](const std::string& name) {
        return raw().scalar("SELECT count(*) FROM pg_index WHERE indrelid = '" + name + "'::regclass");
    };
    EXPECT_EQ(indexes(table), indexes(fresh));
    // No lock of the migrators' outlived them on a server session.
    // (This database's only: other test processes share the cluster, and their appends hold theirs.)
    EXPECT_EQ(raw().scalar("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE "
                           "l.locktype = 'advisory' AND d.datname = current_database()"),
              "0");
}

} // namespace

namespace {

// A call whose deadline passes while it waits in PgBouncer's queue for a server session (the pooler's
// sessions all busy) ends soon after its deadline, though PgBouncer 1.18 ignores a cancel request for a
// client it has not yet given a server session.
TEST_F(Pooler, ADeadlineWhileQueuedAtThePoolerEndsTheCall) {
    auto single = std::make_unique<PgBouncer>(eventstore::test::postgres().conninfo(),
                                              eventstore::test::PgBouncerOptions{.pool_size = 1});
    PgSession hog(single->through(conninfo()));
    hog.exec("BEGIN");
    hog.exec("SELECT 1"); // the pooler's only server session, held by this transaction
    PoolOptions options;
    options.behind_transaction_pooler = true;
    auto store = make_store(ConnectionPool::create(single->through(conninfo()), options));
    const auto start = std::chrono::steady_clock::now();
    try {
        (void)store->query(Context().with_timeout(200ms), Filter());
        FAIL() << "the query should have timed out";
    } catch (const eventstore::Error& e) {
        EXPECT_TRUE(e.is(Errc::deadline_exceeded)) << e.what();
    }
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, 200ms + 800ms) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
    hog.exec("COMMIT");
    EXPECT_NO_THROW((void)store->query(Filter()));
}

} // namespace

namespace {

// The libpqxx adapter sends its statements unnamed and frames each call in a transaction of its own
// (BEGIN ... COMMIT), which the pooler keeps on one server session: it needs no setting.
TEST_F(Pooler, TheLibpqxxAdapterWorksThroughThePooler) {
    std::vector<std::unique_ptr<pqxx::connection>> connections;
    std::vector<std::unique_ptr<eventstore::postgres::EventStore>> stores;
    for (int t = 0; t < 4; ++t) {
        connections.push_back(std::make_unique<pqxx::connection>(bouncer->through(conninfo())));
        stores.push_back(eventstore::postgres::new_event_store_from_pqxx(
            *connections.back(), {eventstore::postgres::with_table_name(table()),
                                  eventstore::postgres::with_snapshot_table_name(snapshot_table())}));
    }
    expect_none_failed(on_threads(static_cast<int>(stores.size()), [&](int t) {
        auto& store = *stores[static_cast<std::size_t>(t)];
        SequenceNumber seen = 0;
        for (int n = 1; n <= 20; ++n) {
            store.append(thread_filter(t), seen, event_of(t, n));
            const auto mine = store.query(thread_filter(t));
            if (mine.events.size() != static_cast<std::size_t>(n)) {
                throw std::runtime_error("wrong answer: " + std::to_string(mine.events.size()) + " events");
            }
            seen = mine.max_sequence_number;
        }
    }));
    EXPECT_EQ(count_rows(), 80);
}

} // namespace
