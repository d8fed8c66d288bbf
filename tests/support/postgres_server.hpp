#ifndef EVENTSTORE_TESTS_SUPPORT_POSTGRES_SERVER_HPP
#define EVENTSTORE_TESTS_SUPPORT_POSTGRES_SERVER_HPP

// The PostgreSQL server of a test binary.
//
// Unless EVENTSTORE_TEST_CONNINFO is set, a throwaway PostgreSQL 15 cluster is started in a fresh
// folder under /tmp (initdb -A trust -E UTF8, through `runuser -u postgres` when running as root),
// listening on a unix socket in that folder only (listen_addresses = '', so no TCP port and no clash
// between test binaries running in parallel). It is stopped (pg_ctl -m immediate) and the folder
// removed when the server object is destroyed, and also if the test process dies without doing so
// (a watchdog process notices that).
//
// In a test, use the process-wide server:
//     PgSession db(eventstore::test::test_database());      // this process's own fresh database
//     auto pool = ConnectionPool::create(eventstore::test::test_database());
// postgres() starts the server on first use; a failure to start throws, which fails the test
// (never skips it). The server is stopped by a GoogleTest environment at the end of the run.
//
// Under ctest, most test binaries share one cluster per ctest run (the fixture "shared_postgres" of
// tests/CMakeLists.txt, started by support/shared_postgres.cpp): their processes find it through
// EVENTSTORE_TEST_SHARED_SERVER_DIR and use it like an external server, each in a database of its own.
//
// Environment variables:
//   EVENTSTORE_TEST_CONNINFO          use this server instead of starting one (databases created
//                                     through this class are dropped at the end)
//   EVENTSTORE_TEST_SHARED_SERVER_DIR set by ctest: where the shared cluster of this ctest run (the
//                                     parent process) left its conninfo; without that file, a
//                                     cluster of our own is started
//   EVENTSTORE_TEST_SHARED_SERVER=0   ctest starts no shared cluster (every process starts its own)
//   EVENTSTORE_TEST_REPLICA_CONNINFO  with EVENTSTORE_TEST_CONNINFO: what start_replica() returns
//   EVENTSTORE_PG_FAST                "0": durable settings; default: fsync, synchronous_commit and
//                                     full_page_writes off (nothing survives the test anyway)
//   EVENTSTORE_PG_BINDIR              server binaries (default /usr/lib/postgresql/15/bin, else PATH)
//   EVENTSTORE_TEST_KEEP_CLUSTER=1    keep the folder (server logs) after stopping
//   EVENTSTORE_TEST_PG_TEMPLATE=0     always run initdb instead of copying a cached initdb result
//
// A test that kills or restarts the server makes a PostgresServer of its own (ServerOptions::own_cluster)
// and calls crash() and restart() on it.

#include <memory>
#include <string>
#include <string_view>

namespace eventstore::test {

// How PostgresServer::crash() brings the server down.
enum class CrashKind {
    // SIGKILL to every process of the cluster at once: no process says anything, connections drop. The
    // cluster stays down until restart().
    kill_all,
    // pg_ctl stop -m immediate: every backend is told to quit at once (SIGQUIT) and tells its client so
    // (SQLSTATE 57P01) if it can; no checkpoint. The cluster stays down until restart().
    immediate_shutdown,
    // SIGKILL to one backend serving a client (the busiest kind of crash a server survives by itself):
    // the postmaster ends every other backend (57P02 to their clients), recovers from its WAL and accepts
    // connections again without restart().
    kill_backend,
};

struct ServerOptions {
    // Start a throwaway cluster even when EVENTSTORE_TEST_CONNINFO or the shared cluster is there: the
    // test kills or restarts it.
    bool own_cluster = false;
    // PostgreSQL's own durability settings (fsync, synchronous_commit and full_page_writes on) whatever
    // EVENTSTORE_PG_FAST says, for a test that kills the server: with synchronous_commit off it
    // acknowledges commits a crash loses.
    bool crash_safe = false;
};

class PostgresServer {
public:
    // Starts a throwaway cluster, or attaches to EVENTSTORE_TEST_CONNINFO. Throws std::runtime_error
    // (with the server log's tail) when the cluster cannot be started.
    PostgresServer();
    explicit PostgresServer(const ServerOptions& options);
    ~PostgresServer();
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    // "host=<socket dir> port=<port> user=postgres dbname=postgres" (or EVENTSTORE_TEST_CONNINFO).
    [[nodiscard]] const std::string& conninfo() const noexcept;
    // True when attached to EVENTSTORE_TEST_CONNINFO or the shared cluster rather than running a
    // cluster of our own.
    [[nodiscard]] bool is_external() const noexcept;
    // The cluster's folder, which is also its socket directory ("" when external).
    [[nodiscard]] const std::string& directory() const noexcept;
    [[nodiscard]] int port() const noexcept;

    // (Re)creates database `name` (dropping an existing one, with its connections) and returns a
    // conninfo for it. Names are letters, digits and '_' only.
    std::string create_database(std::string_view name);
    // Creates a database with a name unique to this process and call, returns its conninfo.
    std::string fresh_database(std::string_view prefix = "es");

    // Starts a streaming hot standby of this cluster (pg_basebackup -R -X stream, with a physical
    // replication slot) on the same socket directory and the next free port, and returns its
    // conninfo for `dbname`. It is stopped with the primary. Each call makes another replica.
    // External servers: returns EVENTSTORE_TEST_REPLICA_CONNINFO, or throws when unset.
    std::string start_replica(std::string_view dbname = "postgres");

    // Crashes the primary (CrashKind says how) and returns once the processes it killed are gone.
    // Throws std::logic_error on an external server, std::runtime_error when it cannot.
    void crash(CrashKind kind = CrashKind::kill_all);
    // Starts the primary again, stopping it first (pg_ctl stop -m fast) if it runs, and returns once it
    // accepts connections. After crash() the server first recovers from its WAL. Same socket and port,
    // so conninfos stay valid. Replicas are left alone. Throws as the constructor does.
    void restart();

    class Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

// The process-wide server, started on first use (thread-safe). When starting fails, every call
// throws the same error again without retrying.
PostgresServer& postgres();

// This process's own database on postgres(): created on first use (named after the binary and the
// process id, so parallel test processes sharing an external server do not meet), then reused.
std::string test_database();

// Stops the process-wide server now (also done by the GoogleTest environment at the end of the run).
void shutdown_postgres();

// Where the shared cluster of the ctest process `ctest` writes its conninfo, under `dir`.
std::string shared_server_conninfo_file(const std::string& dir, long ctest);

// `conninfo` (key=value or URI form) with its database replaced by `dbname`, in key=value form.
std::string with_dbname(std::string_view conninfo, std::string_view dbname);

} // namespace eventstore::test

#endif
