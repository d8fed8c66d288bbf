#ifndef EVENTSTORE_POSTGRES_SUBSCRIBE_OPTIONS_HPP
#define EVENTSTORE_POSTGRES_SUBSCRIBE_OPTIONS_HPP

#include <chrono>
#include <cstddef>

namespace eventstore::postgres {

// How EventStore::subscribe reads. The defaults suit a projection: batches of 1,000 events while it
// catches up; then, while events keep arriving, a read 4 ms after the last one (each read takes the
// lock protocol's shared locks, which hold new writers of its boundary back for a moment: reading
// less often costs the writers less, and a little latency); while the log is quiet, the wait doubles
// up to 50 ms.
struct SubscribeOptions {
    // The most events one read returns (and the subscription holds in memory). At least 1.
    std::size_t batch_size = 1000;
    // After a read that found nothing new, the next one comes after poll_min, and each further empty
    // read doubles the wait up to poll_max: the delay of an event that arrives in a quiet log.
    std::chrono::milliseconds poll_min{4};
    std::chrono::milliseconds poll_max{50};
    // After a lost connection or an unreachable server, the next attempt comes after reconnect_min,
    // doubling up to reconnect_max, for as long as the Context allows.
    std::chrono::milliseconds reconnect_min{50};
    std::chrono::milliseconds reconnect_max{5000};
};

} // namespace eventstore::postgres

#endif
