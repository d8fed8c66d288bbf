#ifndef EVENTSTORE_POSTGRES_CONNECTION_POOL_HPP
#define EVENTSTORE_POSTGRES_CONNECTION_POOL_HPP

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <eventstore/observability.hpp>

namespace eventstore::postgres {

namespace detail {
struct PoolAccess;
}

struct PoolOptions {
    // Connections are opened lazily, up to this many; callers beyond it wait for one to be returned.
    std::size_t max_connections = 8;
    // How long getting a connection may take, opening one included, for a call without a deadline of
    // its own (a call's Context deadline, when sooner, bounds it instead). Waiting for a free
    // connection that long fails the call with Errc::pool_exhausted; a server that does not complete
    // the connection in time, with Errc::database_connection_failed. libpq's connect_timeout in the
    // connection string bounds opening further. When the server refuses a connection for want of
    // slots (SQLSTATE 53300) while the pool has connections of its own, the call waits for one of
    // them instead of failing.
    std::chrono::milliseconds acquire_timeout{30'000};
    // Connections idle for longer than this are closed when next seen (0: never). Connections the
    // server closed while idle (a restart, idle_session_timeout, a proxy) are noticed without a round
    // trip and replaced, whatever this says.
    std::chrono::milliseconds max_idle_time{0};
    // Where the pool reports its state, labelled pool=<name> (docs/observability.md, "Pool metrics"):
    // the gauges eventstore_pool_connections{state=idle|in_use} after each acquisition and return
    // and eventstore_pool_max_connections when the pool is created, the histogram
    // eventstore_pool_acquire_duration_seconds {outcome=acquired|exhausted|canceled|timeout|failed} of each
    // acquisition, and the counter eventstore_pool_connections_opened_total. Usually the store's own collector. Null:
    // nothing.
    std::shared_ptr<MetricsCollector> metrics{};
    std::string name = "primary";
    // Set when conninfo names a connection pooler in transaction pooling mode (PgBouncer's
    // pool_mode=transaction, and the poolers managed services put in front of PostgreSQL), which
    // gives each transaction whichever server session is free. Then nothing of the store's outlives a
    // transaction: statements are sent unnamed and planned on every call, the settings it relies on are
    // made per transaction, and migrate() holds its lock in a transaction of a second connection.
    // Costs a little planning per call (docs/performance.md); docs/operations.md says when to use it.
    // Left false behind such a pooler, calls fail with an error that names this setting (never run
    // another session's statement).
    bool behind_transaction_pooler = false;
};

// A thread-safe, bounded pool of libpq connections (the role of pgx's pgxpool.Pool). A connection is
// handed to one operation at a time; one found broken after use is closed and replaced by a new one
// when next needed. Every store built on the pool shares ownership of it.
//
// Every wait is bounded: getting a connection by acquire_timeout (or the call's deadline), a
// statement by the call's Context, a cancelled statement by a 5 s grace period after which its
// connection is given up, and a server gone silent on a TCP network by keepalives (on by default:
// 60 s idle, then 3 probes 10 s apart; keepalives* in the connection string override them).
class ConnectionPool {
    // Only create() can name or build this, so a pool is always owned by a shared_ptr.
    struct private_key {
        explicit private_key() = default;
    };

public:
    // conninfo is a libpq connection string or URI; "" means the libpq defaults (PGHOST, PGPORT, ...).
    // Nothing is opened until first use.
    static std::shared_ptr<ConnectionPool> create(std::string conninfo, PoolOptions options = {});

    ConnectionPool(private_key key, std::string conninfo, PoolOptions options);
    ~ConnectionPool();
    ConnectionPool(const ConnectionPool&) = delete;
    ConnectionPool& operator=(const ConnectionPool&) = delete;

    [[nodiscard]] const PoolOptions& options() const noexcept;
    // Connections currently open (idle or in use).
    [[nodiscard]] std::size_t open_connections() const;
    [[nodiscard]] std::size_t idle_connections() const;

    class Impl;

private:
    friend struct detail::PoolAccess;
    std::unique_ptr<Impl> m_impl;
};

} // namespace eventstore::postgres

#endif
