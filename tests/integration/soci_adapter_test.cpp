// The SOCI adapter beyond the shared suite (which runs through it too: the adapter matrix): what it
// leaves on the application's sessions, calls inside the application's transactions, and the
// sessions it cannot use.

#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <soci/connection-pool.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/session.h>
#include <soci/transaction.h>

#include <eventstore/postgres/soci.hpp>

#include "integration/fixture.hpp"
#include "integration/oracle.hpp"

namespace eventstore::test {
namespace {

using namespace std::chrono_literals;
using postgres::with_table_name;

class SociAdapter : public StoreTest {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        raw().exec("CREATE TABLE " + outbox() + " (id text PRIMARY KEY)");
    }

    // The application's own table, written in the same transactions as its appends.
    [[nodiscard]] std::string outbox() const { return "outbox_" + table(); }

    [[nodiscard]] std::unique_ptr<soci::session> open_session() const {
        return std::make_unique<soci::session>(soci::postgresql, conninfo());
    }

    [[nodiscard]] std::int64_t count_outbox() { return count_rows(outbox()); }

    static Filter boundary(const std::string& id) {
        return build_event_filter().matching().any_event_type_of("Opened").and_any_predicate_of(P("id", id)).finalize();
    }
    static StorableEvent opened(const std::string& id) {
        return build_storable_event_with_empty_metadata("Opened", std::chrono::system_clock::now(),
                                                        R"({"id":")" + id + R"("})");
    }
};

PGconn* pg_connection(soci::session& sql) {
    return static_cast<soci::postgresql_session_backend*>(sql.get_backend())->conn_;
}

TEST_F(SociAdapter, LeavesTheApplicationsSessionsAsItFoundThem) {
    soci::connection_pool pool(2);
    for (std::size_t i = 0; i < 2; ++i) {
        pool.at(i).open(soci::postgresql, conninfo());
    }
    auto store = postgres::new_event_store_from_soci(pool, {with_table_name(table())});
    for (int i = 0; i < 3; ++i) {
        store->append(boundary("a"), store->query(boundary("a")).max_sequence_number, opened("a"));
    }
    EXPECT_EQ(store->query(boundary("a")).events.size(), 3U);
    int streamed = 0;
    store->query_stream(Context(), boundary("a"), [&](StorableEvent&&) { ++streamed; });
    EXPECT_EQ(streamed, 3);
    int prepared_in_all = 0;
    for (std::size_t i = 0; i < 2; ++i) {
        soci::session& sql = pool.at(i);
        PGconn* conn = pg_connection(sql);
        EXPECT_EQ(PQpipelineStatus(conn), PQ_PIPELINE_OFF);
        EXPECT_EQ(PQtransactionStatus(conn), PQTRANS_IDLE);
        EXPECT_EQ(PQisnonblocking(conn), 0);
        // No session setting of the store's outlives its calls; its prepared statements stay, a few.
        int prepared = -1;
        sql << "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'eventstore%'", soci::into(prepared);
        EXPECT_LT(prepared, 20);
        prepared_in_all += prepared;
        std::string jit;
        std::string workers;
        std::string plan_cache_mode;
        sql << "SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather'), "
               "current_setting('plan_cache_mode')",
            soci::into(jit), soci::into(workers), soci::into(plan_cache_mode);
        EXPECT_EQ(jit, "on");
        EXPECT_EQ(workers, "2");
        EXPECT_EQ(plan_cache_mode, "auto");
    }
    EXPECT_GT(prepared_in_all, 0) << "the store prepares its frequent statements, as on its own connections";
}

TEST_F(SociAdapter, StatementsTheApplicationDeallocatedOrASessionDefaultIsolationAreMended) {
    soci::connection_pool pool(1);
    pool.at(0).open(soci::postgresql, conninfo());
    auto store = postgres::new_event_store_from_soci(pool, {with_table_name(table())});
    store->append(boundary("m"), 0, opened("m"));
    EXPECT_EQ(store->query(boundary("m")).events.size(), 1U);
    // The application drops every prepared statement of the session (its own and the store's).
    pool.at(0) << "DEALLOCATE ALL";
    EXPECT_EQ(store->query(boundary("m")).events.size(), 1U);
    store->append(boundary("m"), 1, opened("m"));
    // A session whose transactions default to REPEATABLE READ: the store's calls still run READ
    // COMMITTED, in transactions of their own.
    pool.at(0) << "SET default_transaction_isolation = 'repeatable read'";
    store->append(boundary("m"), 2, opened("m"));
    EXPECT_EQ(store->query(boundary("m")).max_sequence_number, 3U);
    EXPECT_THROW(store->append(boundary("m"), 2, opened("m")), ConcurrencyConflict);
    std::string isolation;
    pool.at(0) << "SELECT current_setting('default_transaction_isolation')", soci::into(isolation);
    EXPECT_EQ(isolation, "repeatable read");
    EXPECT_EQ(count_rows(), 3);
}

TEST_F(SociAdapter, AnAppendCommitsOrRollsBackWithTheApplicationsTransaction) {
    auto sql = open_session();
    auto store = postgres::new_event_store_from_soci(*sql, {with_table_name(table())});
    {
        soci::transaction tx(*sql);
        store->append(boundary("b"), 0, opened("b"));
        *sql << "INSERT INTO " + outbox() + " VALUES ('b')";
        // Inside the transaction, its own reads see the append.
        EXPECT_EQ(store->query(boundary("b")).events.size(), 1U);
        tx.rollback();
    }
    EXPECT_EQ(count_rows(), 0);
    EXPECT_EQ(count_outbox(), 0);
    {
        soci::transaction tx(*sql);
        store->append(boundary("b"), 0, opened("b"));
        *sql << "INSERT INTO " + outbox() + " VALUES ('b')";
        EXPECT_EQ(count_rows(), 0) << "visible to others before the application committed";
        tx.commit();
    }
    EXPECT_EQ(count_rows(), 1);
    EXPECT_EQ(count_outbox(), 1);
    // Outside a transaction, each call commits by itself.
    store->append(boundary("b"), store->query(boundary("b")).max_sequence_number, opened("b"));
    EXPECT_EQ(count_rows(), 2);
}

TEST_F(SociAdapter, AConflictLeavesTheApplicationsTransactionUsable) {
    store().append(boundary("c"), 0, opened("c"));
    auto sql = open_session();
    auto store = postgres::new_event_store_from_soci(*sql, {with_table_name(table())});
    soci::transaction tx(*sql);
    EXPECT_THROW(store->append(boundary("c"), 0, opened("c")), ConcurrencyConflict);
    *sql << "INSERT INTO " + outbox() + " VALUES ('c')";
    store->append(boundary("c"), store->query(boundary("c")).max_sequence_number, opened("c"));
    tx.commit();
    EXPECT_EQ(count_rows(), 2);
    EXPECT_EQ(count_outbox(), 1);
}

TEST_F(SociAdapter, TheBoundaryStaysLockedUntilTheApplicationCommits) {
    auto sql = open_session();
    auto store = postgres::new_event_store_from_soci(*sql, {with_table_name(table())});
    soci::transaction tx(*sql);
    store->append(boundary("d"), 0, opened("d"));
    // Another writer that read the same (empty) boundary must wait for the transaction, then conflict:
    // had it not waited, it would have appended on a stale maximum once the first commits.
    auto other = std::async(std::launch::async, [&] { this->store().append(boundary("d"), 0, opened("d")); });
    EXPECT_EQ(other.wait_for(300ms), std::future_status::timeout);
    tx.commit();
    ASSERT_EQ(other.wait_for(10s), std::future_status::ready);
    EXPECT_THROW(other.get(), ConcurrencyConflict);
    EXPECT_EQ(count_rows(), 1);
}

TEST_F(SociAdapter, AReadInsideTheTransactionDoesNotHoldItsBoundary) {
    auto sql = open_session();
    auto store = postgres::new_event_store_from_soci(*sql, {with_table_name(table())});
    soci::transaction tx(*sql);
    EXPECT_EQ(store->query(boundary("r")).max_sequence_number, 0U);
    // A writer of the boundary goes ahead while the transaction is still open.
    auto other = std::async(std::launch::async, [&] { this->store().append(boundary("r"), 0, opened("r")); });
    ASSERT_EQ(other.wait_for(5s), std::future_status::ready);
    EXPECT_NO_THROW(other.get());
    // The transaction's append, decided on what it read, conflicts.
    EXPECT_THROW(store->append(boundary("r"), 0, opened("r")), ConcurrencyConflict);
    tx.commit();
    EXPECT_EQ(count_rows(), 1);
}

TEST_F(SociAdapter, ATransactionThatIsNotReadCommittedIsRefused) {
    auto sql = open_session();
    auto store = postgres::new_event_store_from_soci(*sql, {with_table_name(table())});
    *sql << "BEGIN ISOLATION LEVEL REPEATABLE READ";
    const auto error = thrown_error([&] { store->append(boundary("e"), 0, opened("e")); });
    ASSERT_TRUE(error);
    EXPECT_NE(std::string(error->what()).find("not READ COMMITTED"), std::string::npos) << error->what();
    *sql << "ROLLBACK";
    EXPECT_EQ(count_rows(), 0);
}

TEST_F(SociAdapter, CallsWithTransactionsOfTheirOwnRefuseToJoinAndLeaveItUsable) {
    auto sql = open_session();
    auto store = postgres::new_event_store_from_soci(*sql, {with_table_name(table())});
    soci::transaction tx(*sql);
    const std::vector<StorableEvent> events{opened("f")};
    const auto error = thrown_error([&] { store->import_events(Context(), events); });
    ASSERT_TRUE(error);
    EXPECT_NE(std::string(error->what()).find("cannot run inside"), std::string::npos) << error->what();
    store->append(boundary("f"), 0, opened("f"));
    tx.commit();
    EXPECT_EQ(count_rows(), 1);
}

TEST_F(SociAdapter, AnAbortedTransactionIsNamed) {
    auto sql = open_session();
    auto store = postgres::new_event_store_from_soci(*sql, {with_table_name(table())});
    soci::transaction tx(*sql);
    EXPECT_ANY_THROW(*sql << "SELECT 1/0");
    const auto error = thrown_error([&] { (void)store->query(boundary("g")); });
    ASSERT_TRUE(error);
    EXPECT_NE(std::string(error->what()).find("roll it back"), std::string::npos) << error->what();
    tx.rollback();
    EXPECT_NO_THROW((void)store->query(boundary("g")));
}

TEST_F(SociAdapter, ASessionThatIsNotOpenIsANilConnection) {
    soci::session closed;
    const auto error = thrown_error([&] { (void)postgres::new_event_store_from_soci(closed); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(error->is(Errc::nil_database_connection)) << error->what();
}

// On a table that already holds events, migrate() builds the indexes a later version added with
// CREATE [UNIQUE] INDEX CONCURRENTLY, each alone in its pipeline (no per-transaction settings before it).
TEST_F(SociAdapter, MigrateBuildsIndexesConcurrentlyOnATableThatHoldsEvents) {
    const std::string go_table = "go_" + table();
    raw().exec("CREATE TABLE " + go_table +
               " (sequence_number BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL, event_type TEXT NOT NULL, "
               "payload JSONB NOT NULL, metadata JSONB DEFAULT '{}')");
    raw().exec("INSERT INTO " + go_table +
               R"( (occurred_at, event_type, payload) VALUES (now(), 'Opened', '{"id": "g"}'))");
    soci::connection_pool pool(1);
    pool.at(0).open(soci::postgresql, conninfo());
    auto store = postgres::new_event_store_from_soci(pool, {with_table_name(go_table)});
    ASSERT_NO_THROW(store->migrate());
    EXPECT_EQ(raw().scalar("SELECT count(*) FROM pg_index WHERE indrelid = '" + go_table +
                           "'::regclass AND "
                           "indisvalid AND pg_get_indexdef(indexrelid) LIKE '%event_id%'"),
              "1");
    EXPECT_EQ(store->query(boundary("g")).events.size(), 1U);
}

TEST_F(SociAdapter, APooledSessionWhoseConnectionWasLostIsReconnected) {
    soci::connection_pool pool(1);
    pool.at(0).open(soci::postgresql, conninfo());
    auto store = postgres::new_event_store_from_soci(pool, {with_table_name(table())});
    store->append(boundary("h"), 0, opened("h"));
    const int pid = PQbackendPID(pg_connection(pool.at(0)));
    raw().exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
    // The read finds the session gone before sending anything, and runs again on it reconnected.
    EXPECT_EQ(store->query(boundary("h")).events.size(), 1U);
    EXPECT_NE(PQbackendPID(pg_connection(pool.at(0))), pid);
    store->append(boundary("h"), 1, opened("h"));
    EXPECT_EQ(count_rows(), 2);
}

TEST_F(SociAdapter, ADeadlineInsideTheApplicationsTransactionEndsTheCallAndTheSessionStaysUsable) {
    auto blocker = std::make_unique<PgSession>(conninfo());
    blocker->exec("BEGIN");
    blocker->exec("LOCK TABLE " + quote_identifier(table()) + " IN ACCESS EXCLUSIVE MODE");
    auto sql = open_session();
    auto store = postgres::new_event_store_from_soci(*sql, {with_table_name(table())});
    {
        soci::transaction tx(*sql);
        const auto error =
            thrown_error([&] { store->append(Context().with_timeout(200ms), boundary("i"), 0, opened("i")); });
        ASSERT_TRUE(error);
        EXPECT_TRUE(error->is(Errc::deadline_exceeded)) << error->what();
        EXPECT_EQ(PQtransactionStatus(pg_connection(*sql)), PQTRANS_INERROR);
        tx.rollback();
    }
    blocker->exec("ROLLBACK");
    // The cancel request is spent: the session's next statements run undisturbed.
    for (int i = 0; i < 20; ++i) {
        int one = 0;
        *sql << "SELECT 1 FROM pg_sleep(0.005)", soci::into(one);
        EXPECT_EQ(one, 1);
    }
    store->append(boundary("i"), 0, opened("i"));
    EXPECT_EQ(count_rows(), 1);
}

// One thread of the oracle inside application transactions: a session of its own, every cycle (query,
// append, the application's row for the append) in one soci::transaction, one cycle in five rolled back
// after a successful append.
class TransactionWorker final : public oracle::Worker {
public:
    TransactionWorker(const std::string& conninfo, const std::string& table, std::string outbox, int thread)
        : m_session(soci::postgresql, conninfo),
          m_store(postgres::new_event_store_from_soci(m_session, {with_table_name(table)})),
          m_outbox(std::move(outbox)), m_rng(static_cast<unsigned>(thread)) {}

    EventStore& store() override { return *m_store; }
    void begin() override { m_tx.emplace(m_session); }
    bool end(const std::string& id, bool appended) override {
        if (!appended || m_rng() % 5 == 0) {
            m_tx->rollback();
            rolled_back += appended ? 1 : 0;
            return false;
        }
        std::string row = id;
        m_session << "INSERT INTO " + m_outbox + " VALUES (:id)", soci::use(row);
        m_tx->commit();
        return true;
    }

    static inline std::atomic<int> rolled_back{0};

private:
    soci::session m_session;
    std::unique_ptr<postgres::EventStore> m_store;
    std::string m_outbox;
    std::minstd_rand m_rng;
    std::optional<soci::transaction> m_tx;
};

TEST_F(SociAdapter, TheOracleHoldsInsideApplicationTransactions) {
    std::atomic<int> conflicts{0};
    std::atomic<int> failures{0};
    const oracle::Round records = oracle::run_round(
        [&](int thread) { return std::make_unique<TransactionWorker>(conninfo(), table(), outbox(), thread); }, 0,
        conflicts, failures);
    ASSERT_EQ(failures.load(), 0);
    std::set<std::string> rows;
    const PgResult outbox_rows = raw().exec("SELECT id FROM " + outbox());
    for (int r = 0; r < outbox_rows.rows(); ++r) {
        rows.insert(outbox_rows.value(r, 0));
    }
    int successes = 0;
    EXPECT_EQ(oracle::check_transaction_round(records, store(), rows, successes), 0);
    std::cout << "oracle in SOCI transactions: " << records.appends.size() << " cycles, " << successes << " committed, "
              << TransactionWorker::rolled_back.load() << " rolled back after appending, " << conflicts.load()
              << " conflicts\n";
    EXPECT_GT(successes, static_cast<int>(records.appends.size()) / 10);
    EXPECT_GT(conflicts.load(), 0);
    EXPECT_GT(TransactionWorker::rolled_back.load(), 0);
}

} // namespace
} // namespace eventstore::test
