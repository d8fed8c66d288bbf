#ifndef EVENTSTORE_SRC_POSTGRES_POOL_IMPL_HPP
#define EVENTSTORE_SRC_POSTGRES_POOL_IMPL_HPP

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <eventstore/postgres/connection_pool.hpp>

#include "postgres/session.hpp"

namespace eventstore::postgres {

// The native pool: lends out libpq connections (detail::Connection), opening them lazily.
class ConnectionPool::Impl final : public detail::SessionSource {
public:
    Impl(std::string conninfo, PoolOptions options);

    // Waits for an idle connection or a free slot (opening a connection in it), within the context's
    // deadline and the pool's acquire timeout.
    detail::SessionLease acquire(const Context& ctx) override;

    const PoolOptions& options() const noexcept { return m_options; }
    std::size_t open_connections() const;
    std::size_t idle_connections() const;

private:
    using Clock = std::chrono::steady_clock;

    void give_back(std::unique_ptr<detail::Session> session) noexcept override;
    detail::SessionLease acquire_session(const Context& ctx);
    // The pool's gauges, and the acquisition's duration when `waited` is given (PoolOptions::metrics).
    void report(const Labels* outcome, Clock::duration waited) noexcept;
    // How many connections the pool may have open now: max_connections, or fewer for a while after
    // the server refused one for want of slots.
    [[nodiscard]] std::size_t may_open(Clock::time_point now) const noexcept;

    struct Idle {
        std::unique_ptr<detail::Session> session;
        std::chrono::steady_clock::time_point since;
    };

    std::string m_conninfo;
    PoolOptions m_options;
    mutable std::mutex m_mutex;
    std::condition_variable_any m_available;
    std::vector<Idle> m_idle; // most recently returned last
    std::size_t m_open = 0;
    std::size_t m_opened = 0; // connections opened since the last report of the counter
    // The reports' label sets, built once (PoolOptions::metrics): a report builds no map.
    struct ReportLabels {
        Labels pool, idle, in_use, acquired, exhausted, canceled, timeout, failed;
    };
    ReportLabels m_labels;
    std::size_t m_server_full_at = 0; // connections open when the server last refused one (53300)
    Clock::time_point m_server_full_until;
};

// How the engine reaches a pool's sessions; ConnectionPool keeps them from its users.
namespace detail {
struct PoolAccess {
    [[nodiscard]] static ConnectionPool::Impl& impl(ConnectionPool& pool) noexcept { return *pool.m_impl; }
};
} // namespace detail

} // namespace eventstore::postgres

#endif
