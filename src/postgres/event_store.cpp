#include <cstdlib>
#include <future>
#include <limits>
#include <system_error>

#include <eventstore/error.hpp>
#include <eventstore/postgres/event_store.hpp>

#include "core/json.hpp"
#include "postgres/instruments.hpp"
#include "postgres/lock_keys.hpp"
#include "postgres/pool_impl.hpp"
#include "postgres/sql.hpp"
#include "postgres/store_config.hpp"

namespace eventstore::postgres {

using detail::DatabaseFailure;
using detail::Interruption;
using detail::Param;
using detail::Statement;
namespace json = eventstore::detail::json;

namespace {

// Beyond this many advisory locks in one call, a table lock takes their place: cheaper, and it keeps
// one call from exhausting the server's shared lock table (max_locks_per_transaction).
constexpr std::size_t max_advisory_locks = 256;

// Rows per import_events statement: large enough to amortise the round trip, small enough to keep
// one statement's parameters to a few megabytes.
constexpr std::size_t import_chunk_rows = 5000;
// Imports of at least this many events batch their GIN index maintenance (batch_gin_indexes); below
// it, the two catalog updates that costs are not worth it.
constexpr std::size_t gin_batching_threshold = 1000;
// How many imported events' index entries may wait in GIN's pending list before they are merged into
// the tree. Bounds what an interrupted import leaves there for VACUUM (every GIN scan reads the whole
// pending list until then), and what a merge holds in maintenance_work_mem.
constexpr std::size_t gin_pending_events = 50000;
// How long a failed import may spend merging what it left in the pending list (clean_pending_lists).
constexpr std::chrono::seconds gin_cleanup_timeout{10};
constexpr const char* gin_cleanup_lock_timeout = "2s";

// Serialises concurrent migrate() calls (CREATE ... IF NOT EXISTS is not safe against itself).
constexpr std::int64_t migrate_lock_key = 0x6576656e7473746fLL; // "eventsto"

std::optional<Errc> cause_of(const DatabaseFailure& f) {
    switch (f.interruption) {
    case Interruption::canceled:
        return Errc::canceled;
    case Interruption::deadline_exceeded:
        return Errc::deadline_exceeded;
    case Interruption::none:
        break;
    }
    if (f.connection_lost || f.sqlstate.rfind("08", 0) == 0) {
        return Errc::database_connection_failed;
    }
    return std::nullopt;
}

[[noreturn]] void rethrow_as(Errc operation, const DatabaseFailure& f) {
    throw Error(operation, cause_of(f), f.what(), f.sqlstate);
}

[[noreturn]] void rethrow_as(Errc operation, const Error& e) {
    throw Error(operation, e.code(), e.detail(), e.sqlstate());
}

Statement lock_statement(const std::vector<detail::LockRequest>& locks) {
    std::vector<std::int64_t> keys;
    std::vector<bool> exclusive;
    keys.reserve(locks.size());
    for (const auto& l : locks) {
        keys.push_back(l.key);
        exclusive.push_back(l.exclusive);
    }
    std::vector<Param> params;
    params.push_back(detail::int8_array_param(keys));
    params.push_back(detail::bool_array_param(exclusive));
    // unnest yields the keys in array order, so the locks are taken in the sorted order planned.
    return Statement{"SELECT CASE WHEN l.x THEN pg_advisory_xact_lock(l.k) ELSE pg_advisory_xact_lock_shared(l.k) END "
                     "FROM unnest($1::bigint[], $2::boolean[]) AS l(k, x)",
                     std::move(params), false};
}

// A row of the select list "sequence_number, occurred_at, event_type, payload, metadata" (binary).
StorableEvent decode_event(const PGresult* rows, int i) {
    StorableEvent e;
    e.sequence_number =
        static_cast<SequenceNumber>(detail::decode_int8(PQgetvalue(rows, i, 0), PQgetlength(rows, i, 0)));
    e.occurred_at = detail::decode_timestamptz(PQgetvalue(rows, i, 1), PQgetlength(rows, i, 1));
    e.event_type.assign(PQgetvalue(rows, i, 2), static_cast<std::size_t>(PQgetlength(rows, i, 2)));
    e.payload_json = detail::decode_jsonb(PQgetvalue(rows, i, 3), PQgetlength(rows, i, 3));
    // The Go schema lets metadata be NULL; report it as the empty object it stands for.
    e.metadata_json = PQgetisnull(rows, i, 4) != 0
                          ? std::string("{}")
                          : detail::decode_jsonb(PQgetvalue(rows, i, 4), PQgetlength(rows, i, 4));
    return e;
}

void check_event(const StorableEvent& e, std::size_t index, json::StringMembers* members) {
    const std::string where = "event " + std::to_string(index) + ": ";
    if (e.event_type.empty()) {
        throw Error(Errc::invalid_event_type, where + "the event type is empty");
    }
    if (e.event_type.size() > max_event_type_length) {
        throw Error(Errc::invalid_event_type,
                    where + "the event type is longer than " + std::to_string(max_event_type_length) + " bytes");
    }
    if (e.event_type.find('\0') != std::string::npos || !json::is_valid_utf8(e.event_type)) {
        throw Error(Errc::invalid_event_type, where + "the event type must be UTF-8 text without NUL bytes");
    }
    if (std::string problem = json::check_object(e.payload_json, members); !problem.empty()) {
        throw Error(Errc::invalid_payload_json, where + problem);
    }
    if (std::string problem = json::check_object(e.metadata_json); !problem.empty()) {
        throw Error(Errc::invalid_metadata_json, where + problem);
    }
}

} // namespace

class EventStore::Impl {
public:
    Impl(std::shared_ptr<ConnectionPool> primary, std::shared_ptr<ConnectionPool> replica, detail::StoreConfig config)
        : m_primary(std::move(primary)), m_replica(std::move(replica)), m_config(std::move(config)),
          m_instruments(m_config), m_events(detail::parse_table_name(m_config.table_name)),
          m_snapshots(detail::parse_table_name(m_config.snapshot_table_name)) {
        m_select_prefix = "SELECT e.sequence_number, e.occurred_at, e.event_type, e.payload, e.metadata FROM " +
                          m_events.quoted + " e WHERE ";
        m_insert_prefix = "INSERT INTO " + m_events.quoted +
                          " (event_type, occurred_at, payload, metadata) "
                          "SELECT u.event_type, u.occurred_at, u.payload, u.metadata "
                          "FROM unnest($1::text[], $2::timestamptz[], $3::jsonb[], $4::jsonb[]) WITH ORDINALITY "
                          "AS u(event_type, occurred_at, payload, metadata, ord)";
    }

    QueryResult query(const Context& ctx, const Filter& filter);
    void append(const Context& ctx, const Filter& filter, SequenceNumber expected,
                std::span<const StorableEvent> events);
    void save_snapshot(const Context& ctx, const Snapshot& snapshot);
    std::optional<Snapshot> load_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter);
    void delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter);
    void migrate(const Context& ctx);
    SequenceNumber query_stream(const Context& ctx, const Filter& filter,
                                const std::function<void(StorableEvent&&)>& on_event);
    void import_events(const Context& ctx, std::span<const StorableEvent> events);

    const detail::TableName& events_table() const noexcept { return m_events; }
    const detail::TableName& snapshots_table() const noexcept { return m_snapshots; }

private:
    struct GinIndex {
        std::string quoted;       // "schema"."index"
        bool switched_on = false; // fastupdate was off: import_events turns it on, then off again
    };
    std::vector<GinIndex> batch_gin_indexes(const Context& ctx, detail::Connection& conn) const;
    static void append_gin_cleanup(const std::vector<GinIndex>& gin, std::vector<Statement>& statements);
    void clean_pending_lists(const Context& ctx, const std::vector<GinIndex>& gin) const noexcept;

    // Eventual reads go to the replica when there is one; everything else to the primary. There is no
    // fallback: a failing replica fails the call, and the caller decides whether to ask the primary.
    [[nodiscard]] bool on_replica(const Context& ctx) const noexcept {
        return m_replica && ctx.consistency() == Consistency::eventual;
    }
    [[nodiscard]] ConnectionPool::Impl& read_pool(bool replica) const {
        return replica ? m_replica->impl() : m_primary->impl();
    }

    // The snapshot operations' error records (spec §4.3).
    void log_failure(const Context& ctx, std::string_view message, const std::exception& failure,
                     std::string_view projection_type) const {
        if (m_instruments.logging()) {
            m_instruments.log(detail::Instruments::Level::error, ctx, message,
                              {{"error", failure.what()}, {"projection_type", std::string(projection_type)}});
        }
    }

    // What every read starts with: its WHERE clause, and the statement that waits for the in-flight
    // writers of its keys (the gap-free barrier, docs/design/gap-free-reads.md).
    struct Read {
        detail::FilterClause clause;
        Statement barrier;
    };
    // A filter that cannot be turned into SQL is reported to `op` and thrown.
    [[nodiscard]] Read prepare_read(const Filter& filter, int first_param, detail::Operation& op) const;

    std::shared_ptr<ConnectionPool> m_primary;
    std::shared_ptr<ConnectionPool> m_replica; // may be null
    detail::StoreConfig m_config;
    detail::Instruments m_instruments;
    detail::TableName m_events;
    detail::TableName m_snapshots;
    std::string m_select_prefix;
    std::string m_insert_prefix;
};

EventStore::Impl::Read EventStore::Impl::prepare_read(const Filter& filter, int first_param,
                                                      detail::Operation& op) const {
    Read read;
    std::vector<std::uint64_t> keys;
    try {
        read.clause = detail::filter_clause(filter, first_param);
        detail::add_filter_keys(filter, keys);
    } catch (const Error& e) {
        op.build_failed(e, {});
        rethrow_as(Errc::querying_events_failed, e);
    }
    const auto locks = detail::plan_locks(std::move(keys), {}, 0);
    // Beyond the advisory-lock budget, SHARE conflicts with the ROW EXCLUSIVE lock every INSERT holds
    // until commit: the same barrier against in-flight writers, for every key at once.
    read.barrier = locks.size() <= max_advisory_locks
                       ? lock_statement(locks)
                       : Statement{"LOCK TABLE " + m_events.quoted + " IN SHARE MODE", {}, false};
    return read;
}

QueryResult EventStore::Impl::query(const Context& ctx, const Filter& filter) {
    const bool replica = on_replica(ctx);
    detail::Operation op(m_instruments, ctx, detail::query_kind, replica ? "replica" : "primary", {});
    Read read = prepare_read(filter, 1, op);
    std::vector<Statement> statements;
    statements.reserve(2);
    // The barrier waits for in-flight writers holding advisory locks, which live on the primary: a
    // replica never sees them (docs/design/gap-free-reads.md, "Eventual reads").
    if (!replica) {
        statements.push_back(std::move(read.barrier));
    }
    statements.push_back(Statement{m_select_prefix + read.clause.sql + " ORDER BY e.sequence_number",
                                   std::move(read.clause.params), true, read.clause.generic});
    op.component_done("query_build");
    QueryResult out;
    std::vector<detail::ResultPtr> results;
    try {
        op.sql_started();
        ConnectionLease conn = read_pool(replica).acquire(op.context());
        results = conn->run(op.context(), statements);
        op.sql_done(statements.back().sql);
    } catch (const DatabaseFailure& f) {
        op.sql_done(statements.back().sql);
        op.database_failed(f, statements.back().sql);
        rethrow_as(Errc::querying_events_failed, f);
    }
    op.component_done("sql_execution");
    try {
        const PGresult* rows = results.back().get();
        const int n = PQntuples(rows);
        out.events.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            out.events.push_back(decode_event(rows, i));
        }
    } catch (const Error& e) {
        op.scan_failed(e);
        throw;
    }
    if (!out.events.empty()) {
        out.max_sequence_number = out.events.back().sequence_number;
    }
    op.component_done("result_processing");
    op.read_succeeded(out.events.size(), out.max_sequence_number);
    return out;
}

SequenceNumber EventStore::Impl::query_stream(const Context& ctx, const Filter& filter,
                                              const std::function<void(StorableEvent&&)>& on_event) {
    detail::Operation op(m_instruments, ctx, detail::stream_kind, "primary", {});
    Read read = prepare_read(filter, 2, op);
    // Phase 1, under the filter's shared locks: every in-flight writer of a matching event has
    // finished, and later ones will number their events above the newest committed row. So that row's
    // number bounds the stream: every matching event at or below it is already visible.
    std::vector<Statement> bound;
    bound.push_back(std::move(read.barrier));
    bound.push_back(Statement{"SELECT coalesce(max(sequence_number), 0) FROM " + m_events.quoted, {}, true});
    // Phase 2, without locks: read up to the bound, one row at a time. Planned with its values, as a
    // million-row read wants a different plan from a small boundary's.
    std::vector<Param> params;
    params.reserve(1 + read.clause.params.size());
    const std::string sql =
        m_select_prefix + "(" + read.clause.sql + ") AND e.sequence_number <= $1" + " ORDER BY e.sequence_number";
    op.component_done("query_build");
    SequenceNumber last = 0;
    std::size_t count = 0;
    bool in_callback = false;
    try {
        op.sql_started();
        ConnectionLease conn = m_primary->impl().acquire(op.context());
        auto results = conn->run(op.context(), bound);
        const auto cap =
            detail::decode_int8(PQgetvalue(results.back().get(), 0, 0), PQgetlength(results.back().get(), 0, 0));
        params.push_back(detail::int8_param(cap));
        for (Param& p : read.clause.params) {
            params.push_back(std::move(p));
        }
        const Statement rows{sql, std::move(params), true, false};
        conn->stream(op.context(), rows, [&](const PGresult* row) {
            StorableEvent e = decode_event(row, 0);
            last = e.sequence_number;
            ++count;
            in_callback = true;
            on_event(std::move(e));
            in_callback = false;
        });
        op.sql_done(sql);
    } catch (const DatabaseFailure& f) {
        op.sql_done(sql);
        op.database_failed(f, sql);
        rethrow_as(Errc::querying_events_failed, f);
    } catch (const std::exception& e) {
        if (in_callback) {
            op.caller_failed(e.what());
        } else if (const auto* error = dynamic_cast<const Error*>(&e)) {
            op.scan_failed(*error);
        }
        throw;
    } catch (...) {
        if (in_callback) {
            op.caller_failed("an exception not derived from std::exception");
        }
        throw;
    }
    op.component_done("sql_execution");
    op.read_succeeded(count, last);
    return last;
}

void EventStore::Impl::append(const Context& ctx, const Filter& filter, SequenceNumber expected,
                              std::span<const StorableEvent> events) {
    if (events.empty()) {
        return;
    }
    detail::Operation op(m_instruments, ctx, detail::append_kind, "primary",
                         m_instruments.tracing() ? Attributes{{"event_count", std::to_string(events.size())},
                                                              {"expected_seq", std::to_string(expected)},
                                                              {"event_type", events.front().event_type}}
                                                 : Attributes{});
    std::vector<std::uint64_t> reader_keys;
    std::vector<std::uint64_t> writer_keys;
    detail::FilterClause clause;
    try {
        json::StringMembers members;
        for (std::size_t i = 0; i < events.size(); ++i) {
            members.clear();
            check_event(events[i], i, &members);
            detail::add_event_keys(events[i].event_type, members, writer_keys);
        }
        clause = detail::filter_clause(filter, 6);
        detail::add_filter_keys(filter, reader_keys);
    } catch (const Error& e) {
        op.build_failed(e, {{"event_count", std::to_string(events.size())}});
        rethrow_as(Errc::appending_event_failed, e);
    }
    if (expected > static_cast<SequenceNumber>(std::numeric_limits<std::int64_t>::max())) {
        op.conflicted(events.size(), expected);
        throw ConcurrencyConflict("expected sequence number " + std::to_string(expected) + " is out of range");
    }

    detail::EventColumns cols = detail::event_columns(events);
    std::vector<Param> params;
    params.reserve(5 + clause.params.size());
    params.push_back(std::move(cols.event_types));
    params.push_back(std::move(cols.occurred_at));
    params.push_back(std::move(cols.payloads));
    params.push_back(std::move(cols.metadata));
    // The stream's version is the greatest matching sequence number (0 when none), compared with the
    // expected one in the same statement that inserts. An aggregate over every matching row has no
    // fast-start plan, so a generic plan cannot turn it into a filtered walk of the primary key
    // (pitfall 3); `+ 0` keeps the planner's min/max rewrite from doing the same. A filter without
    // items wants exactly that rewrite: the newest row, read backwards from the primary key.
    params.push_back(detail::int8_param(static_cast<std::int64_t>(expected)));
    std::string sql = m_insert_prefix + " WHERE (SELECT coalesce(max(" +
                      std::string(clause.has_items ? "e.sequence_number + 0" : "e.sequence_number") + "), 0) FROM " +
                      m_events.quoted + " e WHERE " + clause.sql + ") = $5";
    sql += " ORDER BY u.ord";
    for (Param& p : clause.params) {
        params.push_back(std::move(p));
    }
    op.component_done("query_build");

    std::uint64_t rows_affected = 0;
    std::vector<Statement> statements;
    statements.reserve(2);
    try {
        op.sql_started();
        ConnectionLease conn = m_primary->impl().acquire(op.context());
        const auto locks = detail::plan_locks(std::move(reader_keys), std::move(writer_keys),
                                              static_cast<std::uint32_t>(conn->backend_pid()));
        if (locks.size() <= max_advisory_locks) {
            statements.push_back(lock_statement(locks));
        } else {
            // Conflicts with every reader (ACCESS SHARE) and writer (ROW EXCLUSIVE) of the table, so it
            // stands in for any set of keys; held until commit like the advisory locks.
            statements.push_back(Statement{"LOCK TABLE " + m_events.quoted + " IN ACCESS EXCLUSIVE MODE", {}, false});
        }
        statements.push_back(Statement{std::move(sql), std::move(params), false, clause.generic});
        auto results = conn->run(op.context(), statements);
        op.sql_done(statements.back().sql);
        const char* tuples = PQcmdTuples(results.back().get());
        rows_affected = std::strtoull(tuples, nullptr, 10);
    } catch (const DatabaseFailure& f) {
        const std::string& text = statements.empty() ? sql : statements.back().sql;
        op.sql_done(text);
        op.database_failed(f, text);
        rethrow_as(Errc::appending_event_failed, f);
    }
    op.component_done("sql_execution");
    if (rows_affected == 0) {
        op.conflicted(events.size(), expected);
        throw ConcurrencyConflict();
    }
    if (rows_affected != events.size()) {
        const std::string detail =
            "inserted " + std::to_string(rows_affected) + " of " + std::to_string(events.size()) + " events";
        op.scan_failed(Error(Errc::appending_event_failed, detail));
        throw Error(Errc::appending_event_failed, detail);
    }
    op.write_succeeded(events.size());
}

void EventStore::Impl::import_events(const Context& ctx, std::span<const StorableEvent> events) {
    if (events.empty()) {
        return;
    }
    detail::Operation op(m_instruments, ctx, detail::import_kind, "primary",
                         m_instruments.tracing() ? Attributes{{"event_count", std::to_string(events.size())}}
                                                 : Attributes{});
    // Validates one chunk and encodes its columns. Chunk k+1 is prepared on another thread while the
    // server inserts chunk k; a bad event anywhere fails the whole import, which then rolls back.
    const auto prepare = [events](std::size_t first) {
        const auto part = events.subspan(first, std::min(import_chunk_rows, events.size() - first));
        for (std::size_t i = 0; i < part.size(); ++i) {
            check_event(part[i], first + i, nullptr);
        }
        return detail::event_columns(part);
    };
    std::optional<detail::EventColumns> cols;
    try {
        cols = prepare(0); // before taking any lock: a bad first chunk costs the database nothing
    } catch (const Error& e) {
        op.build_failed(e, {{"event_count", std::to_string(events.size())}});
        rethrow_as(Errc::appending_event_failed, e);
    }
    op.component_done("query_build");
    op.sql_started();
    std::future<detail::EventColumns> next;
    std::vector<GinIndex> gin;
    try {
        ConnectionLease conn = m_primary->impl().acquire(op.context());
        // ACCESS EXCLUSIVE conflicts with every reader and writer, and sequence numbers are taken while
        // it is held: the same guarantees as the advisory locks of append, for any number of events.
        std::vector<Statement> begin{
            Statement{"BEGIN ISOLATION LEVEL READ COMMITTED", {}, false, false},
            Statement{"LOCK TABLE " + m_events.quoted + " IN ACCESS EXCLUSIVE MODE", {}, false, false}};
        conn->run(op.context(), begin);
        // A failure from here on leaves the transaction open; the lease then discards the connection,
        // which rolls it back.
        if (events.size() >= gin_batching_threshold) {
            gin = batch_gin_indexes(op.context(), *conn);
        }
        std::size_t pending = 0;
        for (std::size_t first = 0; first < events.size(); first += import_chunk_rows) {
            const std::size_t rows = std::min(import_chunk_rows, events.size() - first);
            const bool more = first + rows < events.size();
            if (more) {
                try {
                    next = std::async(std::launch::async, prepare, first + rows);
                } catch (const std::system_error&) {
                    // No thread to be had: the next chunk is prepared after this one, as before.
                }
            }
            std::vector<Statement> insert{Statement{m_insert_prefix + " ORDER BY u.ord",
                                                    {std::move(cols->event_types), std::move(cols->occurred_at),
                                                     std::move(cols->payloads), std::move(cols->metadata)},
                                                    false}};
            pending += rows;
            if (pending >= gin_pending_events || first + rows == events.size()) {
                append_gin_cleanup(gin, insert);
                pending = 0;
            }
            conn->run(op.context(), insert);
            if (more) {
                cols = next.valid() ? next.get() : prepare(first + rows);
            }
        }
        std::vector<Statement> commit;
        for (const GinIndex& index : gin) {
            if (index.switched_on) {
                commit.push_back(
                    Statement{"ALTER INDEX " + index.quoted + " SET (fastupdate = off)", {}, false, false});
            }
        }
        commit.push_back(Statement{"COMMIT", {}, false, false});
        conn->run(op.context(), commit);
        op.sql_done(m_insert_prefix);
    } catch (const DatabaseFailure& f) {
        op.sql_done(m_insert_prefix);
        op.database_failed(f, m_insert_prefix);
        if (cause_of(f) != Errc::database_connection_failed) {
            clean_pending_lists(op.context(), gin);
        }
        rethrow_as(Errc::appending_event_failed, f);
    } catch (const Error& e) {
        op.build_failed(e, {{"event_count", std::to_string(events.size())}});
        clean_pending_lists(op.context(), gin);
        rethrow_as(Errc::appending_event_failed, e);
    } catch (...) {
        clean_pending_lists(op.context(), gin); // and `op` ends its span as failed
        throw;
    }
    op.component_done("sql_execution");
    op.write_succeeded(events.size());
}

// GIN inserts one entry at a time into its tree with fastupdate = off (several random page writes per
// event). An import instead sends its entries through the pending list and merges them in sorted
// batches (gin_clean_pending_list): the same index afterwards, written in about half the time
// (docs/performance.md). It needs to own the index; without ownership the import simply goes row by
// row. Runs inside the import's transaction, under its ACCESS EXCLUSIVE lock, so no reader ever sees
// the pending list, and a rollback restores the index options.
std::vector<EventStore::Impl::GinIndex> EventStore::Impl::batch_gin_indexes(const Context& ctx,
                                                                            detail::Connection& conn) const {
    std::vector<Statement> find{Statement{
        "SELECT n.nspname, c.relname, "
        "coalesce((SELECT split_part(o, '=', 2)::boolean FROM unnest(c.reloptions) AS o "
        "WHERE o LIKE 'fastupdate=%'), true) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE i.indrelid = $1::regclass AND c.relkind = 'i' AND a.amname = 'gin' AND pg_has_role(c.relowner, 'USAGE') "
        "ORDER BY c.oid",
        {detail::text_param(m_events.quoted)},
        false,
        false}};
    auto results = conn.run(ctx, find);
    const PGresult* r = results.back().get();
    std::vector<GinIndex> gin;
    std::vector<Statement> setup;
    // Under a savepoint: a database that refuses the ALTER (an event trigger against DDL, say) costs
    // the import its speed-up, not its success.
    setup.push_back(Statement{"SAVEPOINT eventstore_gin_batching", {}, false, false});
    // Large enough that no insert in the import stops to flush the list; the merges happen at the
    // points import_events chooses. Only for this transaction.
    setup.push_back(Statement{"SET LOCAL gin_pending_list_limit = '2GB'", {}, false, false});
    for (int i = 0; i < PQntuples(r); ++i) {
        GinIndex index;
        index.quoted =
            detail::quote_identifier(PQgetvalue(r, i, 0)) + "." + detail::quote_identifier(PQgetvalue(r, i, 1));
        index.switched_on = PQgetvalue(r, i, 2)[0] == 'f';
        if (index.switched_on) {
            setup.push_back(Statement{"ALTER INDEX " + index.quoted + " SET (fastupdate = on)", {}, false, false});
        }
        gin.push_back(std::move(index));
    }
    if (gin.empty()) {
        return gin;
    }
    setup.push_back(Statement{"RELEASE SAVEPOINT eventstore_gin_batching", {}, false, false});
    try {
        conn.run(ctx, setup);
    } catch (const DatabaseFailure& f) {
        if (f.interruption != Interruption::none || cause_of(f) == Errc::database_connection_failed) {
            throw;
        }
        std::vector<Statement> undo{Statement{"ROLLBACK TO SAVEPOINT eventstore_gin_batching", {}, false, false}};
        conn.run(ctx, undo);
        if (m_instruments.logging()) {
            m_instruments.log(detail::Instruments::Level::warn, ctx,
                              "import goes row by row: the payload index could not be switched to batching",
                              {{"error", f.what()}});
        }
        return {};
    }
    return gin;
}

void EventStore::Impl::append_gin_cleanup(const std::vector<GinIndex>& gin, std::vector<Statement>& statements) {
    for (const GinIndex& index : gin) {
        statements.push_back(
            Statement{"SELECT gin_clean_pending_list($1::regclass)", {detail::text_param(index.quoted)}, false});
    }
}

// A failed import's transaction rolls back, and its index options with it, but the GIN pending list
// is not transactional: the entries of up to gin_pending_events rolled-back rows stay there, and
// every later GIN scan reads them until a VACUUM merges them (which 50,000 dead rows alone may never
// trigger on a large table). So merge them now, on a fresh connection (the failed one is closed, which
// rolls its transaction back; the merge waits for that). Best effort and bounded, and not cancellable
// by the caller's context, which has usually just been cancelled. If another import holds the index
// meanwhile, the merge gives up after a short lock timeout: that import's own merge at its end takes
// the whole list, these entries included.
void EventStore::Impl::clean_pending_lists(const Context& ctx, const std::vector<GinIndex>& gin) const noexcept {
    if (gin.empty()) {
        return;
    }
    try {
        const Context cleanup = Context().with_timeout(gin_cleanup_timeout);
        ConnectionLease conn = m_primary->impl().acquire(cleanup);
        std::vector<Statement> statements;
        statements.push_back(Statement{
            "SELECT set_config('lock_timeout', $1, true)", {detail::text_param(gin_cleanup_lock_timeout)}, false});
        append_gin_cleanup(gin, statements);
        conn->run(cleanup, statements);
    } catch (const std::exception& e) {
        if (m_instruments.logging()) {
            m_instruments.log(detail::Instruments::Level::warn, ctx,
                              "could not merge a failed import's index entries; the next VACUUM will",
                              {{"error", e.what()}});
        }
    } catch (...) { // NOLINT(bugprone-empty-catch): the import's own error is what the caller must see
    }
}

void EventStore::Impl::save_snapshot(const Context& ctx, const Snapshot& snapshot) {
    snapshot.validate();
    if (snapshot.sequence_number > static_cast<SequenceNumber>(std::numeric_limits<std::int64_t>::max())) {
        throw Error(Errc::saving_snapshot_failed, "sequence number out of range");
    }
    // A lower sequence number never overwrites; an equal or higher one does (Go semantics).
    std::vector<Statement> statements{
        Statement{"INSERT INTO " + m_snapshots.quoted +
                      " AS s (projection_type, filter_hash, sequence_number, snapshot_data, created_at) "
                      "VALUES ($1, $2, $3, $4::jsonb, now()) ON CONFLICT (projection_type, filter_hash) DO UPDATE SET "
                      "sequence_number = EXCLUDED.sequence_number, snapshot_data = EXCLUDED.snapshot_data, "
                      "created_at = EXCLUDED.created_at WHERE EXCLUDED.sequence_number >= s.sequence_number",
                  {detail::text_param(snapshot.projection_type), detail::text_param(snapshot.filter_hash),
                   detail::int8_param(static_cast<std::int64_t>(snapshot.sequence_number)),
                   detail::text_param(snapshot.data_json)},
                  false}};
    detail::SnapshotCall call(m_instruments, ctx, "save", "primary", snapshot.projection_type, snapshot.filter_hash);
    try {
        ConnectionLease conn = m_primary->impl().acquire(call.context());
        conn->run(call.context(), statements);
    } catch (const DatabaseFailure& f) {
        call.database_failed(f);
        log_failure(call.context(), "saving snapshot failed", f, snapshot.projection_type);
        rethrow_as(Errc::saving_snapshot_failed, f);
    }
    call.succeeded({});
    if (m_instruments.logging()) {
        m_instruments.log(detail::Instruments::Level::info, call.context(),
                          "eventstore operation: snapshot saved successfully",
                          {{"projection_type", snapshot.projection_type},
                           {"filter_hash", snapshot.filter_hash},
                           {"sequence_number", std::to_string(snapshot.sequence_number)},
                           {"duration_ms", detail::log_milliseconds(call.elapsed())}});
    }
}

std::optional<Snapshot> EventStore::Impl::load_snapshot(const Context& ctx, std::string_view projection_type,
                                                        const Filter& filter) {
    if (projection_type.empty()) {
        throw Error(Errc::empty_projection_type);
    }
    const std::string hash = filter.hash();
    std::vector<Statement> statements{
        Statement{"SELECT projection_type, filter_hash, sequence_number, snapshot_data, created_at FROM " +
                      m_snapshots.quoted + " WHERE filter_hash = $1 AND projection_type = $2",
                  {detail::text_param(hash), detail::text_param(std::string(projection_type))},
                  true}};
    const bool replica = on_replica(ctx);
    detail::SnapshotCall call(m_instruments, ctx, "load", replica ? "replica" : "primary", projection_type, hash);
    try {
        ConnectionLease conn = read_pool(replica).acquire(call.context());
        auto results = conn->run(call.context(), statements);
        PGresult* r = results.back().get();
        if (PQntuples(r) == 0) {
            call.succeeded("miss");
            if (m_instruments.logging()) {
                m_instruments.log(detail::Instruments::Level::info, call.context(),
                                  "eventstore operation: snapshot not found",
                                  {{"projection_type", std::string(projection_type)},
                                   {"filter_hash", hash},
                                   {"duration_ms", detail::log_milliseconds(call.elapsed())}});
            }
            return std::nullopt;
        }
        Snapshot s;
        s.projection_type.assign(PQgetvalue(r, 0, 0), static_cast<std::size_t>(PQgetlength(r, 0, 0)));
        s.filter_hash.assign(PQgetvalue(r, 0, 1), static_cast<std::size_t>(PQgetlength(r, 0, 1)));
        s.sequence_number = static_cast<SequenceNumber>(detail::decode_int8(PQgetvalue(r, 0, 2), PQgetlength(r, 0, 2)));
        s.data_json = detail::decode_jsonb(PQgetvalue(r, 0, 3), PQgetlength(r, 0, 3));
        s.created_at = detail::decode_timestamptz(PQgetvalue(r, 0, 4), PQgetlength(r, 0, 4));
        call.succeeded("hit");
        if (m_instruments.logging()) {
            m_instruments.log(detail::Instruments::Level::info, call.context(),
                              "eventstore operation: snapshot loaded successfully",
                              {{"projection_type", s.projection_type},
                               {"filter_hash", s.filter_hash},
                               {"sequence_number", std::to_string(s.sequence_number)},
                               {"duration_ms", detail::log_milliseconds(call.elapsed())}});
        }
        return s;
    } catch (const DatabaseFailure& f) {
        call.database_failed(f);
        log_failure(call.context(), "loading snapshot failed", f, projection_type);
        rethrow_as(Errc::loading_snapshot_failed, f);
    } catch (const Error& e) {
        call.decode_failed();
        log_failure(call.context(), "loading snapshot failed", e, projection_type);
        rethrow_as(Errc::loading_snapshot_failed, e);
    }
}

void EventStore::Impl::delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter) {
    if (projection_type.empty()) {
        throw Error(Errc::empty_projection_type);
    }
    const std::string hash = filter.hash();
    std::vector<Statement> statements{
        Statement{"DELETE FROM " + m_snapshots.quoted + " WHERE filter_hash = $1 AND projection_type = $2",
                  {detail::text_param(hash), detail::text_param(std::string(projection_type))},
                  false}};
    detail::SnapshotCall call(m_instruments, ctx, "delete", "primary", projection_type, hash);
    std::string rows_affected;
    try {
        ConnectionLease conn = m_primary->impl().acquire(call.context());
        auto results = conn->run(call.context(), statements);
        rows_affected = PQcmdTuples(results.back().get());
    } catch (const DatabaseFailure& f) {
        call.database_failed(f);
        log_failure(call.context(), "deleting snapshot failed", f, projection_type);
        rethrow_as(Errc::deleting_snapshot_failed, f);
    }
    call.succeeded({});
    if (m_instruments.logging()) {
        m_instruments.log(detail::Instruments::Level::info, call.context(),
                          "eventstore operation: snapshot deletion completed",
                          {{"projection_type", std::string(projection_type)},
                           {"filter_hash", hash},
                           {"rows_affected", rows_affected},
                           {"duration_ms", detail::log_milliseconds(call.elapsed())}});
    }
}

void EventStore::Impl::migrate(const Context& ctx) {
    const std::string& t = m_events.quoted;
    const std::string& s = m_snapshots.quoted;
    std::vector<Statement> statements;
    auto ddl = [&statements](std::string sql) { statements.push_back(Statement{std::move(sql), {}, false, false}); };
    statements.push_back(
        Statement{"SELECT pg_advisory_xact_lock($1)", {detail::int8_param(migrate_lock_key)}, false, false});
    for (const detail::TableName* table : {&m_events, &m_snapshots}) {
        if (!table->schema.empty()) {
            ddl("CREATE SCHEMA IF NOT EXISTS " + detail::quote_identifier(table->schema));
        }
    }
    // The Go library's schema (spec §5.1), so that both libraries can share a database. The payload
    // index skips GIN's pending list (fastupdate = off): reads must not depend on VACUUM timing.
    ddl("CREATE TABLE IF NOT EXISTS " + t +
        " (sequence_number BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL, event_type TEXT NOT NULL, "
        "payload JSONB NOT NULL, metadata JSONB DEFAULT '{}')");
    auto index = [&](const detail::TableName& table, std::string_view suffix, const std::string& definition) {
        std::string name = table.table == "events" || table.table == "snapshots"
                               ? "idx_" + table.table + std::string(suffix)
                               : detail::derived_name(table, suffix);
        ddl("CREATE INDEX IF NOT EXISTS " + detail::quote_identifier(name) + " ON " + table.quoted + " " + definition);
    };
    index(m_events, "_event_type", "(event_type)");
    index(m_events, "_occurred_at", "(occurred_at)");
    index(m_events, "_payload_gin", "USING gin (payload jsonb_path_ops) WITH (fastupdate = off)");
    ddl("CREATE TABLE IF NOT EXISTS " + s +
        " (projection_type TEXT NOT NULL, filter_hash TEXT NOT NULL, sequence_number BIGINT NOT NULL, "
        "snapshot_data JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), "
        "PRIMARY KEY (projection_type, filter_hash))");
    index(m_snapshots, "_sequence", "(sequence_number DESC)");
    index(m_snapshots, "_created_at", "(created_at DESC)");
    try {
        ConnectionLease conn = m_primary->impl().acquire(ctx);
        conn->run(ctx, statements);
    } catch (const DatabaseFailure& f) {
        throw Error(Errc::migration_failed, cause_of(f), f.what(), f.sqlstate);
    }
}

// --- public surface ------------------------------------------------------------------------------

EventStore::EventStore(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
EventStore::~EventStore() = default;

QueryResult EventStore::query(const Context& ctx, const Filter& filter) { return m_impl->query(ctx, filter); }

void EventStore::append(const Context& ctx, const Filter& filter, SequenceNumber expected_max_sequence_number,
                        std::span<const StorableEvent> events) {
    m_impl->append(ctx, filter, expected_max_sequence_number, events);
}

void EventStore::save_snapshot(const Context& ctx, const Snapshot& snapshot) { m_impl->save_snapshot(ctx, snapshot); }

std::optional<Snapshot> EventStore::load_snapshot(const Context& ctx, std::string_view projection_type,
                                                  const Filter& filter) {
    return m_impl->load_snapshot(ctx, projection_type, filter);
}

void EventStore::delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter) {
    m_impl->delete_snapshot(ctx, projection_type, filter);
}

void EventStore::migrate(const Context& ctx) { m_impl->migrate(ctx); }

SequenceNumber EventStore::query_stream(const Context& ctx, const Filter& filter,
                                        const std::function<void(StorableEvent&&)>& on_event) {
    return m_impl->query_stream(ctx, filter, on_event);
}

void EventStore::import_events(const Context& ctx, std::span<const StorableEvent> events) {
    m_impl->import_events(ctx, events);
}

const std::string& EventStore::table_name() const noexcept { return m_impl->events_table().quoted; }

const std::string& EventStore::snapshot_table_name() const noexcept { return m_impl->snapshots_table().quoted; }

Option with_table_name(std::string name) {
    return Option([name = std::move(name)](detail::StoreConfig& c) {
        if (name.empty()) {
            throw Error(Errc::empty_events_table_name);
        }
        (void)detail::parse_table_name(name);
        c.table_name = name;
    });
}

Option with_snapshot_table_name(std::string name) {
    return Option([name = std::move(name)](detail::StoreConfig& c) {
        if (name.empty()) {
            throw Error(Errc::invalid_table_name, "the snapshot table name is empty");
        }
        (void)detail::parse_table_name(name);
        c.snapshot_table_name = name;
    });
}

Option with_logger(std::shared_ptr<Logger> logger) {
    return Option([logger = std::move(logger)](detail::StoreConfig& c) { c.logger = logger; });
}

Option with_contextual_logger(std::shared_ptr<ContextualLogger> logger) {
    return Option([logger = std::move(logger)](detail::StoreConfig& c) { c.contextual_logger = logger; });
}

Option with_metrics(std::shared_ptr<MetricsCollector> collector) {
    return Option([collector = std::move(collector)](detail::StoreConfig& c) { c.metrics = collector; });
}

Option with_tracing(std::shared_ptr<TracingCollector> collector) {
    return Option([collector = std::move(collector)](detail::StoreConfig& c) { c.tracing = collector; });
}

std::unique_ptr<EventStore> new_event_store_from_pool_and_replica(std::shared_ptr<ConnectionPool> primary,
                                                                  std::shared_ptr<ConnectionPool> replica,
                                                                  const std::vector<Option>& options) {
    if (!primary) {
        throw Error(Errc::nil_database_connection);
    }
    detail::StoreConfig config;
    for (const Option& o : options) {
        o.apply(config);
    }
    return std::make_unique<EventStore>(
        std::make_unique<EventStore::Impl>(std::move(primary), std::move(replica), std::move(config)));
}

std::unique_ptr<EventStore> new_event_store_from_pool(std::shared_ptr<ConnectionPool> primary,
                                                      const std::vector<Option>& options) {
    return new_event_store_from_pool_and_replica(std::move(primary), nullptr, options);
}

} // namespace eventstore::postgres
