// Uses the installed headers and libraries: builds a filter, creates a pool (which connects lazily,
// so no server is needed), and appends to and reads from the in-memory store.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include <pqxx/connection>
#include <soci/session.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <eventstore/eventstore.hpp>
#include <eventstore/memory.hpp>
#include <eventstore/postgres.hpp>
#include <eventstore/postgres/pqxx.hpp>
#include <eventstore/postgres/soci.hpp>
#include <eventstore/prometheus.hpp>
#include <eventstore/spdlog.hpp>

int main() {
    const eventstore::Filter filter = eventstore::build_event_filter()
                                          .matching()
                                          .any_event_type_of("CourseDefined", "StudentSubscribed")
                                          .and_any_predicate_of(eventstore::P("course_id", "c1"))
                                          .finalize();
    const auto pool = eventstore::postgres::ConnectionPool::create("host=/nonexistent dbname=none");
    const auto memory = eventstore::memory::new_event_store();
    // The adapters: a metrics page and a logger, as a user of the package plugs them in.
    const auto metrics = std::make_shared<eventstore::prometheus::Collector>();
    metrics->increment_counter("eventstore_query_method_calls_total", {{"operation", "query"}});
    const auto logger = eventstore::make_spdlog_logger(
        std::make_shared<spdlog::logger>("consumer", std::make_shared<spdlog::sinks::null_sink_mt>()));
    logger->info(eventstore::Context(), "consumer", {{"k", "v"}});
    // The SOCI adapter links through the package: a session that is not open is refused by name.
    bool soci_refused = false;
    try {
        soci::session closed;
        (void)eventstore::postgres::new_event_store_from_soci(closed);
    } catch (const eventstore::Error& e) {
        soci_refused = e.is(eventstore::Errc::nil_database_connection);
    }
    // And the libpqxx adapter, over a lazy connection: nothing is opened until a call needs it.
    pqxx::lazyconnection lazy("host=/nonexistent dbname=none");
    const bool pqxx_made = eventstore::postgres::new_event_store_from_pqxx(lazy) != nullptr && !lazy.is_open();
    const auto appended =
        memory->append(filter, 0,
                       eventstore::build_storable_event_with_empty_metadata(
                           "CourseDefined", std::chrono::system_clock::now(), R"({"course_id":"c1"})"));
    if (!soci_refused || !pqxx_made || filter.items().size() != 1 || pool->open_connections() != 0 ||
        appended.last_sequence_number != 1 || memory->query(filter).max_sequence_number != 1 ||
        metrics->exposition().find("eventstore_query_method_calls_total{operation=\"query\"} 1") == std::string::npos) {
        std::cerr << "eventstore_consumer: unexpected state\n";
        return 1;
    }
    std::cout << "eventstore_consumer: ok, filter " << filter.hash() << '\n';
    return 0;
}
