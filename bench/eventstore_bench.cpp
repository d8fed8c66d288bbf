// The benchmark suite of docs/performance.md: on one database (a fixture made by tools/generate_fixture),
// in one run, the floors (raw libpq), the Go library's literal SQL replayed, and this library, each line
// with its ratio to its floor and, where the project has one, its goal.
//
//   eventstore_bench --dsn "host=... dbname=fixture_2500000" [--table events] [--csv out.csv]
//                    [--size N] [--min-time 1.5] [--duration 2.5] [--clients 8] [--books 10000]
//                    [--benchmark_* flags, e.g. --benchmark_filter='lib/.*' --benchmark_repetitions=1]
//
// Every benchmark records each operation's duration and reports p50 and p99 (microseconds) and ops/s as
// counters. Single-client benchmarks run Google Benchmark's own loop with manual timing (untimed setup:
// fresh IDs, events, filters); multi-client ones run for --duration seconds on their own threads. Each
// runs 6 times, in random order among the others; the comparison table, printed at the end (and written
// as CSV with --csv), takes the median of each figure over the repetitions.
//
// The rows the run adds (every append and INSERT) are deleted at the end, and before the run if an
// earlier run died, so that the cached fixture does not drift: everything after the fixture's last
// sequence number (table bench_fixture, written by scripts/bench.sh) goes.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <libpq-fe.h>

#include <eventstore/eventstore.hpp>
#include <eventstore/postgres.hpp>

#include "devsupport/pg_session.hpp"
#include "devsupport/rfc3339.hpp"
#include "devsupport/sql_names.hpp"
#include "devsupport/uuid.hpp"

namespace {

namespace pg = eventstore::postgres;
namespace devsupport = eventstore::devsupport;
using eventstore::Filter;
using eventstore::SequenceNumber;
using eventstore::StorableEvent;
using eventstore::TimePoint;
using Clock = std::chrono::steady_clock;

// --- configuration ------------------------------------------------------------------------------

struct Config {
    std::string dsn;
    std::string table = "events";
    std::string csv;
    std::uint64_t size = 0;    // store size label; 0: counted at start
    double min_time = 1.5;     // seconds, single-client benchmarks
    double duration = 2.5;     // seconds, multi-client and under-load benchmarks
    int clients = 8;           // the multi-client benchmarks
    std::size_t books = 10000; // existing books sampled for the query benchmarks
};

Config g_config;

[[noreturn]] void usage(const std::string& problem) {
    if (!problem.empty()) {
        std::cerr << "eventstore_bench: " << problem << "\n";
    }
    std::cerr << "usage: eventstore_bench [--dsn CONNINFO] [--table NAME] [--csv PATH] [--size N] [--min-time S]\n"
                 "                        [--duration S] [--clients N] [--books N] [--benchmark_* flags]\n";
    std::exit(2);
}

// Takes our own flags (--name value or --name=value) out of argv; returns the arguments for Google
// Benchmark: its defaults above, then the rest.
// Google Benchmark defaults of this program (given flags come later, and win): the medians of six
// short repetitions, run in random order, so that a slow minute on a shared machine does not land on one
// measure and its floor unevenly.
char default_repetitions[] = "--benchmark_repetitions=6";
char default_interleaving[] = "--benchmark_enable_random_interleaving=true";

char** parse_options(int& argc, char** argv) {
    std::vector<char*> rest{argv[0], default_repetitions, default_interleaving};
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        bool has_value = false;
        if (const auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--benchmark", 0) != 0) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            has_value = true;
        }
        auto take = [&]() -> std::string {
            if (has_value) {
                return value;
            }
            if (i + 1 >= argc) {
                usage(arg + " needs a value");
            }
            return argv[++i];
        };
        try {
            if (arg == "--dsn") {
                g_config.dsn = take();
            } else if (arg == "--table") {
                g_config.table = take();
            } else if (arg == "--csv") {
                g_config.csv = take();
            } else if (arg == "--size") {
                g_config.size = std::stoull(take());
            } else if (arg == "--min-time") {
                g_config.min_time = std::stod(take());
            } else if (arg == "--duration") {
                g_config.duration = std::stod(take());
            } else if (arg == "--clients") {
                g_config.clients = std::stoi(take());
            } else if (arg == "--books") {
                g_config.books = static_cast<std::size_t>(std::stoull(take()));
            } else if (arg == "--help" || arg == "-h") {
                usage("");
            } else {
                rest.push_back(argv[i]);
            }
        } catch (const std::invalid_argument&) {
            usage(arg + ": not a number");
        } catch (const std::out_of_range&) {
            usage(arg + ": out of range");
        }
    }
    if (g_config.clients < 1 || g_config.duration <= 0 || g_config.min_time <= 0 || g_config.books == 0) {
        usage("--clients, --duration, --min-time and --books must be positive");
    }
    static std::vector<char*> args;
    args = std::move(rest);
    args.push_back(nullptr);
    argc = static_cast<int>(args.size() - 1);
    return args.data();
}

// --- IDs, times, payloads -----------------------------------------------------------------------

std::mt19937_64& thread_rng() {
    thread_local std::mt19937_64 rng(std::random_device{}() ^ std::hash<std::thread::id>{}(std::this_thread::get_id()));
    return rng;
}

std::int64_t now_unix_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

TimePoint time_point(std::int64_t unix_us) {
    return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(unix_us)));
}

// A fresh UUIDv7 (RFC 9562).
std::string new_id() { return devsupport::uuid_v7(now_unix_us() / 1000, thread_rng()); }

using devsupport::rfc3339_utc;

const char* const added_type = "BookCopyAddedToCirculation";
const char* const lent_type = "BookCopyLentToReader";
// The book boundary's four types, in the order the Go builder sorts them (bytewise).
const std::vector<std::string>& book_types() {
    static const std::vector<std::string> types{"BookCopyAddedToCirculation", "BookCopyLentToReader",
                                                "BookCopyRemovedFromCirculation", "BookCopyReturnedByReader"};
    return types;
}

// Spec §8, as the Go serialiser writes it (struct field order, compact).
std::string added_payload(const std::string& book_id, std::int64_t unix_us) {
    return "{\"EventType\":\"BookCopyAddedToCirculation\",\"BookID\":\"" + book_id +
           "\",\"ISBN\":\"978-1-098-10013-1\",\"Title\":\"Learning Domain-Driven Design\",\"Authors\":\"Vlad "
           "Khononov\",\"Edition\":\"First Edition\",\"Publisher\":\"O'Reilly Media, Inc.\",\"PublicationYear\":2021,"
           "\"OccurredAt\":\"" +
           rfc3339_utc(unix_us) + "\"}";
}

std::string lent_payload(const std::string& book_id, const std::string& reader_id, std::int64_t unix_us) {
    return "{\"EventType\":\"BookCopyLentToReader\",\"BookID\":\"" + book_id + "\",\"ReaderID\":\"" + reader_id +
           "\",\"OccurredAt\":\"" + rfc3339_utc(unix_us) + "\"}";
}

std::string new_metadata() {
    const std::string id = new_id();
    return "{\"MessageID\":\"" + new_id() + "\",\"CausationID\":\"" + id + "\",\"CorrelationID\":\"" + id + "\"}";
}

StorableEvent added_event(const std::string& book_id) {
    const std::int64_t now = now_unix_us();
    return StorableEvent{added_type, time_point(now), added_payload(book_id, now), new_metadata(), 0};
}

StorableEvent lent_event(const std::string& book_id) {
    const std::int64_t now = now_unix_us();
    return StorableEvent{lent_type, time_point(now), lent_payload(book_id, new_id(), now), new_metadata(), 0};
}

std::vector<StorableEvent> added_events(const std::string& book_id, std::size_t n) {
    std::vector<StorableEvent> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(added_event(book_id));
    }
    return out;
}

Filter book_filter(const std::string& book_id, SequenceNumber after = 0) {
    auto item = eventstore::build_event_filter()
                    .matching()
                    .any_event_type_of(std::span<const std::string>(book_types()))
                    .and_any_predicate_of(eventstore::P("BookID", book_id));
    if (after > 0) {
        return item.with_sequence_number_higher_than(after).finalize();
    }
    return item.finalize();
}

// --- the Go library's SQL, literal values, as spec §2.3 and §2.4 render it ------------------------

std::string sql_quote(std::string_view s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') {
            out += '\'';
        }
        out += c;
    }
    out += '\'';
    return out;
}

std::string quoted_table() { return devsupport::quote_table(g_config.table); }

std::string go_where(const std::string& book_id) {
    std::string types;
    for (const std::string& t : book_types()) {
        if (!types.empty()) {
            types += " OR ";
        }
        types += "(\"event_type\" = " + sql_quote(t) + ")";
    }
    // The predicate is a raw splice in Go (no escaping): a UUID needs none.
    return "((" + types + ") AND payload @> '{\"BookID\": \"" + book_id + "\"}')";
}

std::string go_query_sql(const std::string& book_id) {
    return "SELECT \"event_type\", \"occurred_at\", \"payload\", \"metadata\", \"sequence_number\" FROM " +
           quoted_table() + " WHERE " + go_where(book_id) + " ORDER BY \"sequence_number\" ASC";
}

std::string go_append_sql(const std::string& book_id, const std::vector<StorableEvent>& events) {
    const std::string table = quoted_table();
    const std::string context = "WITH context AS (SELECT MAX(\"sequence_number\") AS \"max_seq\" FROM " + table +
                                " WHERE " + go_where(book_id) + ")";
    auto ts = [](const StorableEvent& e) {
        return rfc3339_utc(
            std::chrono::duration_cast<std::chrono::microseconds>(e.occurred_at.time_since_epoch()).count());
    };
    if (events.size() == 1) {
        const StorableEvent& e = events.front();
        return context + " INSERT INTO " + table +
               " (\"event_type\", \"occurred_at\", \"payload\", \"metadata\") SELECT " + sql_quote(e.event_type) +
               ", " + sql_quote(ts(e)) + ", " + sql_quote(e.payload_json) + ", " + sql_quote(e.metadata_json) +
               " FROM \"context\" WHERE (COALESCE(\"max_seq\", 0) = 0)";
    }
    std::string vals;
    for (std::size_t i = 0; i < events.size(); ++i) {
        const StorableEvent& e = events[i];
        std::string select = "SELECT " + sql_quote(e.event_type) + "::text AS \"event_type\", " + sql_quote(ts(e)) +
                             "::timestamp with time zone AS \"occurred_at\", " + sql_quote(e.payload_json) +
                             "::jsonb AS \"payload\", " + sql_quote(e.metadata_json) + "::jsonb AS \"metadata\"";
        vals += i == 0 ? select : " UNION ALL (" + select + ")";
    }
    return context + ", vals AS (" + vals + ") INSERT INTO " + table +
           " (\"event_type\", \"occurred_at\", \"payload\", \"metadata\") SELECT \"vals\".\"event_type\", "
           "\"vals\".\"occurred_at\", \"vals\".\"payload\", \"vals\".\"metadata\" FROM \"context\", \"vals\" WHERE "
           "(COALESCE(\"max_seq\", 0) = 0)";
}

// --- raw libpq ----------------------------------------------------------------------------------

using devsupport::PgResult;
using devsupport::PgSession;

constexpr Oid text_oid = 25;
constexpr Oid timestamptz_oid = 1184;
constexpr Oid jsonb_oid = 3802;

// The plain INSERT floor: the store's own table, the same columns, one row, autocommit.
void prepare_plain_insert(PgSession& c) {
    c.prepare("plain_insert",
              "INSERT INTO " + quoted_table() + " (event_type, occurred_at, payload, metadata) VALUES ($1, $2, $3, $4)",
              {text_oid, timestamptz_oid, jsonb_oid, jsonb_oid});
}

// The same, five rows in one statement: the floor of a 5-event append.
constexpr int rows_in_multi_insert = 5;

void prepare_plain_insert_5(PgSession& c) {
    std::string sql = "INSERT INTO " + quoted_table() + " (event_type, occurred_at, payload, metadata) VALUES ";
    std::vector<Oid> types;
    for (int row = 0; row < rows_in_multi_insert; ++row) {
        const int p = 4 * row;
        sql += (row == 0 ? "($" : ", ($") + std::to_string(p + 1) + ", $" + std::to_string(p + 2) + ", $" +
               std::to_string(p + 3) + ", $" + std::to_string(p + 4) + ")";
        types.insert(types.end(), {text_oid, timestamptz_oid, jsonb_oid, jsonb_oid});
    }
    c.prepare("plain_insert_5", sql, types);
}

std::vector<std::string> plain_insert_5_params() {
    const std::string book = new_id();
    std::vector<std::string> params;
    for (int row = 0; row < rows_in_multi_insert; ++row) {
        const std::int64_t now = now_unix_us();
        params.insert(params.end(), {added_type, rfc3339_utc(now), added_payload(book, now), new_metadata()});
    }
    return params;
}

std::vector<std::string> plain_insert_params() {
    const std::int64_t now = now_unix_us();
    return {added_type, rfc3339_utc(now), added_payload(new_id(), now), new_metadata()};
}

void plain_insert(PgSession& c, const std::vector<std::string>& params) {
    if (c.exec_prepared("plain_insert", params).affected() != 1) {
        throw std::runtime_error("plain INSERT did not insert one row");
    }
}

void go_append(PgSession& c, const std::string& sql, std::size_t events) {
    if (c.exec(sql).affected() != events) {
        throw std::runtime_error("Go CTE append: conflict on a fresh boundary");
    }
}

// --- state shared by the benchmarks ---------------------------------------------------------------

std::shared_ptr<pg::ConnectionPool> g_pool;
std::unique_ptr<pg::EventStore> g_store;
std::vector<std::string> g_books; // existing books of the fixture, 4 events each

const std::string& random_book() {
    std::uniform_int_distribution<std::size_t> pick(0, g_books.size() - 1);
    return g_books[pick(thread_rng())];
}

// --- measurement ---------------------------------------------------------------------------------

double seconds_of(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Measurement {
    double p50_us = 0;
    double p99_us = 0;
    double ops_per_s = 0; // successful operations per second of wall time
    double samples = 0;   // timed operations
    double conflicts = 0;
    double background_ops_per_s = 0; // the writers' throughput in the under-load benchmarks
};

double percentile_us(std::vector<double> seconds, double q) {
    if (seconds.empty()) {
        return 0;
    }
    std::sort(seconds.begin(), seconds.end());
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(seconds.size())));
    return seconds[std::clamp<std::size_t>(rank, 1, seconds.size()) - 1] * 1e6;
}

// The measurement goes out as counters; CollectingReporter picks up those of the reported runs (Google
// Benchmark calls a function several times while it sizes the iteration count, and reports the last).
void publish(benchmark::State& state, const std::vector<double>& latencies, double wall, std::uint64_t ok,
             std::uint64_t conflicts, bool several_clients, double background_ops_per_s = 0) {
    state.counters["p50_us"] = percentile_us(latencies, 0.50);
    state.counters["p99_us"] = percentile_us(latencies, 0.99);
    state.counters["ops_per_s"] = wall > 0 ? static_cast<double>(ok) / wall : 0;
    state.counters["samples"] = static_cast<double>(latencies.size());
    if (several_clients) {
        state.counters["conflicts"] = static_cast<double>(conflicts);
        state.counters["conflict_rate"] =
            latencies.empty() ? 0.0 : static_cast<double>(conflicts) / static_cast<double>(latencies.size());
    }
    if (background_ops_per_s > 0) {
        state.counters["writer_ops_per_s"] = background_ops_per_s;
    }
}

// Forwards to the console and keeps each reported repetition's counters, by benchmark name.
class CollectingReporter : public benchmark::ConsoleReporter {
public:
    CollectingReporter() : benchmark::ConsoleReporter(benchmark::ConsoleReporter::OO_None) {}

    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& run : runs) {
            if (run.run_type != Run::RT_Iteration || run.error_occurred) {
                continue;
            }
            auto counter = [&run](const char* name) {
                const auto it = run.counters.find(name);
                return it == run.counters.end() ? 0.0 : it->second.value;
            };
            Measurement m;
            m.p50_us = counter("p50_us");
            m.p99_us = counter("p99_us");
            m.ops_per_s = counter("ops_per_s");
            m.samples = counter("samples");
            m.conflicts = counter("conflicts");
            m.background_ops_per_s = counter("writer_ops_per_s");
            m_runs[run.run_name.function_name].push_back(m);
        }
        benchmark::ConsoleReporter::ReportRuns(runs);
    }

    // Per benchmark, the median of each figure over the repetitions (one repetition: its figures).
    [[nodiscard]] std::map<std::string, Measurement> medians() const {
        std::map<std::string, Measurement> out;
        for (const auto& entry : m_runs) {
            const std::vector<Measurement>& runs = entry.second; // clang 14 cannot capture a structured binding
            auto median = [&runs](double Measurement::*field) {
                std::vector<double> v;
                for (const Measurement& m : runs) {
                    v.push_back(m.*field);
                }
                std::sort(v.begin(), v.end());
                const std::size_t n = v.size();
                return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
            };
            Measurement m;
            m.p50_us = median(&Measurement::p50_us);
            m.p99_us = median(&Measurement::p99_us);
            m.ops_per_s = median(&Measurement::ops_per_s);
            m.samples = median(&Measurement::samples);
            m.conflicts = median(&Measurement::conflicts);
            m.background_ops_per_s = median(&Measurement::background_ops_per_s);
            out[entry.first] = m;
        }
        return out;
    }

    [[nodiscard]] std::size_t repetitions() const {
        std::size_t n = 0;
        for (const auto& entry : m_runs) {
            n = std::max(n, entry.second.size());
        }
        return n;
    }

private:
    std::map<std::string, std::vector<Measurement>> m_runs;
};

std::map<std::string, Measurement> g_results; // the medians, after the run
std::size_t g_repetitions = 0;

// One client, Google Benchmark's loop: `prepare` (untimed) makes the input of one operation, `op` is timed.
template <typename Prepare, typename Op>
void single_client(benchmark::State& state, Prepare prepare, Op op) {
    std::vector<double> latencies;
    latencies.reserve(static_cast<std::size_t>(state.max_iterations));
    try {
        for (auto _ : state) {
            auto input = prepare();
            const auto start = Clock::now();
            op(input);
            const double s = seconds_of(Clock::now() - start);
            state.SetIterationTime(s);
            latencies.push_back(s);
        }
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return;
    }
    double total = 0;
    for (double s : latencies) {
        total += s;
    }
    publish(state, latencies, total, latencies.size(), 0, false);
}

struct Outcome {
    bool conflict = false;
};
using Operation = std::function<Outcome()>;
// Makes client i's operation, on client i's own thread (connections, prepared statements).
using OperationFactory = std::function<Operation(int)>;

// Runs `clients` threads for `seconds`, each repeating its operation; every operation timed.
class ClientGroup {
public:
    ClientGroup(int clients, const OperationFactory& make) : m_ready(clients), m_latencies(clients) {
        m_counts.resize(static_cast<std::size_t>(clients));
        for (int i = 0; i < clients; ++i) {
            m_threads.emplace_back([this, i, &make] { run(i, make); });
        }
        m_ready.wait();
    }
    ~ClientGroup() {
        m_stop = true;
        m_go.count_down(m_go_pending.exchange(0));
        for (std::thread& t : m_threads) {
            if (t.joinable()) {
                t.join();
            }
        }
    }
    ClientGroup(const ClientGroup&) = delete;
    ClientGroup& operator=(const ClientGroup&) = delete;

    void start() {
        m_start = Clock::now();
        m_go.count_down(m_go_pending.exchange(0));
    }

    // Stops, joins and rethrows the first client error. Returns the wall time since start().
    double stop() {
        m_stop = true;
        for (std::thread& t : m_threads) {
            t.join();
        }
        const double wall = seconds_of(Clock::now() - m_start);
        if (m_error) {
            std::rethrow_exception(m_error);
        }
        return wall;
    }

    [[nodiscard]] std::vector<double> latencies() const {
        std::vector<double> all;
        for (const auto& l : m_latencies) {
            all.insert(all.end(), l.begin(), l.end());
        }
        return all;
    }
    [[nodiscard]] std::uint64_t ok() const {
        std::uint64_t n = 0;
        for (const auto& c : m_counts) {
            n += c.ok;
        }
        return n;
    }
    [[nodiscard]] std::uint64_t conflicts() const {
        std::uint64_t n = 0;
        for (const auto& c : m_counts) {
            n += c.conflicts;
        }
        return n;
    }

private:
    struct Counts {
        std::uint64_t ok = 0;
        std::uint64_t conflicts = 0;
    };

    void fail(std::exception_ptr e) {
        const std::lock_guard<std::mutex> lock(m_mutex);
        if (!m_error) {
            m_error = std::move(e);
        }
        m_stop = true;
    }

    void run(int i, const OperationFactory& make) {
        const auto index = static_cast<std::size_t>(i);
        Operation op;
        try {
            op = make(i);
        } catch (...) {
            fail(std::current_exception());
        }
        m_ready.count_down();
        m_go.wait();
        if (!op) {
            return;
        }
        auto& latencies = m_latencies[index];
        auto& counts = m_counts[index];
        latencies.reserve(100'000);
        try {
            while (!m_stop.load(std::memory_order_relaxed)) {
                const auto begin = Clock::now();
                const Outcome outcome = op();
                latencies.push_back(seconds_of(Clock::now() - begin));
                if (outcome.conflict) {
                    ++counts.conflicts;
                } else {
                    ++counts.ok;
                }
            }
        } catch (...) {
            fail(std::current_exception());
        }
    }

    std::latch m_ready;
    std::latch m_go{1};
    std::atomic<std::ptrdiff_t> m_go_pending{1};
    std::atomic<bool> m_stop{false};
    std::vector<std::vector<double>> m_latencies;
    std::vector<Counts> m_counts;
    std::vector<std::thread> m_threads;
    std::mutex m_mutex;
    std::exception_ptr m_error;
    Clock::time_point m_start;
};

void sleep_for_seconds(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

// `clients` threads for --duration seconds; throughput, latency and conflicts of all of them.
void multi_client(benchmark::State& state, int clients, const OperationFactory& make) {
    try {
        for (auto _ : state) {
            ClientGroup group(clients, make);
            group.start();
            sleep_for_seconds(g_config.duration);
            const double wall = group.stop();
            state.SetIterationTime(wall);
            publish(state, group.latencies(), wall, group.ok(), group.conflicts(), true);
        }
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    }
}

// One timed reader for --duration seconds while `writers` threads run their operation continuously.
template <typename Read>
void read_under_load(benchmark::State& state, int writers, const OperationFactory& make, Read read) {
    try {
        for (auto _ : state) {
            ClientGroup background(writers, make);
            background.start();
            sleep_for_seconds(0.2); // let the writers get going
            std::vector<double> latencies;
            const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(g_config.duration));
            double total = 0;
            while (Clock::now() < until) {
                const auto begin = Clock::now();
                read();
                const double s = seconds_of(Clock::now() - begin);
                latencies.push_back(s);
                total += s;
            }
            const double writer_wall = background.stop();
            state.SetIterationTime(total);
            publish(state, latencies, total, latencies.size(), 0, false,
                    static_cast<double>(background.ok()) / writer_wall);
        }
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    }
}

// --- the benchmarks ------------------------------------------------------------------------------

void check_book(std::size_t events, const std::string& book) {
    if (events != 4) {
        throw std::runtime_error("book " + book + " returned " + std::to_string(events) + " events, expected 4");
    }
}

void lib_query_random_book() {
    const std::string& book = random_book();
    const auto result = g_store->query(book_filter(book));
    check_book(result.events.size(), book);
}

void go_query_random_book(PgSession& c) {
    const std::string& book = random_book();
    check_book(static_cast<std::size_t>(c.exec(go_query_sql(book)).rows()), book);
}

// --- floors
void bm_floor_select_1(benchmark::State& state) {
    PgSession c(g_config.dsn);
    c.prepare("select_1", "SELECT 1", {});
    single_client(
        state, [] { return 0; }, [&c](int) { (void)c.exec_prepared("select_1", {}); });
}

void bm_floor_insert(benchmark::State& state) {
    PgSession c(g_config.dsn);
    prepare_plain_insert(c);
    single_client(state, plain_insert_params,
                  [&c](const std::vector<std::string>& params) { plain_insert(c, params); });
}

void bm_floor_insert_5(benchmark::State& state) {
    PgSession c(g_config.dsn);
    prepare_plain_insert_5(c);
    single_client(state, plain_insert_5_params, [&c](const std::vector<std::string>& params) {
        if (c.exec_prepared("plain_insert_5", params).affected() != rows_in_multi_insert) {
            throw std::runtime_error("plain INSERT did not insert five rows");
        }
    });
}

Operation plain_insert_operation(int) {
    auto c = std::make_shared<PgSession>(g_config.dsn);
    prepare_plain_insert(*c);
    return [c] {
        plain_insert(*c, plain_insert_params());
        return Outcome{};
    };
}

void bm_floor_insert_clients(benchmark::State& state) { multi_client(state, g_config.clients, plain_insert_operation); }

// How much two busy writers alone stretch the slowest round trips on this machine.
void bm_floor_select_1_under_load(benchmark::State& state) {
    PgSession c(g_config.dsn);
    c.prepare("select_1", "SELECT 1", {});
    read_under_load(state, 2, plain_insert_operation, [&c] { (void)c.exec_prepared("select_1", {}); });
}

// --- the Go library's SQL
void bm_go_query(benchmark::State& state) {
    PgSession c(g_config.dsn);
    single_client(
        state,
        [] {
            const std::string& book = random_book();
            return std::make_pair(book, go_query_sql(book));
        },
        [&c](const std::pair<std::string, std::string>& q) {
            check_book(static_cast<std::size_t>(c.exec(q.second).rows()), q.first);
        });
}

void bm_go_append(benchmark::State& state, std::size_t events) {
    PgSession c(g_config.dsn);
    single_client(
        state,
        [events] {
            const std::string book = new_id();
            return go_append_sql(book, added_events(book, events));
        },
        [&c, events](const std::string& sql) { go_append(c, sql, events); });
}

Operation go_append_operation(int) {
    auto c = std::make_shared<PgSession>(g_config.dsn);
    return [c] {
        const std::string book = new_id();
        go_append(*c, go_append_sql(book, added_events(book, 1)), 1);
        return Outcome{};
    };
}

void bm_go_append_clients(benchmark::State& state) { multi_client(state, g_config.clients, go_append_operation); }

void bm_go_query_under_load(benchmark::State& state) {
    PgSession c(g_config.dsn);
    read_under_load(state, 2, go_append_operation, [&c] { go_query_random_book(c); });
}

// --- this library
void bm_lib_query(benchmark::State& state) {
    single_client(
        state,
        [] {
            const std::string& book = random_book();
            return std::make_pair(book, book_filter(book));
        },
        [](const std::pair<std::string, Filter>& q) { check_book(g_store->query(q.second).events.size(), q.first); });
}

struct AppendInput {
    Filter filter;
    std::vector<StorableEvent> events;
};

// Like the Go benchmark: a fresh book per append, so the boundary is empty and the expected maximum 0.
AppendInput fresh_append(std::size_t events) {
    const std::string book = new_id();
    return AppendInput{book_filter(book), added_events(book, events)};
}

void bm_lib_append(benchmark::State& state, std::size_t events) {
    single_client(
        state, [events] { return fresh_append(events); },
        [](const AppendInput& in) { g_store->append(in.filter, 0, std::span<const StorableEvent>(in.events)); });
}

Operation lib_disjoint_append_operation(int) {
    return [] {
        const AppendInput in = fresh_append(1);
        try {
            g_store->append(in.filter, 0, std::span<const StorableEvent>(in.events));
        } catch (const eventstore::ConcurrencyConflict&) {
            return Outcome{true};
        }
        return Outcome{};
    };
}

void bm_lib_append_clients_disjoint(benchmark::State& state) {
    multi_client(state, g_config.clients, lib_disjoint_append_operation);
}

// All clients decide on the same book: query the boundary (from the last position this client has
// seen, as a client holding a snapshot would), then append a lending with the maximum it read. A
// conflict is an expected outcome: the next cycle reads the newer events and tries again.
void bm_lib_append_clients_one_boundary(benchmark::State& state) {
    const std::string book = new_id();
    multi_client(state, g_config.clients, [&book](int) -> Operation {
        auto seen = std::make_shared<SequenceNumber>(0);
        return [&book, seen] {
            const Filter filter = book_filter(book, *seen);
            const auto result = g_store->query(filter);
            const std::vector<StorableEvent> events{lent_event(book)};
            Outcome outcome;
            try {
                g_store->append(filter, result.max_sequence_number, std::span<const StorableEvent>(events));
            } catch (const eventstore::ConcurrencyConflict&) {
                outcome.conflict = true;
            }
            *seen = std::max(*seen, result.max_sequence_number);
            return outcome;
        };
    });
}

void bm_lib_query_under_load(benchmark::State& state) {
    read_under_load(state, 2, lib_disjoint_append_operation, lib_query_random_book);
}

// After every benchmark run (untimed): deletes the events it added, so that each measure sees the
// store at its nominal size (one run adds several hundred thousand events otherwise).
void trim_store(benchmark::State& state);

// Each benchmark function, then trim_store.
template <typename Fn>
auto trimmed(Fn fn) {
    return [fn](benchmark::State& state) {
        fn(state);
        trim_store(state);
    };
}

void register_benchmarks() {
    auto single = [](const char* name, auto fn) {
        benchmark::RegisterBenchmark(name, trimmed(fn))
            ->UseManualTime()
            ->MinTime(g_config.min_time)
            ->Unit(benchmark::kMicrosecond);
    };
    auto timed_run = [](const char* name, auto fn) {
        benchmark::RegisterBenchmark(name, trimmed(fn))->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
    };
    single("floor/select_1", bm_floor_select_1);
    single("floor/insert", bm_floor_insert);
    single("floor/insert_5", bm_floor_insert_5);
    timed_run("floor/select_1_while_2_writers", bm_floor_select_1_under_load);
    timed_run("floor/insert_8_clients", bm_floor_insert_clients);
    single("go/query_book", bm_go_query);
    timed_run("go/query_book_while_2_writers", bm_go_query_under_load);
    single("go/append_1", [](benchmark::State& s) { bm_go_append(s, 1); });
    single("go/append_5", [](benchmark::State& s) { bm_go_append(s, 5); });
    timed_run("go/append_8_clients", bm_go_append_clients);
    single("lib/query_book", bm_lib_query);
    timed_run("lib/query_book_while_2_writers", bm_lib_query_under_load);
    single("lib/append_1", [](benchmark::State& s) { bm_lib_append(s, 1); });
    single("lib/append_5", [](benchmark::State& s) { bm_lib_append(s, 5); });
    timed_run("lib/append_8_clients_disjoint", bm_lib_append_clients_disjoint);
    timed_run("lib/append_8_clients_one_boundary", bm_lib_append_clients_one_boundary);
}

// --- the fixture: size, cleanup, sample --------------------------------------------------------------

struct Fixture {
    std::uint64_t events = 0;
    std::uint64_t last_sequence = 0;
    bool recorded = false; // bench_fixture knows it (scripts/bench.sh writes it after generating)
};

Fixture read_fixture(PgSession& c) {
    Fixture f;
    if (!c.exec("SELECT to_regclass('bench_fixture')").is_null(0, 0)) {
        PgResult r =
            c.exec("SELECT events, last_sequence FROM bench_fixture WHERE table_name = " + sql_quote(g_config.table));
        if (r.rows() == 1) {
            f.events = std::stoull(r.value(0, 0));
            f.last_sequence = std::stoull(r.value(0, 1));
            f.recorded = true;
            return f;
        }
    }
    PgResult r = c.exec("SELECT count(*), coalesce(max(sequence_number), 0) FROM " + quoted_table());
    f.events = std::stoull(r.value(0, 0));
    f.last_sequence = std::stoull(r.value(0, 1));
    return f;
}

// Deletes every event after the fixture's last one (this run's, or a crashed run's), then vacuums.
void restore_fixture(PgSession& c, const Fixture& f, const char* when) {
    const auto start = Clock::now();
    const std::uint64_t deleted =
        c.exec("DELETE FROM " + quoted_table() + " WHERE sequence_number > " + std::to_string(f.last_sequence))
            .affected();
    if (deleted > 0) {
        (void)c.exec("VACUUM (ANALYZE) " + quoted_table());
        std::printf("eventstore_bench: %s: deleted %llu benchmark events, VACUUM ANALYZE, %.1f s\n", when,
                    static_cast<unsigned long long>(deleted), seconds_of(Clock::now() - start));
    }
}

// Housekeeping between benchmarks, on the main thread's own connection.
std::unique_ptr<PgSession> g_admin;
Fixture g_fixture;
constexpr std::uint64_t vacuum_every = 100'000; // deleted events between two VACUUMs
std::uint64_t g_deleted_since_vacuum = 0;
std::uint64_t g_trimmed = 0;
int g_vacuums = 0;

void trim_store(benchmark::State& state) {
    try {
        const std::uint64_t deleted = g_admin
                                          ->exec("DELETE FROM " + quoted_table() + " WHERE sequence_number > " +
                                                 std::to_string(g_fixture.last_sequence))
                                          .affected();
        g_trimmed += deleted;
        g_deleted_since_vacuum += deleted;
        if (g_deleted_since_vacuum >= vacuum_every) {
            (void)g_admin->exec("VACUUM " + quoted_table());
            g_deleted_since_vacuum = 0;
            ++g_vacuums;
        }
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    }
}

std::vector<std::string> sample_books(PgSession& c, std::size_t n) {
    // Deterministic for a given fixture: the same books every run.
    (void)c.exec("SELECT setseed(0.25)");
    PgResult r =
        c.exec("SELECT payload->>'BookID' FROM " + quoted_table() +
               " WHERE event_type = 'BookCopyAddedToCirculation' ORDER BY random() LIMIT " + std::to_string(n));
    std::vector<std::string> books;
    books.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
        books.push_back(r.value(i, 0));
    }
    return books;
}

// --- the comparison table -----------------------------------------------------------------------

enum class Metric { p50, p99, ops };
enum class Goal { none, at_most, at_least };

struct Line {
    const char* label;
    const char* key;
    Metric metric;
    const char* floor_key; // nullptr: a floor itself
    Metric floor_metric;
    Goal goal = Goal::none;
    double goal_ratio = 0;
    bool zero_conflicts = false;
};

const std::vector<Line>& lines() {
    static const std::vector<Line> all{
        {"floor: prepared SELECT 1", "floor/select_1", Metric::p50, nullptr, Metric::p50},
        {"floor: prepared INSERT, 1 client", "floor/insert", Metric::p50, nullptr, Metric::p50},
        {"floor: prepared INSERT, 8 clients", "floor/insert_8_clients", Metric::ops, nullptr, Metric::ops},
        {"floor: prepared INSERT, 5 rows", "floor/insert_5", Metric::p50, "floor/insert", Metric::p50},
        {"floor: SELECT 1 while 2 writers INSERT", "floor/select_1_while_2_writers", Metric::p99, "floor/select_1",
         Metric::p50},
        {"Go SQL: query, 4-event book", "go/query_book", Metric::p50, "floor/select_1", Metric::p50},
        {"Go SQL: query while 2 writers append", "go/query_book_while_2_writers", Metric::p99, "go/query_book",
         Metric::p50},
        {"Go SQL: CTE append, 1 event", "go/append_1", Metric::p50, "floor/insert", Metric::p50},
        {"Go SQL: CTE append, 5 events", "go/append_5", Metric::p50, "go/append_1", Metric::p50},
        {"Go SQL: CTE append, 8 clients disjoint", "go/append_8_clients", Metric::ops, "floor/insert_8_clients",
         Metric::ops},
        {"lib: query, 4-event book", "lib/query_book", Metric::p50, "floor/select_1", Metric::p50, Goal::at_most, 2.5},
        {"lib: query while 2 writers append", "lib/query_book_while_2_writers", Metric::p99, "lib/query_book",
         Metric::p50, Goal::at_most, 3.0},
        {"lib: append, 1 event", "lib/append_1", Metric::p50, "floor/insert", Metric::p50, Goal::at_most, 1.6},
        {"lib: append, 5 events", "lib/append_5", Metric::p50, "lib/append_1", Metric::p50, Goal::at_most, 1.3},
        {"lib: append, 8 clients disjoint", "lib/append_8_clients_disjoint", Metric::ops, "floor/insert_8_clients",
         Metric::ops, Goal::at_least, 0.5, true},
        {"lib: query+append, 8 clients, 1 boundary", "lib/append_8_clients_one_boundary", Metric::ops,
         "floor/insert_8_clients", Metric::ops},
    };
    return all;
}

double metric_of(const Measurement& m, Metric metric) {
    switch (metric) {
    case Metric::p50:
        return m.p50_us;
    case Metric::p99:
        return m.p99_us;
    case Metric::ops:
        return m.ops_per_s;
    }
    return 0;
}

const char* metric_name(Metric metric) {
    switch (metric) {
    case Metric::p50:
        return "p50";
    case Metric::p99:
        return "p99";
    case Metric::ops:
        return "ops/s";
    }
    return "";
}

std::string fixed(double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

struct Row {
    const Line* line = nullptr;
    const Measurement* m = nullptr;
    double floor_value = 0;
    double ratio = 0;
    std::string goal;    // "<= 2.5x", ">= 0.5x, 0 conflicts", ""
    std::string verdict; // "met", "NOT MET", "-" (no goal), "n/a" (not measured)
};

std::vector<Row> comparison_rows() {
    std::vector<Row> rows;
    for (const Line& line : lines()) {
        const auto it = g_results.find(line.key);
        if (it == g_results.end()) {
            continue;
        }
        Row row;
        row.line = &line;
        row.m = &it->second;
        const double value = metric_of(it->second, line.metric);
        const Measurement* floor = nullptr;
        if (line.floor_key != nullptr) {
            if (const auto f = g_results.find(line.floor_key); f != g_results.end()) {
                floor = &f->second;
                row.floor_value = metric_of(*floor, line.floor_metric);
                row.ratio = row.floor_value > 0 ? value / row.floor_value : 0;
            }
        }
        if (line.goal == Goal::none) {
            row.verdict = "-";
        } else {
            row.goal = std::string(line.goal == Goal::at_most ? "<= " : ">= ") + fixed(line.goal_ratio, 1) + "x";
            if (line.zero_conflicts) {
                row.goal += " with 0 conflicts";
            }
            if (floor == nullptr) {
                row.verdict = "n/a";
            } else {
                bool met = line.goal == Goal::at_most ? row.ratio <= line.goal_ratio : row.ratio >= line.goal_ratio;
                if (line.zero_conflicts && it->second.conflicts > 0) {
                    met = false;
                }
                row.verdict = met ? "met" : "NOT MET";
            }
        }
        rows.push_back(row);
    }
    return rows;
}

// What a line is compared to, in a few words.
std::string floor_description(const Line& l) {
    static const std::map<std::string, std::string> names{
        {"floor/select_1", "SELECT 1"},
        {"floor/insert", "INSERT"},
        {"floor/insert_8_clients", "INSERT, 8 clients"},
        {"go/query_book", "Go query, idle"},
        {"go/append_1", "Go 1-event append"},
        {"lib/query_book", "query, idle"},
        {"lib/append_1", "1-event append"},
    };
    if (l.floor_key == nullptr) {
        return "-";
    }
    const auto it = names.find(l.floor_key);
    return std::string(metric_name(l.metric)) + " / " + (it != names.end() ? it->second : l.floor_key) + " " +
           metric_name(l.floor_metric);
}

std::string conflicts_text(const Line& l, const Measurement& m) {
    if (std::string_view(l.key).find("clients") == std::string_view::npos) {
        return "-";
    }
    std::string text = fixed(m.conflicts, 0);
    if (m.conflicts > 0 && m.samples > 0) {
        text += " (" + fixed(100.0 * m.conflicts / m.samples, 0) + "%)";
    }
    return text;
}

void print_table(const std::vector<Row>& rows) {
    std::printf("\nComparison: store of %llu events (table %s), one database, medians of %zu repetition(s)\n",
                static_cast<unsigned long long>(g_config.size), g_config.table.c_str(), g_repetitions);
    std::printf("%-41s %8s %8s %8s %11s  %-36s %7s  %-24s %s\n", "measure", "p50 us", "p99 us", "ops/s", "conflicts",
                "ratio of", "ratio", "goal", "verdict");
    for (const Row& r : rows) {
        const Line& l = *r.line;
        const std::string ratio = l.floor_key != nullptr ? fixed(r.ratio, 2) + "x" : "1";
        std::printf("%-41s %8s %8s %8s %11s  %-36s %7s  %-24s %s\n", l.label, fixed(r.m->p50_us, 0).c_str(),
                    fixed(r.m->p99_us, 0).c_str(), fixed(r.m->ops_per_s, 0).c_str(), conflicts_text(l, *r.m).c_str(),
                    floor_description(l).c_str(), ratio.c_str(), r.goal.empty() ? "-" : r.goal.c_str(),
                    r.verdict.c_str());
    }
    for (const Row& r : rows) {
        if (r.m->background_ops_per_s > 0) {
            std::printf("  %s: the 2 writers appended %.0f events/s meanwhile\n", r.line->key,
                        r.m->background_ops_per_s);
        }
    }
}

// One line per measure; the label, the only field that may hold a comma, is last and quoted.
void write_csv(const std::vector<Row>& rows) {
    std::ofstream out(g_config.csv);
    if (!out) {
        throw std::runtime_error("cannot write " + g_config.csv);
    }
    out << "size,key,p50_us,p99_us,ops_per_s,samples,conflicts,writer_ops_per_s,compared,floor_key,floor_value,ratio,"
           "goal,verdict,label\n";
    for (const Row& r : rows) {
        const Line& l = *r.line;
        const bool has_floor = l.floor_key != nullptr;
        out << g_config.size << ',' << l.key << ',' << fixed(r.m->p50_us, 1) << ',' << fixed(r.m->p99_us, 1) << ','
            << fixed(r.m->ops_per_s, 1) << ',' << fixed(r.m->samples, 0) << ',' << fixed(r.m->conflicts, 0) << ','
            << fixed(r.m->background_ops_per_s, 1) << ',' << metric_name(l.metric) << ','
            << (has_floor ? l.floor_key : "") << ',' << (has_floor ? fixed(r.floor_value, 1) : "") << ','
            << (has_floor ? fixed(r.ratio, 3) : "") << ',' << r.goal << ',' << r.verdict << ",\"" << l.label << "\"\n";
    }
}

} // namespace

int main(int argc, char** argv) {
    char** args = parse_options(argc, argv);
    benchmark::Initialize(&argc, args);
    if (benchmark::ReportUnrecognizedArguments(argc, args)) {
        return 2;
    }
    try {
        g_admin = std::make_unique<PgSession>(g_config.dsn);
        PgSession& admin = *g_admin;
        const std::string version = admin.exec("SHOW server_version").value(0, 0);
        const std::string fsync = admin.exec("SHOW fsync").value(0, 0);
        const std::string sync_commit = admin.exec("SHOW synchronous_commit").value(0, 0);
        g_fixture = read_fixture(admin);
        const Fixture& fixture = g_fixture;
        if (g_config.size == 0) {
            g_config.size = fixture.events;
        }
        std::printf("eventstore_bench: PostgreSQL %s (fsync %s, synchronous_commit %s), table %s: %llu events%s\n",
                    version.c_str(), fsync.c_str(), sync_commit.c_str(), g_config.table.c_str(),
                    static_cast<unsigned long long>(fixture.events),
                    fixture.recorded ? " (bench_fixture)" : " (counted; no bench_fixture row)");
        restore_fixture(admin, fixture, "before the run");

        pg::PoolOptions pool_options;
        pool_options.max_connections = static_cast<std::size_t>(g_config.clients) + 4;
        g_pool = pg::ConnectionPool::create(g_config.dsn, pool_options);
        g_store = pg::new_event_store_from_pool(g_pool, pg::with_table_name(g_config.table));
        g_store->migrate();

        g_books = sample_books(admin, g_config.books);
        if (g_books.empty()) {
            throw std::runtime_error("the table holds no BookCopyAddedToCirculation event: not a fixture");
        }
        // Warm-up, untimed: every sampled book once through each read path.
        const auto warm_start = Clock::now();
        {
            PgSession c(g_config.dsn);
            for (const std::string& book : g_books) {
                check_book(g_store->query(book_filter(book)).events.size(), book);
                check_book(static_cast<std::size_t>(c.exec(go_query_sql(book)).rows()), book);
            }
        }
        std::printf("eventstore_bench: %zu books sampled, warm-up %.1f s\n", g_books.size(),
                    seconds_of(Clock::now() - warm_start));
        std::fflush(stdout);

        register_benchmarks();
        CollectingReporter reporter; // plain console output (no colours: it goes to log files)
        benchmark::RunSpecifiedBenchmarks(&reporter);
        benchmark::Shutdown();
        g_results = reporter.medians();
        g_repetitions = reporter.repetitions();

        g_store.reset();
        g_pool.reset();
        std::printf("eventstore_bench: %llu benchmark events deleted between benchmarks (%d VACUUMs)\n",
                    static_cast<unsigned long long>(g_trimmed), g_vacuums);
        restore_fixture(admin, fixture, "after the run");

        const std::vector<Row> rows = comparison_rows();
        print_table(rows);
        if (!g_config.csv.empty()) {
            write_csv(rows);
            std::printf("eventstore_bench: wrote %s\n", g_config.csv.c_str());
        }
    } catch (const std::exception& e) {
        std::cerr << "eventstore_bench: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
