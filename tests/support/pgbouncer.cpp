#include "support/pgbouncer.hpp"

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/postgres_server.hpp"
#include "support/process.hpp"

namespace eventstore::test {

namespace {

// Only names the socket file (.s.PGSQL.6432) in PgBouncer's own folder: no TCP port is opened.
constexpr int listen_port = 6432;

// Ends PgBouncer and removes the folder once its standard input reaches end of file: when the owner
// closes the pipe, or dies.
constexpr const char* watchdog_script = R"sh(
trap '' INT TERM HUP
cat >/dev/null
[ -f "$1/pgbouncer.pid" ] && kill -TERM "$(cat "$1/pgbouncer.pid")" 2>/dev/null
sleep 0.2
rm -rf "$1"
)sh";

std::string value_of(const std::vector<std::pair<std::string, std::string>>& values, std::string_view key,
                     std::string fallback) {
    for (const auto& [k, v] : values) {
        if (k == key) {
            return v;
        }
    }
    return fallback;
}

} // namespace

class PgBouncer::Impl {
public:
    Impl(std::string_view upstream, const PgBouncerOptions& options) {
        const auto values = process::conninfo_values(upstream);
        const std::string host = value_of(values, "host", "/var/run/postgresql");
        const std::string port = value_of(values, "port", "5432");
        if (!host.starts_with('/')) {
            throw std::invalid_argument("PgBouncer in the tests goes in front of a unix socket; got host=" + host);
        }
        create_directory();
        start_watchdog();
        try {
            write_configuration(host, port, options);
            start();
        } catch (...) {
            stop();
            throw;
        }
    }

    ~Impl() { stop(); }
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    [[nodiscard]] std::string through(std::string_view conninfo) const {
        std::string result = "host=" + process::quote_conninfo_value(m_dir) + " port=" + std::to_string(listen_port);
        for (const auto& [key, value] : process::conninfo_values(conninfo)) {
            if (key != "host" && key != "hostaddr" && key != "port") {
                result += " " + key + "=" + process::quote_conninfo_value(value);
            }
        }
        return result;
    }

    [[nodiscard]] std::string admin_conninfo() const {
        return "host=" + process::quote_conninfo_value(m_dir) + " port=" + std::to_string(listen_port) +
               " user=postgres dbname=pgbouncer";
    }

private:
    void create_directory() {
        std::string pattern = "/tmp/eventstore-pgbouncer.XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error(std::string("mkdtemp failed: ") + std::strerror(errno));
        }
        m_dir = pattern;
        if (process::running_as_root()) {
            // NOLINTNEXTLINE(concurrency-mt-unsafe): the tests start servers from one thread at a time
            const passwd* user = ::getpwnam(process::server_user);
            if (user == nullptr || ::chown(m_dir.c_str(), user->pw_uid, user->pw_gid) != 0) {
                ::rmdir(m_dir.c_str());
                throw std::runtime_error("running as root, but cannot give " + m_dir + " to the user postgres");
            }
        }
    }

    void start_watchdog() {
        std::array<int, 2> fds{-1, -1};
        if (::pipe2(fds.data(), O_CLOEXEC) != 0) {
            throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
        }
        process::SpawnOptions options;
        options.stdin_fd = fds[0];
        options.new_session = true;
        try {
            m_watchdog =
                process::spawn({"/bin/sh", "-c", watchdog_script, "eventstore-pgbouncer-watchdog", m_dir}, options);
        } catch (...) {
            ::close(fds[0]);
            ::close(fds[1]);
            throw;
        }
        ::close(fds[0]);
        m_watchdog_fd = fds[1];
    }

    void write_configuration(const std::string& host, const std::string& port, const PgBouncerOptions& options) {
        std::ofstream(m_dir + "/userlist.txt") << "\"postgres\" \"\"\n";
        std::ofstream ini(m_dir + "/pgbouncer.ini");
        ini << "[databases]\n"
            << "* = host=" << host << " port=" << port << "\n"
            << "[pgbouncer]\n"
            << "unix_socket_dir = " << m_dir << "\n"
            << "listen_port = " << listen_port << "\n"
            << "auth_type = trust\n"
            << "auth_file = " << m_dir << "/userlist.txt\n"
            << "admin_users = postgres\n"
            << "pool_mode = " << options.pool_mode << "\n"
            << "default_pool_size = " << options.pool_size << "\n"
            << "max_client_conn = 500\n"
            << "logfile = " << m_dir << "/pgbouncer.log\n"
            << "pidfile = " << m_dir << "/pgbouncer.pid\n";
        if (!ini) {
            throw std::runtime_error("cannot write " + m_dir + "/pgbouncer.ini");
        }
    }

    void start() {
        const char* program = "/usr/sbin/pgbouncer";
        std::string configured;
        if (auto set = process::env("EVENTSTORE_PGBOUNCER"); set && !set->empty()) {
            configured = *set;
            program = configured.c_str();
        }
        if (!process::is_executable(program)) {
            throw std::runtime_error(std::string("no PgBouncer at ") + program +
                                     ": run scripts/install-deps.sh (apt-get install pgbouncer)");
        }
        process::SpawnOptions options;
        options.output_path = m_dir + "/pgbouncer.out";
        options.new_session = true;
        m_process = process::spawn(process::as_server_user({program, m_dir + "/pgbouncer.ini"}), options);
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        const std::string conninfo = admin_conninfo();
        for (;;) {
            if (PQping(conninfo.c_str()) == PQPING_OK) {
                return;
            }
            int status = 0;
            if (::waitpid(m_process, &status, WNOHANG) == m_process) {
                m_process = -1;
                throw std::runtime_error("PgBouncer ended at start:\n" + process::tail_of(m_dir + "/pgbouncer.out") +
                                         "\n" + process::tail_of(m_dir + "/pgbouncer.log"));
            }
            if (std::chrono::steady_clock::now() > until) {
                throw std::runtime_error("PgBouncer did not accept connections within 30 s:\n" +
                                         process::tail_of(m_dir + "/pgbouncer.log"));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    void stop() noexcept {
        if (m_process > 0) {
            std::ifstream pidfile(m_dir + "/pgbouncer.pid");
            pid_t pid = 0;
            if (pidfile >> pid && pid > 0) {
                ::kill(pid, SIGTERM);
            } else {
                ::kill(m_process, SIGTERM);
            }
            (void)process::wait_for(m_process);
            m_process = -1;
        }
        if (m_watchdog_fd >= 0) {
            ::close(m_watchdog_fd); // the watchdog removes the folder
            m_watchdog_fd = -1;
        }
        if (m_watchdog > 0) {
            (void)process::wait_for(m_watchdog);
            m_watchdog = -1;
        }
    }

    std::string m_dir;
    pid_t m_process = -1;
    pid_t m_watchdog = -1;
    int m_watchdog_fd = -1;
};

PgBouncer::PgBouncer(std::string_view upstream, const PgBouncerOptions& options)
    : m_impl(std::make_unique<Impl>(upstream, options)) {}
PgBouncer::~PgBouncer() = default;

std::string PgBouncer::through(std::string_view conninfo) const { return m_impl->through(conninfo); }
std::string PgBouncer::admin_conninfo() const { return m_impl->admin_conninfo(); }

namespace {

struct ProcessBouncer {
    std::mutex mutex;
    std::unique_ptr<PgBouncer> bouncer;
};

ProcessBouncer& process_bouncer() {
    static ProcessBouncer instance;
    return instance;
}

class PgBouncerEnvironment : public ::testing::Environment {
public:
    void TearDown() override {
        ProcessBouncer& state = process_bouncer();
        const std::lock_guard lock(state.mutex);
        state.bouncer.reset();
    }
};

[[maybe_unused]] ::testing::Environment* const pgbouncer_environment =
    ::testing::AddGlobalTestEnvironment(new PgBouncerEnvironment); // gtest owns it

} // namespace

PgBouncer& pgbouncer() {
    PostgresServer& server = postgres();
    ProcessBouncer& state = process_bouncer();
    const std::lock_guard lock(state.mutex);
    if (!state.bouncer) {
        state.bouncer = std::make_unique<PgBouncer>(server.conninfo());
    }
    return *state.bouncer;
}

} // namespace eventstore::test
