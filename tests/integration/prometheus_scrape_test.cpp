// The Prometheus adapter with the real tools: a Prometheus server (Debian's prometheus, on a loopback
// port, in a temporary folder of its own, stopped afterwards) scrapes the book-lending example's
// /metrics while it runs against the test database, with the recording and alerting rules of
// contrib/prometheus loaded. Through Prometheus' HTTP query API the test reads the example's append
// counter back, sees the recording rules produce their series, and runs every query of the Grafana
// dashboard in contrib/grafana (each must be valid PromQL, and the main ones must find data).

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.hpp"

extern char** environ; // NOLINT(readability-redundant-declaration): posix_spawn passes it on

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// A port on 127.0.0.1 that nothing listens on now (the kernel's pick for a socket bound to port 0).
int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): the sockets API takes a sockaddr*
    auto* generic = reinterpret_cast<sockaddr*>(&address);
    if (fd < 0 || ::bind(fd, generic, sizeof(address)) != 0 || ::getsockname(fd, generic, &length) != 0) {
        throw std::runtime_error("no free port");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

// A program started with posix_spawn, its output in a file; killed (SIGTERM, then SIGKILL) and waited
// for when destroyed.
class Child {
public:
    Child(const std::vector<std::string>& args, const std::filesystem::path& output) : m_output(output) {
        std::vector<char*> argv;
        argv.reserve(args.size() + 1);
        for (const std::string& a : args) {
            argv.push_back(const_cast<char*>(a.c_str())); // NOLINT(cppcoreguidelines-pro-type-const-cast)
        }
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        const int rc = posix_spawn(&m_pid, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(rc));
        }
    }
    ~Child() { stop(); }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    // Waits for the program to end by itself (up to `limit`); its exit status, or nothing.
    std::optional<int> wait(std::chrono::milliseconds limit) {
        const auto until = Clock::now() + limit;
        while (m_pid > 0) {
            int status = 0;
            if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
                m_pid = 0;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            if (Clock::now() > until) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(50ms);
        }
        return std::nullopt;
    }

    void stop() {
        if (m_pid <= 0) {
            return;
        }
        ::kill(m_pid, SIGTERM);
        if (!wait(10s)) {
            ::kill(m_pid, SIGKILL);
            int status = 0;
            ::waitpid(m_pid, &status, 0);
            m_pid = 0;
        }
    }

    [[nodiscard]] std::string output() const {
        std::ifstream in(m_output);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }

private:
    pid_t m_pid = 0;
    std::filesystem::path m_output;
};

class PrometheusScrape : public eventstore::test::DatabaseTest {
protected:
    void SetUp() override {
        DatabaseTest::SetUp();
        std::string pattern = (std::filesystem::temp_directory_path() / "eventstore-prometheus-XXXXXX").string();
        ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
        m_dir = pattern;
    }
    void TearDown() override {
        std::error_code ignored;
        std::filesystem::remove_all(m_dir, ignored);
    }

    // GET `path` on Prometheus' API; the parsed JSON, or nothing when it does not answer.
    std::optional<json> get(httplib::Client& client, const std::string& path) {
        const auto response = client.Get(path.c_str());
        if (!response || response->status != 200) {
            return std::nullopt;
        }
        return json::parse(response->body, nullptr, false);
    }

    static std::string url_encoded(const std::string& text) {
        static constexpr char hex[] = "0123456789ABCDEF";
        std::string out;
        for (const char c : text) {
            const auto byte = static_cast<unsigned char>(c);
            if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
                out += c;
            } else {
                out += '%';
                out += hex[byte >> 4U];
                out += hex[byte & 15U];
            }
        }
        return out;
    }

    // The result vector of an instant query (empty while there is no data; nothing on an error).
    std::optional<json> instant(httplib::Client& client, const std::string& promql) {
        const auto body = get(client, "/api/v1/query?query=" + url_encoded(promql));
        if (!body || body->is_discarded() || body->value("status", "") != "success") {
            return std::nullopt;
        }
        return (*body)["data"]["result"];
    }

    std::filesystem::path m_dir;
};

TEST_F(PrometheusScrape, PrometheusScrapesTheExampleAndTheRulesAndDashboardQueriesWork) {
    const int prometheus_port = free_port();
    const int metrics_port = free_port();
    {
        std::ofstream config(m_dir / "prometheus.yml");
        config << "global:\n  scrape_interval: 250ms\n  evaluation_interval: 250ms\n"
               << "rule_files:\n  - " << EVENTSTORE_RULES_FILE << "\n"
               << "scrape_configs:\n  - job_name: book_lending\n    static_configs:\n"
               << "      - targets: ['127.0.0.1:" << metrics_port << "']\n";
    }
    Child prometheus({"/usr/bin/prometheus", "--config.file=" + (m_dir / "prometheus.yml").string(),
                      "--storage.tsdb.path=" + (m_dir / "data").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port)},
                     m_dir / "prometheus.log");
    httplib::Client client("127.0.0.1", prometheus_port);
    client.set_connection_timeout(2);
    const auto ready_by = Clock::now() + 60s;
    while (!client.Get("/-/ready") || client.Get("/-/ready")->status != 200) {
        ASSERT_LT(Clock::now(), ready_by) << "Prometheus did not become ready:\n" << prometheus.output();
        std::this_thread::sleep_for(100ms);
    }

    Child example({EVENTSTORE_BOOK_LENDING, "--dsn", conninfo(), "--seconds", "4", "--lenders", "4", "--metrics-port",
                   std::to_string(metrics_port), "--metrics-linger", "20", "--table", "prometheus_scrape_events"},
                  m_dir / "example.log");

    // The example runs 4 s and serves its metrics 20 s more: the checks below run while Prometheus still
    // scrapes it (a gauge of a target that has gone is stale, and an instant query no longer finds it).
    // The example's append counter, read back through Prometheus.
    double appends = 0;
    const auto counted_by = Clock::now() + 60s;
    while (appends <= 0 && Clock::now() < counted_by) {
        if (const auto result = instant(client, "eventstore_append_method_calls_total{job=\"book_lending\"}");
            result && !result->empty()) {
            appends = std::stod((*result)[0]["value"][1].get<std::string>());
        }
        std::this_thread::sleep_for(250ms);
    }
    EXPECT_GT(appends, 0) << "no append counter scraped\nexample:\n"
                          << example.output() << "\nprometheus:\n"
                          << prometheus.output();

    // Every recording rule produces its series from the scraped metrics.
    for (const std::string rule :
         {"eventstore:append_conflict_ratio:rate5m", "eventstore:error_ratio:rate5m",
          "eventstore:append_duration_seconds:p99_5m", "eventstore:query_duration_seconds:p99_5m",
          "eventstore:pool_saturation", "eventstore:calls:rate5m"}) {
        bool found = false;
        const auto by = Clock::now() + 20s;
        while (!found && Clock::now() < by) {
            const auto result = instant(client, rule);
            found = result && !result->empty();
            if (!found) {
                std::this_thread::sleep_for(250ms);
            }
        }
        EXPECT_TRUE(found) << "the recording rule " << rule << " made no series";
    }

    // Every query of the dashboard is valid PromQL; those on calls, latency and the pool find data.
    std::ifstream dashboard_file(EVENTSTORE_DASHBOARD_FILE);
    const json dashboard = json::parse(dashboard_file);
    int queries = 0;
    for (const json& panel : dashboard["panels"]) {
        for (const json& target : panel["targets"]) {
            std::string expr = target["expr"].get<std::string>();
            for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{{"$__rate_interval", "1m"},
                                                                                           {"$job", "book_lending"}}) {
                for (auto at = expr.find(from); at != std::string::npos; at = expr.find(from)) {
                    expr.replace(at, from.size(), to);
                }
            }
            const auto result = instant(client, expr);
            EXPECT_TRUE(result.has_value()) << panel["title"] << ": Prometheus refused " << expr;
            const std::string title = panel["title"].get<std::string>();
            if (result && (title == "Calls per second" || title == "Append latency" || title == "Pool connections") &&
                target["refId"] == "A") {
                EXPECT_FALSE(result->empty()) << title << ": no data for " << expr;
            }
            ++queries;
        }
    }
    EXPECT_GE(queries, 15);

    const auto exit_code = example.wait(60s);
    EXPECT_EQ(exit_code, 0) << example.output();
    std::cout << "prometheus scraped the example: " << appends << " appends counted; " << queries
              << " dashboard queries checked\n";
}

} // namespace
