#include <algorithm>
#include <utility>

#include <eventstore/postgres/connection_pool.hpp>

#include "postgres/connection.hpp"
#include "postgres/pool_impl.hpp"

namespace eventstore::postgres {

using Clock = std::chrono::steady_clock;
using detail::DatabaseFailure;

ConnectionPool::Impl::Impl(std::string conninfo, PoolOptions options)
    : m_conninfo(std::move(conninfo)), m_options(std::move(options)) {
    if (m_options.max_connections == 0) {
        m_options.max_connections = 1;
    }
    if (m_options.metrics) {
        const std::string& pool = m_options.name;
        const auto with = [&pool](const char* key, const char* value) { return Labels{{"pool", pool}, {key, value}}; };
        m_labels = {Labels{{"pool", pool}},      with("state", "idle"),        with("state", "in_use"),
                    with("outcome", "acquired"), with("outcome", "exhausted"), with("outcome", "canceled"),
                    with("outcome", "timeout"),  with("outcome", "failed")};
        // Constant: reported once, with the first gauges.
        try {
            m_options.metrics->record_value("eventstore_pool_max_connections",
                                            static_cast<double>(m_options.max_connections), m_labels.pool);
            m_options.metrics->record_value("eventstore_pool_connections", 0, m_labels.idle);
            m_options.metrics->record_value("eventstore_pool_connections", 0, m_labels.in_use);
        } catch (...) { // NOLINT(bugprone-empty-catch): a failing hook must not fail the pool
        }
    }
}

std::size_t ConnectionPool::Impl::may_open(Clock::time_point now) const noexcept {
    return now < m_server_full_until ? std::min(m_options.max_connections, m_server_full_at)
                                     : m_options.max_connections;
}

detail::SessionLease ConnectionPool::Impl::acquire(const Context& ctx) {
    if (!m_options.metrics) {
        return acquire_session(ctx);
    }
    const auto start = Clock::now();
    try {
        detail::SessionLease lease = acquire_session(ctx);
        report(&m_labels.acquired, Clock::now() - start);
        return lease;
    } catch (const DatabaseFailure& failure) {
        const Labels* outcome = &m_labels.failed;
        switch (failure.kind()) {
        case detail::FailureKind::pool_exhausted:
            outcome = &m_labels.exhausted;
            break;
        case detail::FailureKind::canceled:
            outcome = &m_labels.canceled;
            break;
        case detail::FailureKind::deadline_exceeded:
            outcome = &m_labels.timeout;
            break;
        default:
            break;
        }
        report(outcome, Clock::now() - start);
        throw;
    }
}

void ConnectionPool::Impl::report(const Labels* outcome, Clock::duration waited) noexcept {
    try {
        std::size_t idle = 0;
        std::size_t open = 0;
        std::size_t opened = 0;
        {
            std::lock_guard lock(m_mutex);
            idle = m_idle.size();
            open = m_open;
            opened = std::exchange(m_opened, 0);
        }
        MetricsCollector& metrics = *m_options.metrics;
        metrics.record_value("eventstore_pool_connections", static_cast<double>(idle), m_labels.idle);
        metrics.record_value("eventstore_pool_connections", static_cast<double>(open - idle), m_labels.in_use);
        if (opened > 0) {
            metrics.record_value("eventstore_pool_connections_opened_total", static_cast<double>(opened),
                                 m_labels.pool);
        }
        if (outcome != nullptr) {
            metrics.record_duration("eventstore_pool_acquire_duration_seconds",
                                    std::chrono::duration_cast<std::chrono::nanoseconds>(waited), *outcome);
        }
    } catch (...) { // NOLINT(bugprone-empty-catch): a failing hook must not fail the call
    }
}

detail::SessionLease ConnectionPool::Impl::acquire_session(const Context& ctx) {
    // One bound for the whole acquisition, opening a connection included.
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
            if (!stale && !idle.session->broken() && !idle.session->closed_by_server()) {
                return detail::SessionLease(*this, std::move(idle.session));
            }
            --m_open; // the server closed it while it sat idle, or it idled too long: replace it
        }
        if (m_open < may_open(Clock::now())) {
            ++m_open;
            lock.unlock();
            try {
                detail::SessionLease lease(
                    *this, detail::Connection::open(m_conninfo, ctx, limit, m_options.behind_transaction_pooler));
                if (m_options.metrics) {
                    const std::lock_guard count(m_mutex);
                    ++m_opened;
                }
                return lease;
            } catch (const DatabaseFailure& failure) {
                lock.lock();
                --m_open;
                m_available.notify_one();
                // The server is out of connection slots, but some are ours: wait for one of them to
                // come back (for a second, then try opening again) rather than fail the call.
                if (failure.sqlstate() != "53300" || m_open == 0) {
                    throw;
                }
                m_server_full_at = m_open;
                m_server_full_until = Clock::now() + std::chrono::seconds(1);
            } catch (...) {
                lock.lock();
                --m_open;
                m_available.notify_one();
                throw;
            }
        }
        const auto wake = std::min(limit, std::max(m_server_full_until, Clock::now()));
        const auto until = wake > Clock::now() ? wake : limit;
        if (!m_available.wait_until(lock, ctx.stop_token(), until,
                                    [&] { return !m_idle.empty() || m_open < may_open(Clock::now()); })) {
            if (ctx.stop_requested()) {
                continue; // reported at the top of the loop
            }
            if (Clock::now() >= limit) {
                if (own_deadline) {
                    throw DatabaseFailure::interrupted(true);
                }
                throw DatabaseFailure("all " + std::to_string(m_open) +
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
    if (m_options.metrics) {
        report(nullptr, {});
    }
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
    return std::make_shared<ConnectionPool>(private_key(), std::move(conninfo), std::move(options));
}

ConnectionPool::ConnectionPool(private_key /*key*/, std::string conninfo, PoolOptions options)
    : m_impl(std::make_unique<Impl>(std::move(conninfo), std::move(options))) {}

ConnectionPool::~ConnectionPool() = default;

const PoolOptions& ConnectionPool::options() const noexcept { return m_impl->options(); }

std::size_t ConnectionPool::open_connections() const { return m_impl->open_connections(); }

std::size_t ConnectionPool::idle_connections() const { return m_impl->idle_connections(); }

} // namespace eventstore::postgres
