// subscribe: catch-up then live, built on reads that never skip an event (docs/subscriptions.md).

#include <algorithm>

#include <eventstore/error.hpp>

#include "core/context_wait.hpp"
#include "postgres/store_impl.hpp"

namespace eventstore::postgres {

namespace {

bool ended(const Context& ctx) { return ctx.stop_requested() || ctx.deadline_passed(); }

// Failures that a later read may not meet: the connection (a restart, a terminated backend, a server
// still starting) or a saturated pool.
bool transient(const Error& e) { return e.is(Errc::database_connection_failed) || e.is(Errc::pool_exhausted); }

} // namespace

// Each read is query() from the position after the last event delivered, with a limit: it returns
// the lowest matching positions above it, and its maximum has query()'s guarantee (no matching event
// at or below it appears later), so reading on from there never skips an event and never repeats
// one. Each read is one short transaction: nothing is held between reads (no cursor, no snapshot
// pinning the xmin horizon), so a subscription that falls behind costs the server nothing while it
// waits.
SequenceNumber EventStore::Impl::subscribe(const Context& ctx, const Filter& filter, SequenceNumber after,
                                           const std::function<void(StorableEvent&&)>& on_event,
                                           const SubscribeOptions& options) {
    const std::size_t batch = std::max<std::size_t>(options.batch_size, 1);
    const auto poll_min = std::max(options.poll_min, std::chrono::milliseconds(0));
    const auto poll_max = std::max(options.poll_max, poll_min);
    const auto reconnect_min = std::max(options.reconnect_min, std::chrono::milliseconds(1));
    const auto reconnect_max = std::max(options.reconnect_max, reconnect_min);
    // Only the primary holds the writers' locks that make a read gap-free.
    const Context reads = ctx.with_consistency(Consistency::strong);
    SequenceNumber last = after;
    auto wait = poll_min;
    auto backoff = reconnect_min;
    while (!ended(ctx)) {
        QueryResult result;
        try {
            result = query(reads, filter, ReadOptions{last + 1, false, batch});
        } catch (const Error& e) {
            if (ended(ctx) && (e.is(Errc::canceled) || e.is(Errc::deadline_exceeded))) {
                break;
            }
            if (!transient(e)) {
                throw;
            }
            eventstore::detail::sleep_within(ctx, backoff);
            backoff = std::min(backoff * 2, reconnect_max);
            continue;
        }
        backoff = reconnect_min;
        for (StorableEvent& event : result.events) {
            last = event.sequence_number;
            on_event(std::move(event));
            if (ended(ctx)) {
                return last;
            }
        }
        if (result.events.size() == batch) {
            wait = poll_min;
            continue; // more may be waiting: read on at once
        }
        if (!result.events.empty()) {
            wait = poll_min; // caught up, and the log is moving: look again soon
        }
        eventstore::detail::sleep_within(ctx, wait);
        if (result.events.empty()) {
            wait = std::min(std::max(wait * 2, std::chrono::milliseconds(1)), poll_max);
        }
    }
    return last;
}

SequenceNumber EventStore::subscribe(const Context& ctx, const Filter& filter, SequenceNumber after,
                                     const std::function<void(StorableEvent&&)>& on_event,
                                     const SubscribeOptions& options) {
    return m_impl->subscribe(ctx, filter, after, on_event, options);
}

} // namespace eventstore::postgres
