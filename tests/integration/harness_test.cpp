// Checks the test harness itself: the throwaway server, per-process databases, PgSession and the
// streaming replica. Links only the test support library and libpq (not the event store).

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "devsupport/pg_session.hpp"
#include "support/postgres_server.hpp"

namespace {

using eventstore::devsupport::PgError;
using eventstore::devsupport::PgSession;
using eventstore::test::postgres;
using eventstore::test::test_database;

TEST(Harness, ServerIsPostgres15OrLater) {
    PgSession session(postgres().conninfo());
    const auto version = session.scalar("SHOW server_version_num");
    ASSERT_TRUE(version.has_value());
    EXPECT_GE(std::stoi(*version), 150000);
}

TEST(Harness, ListensOnUnixSocketOnly) {
    if (postgres().is_external()) {
        GTEST_SKIP() << "EVENTSTORE_TEST_CONNINFO points at a server the harness does not configure";
    }
    PgSession session(postgres().conninfo());
    EXPECT_EQ(session.scalar("SHOW listen_addresses"), "");
    EXPECT_EQ(session.scalar("SELECT inet_server_port()"), std::nullopt); // connected through the socket
    EXPECT_EQ(session.scalar("SHOW max_connections"), "200");
    EXPECT_EQ(session.scalar("SHOW max_locks_per_transaction"), "256");
    EXPECT_EQ(postgres().conninfo(), "host=" + postgres().directory() + " port=" + std::to_string(postgres().port()) +
                                         " user=postgres dbname=postgres");
}

TEST(Harness, TestDatabaseIsFreshAndStable) {
    const std::string conninfo = test_database();
    EXPECT_EQ(conninfo, test_database());
    PgSession session(conninfo);
    const auto name = session.scalar("SELECT current_database()");
    ASSERT_TRUE(name.has_value());
    EXPECT_NE(*name, "postgres");
    EXPECT_EQ(session.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");
    session.exec("CREATE TABLE harness_probe (id bigint PRIMARY KEY, note text)");
    session.exec("INSERT INTO harness_probe VALUES ($1, $2), ($3, $4)", {"1", "one", "2", std::nullopt});
    const auto rows = session.exec("SELECT id, note FROM harness_probe ORDER BY id").all();
    ASSERT_EQ(rows.size(), 2U);
    EXPECT_EQ(rows[0][1], "one");
    EXPECT_EQ(rows[1][1], std::nullopt);
    session.exec("DROP TABLE harness_probe");
}

TEST(Harness, CreateDatabaseRecreates) {
    const std::string conninfo = postgres().create_database("harness_recreate");
    PgSession(conninfo).exec("CREATE TABLE t (x int)");
    EXPECT_EQ(postgres().create_database("harness_recreate"), conninfo);
    PgSession session(conninfo);
    EXPECT_EQ(session.scalar("SELECT count(*) FROM pg_tables WHERE tablename = 't'"), "0");
    EXPECT_NE(postgres().fresh_database(), postgres().fresh_database());
}

TEST(Harness, ErrorsCarrySqlstate) {
    PgSession session(test_database());
    try {
        session.exec("SELECT 1 / 0");
        FAIL() << "expected an error";
    } catch (const PgError& e) {
        EXPECT_EQ(e.sqlstate(), "22012");
        EXPECT_NE(std::string(e.what()).find("division by zero"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("SQLSTATE 22012"), std::string::npos) << e.what();
    }
    EXPECT_THROW(PgSession("host=/nonexistent-eventstore-dir port=1"), std::runtime_error);
}

TEST(Harness, HeldTransactionBlocksAnotherSession) {
    const std::string conninfo = test_database();
    PgSession setup(conninfo);
    setup.exec("CREATE TABLE IF NOT EXISTS harness_lock (id int PRIMARY KEY)");
    PgSession holder(conninfo);
    holder.exec("BEGIN; LOCK TABLE harness_lock IN ACCESS EXCLUSIVE MODE");
    PgSession other(conninfo);
    try {
        other.exec("SET lock_timeout = '100ms'; SELECT * FROM harness_lock");
        FAIL() << "expected a lock timeout";
    } catch (const PgError& e) {
        EXPECT_EQ(e.sqlstate(), "55P03") << e.what();
    }
    holder.exec("ROLLBACK");
    EXPECT_NO_THROW(other.exec("SELECT * FROM harness_lock"));
}

TEST(Harness, StreamingReplicaFollowsThePrimary) {
    if (postgres().is_external() && std::getenv("EVENTSTORE_TEST_REPLICA_CONNINFO") == nullptr) {
        GTEST_SKIP() << "no replica for an external server";
    }
    const std::string primary_conninfo = test_database();
    PgSession primary(primary_conninfo);
    const auto dbname = primary.scalar("SELECT current_database()");
    ASSERT_TRUE(dbname.has_value());

    const std::string replica_conninfo = postgres().start_replica(*dbname);
    PgSession replica(replica_conninfo);
    EXPECT_EQ(replica.scalar("SELECT pg_is_in_recovery()"), "t");
    EXPECT_EQ(primary.scalar("SELECT pg_is_in_recovery()"), "f");

    primary.exec("CREATE TABLE harness_replicated (v text)");
    primary.exec("INSERT INTO harness_replicated VALUES ('from the primary')");

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool seen = false;
    while (!seen && std::chrono::steady_clock::now() < deadline) {
        try {
            seen = replica.scalar("SELECT count(*) FROM harness_replicated") == "1";
        } catch (const PgError& e) {
            ASSERT_EQ(e.sqlstate(), "42P01") << e.what(); // the table itself has not arrived yet
        }
        if (!seen) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    EXPECT_TRUE(seen) << "row not visible on the replica within 10 s";

    try {
        replica.exec("INSERT INTO harness_replicated VALUES ('on the replica')");
        FAIL() << "a hot standby must refuse writes";
    } catch (const PgError& e) {
        EXPECT_EQ(e.sqlstate(), "25006") << e.what(); // read_only_sql_transaction
    }
}

} // namespace
