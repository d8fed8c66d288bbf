// import_events: unconditional, atomic bulk append that later queries and appends see exactly as if
// the events had been appended.

#include <atomic>
#include <future>
#include <stop_token>
#include <thread>

#include <gtest/gtest.h>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using eventstore::build_event_filter;
using eventstore::Errc;
using eventstore::P;
using eventstore::StorableEvent;
using eventstore::test::StoreTest;

std::vector<StorableEvent> books(int count, int first = 0) {
    std::vector<StorableEvent> events;
    events.reserve(static_cast<std::size_t>(count));
    for (int i = first; i < first + count; ++i) {
        events.push_back(eventstore::test::added_to_circulation("book-" + std::to_string(i), eventstore::test::at(i)));
    }
    return events;
}

class Import : public StoreTest {
protected:
    // The events table's payload GIN index: its options, and what waits in its pending list. (The tags'
    // GIN index is batched the same way; the payload's takes nearly all of the entries.)
    struct GinState {
        std::string options; // pg_class.reloptions, e.g. {fastupdate=off}
        std::int64_t pending_tuples = -1;
    };
    GinState gin_state() {
        raw().exec("CREATE EXTENSION IF NOT EXISTS pgstattuple");
        const auto result =
            raw().exec("SELECT coalesce(c.reloptions::text, ''), (pgstatginindex(c.oid)).pending_tuples "
                       "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                       "JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = $1::regclass "
                       "AND a.amname = 'gin' AND pg_get_indexdef(c.oid) LIKE '%(payload jsonb_path_ops)%'",
                       {table()});
        if (result.rows() != 1 || result.is_null(0, 0) || result.is_null(0, 1)) {
            throw std::runtime_error("expected one payload GIN index on " + table());
        }
        return GinState{result.value(0, 0), std::stoll(result.value(0, 1))};
    }
};

TEST_F(Import, StoresEveryEventInOrderAsOneBlock) {
    store().append(eventstore::test::book_filter("book-x"), 0,
                   eventstore::test::added_to_circulation("book-x", eventstore::test::at(0)));
    const auto events = books(12000);
    store().import_events({}, events);
    const auto all = store().query(build_event_filter().matching_any_event()).events;
    ASSERT_EQ(all.size(), events.size() + 1);
    for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& stored = all[i + 1];
        ASSERT_EQ(stored.sequence_number, all[1].sequence_number + i) << "imported events are numbered in a block";
        ASSERT_EQ(stored.occurred_at, events[i].occurred_at);
    }
    // Imported events take part in conflict detection like appended ones.
    const auto filter = eventstore::test::book_filter("book-77");
    const auto [found, max] = store().query(filter);
    ASSERT_EQ(found.size(), 1U);
    EXPECT_THROW(store().append(filter, 0, eventstore::test::lent_to_reader("book-77", "r", eventstore::test::at(1))),
                 eventstore::ConcurrencyConflict);
    EXPECT_NO_THROW(
        store().append(filter, max, eventstore::test::lent_to_reader("book-77", "r", eventstore::test::at(1))));
}

TEST_F(Import, ABadEventWritesNothing) {
    auto events = books(100);
    events[57].payload_json = "{\"BookID\": \"book-57\"";
    const auto error = eventstore::test::thrown_error([&] { store().import_events({}, events); });
    ASSERT_TRUE(error.has_value());
    EXPECT_TRUE(error->is(Errc::appending_event_failed)) << eventstore::test::describe(error);
    EXPECT_TRUE(error->is(Errc::invalid_payload_json)) << eventstore::test::describe(error);
    EXPECT_NE(std::string(error->what()).find("event 57"), std::string::npos) << error->what();
    EXPECT_EQ(count_rows(), 0);
}

// Later chunks are validated while earlier ones are being inserted: a bad event there still leaves
// nothing behind, and names itself.
TEST_F(Import, ABadEventInALaterChunkWritesNothing) {
    auto events = books(12000);
    events[7001].metadata_json = "[1, 2]";
    const auto error = eventstore::test::thrown_error([&] { store().import_events({}, events); });
    ASSERT_TRUE(error.has_value());
    EXPECT_TRUE(error->is(Errc::appending_event_failed)) << eventstore::test::describe(error);
    EXPECT_TRUE(error->is(Errc::invalid_metadata_json)) << eventstore::test::describe(error);
    EXPECT_NE(std::string(error->what()).find("event 7001"), std::string::npos) << error->what();
    EXPECT_EQ(count_rows(), 0);
    EXPECT_EQ(gin_state().options, "{fastupdate=off}");
    EXPECT_EQ(gin_state().pending_tuples, 0);
    store().import_events({}, books(10));
    EXPECT_EQ(count_rows(), 10);
}

TEST_F(Import, ACancelledImportWritesNothingAndTheStoreStaysUsable) {
    const auto events = books(60000);
    std::stop_source stop;
    auto pending = std::async(std::launch::async, [&] {
        store().import_events(eventstore::Context().with_stop_token(stop.get_token()), events);
    });
    std::this_thread::sleep_for(100ms);
    stop.request_stop();
    const auto error = eventstore::test::thrown_error([&] { pending.get(); });
    ASSERT_TRUE(error.has_value()) << "the import finished within 100 ms; make it larger";
    EXPECT_TRUE(error->is(Errc::canceled)) << eventstore::test::describe(error);
    EXPECT_EQ(count_rows(), 0);
    const auto after = gin_state();
    EXPECT_EQ(after.options, "{fastupdate=off}") << "the rollback restores the index options";
    EXPECT_EQ(after.pending_tuples, 0) << "the rolled-back rows' index entries must not stay in the pending list";
    store().import_events({}, books(10));
    EXPECT_EQ(count_rows(), 10);
}

// A large import merges its GIN entries in batches through the pending list; afterwards the index is
// exactly as migrate() made it (no pending list for readers to scan) and finds every event.
TEST_F(Import, ALargeImportLeavesTheGinIndexAsMigrated) {
    ASSERT_EQ(gin_state().options, "{fastupdate=off}");
    store().import_events({}, books(2500));
    const auto after = gin_state();
    EXPECT_EQ(after.options, "{fastupdate=off}");
    EXPECT_EQ(after.pending_tuples, 0);
    for (const int book : {0, 1249, 2499}) {
        const auto filter = eventstore::test::book_filter("book-" + std::to_string(book));
        EXPECT_EQ(store().query(filter).events.size(), 1U) << "book-" << book;
    }
}

// A table created with GIN's default (fastupdate on, as the Go library creates it) keeps its option,
// and the import still leaves nothing in the pending list.
TEST_F(Import, AnIndexWithFastupdateOnKeepsItAndIsLeftClean) {
    const auto name = raw().scalar("SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = "
                                   "i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = '" +
                                   table() + "'::regclass AND a.amname = 'gin'");
    ASSERT_TRUE(name.has_value());
    raw().exec("ALTER INDEX " + *name + " SET (fastupdate = on)");
    store().import_events({}, books(2000));
    const auto after = gin_state();
    EXPECT_EQ(after.options, "{fastupdate=on}");
    EXPECT_EQ(after.pending_tuples, 0);
    EXPECT_EQ(store().query(eventstore::test::book_filter("book-1999")).events.size(), 1U);
}

// A role that may insert but does not own the table imports row by row: same result, no ALTER INDEX.
TEST_F(Import, ARoleThatDoesNotOwnTheTableCanImport) {
    const std::string role = "eventstore_importer"; // roles are per cluster, and each test process has its own
    raw().exec("DROP ROLE IF EXISTS " + role);
    raw().exec("CREATE ROLE " + role + " LOGIN");
    raw().exec("GRANT SELECT, INSERT, UPDATE ON " + table() + " TO " + role);
    const auto sequence = raw().scalar("SELECT pg_get_serial_sequence('" + table() + "', 'sequence_number')");
    ASSERT_TRUE(sequence.has_value());
    raw().exec("GRANT USAGE ON SEQUENCE " + *sequence + " TO " + role);
    {
        auto pool = eventstore::postgres::ConnectionPool::create(conninfo() + " user=" + role);
        auto other = make_store(pool);
        other->import_events({}, books(1500));
        EXPECT_EQ(other->query(eventstore::test::book_filter("book-1400")).events.size(), 1U);
    }
    const auto after = gin_state();
    EXPECT_EQ(after.options, "{fastupdate=off}");
    EXPECT_EQ(after.pending_tuples, 0);
    EXPECT_EQ(count_rows(), 1500);
    raw().exec("DROP OWNED BY " + role);
    raw().exec("DROP ROLE " + role);
}

// A partitioned events table (the user's own DDL) has partitioned GIN indexes, which ALTER INDEX ...
// SET cannot touch: the import goes row by row there, and works.
TEST_F(Import, APartitionedTableImportsRowByRow) {
    const std::string t = table() + "_p";
    raw().exec("CREATE TABLE " + t +
               " (sequence_number BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL, event_type TEXT NOT NULL, "
               "payload JSONB NOT NULL, metadata JSONB DEFAULT '{}', tags TEXT[], event_id UUID) "
               "PARTITION BY RANGE (sequence_number)");
    raw().exec("CREATE TABLE " + t + "_1 PARTITION OF " + t + " FOR VALUES FROM (MINVALUE) TO (MAXVALUE)");
    raw().exec("CREATE INDEX ON " + t + " USING gin (payload jsonb_path_ops) WITH (fastupdate = off)");
    auto partitioned =
        eventstore::postgres::new_event_store_from_pool(pool(), eventstore::postgres::with_table_name(t));
    partitioned->import_events({}, books(1500));
    EXPECT_EQ(count_rows(t), 1500);
    EXPECT_EQ(partitioned->query(eventstore::test::book_filter("book-1499")).events.size(), 1U);
}

// A database that refuses DDL during the import (here an event trigger) loses the GIN batching, not
// the import.
TEST_F(Import, AnImportSurvivesARefusedAlterIndex) {
    raw().exec("CREATE OR REPLACE FUNCTION refuse_ddl() RETURNS event_trigger LANGUAGE plpgsql AS "
               "$$ BEGIN RAISE EXCEPTION 'no DDL here'; END $$");
    raw().exec("CREATE EVENT TRIGGER refuse_alter_index ON ddl_command_start WHEN TAG IN ('ALTER INDEX') "
               "EXECUTE FUNCTION refuse_ddl()");
    store().import_events({}, books(1500));
    raw().exec("DROP EVENT TRIGGER refuse_alter_index");
    raw().exec("DROP FUNCTION refuse_ddl()");
    EXPECT_EQ(count_rows(), 1500);
    const auto after = gin_state();
    EXPECT_EQ(after.options, "{fastupdate=off}");
    EXPECT_EQ(after.pending_tuples, 0);
    EXPECT_EQ(store().query(eventstore::test::book_filter("book-1499")).events.size(), 1U);
}

TEST_F(Import, ConcurrentReadersSeeAllOrNothing) {
    const auto events = books(30000);
    std::atomic<bool> done{false};
    std::atomic<int> partial{0};
    std::atomic<int> reads{0};
    std::thread reader([&] {
        const auto everything =
            build_event_filter().matching().any_event_type_of("BookCopyAddedToCirculation").finalize();
        while (!done.load()) {
            const auto n = store().query(everything).events.size();
            if (n != 0 && n != events.size()) {
                ++partial;
            }
            ++reads;
        }
    });
    store().import_events({}, events);
    done = true;
    reader.join();
    EXPECT_EQ(partial.load(), 0);
    EXPECT_GT(reads.load(), 0);
}

} // namespace
