#include <algorithm>
#include <string>

#include <eventstore/error.hpp>
#include <eventstore/event_store.hpp>

#include "core/context_wait.hpp"

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
        detail::sleep_within(ctx, policy.backoff * attempt);
    }
}

} // namespace eventstore
