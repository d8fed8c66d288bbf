// Streams every event matching a filter with query_stream() and prints how many and the maximum:
// the check behind "a 1M-event rebuild in bounded memory" (docs/performance.md), meant to be run
// under /usr/bin/time -v.
//
//   stream_events --dsn "<conninfo>" [--table events] [--type T ...]
//   (default types: the four book-lending types, 1M events of the 2.5M fixture)

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <eventstore/postgres.hpp>

int main(int argc, char** argv) {
    std::string dsn;
    std::string table = "events";
    std::vector<std::string> types;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--dsn") {
            dsn = argv[i + 1];
        } else if (flag == "--table") {
            table = argv[i + 1];
        } else if (flag == "--type") {
            types.emplace_back(argv[i + 1]);
        } else {
            std::cerr << "usage: stream_events --dsn <conninfo> [--table events] [--type T ...]\n";
            return 2;
        }
    }
    if (types.empty()) {
        types = {"BookCopyAddedToCirculation", "BookCopyLentToReader", "BookCopyReturnedByReader",
                 "BookCopyRemovedFromCirculation"};
    }
    try {
        auto pool = eventstore::postgres::ConnectionPool::create(dsn);
        auto store =
            eventstore::postgres::new_event_store_from_pool(pool, eventstore::postgres::with_table_name(table));
        const auto filter = eventstore::build_event_filter().matching().any_event_type_of(types).finalize();
        std::size_t count = 0;
        std::size_t payload_bytes = 0;
        const auto start = std::chrono::steady_clock::now();
        const auto max = store->query_stream({}, filter, [&](eventstore::StorableEvent&& e) {
            ++count;
            payload_bytes += e.payload_json.size();
        });
        const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
        std::printf("streamed %zu events (%.1f MB of payload) up to sequence number %llu in %.2f s (%.0f events/s)\n",
                    count, static_cast<double>(payload_bytes) / 1e6, static_cast<unsigned long long>(max), took.count(),
                    static_cast<double>(count) / took.count());
    } catch (const std::exception& e) {
        std::cerr << "stream_events: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
