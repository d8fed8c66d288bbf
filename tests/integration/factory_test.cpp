// The factories and their options (table names, replica, hooks) and consistency routing: strong reads
// and every write on the primary, eventual reads on the replica.

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/fixture.hpp"

namespace {

using eventstore::build_event_filter;
using eventstore::build_snapshot;
using eventstore::Context;
using eventstore::Errc;
using eventstore::Filter;
using eventstore::QueryResult;
using eventstore::Snapshot;
using eventstore::StorableEvent;
using eventstore::with_eventual_consistency;
using eventstore::with_strong_consistency;
using eventstore::postgres::ConnectionPool;
using eventstore::postgres::new_event_store_from_pool;
using eventstore::postgres::new_event_store_from_pool_and_replica;
using eventstore::postgres::with_snapshot_table_name;
using eventstore::postgres::with_table_name;
using namespace eventstore::test;

const std::string book = make_uuid(0xF00D);
const std::string reader = make_uuid(0xBEEF);

class FactoryTest : public StoreTest {
protected:
    // Append, query, and a snapshot round trip through `s`, on an empty store.
    void exercise_end_to_end(eventstore::postgres::EventStore& s) {
        const Filter f = book_filter(book);
        const StorableEvent e1 = added_to_circulation(book, at(1));
        const StorableEvent e2 = lent_to_reader(book, reader, at(2));
        ASSERT_NO_THROW(s.append(f, 0, e1));
        ASSERT_NO_THROW(s.append(f, 1, e2));
        EXPECT_THROW(s.append(f, 1, e2), eventstore::ConcurrencyConflict);
        const QueryResult r = s.query(f);
        ASSERT_EQ(r.events.size(), 2U);
        EXPECT_TRUE(same_event(r.events[0], e1, 1));
        EXPECT_TRUE(same_event(r.events[1], e2, 2));
        EXPECT_EQ(r.max_sequence_number, 2U);

        s.save_snapshot(build_snapshot("BookState", f.hash(), 2, R"({"lent":true})"));
        const auto loaded = s.load_snapshot("BookState", f);
        ASSERT_TRUE(loaded.has_value());
        EXPECT_EQ(loaded->sequence_number, 2U);
        EXPECT_TRUE(json_equal(loaded->data_json, R"({"lent":true})"));
        s.delete_snapshot("BookState", f);
        EXPECT_FALSE(s.load_snapshot("BookState", f).has_value());
    }

    // Whether a relation with exactly this name exists in this schema.
    bool relation_exists(const std::string& schema, const std::string& name) {
        const auto result = raw().exec("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                       "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind = 'r'",
                                       {schema, name});
        return result.value(0, 0) == "1";
    }
};

// --- construction errors ------------------------------------------------------------------------------

TEST_F(FactoryTest, NilPrimaryConnection) {
    std::shared_ptr<ConnectionPool> none;
    auto err = thrown_error([&] { (void)new_event_store_from_pool(none); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::nil_database_connection) << describe(err);

    err = thrown_error([&] { (void)new_event_store_from_pool(none, with_table_name("events_x")); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::nil_database_connection) << describe(err);

    err = thrown_error([&] { (void)new_event_store_from_pool_and_replica(none, pool()); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::nil_database_connection) << describe(err);

    err = thrown_error([&] { (void)new_event_store_from_pool_and_replica(none, none, with_table_name("events_x")); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::nil_database_connection) << describe(err);
    EXPECT_TRUE(err->is(Errc::nil_database_connection));
}

TEST_F(FactoryTest, EmptyTableName) {
    auto err = thrown_error([&] { (void)new_event_store_from_pool(pool(), with_table_name("")); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::empty_events_table_name) << describe(err);

    err = thrown_error([&] { (void)new_event_store_from_pool_and_replica(pool(), nullptr, with_table_name("")); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::empty_events_table_name) << describe(err);

    err = thrown_error([&] { (void)new_event_store_from_pool_and_replica(pool(), pool(), with_table_name("")); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::empty_events_table_name) << describe(err);
}

TEST_F(FactoryTest, DefaultTableNamesAreTheGoOnes) {
    auto s = new_event_store_from_pool(pool());
    EXPECT_EQ(s->table_name(), "\"events\"");
    EXPECT_EQ(s->snapshot_table_name(), "\"snapshots\"");
}

// Unset, the snapshot table follows the events table: the Go library's pair beside a table named
// "events", a table of its own beside any other, so that two stores on different events tables never
// share snapshots by default.
TEST_F(FactoryTest, TheDefaultSnapshotTableFollowsTheEventsTable) {
    const auto snapshot_table_of = [&](const std::string& events) {
        return new_event_store_from_pool(pool(), with_table_name(events))->snapshot_table_name();
    };
    EXPECT_EQ(snapshot_table_of("events"), "\"snapshots\"");
    EXPECT_EQ(snapshot_table_of("app.events"), "\"app\".\"snapshots\"");
    EXPECT_EQ(snapshot_table_of("orders"), "\"orders_snapshots\"");
    EXPECT_EQ(snapshot_table_of("app.orders"), "\"app\".\"orders_snapshots\"");
    EXPECT_EQ(snapshot_table_of("Events"), "\"Events_snapshots\"") << "names are case-sensitive";
    EXPECT_EQ(snapshot_table_of("We\"ird"), "\"We\"\"ird_snapshots\"");

    // A derived name over 63 bytes is cut, and ends in a hash of the whole so that two long names
    // that share their first bytes still get two tables.
    const std::string long_a = std::string(60, 'a') + "1";
    const std::string long_b = std::string(60, 'a') + "2";
    const std::string a = snapshot_table_of(long_a);
    const std::string b = snapshot_table_of(long_b);
    EXPECT_EQ(a.size(), 63U + 2U) << a;
    EXPECT_NE(a, b);
    EXPECT_EQ(a, snapshot_table_of(long_a)) << "stable";

    // An explicit name wins, "snapshots" included.
    auto s = new_event_store_from_pool(pool(), with_table_name("orders"), with_snapshot_table_name("snapshots"));
    EXPECT_EQ(s->snapshot_table_name(), "\"snapshots\"");
    eventstore::postgres::StoreOptions options;
    options.table_name = "orders";
    EXPECT_EQ(new_event_store_from_pool(pool(), options)->snapshot_table_name(), "\"orders_snapshots\"");
    options.snapshot_table_name = "my_snapshots";
    EXPECT_EQ(new_event_store_from_pool(pool(), options)->snapshot_table_name(), "\"my_snapshots\"");
}

// One table for events and snapshots passed the factory and then failed in migrate() with an error
// about a column. The factory refuses every pair of names that may be one table: which schema an
// unqualified name means depends on search_path, which the factory cannot know.
TEST_F(FactoryTest, EventsAndSnapshotTablesThatMayBeOneTableAreRefused) {
    const std::vector<std::pair<std::string, std::string>> same{
        {"events", "events"},        {"app.events", "app.events"}, {"events", "public.events"},
        {"public.events", "events"}, {"orders", "app.orders"},     {"We\"ird", "We\"ird"},
        {"snapshots", "snapshots"},
    };
    for (const auto& names : same) {
        // Named copies: clang 14 cannot capture a structured binding in a lambda.
        const std::string& events = names.first;
        const std::string& snapshots = names.second;
        SCOPED_TRACE(events + " / " + snapshots);
        const auto err = thrown_error([&] {
            (void)new_event_store_from_pool(pool(), with_table_name(events), with_snapshot_table_name(snapshots));
        });
        ASSERT_TRUE(err.has_value());
        EXPECT_EQ(err->code(), Errc::invalid_table_name) << describe(err);
        EXPECT_TRUE(err->is_input_error());
        EXPECT_NE(err->detail().find("may be the same table"), std::string::npos) << describe(err);
        EXPECT_NE(err->detail().find("qualify both with different schemas"), std::string::npos) << describe(err);

        eventstore::postgres::StoreOptions options;
        options.table_name = events;
        options.snapshot_table_name = snapshots;
        const auto through_options = thrown_error([&] { (void)new_event_store_from_pool(pool(), options); });
        ASSERT_TRUE(through_options.has_value());
        EXPECT_EQ(through_options->code(), Errc::invalid_table_name) << describe(through_options);
    }
    // Names that cannot be one table: another table part (case counts: names are quoted), or two
    // different schemas.
    const std::vector<std::pair<std::string, std::string>> different{
        {"events", "Events"}, {"app.events", "other.events"}, {"events", "events_snapshots"}};
    for (const auto& names : different) {
        const std::string& events = names.first;
        const std::string& snapshots = names.second;
        SCOPED_TRACE(events + " / " + snapshots);
        EXPECT_NO_THROW(
            (void)new_event_store_from_pool(pool(), with_table_name(events), with_snapshot_table_name(snapshots)));
    }
}

TEST_F(FactoryTest, InvalidTableNames) {
    const std::string part_63(63, 'a');
    const std::string part_64(64, 'a');
    for (const std::string& name : {part_64, "myschema." + part_64, part_64 + ".events", std::string("a.b.c"),
                                    std::string(".events"), std::string("events."), std::string("ev\0il", 5)}) {
        SCOPED_TRACE(nlohmann::json(name).dump());
        auto err = thrown_error([&] { (void)new_event_store_from_pool(pool(), with_table_name(name)); });
        ASSERT_TRUE(err.has_value());
        EXPECT_EQ(err->code(), Errc::invalid_table_name) << describe(err);
        err = thrown_error([&] { (void)new_event_store_from_pool(pool(), with_snapshot_table_name(name)); });
        ASSERT_TRUE(err.has_value());
        EXPECT_EQ(err->code(), Errc::invalid_table_name) << describe(err);
    }
    // 63 bytes is PostgreSQL's limit, and fine.
    EXPECT_NO_THROW((void)new_event_store_from_pool(pool(), with_table_name(part_63)));
    EXPECT_NO_THROW((void)new_event_store_from_pool(pool(), with_table_name(part_63 + "." + part_63)));
    // An empty snapshot table name is refused too (it has no Go sentinel of its own).
    const auto empty = thrown_error([&] { (void)new_event_store_from_pool(pool(), with_snapshot_table_name("")); });
    ASSERT_TRUE(empty.has_value());
    EXPECT_EQ(empty->code(), Errc::invalid_table_name) << describe(empty);
}

// --- table names that work end to end ------------------------------------------------------------------

TEST_F(FactoryTest, ExplicitTableNameWorks) {
    auto s = new_event_store_from_pool(pool(), with_table_name(table() + "_explicit"),
                                       with_snapshot_table_name(snapshot_table() + "_explicit"));
    s->migrate();
    exercise_end_to_end(*s);
    EXPECT_EQ(count_rows(quote_identifier(table() + "_explicit")), 2);
    EXPECT_EQ(count_rows(), 0); // the fixture's own table is untouched
}

TEST_F(FactoryTest, StoreOptionsConfigureTheStoreAsOneValue) {
    eventstore::postgres::StoreOptions options;
    options.table_name = table() + "_options";
    options.snapshot_table_name = snapshot_table() + "_options";
    auto s = new_event_store_from_pool(pool(), options);
    EXPECT_EQ(s->table_name(), quote_identifier(options.table_name));
    EXPECT_EQ(s->snapshot_table_name(), quote_identifier(*options.snapshot_table_name));
    s->migrate();
    exercise_end_to_end(*s);
    EXPECT_EQ(count_rows(quote_identifier(options.table_name)), 2);
    EXPECT_EQ(count_rows(), 0);

    // The same value through the replica factory (a null replica: everything on the primary).
    auto r = new_event_store_from_pool_and_replica(pool(), nullptr, options);
    EXPECT_EQ(r->query(Filter()).events.size(), 2U);

    // The same rules as the options functions.
    options.table_name.clear();
    auto err = thrown_error([&] { (void)new_event_store_from_pool(pool(), options); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::empty_events_table_name) << describe(err);
    options.table_name = "events";
    options.snapshot_table_name = "";
    err = thrown_error([&] { (void)new_event_store_from_pool(pool(), options); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::invalid_table_name) << describe(err);
    err = thrown_error([&] { (void)new_event_store_from_pool(nullptr, eventstore::postgres::StoreOptions{}); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::nil_database_connection) << describe(err);
}

TEST_F(FactoryTest, SchemaQualifiedTableNameIsCreatedByMigrateAndWorks) {
    raw().exec("DROP SCHEMA IF EXISTS myschema CASCADE");
    auto s = new_event_store_from_pool(pool(), with_table_name("myschema.my_events"),
                                       with_snapshot_table_name("myschema.my_snapshots"));
    EXPECT_EQ(s->table_name(), "\"myschema\".\"my_events\"");
    s->migrate();
    EXPECT_TRUE(relation_exists("myschema", "my_events"));
    EXPECT_TRUE(relation_exists("myschema", "my_snapshots"));
    EXPECT_FALSE(relation_exists("public", "my_events"));
    exercise_end_to_end(*s);
    EXPECT_EQ(count_rows("myschema.my_events"), 2);
}

TEST_F(FactoryTest, TableNameWithQuoteSpaceAndMixedCaseIsQuotedSafely) {
    const std::string events = "We\"ird Name";
    const std::string snapshots = "We\"ird Snaps";
    auto s = new_event_store_from_pool(pool(), with_table_name(events), with_snapshot_table_name(snapshots));
    s->migrate();
    EXPECT_TRUE(relation_exists("public", events));
    EXPECT_TRUE(relation_exists("public", snapshots));
    EXPECT_FALSE(relation_exists("public", "we\"ird name"));
    exercise_end_to_end(*s);
    EXPECT_EQ(count_rows(quote_identifier(events)), 2);
}

TEST_F(FactoryTest, TableNameCannotInjectSql) {
    raw().exec("CREATE TABLE IF NOT EXISTS victim (id int)");
    raw().exec("INSERT INTO victim VALUES (1)");
    const std::string events = "x\"; DROP TABLE victim; --";
    const std::string snapshots = "y\"; DROP TABLE victim; --";
    auto s = new_event_store_from_pool(pool(), with_table_name(events), with_snapshot_table_name(snapshots));
    s->migrate();
    exercise_end_to_end(*s);
    EXPECT_TRUE(relation_exists("public", events));
    EXPECT_TRUE(relation_exists("public", "victim"));
    EXPECT_EQ(count_rows("victim"), 1);
}

TEST_F(FactoryTest, LongestTableNameWorks) {
    const std::string name(63, 'e');
    const std::string snaps(63, 's');
    auto s = new_event_store_from_pool(pool(), with_table_name(name), with_snapshot_table_name(snaps));
    s->migrate();
    s->migrate(); // derived (index) names stay stable
    EXPECT_TRUE(relation_exists("public", name));
    exercise_end_to_end(*s);
}

// --- a table that does not exist --------------------------------------------------------------------------

TEST_F(FactoryTest, NonExistentTableFailsAtUseNotAtConstruction) {
    std::unique_ptr<eventstore::postgres::EventStore> s;
    ASSERT_NO_THROW(s = new_event_store_from_pool(pool(), with_table_name("no_such_events"),
                                                  with_snapshot_table_name("no_such_snapshots")));

    auto err = thrown_error([&] { (void)s->query(book_filter(book)); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::querying_events_failed)) << describe(err);
    EXPECT_NE(std::string(err->what()).find("does not exist"), std::string::npos) << describe(err);
    EXPECT_NE(std::string(err->what()).find("run migrate()"), std::string::npos) << describe(err);
    EXPECT_EQ(err->sqlstate(), "42P01") << describe(err);

    err = thrown_error([&] { s->append(book_filter(book), 0, added_to_circulation(book, at(1))); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::appending_event_failed)) << describe(err);
    EXPECT_NE(std::string(err->what()).find("does not exist"), std::string::npos) << describe(err);
    EXPECT_EQ(err->sqlstate(), "42P01") << describe(err);

    err = thrown_error([&] { (void)s->load_snapshot("P", book_filter(book)); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::loading_snapshot_failed)) << describe(err);
    EXPECT_EQ(err->sqlstate(), "42P01") << describe(err);

    err = thrown_error([&] { s->save_snapshot(build_snapshot("P", "h", 1, "{}")); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::saving_snapshot_failed)) << describe(err);
    EXPECT_EQ(err->sqlstate(), "42P01") << describe(err);

    err = thrown_error([&] { s->delete_snapshot("P", book_filter(book)); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::deleting_snapshot_failed)) << describe(err);
    EXPECT_EQ(err->sqlstate(), "42P01") << describe(err);

    // The pool is fine afterwards.
    EXPECT_TRUE(store().query(book_filter(book)).events.empty());
}

// --- single connection, unknown stream (as the Go library's factory tests check it) ------------------------

TEST_F(FactoryTest, UnknownStreamGivesEmptyResultAndZero) {
    append_unconditionally(added_to_circulation(make_uuid(1), at(1)));
    const QueryResult r = store().query(book_filter(book));
    EXPECT_TRUE(r.events.empty());
    EXPECT_EQ(r.max_sequence_number, 0U);
}

// --- replicas -------------------------------------------------------------------------------------------

TEST_F(FactoryTest, NullReplicaWorks) {
    auto s = new_event_store_from_pool_and_replica(pool(), nullptr, with_table_name(table()),
                                                   with_snapshot_table_name(snapshot_table()));
    exercise_end_to_end(*s);
    for (const Context& ctx : {Context(), with_strong_consistency(), with_eventual_consistency()}) {
        const QueryResult r = s->query(ctx, book_filter(book));
        EXPECT_EQ(r.events.size(), 2U);
        EXPECT_EQ(r.max_sequence_number, 2U);
    }
}

// Routing, proven with a stand-in replica that holds different data (another database): what an
// eventual read returns tells where it ran. Appends, snapshot writes and strong reads never go there.
TEST_F(FactoryTest, EventualReadsGoToTheReplicaAndNothingElseDoes) {
    const std::string other_info = postgres().fresh_database("standin");
    auto standin_pool = ConnectionPool::create(other_info);
    auto standin =
        new_event_store_from_pool(standin_pool, with_table_name(table()), with_snapshot_table_name(snapshot_table()));
    standin->migrate();
    const Filter f = book_filter(book);
    standin->append(f, 0, added_to_circulation(book, at(1)));
    standin->append(f, 1, lent_to_reader(book, reader, at(2)));
    standin->save_snapshot(build_snapshot("BookState", f.hash(), 2, R"({"where":"replica"})"));

    auto s = new_event_store_from_pool_and_replica(pool(), standin_pool, with_table_name(table()),
                                                   with_snapshot_table_name(snapshot_table()));
    s->append(f, 0, added_to_circulation(book, at(1)));
    s->save_snapshot(build_snapshot("BookState", f.hash(), 1, R"({"where":"primary"})"));

    EXPECT_EQ(s->query(f).events.size(), 1U) << "strong by default: the primary";
    EXPECT_EQ(s->query(with_strong_consistency(), f).events.size(), 1U);
    EXPECT_EQ(s->query(with_eventual_consistency(), f).events.size(), 2U) << "eventual: the replica";
    EXPECT_EQ(s->load_snapshot("BookState", f)->data_json, R"({"where": "primary"})") << "jsonb normalises the text";
    EXPECT_EQ(s->load_snapshot(with_eventual_consistency(), "BookState", f)->data_json, R"({"where": "replica"})");

    // Writes ignore the consistency level: an append decided on the replica's (newer, here) state
    // still runs against the primary, and conflicts there.
    EXPECT_THROW(s->append(with_eventual_consistency(), f, 2, lent_to_reader(book, reader, at(3))),
                 eventstore::ConcurrencyConflict);
    EXPECT_NO_THROW(s->append(with_eventual_consistency(), f, 1, lent_to_reader(book, reader, at(3))));
    EXPECT_EQ(s->query(f).events.size(), 2U);
    EXPECT_EQ(standin->query(f).events.size(), 2U) << "nothing was written to the replica";
    s->delete_snapshot("BookState", f);
    EXPECT_FALSE(s->load_snapshot("BookState", f).has_value());
    EXPECT_TRUE(s->load_snapshot(with_eventual_consistency(), "BookState", f).has_value());
}

// A real streaming replica: replica_test.cpp (it needs a cluster of its own).

// --- consistency, as the Go library's consistency tests check it ------------------------------------------

class ConsistencyTest : public StoreTest {};

TEST_F(ConsistencyTest, DefaultsToStrongConsistency) {
    EXPECT_EQ(Context().consistency(), eventstore::Consistency::strong);
    const Filter f = book_filter(book);
    store().append(f, 0, added_to_circulation(book, at(1)));
    const QueryResult r = store().query(f);
    EXPECT_EQ(r.max_sequence_number, 1U);
    EXPECT_EQ(r.events.size(), 1U);
    const QueryResult with_ctx = store().query(Context(), f);
    EXPECT_EQ(with_ctx.max_sequence_number, 1U);
}

TEST_F(ConsistencyTest, RespectsExplicitConsistency) {
    const Filter f = book_filter(book);
    const StorableEvent e = added_to_circulation(book, at(1));
    store().append(f, 0, e);
    for (const Context& ctx : {with_strong_consistency(), with_eventual_consistency(),
                               Context().with_consistency(eventstore::Consistency::eventual)}) {
        SCOPED_TRACE(std::string(eventstore::to_string(ctx.consistency())));
        const QueryResult r = store().query(ctx, f);
        ASSERT_EQ(r.events.size(), 1U);
        EXPECT_TRUE(same_event(r.events.front(), e, 1));
        EXPECT_EQ(r.max_sequence_number, 1U);
    }
    EXPECT_EQ(with_eventual_consistency().consistency(), eventstore::Consistency::eventual);
    EXPECT_EQ(with_strong_consistency(with_eventual_consistency()).consistency(), eventstore::Consistency::strong);
}

TEST_F(ConsistencyTest, SnapshotOperationsWorkWithEveryLevel) {
    const Filter f = book_filter(book);
    store().save_snapshot(with_strong_consistency(), build_snapshot("BookState", f.hash(), 7, R"({"lent":false})"));
    for (const Context& ctx : {Context(), with_eventual_consistency(), with_strong_consistency()}) {
        SCOPED_TRACE(std::string(eventstore::to_string(ctx.consistency())));
        const auto loaded = store().load_snapshot(ctx, "BookState", f);
        ASSERT_TRUE(loaded.has_value());
        EXPECT_EQ(loaded->projection_type, "BookState");
        EXPECT_EQ(loaded->filter_hash, f.hash());
        EXPECT_EQ(loaded->sequence_number, 7U);
        EXPECT_TRUE(json_equal(loaded->data_json, R"({"lent":false})"));
    }
    store().delete_snapshot(with_eventual_consistency(), "BookState", f);
    EXPECT_FALSE(store().load_snapshot("BookState", f).has_value());
}

} // namespace
