// eventstore::prometheus::Collector: the text exposition format (HELP and TYPE lines, label escaping,
// histogram buckets, sums and counts), the mapping of the store's three calls onto Prometheus types
// (a value named *_total is a counter), type clashes, concurrent reporting, and the page passing
// `promtool check metrics` (Debian's prometheus package; scripts/deps.sh installs it).

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <eventstore/prometheus.hpp>

namespace {

using eventstore::Labels;
using eventstore::prometheus::Collector;
using eventstore::prometheus::CollectorOptions;
using namespace std::chrono_literals;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(PrometheusCollector, CountersHistogramsAndGauges) {
    Collector c;
    const Labels query{{"operation", "query"}};
    c.increment_counter("eventstore_query_method_calls_total", query);
    c.increment_counter("eventstore_query_method_calls_total", query);
    c.record_value("eventstore_events_queried_total", 4, {{"operation", "query"}, {"status", "success"}});
    c.record_value("eventstore_events_queried_total", 3, {{"operation", "query"}, {"status", "success"}});
    c.record_value("eventstore_pool_connections", 7, {{"state", "idle"}});
    c.record_value("eventstore_pool_connections", 5, {{"state", "idle"}});
    c.record_duration("eventstore_query_method_duration_seconds", 3ms, query);
    c.record_duration("eventstore_query_method_duration_seconds", 700ms, query);
    c.record_duration("eventstore_query_method_duration_seconds", 200s, query);
    const std::string page = c.exposition();

    EXPECT_TRUE(contains(page, "# HELP eventstore_query_method_calls_total Queries started.\n"
                               "# TYPE eventstore_query_method_calls_total counter\n"
                               "eventstore_query_method_calls_total{operation=\"query\"} 2\n"))
        << page;
    // The Go library records these as values; Prometheus wants a counter for a *_total name.
    EXPECT_TRUE(contains(page, "# TYPE eventstore_events_queried_total counter\n"
                               "eventstore_events_queried_total{operation=\"query\",status=\"success\"} 7\n"))
        << page;
    EXPECT_TRUE(contains(page, "# TYPE eventstore_pool_connections gauge\n"
                               "eventstore_pool_connections{state=\"idle\"} 5\n"))
        << page;
    EXPECT_TRUE(contains(page, "# TYPE eventstore_query_method_duration_seconds histogram\n")) << page;
    // Buckets are cumulative, in seconds, with the Go library's bounds, and +Inf counts everything.
    EXPECT_TRUE(
        contains(page, "eventstore_query_method_duration_seconds_bucket{operation=\"query\",le=\"0.001\"} 0\n"));
    EXPECT_TRUE(
        contains(page, "eventstore_query_method_duration_seconds_bucket{operation=\"query\",le=\"0.005\"} 1\n"));
    EXPECT_TRUE(contains(page, "eventstore_query_method_duration_seconds_bucket{operation=\"query\",le=\"0.5\"} 1\n"));
    EXPECT_TRUE(contains(page, "eventstore_query_method_duration_seconds_bucket{operation=\"query\",le=\"1\"} 2\n"));
    EXPECT_TRUE(contains(page, "eventstore_query_method_duration_seconds_bucket{operation=\"query\",le=\"120\"} 2\n"));
    EXPECT_TRUE(contains(page, "eventstore_query_method_duration_seconds_bucket{operation=\"query\",le=\"+Inf\"} 3\n"));
    EXPECT_TRUE(contains(page, "eventstore_query_method_duration_seconds_sum{operation=\"query\"} 200.703\n")) << page;
    EXPECT_TRUE(contains(page, "eventstore_query_method_duration_seconds_count{operation=\"query\"} 3\n"));
}

TEST(PrometheusCollector, LabelValuesAndUnknownNamesAreEscaped) {
    Collector c;
    c.increment_counter("my.app metric_total", {{"error", "a \"quoted\"\\path\nnext"}, {"bad-label", "x"}});
    const std::string page = c.exposition();
    EXPECT_TRUE(contains(page, "# HELP my_app_metric_total eventstore metric my.app metric_total\n")) << page;
    EXPECT_TRUE(contains(page, "my_app_metric_total{bad_label=\"x\",error=\"a \\\"quoted\\\"\\\\path\\nnext\"} 1\n"))
        << page;
}

TEST(PrometheusCollector, ANameKeepsItsFirstTypeAndCountersNeverGoDown) {
    Collector c;
    c.increment_counter("eventstore_x_total", {});
    c.record_duration("eventstore_x_total", 1ms, {});
    c.record_value("eventstore_x_total", -5, {});
    const std::string page = c.exposition();
    EXPECT_TRUE(contains(page, "eventstore_x_total 1\n")) << page;
    EXPECT_TRUE(contains(page, "eventstore_prometheus_dropped_reports_total 2\n")) << page;
}

TEST(PrometheusCollector, BucketsFromTheOptions) {
    Collector c(CollectorOptions{{0.5, 0.1}});
    c.record_duration("d_seconds", 200ms, {});
    const std::string page = c.exposition();
    EXPECT_TRUE(contains(page, "d_seconds_bucket{le=\"0.1\"} 0\nd_seconds_bucket{le=\"0.5\"} 1\n"
                               "d_seconds_bucket{le=\"+Inf\"} 1\nd_seconds_sum 0.2\nd_seconds_count 1\n"))
        << page;
}

// Many threads reporting on shared and new label sets while another renders the page: every report
// counted once (and ThreadSanitizer watching, under the tsan preset).
TEST(PrometheusCollector, ConcurrentReportsAreAllCounted) {
    Collector c;
    constexpr int threads = 8;
    constexpr int reports = 5000;
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&c, t] {
            const Labels shared{{"operation", "append"}};
            const Labels own{{"thread", std::to_string(t)}};
            for (int i = 0; i < reports; ++i) {
                c.increment_counter("eventstore_append_method_calls_total", shared);
                c.record_duration("eventstore_append_method_duration_seconds", 1ms, own);
                c.record_value("eventstore_events_appended_total", 2, shared);
            }
        });
    }
    for (int i = 0; i < 20; ++i) {
        (void)c.exposition();
    }
    for (auto& w : workers) {
        w.join();
    }
    const std::string page = c.exposition();
    EXPECT_TRUE(contains(page, "eventstore_append_method_calls_total{operation=\"append\"} " +
                                   std::to_string(threads * reports) + "\n"));
    EXPECT_TRUE(contains(page, "eventstore_events_appended_total{operation=\"append\"} " +
                                   std::to_string(2 * threads * reports) + "\n"));
    for (int t = 0; t < threads; ++t) {
        EXPECT_TRUE(contains(page, "eventstore_append_method_duration_seconds_count{thread=\"" + std::to_string(t) +
                                       "\"} " + std::to_string(reports) + "\n"));
    }
}

// The page a store's full set of metrics makes passes Prometheus' own linter.
TEST(PrometheusCollector, ThePagePassesPromtool) {
    Collector c;
    for (const std::string operation : {"query", "append", "query_stream", "import"}) {
        const Labels labels{{"operation", operation}, {"status", "success"}, {"database_target", "primary"}};
        c.increment_counter("eventstore_" + operation + "_method_calls_total", {{"operation", operation}});
        c.record_duration("eventstore_" + operation + "_method_duration_seconds", 2ms, labels);
        c.record_duration("eventstore_" + operation + "_sql_duration_seconds", 1ms, labels);
        c.increment_counter("eventstore_" + operation + "_canceled_total", labels);
        c.increment_counter("eventstore_" + operation + "_timeout_total", labels);
    }
    c.record_value("eventstore_events_queried_total", 3, {{"operation", "query"}});
    c.record_value("eventstore_events_appended_total", 3, {{"operation", "append"}});
    c.increment_counter("eventstore_concurrency_conflicts_total", {{"operation", "append"}});
    c.increment_counter("eventstore_database_errors_total", {{"error_type", "database_query"}});
    c.record_duration("eventstore_component_duration_seconds", 1ms, {{"component", "query_build"}});
    c.record_duration("eventstore_snapshot_load_duration_seconds", 1ms, {{"result", "hit"}});
    c.increment_counter("eventstore_snapshot_load_total", {{"result", "hit"}});
    c.record_value("eventstore_pool_connections", 3, {{"state", "idle"}});

    const std::filesystem::path file =
        std::filesystem::temp_directory_path() / ("eventstore-metrics-" + std::to_string(::getpid()) + ".txt");
    {
        std::ofstream out(file);
        out << c.exposition();
    }
    const std::string command = "promtool check metrics < " + file.string() + " 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    std::array<char, 512> buffer{};
    while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
        output += buffer.data();
    }
    const int status = ::pclose(pipe);
    std::filesystem::remove(file);
    ASSERT_NE(WEXITSTATUS(status), 127) << "promtool is missing: install Debian's prometheus package "
                                           "(scripts/deps.sh does)";
    EXPECT_EQ(status, 0) << output;
    EXPECT_EQ(output, "") << "promtool found problems";
}

} // namespace
