// Several real streaming replicas behind one store (docs/replicas.md): eventual reads spread over them,
// a replica that is down leaves the rotation (a clear error, or the primary when the store falls back),
// and read-your-writes by WAL position under lag made with pg_wal_replay_pause(). The replicas take a
// cluster of this binary's own (OWN_SERVER), started once for all cases (ONE_PROCESS).

#include <chrono>
#include <csignal>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/connection>
#include <soci/connection-pool.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/session.h>

#include <eventstore/postgres/pqxx.hpp>
#include <eventstore/postgres/soci.hpp>

#include "integration/fixture.hpp"

namespace eventstore::test {
namespace {

using namespace std::chrono_literals;
using postgres::ConnectionPool;
using postgres::PoolOptions;

// Counts eventstore_replica_reads_total by (database, outcome).
class ReadCounter final : public MetricsCollector {
public:
    void record_duration(std::string_view /*metric*/, std::chrono::nanoseconds /*d*/, const Labels& /*l*/) override {}
    void record_value(std::string_view /*metric*/, double /*value*/, const Labels& /*l*/) override {}
    void increment_counter(std::string_view metric, const Labels& labels) override {
        if (metric != "eventstore_replica_reads_total") {
            return;
        }
        const std::lock_guard lock(m_mutex);
        ++m_counts[{labels.at("database"), labels.at("outcome")}];
    }
    int count(const std::string& database, const std::string& outcome) {
        const std::lock_guard lock(m_mutex);
        return m_counts[{database, outcome}];
    }

private:
    std::mutex m_mutex;
    std::map<std::pair<std::string, std::string>, int> m_counts;
};

// Keeps the "database" field of every record.
class DatabaseLog final : public Logger {
public:
    void debug(std::string_view m, const LogFields& f) override { keep(m, f); }
    void info(std::string_view m, const LogFields& f) override { keep(m, f); }
    void warn(std::string_view m, const LogFields& f) override { keep(m, f); }
    void error(std::string_view m, const LogFields& f) override { keep(m, f); }
    std::vector<std::pair<std::string, std::string>> records() {
        const std::lock_guard lock(m_mutex);
        return m_records;
    }

private:
    void keep(std::string_view message, const LogFields& fields) {
        for (const auto& [key, value] : fields) {
            if (key == "database") {
                const std::lock_guard lock(m_mutex);
                m_records.emplace_back(std::string(message), value);
            }
        }
    }
    std::mutex m_mutex;
    std::vector<std::pair<std::string, std::string>> m_records;
};

// A conninfo whose server is not there: a replica that is down, as its clients see it.
const std::string down_replica = "host=/nonexistent-replica dbname=events connect_timeout=2";

class ReplicaSet : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_primary = postgres().fresh_database("replicas");
        const std::string dbname = PgSession(s_primary).scalar("SELECT current_database()").value_or("");
        // The table first, so that the replicas start with it.
        auto store = postgres::new_event_store_from_pool(ConnectionPool::create(s_primary));
        store->migrate();
        for (int i = 0; i < 2; ++i) {
            s_replicas.push_back(postgres().start_replica(dbname));
        }
        for (const std::string& replica : s_replicas) {
            ASSERT_TRUE(eventually([&] {
                return PgSession(replica).scalar("SELECT to_regclass('events') IS NOT NULL") ==
                       std::optional<std::string>("t");
            }));
        }
    }

    void TearDown() override {
        for (const std::string& replica : s_replicas) {
            PgSession(replica).exec("SELECT pg_wal_replay_resume()");
        }
    }

    static std::shared_ptr<ConnectionPool> pool(const std::string& conninfo, std::string name = "primary") {
        PoolOptions options;
        options.name = std::move(name);
        options.acquire_timeout = 3s;
        return ConnectionPool::create(conninfo, options);
    }

    static Filter boundary(const std::string& id) {
        return build_event_filter().matching().any_event_type_of("Opened").and_any_predicate_of(P("id", id)).finalize();
    }
    static StorableEvent opened(const std::string& id) {
        return build_storable_event_with_empty_metadata("Opened", std::chrono::system_clock::now(),
                                                        R"({"id":")" + id + R"("})");
    }

    static inline std::string s_primary;
    static inline std::vector<std::string> s_replicas;
};

TEST_F(ReplicaSet, EventualReadsSpreadOverTheReplicasAndTheLogsNameThem) {
    auto counter = std::make_shared<ReadCounter>();
    auto log = std::make_shared<DatabaseLog>();
    auto store = postgres::new_event_store_from_pool_and_replicas(
        pool(s_primary), {pool(s_replicas[0]), pool(s_replicas[1], "east")},
        {postgres::with_metrics(counter), postgres::with_logger(log),
         postgres::with_success_log_level(postgres::SuccessLogLevel::info)});
    for (int i = 0; i < 10; ++i) {
        (void)store->query(with_eventual_consistency(), boundary("spread"));
    }
    EXPECT_EQ(counter->count("replica-1", "served"), 5);
    EXPECT_EQ(counter->count("east", "served"), 5);
    (void)store->query(boundary("spread")); // strong: the primary
    const auto records = log->records();
    ASSERT_EQ(records.size(), 11U);
    EXPECT_EQ(records.front().second, "replica-1");
    EXPECT_EQ(records[1].second, "east");
    EXPECT_EQ(records.back().second, "primary");
}

TEST_F(ReplicaSet, AnAppendIsOnThePrimaryAtOnceAndOnAReplicaOnceReplayed) {
    PgSession(s_replicas[0]).exec("SELECT pg_wal_replay_pause()");
    auto store = postgres::new_event_store_from_pool_and_replicas(pool(s_primary), {pool(s_replicas[0])});
    const AppendResult appended = store->append(boundary("lag"), 0, opened("lag"));
    EXPECT_GT(appended.wal_position, 0U);
    EXPECT_EQ(store->query(boundary("lag")).events.size(), 1U);
    EXPECT_TRUE(store->query(with_eventual_consistency(), boundary("lag")).events.empty())
        << "a paused replica showed the append";
    PgSession(s_replicas[0]).exec("SELECT pg_wal_replay_resume()");
    EXPECT_TRUE(
        eventually([&] { return store->query(with_eventual_consistency(), boundary("lag")).events.size() == 1; }));
}

TEST_F(ReplicaSet, ReadYourWritesWaitsForTheReplicaOrReadsFromThePrimary) {
    auto counter = std::make_shared<ReadCounter>();
    auto store = postgres::new_event_store_from_pool_and_replicas(
        pool(s_primary), {pool(s_replicas[0])},
        {postgres::with_metrics(counter), postgres::with_replica_max_wait(300ms)});
    PgSession(s_replicas[0]).exec("SELECT pg_wal_replay_pause()");
    const AppendResult first = store->append(boundary("ryw"), 0, opened("ryw"));
    const Context mine = with_eventual_consistency().with_min_wal_position(first.wal_position);

    // The replica stays behind: after the wait, the primary answers, with the append.
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(store->query(mine, boundary("ryw")).events.size(), 1U);
    EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
    EXPECT_EQ(counter->count("primary", "behind"), 0) << "counted under the replica's name";
    EXPECT_EQ(counter->count("replica", "behind"), 1);

    // The replica catches up while the read waits: the replica answers, with the append.
    const AppendResult second = store->append(boundary("ryw"), first.last_sequence_number, opened("ryw"));
    auto resume = std::async(std::launch::async, [&] {
        std::this_thread::sleep_for(100ms);
        PgSession(s_replicas[0]).exec("SELECT pg_wal_replay_resume()");
    });
    const auto waited = store->query(
        with_eventual_consistency().with_timeout(10s).with_min_wal_position(second.wal_position), boundary("ryw"));
    resume.get();
    EXPECT_EQ(waited.events.size(), 2U);
    EXPECT_EQ(counter->count("replica", "served"), 1);

    // Without a position, an eventual read does not wait: a paused replica answers with what it has.
    PgSession(s_replicas[0]).exec("SELECT pg_wal_replay_pause()");
    (void)store->append(boundary("ryw"), second.last_sequence_number, opened("ryw"));
    EXPECT_EQ(store->query(with_eventual_consistency(), boundary("ryw")).events.size(), 2U);
}

TEST_F(ReplicaSet, AReplicaThatIsDownLeavesTheRotationAndIsTriedAgainLater) {
    auto counter = std::make_shared<ReadCounter>();
    auto store = postgres::new_event_store_from_pool_and_replicas(
        pool(s_primary), {pool(down_replica, "down"), pool(s_replicas[1], "up")},
        {postgres::with_metrics(counter), postgres::with_replica_retry_after(500ms)});
    for (int i = 0; i < 6; ++i) {
        EXPECT_NO_THROW((void)store->query(with_eventual_consistency(), boundary("down")));
    }
    EXPECT_EQ(counter->count("down", "failed"), 1) << "tried again within its retry delay";
    EXPECT_EQ(counter->count("up", "served"), 6);
    std::this_thread::sleep_for(600ms);
    for (int i = 0; i < 2; ++i) {
        EXPECT_NO_THROW((void)store->query(with_eventual_consistency(), boundary("down")));
    }
    EXPECT_EQ(counter->count("down", "failed"), 2) << "not tried again after its retry delay";
}

TEST_F(ReplicaSet, WhenNoReplicaCanServeTheReadFailsClearlyUnlessTheStoreFallsBack) {
    auto strict = postgres::new_event_store_from_pool_and_replicas(pool(s_primary), {pool(down_replica, "down")});
    const auto error = thrown_error([&] { (void)strict->query(with_eventual_consistency(), boundary("none")); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(error->is(Errc::database_connection_failed)) << error->what();
    EXPECT_NE(std::string(error->what()).find("no replica can serve"), std::string::npos) << error->what();
    EXPECT_NE(std::string(error->what()).find("down:"), std::string::npos) << error->what();
    // Strong reads and appends never needed the replica.
    EXPECT_NO_THROW(strict->append(boundary("none"), 0, opened("none")));
    EXPECT_EQ(strict->query(boundary("none")).events.size(), 1U);

    auto counter = std::make_shared<ReadCounter>();
    auto lenient = postgres::new_event_store_from_pool_and_replicas(
        pool(s_primary), {pool(down_replica, "down")},
        {postgres::with_replica_fallback(true), postgres::with_metrics(counter)});
    EXPECT_EQ(lenient->query(with_eventual_consistency(), boundary("none")).events.size(), 1U);
    EXPECT_EQ(counter->count("primary", "fallback"), 1);
}

TEST_F(ReplicaSet, AReplicaStoppedWhileInRotationIsLeftForTheOthers) {
    const std::string dbname = PgSession(s_primary).scalar("SELECT current_database()").value_or("");
    const std::string third = postgres().start_replica(dbname);
    ASSERT_TRUE(eventually([&] {
        return PgSession(third).scalar("SELECT to_regclass('events') IS NOT NULL") == std::optional<std::string>("t");
    }));
    auto counter = std::make_shared<ReadCounter>();
    auto store = postgres::new_event_store_from_pool_and_replicas(
        pool(s_primary), {pool(third, "third"), pool(s_replicas[1], "up")}, {postgres::with_metrics(counter)});
    (void)store->query(with_eventual_consistency(), boundary("stop"));
    (void)store->query(with_eventual_consistency(), boundary("stop"));
    ASSERT_EQ(counter->count("third", "served"), 1);
    // A fast shutdown of the third replica's server: its pooled connection is closed under the store.
    const std::string pid_file = PgSession(third).scalar("SELECT pg_read_file('postmaster.pid')").value_or("");
    const pid_t postmaster = static_cast<pid_t>(std::stol(pid_file.substr(0, pid_file.find('\n'))));
    ASSERT_EQ(::kill(postmaster, SIGINT), 0);
    ASSERT_TRUE(eventually([&] { return ::kill(postmaster, 0) != 0; }));
    for (int i = 0; i < 4; ++i) {
        EXPECT_NO_THROW((void)store->query(with_eventual_consistency(), boundary("stop")));
    }
    EXPECT_EQ(counter->count("third", "failed"), 1);
    EXPECT_EQ(counter->count("up", "served"), 5);
}

// A SOCI pool of one session on `conninfo`.
std::unique_ptr<soci::connection_pool> soci_pool(const std::string& conninfo) {
    auto pool = std::make_unique<soci::connection_pool>(1);
    pool->at(0).open(soci::postgresql, conninfo);
    return pool;
}

TEST_F(ReplicaSet, TheAdaptersSpreadReadsOverTheirReplicasAndReadTheirWrites) {
    auto counter = std::make_shared<ReadCounter>();
    const auto primary = soci_pool(s_primary);
    const auto first = soci_pool(s_replicas[0]);
    const auto second = soci_pool(s_replicas[1]);
    auto through_soci = postgres::new_event_store_from_soci_and_replicas(
        *primary, {first.get(), second.get()},
        {postgres::with_metrics(counter), postgres::with_replica_max_wait(200ms)});
    for (int i = 0; i < 4; ++i) {
        (void)through_soci->query(with_eventual_consistency(), boundary("adapters"));
    }
    EXPECT_EQ(counter->count("replica-1", "served"), 2);
    EXPECT_EQ(counter->count("replica-2", "served"), 2);
    PgSession(s_replicas[0]).exec("SELECT pg_wal_replay_pause()");
    PgSession(s_replicas[1]).exec("SELECT pg_wal_replay_pause()");
    const AppendResult appended = through_soci->append(boundary("adapters"), 0, opened("adapters"));
    EXPECT_GT(appended.wal_position, 0U);
    EXPECT_EQ(
        through_soci
            ->query(with_eventual_consistency().with_min_wal_position(appended.wal_position), boundary("adapters"))
            .events.size(),
        1U);
    EXPECT_EQ(counter->count("replica-1", "behind") + counter->count("replica-2", "behind"), 1);

    pqxx::connection primary_connection(s_primary);
    pqxx::connection replica_connection(s_replicas[1]);
    auto through_pqxx = postgres::new_event_store_from_pqxx_and_replicas(primary_connection, {&replica_connection},
                                                                         {postgres::with_metrics(counter)});
    const AppendResult second_append =
        through_pqxx->append(boundary("adapters"), appended.last_sequence_number, opened("adapters"));
    EXPECT_GE(second_append.wal_position, appended.wal_position);
    EXPECT_EQ(through_pqxx->query(with_eventual_consistency(), boundary("adapters")).events.size(), 0U)
        << "the paused replica answered";
    EXPECT_EQ(counter->count("replica", "served"), 1);
}

} // namespace
} // namespace eventstore::test
