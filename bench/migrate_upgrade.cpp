// Runs migrate() once on a store's table and prints how long it took: the timed step of
// bench/migrate_upgrade.sh, which upgrades a table of the Go library's layout in place while a writer
// and a reader keep going.
//
//   migrate_upgrade "host=/path/to/socket/dir dbname=postgres" [table]

#include <chrono>
#include <exception>
#include <iostream>
#include <string>

#include <eventstore/postgres.hpp>

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: migrate_upgrade <conninfo> [table]\n";
        return 2;
    }
    try {
        auto pool = eventstore::postgres::ConnectionPool::create(argv[1]);
        auto store = eventstore::postgres::new_event_store_from_pool(
            pool, eventstore::postgres::with_table_name(argc > 2 ? argv[2] : "events"));
        const auto start = std::chrono::steady_clock::now();
        store->migrate();
        std::cout << "migrate() took "
                  << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s\n";
    } catch (const std::exception& e) {
        std::cerr << "migrate_upgrade: " << e.what() << '\n';
        return 1;
    }
    return 0;
}
