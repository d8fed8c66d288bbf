#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string>

#include <eventstore/error.hpp>
#include <eventstore/event_store.hpp>

namespace eventstore {

namespace {

// Throws the Context's reason to stop, reported as the append it ends.
void check_context(const Context& ctx, int attempt) {
    const std::string detail = "before attempt " + std::to_string(attempt) + " of decide_and_append";
    if (ctx.stop_requested()) {
        throw Error(Errc::appending_event_failed, Errc::canceled, detail);
    }
    if (ctx.deadline_passed()) {
        throw Error(Errc::appending_event_failed, Errc::deadline_exceeded, detail);
    }
}

// Sleeps for `pause`, or less when the Context stops or its deadline comes first.
void pause_for(const Context& ctx, std::chrono::milliseconds pause) {
    auto until = std::chrono::steady_clock::now() + pause;
    if (const auto deadline = ctx.deadline()) {
        until = std::min(until, *deadline);
    }
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock<std::mutex> lock(mutex);
    wake.wait_until(lock, ctx.stop_token(), until, [] { return false; });
}

} // namespace

AppendResult decide_and_append(EventStore& store, const Context& ctx, const Filter& filter,
                               const std::function<StorableEvents(const QueryResult&)>& decide, RetryPolicy policy) {
    const int attempts = std::max(policy.max_attempts, 1);
    for (int attempt = 1;; ++attempt) {
        check_context(ctx, attempt);
        const QueryResult read = store.query(ctx, filter);
        const StorableEvents events = decide(read);
        if (events.empty()) {
            return {};
        }
        try {
            return store.append(ctx, filter, read.max_sequence_number, events);
        } catch (const ConcurrencyConflict&) {
            if (attempt >= attempts) {
                throw;
            }
        }
        pause_for(ctx, policy.backoff * attempt);
    }
}

} // namespace eventstore
