// Deterministic conflict tests: a raw libpq session plays a concurrent writer that has inserted a
// matching event and not yet committed; an append decided on the stale maximum runs meanwhile.
//
// The raw writer follows the store's lock protocol (docs/design/append-concurrency.md): it locks its
// event's writer keys before inserting, as every append does. A writer that skips the protocol is
// outside the guarantee, which the design document states.

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <eventstore/postgres.hpp>

#include "core/json.hpp"
#include "devsupport/pg_session.hpp"
#include "postgres/lock_keys.hpp"
#include "support/postgres_server.hpp"

namespace {

using namespace std::chrono_literals;
using eventstore::build_event_filter;
using eventstore::P;
using eventstore::devsupport::PgSession;

class AppendConflict : public ::testing::Test {
protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        m_table = std::string("conflict_") + info->name();
        m_conninfo = eventstore::test::test_database();
        m_pool = eventstore::postgres::ConnectionPool::create(m_conninfo);
        m_store =
            eventstore::postgres::new_event_store_from_pool(m_pool, eventstore::postgres::with_table_name(m_table));
        m_store->migrate();
    }

    // Begins a transaction in `raw` that, like an append, locks the writer keys of the event and inserts it.
    void begin_protocol_writer(PgSession& raw, const std::string& type, const std::string& payload) {
        eventstore::detail::json::StringMembers members;
        ASSERT_TRUE(eventstore::detail::json::check_object(payload, &members).empty());
        std::vector<std::uint64_t> keys;
        eventstore::postgres::detail::add_event_keys(type, members, keys);
        const int pid = raw.backend_pid();
        const auto locks = eventstore::postgres::detail::plan_locks({}, keys, static_cast<std::uint32_t>(pid));
        raw.exec("BEGIN");
        for (const auto& l : locks) {
            ASSERT_TRUE(l.exclusive);
            raw.exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(l.key)});
        }
        raw.exec("INSERT INTO \"" + m_table + "\" (event_type, occurred_at, payload) VALUES ($1, now(), $2::jsonb)",
                 {type, payload});
    }

    std::string m_table;
    std::string m_conninfo;
    std::shared_ptr<eventstore::postgres::ConnectionPool> m_pool;
    std::unique_ptr<eventstore::postgres::EventStore> m_store;
};

const std::string book = "0198f8b2-1c3e-7d6a-9a4b-0123456789ab";

eventstore::Filter book_filter() {
    return build_event_filter()
        .matching()
        .any_event_type_of("BookCopyAddedToCirculation", "BookCopyRemovedFromCirculation", "BookCopyLentToReader",
                           "BookCopyReturnedByReader")
        .and_any_predicate_of(P("BookID", book))
        .finalize();
}

eventstore::StorableEvent lent(const std::string& reader) {
    return eventstore::build_storable_event_with_empty_metadata(
        "BookCopyLentToReader", std::chrono::system_clock::now(),
        R"({"EventType":"BookCopyLentToReader","BookID":")" + book + R"(","ReaderID":")" + reader + R"("})");
}

std::string lent_payload(const std::string& reader) {
    return R"({"EventType":"BookCopyLentToReader","BookID":")" + book + R"(","ReaderID":")" + reader + R"("})";
}

TEST_F(AppendConflict, StaleAppendConflictsOnceTheOpenWriterCommits) {
    auto [events, max] = m_store->query(book_filter());
    ASSERT_EQ(max, 0U);
    PgSession raw(m_conninfo);
    begin_protocol_writer(raw, "BookCopyLentToReader", lent_payload("reader-raw"));

    auto pending = std::async(std::launch::async, [&] { m_store->append(book_filter(), max, lent("reader-store")); });
    // The append must wait for the open writer rather than decide on a world without its event.
    EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout);
    raw.exec("COMMIT");
    EXPECT_THROW(pending.get(), eventstore::ConcurrencyConflict);

    const auto after = m_store->query(book_filter());
    ASSERT_EQ(after.events.size(), 1U);
    EXPECT_NE(after.events[0].payload_json.find("reader-raw"), std::string::npos);
}

TEST_F(AppendConflict, StaleAppendSucceedsWhenTheOpenWriterRollsBack) {
    m_store->append(book_filter(), 0, lent("reader-0"));
    auto [events, max] = m_store->query(book_filter());
    ASSERT_EQ(events.size(), 1U);
    PgSession raw(m_conninfo);
    begin_protocol_writer(raw, "BookCopyLentToReader", lent_payload("reader-raw"));

    auto pending =
        std::async(std::launch::async, [&, m = max] { m_store->append(book_filter(), m, lent("reader-store")); });
    EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout);
    raw.exec("ROLLBACK");
    EXPECT_NO_THROW(pending.get());

    const auto after = m_store->query(book_filter());
    ASSERT_EQ(after.events.size(), 2U);
    EXPECT_NE(after.events[1].payload_json.find("reader-store"), std::string::npos);
    // The rolled-back writer left a gap in the numbering, which is allowed.
    EXPECT_GT(after.events[1].sequence_number, after.events[0].sequence_number + 1);
}

TEST_F(AppendConflict, QueryWaitsForAnOpenWriterOfItsBoundary) {
    m_store->append(book_filter(), 0, lent("reader-0"));
    PgSession raw(m_conninfo);
    begin_protocol_writer(raw, "BookCopyLentToReader", lent_payload("reader-raw"));
    // A second writer on the same boundary commits after the first took its number: a reader must not
    // report its number as the maximum while the first one's is still invisible.
    auto reader = std::async(std::launch::async, [&] { return m_store->query(book_filter()); });
    EXPECT_EQ(reader.wait_for(300ms), std::future_status::timeout);
    raw.exec("COMMIT");
    const auto result = reader.get();
    ASSERT_EQ(result.events.size(), 2U);
    EXPECT_EQ(result.max_sequence_number, result.events.back().sequence_number);
}

TEST_F(AppendConflict, WritersOnOtherBoundariesDoNotBlock) {
    PgSession raw(m_conninfo);
    const std::string other_book = "ffffffff-0000-0000-0000-000000000000";
    begin_protocol_writer(raw, "BookCopyLentToReader",
                          R"({"EventType":"BookCopyLentToReader","BookID":")" + other_book + R"(","ReaderID":"r"})");
    // Same event type, same EventType member, other book: neither the query nor the append waits.
    auto pending = std::async(std::launch::async, [&] {
        auto [events, max] = m_store->query(book_filter());
        m_store->append(book_filter(), max, lent("reader-store"));
    });
    EXPECT_EQ(pending.wait_for(5s), std::future_status::ready);
    EXPECT_NO_THROW(pending.get());
    raw.exec("ROLLBACK");
}

TEST_F(AppendConflict, AppendWithAStaleMaximumAfterACommittedWriteConflicts) {
    auto [events, max] = m_store->query(book_filter());
    m_store->append(book_filter(), max, lent("first"));
    EXPECT_THROW(m_store->append(book_filter(), max, lent("second")), eventstore::ConcurrencyConflict);
    std::vector<eventstore::StorableEvent> two{lent("a"), lent("b")};
    EXPECT_THROW(m_store->append(book_filter(), max, two), eventstore::ConcurrencyConflict);
    EXPECT_EQ(m_store->query(book_filter()).events.size(), 1U);
    // A maximum above the real one is stale too: the stream's version must be exactly what was read.
    auto current = m_store->query(book_filter()).max_sequence_number;
    EXPECT_THROW(m_store->append(book_filter(), current + 1000, lent("third")), eventstore::ConcurrencyConflict);
    EXPECT_NO_THROW(m_store->append(book_filter(), current, two));
    const auto after = m_store->query(book_filter());
    ASSERT_EQ(after.events.size(), 3U);
    // Stored in argument order.
    EXPECT_NE(after.events[1].payload_json.find("\"a\""), std::string::npos);
    EXPECT_NE(after.events[2].payload_json.find("\"b\""), std::string::npos);
    EXPECT_LT(after.events[1].sequence_number, after.events[2].sequence_number);
}

} // namespace
