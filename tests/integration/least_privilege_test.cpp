// Least privilege: the three roles of docs/operations.md, with its grants, each doing what the document
// says it may and refused what it says it may not. An owner role migrates; an application role's
// migrate() at startup only reads the catalog; a read-only role reads.
//
// Roles belong to the cluster, not to the test's database, so each test makes its own (unique names)
// and drops them at the end. The test cluster trusts every local connection: a role connects by
// naming itself in the conninfo.

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "integration/fixture.hpp"

namespace {

using eventstore::build_snapshot;
using eventstore::Context;
using eventstore::Errc;
using eventstore::Filter;
using eventstore::StorableEvent;
using eventstore::postgres::ConnectionPool;
using eventstore::postgres::EventStore;
using eventstore::postgres::new_event_store_from_pool;
using eventstore::postgres::with_table_name;
using namespace eventstore::test;
using namespace std::chrono_literals;

const std::string book = make_uuid(0xB00C);
const std::string reader_id = make_uuid(0x4EAD);

// The key of migrate()'s advisory lock (src/postgres/schema.cpp): "eventsto" in ASCII.
constexpr std::int64_t migrate_lock_key = 0x6576656e7473746fLL;

class LeastPrivilegeTest : public DatabaseTest {
protected:
    // A database of its own: DROP OWNED BY at the end then clears everything the roles had in it.
    [[nodiscard]] std::string database() override { return postgres().fresh_database("privileges"); }

    void SetUp() override {
        DatabaseTest::SetUp();
        static int counter = 0;
        const std::string suffix = std::to_string(::getpid()) + "_" + std::to_string(++counter);
        m_owner = "es_owner_" + suffix;
        m_app = "es_app_" + suffix;
        m_reader = "es_reader_" + suffix;
        // As in docs/operations.md ("The roles"), with the test's role names.
        for (const std::string* role : {&m_owner, &m_app, &m_reader}) {
            raw().exec("CREATE ROLE " + quote_identifier(*role) + " LOGIN");
            m_created.push_back(*role);
        }
        raw().exec("CREATE SCHEMA eventstore AUTHORIZATION " + quote_identifier(m_owner));
        raw().exec("GRANT USAGE ON SCHEMA eventstore TO " + quote_identifier(m_app) + ", " +
                   quote_identifier(m_reader));
    }

    void TearDown() override {
        m_stores.clear();
        for (const std::string& role : m_created) {
            try {
                raw().exec("DROP OWNED BY " + quote_identifier(role) + " CASCADE");
                raw().exec("DROP ROLE " + quote_identifier(role));
            } catch (const std::exception& e) {
                ADD_FAILURE() << "dropping role " << role << ": " << e.what();
            }
        }
    }

    // The grants docs/operations.md gives once the owner has migrated ("After the first migrate()").
    void grant_after_migrate() {
        const std::string app = quote_identifier(m_app);
        const std::string reader = quote_identifier(m_reader);
        PgSession owner(conninfo() + " user=" + m_owner);
        owner.exec("GRANT SELECT, INSERT ON eventstore.events TO " + app);
        owner.exec("GRANT USAGE ON SEQUENCE eventstore.events_sequence_number_seq TO " + app);
        owner.exec("GRANT SELECT, INSERT, UPDATE, DELETE ON eventstore.snapshots TO " + app);
        owner.exec("GRANT SELECT, INSERT, UPDATE ON eventstore.events_checkpoints TO " + app);
        owner.exec("GRANT SELECT ON eventstore.events, eventstore.snapshots, eventstore.events_checkpoints TO " +
                   reader);
    }

    // A store on eventstore.events (and its default snapshot table, eventstore.snapshots) connecting
    // as `role`, with `extra` appended to the conninfo.
    EventStore& store_as(const std::string& role, const std::string& table = "eventstore.events",
                         const std::string& extra = {}) {
        auto pool = ConnectionPool::create(conninfo() + " user=" + role + extra);
        m_stores.push_back(new_event_store_from_pool(pool, with_table_name(table)));
        return *m_stores.back();
    }

    [[nodiscard]] const std::string& owner() const { return m_owner; }
    [[nodiscard]] const std::string& app() const { return m_app; }
    [[nodiscard]] const std::string& reader_role() const { return m_reader; }

    std::string scalar(const std::string& sql) { return raw().scalar(sql).value_or("NULL"); }

    // Lock requests waiting in the test's database, advisory ones only.
    int advisory_waiters() {
        return std::stoi(scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND "
                                "database = (SELECT oid FROM pg_database WHERE datname = current_database())"));
    }
    void wait_for_advisory_waiters(int n) {
        const auto until = std::chrono::steady_clock::now() + 30s;
        while (advisory_waiters() < n) {
            ASSERT_LT(std::chrono::steady_clock::now(), until) << "no " << n << " waiters on migrate's lock";
            std::this_thread::sleep_for(10ms);
        }
    }

private:
    std::string m_owner;
    std::string m_app;
    std::string m_reader;
    std::vector<std::string> m_created;
    std::vector<std::unique_ptr<EventStore>> m_stores;
};

void expect_privilege_error(const std::optional<eventstore::Error>& err, Errc code) {
    ASSERT_TRUE(err.has_value()) << "nothing thrown";
    EXPECT_EQ(err->code(), code) << describe(err);
    EXPECT_EQ(err->sqlstate(), "42501") << describe(err);
    EXPECT_FALSE(err->cause().has_value()) << describe(err);
    EXPECT_FALSE(err->is_retryable()) << describe(err);
    EXPECT_FALSE(err->is_input_error()) << describe(err);
}

// "Call migrate() at startup" under least privilege: the application's role cannot create anything,
// and before the owner has migrated it is told so; afterwards its migrate() succeeds without DDL.
TEST_F(LeastPrivilegeTest, TheOwnerMigratesAndTheOtherRolesMigrateIsThenACatalogRead) {
    const auto before = thrown_error([&] { store_as(app()).migrate(); });
    expect_privilege_error(before, Errc::migration_failed);
    ASSERT_TRUE(before.has_value());
    EXPECT_NE(before->detail().find("run migrate() once as the role that owns the schema"), std::string::npos)
        << describe(before);
    EXPECT_EQ(scalar("SELECT to_regclass('eventstore.events') IS NULL"), "t");

    ASSERT_NO_THROW(store_as(owner()).migrate());
    EXPECT_EQ(scalar("SELECT tableowner FROM pg_tables WHERE schemaname = 'eventstore' AND tablename = 'events'"),
              owner());
    EXPECT_EQ(scalar("SELECT tableowner FROM pg_tables WHERE schemaname = 'eventstore' AND tablename = 'snapshots'"),
              owner());

    // Neither needs a grant on the tables for this: the check reads the catalog only.
    EXPECT_NO_THROW(store_as(app()).migrate()) << "before the grants";
    grant_after_migrate();
    EXPECT_NO_THROW(store_as(app()).migrate());
    EXPECT_NO_THROW(store_as(reader_role()).migrate());
    EXPECT_NO_THROW(store_as(owner()).migrate());
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname = 'eventstore' AND c.relkind = 'i' AND c.relname LIKE 'idx_%'"),
              "8");
}

// The check covers every index, not only the tables: a missing one is created by the owner, and a
// role that cannot create it is told so instead of running on without it.
TEST_F(LeastPrivilegeTest, AMissingIndexFailsTheMigrateOfARoleThatCannotCreateIt) {
    store_as(owner()).migrate();
    grant_after_migrate();
    raw().exec("DROP INDEX eventstore.idx_snapshots_created_at");

    expect_privilege_error(thrown_error([&] { store_as(app()).migrate(); }), Errc::migration_failed);
    ASSERT_NO_THROW(store_as(owner()).migrate());
    EXPECT_EQ(scalar("SELECT to_regclass('eventstore.idx_snapshots_created_at') IS NOT NULL"), "t");
    EXPECT_NO_THROW(store_as(app()).migrate());
}

// Unqualified names are looked up as the store's statements will look them up: through the role's
// search_path.
TEST_F(LeastPrivilegeTest, UnqualifiedNamesAreCheckedThroughSearchPath) {
    const std::string search_path = " options='-c search_path=eventstore'";
    store_as(owner(), "events", search_path).migrate();
    EXPECT_EQ(scalar("SELECT to_regclass('eventstore.events') IS NOT NULL"), "t");
    EXPECT_EQ(scalar("SELECT to_regclass('public.events') IS NULL"), "t");
    grant_after_migrate();

    EventStore& s = store_as(app(), "events", search_path);
    EXPECT_NO_THROW(s.migrate());
    s.append(book_filter(book), 0, added_to_circulation(book, at(1)));
    EXPECT_EQ(count_rows("eventstore.events"), 1);

    // Without that search_path the same name means public.events, which does not exist, and the
    // application role may not create it.
    expect_privilege_error(thrown_error([&] { store_as(app(), "events").migrate(); }), Errc::migration_failed);
}

// A role without the privilege to create waits for migrate()'s lock like any migrator; when the owner
// ahead of it in the queue creates everything, it succeeds (its own DDL was refused, and not needed).
TEST_F(LeastPrivilegeTest, ARoleWaitingBehindTheOwnersMigrateSucceeds) {
    EventStore& by_owner = store_as(owner());
    EventStore& by_app = store_as(app());
    const Context ctx = Context().with_timeout(60s);

    // Hold migrate()'s lock so that both callers queue up behind it, the owner first.
    raw().exec("BEGIN");
    raw().exec("SELECT pg_advisory_xact_lock($1)", {std::to_string(migrate_lock_key)});
    auto owner_done = std::async(std::launch::async, [&] { return thrown_error([&] { by_owner.migrate(ctx); }); });
    wait_for_advisory_waiters(1);
    auto app_done = std::async(std::launch::async, [&] { return thrown_error([&] { by_app.migrate(ctx); }); });
    wait_for_advisory_waiters(2);
    raw().exec("COMMIT");

    const auto owner_error = owner_done.get();
    const auto app_error = app_done.get();
    EXPECT_FALSE(owner_error.has_value()) << describe(owner_error);
    EXPECT_FALSE(app_error.has_value()) << describe(app_error);
    EXPECT_EQ(scalar("SELECT to_regclass('eventstore.snapshots') IS NOT NULL"), "t");
}

// The application role: every operation but migrate's DDL and import_events.
TEST_F(LeastPrivilegeTest, TheApplicationRoleQueriesAppendsStreamsAndKeepsSnapshots) {
    store_as(owner()).migrate();
    grant_after_migrate();
    EventStore& s = store_as(app());
    const Filter f = book_filter(book);

    const StorableEvent added = added_to_circulation(book, at(1));
    const StorableEvent lent = lent_to_reader(book, reader_id, at(2));
    ASSERT_NO_THROW(s.append(f, 0, added));
    ASSERT_NO_THROW(s.append(f, 1, lent));
    EXPECT_THROW(s.append(f, 1, lent), eventstore::ConcurrencyConflict);
    const auto result = s.query(f);
    ASSERT_EQ(result.events.size(), 2U);
    EXPECT_TRUE(same_event(result.events[1], lent, 2));

    std::vector<StorableEvent> streamed;
    EXPECT_EQ(s.query_stream({}, f, [&](StorableEvent&& e) { streamed.push_back(std::move(e)); }), 2U);
    EXPECT_EQ(streamed, result.events);

    ASSERT_NO_THROW(s.save_snapshot(build_snapshot("BookState", f.hash(), 1, R"({"lent":false})")));
    ASSERT_NO_THROW(s.save_snapshot(build_snapshot("BookState", f.hash(), 2, R"({"lent":true})")));
    const auto loaded = s.load_snapshot("BookState", f);
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->sequence_number, 2U);
    ASSERT_NO_THROW(s.delete_snapshot("BookState", f));
    EXPECT_FALSE(s.load_snapshot("BookState", f).has_value());

    // A durable subscription keeps its checkpoint.
    std::stop_source stop;
    eventstore::postgres::SubscribeOptions named;
    named.name = "books";
    std::size_t delivered = 0;
    EXPECT_EQ(s.subscribe(
                  Context().with_stop_token(stop.get_token()).with_timeout(std::chrono::seconds(10)), f, 0,
                  [&](StorableEvent&&) {
                      if (++delivered == 2) {
                          stop.request_stop();
                      }
                  },
                  named),
              2U);
    EXPECT_EQ(s.checkpoint(Context(), "books"), 2U);
    ASSERT_NO_THROW(s.wait_until_processed("books", 2, Context().with_timeout(std::chrono::seconds(5))));

    // import_events takes the table's lock exclusively, which INSERT does not allow.
    expect_privilege_error(thrown_error([&] { s.import_events({}, std::vector<StorableEvent>{added}); }),
                           Errc::appending_event_failed);
    EXPECT_EQ(count_rows("eventstore.events"), 2);
}

// The read-only role: query, query_stream and load_snapshot; every write is refused with 42501.
TEST_F(LeastPrivilegeTest, TheReadOnlyRoleReadsAndIsRefusedEveryWrite) {
    EventStore& by_owner = store_as(owner());
    by_owner.migrate();
    grant_after_migrate();
    const Filter f = book_filter(book);
    by_owner.append(f, 0, added_to_circulation(book, at(1)));
    by_owner.save_snapshot(build_snapshot("BookState", f.hash(), 1, R"({"lent":false})"));

    EventStore& s = store_as(reader_role());
    EXPECT_EQ(s.query(f).max_sequence_number, 1U);
    std::size_t streamed = 0;
    EXPECT_EQ(s.query_stream({}, f, [&](StorableEvent&&) { ++streamed; }), 1U);
    EXPECT_EQ(streamed, 1U);
    const auto loaded = s.load_snapshot("BookState", f);
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->sequence_number, 1U);

    const auto append_error = thrown_error([&] { s.append(f, 1, lent_to_reader(book, reader_id, at(2))); });
    expect_privilege_error(append_error, Errc::appending_event_failed);
    ASSERT_TRUE(append_error.has_value());
    EXPECT_NE(std::string(append_error->what()).find("permission denied"), std::string::npos) << describe(append_error);
    expect_privilege_error(thrown_error([&] { s.save_snapshot(build_snapshot("BookState", f.hash(), 2, "{}")); }),
                           Errc::saving_snapshot_failed);
    expect_privilege_error(thrown_error([&] { s.delete_snapshot("BookState", f); }), Errc::deleting_snapshot_failed);
    // It may follow the log, and wait for a durable subscription, but not keep one.
    std::size_t followed = 0;
    EXPECT_EQ(
        s.subscribe(Context().with_timeout(std::chrono::milliseconds(300)), f, 0, [&](StorableEvent&&) { ++followed; }),
        1U);
    EXPECT_EQ(followed, 1U);
    eventstore::postgres::SubscribeOptions named;
    named.name = "books";
    const auto subscribe_error = thrown_error([&] {
        (void)s.subscribe(
            Context().with_timeout(std::chrono::seconds(5)), f, 0, [](StorableEvent&&) {}, named);
    });
    expect_privilege_error(subscribe_error, Errc::subscription_failed);
    EXPECT_EQ(s.checkpoint(Context(), "books"), std::nullopt);
    EXPECT_EQ(count_rows("eventstore.events"), 1);
    EXPECT_EQ(count_rows("eventstore.snapshots"), 1);
}

// import_events runs as the owner (it also switches the payload index's options, which only the
// owner may do).
TEST_F(LeastPrivilegeTest, TheOwnerImports) {
    EventStore& by_owner = store_as(owner());
    by_owner.migrate();
    std::vector<StorableEvent> events;
    for (int i = 0; i < 1500; ++i) {
        events.push_back(added_to_circulation(make_uuid(static_cast<std::uint64_t>(i)), at(i)));
    }
    ASSERT_NO_THROW(by_owner.import_events({}, events));
    EXPECT_EQ(count_rows("eventstore.events"), 1500);
    EXPECT_EQ(
        scalar("SELECT c.reloptions::text FROM pg_class c WHERE c.oid = 'eventstore.idx_events_payload_gin'::regclass"),
        "{fastupdate=off}");
}

} // namespace
