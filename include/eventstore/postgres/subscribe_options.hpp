#ifndef EVENTSTORE_POSTGRES_SUBSCRIBE_OPTIONS_HPP
#define EVENTSTORE_POSTGRES_SUBSCRIBE_OPTIONS_HPP

#include <chrono>
#include <cstddef>

namespace eventstore::postgres {

// How EventStore::subscribe reads. The defaults suit a projection: batches of 1,000 events while it
// catches up, then a read at most 50 ms after the last one while the log is quiet, and at once again
// after a read that found events.
struct SubscribeOptions {
    // The most events one read returns (and the subscription holds in memory). At least 1.
    std::size_t batch_size = 1000;
    // After a read that found nothing new, the next one comes after poll_min, and each further empty
    // read doubles the wait up to poll_max: the delay of an event that arrives in a quiet log.
    std::chrono::milliseconds poll_min{1};
    std::chrono::milliseconds poll_max{50};
    // After a lost connection or an unreachable server, the next attempt comes after reconnect_min,
    // doubling up to reconnect_max, for as long as the Context allows.
    std::chrono::milliseconds reconnect_min{50};
    std::chrono::milliseconds reconnect_max{5000};
};

} // namespace eventstore::postgres

#endif
