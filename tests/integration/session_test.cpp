// The session seam as the native driver implements it (src/postgres/session.hpp): pipelines,
// decoded results, streaming, plan modes, and how failures are classified.

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/postgres.hpp>

#include "fixture.hpp"
#include "postgres/codec.hpp"
#include "postgres/connection.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::test;
using eventstore::devsupport::PgSession;
using postgres::detail::Connection;
using postgres::detail::DatabaseFailure;
using postgres::detail::FailureKind;
using postgres::detail::int8_param;
using postgres::detail::Result;
using postgres::detail::Row;
using postgres::detail::Session;
using postgres::detail::Statement;
using postgres::detail::text_param;

class SessionTest : public StoreTest {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        m_session =
            Connection::open(conninfo(), Context(), std::chrono::steady_clock::now() + std::chrono::seconds(30));
        m_probe = unique_table_name("probe");
        raw().exec("CREATE TABLE " + m_probe + " (id bigint PRIMARY KEY, v int)");
    }

    // A table of the test's own.
    [[nodiscard]] const std::string& probe() const { return m_probe; }

    Session& session() { return *m_session; }

    // The first column of the first row `statement` returns.
    std::string first_value(const Statement& statement) {
        const auto results = session().run(Context(), std::vector<Statement>{statement});
        return results.back()[0][0].as_text();
    }

    // The failure `statements` end with, or nullopt.
    std::optional<DatabaseFailure> failure_of(const std::vector<Statement>& statements,
                                              const Context& ctx = Context()) {
        try {
            (void)session().run(ctx, statements);
        } catch (const DatabaseFailure& f) {
            return f;
        }
        return std::nullopt;
    }

private:
    std::unique_ptr<Connection> m_session;
    std::string m_probe;
};

// PostgreSQL counts, per prepared statement of a session, how often it ran on a generic and on a
// custom plan: the session's plan mode made visible.
TEST_F(SessionTest, PerCallStatementsSwitchTheRestOfTheirPipelineToCustomPlans) {
    const std::string probe_sql = "SELECT count(*) FROM " + probe() + " WHERE id > $1";
    const Statement probe_statement = Statement::cached(probe_sql, {int8_param(41)});
    const Statement per_call = Statement::per_call("SELECT $1::bigint", {int8_param(1)});
    const auto plans = [&] {
        const std::vector<Statement> count{
            Statement::per_call("SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
                                {text_param(probe_sql)})};
        const auto results = session().run(Context(), count);
        EXPECT_EQ(results.back().size(), 1U);
        return std::make_pair(results.back()[0][0].as_int8(), results.back()[0][1].as_int8());
    };
    (void)session().run(Context(), std::vector<Statement>{probe_statement});
    EXPECT_EQ(plans(), std::make_pair(std::int64_t{1}, std::int64_t{0}));
    // After a per-call statement with parameters, the pipeline runs on custom plans...
    (void)session().run(Context(), std::vector<Statement>{per_call, probe_statement});
    EXPECT_EQ(plans(), std::make_pair(std::int64_t{1}, std::int64_t{1}));
    // ... but not before it, and not in the next pipeline.
    (void)session().run(Context(), std::vector<Statement>{probe_statement, per_call});
    (void)session().run(Context(), std::vector<Statement>{probe_statement});
    EXPECT_EQ(plans(), std::make_pair(std::int64_t{3}, std::int64_t{1}));
    // Streaming too.
    std::size_t rows = 0;
    session().stream(Context(), per_call, [&](const Row& /*row*/) { ++rows; });
    EXPECT_EQ(rows, 1U);
    (void)session().run(Context(), std::vector<Statement>{probe_statement});
    EXPECT_EQ(plans(), std::make_pair(std::int64_t{4}, std::int64_t{1}));
}

TEST_F(SessionTest, RunReturnsOneDecodedResultPerStatement) {
    const std::vector<Statement> statements{
        Statement::cached("INSERT INTO " + probe() + " SELECT g, g FROM generate_series(1, $1::int) g",
                          {int8_param(3)}),
        Statement::per_call("SELECT id, 'x' || v, NULL::bigint FROM " + probe() + " WHERE id >= $1 ORDER BY id",
                            {int8_param(2)})};
    const auto results = session().run(Context(), statements);
    ASSERT_EQ(results.size(), 2U);
    EXPECT_EQ(results[0].affected_rows(), 3U);
    EXPECT_TRUE(results[0].empty());
    ASSERT_EQ(results[1].size(), 2U);
    EXPECT_EQ(results[1][0][0].as_int8(), 2);
    EXPECT_EQ(results[1][1][1].as_text(), "x3");
    EXPECT_TRUE(results[1][1][2].is_null());
    EXPECT_FALSE(results[1][1][0].is_null());
}

TEST_F(SessionTest, StreamHandsOverEveryRowInOrder) {
    std::vector<std::int64_t> seen;
    for (const auto& statement :
         {Statement::per_call("SELECT g FROM generate_series(1, $1::bigint) g", {int8_param(2500)}),
          Statement::cached("SELECT g FROM generate_series(1, $1::bigint) g", {int8_param(2500)})}) {
        seen.clear();
        session().stream(Context(), statement, [&](const Row& row) { seen.push_back(row[0].as_int8()); });
        ASSERT_EQ(seen.size(), 2500U);
        for (std::size_t i = 0; i < seen.size(); ++i) {
            ASSERT_EQ(seen[i], static_cast<std::int64_t>(i + 1));
        }
    }
    EXPECT_FALSE(session().broken());
}

TEST_F(SessionTest, AFailingStatementEndsThePipelineAndLeavesTheSessionUsable) {
    const auto failure =
        failure_of({Statement::cached("INSERT INTO " + probe() + " VALUES (1, 1)"), Statement::cached("SELECT 1/0"),
                    Statement::cached("INSERT INTO " + probe() + " VALUES (2, 2)")});
    ASSERT_TRUE(failure.has_value());
    EXPECT_EQ(failure->kind(), FailureKind::statement);
    EXPECT_EQ(failure->sqlstate(), "22012");
    EXPECT_FALSE(failure->cause(true).has_value());
    EXPECT_EQ(failure->outcome(), postgres::detail::Outcome::nothing_written);
    const Error error = failure->to_error(Errc::querying_events_failed, false);
    EXPECT_EQ(error.code(), Errc::querying_events_failed);
    EXPECT_EQ(error.sqlstate(), "22012");
    // One implicit transaction: the first insert rolled back, the third never ran.
    EXPECT_EQ(count_rows(probe()), 0);
    EXPECT_FALSE(session().broken());
    EXPECT_EQ(first_value(Statement::cached("SELECT 'still here'::text")), "still here");
}

TEST_F(SessionTest, AKilledBackendIsAConnectionFailure) {
    raw().exec("SELECT pg_terminate_backend(" + std::to_string(session().backend_pid()) + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(100)); // the server's FATAL arrives
    const auto failure = failure_of({Statement::cached("SELECT 1")});
    ASSERT_TRUE(failure.has_value());
    EXPECT_EQ(failure->kind(), FailureKind::connection);
    // Seen before anything was sent: the call may go to another session.
    EXPECT_EQ(failure->outcome(), postgres::detail::Outcome::not_sent);
    // The server said why before it closed the session: its code is kept.
    EXPECT_EQ(failure->sqlstate(), "57P01") << failure->what();
    EXPECT_EQ(failure->cause(true), Errc::database_connection_failed);
    EXPECT_TRUE(failure->to_error(Errc::appending_event_failed, true).is_retryable());
    EXPECT_TRUE(session().broken());
}

TEST_F(SessionTest, ABackendKilledDuringAStatementKeepsTheServersCode) {
    std::thread killer([&, pid = session().backend_pid()] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        PgSession(conninfo()).exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
    });
    const auto failure = failure_of({Statement::cached("INSERT INTO " + probe() + " SELECT 1, 1 FROM pg_sleep(5)")});
    killer.join();
    ASSERT_TRUE(failure.has_value());
    EXPECT_EQ(failure->kind(), FailureKind::connection);
    EXPECT_EQ(failure->sqlstate(), "57P01") << failure->what();
    // The server ended the transaction with the session: the write is not in doubt.
    EXPECT_EQ(failure->outcome(), postgres::detail::Outcome::nothing_written);
    EXPECT_EQ(failure->cause(true), Errc::database_connection_failed);
    EXPECT_EQ(count_rows(probe()), 0);
    EXPECT_TRUE(session().broken());
}

TEST_F(SessionTest, TheContextsDeadlineCancelsTheStatement) {
    const auto ctx = Context().with_timeout(std::chrono::milliseconds(100));
    const auto failure = failure_of({Statement::cached("SELECT pg_sleep(5)")}, ctx);
    ASSERT_TRUE(failure.has_value());
    EXPECT_EQ(failure->kind(), FailureKind::deadline_exceeded);
    EXPECT_EQ(failure->cause(true), Errc::deadline_exceeded); // the server ended it: nothing in doubt
    // Discarded all the same: a cancel request is not known to be spent (connection.cpp, execute).
    EXPECT_TRUE(session().broken());
}

TEST_F(SessionTest, TheServersStatementTimeoutIsReportedAsACancellation) {
    const auto failure =
        failure_of({Statement::per_call("SET statement_timeout = 50"), Statement::cached("SELECT pg_sleep(5)")});
    ASSERT_TRUE(failure.has_value());
    EXPECT_EQ(failure->sqlstate(), "57014");
    EXPECT_EQ(failure->kind(), FailureKind::canceled);
    (void)session().run(Context(), std::vector<Statement>{Statement::per_call("RESET statement_timeout")});
}

} // namespace
