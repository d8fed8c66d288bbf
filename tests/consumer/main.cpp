// Uses the installed headers and libraries: builds a filter, creates a pool (which connects lazily,
// so no server is needed), and appends to and reads from the in-memory store.
#include <chrono>
#include <iostream>
#include <string>

#include <eventstore/eventstore.hpp>
#include <eventstore/memory.hpp>
#include <eventstore/postgres.hpp>

int main() {
    const eventstore::Filter filter = eventstore::build_event_filter()
                                          .matching()
                                          .any_event_type_of("CourseDefined", "StudentSubscribed")
                                          .and_any_predicate_of(eventstore::P("course_id", "c1"))
                                          .finalize();
    const auto pool = eventstore::postgres::ConnectionPool::create("host=/nonexistent dbname=none");
    const auto memory = eventstore::memory::new_event_store();
    const auto appended =
        memory->append(filter, 0,
                       eventstore::build_storable_event_with_empty_metadata(
                           "CourseDefined", std::chrono::system_clock::now(), R"({"course_id":"c1"})"));
    if (filter.items().size() != 1 || pool->open_connections() != 0 || appended.last_sequence_number != 1 ||
        memory->query(filter).max_sequence_number != 1) {
        std::cerr << "eventstore_consumer: unexpected state\n";
        return 1;
    }
    std::cout << "eventstore_consumer: ok, filter " << filter.hash() << '\n';
    return 0;
}
