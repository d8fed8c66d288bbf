// The store's tables without a database: the default snapshot table, the pairs of names refused as
// possibly one table, and what migrate() sends for what it found. What the statements do on a real
// server: integration/migrate_test.cpp, least_privilege_test.cpp, snapshot_tables_test.cpp.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
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

std::vector<std::string> texts(const std::vector<Statement>& statements) {
    std::vector<std::string> out;
    for (const Statement& s : statements) {
        out.push_back(s.sql);
    }
    return out;
}

std::size_t count_starting_with(const std::vector<std::string>& texts, std::string_view prefix) {
    std::size_t n = 0;
    for (const std::string& t : texts) {
        n += t.rfind(prefix, 0) == 0 ? 1 : 0;
    }
    return n;
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

TEST(CheckpointTable, FollowsTheEventsTableUnlessNamed) {
    EXPECT_EQ(Schema("events", std::nullopt).checkpoints().quoted, "\"events_checkpoints\"");
    EXPECT_EQ(Schema("app.orders", std::nullopt).checkpoints().quoted, "\"app\".\"orders_checkpoints\"");
    EXPECT_EQ(Schema(std::string(60, 'e'), std::nullopt).checkpoints().table,
              fitted_identifier(std::string(60, 'e') + "_checkpoints"));
    EXPECT_EQ(Schema("events", std::nullopt, "subs.cp").checkpoints().quoted, "\"subs\".\"cp\"");
    for (const std::string_view clash : {"events", "snapshots", "x.snapshots", ""}) {
        const auto err = error_of([&] { (void)Schema("events", std::nullopt, clash); });
        ASSERT_TRUE(err.has_value()) << clash;
        EXPECT_EQ(err->code(), Errc::invalid_table_name) << clash;
    }
}

TEST(CheckpointTable, StatementsTakeEveryValueAsAParameter) {
    const Schema schema("ev", std::nullopt);
    const std::string evil = "n'; DROP TABLE ev; --";
    const auto claim = schema.claim_checkpoint(evil, "owner'x", 7, 5000);
    ASSERT_EQ(claim.size(), 2U);
    for (const Statement& st : {claim[0], claim[1], schema.renew_checkpoint(evil, "o", 9, 100),
                                schema.release_checkpoint(evil, "o", 9), schema.read_checkpoint(evil)}) {
        EXPECT_EQ(st.sql.find("DROP"), std::string::npos) << st.sql;
        EXPECT_EQ(st.sql.find("owner'x"), std::string::npos) << st.sql;
        EXPECT_NE(st.sql.find("\"ev_checkpoints\""), std::string::npos) << st.sql;
        EXPECT_EQ(st.params.at(0).value, evil);
    }
    // The claim succeeds only on a free, own or lapsed claim; renewals and the release only on an own one.
    EXPECT_NE(claim[1].sql.find("owner IS NULL OR owner = $2 OR lease_until < clock_timestamp()"), std::string::npos);
    EXPECT_NE(schema.renew_checkpoint("n", "o", 1, 1).sql.find("WHERE name = $1 AND owner = $2"), std::string::npos);
    // The position never moves down.
    EXPECT_NE(schema.renew_checkpoint("n", "o", 1, 1).sql.find("greatest(sequence_number, $3)"), std::string::npos);
    EXPECT_NE(schema.projection_checkpoint().find("WHERE name = $1 AND sequence_number < $2"), std::string::npos);
}

TEST(MigrationCheck, SendsEveryNameAsAParameter) {
    const Schema schema("app.ev\"il", "other.sn");
    const Statement check = schema.migration_check();
    EXPECT_EQ(check.sql.find("ev\"il"), std::string::npos) << check.sql;
    EXPECT_EQ(check.sql.find("\"app\""), std::string::npos) << check.sql;
    EXPECT_EQ(check.sql.find("other"), std::string::npos) << check.sql;
    ASSERT_EQ(check.params.size(), 6U);
    EXPECT_EQ(check.params[0].type, oid::text_array);
    EXPECT_EQ(check.params[1].type, oid::text_array);
    // The tables' quoted names (to_regclass parses them as SQL names) and the schemas' plain ones.
    EXPECT_NE(check.params[0].value.find("app"), std::string::npos);
    EXPECT_EQ(check.params[2].value, "app");
    EXPECT_EQ(check.params[3].value, "other");
    EXPECT_EQ(check.params[5].value, "app"); // the checkpoint table follows the events table
    EXPECT_EQ(Schema("app.ev", "other.sn", "third.cp").migration_check().params[5].value, "third");
    EXPECT_EQ(Schema("ev", std::nullopt).migration_check().params[2].value, "");
}

TEST(Migration, CreatesOnlySchemasThatWereNotFound) {
    const Schema schema("app.ev", "other.sn");
    const auto all = texts(schema.migration());
    EXPECT_EQ(count_starting_with(all, "CREATE SCHEMA IF NOT EXISTS \"app\""), 1U);
    EXPECT_EQ(count_starting_with(all, "CREATE SCHEMA IF NOT EXISTS \"other\""), 1U);

    // A role that owns its schema but may not create schemas in the database can still migrate.
    const auto existing = texts(schema.migration(MigrationFound{false, true, true, true, false, false, ""}));
    EXPECT_EQ(count_starting_with(existing, "CREATE SCHEMA"), 0U);
    EXPECT_EQ(count_starting_with(existing, "CREATE TABLE IF NOT EXISTS"), 3U);
    EXPECT_EQ(count_starting_with(existing, "CREATE INDEX IF NOT EXISTS"), 6U);
    EXPECT_EQ(count_starting_with(existing, "CREATE UNIQUE INDEX IF NOT EXISTS"), 2U);
    EXPECT_EQ(count_starting_with(existing, "ALTER TABLE"), 0U);

    // An events table of an earlier version: the columns are added, their indexes left to
    // build_late_indexes (concurrently).
    const auto upgrade = texts(schema.migration(MigrationFound{false, true, true, true, true, false, ""}));
    EXPECT_EQ(count_starting_with(upgrade, "ALTER TABLE"), 1U);
    EXPECT_EQ(count_starting_with(upgrade, "SET LOCAL lock_timeout"), 2U);
    EXPECT_EQ(count_starting_with(upgrade, "CREATE INDEX IF NOT EXISTS"), 5U);
    // The checkpoint table's index is created with its (new, empty) table.
    EXPECT_EQ(count_starting_with(upgrade, "CREATE UNIQUE INDEX"), 1U);
    // Only what is missing: a present index is not created again (even IF NOT EXISTS locks the table).
    const auto late_only = texts(schema.migration(MigrationFound{false, true, true, true, true, true, "11111001"}));
    EXPECT_EQ(late_only.size(), 3U); // the three CREATE TABLE IF NOT EXISTS, which lock nothing that exists
    EXPECT_EQ(schema.late_indexes().size(), 2U);
    EXPECT_NE(schema.create_late_index(schema.late_indexes().front()).sql.find("CONCURRENTLY IF NOT EXISTS"),
              std::string::npos);
    EXPECT_EQ(Schema::migration_lock().sql, "SELECT pg_advisory_xact_lock($1)");

    const auto one = texts(schema.migration(MigrationFound{false, true, false, true, false, false, ""}));
    EXPECT_EQ(count_starting_with(one, "CREATE SCHEMA"), 1U);
    EXPECT_EQ(count_starting_with(one, "CREATE SCHEMA IF NOT EXISTS \"other\""), 1U);

    // One schema for both tables is created once; an unqualified name creates none.
    EXPECT_EQ(count_starting_with(texts(Schema("app.ev", "app.sn").migration()), "CREATE SCHEMA"), 1U);
    EXPECT_EQ(count_starting_with(texts(Schema("ev", "sn").migration()), "CREATE SCHEMA"), 0U);
    // A checkpoint schema of its own is created too.
    EXPECT_EQ(count_starting_with(texts(Schema("app.ev", "app.sn", "cp.checkpoints").migration()),
                                  "CREATE SCHEMA IF NOT EXISTS \"cp\""),
              1U);
}

} // namespace
