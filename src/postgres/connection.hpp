#ifndef EVENTSTORE_SRC_POSTGRES_CONNECTION_HPP
#define EVENTSTORE_SRC_POSTGRES_CONNECTION_HPP

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <eventstore/context.hpp>

#include "postgres/libpq.hpp"
#include "postgres/session.hpp"

namespace eventstore::postgres::detail {

// What a session may keep on the server between calls.
enum class SessionState : std::uint8_t {
    // Named prepared statements and session settings, set up once (the native pool's own connections).
    kept,
    // No setting outlives a transaction: the settings the engine relies on are applied inside each
    // call's transaction. For connections that are somebody else's (an adapter's handle, whose
    // statements stay prepared only when it is given PreparedStatements to keep) or whose server
    // session is shared (a pooler).
    per_transaction,
};

// The statements a connection has prepared, by SQL text. A borrowed connection's outlive the lease
// (its source keeps them per connection), so that its next lease finds them prepared.
struct PreparedStatements {
    std::unordered_map<std::string, std::string> names; // SQL text -> statement name
    std::uint64_t next = 0;
    // Unique to this set among every client of the server (reset() makes it so), so that a name can
    // never reach a server session where another client prepared other SQL under it.
    std::string prefix = "eventstore_";
    int backend_pid = 0; // the server session they were prepared in (borrowed connections)

    PreparedStatements() { reset(0); }

    // Forgets them (the server session changed, or its owner deallocated them), naming new ones apart
    // from any of the old that may still exist.
    void reset(int pid);
};

// The native session: one libpq connection, kept in pipeline mode, with its prepared statements.
// Not thread-safe: the pool hands it to one operation at a time.
class Connection final : public Session {
public:
    // A session on a connection its owner keeps (an adapter's handle), for one lease: per-transaction
    // state, switched to pipeline mode now and back when destroyed, never closed. When the connection
    // is inside a transaction (`join` allowed), calls run in it and leave committing to the owner;
    // otherwise each call runs in a READ COMMITTED transaction of its own. Throws DatabaseFailure when
    // the connection is lost (kind connection), busy, or in an aborted transaction (kind statement).
    // `statements` (may be null: then every statement is sent unnamed) are the connection's prepared
    // statements from earlier leases; joined calls prepare none.
    static std::unique_ptr<Connection> borrow(PGconn* conn, bool join,
                                              std::shared_ptr<PreparedStatements> statements = nullptr);

    // Opens a connection, honouring the context's deadline and stop token, and giving up at `limit`
    // (and at libpq's connect_timeout, when the conninfo sets one). Throws DatabaseFailure of kind
    // connection, with the server's SQLSTATE when it refused the session (53300 too many
    // connections, 57P03 starting up, 28P01 authentication, ...).
    // `pooled`: the conninfo names a transaction-mode pooler (PoolOptions::behind_transaction_pooler):
    // the session keeps nothing between transactions (per_transaction state, no named statements).
    static std::unique_ptr<Connection> open(const std::string& conninfo, const Context& ctx,
                                            std::chrono::steady_clock::time_point limit, bool pooled = false);

    explicit Connection(ConnPtr conn, SessionState state = SessionState::kept);
    ~Connection() override;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Gives a borrowed connection back as it was lent: no call of ours in flight, no transaction of
    // ours open, out of pipeline mode (the destructor does it too). Marks it broken() when that cannot
    // be done: then the owner must reconnect it.
    void give_back_to_owner() noexcept;

    // One round trip: the statements, then a Sync. On a database error, a cancellation or a deadline,
    // throws after draining the pipeline, so that the connection stays usable; if it cannot be
    // drained, marks it broken.
    std::vector<Result> run(const Context& ctx, std::span<const Statement> statements) override;
    // libpq's single-row mode.
    void stream(const Context& ctx, const Statement& statement, const std::function<void(const Row&)>& on_row) override;

    [[nodiscard]] bool broken() const noexcept override;
    [[nodiscard]] bool closed_by_server() noexcept override;
    [[nodiscard]] int backend_pid() const noexcept override { return m_backend_pid; }
    [[nodiscard]] bool behind_transaction_pooler() const noexcept override { return m_pooled; }

private:
    // Why a call is being ended early, as seen by the caller's Context.
    enum class Interruption { none, canceled, deadline_exceeded };

    // How often a wait wakes up to look at the stop token: well inside the promised 100 ms.
    static constexpr auto stop_poll_interval = std::chrono::milliseconds(10);

    [[nodiscard]] static Interruption interruption_of(const Context& ctx) noexcept;
    [[nodiscard]] static DatabaseFailure interrupted(Interruption why);
    // Waits until the socket is ready for reading (or writing) or the context ends. Sends a cancel
    // request the first time the context ends; gives the connection up when the server does not end
    // the cancelled statement within a grace period.
    void wait_socket(const Context& ctx, bool for_write);
    void request_cancel(Interruption why);
    const std::string& statement_name(const std::string& sql, bool& needs_prepare);
    // What the call in progress may have left on the server, were the session lost now.
    [[nodiscard]] Outcome outcome_so_far() const noexcept;
    [[noreturn]] void fail_connection(const std::string& message);
    // Queues the statement (with its Parse when not yet prepared); returns whether a Parse was sent.
    bool send(const Statement& st);
    void flush(const Context& ctx);
    // Waits for and returns the next result (null between statements).
    ResultPtr next_result(const Context& ctx);
    [[nodiscard]] DatabaseFailure failure_of(const PGresult* res, const Context& ctx) const;
    // run() and stream(): with `on_row`, every row of every statement goes to it (stream() passes one
    // statement) and no results are returned.
    std::vector<Result> execute(const Context& ctx, std::span<const Statement> statements,
                                const std::function<void(const Row&)>* on_row);
    // One attempt of execute(); a per_transaction session tries again once after a failure that left
    // nothing behind and that it can mend (its statements deallocated by the owner, a session whose
    // default isolation is not READ COMMITTED).
    std::vector<Result> execute_once(const Context& ctx, std::span<const Statement> statements,
                                     const std::function<void(const Row&)>* on_row);
    // Whether named statements are used: always on a native connection; on a borrowed one with
    // statements to keep, outside its owner's transactions.
    [[nodiscard]] bool caching() const noexcept { return m_statements && !m_joined; }
    // Whether a per_transaction call plans its statements generically, as a native connection does:
    // when they are cached, and behind a pooler, where a generic plan, though built on every call, is
    // built faster than a custom one (no look at the values' statistics) and is the plan the
    // statements were chosen for (Statement::Plan).
    [[nodiscard]] bool generic_plans() const noexcept { return caching() || m_pooled; }
    // Whether the connection is its owner's (borrow()): given back, never closed or replaced.
    [[nodiscard]] bool borrowed() const noexcept { return !m_conn.get_deleter().owns; }
    // Switches the rest of the transaction to custom plans (Statement::Plan::per_call).
    [[nodiscard]] static const Statement& custom_plan_mode();
    void session_setup(const Context& ctx);
    // per_transaction state: the statements to run before and after the caller's in this pipeline.
    void frame(std::span<const Statement> statements, std::vector<const Statement*>& before,
               std::vector<const Statement*>& after) const;
    // After a failed call on a borrowed connection: ends the transaction the call opened.
    void roll_back_own_transaction() noexcept;
    // After an interrupted call: true once the cancel request has reached the server (after which it
    // can no longer cancel a later statement), waiting for it up to the grace period.
    bool cancel_spent();
    // The statement that makes a joined call fail unless its owner's transaction is READ COMMITTED,
    // and the failure it then reports.
    [[nodiscard]] static const Statement& isolation_check();
    [[nodiscard]] static DatabaseFailure not_read_committed(const PGresult* res);

    static void receive_notice(void* self, const PGresult* notice);
    // Before a call: reads what the server sent since the last one, if anything, and throws (kind
    // connection, nothing sent) when it ended the session meanwhile.
    void check_alive();

    // Whether PQcancel, running on a thread of its own, has returned.
    struct CancelFlight {
        std::mutex mutex;
        std::condition_variable done_cv;
        bool done = true;
    };

    ConnPtr m_conn;
    SessionState m_state = SessionState::kept;
    bool m_joined = false;          // borrowed inside its owner's transaction
    bool m_pooled = false;          // opened through a transaction-mode pooler
    bool m_was_nonblocking = false; // a borrowed connection's mode, restored when given back
    CancelPtr m_cancel;
    std::shared_ptr<CancelFlight> m_cancel_flight = std::make_shared<CancelFlight>();
    int m_backend_pid = 0;
    bool m_broken = false;
    bool m_flushed = false;      // the call in progress has handed its pipeline to the socket
    bool m_commits = false;      // ... and that pipeline ends its transaction by committing
    bool m_sync_pending = false; // a pipeline's Sync was sent and its result not yet read
    std::string m_fatal_message; // the FATAL the server ended the session with, if it sent one
    std::string m_fatal_sqlstate;
    Interruption m_interruption = Interruption::none;
    std::chrono::steady_clock::time_point m_cancel_sent_at;
    std::shared_ptr<PreparedStatements> m_statements;
    // per_transaction: frame calls in BEGIN ... COMMIT, because the session's default isolation is not
    // READ COMMITTED (found when an implicit transaction refused to switch).
    bool m_explicit_transactions = false;
    bool m_isolation_refused = false; // the last call failed on that (execute_once to execute)
};

} // namespace eventstore::postgres::detail

#endif
