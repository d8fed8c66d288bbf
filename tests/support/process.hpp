#ifndef EVENTSTORE_TESTS_SUPPORT_PROCESS_HPP
#define EVENTSTORE_TESTS_SUPPORT_PROCESS_HPP

// Running the server programs the harness starts (PostgreSQL's, PgBouncer): as the server user when
// we are root, with libpq's PG* variables kept from them, their output in a log.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace eventstore::test::process {

// The user that runs the servers when the tests run as root (they refuse to run as root).
inline constexpr const char* server_user = "postgres";

[[nodiscard]] std::optional<std::string> env(const char* name);
// "0", "false", "off" and "no" are false; unset or empty is `fallback`.
[[nodiscard]] bool env_flag(const char* name, bool fallback);
[[nodiscard]] bool running_as_root();
[[nodiscard]] bool is_executable(const std::string& path);
[[nodiscard]] std::string join(const std::vector<std::string>& argv);

// Prefixes `argv` with `runuser -u postgres --` when we are root.
[[nodiscard]] std::vector<std::string> as_server_user(std::vector<std::string> argv);

struct SpawnOptions {
    int stdin_fd = -1;       // -1: /dev/null
    std::string output_path; // "": /dev/null
    bool new_session = false;
};

// Starts `argv` (looked up in PATH) with our environment less libpq's PG* variables; throws
// std::runtime_error when it cannot be started.
pid_t spawn(std::vector<std::string> argv, const SpawnOptions& options);
// Its exit code, 128 + the signal that ended it, or -1.
int wait_for(pid_t pid);
// Runs `argv` to completion with its output appended to `log_path`; returns its exit code.
int run(const std::vector<std::string>& argv, const std::string& log_path);

// The end of a log, for an error message.
[[nodiscard]] std::string tail_of(const std::string& path, std::size_t max_bytes = 4000);
void append_lines(const std::string& path, const std::vector<std::string>& lines);
// A value for a libpq key=value connection string, quoted when it needs to be.
[[nodiscard]] std::string quote_conninfo_value(std::string_view value);
// The keywords `conninfo` (key=value or URI) sets, with their values, in libpq's order. Throws
// std::invalid_argument when libpq cannot parse it.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> conninfo_values(std::string_view conninfo);

} // namespace eventstore::test::process

#endif
