// The event browser's page reads (GET /api/events: 50 events, newest first, read in windows of
// positions) on a large table, one client, against two references measured in the same run: the floor
// (a prepared `SELECT 1` on a libpq connection) and the library's own backwards limited read of the
// same page (`query` with backwards, limit 51), which sorts the filter's whole boundary.
//
//   browser_page_bench --dsn "<conninfo>" [--table events] [--seconds 3]
//
// Each measurement runs up to --seconds (at least 3 and at most 500 calls); medians are reported.
// Reads only.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <httplib.h>
#include <libpq-fe.h>

#include <eventstore/postgres.hpp>

#include "commands.hpp"
#include "server.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// The median time of `op` in microseconds, after two calls to warm up.
template <typename Op>
double median_micros(double seconds, Op op) {
    op();
    op();
    std::vector<double> times;
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (times.size() < 3 || (Clock::now() < until && times.size() < 500)) {
        const auto started = Clock::now();
        op();
        times.push_back(std::chrono::duration<double, std::micro>(Clock::now() - started).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

struct Case {
    const char* name;
    eventstore::cli::FilterFlags flags;
    std::uint64_t before; // the page's upper bound (0: the newest)
    std::string query;    // GET /api/events's parameters
};

} // namespace

int main(int argc, char** argv) try {
    std::string dsn;
    std::string table = "events";
    double seconds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--dsn") {
            dsn = argv[i + 1];
        } else if (flag == "--table") {
            table = argv[i + 1];
        } else if (flag == "--seconds") {
            seconds = std::stod(argv[i + 1]);
        } else {
            std::cerr << "usage: browser_page_bench --dsn <conninfo> [--table events] [--seconds 3]\n";
            return 2;
        }
    }
    auto store = eventstore::postgres::new_event_store_from_pool(eventstore::postgres::ConnectionPool::create(dsn),
                                                                 eventstore::postgres::with_table_name(table));
    const auto head =
        store->query(eventstore::Filter(), eventstore::ReadOptions{.backwards = true, .limit = 1}).max_sequence_number;

    const eventstore::cli::BackgroundServer server({dsn, table}, {}, std::cerr);
    httplib::Client http("127.0.0.1", server.port());
    http.set_keep_alive(true);
    http.set_tcp_nodelay(true);

    std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(dsn.c_str()), PQfinish);
    PQclear(PQprepare(conn.get(), "floor", "SELECT 1", 0, nullptr));
    const double floor =
        median_micros(seconds, [&] { PQclear(PQexecPrepared(conn.get(), "floor", 0, nullptr, nullptr, nullptr, 0)); });

    const std::uint64_t middle = head / 2;
    std::vector<Case> cases{
        {"the newest page", {}, 0, ""},
        {"the newest page of BookCopyLentToReader",
         {.types = {"BookCopyLentToReader"}},
         0,
         "type=BookCopyLentToReader"},
        {"the newest page of SomethingHasHappened9999",
         {.types = {"SomethingHasHappened9999"}},
         0,
         "type=SomethingHasHappened9999"},
        {"a page in the middle of the log", {}, middle, "before=" + std::to_string(middle)},
        {"a payload predicate nothing matches", {.where = {"ReaderID=none"}}, 0, "where=ReaderID%3Dnone"},
    };
    std::printf("%llu events; floor (prepared SELECT 1): %.0f us\n", static_cast<unsigned long long>(head), floor);
    std::printf("%-45s %12s %12s %10s %12s\n", "page of 50", "GET us", "library us", "GET/floor", "GET/library");
    for (const Case& c : cases) {
        const double over_http = median_micros(seconds, [&] {
            const auto r = http.Get("/api/events?limit=50&" + c.query);
            if (!r || r->status != 200) {
                throw std::runtime_error("GET /api/events failed");
            }
        });
        eventstore::cli::FilterFlags flags = c.flags;
        flags.backwards = true;
        flags.limit = 51;
        flags.from = c.before > 0 ? c.before - 1 : 0;
        const eventstore::Filter filter = eventstore::cli::filter_of(flags);
        const double library =
            median_micros(seconds, [&] { (void)store->query(filter, eventstore::cli::read_options_of(flags)); });
        std::printf("%-45s %12.0f %12.0f %9.1fx %11.3fx\n", c.name, over_http, library, over_http / floor,
                    over_http / library);
    }
    return 0;
} catch (const std::exception& e) {
    std::cerr << "browser_page_bench: " << e.what() << '\n';
    return 1;
}
