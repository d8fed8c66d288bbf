#ifndef EVENTSTORE_POSTGRES_SUBSCRIBE_OPTIONS_HPP
#define EVENTSTORE_POSTGRES_SUBSCRIBE_OPTIONS_HPP

#include <chrono>
#include <cstddef>
#include <string>

namespace eventstore::postgres {

// The longest name a durable subscription may have, in bytes.
inline constexpr std::size_t max_subscription_name_length = 1024;

// Who saves a durable subscription's checkpoint (docs/subscriptions.md, "Checkpoints").
enum class CheckpointSaving {
    // The store, after each batch the callback has returned from, every lease / 3 during a long
    // batch, and when the subscription ends: at least once (after a crash, the events delivered
    // since the last save are delivered again).
    by_store,
    // The callback, in the transaction that holds the projection's own writes, with
    // EventStore::checkpoint_statement(): exactly once when the projection lives in the same database.
    // The store only reads the checkpoint (where to start, where to resume after a takeover).
    by_projection,
};

// How EventStore::subscribe reads. The defaults suit a projection: batches of 1,000 events while it
// catches up; then a read each time the log has moved (the store samples the head of its log every
// 2 ms for all its subscriptions together, without locks), at most every 4 ms: each read takes the
// lock protocol's shared locks, which hold new writers of its boundary back for a moment, so reading
// less often costs the writers less, and a little latency.
struct SubscribeOptions {
    // The most events one read returns (and the subscription holds in memory). At least 1.
    std::size_t batch_size = 1000;
    // Caught up, the subscription reads again once the log's head has moved, but not sooner than
    // poll_min after its last read, and at the latest poll_max after it even when the head has not
    // moved (a safety net, for a head that could not be sampled).
    std::chrono::milliseconds poll_min{4};
    std::chrono::milliseconds poll_max{1000};
    // After a lost connection or an unreachable server, the next attempt comes after reconnect_min,
    // doubling up to reconnect_max, for as long as the Context allows.
    std::chrono::milliseconds reconnect_min{50};
    std::chrono::milliseconds reconnect_max{5000};

    // Durable subscriptions. Empty: the subscription starts after `after` and keeps nothing. A name
    // (at most max_subscription_name_length bytes of UTF-8, no NUL): the subscription keeps its
    // position in the store's checkpoint table, starts after the saved checkpoint (after `after` the
    // first time the name is used), and is the only active consumer of that name: a second subscribe
    // with the same name waits, trying every lease / 20, and takes over when the first ends or stops
    // renewing its claim.
    std::string name{};
    CheckpointSaving checkpoints = CheckpointSaving::by_store;
    // How long a claim on the name lasts unless renewed; the active consumer renews it every lease / 3
    // (also from inside a long batch, between callbacks). A consumer that dies is replaced this long
    // after its last renewal. At least 100 ms.
    std::chrono::milliseconds lease{10000};
};

} // namespace eventstore::postgres

#endif
