#ifndef EVENTSTORE_SRC_POSTGRES_CONNECTION_HPP
#define EVENTSTORE_SRC_POSTGRES_CONNECTION_HPP

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <libpq-fe.h>

#include <eventstore/context.hpp>
#include <eventstore/error.hpp>

namespace eventstore::postgres::detail {

struct PGconnDeleter {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct PGresultDeleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
struct PGcancelDeleter {
    void operator()(PGcancel* c) const noexcept { PQfreeCancel(c); }
};
using ConnPtr = std::unique_ptr<PGconn, PGconnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, PGresultDeleter>;
using CancelPtr = std::unique_ptr<PGcancel, PGcancelDeleter>;

// Type OIDs of the parameters we send (pg_type.dat); stable across PostgreSQL versions.
namespace oid {
inline constexpr Oid boolean = 16;
inline constexpr Oid int8 = 20;
inline constexpr Oid text = 25;
inline constexpr Oid jsonb = 3802;
inline constexpr Oid timestamptz = 1184;
inline constexpr Oid bool_array = 1000;
inline constexpr Oid int8_array = 1016;
inline constexpr Oid text_array = 1009;
inline constexpr Oid jsonb_array = 3807;
inline constexpr Oid timestamptz_array = 1185;
} // namespace oid

struct Param {
    Oid type = 0;
    std::string value;
    bool binary = false;
    bool null = false;
};

struct Statement {
    std::string sql;
    std::vector<Param> params;
    bool binary_result = true;
    bool cache = true; // keep it prepared on the connection (false for one-off DDL)
};

// Why a call ended early, as seen by the caller's Context.
enum class Interruption { none, canceled, deadline_exceeded };

// A failed call: the server's or libpq's message and SQLSTATE, and whether the caller's context
// ended it. The store turns it into an eventstore::Error naming the operation.
struct DatabaseFailure : std::runtime_error {
    DatabaseFailure(const std::string& message, std::string state, Interruption why, bool lost)
        : std::runtime_error(message), sqlstate(std::move(state)), interruption(why), connection_lost(lost) {}
    std::string sqlstate;
    Interruption interruption = Interruption::none;
    bool connection_lost = false;
};

// One libpq connection, kept in pipeline mode, with its prepared statements. Not thread-safe: the
// pool hands it to one operation at a time.
class Connection {
public:
    // Opens a connection, honouring the context's deadline and stop token. Throws DatabaseFailure.
    static std::unique_ptr<Connection> open(const std::string& conninfo, const Context& ctx);

    explicit Connection(ConnPtr conn);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    // Sends the statements as one pipeline (one round trip) ending in a Sync, so they run as one
    // implicit transaction, each statement with its own snapshot. Returns one result per statement.
    // On a database error, a cancellation or a deadline, throws DatabaseFailure after draining the
    // pipeline, so that the connection stays usable; if it cannot be drained, marks it broken.
    std::vector<ResultPtr> run(const Context& ctx, std::span<const Statement> statements);

    // Runs one statement in single-row mode and hands each row to `on_row` as it arrives, so memory
    // stays bounded whatever the result's size. If `on_row` throws, the connection is marked broken
    // (its statement may still be running) and the exception propagates.
    void stream(const Context& ctx, const Statement& statement, const std::function<void(const PGresult*)>& on_row);

    [[nodiscard]] bool broken() const noexcept;
    [[nodiscard]] int backend_pid() const noexcept { return m_backend_pid; }
    [[nodiscard]] std::chrono::steady_clock::time_point last_used() const noexcept { return m_last_used; }

private:
    // Waits until the socket is ready for reading (or writing), the context ends, or `limit` passes.
    // Sends a cancel request the first time the context ends. Returns false when `limit` passed.
    bool wait_socket(const Context& ctx, bool for_write, std::chrono::steady_clock::time_point limit);
    void request_cancel(Interruption why);
    const std::string& statement_name(const std::string& sql, bool& needs_prepare);
    [[noreturn]] void fail_connection(const std::string& message);
    // Queues the statement (with its Parse when not yet prepared); returns whether a Parse was sent.
    bool send(const Statement& st);
    void flush(const Context& ctx);
    // Waits for and returns the next result (null between statements).
    ResultPtr next_result(const Context& ctx);
    [[nodiscard]] DatabaseFailure failure_of(const PGresult* res, const Context& ctx) const;
    void session_setup(const Context& ctx);

    ConnPtr m_conn;
    CancelPtr m_cancel;
    int m_backend_pid = 0;
    bool m_broken = false;
    Interruption m_interruption = Interruption::none;
    std::chrono::steady_clock::time_point m_cancel_sent_at;
    std::chrono::steady_clock::time_point m_last_used;
    std::unordered_map<std::string, std::string> m_prepared; // SQL text -> statement name
    std::uint64_t m_next_statement = 0;
};

} // namespace eventstore::postgres::detail

#endif
