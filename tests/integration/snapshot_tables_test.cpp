// Which snapshot table a store uses when none is given: "snapshots" beside the Go library's "events"
// table, so that both libraries share snapshots, and a table of its own beside any other events
// table, so that stores on different events tables never see each other's snapshots.

#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "integration/fixture.hpp"

namespace {

using eventstore::build_snapshot;
using eventstore::Filter;
using eventstore::postgres::ConnectionPool;
using eventstore::postgres::new_event_store_from_pool;
using eventstore::postgres::with_table_name;
using namespace eventstore::test;

const std::string book = make_uuid(0x5AFE);

// Each test gets a database of its own, so that the default names "events" and "snapshots" are free.
class SnapshotTablesTest : public DatabaseTest {
protected:
    [[nodiscard]] std::string database() override { return postgres().fresh_database("snapshot_tables"); }

    bool table_exists(const std::string& sql_name) {
        return raw().exec("SELECT to_regclass($1) IS NOT NULL", {sql_name}).value(0, 0) == "t";
    }
};

// The same projection type and filter on two events tables: each store sees its own snapshot only.
TEST_F(SnapshotTablesTest, StoresOnDifferentEventsTablesDoNotShareSnapshots) {
    auto pool = ConnectionPool::create(conninfo());
    auto library = new_event_store_from_pool(pool);
    auto orders = new_event_store_from_pool(pool, with_table_name("orders"));
    auto archive = new_event_store_from_pool(pool, with_table_name("archive.events"));
    for (auto* s : {library.get(), orders.get(), archive.get()}) {
        s->migrate();
    }
    EXPECT_TRUE(table_exists("orders_snapshots"));
    EXPECT_TRUE(table_exists("archive.snapshots"));

    const Filter f = book_filter(book);
    library->save_snapshot(build_snapshot("BookState", f.hash(), 3, R"({"from":"events"})"));
    EXPECT_FALSE(orders->load_snapshot("BookState", f).has_value()) << orders->snapshot_table_name();
    EXPECT_FALSE(archive->load_snapshot("BookState", f).has_value()) << archive->snapshot_table_name();

    orders->save_snapshot(build_snapshot("BookState", f.hash(), 7, R"({"from":"orders"})"));
    archive->save_snapshot(build_snapshot("BookState", f.hash(), 9, R"({"from":"archive"})"));
    const auto from_library = library->load_snapshot("BookState", f);
    const auto from_orders = orders->load_snapshot("BookState", f);
    const auto from_archive = archive->load_snapshot("BookState", f);
    ASSERT_TRUE(from_library.has_value());
    ASSERT_TRUE(from_orders.has_value());
    ASSERT_TRUE(from_archive.has_value());
    EXPECT_EQ(from_library->sequence_number, 3U);
    EXPECT_TRUE(json_equal(from_library->data_json, R"({"from":"events"})"));
    EXPECT_EQ(from_orders->sequence_number, 7U);
    EXPECT_TRUE(json_equal(from_orders->data_json, R"({"from":"orders"})"));
    EXPECT_EQ(from_archive->sequence_number, 9U);

    // A delete stays on its own table too.
    orders->delete_snapshot("BookState", f);
    EXPECT_FALSE(orders->load_snapshot("BookState", f).has_value());
    EXPECT_TRUE(library->load_snapshot("BookState", f).has_value());
    EXPECT_EQ(count_rows("snapshots"), 1);
    EXPECT_EQ(count_rows("orders_snapshots"), 0);
}

// The default store keeps the Go library's table: a snapshot the Go library saves (its own statement,
// on its hard-coded "snapshots", its values as parameters here) is found, and one saved here is where the Go library
// looks.
TEST_F(SnapshotTablesTest, TheDefaultStoreSharesTheGoLibrarysSnapshotsTable) {
    auto store = new_event_store_from_pool(ConnectionPool::create(conninfo()));
    EXPECT_EQ(store->snapshot_table_name(), "\"snapshots\"");
    store->migrate();
    const Filter f = book_filter(book);
    raw().exec("INSERT INTO snapshots (\"created_at\",\"filter_hash\",\"projection_type\",\"sequence_number\","
               "\"snapshot_data\") VALUES (NOW(), $1, 'FromGo', 5, '{\"by\": \"go\"}'::jsonb)",
               {f.hash()});
    const auto loaded = store->load_snapshot("FromGo", f);
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->sequence_number, 5U);

    store->save_snapshot(build_snapshot("FromCpp", f.hash(), 6, R"({"by":"cpp"})"));
    EXPECT_EQ(raw()
                  .exec("SELECT sequence_number FROM snapshots WHERE filter_hash = $1 AND projection_type = 'FromCpp'",
                        {f.hash()})
                  .value(0, 0),
              "6");
}

} // namespace
