#ifndef EVENTSTORE_TESTS_SUPPORT_PGBOUNCER_HPP
#define EVENTSTORE_TESTS_SUPPORT_PGBOUNCER_HPP

// A throwaway PgBouncer in front of a test server, the way production puts one in front of PostgreSQL.
//
// Debian's pgbouncer (/usr/sbin/pgbouncer, or EVENTSTORE_PGBOUNCER) runs in a fresh folder under /tmp
// that holds its configuration, log and unix socket (no TCP port), as the postgres user when we are
// root. Every database of the upstream server is reachable through it (a wildcard entry), as user
// postgres without a password. It is stopped and the folder removed when the object is destroyed,
// and also when the test process dies without doing so (a watchdog process notices that).
//
// In a test:
//     PgBouncer bouncer(postgres().conninfo(), {.pool_size = 2});
//     auto pool = ConnectionPool::create(bouncer.through(test_database()), options);
// The process-wide one, in front of postgres(), is pgbouncer(): the adapter matrix's "pgbouncer" round
// (fixture.hpp) sends every store of a test through it.

#include <memory>
#include <string>
#include <string_view>

namespace eventstore::test {

struct PgBouncerOptions {
    // pool_mode: "transaction" (the one that shares server sessions between clients), "session".
    std::string pool_mode = "transaction";
    // Server connections per database and user (default_pool_size): fewer than the clients, so that
    // clients take turns on them.
    int pool_size = 4;
};

class PgBouncer {
public:
    // Starts PgBouncer in front of the server `upstream` names (a unix socket directory and port in
    // key=value form) and returns once it accepts connections. Throws std::runtime_error (with its
    // log's tail) when it cannot.
    explicit PgBouncer(std::string_view upstream, const PgBouncerOptions& options = {});
    ~PgBouncer();
    PgBouncer(const PgBouncer&) = delete;
    PgBouncer& operator=(const PgBouncer&) = delete;

    // `conninfo` of a database on the upstream server, reaching it through PgBouncer instead.
    [[nodiscard]] std::string through(std::string_view conninfo) const;
    // PgBouncer's admin console (SHOW POOLS, SHOW SERVERS, ...).
    [[nodiscard]] std::string admin_conninfo() const;

    class Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

// The process-wide PgBouncer in front of postgres(), started on first use (thread-safe) and stopped
// with the server.
PgBouncer& pgbouncer();

} // namespace eventstore::test

#endif
