#ifndef EVENTSTORE_POSTGRES_CONNECTION_POOL_HPP
#define EVENTSTORE_POSTGRES_CONNECTION_POOL_HPP

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace eventstore::postgres {

namespace detail {
struct PoolAccess;
}

struct PoolOptions {
    // Connections are opened lazily, up to this many; callers beyond it wait for one to be returned.
    std::size_t max_connections = 8;
    // How long a caller without a deadline of its own waits for a free connection.
    std::chrono::milliseconds acquire_timeout{30'000};
    // Connections idle for longer than this are closed when next seen (0: never).
    std::chrono::milliseconds max_idle_time{0};
};

// A thread-safe, bounded pool of libpq connections (the role of pgx's pgxpool.Pool). A connection is
// handed to one operation at a time; one found broken after use is closed and replaced by a new one
// when next needed. Every store built on the pool shares ownership of it.
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
