// Uses the installed headers and libraries: builds a filter and creates a pool (which connects lazily,
// so no server is needed).
#include <iostream>
#include <string>

#include <eventstore/eventstore.hpp>
#include <eventstore/postgres.hpp>

int main() {
    const eventstore::Filter filter = eventstore::build_event_filter()
                                          .matching()
                                          .any_event_type_of("CourseDefined", "StudentSubscribed")
                                          .and_any_predicate_of(eventstore::P("course_id", "c1"))
                                          .finalize();
    const auto pool = eventstore::postgres::ConnectionPool::create("host=/nonexistent dbname=none");
    if (filter.items().size() != 1 || pool->open_connections() != 0) {
        std::cerr << "eventstore_consumer: unexpected state\n";
        return 1;
    }
    std::cout << "eventstore_consumer: ok, filter " << filter.hash() << '\n';
    return 0;
}
