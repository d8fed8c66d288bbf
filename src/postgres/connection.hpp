#ifndef EVENTSTORE_SRC_POSTGRES_CONNECTION_HPP
#define EVENTSTORE_SRC_POSTGRES_CONNECTION_HPP

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <eventstore/context.hpp>

#include "postgres/libpq.hpp"
#include "postgres/session.hpp"

namespace eventstore::postgres::detail {

// The native session: one libpq connection, kept in pipeline mode, with its prepared statements.
// Not thread-safe: the pool hands it to one operation at a time.
class Connection final : public Session {
public:
    // Opens a connection, honouring the context's deadline and stop token, and giving up at `limit`
    // (and at libpq's connect_timeout, when the conninfo sets one). Throws DatabaseFailure of kind
    // connection, with the server's SQLSTATE when it refused the session (53300 too many
    // connections, 57P03 starting up, 28P01 authentication, ...).
    static std::unique_ptr<Connection> open(const std::string& conninfo, const Context& ctx,
                                            std::chrono::steady_clock::time_point limit);

    explicit Connection(ConnPtr conn);
    ~Connection() override;

    // One round trip: the statements, then a Sync. On a database error, a cancellation or a deadline,
    // throws after draining the pipeline, so that the connection stays usable; if it cannot be
    // drained, marks it broken.
    std::vector<Result> run(const Context& ctx, std::span<const Statement> statements) override;
    // libpq's single-row mode.
    void stream(const Context& ctx, const Statement& statement, const std::function<void(const Row&)>& on_row) override;

    [[nodiscard]] bool broken() const noexcept override;
    [[nodiscard]] bool closed_by_server() noexcept override;
    [[nodiscard]] int backend_pid() const noexcept override { return m_backend_pid; }

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
    // Switches the rest of the transaction to custom plans (Statement::Plan::per_call).
    [[nodiscard]] static const Statement& custom_plan_mode();
    void session_setup(const Context& ctx);
    static void receive_notice(void* self, const PGresult* notice);
    // Before a call: reads what the server sent since the last one, if anything, and throws (kind
    // connection, nothing sent) when it ended the session meanwhile.
    void check_alive();

    ConnPtr m_conn;
    CancelPtr m_cancel;
    int m_backend_pid = 0;
    bool m_broken = false;
    bool m_flushed = false;      // the call in progress has handed its pipeline to the socket
    bool m_commits = false;      // ... and that pipeline ends its transaction by committing
    std::string m_fatal_message; // the FATAL the server ended the session with, if it sent one
    std::string m_fatal_sqlstate;
    Interruption m_interruption = Interruption::none;
    std::chrono::steady_clock::time_point m_cancel_sent_at;
    std::unordered_map<std::string, std::string> m_prepared; // SQL text -> statement name
    std::uint64_t m_next_statement = 0;
};

} // namespace eventstore::postgres::detail

#endif
