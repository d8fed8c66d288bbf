#ifndef EVENTSTORE_SRC_POSTGRES_SCHEMA_HPP
#define EVENTSTORE_SRC_POSTGRES_SCHEMA_HPP

// The store's tables as SQL: their names, the statements every operation builds on, every DDL
// statement migrate() runs, and how rows of each table decode. The layout is the Go library's, so
// that both libraries can share a database.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <eventstore/snapshot.hpp>
#include <eventstore/storable_event.hpp>

#include "postgres/result.hpp"
#include "postgres/statement.hpp"
#include "postgres/table_name.hpp"

namespace eventstore::postgres::detail {

// What exists of what Schema::migration() creates, as Schema::migration_check() finds it.
struct MigrationFound {
    // Every table and index, each where the store's statements will find it (an unqualified table
    // through search_path, its indexes beside it), and valid.
    bool everything = false;
    // The schema of each table name: true for an unqualified one.
    bool events_schema = false;
    bool snapshots_schema = false;
    bool checkpoints_schema = false;
    // The events table exists, and has the DCB model's columns (tags, event_id).
    bool events_table = false;
    bool event_columns = false;
    // One character per index of indexes(), in order: '1' found and valid, '0' not. Empty: none known.
    std::string indexes;
};

class Schema {
public:
    // No snapshot table: default_snapshot_table(events); no checkpoint table:
    // default_checkpoint_table(events). Throws Error(empty_events_table_name, invalid_table_name) for
    // names it cannot use, and invalid_table_name for two names that may be one table
    // (same_table_possible).
    Schema(std::string_view events_table, std::optional<std::string_view> snapshots_table,
           std::optional<std::string_view> checkpoints_table = std::nullopt);

    // The snapshot table of an events table that was given none: "snapshots" beside a table named
    // "events" (the Go library's pair, so that both libraries share snapshots), "<table>_snapshots"
    // in the same schema otherwise (fitted to 63 bytes), so that stores on different events tables
    // never share snapshots by default.
    [[nodiscard]] static TableName default_snapshot_table(const TableName& events);
    // "<table>_checkpoints" beside the events table (fitted to 63 bytes).
    [[nodiscard]] static TableName default_checkpoint_table(const TableName& events);
    // Whether two names may resolve to one table, as far as the names alone tell: the same table part,
    // and the same schema or at least one unqualified (search_path decides which schema that is).
    [[nodiscard]] static bool same_table_possible(const TableName& a, const TableName& b) noexcept;

    [[nodiscard]] const TableName& events() const noexcept { return m_events; }
    [[nodiscard]] const TableName& snapshots() const noexcept { return m_snapshots; }
    [[nodiscard]] const TableName& checkpoints() const noexcept { return m_checkpoints; }

    // "SELECT <event columns> FROM <events> e WHERE ": a filter clause over alias `e` follows.
    [[nodiscard]] const std::string& select_events() const noexcept { return m_select_events; }
    // A row of select_events()'s columns.
    [[nodiscard]] static StorableEvent event(const Row& row);
    // Inserts the rows of unnest($1 types, $2 times, $3 payloads, $4 metadata, $5 tags, $6 ids) WITH
    // ORDINALITY as u(..., ord) (event_columns() in codec.hpp); a WHERE clause and "ORDER BY u.ord"
    // (argument order) may follow.
    [[nodiscard]] const std::string& insert_events() const noexcept { return m_insert_events; }
    // One row: the greatest sequence number in the table, 0 when empty.
    [[nodiscard]] Statement newest_sequence_number() const;
    // LOCK TABLE <events> IN <mode> MODE ("SHARE", "ACCESS EXCLUSIVE").
    [[nodiscard]] Statement lock_events(std::string_view mode) const;

    // Snapshot statements, with the Go library's semantics: a save never overwrites a snapshot of a
    // higher sequence number; load and delete address one (projection type, filter hash) pair.
    [[nodiscard]] Statement save_snapshot(const Snapshot& snapshot) const;
    [[nodiscard]] Statement load_snapshot(std::string_view projection_type, const std::string& filter_hash) const;
    [[nodiscard]] Statement delete_snapshot(std::string_view projection_type, const std::string& filter_hash) const;
    // A row of load_snapshot()'s columns.
    [[nodiscard]] static Snapshot snapshot(const Row& row);

    // Durable subscriptions' checkpoints: one row per name, holding the position processed and who
    // holds the name (owner, lease_until: a claim that lapses unless renewed). Lease lengths are in
    // milliseconds, times are the server's.
    //
    // Creates the name's row at `after` if there is none, then claims it for `owner` when it is free,
    // already this owner's, or its claim has lapsed: the last statement returns one row (the saved
    // position) when the claim succeeded, none otherwise.
    [[nodiscard]] std::vector<Statement> claim_checkpoint(const std::string& name, const std::string& owner,
                                                          SequenceNumber after, std::int64_t lease_ms) const;
    // Renews `owner`'s claim and moves the position up to `position` (never down; 0 leaves it): one
    // row (the saved position) while the claim is still this owner's, none once it has lost it.
    [[nodiscard]] Statement renew_checkpoint(const std::string& name, const std::string& owner, SequenceNumber position,
                                             std::int64_t lease_ms) const;
    // The same, and gives the name up for the next consumer.
    [[nodiscard]] Statement release_checkpoint(const std::string& name, const std::string& owner,
                                               SequenceNumber position) const;
    // One row (the saved position), or none for a name never used.
    [[nodiscard]] Statement read_checkpoint(const std::string& name) const;
    // The statement a projection runs in its own transaction ($1 name, $2 position): one row changed
    // when the position is above the saved one.
    [[nodiscard]] const std::string& projection_checkpoint() const noexcept { return m_projection_checkpoint; }

    // One row for found(). Catalog reads only: any role may run it, whatever it may create.
    [[nodiscard]] Statement migration_check() const;
    [[nodiscard]] static MigrationFound found(const Row& row);
    // Serialises concurrent migrations: taken inside the migration's transaction, before
    // migration_check() is run again and migration() acts on what it finds.
    [[nodiscard]] static Statement migration_lock();
    // The DDL migrate() runs, in one transaction, when not everything was found: what `found` says is
    // missing, so that nothing takes a lock on a table that needs nothing (a migrator waiting for a
    // table lock inside its transaction would deadlock with another's CREATE INDEX CONCURRENTLY).
    // Needs the privileges to create what is missing (the schema's owner); a schema that exists is not
    // created again, which would need CREATE on the database.
    [[nodiscard]] std::vector<Statement> migration(const MigrationFound& found = {}) const;

    // The name of one of the store's indexes: the Go library's for the default table names
    // ("idx_events_event_type"), a derived one (table_name.hpp) otherwise.
    [[nodiscard]] static std::string index_name(const TableName& table, std::string_view suffix);
    // The indexes a later version added to an existing events table, which migrate() builds with
    // CREATE INDEX CONCURRENTLY (one statement each, outside a transaction) after migration().
    [[nodiscard]] std::vector<std::string> late_indexes() const;
    // One row (the index's qualified, quoted name) when the named index exists and is invalid (left by
    // an interrupted CREATE INDEX CONCURRENTLY, which must be dropped before it is built again).
    [[nodiscard]] Statement invalid_index(const std::string& name) const;
    [[nodiscard]] Statement create_late_index(const std::string& name) const;

private:
    // One index migration() creates: its table, its name's suffix, and what follows "ON <table> ".
    struct Index {
        const TableName* table;
        std::string_view suffix;
        std::string_view definition;
        bool unique;
        bool late; // added to existing tables by a later version: built concurrently there
    };
    [[nodiscard]] std::vector<Index> indexes() const;
    [[nodiscard]] static std::string create_index(const Index& index, bool concurrently);

    TableName m_events;
    TableName m_snapshots;
    TableName m_checkpoints;
    std::string m_select_events;
    std::string m_projection_checkpoint;
    std::string m_insert_events;
};

} // namespace eventstore::postgres::detail

#endif
