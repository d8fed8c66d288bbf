#ifndef BOOK_LENDING_TELEMETRY_HPP
#define BOOK_LENDING_TELEMETRY_HPP

#include <memory>
#include <ostream>
#include <thread>
#include <vector>

#include <eventstore/postgres.hpp>
#include <eventstore/prometheus.hpp>

#include "options.hpp"
#include "store_metrics.hpp"

namespace book_lending {

// What the example plugs into the store's hooks: its own summary of the calls (StoreMetrics) and a
// Prometheus collector, fed by one metrics hook; the store's log records through spdlog on standard
// error (--log-level); and, with --metrics-port, an HTTP server on 127.0.0.1 serving /metrics.
class Telemetry {
public:
    // Throws std::runtime_error when the metrics port cannot be bound.
    Telemetry(const Options& options, std::shared_ptr<StoreMetrics> summary, std::ostream& out);
    ~Telemetry();
    Telemetry(const Telemetry&) = delete;
    Telemetry& operator=(const Telemetry&) = delete;

    // with_metrics and with_contextual_logger, for the store factory.
    [[nodiscard]] std::vector<eventstore::postgres::Option> store_options() const;
    // The metrics hook, for the pool too (PoolOptions::metrics).
    [[nodiscard]] const std::shared_ptr<eventstore::MetricsCollector>& metrics() const { return m_metrics; }
    // Keeps the endpoint up for --metrics-linger seconds (a last scrape sees the run's final counts).
    void linger() const;

private:
    class Server;
    double m_linger;
    std::shared_ptr<eventstore::MetricsCollector> m_metrics;
    std::shared_ptr<eventstore::ContextualLogger> m_logger;
    std::shared_ptr<eventstore::prometheus::Collector> m_prometheus;
    std::unique_ptr<Server> m_server;
};

} // namespace book_lending

#endif
