#include "telemetry.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>

#include <httplib.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <eventstore/spdlog.hpp>

namespace book_lending {

namespace {

// One metrics hook feeding several collectors.
class Tee final : public eventstore::MetricsCollector {
public:
    explicit Tee(std::vector<std::shared_ptr<eventstore::MetricsCollector>> targets) : m_targets(std::move(targets)) {}
    void record_duration(std::string_view metric, std::chrono::nanoseconds d, const eventstore::Labels& l) override {
        for (const auto& t : m_targets) {
            t->record_duration(metric, d, l);
        }
    }
    void increment_counter(std::string_view metric, const eventstore::Labels& l) override {
        for (const auto& t : m_targets) {
            t->increment_counter(metric, l);
        }
    }
    void record_value(std::string_view metric, double value, const eventstore::Labels& l) override {
        for (const auto& t : m_targets) {
            t->record_value(metric, value, l);
        }
    }

private:
    std::vector<std::shared_ptr<eventstore::MetricsCollector>> m_targets;
};

} // namespace

class Telemetry::Server {
public:
    Server(std::uint16_t port, std::shared_ptr<eventstore::prometheus::Collector> metrics) {
        m_http.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& response) {
            response.set_content(metrics->exposition(), std::string(eventstore::prometheus::Collector::content_type));
        });
        if (!m_http.bind_to_port("127.0.0.1", port)) {
            throw std::runtime_error("cannot serve metrics on 127.0.0.1:" + std::to_string(port) +
                                     " (is the port in use?)");
        }
        m_thread = std::thread([this] { m_http.listen_after_bind(); });
    }
    ~Server() {
        m_http.stop();
        m_thread.join();
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

private:
    httplib::Server m_http;
    std::thread m_thread;
};

Telemetry::Telemetry(const Options& options, std::shared_ptr<StoreMetrics> summary, std::ostream& out)
    : m_linger(options.metrics_linger), m_prometheus(std::make_shared<eventstore::prometheus::Collector>()) {
    m_metrics = std::make_shared<Tee>(
        std::vector<std::shared_ptr<eventstore::MetricsCollector>>{std::move(summary), m_prometheus});
    auto spd = spdlog::get("eventstore");
    if (!spd) {
        spd = spdlog::stderr_color_mt("eventstore");
    }
    spd->set_level(spdlog::level::from_str(options.log_level));
    m_logger = eventstore::make_spdlog_logger(spd);
    if (options.metrics_port) {
        m_server = std::make_unique<Server>(*options.metrics_port, m_prometheus);
        out << "  metrics: http://127.0.0.1:" << *options.metrics_port << "/metrics (Prometheus text format)\n";
    }
}

Telemetry::~Telemetry() = default;

std::vector<eventstore::postgres::Option> Telemetry::store_options() const {
    return {eventstore::postgres::with_metrics(m_metrics), eventstore::postgres::with_contextual_logger(m_logger)};
}

void Telemetry::linger() const {
    if (m_server && m_linger > 0) {
        std::this_thread::sleep_for(std::chrono::duration<double>(m_linger));
    }
}

} // namespace book_lending
