#include <eventstore/postgres/connection_pool.hpp>

#include "postgres/connection.hpp"
#include "postgres/pool_impl.hpp"

namespace eventstore::postgres {

using Clock = std::chrono::steady_clock;
using detail::DatabaseFailure;

ConnectionPool::Impl::Impl(std::string conninfo, PoolOptions options)
    : m_conninfo(std::move(conninfo)), m_options(options) {
    if (m_options.max_connections == 0) {
        m_options.max_connections = 1;
    }
}

detail::SessionLease ConnectionPool::Impl::acquire(const Context& ctx) {
    auto limit = Clock::now() + m_options.acquire_timeout;
    bool own_deadline = false;
    if (auto d = ctx.deadline(); d && *d <= limit) {
        limit = *d;
        own_deadline = true;
    }
    std::unique_lock lock(m_mutex);
    for (;;) {
        if (ctx.stop_requested()) {
            throw DatabaseFailure::interrupted(false);
        }
        while (!m_idle.empty()) {
            Idle idle = std::move(m_idle.back());
            m_idle.pop_back();
            const bool stale =
                m_options.max_idle_time.count() > 0 && Clock::now() - idle.since > m_options.max_idle_time;
            if (!idle.session->broken() && !stale) {
                return detail::SessionLease(*this, std::move(idle.session));
            }
            --m_open; // a connection the server closed while it sat idle: replace it
        }
        if (m_open < m_options.max_connections) {
            ++m_open;
            lock.unlock();
            try {
                return detail::SessionLease(*this, detail::Connection::open(m_conninfo, ctx));
            } catch (...) {
                lock.lock();
                --m_open;
                m_available.notify_one();
                throw;
            }
        }
        if (!m_available.wait_until(lock, ctx.stop_token(), limit,
                                    [&] { return !m_idle.empty() || m_open < m_options.max_connections; })) {
            if (ctx.stop_requested()) {
                continue; // reported at the top of the loop
            }
            if (Clock::now() >= limit) {
                if (own_deadline) {
                    throw DatabaseFailure::interrupted(true);
                }
                throw DatabaseFailure("all " + std::to_string(m_options.max_connections) +
                                          " connections stayed in use for the pool's acquire timeout of " +
                                          std::to_string(m_options.acquire_timeout.count()) + " ms",
                                      {}, detail::FailureKind::pool_exhausted);
            }
        }
    }
}

void ConnectionPool::Impl::give_back(std::unique_ptr<detail::Session> session) noexcept {
    const bool keep = !session->broken();
    if (!keep) {
        session.reset(); // close outside the lock
    }
    {
        std::lock_guard lock(m_mutex);
        if (keep) {
            m_idle.push_back(Idle{std::move(session), Clock::now()});
        } else {
            --m_open;
        }
    }
    m_available.notify_one();
}

std::size_t ConnectionPool::Impl::open_connections() const {
    std::lock_guard lock(m_mutex);
    return m_open;
}

std::size_t ConnectionPool::Impl::idle_connections() const {
    std::lock_guard lock(m_mutex);
    return m_idle.size();
}

std::shared_ptr<ConnectionPool> ConnectionPool::create(std::string conninfo, PoolOptions options) {
    return std::make_shared<ConnectionPool>(private_key(), std::move(conninfo), options);
}

ConnectionPool::ConnectionPool(private_key /*key*/, std::string conninfo, PoolOptions options)
    : m_impl(std::make_unique<Impl>(std::move(conninfo), options)) {}

ConnectionPool::~ConnectionPool() = default;

const PoolOptions& ConnectionPool::options() const noexcept { return m_impl->options(); }

std::size_t ConnectionPool::open_connections() const { return m_impl->open_connections(); }

std::size_t ConnectionPool::idle_connections() const { return m_impl->idle_connections(); }

} // namespace eventstore::postgres
