// migrate(): the Go library's schema (tables, columns, indexes, defaults), idempotent, and safe when
// many callers run it at once.

#include <latch>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "integration/fixture.hpp"

namespace {

using eventstore::Errc;
using eventstore::postgres::ConnectionPool;
using eventstore::postgres::new_event_store_from_pool;
using eventstore::postgres::with_snapshot_table_name;
using eventstore::postgres::with_table_name;
using namespace eventstore::test;

using Rows = PgRows;
using Row = PgRow;

std::optional<std::string> v(const char* s) { return s == nullptr ? std::nullopt : std::optional<std::string>(s); }

// Each test gets a database of its own, so that the default names "events" and "snapshots" are free.
class MigrateTest : public DatabaseTest {
protected:
    [[nodiscard]] std::string database() override { return postgres().fresh_database("migrate"); }

    Rows columns(const std::string& schema, const std::string& table) {
        return raw()
            .exec("SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                  "WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                  {schema, table})
            .all();
    }
    Rows primary_key(const std::string& qualified_table) {
        return raw()
            .exec(
                "SELECT a.attname FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.n",
                {qualified_table})
            .all();
    }
    // indexname -> indexdef, primary key excluded.
    Rows indexes(const std::string& schema, const std::string& table) {
        return raw()
            .exec("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 "
                  "AND indexname NOT LIKE '%_pkey' ORDER BY indexname",
                  {schema, table})
            .all();
    }
    std::string scalar(const std::string& sql) { return raw().scalar(sql).value_or("NULL"); }

    static std::string sequence_default(const std::string& schema) {
        const std::string prefix = schema == "public" ? "" : schema + ".";
        return "nextval('" + prefix + "events_sequence_number_seq'::regclass)";
    }

    void expect_go_schema(const std::string& schema) {
        EXPECT_EQ(columns(schema, "events"),
                  (Rows{Row{v("sequence_number"), v("bigint"), v("NO"), v(sequence_default(schema).c_str())},
                        Row{v("occurred_at"), v("timestamp with time zone"), v("NO"), std::nullopt},
                        Row{v("event_type"), v("text"), v("NO"), std::nullopt},
                        Row{v("payload"), v("jsonb"), v("NO"), std::nullopt},
                        Row{v("metadata"), v("jsonb"), v("YES"), v("'{}'::jsonb")},
                        // The DCB model's columns, nullable so that the Go library can go on writing.
                        Row{v("tags"), v("ARRAY"), v("YES"), std::nullopt},
                        Row{v("event_id"), v("uuid"), v("YES"), std::nullopt}}));
        EXPECT_EQ(primary_key(schema + ".events"), (Rows{Row{v("sequence_number")}}));
        EXPECT_EQ(indexes(schema, "events"),
                  (Rows{Row{v("idx_events_event_id"), v(("CREATE UNIQUE INDEX idx_events_event_id ON " + schema +
                                                         ".events USING btree (event_id) WHERE (event_id IS NOT NULL)")
                                                            .c_str())},
                        Row{v("idx_events_event_type"),
                            v(("CREATE INDEX idx_events_event_type ON " + schema + ".events USING btree (event_type)")
                                  .c_str())},
                        Row{v("idx_events_occurred_at"),
                            v(("CREATE INDEX idx_events_occurred_at ON " + schema + ".events USING btree (occurred_at)")
                                  .c_str())},
                        Row{v("idx_events_payload_gin"),
                            v(("CREATE INDEX idx_events_payload_gin ON " + schema +
                               ".events USING gin (payload jsonb_path_ops) WITH (fastupdate=off)")
                                  .c_str())},
                        Row{v("idx_events_tags_gin"),
                            v(("CREATE INDEX idx_events_tags_gin ON " + schema +
                               ".events USING gin (tags) WITH (fastupdate=off) WHERE (tags IS NOT NULL)")
                                  .c_str())}}));
        EXPECT_EQ(raw()
                      .exec("SELECT c.reloptions::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = $1 AND c.relname = 'idx_events_payload_gin'",
                            {schema})
                      .all(),
                  (Rows{Row{v("{fastupdate=off}")}}));

        EXPECT_EQ(columns(schema, "snapshots"),
                  (Rows{Row{v("projection_type"), v("text"), v("NO"), std::nullopt},
                        Row{v("filter_hash"), v("text"), v("NO"), std::nullopt},
                        Row{v("sequence_number"), v("bigint"), v("NO"), std::nullopt},
                        Row{v("snapshot_data"), v("jsonb"), v("NO"), std::nullopt},
                        Row{v("created_at"), v("timestamp with time zone"), v("NO"), v("now()")}}));
        EXPECT_EQ(primary_key(schema + ".snapshots"), (Rows{Row{v("projection_type")}, Row{v("filter_hash")}}));
        EXPECT_EQ(indexes(schema, "snapshots"),
                  (Rows{Row{v("idx_snapshots_created_at"), v(("CREATE INDEX idx_snapshots_created_at ON " + schema +
                                                              ".snapshots USING btree (created_at DESC)")
                                                                 .c_str())},
                        Row{v("idx_snapshots_sequence"), v(("CREATE INDEX idx_snapshots_sequence ON " + schema +
                                                            ".snapshots USING btree (sequence_number DESC)")
                                                               .c_str())}}));
    }
};

TEST_F(MigrateTest, CreatesTheGoSchemaUnderTheDefaultNames) {
    auto store = new_event_store_from_pool(ConnectionPool::create(conninfo()));
    EXPECT_EQ(scalar("SELECT to_regclass('public.events') IS NULL"), "t");
    store->migrate();
    expect_go_schema("public");
}

TEST_F(MigrateTest, IsIdempotentAndKeepsData) {
    auto pool = ConnectionPool::create(conninfo());
    auto store = new_event_store_from_pool(pool);
    ASSERT_NO_THROW(store->migrate());
    ASSERT_NO_THROW(store->migrate());
    const auto book = make_uuid(1);
    store->append(book_filter(book), 0, added_to_circulation(book, at(1)));
    store->save_snapshot(eventstore::build_snapshot("P", book_filter(book).hash(), 1, "{}"));

    // Again, and from another pool and store.
    ASSERT_NO_THROW(store->migrate());
    auto other = new_event_store_from_pool(ConnectionPool::create(conninfo()));
    ASSERT_NO_THROW(other->migrate());

    expect_go_schema("public");
    EXPECT_EQ(scalar("SELECT count(*) FROM events"), "1");
    EXPECT_EQ(scalar("SELECT count(*) FROM snapshots"), "1");
    EXPECT_EQ(other->query(book_filter(book)).max_sequence_number, 1U);
    other->append(book_filter(book), 1, lent_to_reader(book, make_uuid(2), at(2)));
    EXPECT_EQ(store->query(book_filter(book)).max_sequence_number, 2U);
}

TEST_F(MigrateTest, CreatesTheSchemaOfASchemaQualifiedName) {
    auto store = new_event_store_from_pool(ConnectionPool::create(conninfo()), with_table_name("dcb.events"),
                                           with_snapshot_table_name("dcb.snapshots"));
    store->migrate();
    store->migrate();
    expect_go_schema("dcb");
    EXPECT_EQ(scalar("SELECT to_regclass('public.events') IS NULL"), "t");
}

TEST_F(MigrateTest, AcceptsATableTheGoSchemaScriptCreated) {
    // The schema script the Go library ships for its users to create the table themselves.
    raw().exec("CREATE TABLE events (sequence_number BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL, "
               "event_type TEXT NOT NULL, payload JSONB NOT NULL, metadata JSONB DEFAULT '{}')");
    raw().exec("CREATE INDEX idx_events_event_type ON events (event_type)");
    raw().exec("CREATE INDEX idx_events_occurred_at ON events (occurred_at)");
    raw().exec("CREATE INDEX idx_events_payload_gin ON events USING gin (payload jsonb_path_ops)");
    raw().exec("CREATE INDEX idx_events_metadata_gin ON events USING gin (metadata jsonb_path_ops)");
    raw().exec("INSERT INTO events (occurred_at, event_type, payload) VALUES "
               "('1970-01-01T00:00:01Z', 'BookCopyAddedToCirculation', '{\"BookID\": \"b-1\"}')");
    auto store = new_event_store_from_pool(ConnectionPool::create(conninfo()));
    ASSERT_NO_THROW(store->migrate());
    EXPECT_EQ(store->query(book_filter("b-1")).max_sequence_number, 1U);
    store->append(book_filter("b-1"), 1, removed_from_circulation("b-1", at(2)));
    EXPECT_EQ(scalar("SELECT count(*) FROM events"), "2");
}

TEST_F(MigrateTest, CancelledContextCreatesNothing) {
    std::stop_source stop;
    stop.request_stop();
    auto store = new_event_store_from_pool(ConnectionPool::create(conninfo()));
    const auto err = thrown_error([&] { store->migrate(eventstore::Context().with_stop_token(stop.get_token())); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::canceled)) << describe(err);
    EXPECT_EQ(scalar("SELECT to_regclass('public.events') IS NULL"), "t");
}

void migrate_concurrently(const std::string& conninfo, int callers,
                          const std::vector<eventstore::postgres::Option>& options) {
    std::latch start(callers);
    std::vector<std::optional<std::string>> failures(static_cast<std::size_t>(callers));
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(callers));
    for (int i = 0; i < callers; ++i) {
        threads.emplace_back([&, i] {
            auto& failure = failures[static_cast<std::size_t>(i)];
            try {
                auto store = new_event_store_from_pool(ConnectionPool::create(conninfo), options);
                start.arrive_and_wait();
                store->migrate();
            } catch (const std::exception& e) {
                failure = e.what();
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (std::size_t i = 0; i < failures.size(); ++i) {
        EXPECT_FALSE(failures[i].has_value()) << "caller " << i << ": " << failures[i].value_or("");
    }
}

TEST_F(MigrateTest, ConcurrentCallersAllSucceedAndTheSchemaExistsOnce) {
    migrate_concurrently(conninfo(), 8, {});
    expect_go_schema("public");
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_class WHERE relname IN ('events', 'snapshots', 'events_checkpoints') AND "
                     "relkind = 'r'"),
              "3");
    // The events table's five, and the checkpoint table's (idx_events_checkpoints_name).
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_class WHERE relname LIKE 'idx_events_%' AND relkind = 'i'"), "6");
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_class WHERE relname LIKE 'events_sequence_number_seq%'"), "1");

    // And the result is usable.
    auto store = new_event_store_from_pool(ConnectionPool::create(conninfo()));
    store->append(book_filter("b-1"), 0, added_to_circulation("b-1", at(1)));
    EXPECT_EQ(store->query(book_filter("b-1")).max_sequence_number, 1U);
}

TEST_F(MigrateTest, ConcurrentCallersCreatingASchemaAllSucceed) {
    migrate_concurrently(conninfo(), 8, {with_table_name("conc.events"), with_snapshot_table_name("conc.snapshots")});
    expect_go_schema("conc");
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'conc'"), "1");
}

} // namespace
