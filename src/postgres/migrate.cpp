// migrate(): creates what is missing of the store's tables and indexes, and upgrades a table of an
// earlier version (or of the Go library) in place.

#include <chrono>
#include <optional>

#include <eventstore/error.hpp>

#include "core/context_wait.hpp"
#include "postgres/codec.hpp"
#include "postgres/store_impl.hpp"

namespace eventstore::postgres {

namespace {

constexpr std::string_view insufficient_privilege = "42501";
constexpr std::string_view lock_not_available = "55P03";
// Serialises the concurrent index builds of migrators (not migration()'s key: see build_late_indexes).
constexpr std::int64_t late_index_lock_key = 0x6576656e74737470LL; // "eventstp"
// How often migration() is tried when its ALTER TABLE gives up waiting for the table's lock.
constexpr int alter_attempts = 5;

} // namespace

// Builds the indexes a later version added to a table that already holds events, each with CREATE
// INDEX CONCURRENTLY: writers and readers go on while it scans the table. Such a statement must run
// alone, outside a transaction, and waits for every transaction that holds a snapshot; so migrators
// take turns on a session-level lock that they poll for (a migrator blocked in a lock wait would hold
// a snapshot that the one building waits for: a deadlock).
//
// Behind a transaction-mode pooler a session-level lock would stay on whichever server session took it.
// There the lock is a transaction's, held by a second connection in a transaction left open for the
// build (holding no snapshot between its statements, so the build does not wait for it): the build
// needs two server sessions of the pooler.
void EventStore::Impl::build_late_indexes(const Context& ctx, detail::Session& session) const {
    const bool pooled = session.behind_transaction_pooler();
    std::optional<detail::SessionLease> holder;
    if (pooled) {
        holder.emplace(m_primary->acquire(ctx));
    }
    detail::Session& locker = pooled ? **holder : session;
    // Behind a pooler each attempt is a transaction of its own, ended when it fails: a migrator waiting
    // its turn must not keep a server session that the one building needs.
    std::vector<detail::Statement> try_lock;
    if (pooled) {
        try_lock.push_back(detail::Statement::per_call("BEGIN"));
    }
    try_lock.push_back(
        detail::Statement::per_call(pooled ? "SELECT pg_try_advisory_xact_lock($1)" : "SELECT pg_try_advisory_lock($1)",
                                    {detail::int8_param(late_index_lock_key)}));
    const std::size_t locked_at = try_lock.size() - 1;
    if (pooled) {
        // A statement that takes no snapshot, after the lock's: the portal of a finished SELECT keeps its
        // snapshot until the next statement replaces it, and the index build would wait for that
        // snapshot for ever (found by the test). It also keeps a server's
        // idle_in_transaction_session_timeout from ending the holder during a long build.
        try_lock.push_back(detail::Statement::per_call("SET LOCAL idle_in_transaction_session_timeout = 0"));
    }
    // Without the caller's Context: the lock must go even when the call was cancelled. A session whose
    // connection failed is closed by the pool, which releases the lock too (behind a pooler, the
    // pooler closes the server session of a client that leaves inside a transaction).
    const auto unlock = [&] {
        if (pooled) {
            try {
                locker.run(Context(), std::vector<detail::Statement>{detail::Statement::per_call("ROLLBACK")});
            } catch (const detail::DatabaseFailure&) {
                // lost with its connection, which the pool closes
            }
            return;
        }
        locker.run(Context(), std::vector<detail::Statement>{detail::Statement::per_call(
                                  "SELECT pg_advisory_unlock($1)", {detail::int8_param(late_index_lock_key)})});
    };
    try {
        while (!locker.run(ctx, try_lock)[locked_at][0][0].as_bool()) {
            if (pooled) {
                unlock();
            }
            eventstore::detail::sleep_within(ctx, std::chrono::milliseconds(50));
        }
    } catch (...) {
        if (pooled) {
            unlock();
        }
        throw;
    }
    try {
        for (const std::string& name : m_schema.late_indexes()) {
            const std::vector<detail::Statement> look{m_schema.invalid_index(name)};
            const detail::Result invalid = std::move(session.run(ctx, look).back());
            if (invalid.size() > 0) {
                // Left by an interrupted build (this lock's holder is the only builder): drop it.
                session.run(ctx, std::vector<detail::Statement>{detail::Statement::per_call(
                                     "DROP INDEX CONCURRENTLY IF EXISTS " + invalid[0][0].as_text())});
            }
            session.run(ctx, std::vector<detail::Statement>{m_schema.create_late_index(name)});
        }
    } catch (...) {
        if (pooled || !session.broken()) {
            unlock();
        }
        throw;
    }
    unlock();
}

// The common case is a schema that is already current, migrated by a role that may read the catalog
// but not create anything (the application's, under least privilege): one catalog query, no DDL, no
// lock. Only when something is missing does it run the DDL, under the advisory lock.
void EventStore::Impl::migrate(const Context& ctx) {
    const std::vector<detail::Statement> check{m_schema.migration_check()};
    detail::Operation op(m_instruments, ctx, detail::migrate_kind, detail::Target::primary);
    try {
        op.run([&] {
            op.built(check.front().sql);
            migrate_on(op.context(), check);
            op.executed();
            op.write_succeeded(0);
        });
    } catch (const Error& error) {
        if (error.sqlstate() != insufficient_privilege) {
            throw;
        }
        throw Error(Errc::migration_failed, error.cause(),
                    error.detail() + " (tables or indexes of " + m_schema.events().quoted + ", " +
                        m_schema.snapshots().quoted + " and " + m_schema.checkpoints().quoted +
                        " are missing and this role may not create them: run migrate() once as the role that "
                        "owns the schema)",
                    error.sqlstate());
    }
}

// Never in doubt (migrate_kind does not write events): whatever a lost migration did, calling migrate()
// again completes it.
void EventStore::Impl::migrate_on(const Context& ctx, const std::vector<detail::Statement>& check) {
    detail::with_session(*m_primary, ctx, false, [&](detail::Session& session) {
        const auto look = [&] { return detail::Schema::found(session.run(ctx, check).back()[0]); };
        detail::MigrationFound found = look();
        if (found.everything) {
            return;
        }
        for (int attempt = 1;; ++attempt) {
            try {
                // Under the lock, look again: another migrator may have done it all meanwhile,
                // and the DDL must touch only what is missing.
                session.run(ctx, std::vector<detail::Statement>{detail::Statement::per_call("BEGIN"),
                                                                detail::Schema::migration_lock()});
                found = look();
                std::vector<detail::Statement> ddl;
                if (!found.everything) {
                    ddl = m_schema.migration(found);
                }
                ddl.push_back(detail::Statement::per_call("COMMIT"));
                session.run(ctx, ddl);
                break;
            } catch (const detail::DatabaseFailure& failure) {
                if (!session.broken()) {
                    session.run(Context(), std::vector<detail::Statement>{detail::Statement::per_call("ROLLBACK")});
                }
                if (failure.sqlstate() == lock_not_available && attempt < alter_attempts && !session.broken()) {
                    eventstore::detail::sleep_within(ctx, std::chrono::milliseconds(100 * attempt));
                    continue;
                }
                // A role that may not create the objects waits for the lock like any other migrator;
                // if the one ahead of it (the owner) created everything meanwhile, nothing is left to
                // do and its refused DDL does not matter.
                if (failure.kind() != detail::FailureKind::statement || session.broken() || !look().everything) {
                    throw;
                }
                return;
            }
        }
        if (found.events_table && !found.everything) {
            build_late_indexes(ctx, session);
        }
    });
}

} // namespace eventstore::postgres
