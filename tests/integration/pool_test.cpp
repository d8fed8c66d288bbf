// The connection pool: lazy, bounded, self-healing, and honouring deadlines and cancellation while a
// caller waits for a connection.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/prometheus.hpp>

#include "integration/fixture.hpp"

namespace {

using eventstore::Context;
using eventstore::Errc;
using eventstore::Filter;
using eventstore::QueryResult;
using eventstore::postgres::ConnectionPool;
using eventstore::postgres::PoolOptions;
using namespace eventstore::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string book = make_uuid(0x700L);

PoolOptions max_connections(std::size_t n) {
    PoolOptions o;
    o.max_connections = n;
    return o;
}

// Holds `LOCK TABLE <table> IN ACCESS EXCLUSIVE MODE` in an open transaction on a session of its own,
// until release() or destruction.
class TableLock {
public:
    TableLock(const std::string& conninfo, const std::string& sql_table) : m_session(conninfo) {
        m_session.exec("BEGIN");
        m_session.exec("LOCK TABLE " + sql_table + " IN ACCESS EXCLUSIVE MODE");
        m_held = true;
    }
    TableLock(const TableLock&) = delete;
    TableLock& operator=(const TableLock&) = delete;
    ~TableLock() {
        try {
            release();
        } catch (...) { // NOLINT(bugprone-empty-catch): nothing to do in a destructor
        }
    }
    void release() {
        if (m_held) {
            m_held = false;
            m_session.exec("ROLLBACK");
        }
    }

private:
    PgSession m_session;
    bool m_held = false;
};

class PoolTest : public StoreTest {
protected:
    // Waits until at least `n` sessions of the test database wait for a lock (a query blocked by a TableLock).
    bool wait_for_lock_waiters(int n, std::chrono::milliseconds limit = 10s) {
        const auto until = Clock::now() + limit;
        while (Clock::now() < until) {
            const auto waiting = raw().scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                              "current_database() AND wait_event_type = 'Lock'");
            if (std::stoi(waiting.value_or("0")) >= n) {
                return true;
            }
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }

    // Terminates every other client backend of the test database and waits until they are gone.
    void kill_other_backends() {
        raw().exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                   "AND pid <> pg_backend_pid() AND backend_type = 'client backend'");
        const auto until = Clock::now() + 10s;
        while (Clock::now() < until) {
            const auto left = raw().scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'");
            if (left == std::optional<std::string>("0")) {
                return;
            }
            std::this_thread::sleep_for(10ms);
        }
        ADD_FAILURE() << "the terminated backends did not go away";
    }
};

TEST_F(PoolTest, ConnectionsAreOpenedLazily) {
    auto p = ConnectionPool::create(conninfo(), max_connections(3));
    EXPECT_EQ(p->open_connections(), 0U);
    EXPECT_EQ(p->idle_connections(), 0U);
    EXPECT_EQ(p->options().max_connections, 3U);
    auto s = make_store(p);
    EXPECT_EQ(p->open_connections(), 0U);

    (void)s->query(book_filter(book));
    EXPECT_EQ(p->open_connections(), 1U);
    EXPECT_EQ(p->idle_connections(), 1U);
    // Sequential calls reuse the one connection.
    for (int i = 0; i < 5; ++i) {
        (void)s->query(book_filter(book));
    }
    EXPECT_EQ(p->open_connections(), 1U);
}

TEST_F(PoolTest, NoConnectionIsOpenedByAPoolThatIsNeverUsed) {
    const auto before = raw().scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()");
    {
        auto p = ConnectionPool::create(conninfo());
        auto s = make_store(p);
        EXPECT_EQ(p->open_connections(), 0U);
    }
    EXPECT_EQ(raw().scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"), before);
}

TEST_F(PoolTest, IsBoundedUnderConcurrentUse) {
    auto p = ConnectionPool::create(conninfo(), max_connections(2));
    auto s = make_store(p);
    append_unconditionally(added_to_circulation(book, at(1)));

    constexpr int threads = 8;
    constexpr int per_thread = 25;
    std::atomic<bool> done{false};
    std::atomic<std::size_t> most_open{0};
    std::atomic<int> successes{0};
    std::atomic<int> failures{0};
    std::thread monitor([&] {
        while (!done.load()) {
            const std::size_t open = p->open_connections();
            std::size_t seen = most_open.load();
            while (open > seen && !most_open.compare_exchange_weak(seen, open)) {
            }
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            for (int i = 0; i < per_thread; ++i) {
                try {
                    const QueryResult r = s->query(book_filter(book));
                    if (r.max_sequence_number == 1 && r.events.size() == 1) {
                        ++successes;
                    } else {
                        ++failures;
                    }
                } catch (const std::exception&) {
                    ++failures;
                }
            }
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    done = true;
    monitor.join();

    EXPECT_EQ(successes.load(), threads * per_thread);
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GE(most_open.load(), 1U);
    EXPECT_LE(most_open.load(), 2U);
    EXPECT_LE(p->open_connections(), 2U);
    // The server agrees: no more than two sessions from this pool at any time we look now.
    EXPECT_LE(std::stoi(raw()
                            .scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'")
                            .value_or("99")),
              2 + 1); // + the fixture's own pool connection
}

TEST_F(PoolTest, BrokenConnectionIsReplaced) {
    auto p = ConnectionPool::create(conninfo(), max_connections(2));
    auto s = make_store(p);
    const Filter f = book_filter(book);
    s->append(f, 0, added_to_circulation(book, at(1)));

    for (int round = 0; round < 3; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        (void)s->query(f);
        ASSERT_GE(p->open_connections(), 1U);
        kill_other_backends();

        // The first use of the dead connection may fail, but only as a lost connection, and only once.
        const auto first = thrown_error([&] { (void)s->query(f); });
        if (first) {
            EXPECT_TRUE(first->is(Errc::querying_events_failed)) << describe(first);
            EXPECT_TRUE(first->is(Errc::database_connection_failed)) << describe(first);
        }
        QueryResult r;
        ASSERT_NO_THROW(r = s->query(f));
        EXPECT_EQ(r.max_sequence_number, 1U);
        EXPECT_LE(p->open_connections(), 2U);
        EXPECT_GE(p->open_connections(), 1U);
    }

    // The fixture's pool lost its connection too, and heals the same way.
    const auto first = thrown_error([&] { (void)store().query(f); });
    if (first) {
        EXPECT_TRUE(first->is(Errc::database_connection_failed)) << describe(first);
    }
    EXPECT_NO_THROW((void)store().query(f));
}

TEST_F(PoolTest, BrokenConnectionDuringAppendIsReportedAndNothingIsHalfWritten) {
    auto p = ConnectionPool::create(conninfo(), max_connections(1));
    auto s = make_store(p);
    const Filter f = book_filter(book);
    s->append(f, 0, added_to_circulation(book, at(1)));
    kill_other_backends();

    const auto first = thrown_error([&] { s->append(f, 1, lent_to_reader(book, make_uuid(1), at(2))); });
    if (first) {
        EXPECT_TRUE(first->is(Errc::appending_event_failed)) << describe(first);
        EXPECT_TRUE(first->is(Errc::database_connection_failed)) << describe(first);
        EXPECT_EQ(count_rows(), 1);
        EXPECT_NO_THROW(s->append(f, 1, lent_to_reader(book, make_uuid(1), at(2))));
    }
    EXPECT_EQ(count_rows(), 2);
    EXPECT_EQ(s->query(f).max_sequence_number, 2U);
    EXPECT_EQ(p->open_connections(), 1U);
}

TEST_F(PoolTest, BadConninfoFailsFastAsConnectionFailure) {
    auto p = ConnectionPool::create("host=/nonexistent port=1 connect_timeout=5");
    auto s = make_store(p);
    std::promise<std::optional<eventstore::Error>> outcome;
    auto future = outcome.get_future();
    const auto started = Clock::now();
    // On a thread of its own, so that a hang fails the test instead of blocking it.
    std::thread([s = std::shared_ptr<eventstore::postgres::EventStore>(std::move(s)), p,
                 promise = std::move(outcome)]() mutable {
        try {
            promise.set_value(thrown_error([&] { (void)s->query(book_filter(book)); }));
        } catch (...) {
            promise.set_exception(std::current_exception());
        }
    }).detach();
    ASSERT_EQ(future.wait_for(20s), std::future_status::ready) << "query on a bad conninfo hangs";
    const auto err = future.get();
    EXPECT_LT(Clock::now() - started, 10s);
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::querying_events_failed) << describe(err);
    EXPECT_TRUE(err->is(Errc::database_connection_failed)) << describe(err);
    EXPECT_EQ(p->open_connections(), 0U); // the failed attempt gave its slot back

    // Every operation reports it under its own sentinel.
    auto s2 = make_store(p);
    auto e2 = thrown_error([&] { s2->append(book_filter(book), 0, added_to_circulation(book, at(1))); });
    ASSERT_TRUE(e2.has_value());
    EXPECT_TRUE(e2->is(Errc::appending_event_failed)) << describe(e2);
    EXPECT_TRUE(e2->is(Errc::database_connection_failed)) << describe(e2);
    e2 = thrown_error([&] { (void)s2->load_snapshot("P", book_filter(book)); });
    ASSERT_TRUE(e2.has_value());
    EXPECT_TRUE(e2->is(Errc::loading_snapshot_failed)) << describe(e2);
    EXPECT_TRUE(e2->is(Errc::database_connection_failed)) << describe(e2);
}

// The only connection is busy with a query blocked by a table lock; a second caller waits for it.
class BusyPoolTest : public PoolTest {
protected:
    void SetUp() override {
        PoolTest::SetUp();
        if (HasFatalFailure()) {
            return;
        }
        m_busy_pool = ConnectionPool::create(conninfo(), max_connections(1));
        m_busy_store = make_store(m_busy_pool);
        (void)m_busy_store->query(book_filter(book)); // opens the one connection
        m_lock.emplace(conninfo(), quote_identifier(table()));
        m_blocked = std::thread([this] {
            m_blocked_error = thrown_error([this] { m_blocked_result = m_busy_store->query(book_filter(book)); });
        });
        ASSERT_TRUE(wait_for_lock_waiters(1)) << "the first query never blocked on the table lock";
        ASSERT_EQ(m_busy_pool->idle_connections(), 0U);
    }
    void TearDown() override {
        if (m_lock) {
            m_lock->release();
        }
        if (m_blocked.joinable()) {
            m_blocked.join();
        }
        PoolTest::TearDown();
    }
    // Lets the blocked query finish and checks that it succeeded.
    void release_and_check_blocked_query() {
        m_lock->release();
        m_blocked.join();
        EXPECT_FALSE(m_blocked_error.has_value()) << describe(m_blocked_error);
        EXPECT_TRUE(m_blocked_result.events.empty());
        // The connection is back and usable.
        EXPECT_NO_THROW((void)m_busy_store->query(book_filter(book)));
        EXPECT_EQ(m_busy_pool->open_connections(), 1U);
    }

    std::shared_ptr<ConnectionPool> m_busy_pool;
    std::unique_ptr<eventstore::postgres::EventStore> m_busy_store;
    std::optional<TableLock> m_lock;
    std::thread m_blocked;
    std::optional<eventstore::Error> m_blocked_error;
    QueryResult m_blocked_result;
};

TEST_F(BusyPoolTest, WaitingForAConnectionHonoursTheContextDeadline) {
    const auto started = Clock::now();
    const Context ctx = Context().with_timeout(100ms);
    const auto err = thrown_error([&] { (void)m_busy_store->query(ctx, book_filter(book)); });
    const auto elapsed = Clock::now() - started;
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::deadline_exceeded)) << describe(err);
    EXPECT_TRUE(err->is(Errc::querying_events_failed)) << describe(err);
    EXPECT_GE(elapsed, 100ms);
    EXPECT_LT(elapsed, 500ms) << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms";
    EXPECT_EQ(m_busy_pool->open_connections(), 1U); // it did not open a second one
    release_and_check_blocked_query();
}

TEST_F(BusyPoolTest, WaitingForAConnectionEndsWhenCancelled) {
    std::stop_source stop;
    const Context ctx = Context().with_stop_token(stop.get_token());
    const auto started = Clock::now();
    std::thread canceller([&stop] {
        std::this_thread::sleep_for(100ms);
        stop.request_stop();
    });
    const auto err = thrown_error([&] { (void)m_busy_store->query(ctx, book_filter(book)); });
    const auto elapsed = Clock::now() - started;
    canceller.join();
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::canceled)) << describe(err);
    EXPECT_TRUE(err->is(Errc::querying_events_failed)) << describe(err);
    EXPECT_GE(elapsed, 90ms);
    EXPECT_LT(elapsed, 500ms) << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms";
    release_and_check_blocked_query();
}

TEST_F(BusyPoolTest, WaitingForAConnectionEndsAfterThePoolsAcquireTimeout) {
    PoolOptions o = max_connections(1);
    o.acquire_timeout = 150ms;
    auto p = ConnectionPool::create(conninfo(), o);
    auto s = make_store(p);
    // Its one connection is opened by a query that blocks on the same lock.
    std::optional<eventstore::Error> blocked_error;
    std::thread blocked([&] { blocked_error = thrown_error([&] { (void)s->query(book_filter(book)); }); });
    ASSERT_TRUE(wait_for_lock_waiters(2));

    const auto started = Clock::now();
    const auto err = thrown_error([&] { (void)s->query(book_filter(book)); }); // no deadline of its own
    const auto elapsed = Clock::now() - started;
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::querying_events_failed)) << describe(err);
    EXPECT_FALSE(err->is(Errc::canceled)) << describe(err);
    // A saturated pool, told apart from a database that cannot be reached; nothing was sent.
    EXPECT_TRUE(err->is(Errc::pool_exhausted)) << describe(err);
    EXPECT_FALSE(err->is(Errc::database_connection_failed)) << describe(err);
    EXPECT_TRUE(err->is_retryable()) << describe(err);
    EXPECT_TRUE(err->sqlstate().empty()) << describe(err);
    EXPECT_GE(elapsed, 150ms);
    EXPECT_LT(elapsed, 2s);

    release_and_check_blocked_query();
    blocked.join();
    EXPECT_FALSE(blocked_error.has_value()) << describe(blocked_error);
}

} // namespace

// --- pool metrics --------------------------------------------------------------------------------------

namespace {

// The pool's reports, as Prometheus would see them.
std::string page_of(const eventstore::prometheus::Collector& c) { return c.exposition(); }

bool has(const std::string& page, const std::string& line) { return page.find(line + "\n") != std::string::npos; }

} // namespace

// The pool reports its connections (idle, in use, the maximum), the connections it opened, and how
// long each acquisition took with its outcome: acquired, or exhausted when every connection stayed busy.
TEST_F(PoolTest, ThePoolReportsItsStateToTheMetricsHook) {
    auto metrics = std::make_shared<eventstore::prometheus::Collector>();
    PoolOptions options = max_connections(1);
    options.metrics = metrics;
    options.name = "orders";
    options.acquire_timeout = 100ms;
    auto pool = ConnectionPool::create(conninfo(), options);
    auto s = make_store(pool);
    (void)s->query(book_filter(book));
    std::string page = page_of(*metrics);
    EXPECT_TRUE(has(page, "eventstore_pool_connections{pool=\"orders\",state=\"idle\"} 1")) << page;
    EXPECT_TRUE(has(page, "eventstore_pool_connections{pool=\"orders\",state=\"in_use\"} 0")) << page;
    EXPECT_TRUE(has(page, "eventstore_pool_max_connections{pool=\"orders\"} 1")) << page;
    EXPECT_TRUE(has(page, "eventstore_pool_connections_opened_total{pool=\"orders\"} 1")) << page;
    EXPECT_TRUE(has(page, "eventstore_pool_acquire_duration_seconds_count{outcome=\"acquired\",pool=\"orders\"} 1"))
        << page;

    // One call holds the only connection (a stream whose callback waits); another waits for it in vain.
    s->append(book_filter(book), 0, added_to_circulation(book, at(1)));
    std::promise<void> inside;
    std::promise<void> release;
    std::thread holder([&] {
        s->query_stream(Context(), book_filter(book), [&](eventstore::StorableEvent&&) {
            inside.set_value();
            release.get_future().wait();
        });
    });
    inside.get_future().wait();
    page = page_of(*metrics);
    EXPECT_TRUE(has(page, "eventstore_pool_connections{pool=\"orders\",state=\"in_use\"} 1")) << page;
    const auto err = thrown_error([&] { (void)s->query(book_filter(book)); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::pool_exhausted)) << describe(err);
    release.set_value();
    holder.join();
    page = page_of(*metrics);
    EXPECT_TRUE(has(page, "eventstore_pool_acquire_duration_seconds_count{outcome=\"exhausted\",pool=\"orders\"} 1"))
        << page;
    EXPECT_TRUE(has(page, "eventstore_pool_connections{pool=\"orders\",state=\"in_use\"} 0")) << page;
}
