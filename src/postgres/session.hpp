#ifndef EVENTSTORE_SRC_POSTGRES_SESSION_HPP
#define EVENTSTORE_SRC_POSTGRES_SESSION_HPP

// The seam between the engine and a database driver. The engine's operations see only these types:
// a Session runs statements and returns decoded results, a SessionSource lends sessions out. The
// native libpq connection and pool implement them (connection.hpp, pool_impl.hpp); the SOCI adapter
// lends its sessions' libpq connections as borrowed native sessions (src/soci/); another driver plugs
// in by implementing the same two classes.

#include <functional>
#include <memory>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include <eventstore/context.hpp>

#include "postgres/failure.hpp"
#include "postgres/result.hpp"
#include "postgres/statement.hpp"

namespace eventstore::postgres::detail {

// One database session, used by one operation at a time.
//
// Every call honours the Context: when its stop token is requested or its deadline passes, the call
// cancels its statement on the server, ends within about 100 ms, and throws DatabaseFailure of kind
// canceled or deadline_exceeded, leaving the session usable (or broken(), when it could not be
// brought back to a clean state). The settings the engine relies on (READ COMMITTED, no JIT, no
// parallel workers, generic plans for cached statements) are in place for every call: set once per
// session, or inside each call's transaction on a session that keeps no state between calls (an
// adapter's borrowed connection, connection.hpp's SessionState::per_transaction).
class Session {
public:
    Session() = default;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    virtual ~Session() = default;

    // Runs the statements as one pipeline, in one round trip where the driver allows: one implicit
    // transaction (unless the statements open one themselves), each statement with its own snapshot.
    // Returns one Result per statement. The first failing statement's failure is thrown once the
    // pipeline has ended; the statements after it did not run.
    virtual std::vector<Result> run(const Context& ctx, std::span<const Statement> statements) = 0;

    // Runs one statement and hands each row to `on_row` as it arrives, so memory stays bounded
    // whatever the result's size. If `on_row` throws, the session is marked broken (its statement may
    // still be running) and the exception propagates.
    virtual void stream(const Context& ctx, const Statement& statement,
                        const std::function<void(const Row&)>& on_row) = 0;

    // The server process serving this session (pg_backend_pid()).
    [[nodiscard]] virtual int backend_pid() const noexcept = 0;
    // Whether consecutive transactions may run on different server sessions (a transaction-mode
    // pooler): nothing session-level (a session's advisory lock) can then be relied on.
    [[nodiscard]] virtual bool behind_transaction_pooler() const noexcept { return false; }
    // True when the session must not be used again: lost, or left inside a transaction.
    [[nodiscard]] virtual bool broken() const noexcept = 0;
    // True when the server ended the session while it sat idle (a restart, idle_session_timeout, a
    // proxy), found without a round trip. For a source to check a session before lending it out.
    [[nodiscard]] virtual bool closed_by_server() noexcept = 0;
};

class SessionSource;

// Exclusive use of one session for the duration of one operation. Gives it back to its source when
// destroyed; the source closes it then if it is broken.
class SessionLease {
public:
    SessionLease(SessionSource& source, std::unique_ptr<Session> session) noexcept
        : m_source(&source), m_session(std::move(session)) {}
    SessionLease(SessionLease&& other) noexcept = default;
    SessionLease& operator=(SessionLease&&) = delete;
    SessionLease(const SessionLease&) = delete;
    SessionLease& operator=(const SessionLease&) = delete;
    inline ~SessionLease();

    Session& operator*() const noexcept { return *m_session; }
    Session* operator->() const noexcept { return m_session.get(); }

private:
    SessionSource* m_source;
    std::unique_ptr<Session> m_session;
};

// Lends sessions out, one operation at a time each (a pool, or a single session behind a mutex).
class SessionSource {
public:
    SessionSource() = default;
    SessionSource(const SessionSource&) = delete;
    SessionSource& operator=(const SessionSource&) = delete;
    virtual ~SessionSource() = default;

    // A session for one operation, waiting within the Context's deadline and the source's own
    // bounds. Throws DatabaseFailure (canceled, deadline_exceeded, connection, pool_exhausted).
    virtual SessionLease acquire(const Context& ctx) = 0;

private:
    friend class SessionLease;
    // Takes a session back from a lease: keeps it for the next operation, or closes it if broken.
    virtual void give_back(std::unique_ptr<Session> session) noexcept = 0;
};

SessionLease::~SessionLease() {
    if (m_session) {
        m_source->give_back(std::move(m_session));
    }
}

// Runs `use` with a session of `source`. When that session turns out to be lost before anything of
// the call reached the server, or, for a call that only reads (`reads_only`), lost at all, `use`
// runs once more on another session: the first attempt left nothing behind. So a session that died
// while it sat idle (a server restart, idle_session_timeout, a proxy) costs no failed call.
template <typename Use>
std::invoke_result_t<Use&, Session&> with_session(SessionSource& source, const Context& ctx, bool reads_only,
                                                  Use&& use) {
    for (int attempt = 1;; ++attempt) {
        SessionLease lease = source.acquire(ctx);
        try {
            return use(*lease);
        } catch (const DatabaseFailure& failure) {
            const bool again = attempt == 1 && failure.kind() == FailureKind::connection &&
                               (failure.outcome() == Outcome::not_sent || reads_only);
            if (!again) {
                throw;
            }
        }
    }
}

} // namespace eventstore::postgres::detail

#endif
