#include "postgres/replica_set.hpp"

#include <utility>

namespace eventstore::postgres::detail {

ReplicaSet::ReplicaSet(std::vector<Replica> replicas, std::chrono::milliseconds retry_after)
    : m_replicas(std::move(replicas)), m_retry_after(retry_after), m_out_until(m_replicas.size()) {}

std::vector<std::size_t> ReplicaSet::rotation(Clock::time_point now) {
    const std::lock_guard lock(m_mutex);
    std::vector<std::size_t> order;
    order.reserve(m_replicas.size());
    const std::size_t n = m_replicas.size();
    for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = (m_next + k) % n;
        if (m_out_until[i] <= now) {
            order.push_back(i);
        }
    }
    if (n > 0) {
        m_next = (m_next + 1) % n;
    }
    return order;
}

void ReplicaSet::failed(std::size_t i, Clock::time_point now, std::string why) {
    const std::lock_guard lock(m_mutex);
    m_out_until.at(i) = now + m_retry_after;
    m_last_failure = m_replicas.at(i).name + ": " + std::move(why);
}

std::string ReplicaSet::last_failure() const {
    const std::lock_guard lock(m_mutex);
    return m_last_failure;
}

} // namespace eventstore::postgres::detail
