// The price of HTTP: the same work through `eventstore serve` (in this process, on loopback, over
// kept-alive connections) and through the library directly, with 20 clients, alternating rounds in
// one run. The work is the DCB test suite's: an append of one event conditioned on the client's own
// tag, and a read of the newest event of that tag (backwards, limit 1).
//
//   http_bench --dsn "<conninfo>" [--seconds 3] [--clients 20] [--rounds 3]
//
// Works on a table of its own (http_bench_<pid>), dropped at the end.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <libpq-fe.h>

#include <eventstore/postgres.hpp>

#include "server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Rates {
    double appends_per_second = 0;
    double reads_per_second = 0;
};

// Each round of appends writes tags of its own (a condition on a tag an earlier round wrote would
// fail); reads look for tags the first round wrote.
std::atomic<int> g_round{0};
std::string tag_of(int round, int client, int n) {
    return "r" + std::to_string(round) + "-c" + std::to_string(client) + "-" + std::to_string(n);
}

// `clients` threads doing `op(client, n)` for `seconds`; operations per second.
template <typename Op>
double run_clients(int clients, double seconds, Op op) {
    std::atomic<long> done{0};
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(clients));
    const auto started = Clock::now();
    for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&, c] {
            auto state = op.start(c);
            for (int n = 0; Clock::now() < until; ++n) {
                op.run(state, c, n);
                ++done;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    return static_cast<double>(done.load()) / std::chrono::duration<double>(Clock::now() - started).count();
}

struct LibraryAppend {
    eventstore::postgres::EventStore* store;
    static int start(int /*client*/) { return 0; }
    void run(int /*state*/, int client, int n) const {
        const std::string tag = tag_of(g_round, client, n);
        auto event = eventstore::build_storable_event_with_empty_metadata("P", std::chrono::system_clock::now(), "{}");
        event.tags = {tag};
        (void)store->append(eventstore::build_event_filter().matching().all_tags_of(tag).finalize(), 0, event);
    }
};

struct LibraryRead {
    eventstore::postgres::EventStore* store;
    static int start(int /*client*/) { return 0; }
    void run(int /*state*/, int client, int n) const {
        const std::string tag = tag_of(0, client, n % 50);
        (void)store->query(eventstore::build_event_filter().matching().all_tags_of(tag).finalize(),
                           eventstore::ReadOptions{.backwards = true, .limit = 1});
    }
};

struct HttpOp {
    int port;
    bool append;
    [[nodiscard]] std::shared_ptr<httplib::Client> start(int /*client*/) const {
        auto c = std::make_shared<httplib::Client>("127.0.0.1", port);
        c->set_keep_alive(true);
        c->set_tcp_nodelay(true);
        return c;
    }
    void run(const std::shared_ptr<httplib::Client>& c, int client, int n) const {
        if (append) {
            const std::string tag = tag_of(g_round, client, n);
            const std::string body = R"({"events":[{"type":"P","tags":[")" + tag + R"("],"data":"{}"}],)" +
                                     R"("condition":{"failIfEventsMatch":{"items":[{"tags":[")" + tag + R"("]}]}}})";
            const auto r = c->Post("/append", body, "application/json");
            if (!r || r->status != 200) {
                throw std::runtime_error("POST /append failed");
            }
        } else {
            const std::string query = R"({"items":[{"tags":[")" + tag_of(0, client, n % 50) + R"("]}]})";
            const auto r =
                c->Get("/read", httplib::Params{{"query", query}, {"options", R"({"backwards":true,"limit":1})"}},
                       httplib::Headers{});
            if (!r || r->status != 200) {
                throw std::runtime_error("GET /read failed");
            }
        }
    }
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
    std::string dsn;
    double seconds = 3;
    int clients = 20;
    int rounds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--dsn") {
            dsn = argv[i + 1];
        } else if (flag == "--seconds") {
            seconds = std::stod(argv[i + 1]);
        } else if (flag == "--clients") {
            clients = std::stoi(argv[i + 1]);
        } else if (flag == "--rounds") {
            rounds = std::stoi(argv[i + 1]);
        } else {
            std::cerr << "usage: http_bench --dsn <conninfo> [--seconds 3] [--clients 20] [--rounds 3]\n";
            return 2;
        }
    }
    const std::string table = "http_bench_" + std::to_string(::getpid());
    eventstore::postgres::PoolOptions pool;
    pool.max_connections = 16; // as serve's store
    auto store = eventstore::postgres::new_event_store_from_pool(
        eventstore::postgres::ConnectionPool::create(dsn, pool), eventstore::postgres::with_table_name(table));
    store->migrate();

    auto server = std::make_unique<eventstore::cli::BackgroundServer>(eventstore::cli::Target{dsn, table},
                                                                      eventstore::cli::ServeOptions{}, std::cerr);
    const int port = server->port();

    std::vector<double> lib_appends;
    std::vector<double> http_appends;
    std::vector<double> lib_reads;
    std::vector<double> http_reads;
    for (int r = 0; r < rounds; ++r) {
        lib_appends.push_back(run_clients(clients, seconds, LibraryAppend{store.get()}));
        ++g_round;
        http_appends.push_back(run_clients(clients, seconds, HttpOp{port, true}));
        ++g_round;
        lib_reads.push_back(run_clients(clients, seconds, LibraryRead{store.get()}));
        http_reads.push_back(run_clients(clients, seconds, HttpOp{port, false}));
        std::printf("round %d: appends/s library %.0f http %.0f; reads/s library %.0f http %.0f\n", r + 1,
                    lib_appends.back(), http_appends.back(), lib_reads.back(), http_reads.back());
    }
    server.reset();
    std::printf("median of %d rounds, %d clients, %.1f s each:\n", rounds, clients, seconds);
    std::printf("  appends/s: http %.0f, library %.0f: %.2fx\n", median(http_appends), median(lib_appends),
                median(http_appends) / median(lib_appends));
    std::printf("  reads/s:   http %.0f, library %.0f: %.2fx\n", median(http_reads), median(lib_reads),
                median(http_reads) / median(lib_reads));
    // The table was the bench's own.
    std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(dsn.c_str()), PQfinish);
    for (const std::string& t : {table, table + "_snapshots", table + "_checkpoints"}) {
        PQclear(PQexec(conn.get(), ("DROP TABLE IF EXISTS \"" + t + "\"").c_str()));
    }
    return 0;
}
