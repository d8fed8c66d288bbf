// Deadlines and cancellation: a call blocked by a lock another session holds ends within about
// 100 ms of its deadline or stop request, is cancelled on the server, leaves its connection usable,
// and writes nothing.

#include <chrono>
#include <future>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using eventstore::build_event_filter;
using eventstore::Context;
using eventstore::Errc;
using eventstore::P;
using eventstore::test::PgSession;
using eventstore::test::quote_identifier;

class Cancellation : public eventstore::test::StoreTest {
protected:
    [[nodiscard]] eventstore::postgres::PoolOptions pool_options() const override { return {.max_connections = 1}; }

    // Blocks every reader and writer of the table until the returned session ends its transaction.
    std::unique_ptr<PgSession> lock_table() {
        auto raw = std::make_unique<PgSession>(conninfo());
        raw->exec("BEGIN");
        raw->exec("LOCK TABLE " + quote_identifier(table()) + " IN ACCESS EXCLUSIVE MODE");
        return raw;
    }

    // No statement of ours may be left running on the server after the call returned.
    void expect_nothing_running() {
        const auto running =
            raw().scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                         "state = 'active' AND pid <> pg_backend_pid() AND query LIKE '%" +
                         table() + "%' AND query NOT LIKE 'LOCK%'");
        EXPECT_EQ(running, "0");
    }
};

eventstore::Filter filter() {
    return build_event_filter().matching().any_event_type_of("Happened").and_any_predicate_of(P("ID", "1")).finalize();
}

eventstore::StorableEvent event() {
    return eventstore::build_storable_event_with_empty_metadata("Happened", std::chrono::system_clock::now(),
                                                                R"({"ID":"1"})");
}

TEST_F(Cancellation, QueryDeadlineEndsABlockedQuery) {
    auto raw = lock_table();
    const auto start = Clock::now();
    try {
        store().query(Context().with_timeout(200ms), filter());
        FAIL() << "the query should have timed out";
    } catch (const eventstore::Error& e) {
        EXPECT_TRUE(e.is(Errc::deadline_exceeded)) << e.what();
        EXPECT_TRUE(e.is(Errc::querying_events_failed)) << e.what();
        EXPECT_NE(std::string(e.what()).find("context deadline exceeded"), std::string::npos) << e.what();
    }
    const auto took = Clock::now() - start;
    EXPECT_GE(took, 200ms);
    EXPECT_LT(took, 200ms + 150ms);
    expect_nothing_running();
    raw->exec("ROLLBACK");
    // The pool's only connection (the adapter's session) is still usable.
    EXPECT_NO_THROW(store().query(filter()));
    if (eventstore::test::test_adapter().empty()) {
        EXPECT_EQ(pool()->open_connections(), 1U);
    }
}

TEST_F(Cancellation, StopRequestEndsABlockedAppendAndWritesNothing) {
    auto raw = lock_table();
    std::stop_source stop;
    auto pending = std::async(
        std::launch::async, [&] { store().append(Context().with_stop_token(stop.get_token()), filter(), 0, event()); });
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(pending.wait_for(0ms), std::future_status::timeout);
    const auto requested = Clock::now();
    stop.request_stop();
    ASSERT_EQ(pending.wait_for(2s), std::future_status::ready);
    EXPECT_LT(Clock::now() - requested, 150ms);
    try {
        pending.get();
        FAIL() << "the append should have been cancelled";
    } catch (const eventstore::Error& e) {
        EXPECT_TRUE(e.is(Errc::canceled)) << e.what();
        EXPECT_TRUE(e.is(Errc::appending_event_failed)) << e.what();
        EXPECT_FALSE(e.is(Errc::concurrency_conflict));
        EXPECT_NE(std::string(e.what()).find("context canceled"), std::string::npos) << e.what();
    }
    expect_nothing_running();
    raw->exec("COMMIT");
    EXPECT_EQ(count_rows(), 0);
    EXPECT_NO_THROW(store().append(filter(), 0, event()));
    EXPECT_EQ(count_rows(), 1);
}

TEST_F(Cancellation, AppendDeadlineWhileBlockedOnAnotherWritersLock) {
    // Blocked on an advisory lock this time (another writer of the boundary), not on the table.
    PgSession raw(conninfo());
    raw.exec("BEGIN");
    raw.exec("LOCK TABLE " + quote_identifier(table()) +
             " IN SHARE MODE"); // lets the lock statement pass, blocks the INSERT
    try {
        store().append(Context().with_timeout(150ms), filter(), 0, event());
        FAIL() << "the append should have timed out";
    } catch (const eventstore::Error& e) {
        EXPECT_TRUE(e.is(Errc::deadline_exceeded)) << e.what();
        EXPECT_TRUE(e.is(Errc::appending_event_failed)) << e.what();
    }
    raw.exec("ROLLBACK");
    EXPECT_EQ(count_rows(), 0);
}

TEST_F(Cancellation, AlreadyEndedContextsFailWithoutDatabaseWork) {
    std::stop_source stop;
    stop.request_stop();
    const Context canceled = Context().with_stop_token(stop.get_token());
    const Context expired = Context().with_timeout(1us);
    std::this_thread::sleep_for(1ms);
    for (const Context* ctx : {&canceled, &expired}) {
        const Errc why = ctx == &canceled ? Errc::canceled : Errc::deadline_exceeded;
        try {
            store().append(*ctx, filter(), 0, event());
            FAIL();
        } catch (const eventstore::Error& e) {
            EXPECT_TRUE(e.is(why)) << e.what();
            EXPECT_TRUE(e.is(Errc::appending_event_failed));
        }
        try {
            (void)store().query(*ctx, filter());
            FAIL();
        } catch (const eventstore::Error& e) {
            EXPECT_TRUE(e.is(why)) << e.what();
            EXPECT_TRUE(e.is(Errc::querying_events_failed));
        }
    }
    EXPECT_EQ(count_rows(), 0);
}

TEST_F(Cancellation, ACompletedCallIsNotReportedAsCancelled) {
    // A deadline comfortably beyond the call: it must succeed and the event must be there.
    store().append(Context().with_timeout(10s), filter(), 0, event());
    EXPECT_EQ(store().query(Context().with_timeout(10s), filter()).events.size(), 1U);
}

} // namespace
