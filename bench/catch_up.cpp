// Catch-up throughput: how fast a subscription (and query_stream) reads a long log from the beginning,
// against the floor of the same rows sent by COPY (SELECT ...) TO STDOUT, each in a process of its
// own so that its peak memory is its own. bench/catch_up.sh runs the modes in alternating rounds.
//
//   catch_up <conninfo> setup <events>   creates and fills the table catchup_events (9 in 10 match)
//   catch_up <conninfo> copy             COPY of the matching rows, counted as they arrive
//   catch_up <conninfo> subscribe        subscribe from 0 until every matching event has arrived
//   catch_up <conninfo> stream           query_stream over the same filter
//
// Each run prints one line: mode, rows, seconds, rows per second, peak resident memory (MB).

#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <stop_token>
#include <string>

#include <devsupport/pg_session.hpp>
#include <libpq-fe.h>
#include <sys/resource.h>

#include <eventstore/eventstore.hpp>
#include <eventstore/postgres.hpp>

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* table = "catchup_events";

double peak_mb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

void report(const std::string& mode, std::uint64_t rows, Clock::time_point start) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::cout << mode << " rows=" << rows << " seconds=" << seconds
              << " rate=" << static_cast<std::uint64_t>(static_cast<double>(rows) / seconds)
              << " peak_rss_mb=" << peak_mb() << '\n';
}

eventstore::Filter matching() {
    return eventstore::build_event_filter().matching().any_event_type_of("Noted").finalize();
}

std::unique_ptr<eventstore::postgres::EventStore> open_store(const std::string& conninfo) {
    return eventstore::postgres::new_event_store_from_pool(eventstore::postgres::ConnectionPool::create(conninfo),
                                                           eventstore::postgres::with_table_name(table));
}

std::uint64_t expected_rows(eventstore::devsupport::PgSession& session) {
    return std::stoull(
        session.scalar(std::string("SELECT count(*) FROM ") + table + " WHERE event_type = 'Noted'").value_or("0"));
}

void setup(const std::string& conninfo, const std::string& events) {
    auto store = open_store(conninfo);
    store->migrate();
    eventstore::devsupport::PgSession session(conninfo);
    // Payloads of about 200 bytes, two tags, an id: the shape of a typical domain event.
    session.exec(std::string("INSERT INTO ") + table +
                     " (occurred_at, event_type, payload, metadata, tags, event_id) "
                     "SELECT now() - (g || ' seconds')::interval, CASE WHEN g % 10 = 0 THEN 'Other' ELSE 'Noted' END, "
                     "jsonb_build_object('book', md5(g::text)::uuid::text, 'reader', md5((g + 1)::text)::uuid::text, "
                     "'title', 'lorem ipsum dolor sit amet consectetur', 'copy', g % 7, 'n', g), "
                     "jsonb_build_object('correlation', md5((g * 3)::text)::uuid::text), "
                     "ARRAY['book:' || (g % 5000), 'reader:' || (g % 777)], md5((g * 7)::text)::uuid "
                     "FROM generate_series(1, $1::bigint) g",
                 {events});
    session.exec(std::string("VACUUM ANALYZE ") + table);
    std::cout
        << "setup: " << events << " events, " << expected_rows(session) << " matching, "
        << session.scalar(std::string("SELECT pg_size_pretty(pg_total_relation_size('") + table + "'))").value_or("")
        << '\n';
}

void copy(const std::string& conninfo) {
    eventstore::devsupport::PgSession session(conninfo);
    const auto start = Clock::now();
    const std::string sql =
        std::string("COPY (SELECT sequence_number, occurred_at, event_type, payload, metadata, tags, "
                    "event_id FROM ") +
        table + " WHERE event_type = 'Noted' ORDER BY sequence_number) TO STDOUT";
    PGresult* begun = PQexec(session.native(), sql.c_str());
    if (PQresultStatus(begun) != PGRES_COPY_OUT) {
        const std::string message = PQerrorMessage(session.native());
        PQclear(begun);
        throw std::runtime_error("COPY failed: " + message);
    }
    PQclear(begun);
    std::uint64_t rows = 0;
    char* buffer = nullptr;
    int length = 0;
    while ((length = PQgetCopyData(session.native(), &buffer, 0)) > 0) {
        ++rows; // libpq returns one row per call
        PQfreemem(buffer);
    }
    PGresult* end = PQgetResult(session.native());
    const bool ok = PQresultStatus(end) == PGRES_COMMAND_OK;
    PQclear(end);
    if (!ok || length != -1) {
        throw std::runtime_error("COPY did not end cleanly");
    }
    report("copy", rows, start);
}

void subscribe(const std::string& conninfo) {
    auto store = open_store(conninfo);
    eventstore::devsupport::PgSession session(conninfo);
    const std::uint64_t expected = expected_rows(session);
    std::stop_source stop;
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
    const auto start = Clock::now();
    store->subscribe(eventstore::Context().with_stop_token(stop.get_token()), matching(), 0,
                     [&](eventstore::StorableEvent&& e) {
                         bytes += e.payload_json.size();
                         if (++rows == expected) {
                             stop.request_stop();
                         }
                     });
    report("subscribe", rows, start);
}

void stream(const std::string& conninfo) {
    auto store = open_store(conninfo);
    std::uint64_t rows = 0;
    std::uint64_t bytes = 0;
    const auto start = Clock::now();
    store->query_stream(eventstore::Context(), matching(), [&](eventstore::StorableEvent&& e) {
        bytes += e.payload_json.size();
        ++rows;
    });
    report("stream", rows, start);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: catch_up <conninfo> setup <events> | copy | subscribe | stream\n";
        return 2;
    }
    try {
        const std::string conninfo = argv[1];
        const std::string mode = argv[2];
        if (mode == "setup" && argc > 3) {
            setup(conninfo, argv[3]);
        } else if (mode == "copy") {
            copy(conninfo);
        } else if (mode == "subscribe") {
            subscribe(conninfo);
        } else if (mode == "stream") {
            stream(conninfo);
        } else {
            std::cerr << "catch_up: unknown mode " << mode << '\n';
            return 2;
        }
    } catch (const std::exception& e) {
        std::cerr << "catch_up: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
