#include "support/postgres_server.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devsupport/pg_session.hpp"
#include "devsupport/sql_names.hpp"
#include "support/process.hpp"

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX leaves its declaration to us

namespace eventstore::test {

using devsupport::PgSession;
using devsupport::quote_identifier;

using process::append_lines;
using process::as_server_user;
using process::env;
using process::env_flag;
using process::is_executable;
using process::join;
using process::quote_conninfo_value;
using process::run;
using process::running_as_root;
using process::server_user;
using process::spawn;
using process::SpawnOptions;
using process::tail_of;
using process::wait_for;

namespace {

constexpr int default_port = 5432;

std::string find_bindir() {
    if (auto dir = env("EVENTSTORE_PG_BINDIR"); dir && !dir->empty()) {
        return *dir;
    }
    if (is_executable("/usr/lib/postgresql/15/bin/initdb")) {
        return "/usr/lib/postgresql/15/bin";
    }
    return ""; // rely on PATH
}

std::string bin(const std::string& bindir, const char* program) {
    return bindir.empty() ? std::string(program) : bindir + "/" + program;
}

std::string make_conninfo(const std::string& host, int port, std::string_view dbname) {
    return "host=" + quote_conninfo_value(host) + " port=" + std::to_string(port) + " user=" + server_user +
           " dbname=" + quote_conninfo_value(dbname);
}

void check_database_name(std::string_view name) {
    if (name.empty() || name.size() > 63) {
        throw std::invalid_argument("database name must have 1 to 63 characters: " + std::string(name));
    }
    for (const char c : name) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) {
            throw std::invalid_argument("database name may hold letters, digits and '_' only: " + std::string(name));
        }
    }
}

// The conninfo the shared cluster of this ctest run left for us, if there is one.
std::optional<std::string> shared_server_conninfo() {
    const auto dir = env("EVENTSTORE_TEST_SHARED_SERVER_DIR");
    if (!dir || dir->empty()) {
        return std::nullopt;
    }
    std::ifstream in(shared_server_conninfo_file(*dir, static_cast<long>(::getppid())));
    std::string conninfo;
    if (!std::getline(in, conninfo) || conninfo.empty()) {
        return std::nullopt;
    }
    return conninfo;
}

// Stops every cluster under the folder (pg_ctl -m immediate) and removes the folder once its standard
// input reaches end of file: when the owner closes the pipe, or dies.
constexpr const char* watchdog_script = R"sh(
trap '' INT TERM HUP
cat >/dev/null
for pidfile in "$1"/*/postmaster.pid; do
    [ -f "$pidfile" ] || continue
    if [ "$4" = root ]; then
        runuser -u postgres -- "$3" -D "${pidfile%/postmaster.pid}" -m immediate -s stop
    else
        "$3" -D "${pidfile%/postmaster.pid}" -m immediate -s stop
    fi
done >/dev/null 2>&1
[ "$2" = 1 ] || rm -rf "$1"
)sh";

} // namespace

class PostgresServer::Impl {
public:
    explicit Impl(const ServerOptions& options) {
        if (auto external = env("EVENTSTORE_TEST_CONNINFO"); external && !external->empty() && !options.own_cluster) {
            m_external = true;
            m_conninfo = *external;
            return;
        }
        if (auto shared = shared_server_conninfo(); shared && !options.own_cluster) {
            m_external = true;
            m_conninfo = *shared;
            return;
        }
        m_bindir = find_bindir();
        m_fast = env_flag("EVENTSTORE_PG_FAST", true);
        m_crash_safe = options.crash_safe;
        m_keep = env_flag("EVENTSTORE_TEST_KEEP_CLUSTER", false);
        create_directory();
        start_watchdog();
        try {
            start_primary();
        } catch (...) {
            stop_watchdog(); // stops whatever did start and removes the folder
            throw;
        }
    }

    ~Impl() {
        if (m_external) {
            drop_created_databases();
            return;
        }
        stop_watchdog();
    }

    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    void start_primary() {
        initialise_data(m_dir + "/data");
        std::vector<std::string> settings = {
            "listen_addresses = ''",
            "unix_socket_directories = '" + m_dir + "'",
            "port = " + std::to_string(m_port),
            "max_connections = 200",
            "max_locks_per_transaction = 256",
            "wal_level = replica",
            "max_wal_senders = 10",
            "max_replication_slots = 10",
        };
        if (m_crash_safe) {
            // A start after a crash syncs the data folder first: one syncfs() instead of an fsync() of
            // every file, which takes seconds.
            settings.emplace_back("recovery_init_sync_method = syncfs");
        } else if (m_fast) {
            settings.insert(settings.end(), {"fsync = off", "synchronous_commit = off", "full_page_writes = off"});
        }
        append_lines(m_dir + "/data/postgresql.conf", settings);
        start_cluster(m_dir + "/data", m_dir + "/server.log");
        m_conninfo = make_conninfo(m_dir, m_port, "postgres");
    }

    std::string create_database(std::string_view name) {
        check_database_name(name);
        PgSession session(m_conninfo);
        const std::string quoted = quote_identifier(name);
        session.exec("DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)");
        session.exec("CREATE DATABASE " + quoted + " TEMPLATE template0 ENCODING 'UTF8'");
        if (m_external) {
            const std::lock_guard lock(m_mutex);
            m_created_databases.emplace_back(name);
        }
        return with_dbname(m_conninfo, name);
    }

    std::string fresh_database(std::string_view prefix) {
        unsigned number = 0;
        {
            const std::lock_guard lock(m_mutex);
            number = ++m_database_counter;
        }
        return create_database(std::string(prefix) + "_" + std::to_string(::getpid()) + "_" + std::to_string(number));
    }

    std::string start_replica(std::string_view dbname) {
        if (m_external) {
            auto replica = env("EVENTSTORE_TEST_REPLICA_CONNINFO");
            if (!replica || replica->empty()) {
                throw std::runtime_error("start_replica: EVENTSTORE_TEST_CONNINFO is set but "
                                         "EVENTSTORE_TEST_REPLICA_CONNINFO is not");
            }
            return with_dbname(*replica, dbname);
        }
        const std::lock_guard lock(m_mutex);
        const int number = ++m_replica_counter;
        const int port = m_port + number;
        const std::string data = m_dir + "/replica" + std::to_string(number);
        const std::string log = m_dir + "/commands.log";
        const std::vector<std::string> basebackup = as_server_user(
            {bin(m_bindir, "pg_basebackup"), "-h", m_dir, "-p", std::to_string(m_port), "-U", server_user, "-D", data,
             "-R", "-X", "stream", "-c", "fast", "-N", "-C", "-S", "replica_" + std::to_string(number)});
        if (run(basebackup, log) != 0) {
            throw std::runtime_error("pg_basebackup failed:\n" + tail_of(log));
        }
        append_lines(data + "/postgresql.conf", {"port = " + std::to_string(port), "hot_standby = on"});
        start_cluster(data, m_dir + "/replica" + std::to_string(number) + ".log");
        return make_conninfo(m_dir, port, dbname);
    }

    void crash(CrashKind kind) {
        check_own_cluster("crash");
        const std::lock_guard lock(m_mutex);
        const std::string data = m_dir + "/data";
        const pid_t postmaster = postmaster_pid(data);
        if (postmaster <= 0 || process_state(postmaster) <= 0) {
            throw std::runtime_error("crash: the server of " + data + " is not running");
        }
        switch (kind) {
        case CrashKind::kill_all:
            kill_all(data, postmaster);
            break;
        case CrashKind::immediate_shutdown: {
            const std::string log = m_dir + "/commands.log";
            const std::vector<std::string> stop = as_server_user(
                {bin(m_bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "-t", "60", "-s", "stop"});
            if (run(stop, log) != 0) {
                throw std::runtime_error("could not stop PostgreSQL (" + join(stop) + "):\n" + tail_of(log));
            }
            break;
        }
        case CrashKind::kill_backend: {
            std::vector<pid_t> clients;
            for (const pid_t child : children_of(postmaster)) {
                // Backends serving a client over the socket are titled "postgres: <user> <db> [local] ...".
                if (command_line(child).find("[local]") != std::string::npos) {
                    clients.push_back(child);
                }
            }
            if (clients.empty()) {
                throw std::runtime_error("crash: no backend serves a client");
            }
            ::kill(clients.front(), SIGKILL);
            wait_until_dead({clients.front()});
            break;
        }
        }
    }

    void restart() {
        check_own_cluster("restart");
        const std::lock_guard lock(m_mutex);
        const std::string data = m_dir + "/data";
        const std::string log = m_dir + "/commands.log";
        if (const pid_t postmaster = postmaster_pid(data); postmaster > 0 && process_state(postmaster) > 0) {
            const std::vector<std::string> stop =
                as_server_user({bin(m_bindir, "pg_ctl"), "-D", data, "-m", "fast", "-w", "-t", "60", "-s", "stop"});
            if (run(stop, log) != 0) {
                throw std::runtime_error("could not stop PostgreSQL (" + join(stop) + "):\n" + tail_of(log));
            }
        }
        start_cluster(data, m_dir + "/server.log");
    }

    std::string m_conninfo;
    std::string m_dir;
    int m_port = default_port;
    bool m_external = false;

private:
    void kill_all(const std::string& data, pid_t postmaster) const {
        // Stopped, the postmaster forks no new backend while we collect its children, and cannot react
        // to their deaths (a crash restart of its own) before it dies too.
        if (::kill(postmaster, SIGSTOP) != 0) {
            throw std::runtime_error("crash: cannot signal the postmaster: " + std::string(std::strerror(errno)));
        }
        std::vector<pid_t> processes = children_of(postmaster);
        for (const pid_t child : processes) {
            ::kill(child, SIGKILL);
        }
        ::kill(postmaster, SIGKILL);
        processes.push_back(postmaster);
        wait_until_dead(processes);
        // The postmaster's new parent (init) may take seconds to reap it. Until then its pid exists, and
        // the lock files naming it would make the next postmaster refuse to start: they are stale.
        if (process_state(postmaster) == 0) {
            ::unlink((data + "/postmaster.pid").c_str());
            ::unlink((m_dir + "/.s.PGSQL." + std::to_string(m_port) + ".lock").c_str());
        }
    }

    static void wait_until_dead(const std::vector<pid_t>& processes) {
        const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::any_of(processes.begin(), processes.end(), [](pid_t pid) { return process_state(pid) > 0; })) {
            if (std::chrono::steady_clock::now() > limit) {
                throw std::runtime_error("crash: the server's processes did not die within 10 s");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

    // The process's title: its command line, arguments joined by spaces.
    static std::string command_line(pid_t pid) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
        std::string text;
        for (std::string argument; std::getline(in, argument, '\0');) {
            text += argument + ' ';
        }
        return text;
    }

    void check_own_cluster(const char* what) const {
        if (m_external) {
            throw std::logic_error(std::string(what) +
                                   ": the server is not this process's own cluster (use ServerOptions::own_cluster)");
        }
    }

    // The postmaster's pid from the first line of its lock file, or 0.
    static pid_t postmaster_pid(const std::string& data) {
        std::ifstream in(data + "/postmaster.pid");
        long pid = 0;
        if (!(in >> pid)) {
            return 0;
        }
        return static_cast<pid_t>(pid);
    }

    // 1: running (or stopped), 0: dead but not yet reaped (a zombie), -1: gone.
    static int process_state(pid_t pid) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
        std::string stat;
        if (!std::getline(in, stat)) {
            return -1;
        }
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, the last ')' ends it.
        const auto end = stat.rfind(')');
        if (end == std::string::npos || end + 2 >= stat.size()) {
            return -1;
        }
        const char state = stat[end + 2];
        return state == 'Z' || state == 'X' ? 0 : 1;
    }

    // The processes whose parent is `parent`, from /proc.
    static std::vector<pid_t> children_of(pid_t parent) {
        std::vector<pid_t> children;
        DIR* proc = ::opendir("/proc");
        if (proc == nullptr) {
            throw std::runtime_error("cannot list /proc: " + std::string(std::strerror(errno)));
        }
        // NOLINTNEXTLINE(concurrency-mt-unsafe): this stream is ours alone
        while (const dirent* entry = ::readdir(proc)) {
            char* end = nullptr;
            const long pid = std::strtol(entry->d_name, &end, 10);
            if (pid <= 0 || *end != '\0') {
                continue;
            }
            std::ifstream in(std::string("/proc/") + entry->d_name + "/stat");
            std::string stat;
            if (!std::getline(in, stat)) {
                continue;
            }
            const auto close = stat.rfind(')');
            if (close == std::string::npos) {
                continue;
            }
            std::istringstream fields(stat.substr(close + 1));
            char state = 0;
            long ppid = 0;
            if (fields >> state >> ppid && ppid == parent) {
                children.push_back(static_cast<pid_t>(pid));
            }
        }
        ::closedir(proc);
        return children;
    }

    void create_directory() {
        std::string pattern = "/tmp/eventstore-pg.XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error(std::string("mkdtemp failed: ") + std::strerror(errno));
        }
        m_dir = pattern;
        if (running_as_root()) {
            const passwd* user = ::getpwnam(server_user); // NOLINT(concurrency-mt-unsafe): under postgres()'s lock
            if (user == nullptr) {
                ::rmdir(m_dir.c_str());
                throw std::runtime_error("running as root, but there is no user 'postgres' to run the server "
                                         "(install postgresql-15)");
            }
            m_server_uid = user->pw_uid;
            if (::chown(m_dir.c_str(), user->pw_uid, user->pw_gid) != 0) {
                const std::string reason = std::strerror(errno);
                ::rmdir(m_dir.c_str());
                throw std::runtime_error("chown " + m_dir + ": " + reason);
            }
        } else {
            m_server_uid = ::geteuid();
        }
    }

    void start_watchdog() {
        std::array<int, 2> fds{-1, -1};
        if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
            const std::string reason = std::strerror(errno);
            ::rmdir(m_dir.c_str());
            throw std::runtime_error("pipe2: " + reason);
        }
        SpawnOptions options;
        options.stdin_fd = fds[0];
        options.new_session = true;
        try {
            m_watchdog = spawn({"/bin/sh", "-c", watchdog_script, "eventstore-pg-watchdog", m_dir, m_keep ? "1" : "0",
                                bin(m_bindir, "pg_ctl"), running_as_root() ? "root" : "user"},
                               options);
        } catch (...) {
            ::close(fds[0]);
            ::close(fds[1]);
            ::rmdir(m_dir.c_str());
            throw;
        }
        ::close(fds[0]);
        m_watchdog_fd = fds[1];
    }

    void stop_watchdog() noexcept {
        if (m_watchdog_fd >= 0) {
            ::close(m_watchdog_fd);
            m_watchdog_fd = -1;
        }
        if (m_watchdog > 0) {
            wait_for(m_watchdog);
            m_watchdog = -1;
            if (m_keep) {
                std::cerr << "eventstore test support: kept PostgreSQL folder " << m_dir << '\n';
            }
        }
    }

    // A cached copy of a fresh initdb result, shared by the test processes of this user and server
    // build: copying it takes a quarter of initdb's time.
    [[nodiscard]] std::string template_path() const {
        struct stat st {};
        if (::stat(bin(m_bindir, "postgres").c_str(), &st) != 0) {
            return "";
        }
        return "/tmp/eventstore-pg-template-v1-" + std::to_string(m_server_uid) + "-" + std::to_string(st.st_size) +
               "-" + std::to_string(st.st_mtim.tv_sec);
    }

    [[nodiscard]] bool template_usable(const std::string& path) const {
        struct stat st {};
        if (path.empty() || ::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != m_server_uid) {
            return false;
        }
        return ::access((path + "/PG_VERSION").c_str(), F_OK) == 0 &&
               ::access((path + "/postgresql.conf").c_str(), F_OK) == 0;
    }

    void initialise_data(const std::string& data) {
        const std::string log = m_dir + "/commands.log";
        const bool use_template = env_flag("EVENTSTORE_TEST_PG_TEMPLATE", true);
        const std::string cached = use_template ? template_path() : "";
        if (!cached.empty() && template_usable(cached)) {
            if (run({"cp", "-a", cached, data}, log) == 0) {
                return;
            }
            run({"rm", "-rf", data}, log);
        }
        const std::vector<std::string> initdb =
            as_server_user({bin(m_bindir, "initdb"), "-D", data, "-U", server_user, "-A", "trust", "-E", "UTF8",
                            "--locale=C.UTF-8", "--no-sync"});
        if (run(initdb, log) != 0) {
            throw std::runtime_error("initdb failed (" + join(initdb) + "):\n" + tail_of(log));
        }
        if (!cached.empty()) {
            // Publish a copy atomically; whoever renames first wins, the others' copies go with m_dir.
            const std::string staging = m_dir + "/template";
            if (run({"cp", "-a", data, staging}, log) == 0) {
                ::rename(staging.c_str(), cached.c_str());
            }
        }
    }

    void start_cluster(const std::string& data, const std::string& server_log) {
        const std::string log = m_dir + "/commands.log";
        const std::vector<std::string> pg_ctl =
            as_server_user({bin(m_bindir, "pg_ctl"), "-D", data, "-l", server_log, "-w", "-t", "60", "-s", "start"});
        if (run(pg_ctl, log) != 0) {
            throw std::runtime_error("could not start PostgreSQL (" + join(pg_ctl) + "):\n" + tail_of(log) + "\n--- " +
                                     server_log + " ---\n" + tail_of(server_log));
        }
    }

    void drop_created_databases() noexcept {
        if (m_created_databases.empty()) {
            return;
        }
        try {
            PgSession session(m_conninfo);
            for (const auto& name : m_created_databases) {
                session.exec("DROP DATABASE IF EXISTS " + quote_identifier(name) + " WITH (FORCE)");
            }
        } catch (const std::exception& e) {
            std::cerr << "eventstore test support: could not drop test databases: " << e.what() << '\n';
        }
    }

    std::string m_bindir;
    bool m_fast = true;
    bool m_crash_safe = false;
    bool m_keep = false;
    uid_t m_server_uid = 0;
    pid_t m_watchdog = -1;
    int m_watchdog_fd = -1;
    std::mutex m_mutex;
    int m_replica_counter = 0;
    unsigned m_database_counter = 0;
    std::vector<std::string> m_created_databases;
};

PostgresServer::PostgresServer() : PostgresServer(ServerOptions{}) {}
PostgresServer::PostgresServer(const ServerOptions& options) : m_impl(std::make_unique<Impl>(options)) {}
PostgresServer::~PostgresServer() = default;

const std::string& PostgresServer::conninfo() const noexcept { return m_impl->m_conninfo; }
bool PostgresServer::is_external() const noexcept { return m_impl->m_external; }
const std::string& PostgresServer::directory() const noexcept { return m_impl->m_dir; }
int PostgresServer::port() const noexcept { return m_impl->m_external ? 0 : m_impl->m_port; }

std::string PostgresServer::create_database(std::string_view name) { return m_impl->create_database(name); }
std::string PostgresServer::fresh_database(std::string_view prefix) { return m_impl->fresh_database(prefix); }
std::string PostgresServer::start_replica(std::string_view dbname) { return m_impl->start_replica(dbname); }
void PostgresServer::crash(CrashKind kind) { m_impl->crash(kind); }
void PostgresServer::restart() { m_impl->restart(); }

std::string shared_server_conninfo_file(const std::string& dir, long ctest) {
    return dir + "/ctest-" + std::to_string(ctest) + ".conninfo";
}

std::string with_dbname(std::string_view conninfo, std::string_view dbname) {
    std::string result;
    for (const auto& [keyword, value] : process::conninfo_values(conninfo)) {
        if (keyword != "dbname") {
            result += keyword + "=" + quote_conninfo_value(value) + " ";
        }
    }
    return result + "dbname=" + quote_conninfo_value(dbname);
}

namespace {

struct ProcessServer {
    std::mutex mutex;
    std::unique_ptr<PostgresServer> server;
    std::optional<std::string> failure;
    std::optional<std::string> test_database;
};

ProcessServer& process_server() {
    static ProcessServer instance;
    return instance;
}

std::string program_name() {
    std::ifstream comm("/proc/self/comm");
    std::string name;
    std::getline(comm, name);
    std::string cleaned;
    for (const char c : name) {
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
            cleaned += c;
        } else if (c >= 'A' && c <= 'Z') {
            cleaned += static_cast<char>(c - 'A' + 'a');
        } else {
            cleaned += '_';
        }
    }
    return cleaned.empty() ? std::string("test") : cleaned.substr(0, 40);
}

class PostgresEnvironment : public ::testing::Environment {
public:
    void TearDown() override { shutdown_postgres(); }
};

// Registered while the test binary starts, so that the server is stopped when the run ends.
[[maybe_unused]] ::testing::Environment* const postgres_environment =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment); // gtest owns it

} // namespace

PostgresServer& postgres() {
    ProcessServer& state = process_server();
    const std::lock_guard lock(state.mutex);
    if (state.server) {
        return *state.server;
    }
    if (state.failure) {
        throw std::runtime_error(*state.failure);
    }
    try {
        state.server = std::make_unique<PostgresServer>();
    } catch (const std::exception& e) {
        state.failure = std::string("could not start the test PostgreSQL server: ") + e.what();
        throw std::runtime_error(*state.failure);
    }
    return *state.server;
}

std::string test_database() {
    PostgresServer& server = postgres();
    ProcessServer& state = process_server();
    const std::lock_guard lock(state.mutex);
    if (!state.test_database) {
        state.test_database = server.create_database("es_" + program_name() + "_" + std::to_string(::getpid()));
    }
    return *state.test_database;
}

void shutdown_postgres() {
    ProcessServer& state = process_server();
    const std::lock_guard lock(state.mutex);
    state.test_database.reset();
    state.server.reset();
}

} // namespace eventstore::test
