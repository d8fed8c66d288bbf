#include "store_metrics.hpp"

#include <algorithm>

namespace book_lending {

namespace {

std::string label(const eventstore::Labels& labels, const std::string& key) {
    const auto it = labels.find(key);
    return it == labels.end() ? std::string() : it->second;
}

double percentile(std::vector<double> values, double q) {
    if (values.empty()) {
        return 0;
    }
    const auto k = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
    return values[k];
}

} // namespace

void StoreMetrics::record_duration(std::string_view metric, std::chrono::nanoseconds duration,
                                   const eventstore::Labels& labels) {
    // Only the whole-call durations: "eventstore_query_method_duration_seconds" and its siblings.
    if (metric.find("_method_duration_seconds") == std::string_view::npos) {
        return;
    }
    const double ms = std::chrono::duration<double, std::milli>(duration).count();
    const std::lock_guard lock(m_mutex);
    m_durations_ms[{label(labels, "operation"), label(labels, "status")}].push_back(ms);
}

void StoreMetrics::increment_counter(std::string_view metric, const eventstore::Labels&) {
    if (metric == "eventstore_concurrency_conflicts_total") {
        const std::lock_guard lock(m_mutex);
        ++m_conflicts;
    }
}

void StoreMetrics::record_value(std::string_view, double, const eventstore::Labels&) {}

StoreMetrics::Summary StoreMetrics::summary(const std::string& operation, const std::string& status) const {
    const std::lock_guard lock(m_mutex);
    const auto it = m_durations_ms.find({operation, status});
    if (it == m_durations_ms.end()) {
        return {};
    }
    return {it->second.size(), percentile(it->second, 0.5), percentile(it->second, 0.99)};
}

std::uint64_t StoreMetrics::conflicts() const {
    const std::lock_guard lock(m_mutex);
    return m_conflicts;
}

} // namespace book_lending
