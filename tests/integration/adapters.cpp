// The adapter matrix's factories (fixture.hpp, "the adapter matrix"), linked into the test binaries
// declared with ADAPTERS: SOCI over a pool of up to 4 sessions, libpqxx over one connection.

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>

#include <pqxx/connection>
#include <soci/connection-pool.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/session.h>

#include <eventstore/postgres/pqxx.hpp>
#include <eventstore/postgres/soci.hpp>

#include "integration/fixture.hpp"

namespace eventstore::test {
namespace {

// A SOCI pool of `sessions` sessions, each opened with the PostgreSQL backend on `conninfo`.
std::shared_ptr<soci::connection_pool> soci_pool(const std::string& conninfo, std::size_t sessions) {
    auto pool = std::make_shared<soci::connection_pool>(sessions);
    for (std::size_t i = 0; i < sessions; ++i) {
        pool->at(i).open(soci::postgresql, conninfo);
    }
    return pool;
}

const bool registered = [] {
    adapter_factories()["soci"] = [](const std::string& conninfo, std::size_t sessions,
                                     const postgres::StoreOptions& options) {
        // SOCI opens every session of its pool at once (the native pool opens them as needed): at most
        // 4, so that lock stripes stay free for the tests' protocol writers (protocol_writer.hpp).
        auto pool = soci_pool(conninfo, std::min<std::size_t>(sessions, 4));
        auto store = postgres::new_event_store_from_soci(*pool, options);
        return AdapterStore{pool, std::move(store)};
    };
    // libpqxx has no pool: the store runs its calls one at a time on one connection.
    adapter_factories()["pqxx"] = [](const std::string& conninfo, std::size_t /*sessions*/,
                                     const postgres::StoreOptions& options) {
        auto connection = std::make_shared<pqxx::connection>(conninfo);
        auto store = postgres::new_event_store_from_pqxx(*connection, options);
        return AdapterStore{connection, std::move(store)};
    };
    return true;
}();

} // namespace
} // namespace eventstore::test
