#ifndef EVENTSTORE_PROMETHEUS_HPP
#define EVENTSTORE_PROMETHEUS_HPP

// A MetricsCollector that keeps every metric the store reports and renders them in Prometheus' text
// exposition format, for a /metrics endpoint. No third-party dependency (target eventstore::prometheus).
//
//     auto metrics = std::make_shared<eventstore::prometheus::Collector>();
//     auto store = eventstore::postgres::new_event_store_from_pool(pool, eventstore::postgres::with_metrics(metrics));
//     ...
//     http_response.body = metrics->exposition();   // Content-Type: text/plain; version=0.0.4
//
// How the store's three calls map onto Prometheus types (docs/observability.md, "Prometheus"):
//   record_duration   a histogram in seconds, with the Go library's buckets (or the options')
//   increment_counter a counter, plus one
//   record_value      a counter, plus the value, for a name ending in _total (the Go library records
//                     events_appended_total and its siblings as values); a gauge, set, otherwise
// A name reported first as one type keeps it: a later report of it as another type is dropped and
// counted in eventstore_prometheus_dropped_reports_total.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <eventstore/observability.hpp>

namespace eventstore::prometheus {

struct CollectorOptions {
    // Upper bounds of the duration histograms' buckets, in seconds, ascending (+Inf is added). The
    // default is the Go library's OpenTelemetry adapter's.
    std::vector<double> duration_buckets{0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1,
                                         2,     5,     10,   20,   30,   45,  60,   120};
};

// Thread-safe. A report for a label set already seen takes a shared lock and updates atomics: no
// allocation. The first report of a new label set allocates its series.
class Collector final : public MetricsCollector {
public:
    Collector();
    explicit Collector(CollectorOptions options);
    ~Collector() override;
    Collector(const Collector&) = delete;
    Collector& operator=(const Collector&) = delete;

    void record_duration(std::string_view metric, std::chrono::nanoseconds duration, const Labels& labels) override;
    void increment_counter(std::string_view metric, const Labels& labels) override;
    void record_value(std::string_view metric, double value, const Labels& labels) override;

    // Every metric reported so far, in the Prometheus text exposition format 0.0.4: a HELP and a TYPE
    // line per metric, metrics sorted by name, series by labels.
    [[nodiscard]] std::string exposition() const;

    // The Content-Type header to serve exposition() with.
    static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

private:
    class Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace eventstore::prometheus

#endif
