// What the store does when the network or the server fails it: every wait bounded, a session that
// died while idle costs no failed call, a server out of connection slots makes the pool wait for its
// own, the server's own SQLSTATE reported, and a write whose outcome was lost reported as in doubt.

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/postgres.hpp>

#include "fixture.hpp"
#include "protocol_writer.hpp"
#include "socket_proxy.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using postgres::ConnectionPool;
using postgres::PoolOptions;

PoolOptions options(std::size_t connections, std::chrono::milliseconds acquire_timeout) {
    PoolOptions o;
    o.max_connections = connections;
    o.acquire_timeout = acquire_timeout;
    return o;
}

class ConnectionFailures : public StoreTest {
protected:
    // The backend pids of the test database's other client sessions.
    std::vector<std::string> other_backends() {
        const auto rows = raw().exec("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
                                     "pg_backend_pid() AND backend_type = 'client backend'");
        std::vector<std::string> pids;
        for (int r = 0; r < rows.rows(); ++r) {
            pids.push_back(rows.value(r, 0));
        }
        return pids;
    }

    void terminate_other_backends() {
        for (const std::string& pid : other_backends()) {
            raw().exec("SELECT pg_terminate_backend($1::int)", {pid});
        }
        const auto until = Clock::now() + 5s;
        while (!other_backends().empty() && Clock::now() < until) {
            std::this_thread::sleep_for(10ms);
        }
    }

    // A role of the test's own, dropped at the end.
    std::string make_role(const std::string& attributes) {
        m_roles.push_back(unique_table_name("role"));
        raw().exec("CREATE ROLE " + m_roles.back() + " LOGIN " + attributes);
        raw().exec("GRANT SELECT, INSERT ON " + table() + " TO " + m_roles.back());
        raw().exec("GRANT USAGE ON SEQUENCE " + sequence_of_table() + " TO " + m_roles.back());
        return m_roles.back();
    }

    void TearDown() override {
        for (const std::string& role : m_roles) {
            raw().exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", {role});
            raw().exec("DROP OWNED BY " + role);
            raw().exec("DROP ROLE IF EXISTS " + role);
        }
        StoreTest::TearDown();
    }

private:
    std::vector<std::string> m_roles;
};

// --- every wait bounded ----------------------------------------------------------------------------

TEST_F(ConnectionFailures, AServerThatNeverAnswersCostsTheAcquireTimeoutNotForever) {
    SocketProxy proxy(conninfo());
    proxy.mute();
    auto store = make_store(ConnectionPool::create(proxy.conninfo(), options(2, 300ms)));
    const auto started = Clock::now();
    auto call =
        std::async(std::launch::async, [&] { return thrown_error([&] { (void)store->query(book_filter("b")); }); });
    ASSERT_EQ(call.wait_for(10s), std::future_status::ready) << "the call without a deadline hangs";
    const auto err = call.get();
    const auto elapsed = Clock::now() - started;
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::database_connection_failed)) << describe(err);
    EXPECT_GE(elapsed, 250ms);
    EXPECT_LT(elapsed, 3s);
    EXPECT_GE(proxy.accepted(), 1);
}

TEST_F(ConnectionFailures, LibpqsConnectTimeoutIsHonoured) {
    SocketProxy proxy(conninfo());
    proxy.mute();
    auto store = make_store(ConnectionPool::create(proxy.conninfo() + " connect_timeout=1", options(1, 60s)));
    const auto started = Clock::now();
    auto call = std::async(std::launch::async, [&] { return thrown_error([&] { store->migrate(); }); });
    ASSERT_EQ(call.wait_for(10s), std::future_status::ready) << "connect_timeout is ignored";
    const auto err = call.get();
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::database_connection_failed)) << describe(err);
    EXPECT_GE(Clock::now() - started, 900ms);
}

TEST_F(ConnectionFailures, ACancelRequestThatCannotBeDeliveredDoesNotHoldTheCall) {
    SocketProxy proxy(conninfo());
    auto store = make_store(ConnectionPool::create(proxy.conninfo(), options(2, 5s)));
    (void)store->query(book_filter("b"));
    // The read waits for a writer in flight; its cancel request goes to a server that accepts the
    // connection and never answers.
    ProtocolWriter writer(conninfo(), table());
    writer.begin(std::string(book_copy_added_to_circulation), added_to_circulation_payload("b", at(1)));
    proxy.mute();
    const auto started = Clock::now();
    auto call = std::async(std::launch::async, [&] {
        return thrown_error([&] { (void)store->query(Context().with_timeout(100ms), book_filter("b")); });
    });
    const bool ended = call.wait_for(15s) == std::future_status::ready;
    writer.rollback();
    ASSERT_TRUE(ended) << "the call hangs in its cancel request";
    const auto err = call.get();
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::deadline_exceeded)) << describe(err);
    // Given up after the grace period a cancelled statement has to end.
    EXPECT_LT(Clock::now() - started, 10s);
}

// --- sessions that died while idle -------------------------------------------------------------

TEST_F(ConnectionFailures, ATerminatedIdleSessionCostsNoFailedCall) {
    auto store = make_store(ConnectionPool::create(conninfo(), options(1, 5s)));
    store->append(book_filter("b"), 0, added_to_circulation("b", at(1)));
    terminate_other_backends(); // the pool's idle session
    EXPECT_EQ(store->query(book_filter("b")).events.size(), 1U);
    terminate_other_backends();
    EXPECT_NO_THROW(store->append(book_filter("b"), 1, lent_to_reader("b", "r", at(2))));
    terminate_other_backends();
    EXPECT_NO_THROW(store->save_snapshot(build_snapshot("P", book_filter("b").hash(), 2, "{}")));
}

TEST_F(ConnectionFailures, SessionsClosedByAProxyOrAnIdleTimeoutCostNoFailedCall) {
    SocketProxy proxy(conninfo());
    auto store = make_store(ConnectionPool::create(proxy.conninfo(), options(2, 5s)));
    store->append(book_filter("b"), 0, added_to_circulation("b", at(1)));
    proxy.close_all();
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(store->query(book_filter("b")).events.size(), 1U);

    // idle_session_timeout, set for the sessions of a role of the test's own.
    const std::string role = make_role("");
    raw().exec("ALTER ROLE " + role + " SET idle_session_timeout = '100ms'");
    auto timed = make_store(ConnectionPool::create(conninfo() + " user=" + role, options(2, 5s)));
    EXPECT_EQ(timed->query(book_filter("b")).events.size(), 1U);
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(timed->query(book_filter("b")).events.size(), 1U);
    EXPECT_NO_THROW(timed->append(book_filter("b"), 1, lent_to_reader("b", "r", at(2))));
}

TEST_F(ConnectionFailures, AReadWhoseSessionIsLostIsMadeAgainOnAnother) {
    ProtocolWriter writer(conninfo(), table());
    writer.begin(std::string(book_copy_added_to_circulation), added_to_circulation_payload("b", at(1)));
    auto store = make_store(ConnectionPool::create(conninfo(), options(2, 5s)));
    auto read = std::async(std::launch::async, [&] { return store->query(book_filter("b")); });
    // The read waits for the writer; its session is terminated meanwhile, and the read goes on on
    // another one.
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(read.wait_for(0ms), std::future_status::timeout);
    raw().exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND "
               "wait_event_type = 'Lock'");
    std::this_thread::sleep_for(300ms);
    writer.commit();
    ASSERT_EQ(read.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(read.get().events.size(), 1U);
}

TEST_F(ConnectionFailures, AWriteWhoseSessionIsTerminatedReportsTheServersCode) {
    ProtocolWriter writer(conninfo(), table());
    writer.begin(std::string(book_copy_added_to_circulation), added_to_circulation_payload("b", at(1)));
    auto append = std::async(std::launch::async, [&] {
        return thrown_error([&] { store().append(book_filter("b"), 0, added_to_circulation("b", at(2))); });
    });
    std::this_thread::sleep_for(300ms);
    raw().exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND "
               "wait_event_type = 'Lock'");
    const auto err = append.get();
    writer.rollback();
    ASSERT_TRUE(err.has_value());
    // The server ended the transaction itself: nothing written, nothing in doubt, and it said why.
    EXPECT_EQ(err->sqlstate(), "57P01") << describe(err);
    EXPECT_TRUE(err->is(Errc::database_connection_failed)) << describe(err);
    EXPECT_FALSE(err->is(Errc::in_doubt)) << describe(err);
    EXPECT_TRUE(err->is_retryable());
    EXPECT_EQ(count_rows(), 0);
}

// --- a server out of connection slots ----------------------------------------------------------

TEST_F(ConnectionFailures, AConnectRefusalKeepsTheServersCode) {
    const std::string role = make_role("CONNECTION LIMIT 0");
    auto store = make_store(ConnectionPool::create(conninfo() + " user=" + role, options(2, 5s)));
    const auto err = thrown_error([&] { (void)store->query(book_filter("b")); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->sqlstate(), "53300") << describe(err);
    EXPECT_TRUE(err->is(Errc::database_connection_failed)) << describe(err);
    EXPECT_TRUE(err->is_retryable());
}

TEST_F(ConnectionFailures, WhenTheServerIsOutOfSlotsThePoolWaitsForItsOwnConnections) {
    const std::string role = make_role("CONNECTION LIMIT 2");
    auto store = make_store(ConnectionPool::create(conninfo() + " user=" + role, options(4, 10s)));
    // Four reads at once, each waiting for a writer in flight: the server takes only two sessions
    // of the role, so two reads must wait for those to come back.
    ProtocolWriter writer(conninfo(), table());
    writer.begin(std::string(book_copy_added_to_circulation), added_to_circulation_payload("b", at(1)));
    std::vector<std::future<std::optional<Error>>> reads;
    for (int i = 0; i < 4; ++i) {
        reads.push_back(std::async(std::launch::async, [&] {
            return thrown_error([&] { EXPECT_EQ(store->query(book_filter("b")).events.size(), 1U); });
        }));
    }
    std::this_thread::sleep_for(500ms);
    writer.commit();
    for (auto& read : reads) {
        const auto err = read.get();
        EXPECT_FALSE(err.has_value()) << describe(err);
    }
}

// --- in doubt ---------------------------------------------------------------------------------------

TEST_F(ConnectionFailures, AnAppendWhoseReplyIsLostIsInDoubt) {
    SocketProxy proxy(conninfo());
    auto store = make_store(ConnectionPool::create(proxy.conninfo(), options(2, 5s)));
    (void)store->query(book_filter("b")); // a session, idle in the pool
    proxy.drop_reply_to_next_request();
    const auto err = thrown_error([&] { store->append(book_filter("b"), 0, added_to_circulation("b", at(1))); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::in_doubt)) << describe(err);
    EXPECT_TRUE(err->is(Errc::appending_event_failed)) << describe(err);
    EXPECT_FALSE(err->is_retryable());
    // It did commit: the server served it, only the reply was lost. A query tells.
    EXPECT_EQ(store->query(book_filter("b")).events.size(), 1U);
}

// The answer to in doubt: events with ids, and the same append again. It returns the committed
// append's position, and the log holds one copy.
TEST_F(ConnectionFailures, AnAppendWithIdsWhoseReplyIsLostIsRetriedWithoutACopy) {
    SocketProxy proxy(conninfo());
    auto store = make_store(ConnectionPool::create(proxy.conninfo(), options(2, 5s)));
    (void)store->query(book_filter("b"));
    StorableEvent added = added_to_circulation("b", at(1));
    added.id = make_uuid(42);
    added.tags = {"book:b"};
    proxy.drop_reply_to_next_request();
    const auto err = thrown_error([&] { store->append(book_filter("b"), 0, added); });
    ASSERT_TRUE(err.has_value());
    ASSERT_TRUE(err->is(Errc::in_doubt)) << describe(err);
    const AppendResult retry = store->append(book_filter("b"), 0, added);
    EXPECT_TRUE(retry.already_stored);
    const QueryResult stored = store->query(book_filter("b"));
    ASSERT_EQ(stored.events.size(), 1U);
    EXPECT_EQ(retry.last_sequence_number, stored.events[0].sequence_number);
    EXPECT_EQ(stored.events[0].id, make_uuid(42));
}

TEST_F(ConnectionFailures, ACancelWhoseAnswerNeverComesLeavesTheWriteInDoubtNotCanceled) {
    SocketProxy proxy(conninfo());
    auto store = make_store(ConnectionPool::create(proxy.conninfo(), options(2, 5s)));
    (void)store->query(book_filter("b"));
    proxy.drop_reply_to_next_request();
    const auto ctx = Context().with_timeout(100ms);
    const auto err = thrown_error([&] { store->append(ctx, book_filter("b"), 0, added_to_circulation("b", at(1))); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::in_doubt)) << describe(err);
    EXPECT_FALSE(err->is(Errc::deadline_exceeded)) << describe(err);
    EXPECT_EQ(store->query(book_filter("b")).events.size(), 1U);
}

TEST_F(ConnectionFailures, AReadWhoseReplyIsLostIsMadeAgain) {
    SocketProxy proxy(conninfo());
    store().append(book_filter("b"), 0, added_to_circulation("b", at(1)));
    auto store = make_store(ConnectionPool::create(proxy.conninfo(), options(2, 5s)));
    (void)store->query(book_filter("b"));
    proxy.drop_reply_to_next_request();
    EXPECT_EQ(store->query(book_filter("b")).events.size(), 1U);
    proxy.drop_reply_to_next_request();
    EXPECT_TRUE(store->load_snapshot("P", book_filter("b")) == std::nullopt);
}

} // namespace
