#include "postgres/import.hpp"

#include <algorithm>
#include <chrono>
#include <system_error>

#include "core/event_check.hpp"

namespace eventstore::postgres::detail {

namespace {

// Rows per INSERT: large enough to amortise the round trip, small enough to keep one statement's
// parameters to a few megabytes. Large events cut chunks sooner: a protocol message must stay under
// 1 GB, and one chunk's columns are held twice in memory (this chunk and the next being prepared).
constexpr std::size_t chunk_rows = 5000;
constexpr std::size_t chunk_bytes = 64U << 20U;
// Imports of at least this many events batch their GIN index maintenance; below it, the two catalog
// updates that costs are not worth it.
constexpr std::size_t gin_batching_threshold = 1000;
// How many imported events' index entries may wait in GIN's pending list before they are merged into
// the tree. Bounds what an interrupted import leaves there, and what a merge holds in
// maintenance_work_mem.
constexpr std::size_t gin_pending_events = 50000;
// How long a failed import may spend merging what it left in the pending list, and how long that
// merge waits for a lock another import holds.
constexpr std::chrono::seconds gin_cleanup_timeout{10};
constexpr const char* gin_cleanup_lock_timeout = "2s";

} // namespace

std::vector<std::size_t> plan_chunks(std::span<const StorableEvent> events, std::size_t max_rows,
                                     std::size_t max_bytes) {
    std::vector<std::size_t> starts;
    std::size_t rows = 0;
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const StorableEvent& e = events[i];
        const std::size_t size = e.event_type.size() + e.payload_json.size() + e.metadata_json.size() + 32;
        if (i == 0 || rows == max_rows || bytes + size > max_bytes) {
            starts.push_back(i);
            rows = 0;
            bytes = 0;
        }
        ++rows;
        bytes += size;
    }
    starts.push_back(events.size());
    return starts;
}

Importer::Importer(const Schema& schema, SessionSource& primary, const Instruments& instruments, Operation& op,
                   std::span<const StorableEvent> events)
    : m_schema(schema), m_primary(primary), m_instruments(instruments), m_op(op), m_events(events),
      m_chunk_starts(plan_chunks(events, chunk_rows, chunk_bytes)) {}

EventColumns Importer::prepare(std::size_t chunk) const {
    const std::size_t first = m_chunk_starts[chunk];
    const auto part = m_events.subspan(first, m_chunk_starts[chunk + 1] - first);
    for (std::size_t i = 0; i < part.size(); ++i) {
        eventstore::detail::check_event(part[i], "event " + std::to_string(first + i) + ": ");
    }
    return event_columns(part);
}

void Importer::run() {
    // Before taking any lock: a bad first chunk costs the database nothing.
    EventColumns first = prepare(0);
    m_op.built(m_schema.insert_events());
    try {
        SessionLease session = m_primary.acquire(m_op.context());
        // ACCESS EXCLUSIVE conflicts with every reader and writer, and sequence numbers are taken while
        // it is held: the same guarantees as the advisory locks of append, for any number of events.
        const std::vector<Statement> begin{Statement::per_call("BEGIN ISOLATION LEVEL READ COMMITTED"),
                                           m_schema.lock_events("ACCESS EXCLUSIVE")};
        session->run(m_op.context(), begin);
        // A failure from here on leaves the transaction open; the lease then discards the session,
        // which rolls it back.
        if (m_events.size() >= gin_batching_threshold) {
            m_gin = batch_gin_indexes(*session);
        }
        std::future<EventColumns> next;
        std::optional<EventColumns> cols(std::move(first));
        std::size_t pending = 0;
        const std::size_t chunks = m_chunk_starts.size() - 1;
        for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
            const std::size_t rows = m_chunk_starts[chunk + 1] - m_chunk_starts[chunk];
            const bool more = chunk + 1 < chunks;
            if (more) {
                try {
                    next = std::async(std::launch::async, [this, chunk] { return prepare(chunk + 1); });
                } catch (const std::system_error&) {
                    // No thread to be had: the next chunk is prepared after this one, inline.
                }
            }
            std::vector<Statement> insert{Statement::cached(m_schema.insert_events() + " ORDER BY u.ord",
                                                            {std::move(cols->event_types), std::move(cols->occurred_at),
                                                             std::move(cols->payloads), std::move(cols->metadata),
                                                             std::move(cols->tags), std::move(cols->ids)})};
            pending += rows;
            if (pending >= gin_pending_events || !more) {
                append_gin_merge(insert);
                pending = 0;
            }
            session->run(m_op.context(), insert);
            if (more) {
                cols = next.valid() ? next.get() : prepare(chunk + 1);
            }
        }
        std::vector<Statement> commit;
        for (const GinIndex& index : m_gin) {
            if (index.switched_on) {
                commit.push_back(Statement::per_call("ALTER INDEX " + index.quoted + " SET (fastupdate = off)"));
            }
        }
        commit.push_back(Statement::per_call("COMMIT"));
        session->run(m_op.context(), commit);
    } catch (const DatabaseFailure& failure) {
        // A lost connection cannot have left entries that another connection could merge sooner than
        // the server's own recovery.
        if (failure.kind() != FailureKind::connection) {
            clean_pending_lists();
        }
        throw;
    } catch (...) {
        clean_pending_lists();
        throw;
    }
    m_op.executed();
}

// GIN inserts one entry at a time into its tree with fastupdate = off (several random page writes per
// event). An import instead sends its entries through the pending list and merges them in sorted
// batches (gin_clean_pending_list): the same index afterwards, written in about half the time. It
// needs to own the index; without ownership the import simply goes row by row. Runs inside the
// import's transaction, under its ACCESS EXCLUSIVE lock, so no reader ever sees the pending list, and a
// rollback restores the index options.
std::vector<Importer::GinIndex> Importer::batch_gin_indexes(Session& session) const {
    const std::vector<Statement> find{Statement::cached(
        "SELECT n.nspname, c.relname, "
        "coalesce((SELECT split_part(o, '=', 2)::boolean FROM unnest(c.reloptions) AS o "
        "WHERE o LIKE 'fastupdate=%'), true) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE i.indrelid = $1::regclass AND c.relkind = 'i' AND a.amname = 'gin' AND pg_has_role(c.relowner, 'USAGE') "
        "ORDER BY c.oid",
        {text_param(m_schema.events().quoted)})};
    const auto found = session.run(m_op.context(), find);
    const Result& rows = found.back();
    std::vector<GinIndex> gin;
    std::vector<Statement> setup;
    // Under a savepoint: a database that refuses the ALTER (an event trigger against DDL, say) costs
    // the import its speed-up, not its success.
    setup.push_back(Statement::per_call("SAVEPOINT eventstore_gin_batching"));
    // Large enough that no insert in the import stops to flush the list; the merges happen at the
    // points the import chooses. Only for this transaction.
    setup.push_back(Statement::per_call("SET LOCAL gin_pending_list_limit = '2GB'"));
    for (std::size_t i = 0; i < rows.size(); ++i) {
        GinIndex index;
        index.quoted = quote_identifier(rows[i][0].as_text()) + "." + quote_identifier(rows[i][1].as_text());
        index.switched_on = !rows[i][2].as_bool();
        if (index.switched_on) {
            setup.push_back(Statement::per_call("ALTER INDEX " + index.quoted + " SET (fastupdate = on)"));
        }
        gin.push_back(std::move(index));
    }
    if (gin.empty()) {
        return gin;
    }
    setup.push_back(Statement::per_call("RELEASE SAVEPOINT eventstore_gin_batching"));
    try {
        session.run(m_op.context(), setup);
    } catch (const DatabaseFailure& failure) {
        if (failure.kind() != FailureKind::statement) {
            throw;
        }
        const std::vector<Statement> undo{Statement::per_call("ROLLBACK TO SAVEPOINT eventstore_gin_batching")};
        session.run(m_op.context(), undo);
        if (m_instruments.logging(Instruments::Level::warn)) {
            m_instruments.log(Instruments::Level::warn, m_op.context(),
                              "import goes row by row: the payload index could not be switched to batching",
                              {{"error", failure.what()}});
        }
        return {};
    }
    return gin;
}

void Importer::append_gin_merge(std::vector<Statement>& statements) const {
    for (const GinIndex& index : m_gin) {
        statements.push_back(
            Statement::cached("SELECT gin_clean_pending_list($1::regclass)", {text_param(index.quoted)}));
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
void Importer::clean_pending_lists() const noexcept {
    if (m_gin.empty()) {
        return;
    }
    try {
        const Context cleanup = Context().with_timeout(gin_cleanup_timeout);
        std::vector<Statement> statements{
            Statement::cached("SELECT set_config('lock_timeout', $1, true)", {text_param(gin_cleanup_lock_timeout)})};
        append_gin_merge(statements);
        m_primary.acquire(cleanup)->run(cleanup, statements);
    } catch (const std::exception& e) {
        if (m_instruments.logging(Instruments::Level::warn)) {
            m_instruments.log(Instruments::Level::warn, m_op.context(),
                              "could not merge a failed import's index entries; the next VACUUM will",
                              {{"error", e.what()}});
        }
    } catch (...) { // NOLINT(bugprone-empty-catch): the import's own error is what the caller must see
    }
}

} // namespace eventstore::postgres::detail
