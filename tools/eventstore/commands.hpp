#ifndef EVENTSTORE_TOOLS_EVENTSTORE_COMMANDS_HPP
#define EVENTSTORE_TOOLS_EVENTSTORE_COMMANDS_HPP

// The `eventstore` program's subcommands, apart from their argument parsing (main.cpp), so that tests
// can run them on streams of their own. Each returns the process's exit code (docs/cli.md).

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <eventstore/context.hpp>
#include <eventstore/event_store.hpp>
#include <eventstore/filter.hpp>

namespace eventstore::cli {

// Exit codes.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;    // the database refused or failed (the message says why)
inline constexpr int exit_usage = 2;     // bad arguments
inline constexpr int exit_bad_input = 3; // a line of standard input is not an event (nothing was written)

// Where the store is.
struct Target {
    std::string dsn;              // libpq connection string; "" = the PG* variables
    std::string table = "events"; // as with_table_name takes it (optionally schema-qualified)
};

// The filter and read options of query, export and tail, as the flags give them.
struct FilterFlags {
    std::vector<std::string> types{}; // an item's event types (any of)
    std::vector<std::string> tags{};  // all must match
    std::vector<std::string> where{}; // K=V payload predicates (any of, or all of with all_where)
    bool all_where = false;
    std::uint64_t after = 0; // positions above this only
    std::uint64_t from = 0;  // ReadOptions::from
    std::size_t limit = 0;
    bool backwards = false;
    std::string occurred_from{}; // RFC 3339
    std::string occurred_until{};
};

// A condition no stored event meets, for appends without one: a tag of its own (drawn at random per
// process) and position 0. Such an append takes only the locks of its own events.
[[nodiscard]] Filter unconditional_filter();

// The filter and options the flags describe. Throws std::invalid_argument for a flag that cannot be
// used (a --where without '=', a time that is not RFC 3339).
[[nodiscard]] Filter filter_of(const FilterFlags& flags);
[[nodiscard]] ReadOptions read_options_of(const FilterFlags& flags);

// Progress of a long export or import on standard error: count, rate and, when the total is known,
// the ETA, at most a few times a second.
struct Progress {
    bool enabled = false;
    std::ostream* out = nullptr;
};

int run_migrate(const Target& target, bool print_sql, std::ostream& out, std::ostream& err);
int run_append(const Target& target, bool atomic, std::istream& in, std::ostream& out, std::ostream& err);
int run_query(const Target& target, const FilterFlags& flags, std::ostream& out, std::ostream& err);
int run_export(const Target& target, const FilterFlags& flags, std::ostream& out, std::ostream& err,
               const Progress& progress);
int run_import(const Target& target, std::istream& in, std::ostream& err, const Progress& progress);
// Prints the matching events above flags.after, then each new one as it is committed, until the
// Context ends (the program: SIGINT or SIGTERM), which is a normal end.
int run_tail(const Target& target, const FilterFlags& flags, const Context& ctx, std::ostream& out, std::ostream& err);
// What `stats` shows: the table's events, newest position, sizes and counts per event type (most
// frequent first).
struct Stats {
    std::string table; // quoted, as the store's statements name it
    std::uint64_t events = 0;
    std::uint64_t newest_position = 0;
    std::uint64_t table_bytes = 0;
    std::uint64_t index_bytes = 0;
    std::uint64_t total_bytes = 0;
    std::string table_size{}; // the sizes as pg_size_pretty gives them ("12 MB")
    std::string index_size{};
    std::string total_size{};
    std::vector<std::pair<std::string, std::uint64_t>> types{};
};
// On a connection of its own (one scan of the table). Throws Error.
[[nodiscard]] Stats stats_of(const std::string& dsn, const std::string& quoted_table);
// One JSON object: {"table", "events", "newest_position", "table_bytes", "index_bytes", "total_bytes",
// "total_size", "type_count", "types": {type: count, ...}}, with the `max_types` most frequent types.
[[nodiscard]] std::string stats_json(const Stats& stats, std::size_t max_types = SIZE_MAX);
// The stats as text; as one JSON object with `json`.
int run_stats(const Target& target, bool json, std::ostream& out, std::ostream& err);

} // namespace eventstore::cli

#endif
