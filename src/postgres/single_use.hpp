#ifndef EVENTSTORE_SRC_POSTGRES_SINGLE_USE_HPP
#define EVENTSTORE_SRC_POSTGRES_SINGLE_USE_HPP

// Waiting for a handle the application lent (a SOCI session, a libpqxx connection), bounded by the
// Context and by handle_wait; and one user at a time of a single such handle. Not std::timed_mutex: its timed wait
// (pthread_mutex_clocklock) is invisible to GCC 12's ThreadSanitizer, which then reports every unlock as one of an
// unlocked mutex.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include <eventstore/context.hpp>

#include "postgres/failure.hpp"

namespace eventstore::postgres::detail {

// How long a call without a deadline waits for an application's handle (PoolOptions::acquire_timeout's
// default), and the end of that wait: the Context's deadline when it comes first.
inline constexpr std::chrono::seconds handle_wait{30};
[[nodiscard]] inline std::chrono::steady_clock::time_point handle_wait_limit(const Context& ctx) {
    const auto limit = std::chrono::steady_clock::now() + handle_wait;
    const auto deadline = ctx.deadline();
    return deadline && *deadline < limit ? *deadline : limit;
}

// Why a wait for a handle ended without it: the Context (canceled, deadline_exceeded), or `busy` (the
// handle stayed in use for handle_wait: pool_exhausted).
[[noreturn]] inline void throw_wait_ended(const Context& ctx, const std::string& busy) {
    if (ctx.stop_requested()) {
        throw DatabaseFailure::interrupted(false);
    }
    if (ctx.deadline_passed()) {
        throw DatabaseFailure::interrupted(true);
    }
    throw DatabaseFailure(busy, "53300", FailureKind::pool_exhausted);
}

class SingleUse {
public:
    using Clock = std::chrono::steady_clock;

    // Waits until the handle is free, the Context ends or `limit` passes, looking at the Context every
    // `slice`. True when the caller has the handle; release() gives it back.
    bool acquire(const Context& ctx, Clock::time_point limit, std::chrono::milliseconds slice) {
        std::unique_lock lock(m_mutex);
        while (m_busy) {
            const auto now = Clock::now();
            if (ctx.stop_requested() || now >= limit) {
                return false;
            }
            m_free.wait_for(lock, std::min<Clock::duration>(slice, limit - now));
        }
        m_busy = true;
        return true;
    }

    void release() noexcept {
        {
            const std::lock_guard lock(m_mutex);
            m_busy = false;
        }
        m_free.notify_one();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_free;
    bool m_busy = false;
};

} // namespace eventstore::postgres::detail

#endif
