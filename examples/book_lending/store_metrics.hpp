#ifndef BOOK_LENDING_STORE_METRICS_HPP
#define BOOK_LENDING_STORE_METRICS_HPP

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <eventstore/observability.hpp>

namespace book_lending {

// A metrics hook of the kind a service would forward to Prometheus or OpenTelemetry; this one keeps
// what the run needs in memory: each operation's latencies by outcome, and the conflict count.
class StoreMetrics final : public eventstore::MetricsCollector {
public:
    void record_duration(std::string_view metric, std::chrono::nanoseconds duration,
                         const eventstore::Labels& labels) override;
    void increment_counter(std::string_view metric, const eventstore::Labels& labels) override;
    void record_value(std::string_view metric, double value, const eventstore::Labels& labels) override;

    struct Summary {
        std::uint64_t calls = 0; // finished calls with the given status
        double p50_ms = 0;
        double p99_ms = 0;
    };
    // eventstore_<operation>_method_duration_seconds with status `status` ("success", "error", ...).
    [[nodiscard]] Summary summary(const std::string& operation, const std::string& status) const;
    [[nodiscard]] std::uint64_t conflicts() const;

private:
    mutable std::mutex m_mutex;
    std::map<std::pair<std::string, std::string>, std::vector<double>> m_durations_ms; // (operation, status)
    std::uint64_t m_conflicts = 0;
};

} // namespace book_lending

#endif
