#ifndef EVENTSTORE_SRC_POSTGRES_SINGLE_USE_HPP
#define EVENTSTORE_SRC_POSTGRES_SINGLE_USE_HPP

// One user at a time of a handle the application lent (one SOCI session, one libpqxx connection),
// with a wait that looks at the Context. Not std::timed_mutex: its timed wait (pthread_mutex_clocklock)
// is invisible to GCC 12's ThreadSanitizer, which then reports every unlock as one of an unlocked mutex.

#include <chrono>
#include <condition_variable>
#include <mutex>

#include <eventstore/context.hpp>

namespace eventstore::postgres::detail {

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
