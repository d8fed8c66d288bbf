// Running the harness's server programs (support/process.hpp).

#include "support/process.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <libpq-fe.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ; // NOLINT(readability-redundant-declaration): POSIX leaves its declaration to us

namespace eventstore::test::process {

namespace {

// The environment for child processes: ours without libpq's PG* variables, which would otherwise
// point the tools (and the server's defaults) at some other cluster.
std::vector<std::string> child_environment() {
    std::vector<std::string> result;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry(*e);
        if (!entry.starts_with("PG")) {
            result.emplace_back(entry);
        }
    }
    return result;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> result;
    result.reserve(strings.size() + 1);
    for (auto& s : strings) {
        result.push_back(s.data());
    }
    result.push_back(nullptr);
    return result;
}

} // namespace

std::optional<std::string> env(const char* name) {
    const char* value = std::getenv(name); // NOLINT(concurrency-mt-unsafe): read-only use
    if (value == nullptr) {
        return std::nullopt;
    }
    return std::string(value);
}

bool env_flag(const char* name, bool fallback) {
    const auto value = env(name);
    if (!value || value->empty()) {
        return fallback;
    }
    return *value != "0" && *value != "false" && *value != "off" && *value != "no";
}

bool running_as_root() { return geteuid() == 0; }

bool is_executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

std::string join(const std::vector<std::string>& argv) {
    std::string result;
    for (const auto& a : argv) {
        if (!result.empty()) {
            result += ' ';
        }
        result += a;
    }
    return result;
}

// Prefixes `argv` with `runuser -u postgres --` when we are root: initdb, pg_ctl and postgres refuse
// to run as root.
std::vector<std::string> as_server_user(std::vector<std::string> argv) {
    if (running_as_root()) {
        argv.insert(argv.begin(), {"runuser", "-u", server_user, "--"});
    }
    return argv;
}

pid_t spawn(std::vector<std::string> argv, const SpawnOptions& options) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    if (options.stdin_fd >= 0) {
        posix_spawn_file_actions_adddup2(&actions, options.stdin_fd, STDIN_FILENO);
    } else {
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    const std::string out = options.output_path.empty() ? std::string("/dev/null") : options.output_path;
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    if (options.new_session) {
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID);
    }
    std::vector<std::string> environment = child_environment();
    std::vector<char*> c_argv = c_strings(argv);
    std::vector<char*> c_env = c_strings(environment);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, c_argv[0], &actions, &attributes, c_argv.data(), c_env.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (rc != 0) {
        throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
    }
    return pid;
}

int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

// Runs `argv` to completion with its output appended to `log_path`; returns its exit code.
int run(const std::vector<std::string>& argv, const std::string& log_path) {
    if (!log_path.empty()) {
        std::ofstream(log_path, std::ios::app) << "$ " << join(argv) << '\n';
    }
    SpawnOptions options;
    options.output_path = log_path;
    return wait_for(spawn(argv, options));
}

std::string tail_of(const std::string& path, std::size_t max_bytes) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return "(no " + path + ")";
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    if (text.size() > max_bytes) {
        text = "..." + text.substr(text.size() - max_bytes);
    }
    return text;
}

void append_lines(const std::string& path, const std::vector<std::string>& lines) {
    std::ofstream out(path, std::ios::app);
    out << "\n# eventstore test support\n";
    for (const auto& line : lines) {
        out << line << '\n';
    }
    if (!out) {
        throw std::runtime_error("cannot write " + path);
    }
}

std::string quote_conninfo_value(std::string_view value) {
    const bool plain = !value.empty() && value.find_first_of(" '\\\t\n") == std::string_view::npos;
    if (plain) {
        return std::string(value);
    }
    std::string quoted = "'";
    for (const char c : value) {
        if (c == '\'' || c == '\\') {
            quoted += '\\';
        }
        quoted += c;
    }
    quoted += '\'';
    return quoted;
}

std::vector<std::pair<std::string, std::string>> conninfo_values(std::string_view conninfo) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(std::string(conninfo).c_str(), &error);
    if (options == nullptr) {
        std::string message = error != nullptr ? error : "out of memory";
        PQfreemem(error);
        throw std::invalid_argument("bad conninfo: " + message);
    }
    std::vector<std::pair<std::string, std::string>> values;
    for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
        if (o->val != nullptr && *o->val != '\0') {
            values.emplace_back(o->keyword, o->val);
        }
    }
    PQconninfoFree(options);
    return values;
}

} // namespace eventstore::test::process
