#include "postgres/log_watcher.hpp"

#include <algorithm>
#include <exception>

namespace eventstore::postgres::detail {

namespace {

using std::chrono::milliseconds;

// How long a waiting subscription sleeps at most before it looks at its Context again.
constexpr milliseconds context_poll{10};
// A failed sample is tried again after this, doubling up to the maximum.
constexpr milliseconds retry_min{50};
constexpr milliseconds retry_max{2000};
// One sample may take this long before the watcher gives it up.
constexpr milliseconds sample_limit{2000};

} // namespace

LogWatcher::LogWatcher(Probe probe, milliseconds interval)
    : m_probe(std::move(probe)), m_interval(std::max(interval, milliseconds(1))), m_thread([this] { run(); }) {}

LogWatcher::~LogWatcher() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_stop.request_stop();
    m_changed.notify_all();
    m_thread.join();
}

LogWatcher::Interest::Interest(LogWatcher& watcher) : m_watcher(watcher) {
    {
        std::lock_guard lock(m_watcher.m_mutex);
        ++m_watcher.m_interested;
    }
    m_watcher.m_changed.notify_all();
}

LogWatcher::Interest::~Interest() {
    std::lock_guard lock(m_watcher.m_mutex);
    --m_watcher.m_interested;
}

SequenceNumber LogWatcher::head() const {
    std::lock_guard lock(m_mutex);
    return m_head;
}

bool LogWatcher::wait_above(SequenceNumber seen, const Context& ctx, std::chrono::steady_clock::time_point until) {
    std::unique_lock lock(m_mutex);
    for (;;) {
        if (m_head > seen) {
            return true;
        }
        const auto now = std::chrono::steady_clock::now();
        if (ctx.stop_requested() || ctx.deadline_passed() || now >= until || m_stopping) {
            return false;
        }
        m_changed.wait_for(lock, std::min<std::chrono::steady_clock::duration>(context_poll, until - now));
    }
}

void LogWatcher::run() {
    auto retry = retry_min;
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_changed.wait(lock, [this] { return m_stopping || m_interested > 0; });
        if (m_stopping) {
            return;
        }
        lock.unlock();
        auto pause = m_interval;
        SequenceNumber sampled = 0;
        bool ok = false;
        try {
            sampled = m_probe(Context().with_timeout(sample_limit).with_stop_token(m_stop.get_token()));
            ok = true;
            retry = retry_min;
        } catch (const std::exception&) {
            // The database is unreachable or busy: the subscriptions' own reads (every poll_max) go
            // on meanwhile, and meet the same failure with their own backoff.
            pause = retry;
            retry = std::min(retry * 2, retry_max);
        }
        lock.lock();
        if (ok && sampled > m_head) {
            m_head = sampled;
            m_changed.notify_all();
        }
        m_changed.wait_for(lock, pause, [this] { return m_stopping; });
    }
}

} // namespace eventstore::postgres::detail
