#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace book_lending {

namespace {

constexpr std::string_view usage_text = R"(usage: book_lending [options]

Lender threads compete for the same book copies through the event store: each one picks a random
reader and copy, queries the copy's (and the reader's) events, decides, and appends only if nothing
relevant changed meanwhile, retrying on a conflict. At the end the whole log is replayed to check
that no copy was ever lent to two readers at once and no reader held more than the limit.

options:
  --dsn CONNINFO      libpq connection string or URI (default: libpq defaults, i.e. PGHOST,
                      PGPORT, PGDATABASE, PGUSER, ... from the environment)
  --lenders N         concurrent lender threads (default 8)
  --copies N          book copies put into circulation (default 20)
  --readers N         readers borrowing them (default 50)
  --operations N      lend/return attempts in total (default 400)
  --seconds S         run for S seconds instead of a number of attempts
  --max-loans N       copies one reader may hold at once (default 3)
  --max-retries N     conflicts tolerated per attempt before giving up (default 5)
  --table NAME        events table, "schema.table" allowed (default book_lending_events)
  --log-level LEVEL   the store's log records at LEVEL and above go to standard error through
                      spdlog: debug, info (adds conflicts), warn, error, off (default warn)
  --metrics-port N    serve the store's metrics in Prometheus' text format at
                      http://127.0.0.1:N/metrics while the example runs
  --metrics-linger S  keep serving them S seconds after the run (default 0), for a last scrape
  --help              show this text

Each run uses fresh copy and reader IDs, so it checks only its own events; earlier runs' events
in the same table are counted but left alone.
)";

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

template <typename Integer>
Integer parse_count(std::string_view name, std::string_view text, Integer minimum) {
    Integer value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < minimum) {
        throw UsageError(std::string(name) + " needs a whole number of at least " + std::to_string(minimum) +
                         ", not \"" + std::string(text) + "\"");
    }
    return value;
}

double parse_seconds(std::string_view text, std::string_view name = "--seconds") {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    // The upper bound keeps the conversion to a clock duration far from overflowing.
    constexpr double one_year = 365.0 * 24 * 3600;
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value <= 0 ||
        value > one_year) {
        throw UsageError(std::string(name) + " needs a positive number up to a year, not \"" + std::string(text) +
                         "\"");
    }
    return value;
}

} // namespace

ParsedOptions parse_options(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
    Options options;
    try {
        const std::vector<std::string_view> args(argv + 1, argv + argc);
        for (std::size_t i = 0; i < args.size(); ++i) {
            std::string_view name = args[i];
            std::optional<std::string_view> inline_value; // --name=value
            if (const auto eq = name.find('='); name.substr(0, 2) == "--" && eq != std::string_view::npos) {
                inline_value = name.substr(eq + 1);
                name = name.substr(0, eq);
            }
            if (name == "--help" || name == "-h") {
                out << usage_text;
                return {std::nullopt, 0};
            }
            const auto value = [&]() -> std::string_view {
                if (inline_value) {
                    return *inline_value;
                }
                if (i + 1 >= args.size()) {
                    throw UsageError(std::string(name) + " needs a value");
                }
                return args[++i];
            };
            if (name == "--dsn") {
                options.dsn = std::string(value());
            } else if (name == "--lenders") {
                options.lenders = parse_count<std::size_t>(name, value(), 1);
            } else if (name == "--copies") {
                options.copies = parse_count<std::size_t>(name, value(), 1);
            } else if (name == "--readers") {
                options.readers = parse_count<std::size_t>(name, value(), 1);
            } else if (name == "--operations") {
                options.operations = parse_count<std::uint64_t>(name, value(), 1);
            } else if (name == "--seconds") {
                options.seconds = parse_seconds(value());
            } else if (name == "--max-loans") {
                options.max_loans_per_reader = parse_count<std::size_t>(name, value(), 1);
            } else if (name == "--max-retries") {
                options.max_retries = parse_count<unsigned>(name, value(), 0);
            } else if (name == "--table") {
                options.table = std::string(value());
                if (options.table.empty()) {
                    throw UsageError("--table needs a name");
                }
            } else if (name == "--log-level") {
                options.log_level = std::string(value());
                const std::vector<std::string_view> levels{"debug", "info", "warn", "error", "off"};
                if (std::find(levels.begin(), levels.end(), options.log_level) == levels.end()) {
                    throw UsageError("--log-level needs debug, info, warn, error or off, not \"" + options.log_level +
                                     "\"");
                }
            } else if (name == "--metrics-port") {
                options.metrics_port = parse_count<std::uint16_t>(name, value(), 1);
            } else if (name == "--metrics-linger") {
                options.metrics_linger = parse_seconds(value(), "--metrics-linger");
            } else {
                throw UsageError("unknown option \"" + std::string(args[i]) + "\"");
            }
        }
        if (options.seconds && options.operations) {
            throw UsageError("give --seconds or --operations, not both");
        }
    } catch (const UsageError& e) {
        err << "book_lending: " << e.what() << " (see --help)\n";
        return {std::nullopt, 2};
    }
    return {std::move(options), 0};
}

} // namespace book_lending
