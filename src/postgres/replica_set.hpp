#ifndef EVENTSTORE_SRC_POSTGRES_REPLICA_SET_HPP
#define EVENTSTORE_SRC_POSTGRES_REPLICA_SET_HPP

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "postgres/session.hpp"

namespace eventstore::postgres::detail {

// A store's replicas (docs/replicas.md): eventual reads rotate over those in rotation; a replica whose
// connection failed leaves the rotation for `retry_after`, then is tried again. Thread-safe.
class ReplicaSet {
public:
    using Clock = std::chrono::steady_clock;

    struct Replica {
        std::shared_ptr<SessionSource> source;
        std::string name; // for logs, spans and metrics: its pool's name
    };

    ReplicaSet(std::vector<Replica> replicas, std::chrono::milliseconds retry_after);

    [[nodiscard]] bool empty() const noexcept { return m_replicas.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return m_replicas.size(); }
    [[nodiscard]] const Replica& at(std::size_t i) const { return m_replicas.at(i); }
    [[nodiscard]] std::chrono::milliseconds retry_after() const noexcept { return m_retry_after; }

    // The replicas one read tries, in order: those in rotation, starting with the next in turn.
    [[nodiscard]] std::vector<std::size_t> rotation(Clock::time_point now);
    // Replica `i` failed (`why`): out of rotation until `now` + retry_after.
    void failed(std::size_t i, Clock::time_point now, std::string why);
    // The last failure of a replica, for the error when none can serve ("" when none failed).
    [[nodiscard]] std::string last_failure() const;

private:
    std::vector<Replica> m_replicas;
    std::chrono::milliseconds m_retry_after;
    mutable std::mutex m_mutex;
    std::vector<Clock::time_point> m_out_until; // per replica; in rotation once passed
    std::size_t m_next = 0;
    std::string m_last_failure;
};

} // namespace eventstore::postgres::detail

#endif
