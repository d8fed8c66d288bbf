#ifndef EVENTSTORE_SRC_POSTGRES_LOG_WATCHER_HPP
#define EVENTSTORE_SRC_POSTGRES_LOG_WATCHER_HPP

// The live wake-up of a store's subscriptions: one thread per store samples the head of the log (its
// greatest sequence number, read without any lock) while at least one subscription runs, and wakes
// the subscriptions waiting for the log to move. So N caught-up subscriptions cost the server one
// index-only read per interval instead of N reads that take the lock protocol's locks, and a
// subscription takes those locks only when there is something new to read. Why a head that has moved
// past what a subscription saw before its last read is a sufficient signal is in subscribe.cpp.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>

#include <eventstore/context.hpp>
#include <eventstore/storable_event.hpp>

namespace eventstore::postgres::detail {

class LogWatcher {
public:
    // Reads the head; throws on failure (the watcher then tries again after a backoff).
    using Probe = std::function<SequenceNumber(const Context&)>;

    LogWatcher(Probe probe, std::chrono::milliseconds interval);
    ~LogWatcher();
    LogWatcher(const LogWatcher&) = delete;
    LogWatcher& operator=(const LogWatcher&) = delete;

    // A running subscription: the watcher samples while at least one exists.
    class Interest {
    public:
        explicit Interest(LogWatcher& watcher);
        ~Interest();
        Interest(const Interest&) = delete;
        Interest& operator=(const Interest&) = delete;

    private:
        LogWatcher& m_watcher;
    };

    // The head as last sampled: a lower bound of the head now (0 before the first sample).
    [[nodiscard]] SequenceNumber head() const;
    // Waits until a sample is above `seen` (true), or the Context ends or `until` passes (false).
    bool wait_above(SequenceNumber seen, const Context& ctx, std::chrono::steady_clock::time_point until);

private:
    void run();

    Probe m_probe;
    std::chrono::milliseconds m_interval;
    mutable std::mutex m_mutex;
    std::condition_variable m_changed; // a new head, a new interest, or the end
    SequenceNumber m_head = 0;
    std::size_t m_interested = 0;
    bool m_stopping = false;
    std::stop_source m_stop; // ends a sample in flight when the watcher is destroyed
    std::thread m_thread;    // last: started once every other member is there
};

} // namespace eventstore::postgres::detail

#endif
