// The libpqxx adapter beyond the shared suite (which runs through it too: the adapter matrix): what it
// leaves on the application's connection, calls inside the application's transactions, and the
// connections it cannot use.

#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <eventstore/postgres/pqxx.hpp>

#include "integration/fixture.hpp"
#include "integration/oracle.hpp"

namespace eventstore::test {
namespace {

using namespace std::chrono_literals;
using postgres::with_table_name;

class PqxxAdapter : public StoreTest {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        raw().exec("CREATE TABLE " + outbox() + " (id text PRIMARY KEY)");
    }

    // The application's own table, written in the same transactions as its appends.
    [[nodiscard]] std::string outbox() const { return "outbox_" + table(); }
    [[nodiscard]] std::int64_t count_outbox() { return count_rows(outbox()); }

    static Filter boundary(const std::string& id) {
        return build_event_filter().matching().any_event_type_of("Opened").and_any_predicate_of(P("id", id)).finalize();
    }
    static StorableEvent opened(const std::string& id) {
        return build_storable_event_with_empty_metadata("Opened", std::chrono::system_clock::now(),
                                                        R"({"id":")" + id + R"("})");
    }
};

TEST_F(PqxxAdapter, LeavesTheApplicationsConnectionAsItFoundIt) {
    pqxx::connection conn(conninfo());
    auto store = postgres::new_event_store_from_pqxx(conn, {with_table_name(table())});
    for (int i = 0; i < 3; ++i) {
        store->append(boundary("a"), store->query(boundary("a")).max_sequence_number, opened("a"));
    }
    const auto events = store->query(boundary("a")).events;
    ASSERT_EQ(events.size(), 3U);
    // Times come back as text, read in the ISO style the store sets for its own transactions.
    EXPECT_GT(events[0].occurred_at.time_since_epoch().count(), 0);
    pqxx::nontransaction check(conn);
    EXPECT_EQ(check.exec1("SELECT count(*) FROM pg_prepared_statements")[0].as<int>(), 0);
    EXPECT_EQ(check.exec1("SELECT current_setting('jit')")[0].as<std::string>(), "on");
    EXPECT_EQ(check.exec1("SELECT current_setting('max_parallel_workers_per_gather')")[0].as<std::string>(), "2");
    EXPECT_EQ(check.exec1("SELECT now() = statement_timestamp()")[0].as<std::string>(), "t")
        << "a transaction of the store's is still open";
}

TEST_F(PqxxAdapter, AnAppendCommitsOrAbortsWithTheApplicationsTransaction) {
    pqxx::connection conn(conninfo());
    {
        pqxx::work work(conn);
        auto store = postgres::new_event_store_from_pqxx(work, {with_table_name(table())});
        store->append(boundary("b"), 0, opened("b"));
        work.exec0("INSERT INTO " + outbox() + " VALUES ('b')");
        EXPECT_EQ(store->query(boundary("b")).events.size(), 1U);
        work.abort();
    }
    EXPECT_EQ(count_rows(), 0);
    EXPECT_EQ(count_outbox(), 0);
    {
        pqxx::work work(conn);
        auto store = postgres::new_event_store_from_pqxx(work, {with_table_name(table())});
        store->append(boundary("b"), 0, opened("b"));
        work.exec0("INSERT INTO " + outbox() + " VALUES ('b')");
        EXPECT_EQ(count_rows(), 0) << "visible to others before the application committed";
        work.commit();
    }
    EXPECT_EQ(count_rows(), 1);
    EXPECT_EQ(count_outbox(), 1);
}

TEST_F(PqxxAdapter, AConflictLeavesTheApplicationsTransactionUsable) {
    store().append(boundary("c"), 0, opened("c"));
    pqxx::connection conn(conninfo());
    pqxx::work work(conn);
    auto store = postgres::new_event_store_from_pqxx(work, {with_table_name(table())});
    EXPECT_THROW(store->append(boundary("c"), 0, opened("c")), ConcurrencyConflict);
    work.exec0("INSERT INTO " + outbox() + " VALUES ('c')");
    store->append(boundary("c"), store->query(boundary("c")).max_sequence_number, opened("c"));
    work.commit();
    EXPECT_EQ(count_rows(), 2);
    EXPECT_EQ(count_outbox(), 1);
}

TEST_F(PqxxAdapter, TheBoundaryStaysLockedUntilTheApplicationCommitsAndAReadDoesNotHoldIt) {
    pqxx::connection conn(conninfo());
    pqxx::work work(conn);
    auto store = postgres::new_event_store_from_pqxx(work, {with_table_name(table())});
    EXPECT_EQ(store->query(boundary("d")).max_sequence_number, 0U);
    // The read released its locks: another writer of the boundary goes ahead while the transaction runs.
    this->store().append(boundary("e"), 0, opened("e"));
    store->append(boundary("d"), 0, opened("d"));
    auto other = std::async(std::launch::async, [&] { this->store().append(boundary("d"), 0, opened("d")); });
    EXPECT_EQ(other.wait_for(300ms), std::future_status::timeout);
    work.commit();
    ASSERT_EQ(other.wait_for(10s), std::future_status::ready);
    EXPECT_THROW(other.get(), ConcurrencyConflict);
    EXPECT_EQ(count_rows(), 2);
}

TEST_F(PqxxAdapter, ATransactionThatIsNotReadCommittedIsRefused) {
    pqxx::connection conn(conninfo());
    pqxx::transaction<pqxx::isolation_level::repeatable_read> tx(conn);
    auto store = postgres::new_event_store_from_pqxx(tx, {with_table_name(table())});
    const auto error = thrown_error([&] { store->append(boundary("f"), 0, opened("f")); });
    ASSERT_TRUE(error);
    EXPECT_NE(std::string(error->what()).find("not READ COMMITTED"), std::string::npos) << error->what();
    tx.abort();
    EXPECT_EQ(count_rows(), 0);
}

TEST_F(PqxxAdapter, CallsWithTransactionsOfTheirOwnRefuseToJoinAndLeaveItUsable) {
    pqxx::connection conn(conninfo());
    pqxx::work work(conn);
    auto store = postgres::new_event_store_from_pqxx(work, {with_table_name(table())});
    const std::vector<StorableEvent> events{opened("g")};
    const auto error = thrown_error([&] { store->import_events(Context(), events); });
    ASSERT_TRUE(error);
    EXPECT_NE(std::string(error->what()).find("cannot run inside"), std::string::npos) << error->what();
    store->append(boundary("g"), 0, opened("g"));
    work.commit();
    EXPECT_EQ(count_rows(), 1);
}

TEST_F(PqxxAdapter, AnAbortedTransactionIsNamed) {
    pqxx::connection conn(conninfo());
    pqxx::work work(conn);
    auto store = postgres::new_event_store_from_pqxx(work, {with_table_name(table())});
    EXPECT_ANY_THROW(work.exec("SELECT 1/0"));
    const auto error = thrown_error([&] { (void)store->query(boundary("h")); });
    ASSERT_TRUE(error);
    EXPECT_NE(std::string(error->what()).find("transaction has ended"), std::string::npos) << error->what();
    // Nothing ran outside the transaction either.
    const auto append_error = thrown_error([&] { store->append(boundary("h"), 0, opened("h")); });
    ASSERT_TRUE(append_error);
    EXPECT_EQ(count_rows(), 0);
}

TEST_F(PqxxAdapter, AConnectionWithTheApplicationsTransactionOpenIsRefusedWithWhatToDo) {
    pqxx::connection conn(conninfo());
    auto store = postgres::new_event_store_from_pqxx(conn, {with_table_name(table())});
    pqxx::work work(conn);
    const auto error = thrown_error([&] { (void)store->query(boundary("i")); });
    ASSERT_TRUE(error);
    EXPECT_NE(std::string(error->what()).find("make the store over that transaction"), std::string::npos)
        << error->what();
    work.abort();
    EXPECT_NO_THROW((void)store->query(boundary("i")));
}

TEST_F(PqxxAdapter, ALazyOrDisconnectedConnectionIsOpenedWhenACallNeedsIt) {
    pqxx::lazyconnection lazy(conninfo());
    auto store = postgres::new_event_store_from_pqxx(lazy, {with_table_name(table())});
    EXPECT_FALSE(lazy.is_open());
    store->append(boundary("k"), 0, opened("k"));
    lazy.disconnect();
    EXPECT_EQ(store->query(boundary("k")).events.size(), 1U);
}

TEST_F(PqxxAdapter, ALostConnectionFailsTheCallAndTheNextOneReconnects) {
    pqxx::connection conn(conninfo());
    auto store = postgres::new_event_store_from_pqxx(conn, {with_table_name(table())});
    store->append(boundary("l"), 0, opened("l"));
    raw().exec("SELECT pg_terminate_backend(" + std::to_string(conn.backendpid()) + ")");
    const auto error = thrown_error([&] { store->append(boundary("l"), 1, opened("l")); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(error->is(Errc::database_connection_failed)) << error->what();
    EXPECT_EQ(count_rows(), 1);
    store->append(boundary("l"), 1, opened("l"));
    EXPECT_EQ(count_rows(), 2);
}

TEST_F(PqxxAdapter, ADeadlineCancelsTheStatementAndTheConnectionStaysUsable) {
    auto blocker = std::make_unique<PgSession>(conninfo());
    blocker->exec("BEGIN");
    blocker->exec("LOCK TABLE " + quote_identifier(table()) + " IN ACCESS EXCLUSIVE MODE");
    pqxx::connection conn(conninfo());
    auto store = postgres::new_event_store_from_pqxx(conn, {with_table_name(table())});
    const auto started = std::chrono::steady_clock::now();
    const auto error =
        thrown_error([&] { store->append(Context().with_timeout(200ms), boundary("j"), 0, opened("j")); });
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(error);
    EXPECT_TRUE(error->is(Errc::deadline_exceeded)) << error->what();
    EXPECT_LT(took, 200ms + 150ms);
    blocker->exec("ROLLBACK");
    // The cancel request is spent: the connection's next statements run undisturbed.
    for (int i = 0; i < 20; ++i) {
        pqxx::nontransaction check(conn);
        EXPECT_EQ(check.exec1("SELECT 1 FROM pg_sleep(0.005)")[0].as<int>(), 1);
    }
    store->append(boundary("j"), 0, opened("j"));
    EXPECT_EQ(count_rows(), 1);
}

// One thread of the oracle inside application transactions: a connection of its own, every cycle
// (query, append, the application's row for the append) in one pqxx::work through a store made over
// it, one cycle in five aborted after a successful append.
class WorkWorker final : public oracle::Worker {
public:
    WorkWorker(const std::string& conninfo, std::string table, std::string outbox, int thread)
        : m_connection(conninfo), m_table(std::move(table)), m_outbox(std::move(outbox)),
          m_rng(static_cast<unsigned>(thread)) {}

    EventStore& store() override { return *m_store; }
    void begin() override {
        m_store.reset();
        m_work.reset();
        m_work.emplace(m_connection);
        m_store = postgres::new_event_store_from_pqxx(*m_work, {with_table_name(m_table)});
    }
    bool end(const std::string& id, bool appended) override {
        if (!appended || m_rng() % 5 == 0) {
            m_work->abort();
            rolled_back += appended ? 1 : 0;
            return false;
        }
        m_work->exec_params0("INSERT INTO " + m_outbox + " VALUES ($1)", id);
        m_work->commit();
        return true;
    }

    static inline std::atomic<int> rolled_back{0};

private:
    pqxx::connection m_connection;
    std::string m_table;
    std::string m_outbox;
    std::minstd_rand m_rng;
    std::optional<pqxx::work> m_work;
    std::unique_ptr<postgres::EventStore> m_store; // over m_work: destroyed first
};

TEST_F(PqxxAdapter, TheOracleHoldsInsideApplicationTransactions) {
    std::atomic<int> conflicts{0};
    std::atomic<int> failures{0};
    const oracle::Round records = oracle::run_round(
        [&](int thread) { return std::make_unique<WorkWorker>(conninfo(), table(), outbox(), thread); }, 0, conflicts,
        failures);
    ASSERT_EQ(failures.load(), 0);
    std::set<std::string> rows;
    const PgResult outbox_rows = raw().exec("SELECT id FROM " + outbox());
    for (int r = 0; r < outbox_rows.rows(); ++r) {
        rows.insert(outbox_rows.value(r, 0));
    }
    int successes = 0;
    EXPECT_EQ(oracle::check_transaction_round(records, store(), rows, successes), 0);
    std::cout << "oracle in libpqxx transactions: " << records.appends.size() << " cycles, " << successes
              << " committed, " << WorkWorker::rolled_back.load() << " aborted after appending, " << conflicts.load()
              << " conflicts\n";
    EXPECT_GT(successes, static_cast<int>(records.appends.size()) / 10);
    EXPECT_GT(conflicts.load(), 0);
    EXPECT_GT(WorkWorker::rolled_back.load(), 0);
}

} // namespace
} // namespace eventstore::test
