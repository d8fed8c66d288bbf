#include "postgres/schema.hpp"

#include <cstdint>
#include <limits>

#include <eventstore/error.hpp>

#include "postgres/codec.hpp"

namespace eventstore::postgres::detail {

namespace {

// Serialises concurrent migrate() calls: CREATE ... IF NOT EXISTS is not safe against itself.
constexpr std::int64_t migrate_lock_key = 0x6576656e7473746fLL; // "eventsto"

} // namespace

Schema::Schema(std::string_view events_table, std::optional<std::string_view> snapshots_table)
    : m_events(parse_table_name(events_table)) {
    if (!snapshots_table) {
        m_snapshots = default_snapshot_table(m_events);
    } else if (snapshots_table->empty()) {
        // Not the Go library's empty_events_table_name: the Go library has no snapshot table name.
        throw Error(Errc::invalid_table_name, "the snapshot table name is empty");
    } else {
        m_snapshots = parse_table_name(*snapshots_table);
    }
    // One table for both would pass the factory and then fail in migrate() with a confusing column
    // error (or, migrated by hand, mix snapshot rows into the event log).
    if (same_table_possible(m_events, m_snapshots)) {
        throw Error(Errc::invalid_table_name,
                    "the events table " + m_events.quoted + " and the snapshot table " + m_snapshots.quoted +
                        " may be the same table (an unqualified name is resolved through search_path): give the "
                        "snapshot table another name, or qualify both with different schemas");
    }
    m_select_events = "SELECT e.sequence_number, e.occurred_at, e.event_type, e.payload, e.metadata FROM " +
                      m_events.quoted + " e WHERE ";
    m_insert_events = "INSERT INTO " + m_events.quoted +
                      " (event_type, occurred_at, payload, metadata) "
                      "SELECT u.event_type, u.occurred_at, u.payload, u.metadata "
                      "FROM unnest($1::text[], $2::timestamptz[], $3::jsonb[], $4::jsonb[]) WITH ORDINALITY "
                      "AS u(event_type, occurred_at, payload, metadata, ord)";
}

StorableEvent Schema::event(const Row& row) {
    StorableEvent e;
    e.sequence_number = static_cast<SequenceNumber>(row[0].as_int8());
    e.occurred_at = row[1].as_timestamptz();
    e.event_type = row[2].as_text();
    e.payload_json = row[3].as_jsonb();
    // The Go schema lets metadata be NULL; report it as the empty object it stands for.
    const Field metadata = row[4];
    e.metadata_json = metadata.is_null() ? std::string("{}") : metadata.as_jsonb();
    return e;
}

Statement Schema::newest_sequence_number() const {
    return Statement::cached("SELECT coalesce(max(sequence_number), 0) FROM " + m_events.quoted);
}

Statement Schema::lock_events(std::string_view mode) const {
    return Statement::per_call("LOCK TABLE " + m_events.quoted + " IN " + std::string(mode) + " MODE");
}

Statement Schema::save_snapshot(const Snapshot& snapshot) const {
    return Statement::cached(
        "INSERT INTO " + m_snapshots.quoted +
            " AS s (projection_type, filter_hash, sequence_number, snapshot_data, created_at) "
            "VALUES ($1, $2, $3, $4::jsonb, now()) ON CONFLICT (projection_type, filter_hash) DO UPDATE SET "
            "sequence_number = EXCLUDED.sequence_number, snapshot_data = EXCLUDED.snapshot_data, "
            "created_at = EXCLUDED.created_at WHERE EXCLUDED.sequence_number >= s.sequence_number",
        {text_param(snapshot.projection_type), text_param(snapshot.filter_hash),
         int8_param(static_cast<std::int64_t>(snapshot.sequence_number)), text_param(snapshot.data_json)});
}

Statement Schema::load_snapshot(std::string_view projection_type, const std::string& filter_hash) const {
    return Statement::cached("SELECT projection_type, filter_hash, sequence_number, snapshot_data, created_at FROM " +
                                 m_snapshots.quoted + " WHERE filter_hash = $1 AND projection_type = $2",
                             {text_param(filter_hash), text_param(std::string(projection_type))});
}

Statement Schema::delete_snapshot(std::string_view projection_type, const std::string& filter_hash) const {
    return Statement::cached("DELETE FROM " + m_snapshots.quoted + " WHERE filter_hash = $1 AND projection_type = $2",
                             {text_param(filter_hash), text_param(std::string(projection_type))});
}

Snapshot Schema::snapshot(const Row& row) {
    Snapshot s;
    s.projection_type = row[0].as_text();
    s.filter_hash = row[1].as_text();
    s.sequence_number = static_cast<SequenceNumber>(row[2].as_int8());
    s.data_json = row[3].as_jsonb();
    s.created_at = row[4].as_timestamptz();
    return s;
}

TableName Schema::default_snapshot_table(const TableName& events) {
    TableName t;
    t.schema = events.schema;
    t.table = events.table == "events" ? std::string("snapshots") : fitted_identifier(events.table + "_snapshots");
    t.quoted =
        t.schema.empty() ? quote_identifier(t.table) : quote_identifier(t.schema) + "." + quote_identifier(t.table);
    return t;
}

bool Schema::same_table_possible(const TableName& a, const TableName& b) noexcept {
    return a.table == b.table && (a.schema == b.schema || a.schema.empty() || b.schema.empty());
}

std::string Schema::index_name(const TableName& table, std::string_view suffix) {
    return table.table == "events" || table.table == "snapshots" ? "idx_" + table.table + std::string(suffix)
                                                                 : derived_name(table, suffix);
}

std::vector<Schema::Index> Schema::indexes() const {
    return {
        {&m_events, "_event_type", "(event_type)"},
        {&m_events, "_occurred_at", "(occurred_at)"},
        // fastupdate = off: new entries go straight into the tree instead of a pending list that every
        // read scans until VACUUM merges it, so read latency does not depend on VACUUM's timing.
        {&m_events, "_payload_gin", "USING gin (payload jsonb_path_ops) WITH (fastupdate = off)"},
        {&m_snapshots, "_sequence", "(sequence_number DESC)"},
        {&m_snapshots, "_created_at", "(created_at DESC)"},
    };
}

Statement Schema::migration_check() const {
    // Every table has indexes, so (table, index) pairs cover the tables too. to_regclass resolves a
    // table the way the store's statements will (search_path for an unqualified name) and needs no
    // privilege on it; CREATE INDEX puts an index in its table's schema, so that is where to look.
    std::vector<std::string> tables;
    std::vector<std::string> names;
    for (const Index& index : indexes()) {
        tables.push_back(index.table->quoted);
        names.push_back(index_name(*index.table, index.suffix));
    }
    return Statement::per_call(
        "SELECT coalesce(bool_and(EXISTS (SELECT FROM pg_class t JOIN pg_class i ON i.relnamespace = t.relnamespace "
        "WHERE t.oid = to_regclass(w.table_name) AND i.relname = w.index_name)), false), "
        "$3 = '' OR EXISTS (SELECT FROM pg_namespace WHERE nspname = $3), "
        "$4 = '' OR EXISTS (SELECT FROM pg_namespace WHERE nspname = $4) "
        "FROM unnest($1::text[], $2::text[]) AS w(table_name, index_name)",
        {text_array_param(tables, oid::text_array), text_array_param(names, oid::text_array),
         text_param(m_events.schema), text_param(m_snapshots.schema)});
}

MigrationFound Schema::found(const Row& row) {
    return MigrationFound{row[0].as_bool(), row[1].as_bool(), row[2].as_bool()};
}

std::vector<Statement> Schema::migration(const MigrationFound& found) const {
    std::vector<Statement> statements;
    statements.push_back(Statement::per_call("SELECT pg_advisory_xact_lock($1)", {int8_param(migrate_lock_key)}));
    auto ddl = [&statements](std::string sql) { statements.push_back(Statement::per_call(std::move(sql))); };
    const bool create_events_schema = !m_events.schema.empty() && !found.events_schema;
    if (create_events_schema) {
        ddl("CREATE SCHEMA IF NOT EXISTS " + quote_identifier(m_events.schema));
    }
    if (!m_snapshots.schema.empty() && !found.snapshots_schema &&
        !(create_events_schema && m_snapshots.schema == m_events.schema)) {
        ddl("CREATE SCHEMA IF NOT EXISTS " + quote_identifier(m_snapshots.schema));
    }
    ddl("CREATE TABLE IF NOT EXISTS " + m_events.quoted +
        " (sequence_number BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL, event_type TEXT NOT NULL, "
        "payload JSONB NOT NULL, metadata JSONB DEFAULT '{}')");
    ddl("CREATE TABLE IF NOT EXISTS " + m_snapshots.quoted +
        " (projection_type TEXT NOT NULL, filter_hash TEXT NOT NULL, sequence_number BIGINT NOT NULL, "
        "snapshot_data JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), "
        "PRIMARY KEY (projection_type, filter_hash))");
    for (const Index& index : indexes()) {
        ddl("CREATE INDEX IF NOT EXISTS " + quote_identifier(index_name(*index.table, index.suffix)) + " ON " +
            index.table->quoted + " " + std::string(index.definition));
    }
    return statements;
}

} // namespace eventstore::postgres::detail
