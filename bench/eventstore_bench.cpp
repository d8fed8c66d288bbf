// The benchmark of docs/performance.md: each operation of the library against the floor it is judged by,
// on one database (a fixture made by tools/generate_fixture), the two measured in alternating blocks.
//
//   eventstore_bench --dsn "host=... dbname=fixture_2500000" [--table events] [--csv out.csv] [--size N]
//                    [--rounds 40] [--block-ops 250] [--block-seconds 0.5] [--clients 8] [--books 10000]
//                    [--benchmark_* flags, e.g. --benchmark_filter='append' --benchmark_repetitions=2]
//
// Why alternating blocks: on a virtual machine whose idle vCPUs halt, a prepared SELECT 1 takes about
// 6 µs while both vCPUs stay awake and 70-80 µs when they sleep between calls, and which of the two a
// minute gets depends on everything else the machine runs. A ratio of two measures taken minutes apart
// swung from 1.5x to 20x for that reason alone. So every comparison runs its measure and its floor in
// turn, one block of each per round, the order swapped every round (AB BA AB ...) so that neither side
// always runs second; the ratio is taken per round, between two adjacent blocks that saw the same
// machine, and the comparison reports the median of those ratios (and the medians of each side's
// blocks). Round 0 warms both sides up and is discarded.
//
// Single-client blocks are --block-ops operations, each timed on its own, its setup untimed (fresh IDs,
// events, filters, a random book of the sample); multi-client and under-load blocks last
// --block-seconds. Each comparison is one Google Benchmark run (so --benchmark_filter picks some); more
// repetitions add more rounds to the same medians.
//
// The rows the run adds (every append and INSERT) are deleted after each comparison, and before the run
// if an earlier run died, so that every measure sees the store at its nominal size and the cached
// fixture does not drift: everything after the fixture's last sequence number (table bench_fixture,
// written by scripts/bench.sh) goes.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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
#include <stop_token>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <libpq-fe.h>
#include <pqxx/connection>
#include <soci/connection-pool.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/session.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <eventstore/eventstore.hpp>
#include <eventstore/postgres.hpp>
#include <eventstore/postgres/pqxx.hpp>
#include <eventstore/postgres/soci.hpp>
#include <eventstore/prometheus.hpp>
#include <eventstore/spdlog.hpp>

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
    std::uint64_t size = 0;     // store size label; 0: counted at start
    int rounds = 40;            // rounds per comparison, after the warm-up round
    int block_ops = 250;        // operations per single-client block
    double block_seconds = 0.5; // length of a multi-client or under-load block
    int clients = 8;            // the multi-client comparisons
    std::size_t books = 10000;  // existing books sampled for the reads
    std::string pgbouncer_dsn;  // the same database through PgBouncer in transaction mode ("": none)
};

Config g_config;

[[noreturn]] void usage(const std::string& problem) {
    if (!problem.empty()) {
        std::cerr << "eventstore_bench: " << problem << "\n";
    }
    std::cerr << "usage: eventstore_bench [--dsn CONNINFO] [--table NAME] [--csv PATH] [--size N] [--rounds N]\n"
                 "                        [--block-ops N] [--block-seconds S] [--clients N] [--books N]\n"
                 "                        [--pgbouncer-dsn CONNINFO]\n"
                 "                        [--benchmark_* flags]\n";
    std::exit(2);
}

// Takes our own flags (--name value or --name=value) out of argv; returns the rest for Google Benchmark.
char** parse_options(int& argc, char** argv) {
    std::vector<char*> rest{argv[0]};
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
            } else if (arg == "--rounds") {
                g_config.rounds = std::stoi(take());
            } else if (arg == "--block-ops") {
                g_config.block_ops = std::stoi(take());
            } else if (arg == "--block-seconds") {
                g_config.block_seconds = std::stod(take());
            } else if (arg == "--clients") {
                g_config.clients = std::stoi(take());
            } else if (arg == "--pgbouncer-dsn") {
                g_config.pgbouncer_dsn = take();
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
    if (g_config.rounds < 1 || g_config.block_ops < 1 || g_config.block_seconds <= 0 || g_config.clients < 1 ||
        g_config.books == 0) {
        usage("--rounds, --block-ops, --block-seconds, --clients and --books must be positive");
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

// The fixture's book payloads, as the Go serialiser writes them (struct field order, compact), so that
// appended rows cost what the fixture's rows cost.
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
    return StorableEvent{added_type, time_point(now), added_payload(book_id, now), new_metadata(), 0, {}, {}};
}

StorableEvent lent_event(const std::string& book_id) {
    const std::int64_t now = now_unix_us();
    return StorableEvent{lent_type, time_point(now), lent_payload(book_id, new_id(), now), new_metadata(), 0, {}, {}};
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

std::string quoted_table() { return devsupport::quote_table(g_config.table); }

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

// The same, five rows in one statement: what five rows cost PostgreSQL beyond one.
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

void plain_insert_5(PgSession& c, const std::vector<std::string>& params) {
    if (c.exec_prepared("plain_insert_5", params).affected() != rows_in_multi_insert) {
        throw std::runtime_error("plain INSERT did not insert five rows");
    }
}

// A JSON string literal; the book IDs are UUIDs, but a document built by hand should not rely on it.
std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// The read floor: the query a developer would write by hand for the same boundary, returning the same
// rows and columns through the same indexes (the payload's GIN index finds the book's rows, the four
// types filter them), sent with PQexecParams (PgSession::exec with parameters): the unnamed statement,
// parsed and planned again on every call with the actual values, as an unprepared query is, yet with
// every value a parameter, in one round trip.
class UnpreparedReader {
public:
    explicit UnpreparedReader(const std::string& dsn) : m_session(dsn) {
        // The library's sessions run with these two settings; without them a large store's plan could
        // pay for JIT compilation or parallel workers, and the floor would be slow for a reason no
        // hand-written read needs to have.
        (void)m_session.exec("SET jit = off");
        (void)m_session.exec("SET max_parallel_workers_per_gather = 0");
        // An array literal; the type names need no quoting in it.
        m_types = "{";
        for (const std::string& t : book_types()) {
            m_types += (m_types.size() > 1 ? "," : "") + t;
        }
        m_types += "}";
        m_sql = "SELECT event_type, occurred_at, payload, metadata, sequence_number FROM " + quoted_table() +
                " WHERE event_type = ANY($1::text[]) AND payload @> $2::jsonb ORDER BY sequence_number";
    }

    // The parameters for one book: made before the timed call, like the library's filter.
    [[nodiscard]] std::vector<devsupport::PgValue> params(const std::string& book_id) const {
        return {m_types, "{\"BookID\":" + json_string(book_id) + "}"};
    }

    // The rows of one book's boundary.
    std::size_t read(const std::vector<devsupport::PgValue>& params) {
        return static_cast<std::size_t>(m_session.exec(m_sql, params).rows());
    }

private:
    PgSession m_session;
    std::string m_types;
    std::string m_sql;
};

// The read floors of the DCB model: the same rows found by the book's tag ("book:<BookID>", which the
// fixture's book events carry) through the tags' GIN index, all of them or only the newest (a
// backwards read of limit 1), written and sent as UnpreparedReader's.
class UnpreparedTagReader {
public:
    UnpreparedTagReader(const std::string& dsn, bool newest_only) : m_session(dsn) {
        (void)m_session.exec("SET jit = off");
        (void)m_session.exec("SET max_parallel_workers_per_gather = 0");
        m_sql = "SELECT event_type, occurred_at, payload, metadata, sequence_number, tags FROM " + quoted_table() +
                " WHERE tags @> $1::text[] ORDER BY sequence_number" + (newest_only ? " DESC LIMIT 1" : "");
    }

    [[nodiscard]] static std::vector<devsupport::PgValue> params(const std::string& book_id) {
        // An array literal with the tag quoted: a book ID is a UUID, but the literal should not rely on it.
        return {"{" + json_string("book:" + book_id) + "}"};
    }

    std::size_t read(const std::vector<devsupport::PgValue>& params) {
        return static_cast<std::size_t>(m_session.exec(m_sql, params).rows());
    }

private:
    PgSession m_session;
    std::string m_sql;
};

Filter book_tag_filter(const std::string& book_id) {
    return eventstore::build_event_filter().matching().all_tags_of("book:" + book_id).finalize();
}

// --- state shared by the benchmarks ---------------------------------------------------------------

std::shared_ptr<pg::ConnectionPool> g_pool;
std::unique_ptr<pg::EventStore> g_store;
// Where the block runners find the store (set once it exists).
pg::EventStore* g_store_ptr = nullptr;
std::vector<std::string> g_books; // existing books of the fixture, 4 events each

const std::string& random_book() {
    std::uniform_int_distribution<std::size_t> pick(0, g_books.size() - 1);
    return g_books[pick(thread_rng())];
}

void check_book(std::size_t events, const std::string& book) {
    if (events != 4) {
        throw std::runtime_error("book " + book + " returned " + std::to_string(events) + " events, expected 4");
    }
}

// --- blocks ---------------------------------------------------------------------------------------

double seconds_of(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

void sleep_for_seconds(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

double percentile_us(std::vector<double>& seconds, double q) {
    if (seconds.empty()) {
        return 0;
    }
    std::sort(seconds.begin(), seconds.end());
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(seconds.size())));
    return seconds[std::clamp<std::size_t>(rank, 1, seconds.size()) - 1] * 1e6;
}

// One block of one side of a comparison.
struct Block {
    double p50_us = 0;
    double p99_us = 0;
    double ops_per_s = 0; // successful operations per second of the block's time
    std::uint64_t samples = 0;
    std::uint64_t conflicts = 0;
};

Block block_of(std::vector<double> latencies, double seconds, std::uint64_t ok, std::uint64_t conflicts) {
    Block b;
    b.p50_us = percentile_us(latencies, 0.50);
    b.p99_us = percentile_us(latencies, 0.99);
    b.ops_per_s = seconds > 0 ? static_cast<double>(ok) / seconds : 0;
    b.samples = latencies.size();
    b.conflicts = conflicts;
    return b;
}

using BlockRunner = std::function<Block()>;

// One client, --block-ops operations: `prepare` (untimed) makes the input of one operation, `op` is
// timed. The block's time is the sum of the operations' times, so ops/s excludes the setup.
template <typename Prepare, typename Op>
BlockRunner op_blocks(Prepare prepare, Op op) {
    return [prepare, op]() mutable {
        std::vector<double> latencies;
        latencies.reserve(static_cast<std::size_t>(g_config.block_ops));
        double total = 0;
        for (int i = 0; i < g_config.block_ops; ++i) {
            auto input = prepare();
            const auto start = Clock::now();
            op(input);
            const double s = seconds_of(Clock::now() - start);
            latencies.push_back(s);
            total += s;
        }
        const std::uint64_t n = latencies.size();
        return block_of(std::move(latencies), total, n, 0);
    };
}

// One client repeating `op` for --block-seconds (the under-load reads: equal time on both sides, so
// that both see as much of the writers' commits and fsyncs).
template <typename Op>
BlockRunner timed_blocks(Op op) {
    return [op]() mutable {
        std::vector<double> latencies;
        double total = 0;
        const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                              std::chrono::duration<double>(g_config.block_seconds));
        while (Clock::now() < until) {
            const auto start = Clock::now();
            op();
            const double s = seconds_of(Clock::now() - start);
            latencies.push_back(s);
            total += s;
        }
        const std::uint64_t n = latencies.size();
        return block_of(std::move(latencies), total, n, 0);
    };
}

struct Outcome {
    bool conflict = false;
};
using Operation = std::function<Outcome()>;
// Makes client i's operation, on client i's own thread (connections, prepared statements).
using OperationFactory = std::function<Operation(int)>;

// Runs `clients` threads, each repeating its operation from start() to stop(); every operation timed.
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
        latencies.reserve(20'000);
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

// `clients` threads for --block-seconds; throughput, latency and conflicts of all of them. The threads
// and their connections are made before the block's clock starts.
BlockRunner client_blocks(int clients, OperationFactory make) {
    return [clients, make] {
        ClientGroup group(clients, make);
        group.start();
        sleep_for_seconds(g_config.block_seconds);
        const double wall = group.stop();
        return block_of(group.latencies(), wall, group.ok(), group.conflicts());
    };
}

// --- comparisons ----------------------------------------------------------------------------------

enum class Metric { p50, p99, ops };
enum class Goal { none, at_most, at_least };

struct Line;
using Comparison = void (*)(benchmark::State&, const Line&);

// One comparison: the benchmark `key` measures `label` against `floor_label` (none: a measure alone).
// Labels hold no comma (they end up in CSV read by scripts/bench.sh).
struct Line {
    std::string key;
    std::string label;
    std::string floor_label;
    Metric metric;
    Comparison run;
    Goal goal = Goal::none;
    double goal_ratio = 0;
    bool zero_conflicts = false;
};

double Block::*field_of(Metric metric) {
    switch (metric) {
    case Metric::p50:
        return &Block::p50_us;
    case Metric::p99:
        return &Block::p99_us;
    case Metric::ops:
        return &Block::ops_per_s;
    }
    return &Block::p50_us;
}

double metric_of(const Block& b, Metric metric) { return b.*field_of(metric); }

// Everything measured for one comparison, over all its rounds (and repetitions).
struct Collected {
    std::vector<Block> measure;
    std::vector<Block> floor;
    std::vector<double> ratios; // one per round
    std::vector<double> writer_ops_per_s;
};

std::map<std::string, Collected> g_collected;

double quantile(std::vector<double> v, double q) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    const double pos = q * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double median(std::vector<double> v) { return quantile(std::move(v), 0.5); }

double median_of(const std::vector<Block>& blocks, double Block::*field) {
    std::vector<double> v;
    v.reserve(blocks.size());
    for (const Block& b : blocks) {
        v.push_back(b.*field);
    }
    return median(std::move(v));
}

// --rounds rounds of one block of each side, the order swapped every round; round 0 is a warm-up.
void compare(benchmark::State& state, const Line& line, const BlockRunner& measure, const BlockRunner& floor) {
    Collected& c = g_collected[line.key];
    const auto start = Clock::now();
    for (int round = 0; round <= g_config.rounds; ++round) {
        Block m;
        Block f;
        if (!floor) {
            m = measure();
        } else if (round % 2 == 0) {
            m = measure();
            f = floor();
        } else {
            f = floor();
            m = measure();
        }
        if (round == 0) {
            continue;
        }
        c.measure.push_back(m);
        if (floor) {
            c.floor.push_back(f);
            const double denominator = metric_of(f, line.metric);
            if (denominator > 0) {
                c.ratios.push_back(metric_of(m, line.metric) / denominator);
            }
        }
    }
    state.SetIterationTime(seconds_of(Clock::now() - start));
    // The figures so far, over this comparison's every repetition, as the final table gives them.
    state.counters["measure"] = median_of(c.measure, field_of(line.metric));
    if (floor) {
        state.counters["floor"] = median_of(c.floor, field_of(line.metric));
        state.counters["ratio"] = median(c.ratios);
    }
}

void trim_store(benchmark::State& state);

// Runs a comparison, reports a failure as the benchmark's error, then deletes the rows it added.
template <typename Fn>
void guarded(benchmark::State& state, Fn fn) {
    try {
        for (auto _ : state) {
            fn();
        }
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    }
    trim_store(state);
}

// --- the operations -------------------------------------------------------------------------------

BlockRunner lib_query_blocks(pg::EventStore* const* store = &g_store_ptr) {
    return op_blocks(
        [] {
            const std::string& book = random_book();
            return std::make_pair(book, book_filter(book));
        },
        [store](const std::pair<std::string, Filter>& q) {
            check_book((*store)->query(q.second).events.size(), q.first);
        });
}

// The library's side of the tag reads: the book's tag, all its events or only the newest.
BlockRunner lib_tag_query_blocks(bool newest_only) {
    return op_blocks(
        [] {
            const std::string& book = random_book();
            return std::make_pair(book, book_tag_filter(book));
        },
        [newest_only](const std::pair<std::string, Filter>& q) {
            const eventstore::ReadOptions options{0, newest_only, newest_only ? 1U : 0U};
            check_book(g_store->query(eventstore::Context(), q.second, options).events.size() + (newest_only ? 3 : 0),
                       q.first);
        });
}

BlockRunner select_1_blocks(PgSession& c) {
    return op_blocks([] { return 0; }, [&c](int) { (void)c.exec_prepared("select_1", {}); });
}

struct AppendInput {
    Filter filter;
    std::vector<StorableEvent> events;
};

// A fresh book per append, as the Go library's own benchmark does: the boundary is empty, the expected maximum 0.
AppendInput fresh_append(std::size_t events) {
    const std::string book = new_id();
    return AppendInput{book_filter(book), added_events(book, events)};
}

// The same appends with two tags on each event, the shape of a DCB append (the book's and a reader's).
BlockRunner lib_tagged_append_blocks() {
    return op_blocks(
        [] {
            AppendInput in = fresh_append(1);
            in.events.front().tags = {"book:" + new_id(), "reader:" + new_id()};
            return in;
        },
        [](const AppendInput& in) { g_store->append(in.filter, 0, std::span<const StorableEvent>(in.events)); });
}

BlockRunner lib_append_blocks(std::size_t events, pg::EventStore* const* store = &g_store_ptr) {
    return op_blocks(
        [events] { return fresh_append(events); },
        [store](const AppendInput& in) { (*store)->append(in.filter, 0, std::span<const StorableEvent>(in.events)); });
}

BlockRunner plain_insert_blocks(PgSession& c) {
    return op_blocks(plain_insert_params, [&c](const std::vector<std::string>& params) { plain_insert(c, params); });
}

Operation plain_insert_operation(int) {
    auto c = std::make_shared<PgSession>(g_config.dsn);
    prepare_plain_insert(*c);
    return [c] {
        plain_insert(*c, plain_insert_params());
        return Outcome{};
    };
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

// --- the comparisons --------------------------------------------------------------------------------

void cmp_query_vs_sql_read(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        UnpreparedReader reader(g_config.dsn);
        const BlockRunner floor = op_blocks(
            [&reader] {
                const std::string& book = random_book();
                return std::make_pair(book, reader.params(book));
            },
            [&reader](const std::pair<std::string, std::vector<devsupport::PgValue>>& q) {
                check_book(reader.read(q.second), q.first);
            });
        compare(state, line, lib_query_blocks(), floor);
    });
}

void cmp_tag_query_vs_sql_read(benchmark::State& state, const Line& line, bool newest_only) {
    guarded(state, [&] {
        UnpreparedTagReader reader(g_config.dsn, newest_only);
        const BlockRunner floor = op_blocks(
            [] {
                const std::string& book = random_book();
                return std::make_pair(book, UnpreparedTagReader::params(book));
            },
            [&reader, newest_only](const std::pair<std::string, std::vector<devsupport::PgValue>>& q) {
                check_book(reader.read(q.second) + (newest_only ? 3 : 0), q.first);
            });
        compare(state, line, lib_tag_query_blocks(newest_only), floor);
    });
}

void cmp_tag_query(benchmark::State& state, const Line& line) { cmp_tag_query_vs_sql_read(state, line, false); }
void cmp_newest_query(benchmark::State& state, const Line& line) { cmp_tag_query_vs_sql_read(state, line, true); }

void cmp_tagged_append_vs_append(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, lib_tagged_append_blocks(), lib_append_blocks(1)); });
}

// The adapters' cost: the same query and append through a store with the Prometheus collector (also
// its pool's) and the spdlog logger attached, against a store without hooks. Each block opens a store
// and pool of its own on each side: a connection's server process lands on one of the machine's two
// cores for its life, and two long-lived connections differed by up to 2x in a run for that alone.
BlockRunner adapter_blocks(bool observed, bool append) {
    return [observed, append] {
        pg::PoolOptions options;
        options.max_connections = 1;
        std::unique_ptr<pg::EventStore> store;
        if (observed) {
            auto metrics = std::make_shared<eventstore::prometheus::Collector>();
            options.metrics = metrics;
            auto spd = std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
            spd->set_level(spdlog::level::info);
            store = pg::new_event_store_from_pool(pg::ConnectionPool::create(g_config.dsn, options),
                                                  pg::with_table_name(g_config.table), pg::with_metrics(metrics),
                                                  pg::with_contextual_logger(eventstore::make_spdlog_logger(spd)));
        } else {
            store = pg::new_event_store_from_pool(pg::ConnectionPool::create(g_config.dsn, options),
                                                  pg::with_table_name(g_config.table));
        }
        pg::EventStore* const target = store.get();
        return append ? lib_append_blocks(1, &target)() : lib_query_blocks(&target)();
    };
}

// A database adapter's cost: the same query and append through a store over a SOCI pool of one
// session, against the native pool of one connection; fresh on each side per block (above).
BlockRunner soci_blocks(bool append) {
    return [append] {
        soci::connection_pool sessions(1);
        sessions.at(0).open(soci::postgresql, g_config.dsn);
        std::unique_ptr<pg::EventStore> store =
            pg::new_event_store_from_soci(sessions, {pg::with_table_name(g_config.table)});
        pg::EventStore* const target = store.get();
        return append ? lib_append_blocks(1, &target)() : lib_query_blocks(&target)();
    };
}

// The same through a store over one libpqxx connection.
BlockRunner pqxx_blocks(bool append) {
    return [append] {
        pqxx::connection connection(g_config.dsn);
        std::unique_ptr<pg::EventStore> store =
            pg::new_event_store_from_pqxx(connection, {pg::with_table_name(g_config.table)});
        pg::EventStore* const target = store.get();
        return append ? lib_append_blocks(1, &target)() : lib_query_blocks(&target)();
    };
}

// The price of PoolOptions::behind_transaction_pooler: a store whose pool keeps nothing between
// transactions (unnamed statements planned per call, settings per transaction), on a direct connection
// (`through_pgbouncer` false: the mode's own price) or through PgBouncer in transaction mode (the
// mode's and the extra hop's); fresh per block, like the native pool it is compared with.
BlockRunner pooler_blocks(bool append, bool through_pgbouncer) {
    return [append, through_pgbouncer] {
        if (through_pgbouncer && g_config.pgbouncer_dsn.empty()) {
            throw std::runtime_error("no --pgbouncer-dsn (scripts/bench.sh gives one when pgbouncer is installed)");
        }
        pg::PoolOptions options;
        options.max_connections = 1;
        options.behind_transaction_pooler = true;
        std::unique_ptr<pg::EventStore> store = pg::new_event_store_from_pool(
            pg::ConnectionPool::create(through_pgbouncer ? g_config.pgbouncer_dsn : g_config.dsn, options),
            pg::with_table_name(g_config.table));
        pg::EventStore* const target = store.get();
        return append ? lib_append_blocks(1, &target)() : lib_query_blocks(&target)();
    };
}

void cmp_query_pooled_mode_vs_pool(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, pooler_blocks(false, false), adapter_blocks(false, false)); });
}

void cmp_append_pooled_mode_vs_pool(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, pooler_blocks(true, false), adapter_blocks(false, true)); });
}

void cmp_query_pgbouncer_vs_pool(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, pooler_blocks(false, true), adapter_blocks(false, false)); });
}

void cmp_append_pgbouncer_vs_pool(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, pooler_blocks(true, true), adapter_blocks(false, true)); });
}

void cmp_query_pqxx_vs_pool(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, pqxx_blocks(false), adapter_blocks(false, false)); });
}

void cmp_append_pqxx_vs_pool(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, pqxx_blocks(true), adapter_blocks(false, true)); });
}

void cmp_query_soci_vs_pool(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, soci_blocks(false), adapter_blocks(false, false)); });
}

void cmp_append_soci_vs_pool(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, soci_blocks(true), adapter_blocks(false, true)); });
}

void cmp_query_with_adapters(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, adapter_blocks(true, false), adapter_blocks(false, false)); });
}

void cmp_append_with_adapters(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, adapter_blocks(true, true), adapter_blocks(false, true)); });
}

void cmp_query_vs_select_1(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        PgSession c(g_config.dsn);
        c.prepare("select_1", "SELECT 1", {});
        compare(state, line, lib_query_blocks(), select_1_blocks(c));
    });
}

void cmp_append_1_vs_insert(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        PgSession c(g_config.dsn);
        prepare_plain_insert(c);
        compare(state, line, lib_append_blocks(1), plain_insert_blocks(c));
    });
}

void cmp_append_5_vs_append_1(benchmark::State& state, const Line& line) {
    guarded(state, [&] { compare(state, line, lib_append_blocks(5), lib_append_blocks(1)); });
}

void cmp_insert_5_vs_insert(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        PgSession c(g_config.dsn);
        prepare_plain_insert(c);
        prepare_plain_insert_5(c);
        const BlockRunner five = op_blocks(plain_insert_5_params,
                                           [&c](const std::vector<std::string>& params) { plain_insert_5(c, params); });
        compare(state, line, five, plain_insert_blocks(c));
    });
}

void cmp_clients_vs_insert_clients(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        compare(state, line, client_blocks(g_config.clients, lib_disjoint_append_operation),
                client_blocks(g_config.clients, plain_insert_operation));
    });
}

// The tail a reader sees while two clients append (single events, fresh books), against the tail of a
// bare round trip under the very same writers: they run through both sides' blocks without a pause, so
// what is left of the ratio is the read's own work and waits, not the machine's scheduling.
void cmp_query_vs_select_1_under_writers(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        PgSession c(g_config.dsn);
        c.prepare("select_1", "SELECT 1", {});
        ClientGroup writers(2, lib_disjoint_append_operation);
        writers.start();
        const BlockRunner query = timed_blocks([] {
            const std::string& book = random_book();
            check_book(g_store->query(book_filter(book)).events.size(), book);
        });
        const BlockRunner select_1 = timed_blocks([&c] { (void)c.exec_prepared("select_1", {}); });
        compare(state, line, query, select_1);
        const double wall = writers.stop();
        g_collected[line.key].writer_ops_per_s.push_back(static_cast<double>(writers.ok()) / wall);
    });
}

// A subscriber following the book events from the head of the log, on a thread of its own, noting when
// each event reached its callback; appends note when they returned. The latency of an event is the
// time from its append's return to its callback (0 when the callback came first).
class LiveSubscriber {
public:
    // `options`: the subscription's (a poll_min of minutes leaves only the store's sampling of the
    // head running: the wake-up's own cost).
    explicit LiveSubscriber(eventstore::postgres::SubscribeOptions options = {}) {
        const SequenceNumber head = g_store->query(eventstore::Context(), Filter(), {0, true, 1}).max_sequence_number;
        const Filter books = eventstore::build_event_filter()
                                 .matching()
                                 .any_event_type_of(std::span<const std::string>(book_types()))
                                 .finalize();
        m_thread = std::thread([this, head, books, options] {
            try {
                g_store->subscribe(
                    eventstore::Context().with_stop_token(m_stop.get_token()), books, head,
                    [this](StorableEvent&& e) {
                        const auto now = Clock::now();
                        const std::lock_guard<std::mutex> lock(m_mutex);
                        m_delivered.emplace(e.sequence_number, now);
                    },
                    options);
            } catch (...) {
                m_error = std::current_exception();
            }
        });
    }
    ~LiveSubscriber() {
        m_stop.request_stop();
        m_thread.join();
    }
    LiveSubscriber(const LiveSubscriber&) = delete;
    LiveSubscriber& operator=(const LiveSubscriber&) = delete;

    void returned(SequenceNumber position) {
        const auto now = Clock::now();
        const std::lock_guard<std::mutex> lock(m_mutex);
        m_returned.emplace(position, now);
    }

    // Waits up to 1 s for the events whose appends returned to be delivered, then the latencies (s).
    std::vector<double> latencies() {
        const auto until = Clock::now() + std::chrono::seconds(1);
        for (;;) {
            {
                const std::lock_guard<std::mutex> lock(m_mutex);
                const bool all = std::all_of(m_returned.begin(), m_returned.end(),
                                             [this](const auto& r) { return m_delivered.count(r.first) > 0; });
                if (all || Clock::now() > until) {
                    std::vector<double> out;
                    for (const auto& [position, at] : m_returned) {
                        const auto found = m_delivered.find(position);
                        if (found == m_delivered.end()) {
                            throw std::runtime_error("the subscriber did not deliver position " +
                                                     std::to_string(position) + " within 1 s");
                        }
                        out.push_back(std::max(0.0, seconds_of(found->second - at)));
                    }
                    m_returned.clear();
                    m_delivered.clear();
                    return out;
                }
            }
            if (m_error) {
                std::rethrow_exception(m_error);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

private:
    std::stop_source m_stop;
    std::mutex m_mutex;
    std::map<SequenceNumber, Clock::time_point> m_returned;
    std::map<SequenceNumber, Clock::time_point> m_delivered;
    std::exception_ptr m_error;
    std::thread m_thread;
};

// The live delivery latency with 2 clients appending (single events, fresh books).
void cmp_subscription_latency(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        LiveSubscriber subscriber;
        const BlockRunner block = [&subscriber] {
            ClientGroup writers(2, [&subscriber](int) -> Operation {
                return [&subscriber] {
                    const AppendInput in = fresh_append(1);
                    subscriber.returned(
                        g_store->append(in.filter, 0, std::span<const StorableEvent>(in.events)).last_sequence_number);
                    return Outcome{};
                };
            });
            writers.start();
            sleep_for_seconds(g_config.block_seconds);
            const double wall = writers.stop();
            std::vector<double> latencies = subscriber.latencies();
            const auto n = static_cast<std::uint64_t>(latencies.size());
            return block_of(std::move(latencies), wall, n, 0);
        };
        compare(state, line, block, nullptr);
    });
}

// The live delivery latency in a quiet log: one client appending a single event every 10 to 40 ms, so
// that each event arrives when the subscriber has been waiting for a while.
void cmp_subscription_latency_quiet(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        LiveSubscriber subscriber;
        const BlockRunner block = [&subscriber] {
            std::mt19937 rng(std::random_device{}());
            const auto start = Clock::now();
            const auto until = start + std::chrono::duration<double>(g_config.block_seconds);
            while (Clock::now() < until) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10 + rng() % 31));
                const AppendInput in = fresh_append(1);
                subscriber.returned(
                    g_store->append(in.filter, 0, std::span<const StorableEvent>(in.events)).last_sequence_number);
            }
            const double wall = seconds_of(Clock::now() - start);
            std::vector<double> latencies = subscriber.latencies();
            const auto n = static_cast<std::uint64_t>(latencies.size());
            return block_of(std::move(latencies), wall, n, 0);
        };
        compare(state, line, block, nullptr);
    });
}

// 8 clients appending while a subscriber follows the log, against the same 8 clients alone.
void cmp_clients_with_subscriber(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        const BlockRunner plain = client_blocks(g_config.clients, lib_disjoint_append_operation);
        const BlockRunner followed = [plain] {
            const LiveSubscriber subscriber;
            return plain();
        };
        compare(state, line, followed, plain);
    });
}

// 8 clients appending while only the store's wake-up runs: a subscriber that is paced out (poll_min of
// an hour) after its first read, so what remains is the store sampling the head of the log.
void cmp_clients_with_wake_up(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        const BlockRunner plain = client_blocks(g_config.clients, lib_disjoint_append_operation);
        const BlockRunner watched = [plain] {
            eventstore::postgres::SubscribeOptions paced;
            paced.poll_min = std::chrono::hours(1);
            const LiveSubscriber subscriber(paced);
            return plain();
        };
        compare(state, line, watched, plain);
    });
}

// All clients decide on the same book: query the boundary (from the last position this client has
// seen, as a client holding a snapshot would), then append a lending with the maximum it read. A
// conflict is an expected outcome: the next cycle reads the newer events and tries again.
void cmp_clients_one_boundary(benchmark::State& state, const Line& line) {
    guarded(state, [&] {
        // A fresh book per block: the boundary a block starts from stays small, as it did when this was
        // one run of --block-seconds, instead of growing through every round.
        const BlockRunner block = [] {
            const std::string book = new_id();
            return client_blocks(g_config.clients, [&book](int) -> Operation {
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
            })();
        };
        compare(state, line, block, nullptr);
    });
}

const std::vector<Line>& lines() {
    static const std::vector<Line> all = [] {
        const std::string n = std::to_string(g_config.clients);
        return std::vector<Line>{
            {"query_vs_sql_read", "query of a 4-event book", "hand-written SQL read (unprepared)", Metric::p50,
             cmp_query_vs_sql_read, Goal::at_most, 0.8},
            {"append_1_vs_insert", "append of 1 event", "plain INSERT of 1 row", Metric::p50, cmp_append_1_vs_insert,
             Goal::at_most, 1.3},
            {"append_5_vs_append_1", "append of 5 events", "append of 1 event", Metric::p50, cmp_append_5_vs_append_1,
             Goal::at_most, 1.3},
            {"append_clients_vs_insert_clients", "append with " + n + " clients (disjoint)",
             "plain INSERT with " + n + " clients", Metric::ops, cmp_clients_vs_insert_clients, Goal::at_least, 0.5,
             true},
            {"query_vs_select_1_under_2_writers", "query while 2 clients append", "SELECT 1 under the same 2 writers",
             Metric::p99, cmp_query_vs_select_1_under_writers, Goal::at_most, 2.5},
            {"tag_query_vs_sql_read", "query of a book's tag (4 events)", "hand-written SQL read by tag (unprepared)",
             Metric::p50, cmp_tag_query, Goal::at_most, 0.8},
            {"newest_vs_sql_read", "newest event of a book's tag (backwards limit 1)",
             "hand-written SQL read DESC LIMIT 1 (unprepared)", Metric::p50, cmp_newest_query, Goal::at_most, 0.8},
            {"tagged_append_vs_append", "append of 1 event with 2 tags", "append of 1 event without tags", Metric::p50,
             cmp_tagged_append_vs_append, Goal::at_most, 1.1},
            {"subscription_latency", "live delivery from append return to callback (2 writers)", "", Metric::p50,
             cmp_subscription_latency},
            {"subscription_latency_quiet", "live delivery in a quiet log (1 append every 10-40 ms)", "", Metric::p50,
             cmp_subscription_latency_quiet},
            {"append_clients_with_subscriber", "append with " + n + " clients and a live subscriber",
             "append with " + n + " clients and none", Metric::ops, cmp_clients_with_subscriber, Goal::at_least, 0.95},
            {"append_clients_with_wake_up", "append with " + n + " clients and the subscriptions' wake-up only",
             "append with " + n + " clients and none", Metric::ops, cmp_clients_with_wake_up, Goal::at_least, 0.95},
            {"query_with_adapters", "query with the Prometheus collector and spdlog attached", "query without hooks",
             Metric::p50, cmp_query_with_adapters, Goal::at_most, 1.03},
            {"append_with_adapters", "append with the Prometheus collector and spdlog attached", "append without hooks",
             Metric::p50, cmp_append_with_adapters, Goal::at_most, 1.03},
            {"query_soci_vs_pool", "query of a 4-event book through SOCI", "the same through the native pool",
             Metric::p50, cmp_query_soci_vs_pool},
            {"append_soci_vs_pool", "append of 1 event through SOCI", "the same through the native pool", Metric::p50,
             cmp_append_soci_vs_pool},
            {"query_pqxx_vs_pool", "query of a 4-event book through libpqxx", "the same through the native pool",
             Metric::p50, cmp_query_pqxx_vs_pool},
            {"append_pqxx_vs_pool", "append of 1 event through libpqxx", "the same through the native pool",
             Metric::p50, cmp_append_pqxx_vs_pool},
            {"query_pooled_mode_vs_pool", "query of a 4-event book with behind_transaction_pooler (direct)",
             "the same with the default pool", Metric::p50, cmp_query_pooled_mode_vs_pool},
            {"append_pooled_mode_vs_pool", "append of 1 event with behind_transaction_pooler (direct)",
             "the same with the default pool", Metric::p50, cmp_append_pooled_mode_vs_pool},
            {"query_pgbouncer_vs_pool", "query of a 4-event book through PgBouncer (transaction mode)",
             "the same with the default pool (direct)", Metric::p50, cmp_query_pgbouncer_vs_pool},
            {"append_pgbouncer_vs_pool", "append of 1 event through PgBouncer (transaction mode)",
             "the same with the default pool (direct)", Metric::p50, cmp_append_pgbouncer_vs_pool},
            {"query_vs_select_1", "query of a 4-event book", "prepared SELECT 1", Metric::p50, cmp_query_vs_select_1},
            {"insert_5_vs_insert", "plain INSERT of 5 rows", "plain INSERT of 1 row", Metric::p50,
             cmp_insert_5_vs_insert},
            {"query_append_clients_one_boundary", "query then append with " + n + " clients on 1 boundary", "",
             Metric::ops, cmp_clients_one_boundary},
        };
    }();
    return all;
}

void register_benchmarks() {
    for (const Line& line : lines()) {
        const Line* l = &line;
        benchmark::RegisterBenchmark(line.key.c_str(), [l](benchmark::State& state) { l->run(state, *l); })
            ->UseManualTime()
            ->Iterations(1)
            ->Unit(benchmark::kMillisecond);
    }
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
        PgResult r = c.exec("SELECT events, last_sequence FROM bench_fixture WHERE table_name = $1", {g_config.table});
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

// Deletes every event after the fixture's last one: this run's, or a crashed run's.
std::uint64_t trim_events(PgSession& c, const Fixture& f) {
    return c.exec("DELETE FROM " + quoted_table() + " WHERE sequence_number > $1", {std::to_string(f.last_sequence)})
        .affected();
}

void restore_fixture(PgSession& c, const Fixture& f, const char* when) {
    const auto start = Clock::now();
    const std::uint64_t deleted = trim_events(c, f);
    if (deleted > 0) {
        (void)c.exec("VACUUM (ANALYZE) " + quoted_table());
        std::printf("eventstore_bench: %s: deleted %llu benchmark events, VACUUM ANALYZE, %.1f s\n", when,
                    static_cast<unsigned long long>(deleted), seconds_of(Clock::now() - start));
    }
}

// Housekeeping between comparisons, on the main thread's own connection.
std::unique_ptr<PgSession> g_admin;
Fixture g_fixture;
constexpr std::uint64_t vacuum_every = 100'000; // deleted events between two VACUUMs
std::uint64_t g_deleted_since_vacuum = 0;
std::uint64_t g_trimmed = 0;
int g_vacuums = 0;

void trim_store(benchmark::State& state) {
    try {
        const std::uint64_t deleted = trim_events(*g_admin, g_fixture);
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
    PgResult r = c.exec("SELECT payload->>'BookID' FROM " + quoted_table() +
                            " WHERE event_type = $1 ORDER BY random() LIMIT $2::bigint",
                        {std::string(added_type), std::to_string(n)});
    std::vector<std::string> books;
    books.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
        books.push_back(r.value(i, 0));
    }
    return books;
}

// --- the comparison table -----------------------------------------------------------------------

const char* metric_name(Metric metric) {
    switch (metric) {
    case Metric::p50:
        return "p50 us";
    case Metric::p99:
        return "p99 us";
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

struct Side {
    double p50_us = 0;
    double p99_us = 0;
    double ops_per_s = 0;
    std::uint64_t samples = 0;   // all blocks
    std::uint64_t conflicts = 0; // all blocks
};

Side side_of(const std::vector<Block>& blocks) {
    Side s;
    s.p50_us = median_of(blocks, &Block::p50_us);
    s.p99_us = median_of(blocks, &Block::p99_us);
    s.ops_per_s = median_of(blocks, &Block::ops_per_s);
    for (const Block& b : blocks) {
        s.samples += b.samples;
        s.conflicts += b.conflicts;
    }
    return s;
}

struct Row {
    const Line* line = nullptr;
    Side measure;
    Side floor;
    bool has_floor = false;
    std::size_t rounds = 0;
    double ratio = 0; // median of the per-round ratios
    double ratio_p25 = 0;
    double ratio_p75 = 0;
    double writer_ops_per_s = 0;
    std::string goal;    // "<= 0.8x", ">= 0.5x with 0 conflicts", "-"
    std::string verdict; // "met", "NOT MET", "-" (no goal), "n/a" (no ratio)
};

std::vector<Row> comparison_rows() {
    std::vector<Row> rows;
    for (const Line& line : lines()) {
        const auto it = g_collected.find(line.key);
        if (it == g_collected.end() || it->second.measure.empty()) {
            continue;
        }
        const Collected& c = it->second;
        Row row;
        row.line = &line;
        row.measure = side_of(c.measure);
        row.rounds = c.measure.size();
        row.has_floor = !c.floor.empty();
        if (row.has_floor) {
            row.floor = side_of(c.floor);
            row.ratio = median(c.ratios);
            row.ratio_p25 = quantile(c.ratios, 0.25);
            row.ratio_p75 = quantile(c.ratios, 0.75);
        }
        row.writer_ops_per_s = median(c.writer_ops_per_s);
        if (line.goal == Goal::none) {
            row.goal = "-";
            row.verdict = "-";
        } else {
            row.goal = std::string(line.goal == Goal::at_most ? "<= " : ">= ") +
                       fixed(line.goal_ratio,
                             std::abs(std::round(line.goal_ratio * 10) - line.goal_ratio * 10) < 1e-9 ? 1 : 2) +
                       "x";
            if (line.zero_conflicts) {
                row.goal += " with 0 conflicts";
            }
            if (c.ratios.empty()) {
                row.verdict = "n/a";
            } else {
                bool met = line.goal == Goal::at_most ? row.ratio <= line.goal_ratio : row.ratio >= line.goal_ratio;
                if (line.zero_conflicts && row.measure.conflicts > 0) {
                    met = false;
                }
                row.verdict = met ? "met" : "NOT MET";
            }
        }
        rows.push_back(row);
    }
    return rows;
}

std::string with_metric(const std::string& label, Metric metric) { return label + " (" + metric_name(metric) + ")"; }

void print_table(const std::vector<Row>& rows) {
    std::printf("\nComparisons: store of %llu events (table %s); %d rounds of alternating blocks (%d operations, or "
                "%.2f s with several clients or writers); medians over the rounds\n",
                static_cast<unsigned long long>(g_config.size), g_config.table.c_str(), g_config.rounds,
                g_config.block_ops, g_config.block_seconds);
    std::printf("%-52s %9s  %-50s %9s  %7s  %-13s  %-22s %s\n", "measure", "value", "floor", "value", "ratio",
                "middle half", "goal", "verdict");
    for (const Row& r : rows) {
        const Line& l = *r.line;
        auto value = [&l](const Side& s) {
            return l.metric == Metric::p50 ? s.p50_us : l.metric == Metric::p99 ? s.p99_us : s.ops_per_s;
        };
        std::printf(
            "%-52s %9s  %-50s %9s  %7s  %-13s  %-22s %s\n", with_metric(l.label, l.metric).c_str(),
            fixed(value(r.measure), 0).c_str(), r.has_floor ? with_metric(l.floor_label, l.metric).c_str() : "-",
            r.has_floor ? fixed(value(r.floor), 0).c_str() : "-", r.has_floor ? (fixed(r.ratio, 2) + "x").c_str() : "-",
            r.has_floor ? (fixed(r.ratio_p25, 2) + "-" + fixed(r.ratio_p75, 2) + "x").c_str() : "-", r.goal.c_str(),
            r.verdict.c_str());
    }
    std::printf("\nEach side, medians over its blocks (conflicts and samples: totals)\n");
    std::printf("%-52s %9s %9s %9s %10s %10s\n", "", "p50 us", "p99 us", "ops/s", "samples", "conflicts");
    auto print_side = [](const std::string& label, const Side& s) {
        std::printf("%-52s %9s %9s %9s %10llu %10llu\n", label.c_str(), fixed(s.p50_us, 0).c_str(),
                    fixed(s.p99_us, 0).c_str(), fixed(s.ops_per_s, 0).c_str(),
                    static_cast<unsigned long long>(s.samples), static_cast<unsigned long long>(s.conflicts));
    };
    for (const Row& r : rows) {
        print_side(r.line->label, r.measure);
        if (r.has_floor) {
            print_side("  floor: " + r.line->floor_label, r.floor);
        }
        if (r.writer_ops_per_s > 0) {
            std::printf("  the 2 writers appended %.0f events/s meanwhile\n", r.writer_ops_per_s);
        }
    }
}

// One line per comparison; no field holds a comma.
void write_csv(const std::vector<Row>& rows) {
    std::ofstream out(g_config.csv);
    if (!out) {
        throw std::runtime_error("cannot write " + g_config.csv);
    }
    out << "size,key,compared,rounds,ratio,ratio_p25,ratio_p75,goal,verdict,measure_p50_us,measure_p99_us,"
           "measure_ops_per_s,measure_samples,measure_conflicts,floor_p50_us,floor_p99_us,floor_ops_per_s,"
           "floor_samples,writer_ops_per_s,measure,floor\n";
    for (const Row& r : rows) {
        const Line& l = *r.line;
        auto opt = [&r](double v, int decimals) { return r.has_floor ? fixed(v, decimals) : std::string(); };
        out << g_config.size << ',' << l.key << ',' << metric_name(l.metric) << ',' << r.rounds << ','
            << opt(r.ratio, 3) << ',' << opt(r.ratio_p25, 3) << ',' << opt(r.ratio_p75, 3) << ',' << r.goal << ','
            << r.verdict << ',' << fixed(r.measure.p50_us, 1) << ',' << fixed(r.measure.p99_us, 1) << ','
            << fixed(r.measure.ops_per_s, 1) << ',' << r.measure.samples << ',' << r.measure.conflicts << ','
            << opt(r.floor.p50_us, 1) << ',' << opt(r.floor.p99_us, 1) << ',' << opt(r.floor.ops_per_s, 1) << ','
            << (r.has_floor ? std::to_string(r.floor.samples) : "") << ',' << fixed(r.writer_ops_per_s, 1) << ','
            << l.label << ',' << l.floor_label << '\n';
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
        g_store_ptr = g_store.get();

        g_books = sample_books(admin, g_config.books);
        if (g_books.empty()) {
            throw std::runtime_error("the table holds no BookCopyAddedToCirculation event: not a fixture");
        }
        // Warm-up, untimed: every sampled book once through both read paths, which also checks that the
        // hand-written read returns the rows the library's query does.
        const auto warm_start = Clock::now();
        {
            UnpreparedReader reader(g_config.dsn);
            for (const std::string& book : g_books) {
                check_book(g_store->query(book_filter(book)).events.size(), book);
                check_book(reader.read(reader.params(book)), book);
            }
        }
        std::printf("eventstore_bench: %zu books sampled, warm-up %.1f s\n", g_books.size(),
                    seconds_of(Clock::now() - warm_start));
        std::fflush(stdout);

        register_benchmarks();
        benchmark::ConsoleReporter reporter(benchmark::ConsoleReporter::OO_None); // no colours: it goes to logs
        benchmark::RunSpecifiedBenchmarks(&reporter);
        benchmark::Shutdown();

        g_store_ptr = nullptr;
        g_store.reset();
        g_pool.reset();
        std::printf("eventstore_bench: %llu benchmark events deleted between comparisons (%d VACUUMs)\n",
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
