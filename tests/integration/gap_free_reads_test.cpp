// Incremental reads never skip an event: sequence numbers are taken at INSERT and become visible at
// COMMIT, so without care a reader sees N+1 before N commits and then skips N forever
// (docs/design/append-concurrency.md, "Guarantee 2").

#include <atomic>
#include <chrono>
#include <future>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <variant>

#include <gtest/gtest.h>

#include <eventstore/postgres.hpp>

#include "core/json.hpp"
#include "devsupport/pg_session.hpp"
#include "postgres/lock_keys.hpp"
#include "support/postgres_server.hpp"

namespace {

using namespace std::chrono_literals;
using eventstore::build_event_filter;
using eventstore::Filter;
using eventstore::P;
using eventstore::SequenceNumber;
using eventstore::devsupport::PgSession;

class GapFreeReads : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        m_table = std::string("gapfree_") + info->name();
        m_conninfo = eventstore::test::test_database();
        m_pool = eventstore::postgres::ConnectionPool::create(m_conninfo, {.max_connections = 12});
        m_store =
            eventstore::postgres::new_event_store_from_pool(m_pool, eventstore::postgres::with_table_name(m_table));
        m_store->migrate();
    }

    // A writer following the lock protocol, left open after its INSERT; returns its sequence number.
    SequenceNumber begin_open_writer(PgSession& raw, const std::string& type, const std::string& payload) {
        eventstore::detail::json::StringMembers members;
        EXPECT_TRUE(eventstore::detail::json::check_object(payload, &members).empty());
        std::vector<std::uint64_t> keys;
        eventstore::postgres::detail::add_event_keys(type, members, keys);
        const int pid = raw.backend_pid();
        raw.exec("BEGIN");
        for (const auto& l : eventstore::postgres::detail::plan_locks({}, keys, static_cast<std::uint32_t>(pid))) {
            raw.exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(l.key)});
        }
        const auto rows = raw.exec("INSERT INTO \"" + m_table +
                                       "\" (event_type, occurred_at, payload) VALUES ($1, now(), $2::jsonb) "
                                       "RETURNING sequence_number",
                                   {type, payload});
        return std::stoull(rows.value(0, 0));
    }

    static Filter since(const Filter& base, SequenceNumber n) {
        auto reopened = base.reopen_for_sequence_filtering();
        return std::get<eventstore::SequenceFilteringCapable>(reopened).with_sequence_number_higher_than(n).finalize();
    }

    std::string m_table;
    std::string m_conninfo;
    std::shared_ptr<eventstore::postgres::ConnectionPool> m_pool;
    std::unique_ptr<eventstore::postgres::EventStore> m_store;
};

eventstore::StorableEvent lent(const std::string& book, const std::string& reader) {
    return eventstore::build_storable_event_with_empty_metadata(
        "BookCopyLentToReader", std::chrono::system_clock::now(),
        R"({"BookID":")" + book + R"(","ReaderID":")" + reader + R"("})");
}

// The reader's boundary covers both writers; the writers' own boundaries do not touch each other, so
// the second writer commits while the first is still open.
const Filter book_or_reader =
    build_event_filter().matching().any_predicate_of(P("BookID", "b1"), P("ReaderID", "r1")).finalize();
const Filter second_writers_boundary = build_event_filter().matching().any_predicate_of(P("BookID", "b2")).finalize();

TEST_F(GapFreeReads, ReaderNeverReportsAMaximumAboveAnOpenWriter_Commit) {
    PgSession raw(m_conninfo);
    const SequenceNumber n = begin_open_writer(raw, "BookCopyLentToReader", R"({"BookID":"b1","ReaderID":"r2"})");
    // The second writer commits N+1 (a matching event for the reader) while N is still invisible.
    m_store->append(second_writers_boundary, 0, lent("b2", "r1"));
    const auto committed = PgSession(m_conninfo).exec("SELECT max(sequence_number) FROM \"" + m_table + "\"");
    ASSERT_GT(std::stoull(committed.value(0, 0)), n);

    auto reader = std::async(std::launch::async, [&] { return m_store->query(book_or_reader); });
    EXPECT_EQ(reader.wait_for(300ms), std::future_status::timeout) << "the reader must wait for the open writer";
    raw.exec("COMMIT");
    const auto result = reader.get();
    ASSERT_EQ(result.events.size(), 2U);
    EXPECT_EQ(result.events[0].sequence_number, n);
    EXPECT_EQ(result.max_sequence_number, result.events[1].sequence_number);
}

TEST_F(GapFreeReads, ReaderNeverReportsAMaximumAboveAnOpenWriter_Rollback) {
    PgSession raw(m_conninfo);
    const SequenceNumber n = begin_open_writer(raw, "BookCopyLentToReader", R"({"BookID":"b1","ReaderID":"r2"})");
    m_store->append(second_writers_boundary, 0, lent("b2", "r1"));
    auto reader = std::async(std::launch::async, [&] { return m_store->query(book_or_reader); });
    EXPECT_EQ(reader.wait_for(300ms), std::future_status::timeout);
    raw.exec("ROLLBACK");
    // A rolled-back number is a permanent gap: the reader goes on at once, and never waits for it again.
    ASSERT_EQ(reader.wait_for(5s), std::future_status::ready);
    const auto result = reader.get();
    ASSERT_EQ(result.events.size(), 1U);
    EXPECT_GT(result.max_sequence_number, n);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(m_store->query(since(book_or_reader, 0)).events.size(), 1U);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(GapFreeReads, ALongRunningUnrelatedTransactionDoesNotStallReaders) {
    PgSession other(m_conninfo);
    other.exec("CREATE TABLE IF NOT EXISTS unrelated (x int)");
    other.exec("BEGIN");
    other.exec("INSERT INTO unrelated VALUES (1)"); // holds a transaction id, like a long report or an idle session
    m_store->append(book_or_reader, 0, lent("b1", "r9"));
    const auto start = std::chrono::steady_clock::now();
    const auto result = m_store->query(book_or_reader);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_EQ(result.events.size(), 1U);
    other.exec("ROLLBACK");
}

TEST_F(GapFreeReads, IncrementalReaderSeesEveryEventExactlyOnce) {
    // Writers on disjoint boundaries, all matching the reader's type-only filter, with small random pauses.
    const Filter ticks = build_event_filter().matching().any_event_type_of("Tick").finalize();
    constexpr int writers = 6;
    constexpr int per_writer = 60;
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            std::mt19937 rng(static_cast<unsigned>(w));
            const std::string mine = "w" + std::to_string(w);
            const Filter boundary = build_event_filter().matching().any_predicate_of(P("Writer", mine)).finalize();
            SequenceNumber max = 0;
            for (int i = 0; i < per_writer; ++i) {
                try {
                    m_store->append(boundary, max,
                                    eventstore::build_storable_event_with_empty_metadata(
                                        "Tick", std::chrono::system_clock::now(),
                                        R"({"Writer":")" + mine + R"(","N":")" + std::to_string(i) + R"("})"));
                    max = m_store->query(boundary).max_sequence_number;
                } catch (const std::exception& e) {
                    ADD_FAILURE() << e.what();
                }
                std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
            }
            ++done;
        });
    }
    std::multiset<SequenceNumber> seen;
    SequenceNumber last = 0;
    int polls = 0;
    for (;;) {
        const bool finished = done.load() == writers;
        const auto batch = m_store->query(since(ticks, last));
        for (const auto& e : batch.events) {
            seen.insert(e.sequence_number);
        }
        if (batch.max_sequence_number > 0) {
            last = batch.max_sequence_number;
        }
        ++polls;
        if (finished) {
            break; // this poll started after every writer had returned
        }
    }
    for (auto& t : threads) {
        t.join();
    }
    const auto all = m_store->query(ticks).events;
    ASSERT_EQ(all.size(), static_cast<std::size_t>(writers * per_writer));
    std::multiset<SequenceNumber> expected;
    for (const auto& e : all) {
        expected.insert(e.sequence_number);
    }
    EXPECT_EQ(seen, expected) << "the incremental reader skipped or repeated events";
    EXPECT_GT(polls, 5) << "the reader should have polled while the writers ran";
}

} // namespace
