#include "postgres/schema.hpp"

#include <cstdint>
#include <initializer_list>
#include <limits>

#include <eventstore/error.hpp>

#include "postgres/codec.hpp"

namespace eventstore::postgres::detail {

namespace {

// Serialises concurrent migrate() calls: CREATE ... IF NOT EXISTS is not safe against itself.
constexpr std::int64_t migrate_lock_key = 0x6576656e7473746fLL; // "eventsto"

// The snapshot or checkpoint table (`what`): `fallback` when the options name none. Refused when named
// empty (not the Go library's empty_events_table_name: the Go library names neither), and when it may
// be one of the store's other tables: that would pass the factory and then fail in migrate() with a
// confusing column error (or, migrated by hand, mix rows of one table into another).
TableName other_table(std::optional<std::string_view> name, std::string_view what, TableName fallback,
                      std::initializer_list<const TableName*> others) {
    if (name && name->empty()) {
        throw Error(Errc::invalid_table_name, "the " + std::string(what) + " table name is empty");
    }
    TableName table = name ? parse_table_name(*name) : std::move(fallback);
    for (const TableName* other : others) {
        if (Schema::same_table_possible(table, *other)) {
            throw Error(Errc::invalid_table_name,
                        "the " + std::string(what) + " table " + table.quoted + " and the table " + other->quoted +
                            " may be the same table (an unqualified name is resolved through search_path): give the " +
                            std::string(what) + " table another name, or qualify both with different schemas");
        }
    }
    return table;
}

} // namespace

Schema::Schema(std::string_view events_table, std::optional<std::string_view> snapshots_table,
               std::optional<std::string_view> checkpoints_table)
    : m_events(parse_table_name(events_table)),
      m_snapshots(other_table(snapshots_table, "snapshot", default_snapshot_table(m_events), {&m_events})),
      m_checkpoints(
          other_table(checkpoints_table, "checkpoint", default_checkpoint_table(m_events), {&m_events, &m_snapshots})) {
    m_projection_checkpoint = "UPDATE " + m_checkpoints.quoted +
                              " SET sequence_number = $2, updated_at = now() WHERE name = $1 AND sequence_number < $2";
    m_select_events =
        "SELECT e.sequence_number, e.occurred_at, e.event_type, e.payload, e.metadata, e.tags, e.event_id FROM " +
        m_events.quoted + " e WHERE ";
    // Each event's tags arrive as one text[] literal (a two-dimensional array cannot hold lists of
    // different lengths); the cast parses it per row.
    m_insert_events = "INSERT INTO " + m_events.quoted +
                      " (event_type, occurred_at, payload, metadata, tags, event_id) "
                      "SELECT u.event_type, u.occurred_at, u.payload, u.metadata, u.tags::text[], u.event_id::uuid "
                      "FROM unnest($1::text[], $2::timestamptz[], $3::jsonb[], $4::jsonb[], $5::text[], $6::text[]) "
                      "WITH ORDINALITY AS u(event_type, occurred_at, payload, metadata, tags, event_id, ord)";
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
    // Rows written by the Go library, or before tags and ids existed, have neither.
    if (const Field tags = row[5]; !tags.is_null()) {
        e.tags = tags.as_text_array();
    }
    if (const Field id = row[6]; !id.is_null()) {
        e.id = id.as_uuid();
    }
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

// Leases are judged by clock_timestamp(), not now(): now() is when the transaction began, and a claim
// that waited for the row behind a projection's transaction would judge a lapsed lease by the time it
// started waiting, and lose to the holder's renewal every time.
std::vector<Statement> Schema::claim_checkpoint(const std::string& name, const std::string& owner, SequenceNumber after,
                                                std::int64_t lease_ms) const {
    return {
        Statement::cached("INSERT INTO " + m_checkpoints.quoted +
                              " (name, sequence_number) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                          {text_param(name), int8_param(static_cast<std::int64_t>(after))}),
        Statement::cached("UPDATE " + m_checkpoints.quoted +
                              " SET owner = $2, lease_until = clock_timestamp() + $3 * interval '1 millisecond' "
                              "WHERE name = $1 AND (owner IS NULL OR owner = $2 OR lease_until < clock_timestamp()) "
                              "RETURNING sequence_number",
                          {text_param(name), text_param(owner), int8_param(lease_ms)}),
    };
}

Statement Schema::renew_checkpoint(const std::string& name, const std::string& owner, SequenceNumber position,
                                   std::int64_t lease_ms) const {
    return Statement::cached(
        "UPDATE " + m_checkpoints.quoted +
            " SET sequence_number = greatest(sequence_number, $3), "
            "lease_until = clock_timestamp() + $4 * interval '1 millisecond', "
            "updated_at = CASE WHEN $3 > sequence_number THEN now() ELSE updated_at END "
            "WHERE name = $1 AND owner = $2 RETURNING sequence_number",
        {text_param(name), text_param(owner), int8_param(static_cast<std::int64_t>(position)), int8_param(lease_ms)});
}

Statement Schema::release_checkpoint(const std::string& name, const std::string& owner, SequenceNumber position) const {
    return Statement::cached("UPDATE " + m_checkpoints.quoted +
                                 " SET sequence_number = greatest(sequence_number, $3), owner = NULL, "
                                 "lease_until = NULL, updated_at = CASE WHEN $3 > sequence_number THEN now() ELSE "
                                 "updated_at END WHERE name = $1 AND owner = $2",
                             {text_param(name), text_param(owner), int8_param(static_cast<std::int64_t>(position))});
}

Statement Schema::read_checkpoint(const std::string& name) const {
    return Statement::cached("SELECT sequence_number FROM " + m_checkpoints.quoted + " WHERE name = $1",
                             {text_param(name)});
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
    return table_name(events.schema, events.table == "events" ? std::string("snapshots")
                                                              : fitted_identifier(events.table + "_snapshots"));
}

TableName Schema::default_checkpoint_table(const TableName& events) {
    return table_name(events.schema, fitted_identifier(events.table + "_checkpoints"));
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
        {&m_events, "_event_type", "(event_type)", false, false},
        {&m_events, "_occurred_at", "(occurred_at)", false, false},
        // fastupdate = off: new entries go straight into the tree instead of a pending list that every
        // read scans until VACUUM merges it, so read latency does not depend on VACUUM's timing.
        {&m_events, "_payload_gin", "USING gin (payload jsonb_path_ops) WITH (fastupdate = off)", false, false},
        {&m_snapshots, "_sequence", "(sequence_number DESC)", false, false},
        {&m_snapshots, "_created_at", "(created_at DESC)", false, false},
        // The columns of the DCB model. Partial: rows without tags or id (every row the Go library
        // writes) take no entry, and every condition on them (@>, =) implies IS NOT NULL.
        {&m_events, "_tags_gin", "USING gin (tags) WITH (fastupdate = off) WHERE tags IS NOT NULL", false, true},
        {&m_events, "_event_id", "(event_id) WHERE event_id IS NOT NULL", true, true},
        // A new table, so never late: created with its table.
        {&m_checkpoints, "_name", "(name)", true, false},
    };
}

std::string Schema::create_index(const Index& index, bool concurrently) {
    return std::string(index.unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ") +
           (concurrently ? "CONCURRENTLY " : "") + "IF NOT EXISTS " +
           quote_identifier(index_name(*index.table, index.suffix)) + " ON " + index.table->quoted + " " +
           std::string(index.definition);
}

std::vector<std::string> Schema::late_indexes() const {
    std::vector<std::string> names;
    for (const Index& index : indexes()) {
        if (index.late) {
            names.push_back(index_name(*index.table, index.suffix));
        }
    }
    return names;
}

Statement Schema::invalid_index(const std::string& name) const {
    // The index of that name beside the events table, if a failed CREATE INDEX CONCURRENTLY left it
    // invalid; as a regclass, whose text is the name quoted and qualified as needed.
    return Statement::per_call(
        "SELECT i.oid::regclass::text FROM pg_class t JOIN pg_class i ON i.relnamespace = t.relnamespace "
        "JOIN pg_index x ON x.indexrelid = i.oid WHERE t.oid = to_regclass($1) AND i.relname = $2 AND NOT x.indisvalid",
        {text_param(m_events.quoted), text_param(name)});
}

Statement Schema::create_late_index(const std::string& name) const {
    for (const Index& index : indexes()) {
        if (index.late && index_name(*index.table, index.suffix) == name) {
            return Statement::per_call(create_index(index, true));
        }
    }
    throw Error(Errc::migration_failed, "no index " + name);
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
        "SELECT string_agg(CASE WHEN EXISTS (SELECT FROM pg_class t JOIN pg_class i ON i.relnamespace = t.relnamespace "
        "JOIN pg_index x ON x.indexrelid = i.oid "
        "WHERE t.oid = to_regclass(w.table_name) AND i.relname = w.index_name AND x.indisvalid) THEN '1' ELSE '0' END, "
        "'' ORDER BY w.ord), "
        "$3 = '' OR EXISTS (SELECT FROM pg_namespace WHERE nspname = $3), "
        "$4 = '' OR EXISTS (SELECT FROM pg_namespace WHERE nspname = $4), "
        "to_regclass($5) IS NOT NULL, "
        "(SELECT count(*) = 2 FROM pg_attribute WHERE attrelid = to_regclass($5) AND attname IN ('tags', 'event_id') "
        "AND NOT attisdropped), "
        "$6 = '' OR EXISTS (SELECT FROM pg_namespace WHERE nspname = $6) "
        "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(table_name, index_name, ord)",
        {text_array_param(tables, oid::text_array), text_array_param(names, oid::text_array),
         text_param(m_events.schema), text_param(m_snapshots.schema), text_param(m_events.quoted),
         text_param(m_checkpoints.schema)});
}

MigrationFound Schema::found(const Row& row) {
    MigrationFound found;
    found.indexes = row[0].as_text();
    found.everything = !found.indexes.empty() && found.indexes.find('0') == std::string::npos;
    found.events_schema = row[1].as_bool();
    found.snapshots_schema = row[2].as_bool();
    found.events_table = row[3].as_bool();
    found.event_columns = row[4].as_bool();
    found.checkpoints_schema = row[5].as_bool();
    return found;
}

Statement Schema::migration_lock() {
    return Statement::per_call("SELECT pg_advisory_xact_lock($1)", {int8_param(migrate_lock_key)});
}

std::vector<Statement> Schema::migration(const MigrationFound& found) const {
    std::vector<Statement> statements;
    auto ddl = [&statements](std::string sql) { statements.push_back(Statement::per_call(std::move(sql))); };
    const bool create_events_schema = !m_events.schema.empty() && !found.events_schema;
    if (create_events_schema) {
        ddl("CREATE SCHEMA IF NOT EXISTS " + quote_identifier(m_events.schema));
    }
    const bool create_snapshots_schema = !m_snapshots.schema.empty() && !found.snapshots_schema &&
                                         !(create_events_schema && m_snapshots.schema == m_events.schema);
    if (create_snapshots_schema) {
        ddl("CREATE SCHEMA IF NOT EXISTS " + quote_identifier(m_snapshots.schema));
    }
    if (!m_checkpoints.schema.empty() && !found.checkpoints_schema &&
        !(create_events_schema && m_checkpoints.schema == m_events.schema) &&
        !(create_snapshots_schema && m_checkpoints.schema == m_snapshots.schema)) {
        ddl("CREATE SCHEMA IF NOT EXISTS " + quote_identifier(m_checkpoints.schema));
    }
    // The Go library's columns, then the DCB model's: nullable, so that the Go library can go on
    // writing rows without them.
    ddl("CREATE TABLE IF NOT EXISTS " + m_events.quoted +
        " (sequence_number BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL, event_type TEXT NOT NULL, "
        "payload JSONB NOT NULL, metadata JSONB DEFAULT '{}', tags TEXT[], event_id UUID)");
    if (found.events_table && !found.event_columns) {
        // Nullable columns without a default are a catalog change only, but the ALTER queues for the
        // table's strongest lock, and every statement on the table queues behind it: give up after a
        // moment rather than stall the application behind a long transaction (migrate() retries).
        ddl("SET LOCAL lock_timeout = '2s'");
        ddl("ALTER TABLE " + m_events.quoted +
            " ADD COLUMN IF NOT EXISTS tags TEXT[], "
            "ADD COLUMN IF NOT EXISTS event_id UUID");
        ddl("SET LOCAL lock_timeout = 0");
    }
    ddl("CREATE TABLE IF NOT EXISTS " + m_snapshots.quoted +
        " (projection_type TEXT NOT NULL, filter_hash TEXT NOT NULL, sequence_number BIGINT NOT NULL, "
        "snapshot_data JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), "
        "PRIMARY KEY (projection_type, filter_hash))");
    // Durable subscriptions: the position each name has processed, and who holds the name until when.
    ddl("CREATE TABLE IF NOT EXISTS " + m_checkpoints.quoted +
        " (name TEXT NOT NULL, sequence_number BIGINT NOT NULL, owner TEXT, lease_until TIMESTAMPTZ, "
        "updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW())");
    const std::vector<Index> all = indexes();
    for (std::size_t i = 0; i < all.size(); ++i) {
        // Even IF NOT EXISTS locks the table: only what is missing. On a table that holds events
        // already, an index added by a later version is built concurrently afterwards
        // (late_indexes()), so that writers are not held off while it is.
        const bool present = i < found.indexes.size() && found.indexes[i] == '1';
        if (!present && (!all[i].late || !found.events_table)) {
            ddl(create_index(all[i], false));
        }
    }
    return statements;
}

} // namespace eventstore::postgres::detail
