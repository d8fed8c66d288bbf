#ifndef EVENTSTORE_SRC_POSTGRES_POOL_IMPL_HPP
#define EVENTSTORE_SRC_POSTGRES_POOL_IMPL_HPP

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <eventstore/postgres/connection_pool.hpp>

#include "postgres/connection.hpp"

namespace eventstore::postgres {

// Exclusive use of one pooled connection for the duration of one operation. Returns it to the pool
// when destroyed, or closes it (freeing its slot) when it is broken or was left mid-transaction.
class ConnectionLease {
public:
    ConnectionLease(ConnectionPool::Impl& pool, std::unique_ptr<detail::Connection> conn)
        : m_pool(&pool), m_conn(std::move(conn)) {}
    ConnectionLease(ConnectionLease&& other) noexcept = default;
    ConnectionLease& operator=(ConnectionLease&&) = delete;
    ConnectionLease(const ConnectionLease&) = delete;
    ConnectionLease& operator=(const ConnectionLease&) = delete;
    ~ConnectionLease();

    detail::Connection& operator*() const noexcept { return *m_conn; }
    detail::Connection* operator->() const noexcept { return m_conn.get(); }

private:
    ConnectionPool::Impl* m_pool;
    std::unique_ptr<detail::Connection> m_conn;
};

class ConnectionPool::Impl {
public:
    Impl(std::string conninfo, PoolOptions options);

    // Waits for an idle connection or a free slot (opening a connection in it), within the context's
    // deadline and the pool's acquire timeout. Throws detail::DatabaseFailure.
    ConnectionLease acquire(const Context& ctx);
    void give_back(std::unique_ptr<detail::Connection> conn) noexcept;

    const PoolOptions& options() const noexcept { return m_options; }
    std::size_t open_connections() const;
    std::size_t idle_connections() const;

private:
    std::string m_conninfo;
    PoolOptions m_options;
    mutable std::mutex m_mutex;
    std::condition_variable_any m_available;
    std::vector<std::unique_ptr<detail::Connection>> m_idle; // most recently used last
    std::size_t m_open = 0;
};

} // namespace eventstore::postgres

#endif
