#ifndef BOOK_LENDING_OPTIONS_HPP
#define BOOK_LENDING_OPTIONS_HPP

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace book_lending {

struct Options {
    std::optional<std::string> dsn; // unset: libpq defaults from the PG* environment variables
    std::size_t lenders = 8;
    std::size_t copies = 20;
    std::size_t readers = 50;
    // At most one of the two is set; with neither, default_operations attempts are made.
    std::optional<double> seconds;
    std::optional<std::uint64_t> operations;
    std::string table = "book_lending_events";
    std::size_t max_loans_per_reader = 3;
    unsigned max_retries = 5;
    // The store's records below this level are not logged (spdlog on standard error): debug, info,
    // warn, error or off.
    std::string log_level = "warn";
    // When set, the store's metrics are served at http://127.0.0.1:<port>/metrics while the example
    // runs, and for metrics_linger seconds after.
    std::optional<std::uint16_t> metrics_port;
    double metrics_linger = 0;

    static constexpr std::uint64_t default_operations = 400;
};

// The options, or nullopt when the program should end now with `exit_code` (after --help: 0; after a
// usage error, which is written to `err`: 2).
struct ParsedOptions {
    std::optional<Options> options;
    int exit_code = 0;
};
[[nodiscard]] ParsedOptions parse_options(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

} // namespace book_lending

#endif
