// The store's tables without a database: the default snapshot table, and the pairs of names refused
// as possibly one table. On a real server: integration/factory_test.cpp, snapshot_tables_test.cpp.

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/error.hpp>

#include "postgres/schema.hpp"
#include "postgres/table_name.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::postgres::detail;

std::optional<Error> error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const Error& e) {
        return e;
    }
    return std::nullopt;
}

TEST(DefaultSnapshotTable, IsTheGoLibrarysBesideEventsAndATableOfItsOwnOtherwise) {
    EXPECT_EQ(Schema("events", std::nullopt).snapshots().quoted, "\"snapshots\"");
    EXPECT_EQ(Schema("app.events", std::nullopt).snapshots().quoted, "\"app\".\"snapshots\"");
    EXPECT_EQ(Schema("orders", std::nullopt).snapshots().quoted, "\"orders_snapshots\"");
    const Schema qualified("app.orders", std::nullopt);
    EXPECT_EQ(qualified.snapshots().schema, "app");
    EXPECT_EQ(qualified.snapshots().table, "orders_snapshots");
    EXPECT_EQ(qualified.snapshots().quoted, "\"app\".\"orders_snapshots\"");
    EXPECT_EQ(Schema("snapshots", std::nullopt).snapshots().table, "snapshots_snapshots");
    // Quotes are doubled in the quoted form, as for any name.
    EXPECT_EQ(Schema("a\"b", std::nullopt).snapshots().quoted, "\"a\"\"b_snapshots\"");
}

TEST(DefaultSnapshotTable, ALongNameIsFittedLikeAnIndexName) {
    const std::string events(60, 'e');
    const TableName snapshots = Schema(events, std::nullopt).snapshots();
    EXPECT_EQ(snapshots.table.size(), 63U);
    EXPECT_EQ(snapshots.table, fitted_identifier(events + "_snapshots"));
    EXPECT_EQ(snapshots.table.substr(0, 46), events.substr(0, 46));
    EXPECT_NE(Schema(std::string(59, 'e') + "f", std::nullopt).snapshots().table, snapshots.table);
    // The fitting of index names is the same function.
    EXPECT_EQ(derived_name(parse_table_name(events), "_payload_gin"),
              fitted_identifier("idx_" + events + "_payload_gin"));
    EXPECT_EQ(fitted_identifier("short"), "short");
}

TEST(SnapshotTableName, AnExplicitNameWinsAndAnEmptyOneIsRefused) {
    EXPECT_EQ(Schema("orders", "snapshots").snapshots().quoted, "\"snapshots\"");
    const auto empty = error_of([] { (void)Schema("orders", std::string_view()); });
    ASSERT_TRUE(empty.has_value());
    EXPECT_EQ(empty->code(), Errc::invalid_table_name);
    EXPECT_EQ(empty->detail(), "the snapshot table name is empty");
}

TEST(SnapshotTableName, NamesThatMayBeTheEventsTableAreRefused) {
    for (const auto& names : std::vector<std::pair<std::string, std::string>>{
             {"events", "events"}, {"a.events", "a.events"}, {"events", "a.events"}, {"a.events", "events"}}) {
        // Named copies: clang 14 cannot capture a structured binding in a lambda.
        const std::string& events = names.first;
        const std::string& snapshots = names.second;
        const auto err = error_of([&] { (void)Schema(events, snapshots); });
        ASSERT_TRUE(err.has_value()) << events << " / " << snapshots;
        EXPECT_EQ(err->code(), Errc::invalid_table_name);
        EXPECT_TRUE(err->is_input_error());
    }
    EXPECT_TRUE(Schema::same_table_possible(parse_table_name("x"), parse_table_name("s.x")));
    EXPECT_FALSE(Schema::same_table_possible(parse_table_name("a.x"), parse_table_name("b.x")));
    EXPECT_FALSE(Schema::same_table_possible(parse_table_name("x"), parse_table_name("X")));
    EXPECT_FALSE(Schema::same_table_possible(parse_table_name("s.x"), parse_table_name("s.y")));
}

} // namespace
