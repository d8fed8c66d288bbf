// Eventual reads from a real streaming replica (a hot standby of the test cluster), strong reads and
// writes on the primary. Starting a replica takes a cluster of this binary's own (OWN_SERVER in
// tests/CMakeLists.txt): the cluster shared by a ctest run cannot be given one.

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "integration/fixture.hpp"

namespace {

using eventstore::build_snapshot;
using eventstore::Filter;
using eventstore::QueryResult;
using eventstore::StorableEvent;
using eventstore::with_eventual_consistency;
using eventstore::with_strong_consistency;
using eventstore::postgres::ConnectionPool;
using eventstore::postgres::new_event_store_from_pool_and_replica;
using eventstore::postgres::with_snapshot_table_name;
using eventstore::postgres::with_table_name;
using namespace eventstore::test;

const std::string book = make_uuid(0xF00D);
const std::string reader = make_uuid(0xBEEF);

// A database of its own, so that its replica holds nothing else.
class ReplicaTest : public DatabaseTest {
protected:
    [[nodiscard]] std::string database() override { return postgres().fresh_database("replica"); }
};

TEST_F(ReplicaTest, RealReplicaServesEventualAndStrongReads) {
    const std::string& primary_info = conninfo();
    const std::string dbname = PgSession(primary_info).scalar("SELECT current_database()").value_or("");
    ASSERT_FALSE(dbname.empty());
    const std::string replica_info = postgres().start_replica(dbname);
    ASSERT_TRUE(eventually([&] {
        return PgSession(replica_info).scalar("SELECT pg_is_in_recovery()") == std::optional<std::string>("t");
    }));

    auto primary = ConnectionPool::create(primary_info);
    auto replica = ConnectionPool::create(replica_info);
    auto s = new_event_store_from_pool_and_replica(primary, replica, with_table_name("events_r"),
                                                   with_snapshot_table_name("snapshots_r"));
    s->migrate();
    const Filter f = book_filter(book);
    const StorableEvent e = added_to_circulation(book, at(1));
    s->append(with_strong_consistency(), f, 0, e);

    // Strong reads see the write at once.
    const QueryResult strong = s->query(with_strong_consistency(), f);
    ASSERT_EQ(strong.events.size(), 1U);
    EXPECT_TRUE(same_event(strong.events.front(), e, 1));
    EXPECT_EQ(strong.max_sequence_number, 1U);
    const QueryResult by_default = s->query(f);
    EXPECT_EQ(by_default.max_sequence_number, 1U);

    // Eventual reads see it once the replica has caught up.
    QueryResult eventual;
    EXPECT_TRUE(eventually([&] {
        eventual = s->query(with_eventual_consistency(), f);
        return !eventual.events.empty();
    }));
    ASSERT_EQ(eventual.events.size(), 1U);
    EXPECT_TRUE(same_event(eventual.events.front(), e, 1));
    EXPECT_EQ(eventual.max_sequence_number, 1U);

    // The replica really holds the data (so an eventual read may be served from it).
    EXPECT_TRUE(eventually([&] {
        return PgSession(replica_info).scalar("SELECT count(*) FROM events_r") == std::optional<std::string>("1");
    }));

    s->save_snapshot(build_snapshot("BookState", f.hash(), 1, R"({"n":1})"));
    ASSERT_TRUE(s->load_snapshot(with_strong_consistency(), "BookState", f).has_value());
    EXPECT_TRUE(eventually([&] { return s->load_snapshot(with_eventual_consistency(), "BookState", f).has_value(); }));

    // A conditional append against the primary still detects conflicts.
    EXPECT_THROW(s->append(f, 0, e), eventstore::ConcurrencyConflict);
    EXPECT_NO_THROW(s->append(f, 1, lent_to_reader(book, reader, at(2))));
    EXPECT_EQ(s->query(with_strong_consistency(), f).max_sequence_number, 2U);
}

} // namespace
