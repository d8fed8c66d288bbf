#include "commands.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <libpq-fe.h>

#include <eventstore/error.hpp>
#include <eventstore/postgres.hpp>

#include "core/json.hpp"
#include "ndjson.hpp"
#include "postgres/schema.hpp"

namespace eventstore::cli {

namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<postgres::EventStore> open_store(const Target& target) {
    postgres::PoolOptions options;
    options.max_connections = 2;
    return postgres::new_event_store_from_pool(postgres::ConnectionPool::create(target.dsn, options),
                                               postgres::with_table_name(target.table));
}

// The library's errors as a person reads them, with what to do next where we know it.
int report(const Error& error, std::ostream& err) {
    err << "eventstore: " << error.what();
    if (!error.sqlstate().empty()) {
        err << " (SQLSTATE " << error.sqlstate() << ")";
    }
    err << '\n';
    if (error.sqlstate() == "42P01") {
        err << "eventstore: the table does not exist: run `eventstore migrate` (with the same --dsn and --table)\n";
    }
    if (error.is(Errc::database_connection_failed)) {
        err << "eventstore: check --dsn (or PGHOST, PGPORT, PGUSER, PGDATABASE)\n";
    }
    return exit_failed;
}

// A command's body with its failures reported: a flag that cannot be used is a usage error, the
// library's errors are reported with what to do next.
template <typename Body>
int reported(std::ostream& err, Body&& body) {
    try {
        return body();
    } catch (const std::invalid_argument& bad) {
        err << "eventstore: " << bad.what() << '\n';
        return exit_usage;
    } catch (const Error& error) {
        return report(error, err);
    }
}

// A progress line on standard error, rewritten in place at most four times a second:
// "exported 120000 events (40000/s, 48%, about 3 s left)".
class ProgressLine {
public:
    ProgressLine(const Progress& progress, std::string verb) : m_progress(progress), m_verb(std::move(verb)) {}

    // `count` events done; `fraction` of the whole work, when it is known.
    void update(std::uint64_t count, std::optional<double> fraction = std::nullopt) {
        const auto now = Clock::now();
        if (!m_progress.enabled || now - m_shown < std::chrono::milliseconds(250)) {
            return;
        }
        m_shown = now;
        const double seconds = std::chrono::duration<double>(now - m_started).count();
        std::ostream& out = *m_progress.out;
        out << '\r' << m_verb << ' ' << count << " events ("
            << static_cast<long long>(static_cast<double>(count) / seconds) << "/s";
        if (fraction && *fraction > 0 && *fraction <= 1) {
            out << ", " << static_cast<int>(*fraction * 100) << "%, about "
                << static_cast<long long>(seconds / *fraction - seconds) << " s left";
        }
        out << ")   " << std::flush;
    }
    // The last line, kept.
    void done(std::uint64_t count, const std::string& then = "") {
        if (m_progress.enabled) {
            const double seconds = std::chrono::duration<double>(Clock::now() - m_started).count();
            *m_progress.out << '\r' << m_verb << ' ' << count << " events in " << seconds << " s" << then
                            << "             \n";
        }
    }

    // Rubs the line out, for a summary that follows.
    void clear() const {
        if (m_progress.enabled) {
            *m_progress.out << '\r' << std::string(72, ' ') << '\r' << std::flush;
        }
    }

private:
    Progress m_progress;
    std::string m_verb;
    Clock::time_point m_started = Clock::now();
    Clock::time_point m_shown = m_started;
};

} // namespace

Filter unconditional_filter() {
    static const std::string tag = [] {
        std::random_device device;
        std::array<char, 17> hex{};
        (void)std::snprintf(hex.data(), hex.size(), "%08x%08x", device(), device());
        return "eventstore-cli:unconditional:" + std::string(hex.data());
    }();
    return build_event_filter().matching().all_tags_of(tag).finalize();
}

namespace {

// Reads standard input's events; on a bad line, says which and why and returns nothing.
std::optional<std::vector<StorableEvent>> read_events(std::istream& in, std::ostream& err, const Progress& progress) {
    std::vector<StorableEvent> events;
    std::string line;
    std::size_t number = 0;
    const auto now = std::chrono::system_clock::now();
    ProgressLine shown(progress, "read");
    while (std::getline(in, line)) {
        ++number;
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        try {
            events.push_back(parse_event_line(line, now));
        } catch (const BadLine& bad) {
            err << "eventstore: line " << number << ": " << bad.what() << " (nothing was written)\n";
            return std::nullopt;
        }
        shown.update(events.size());
    }
    shown.done(events.size(), "; importing");
    return events;
}

} // namespace

namespace {

using Connection = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

Result exec(PGconn* conn, const std::string& sql, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const std::string& p : params) {
        values.push_back(p.c_str());
    }
    Result result(
        PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0),
        PQclear);
    if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
        const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
        std::string message = PQresultErrorMessage(result.get());
        while (!message.empty() && message.back() == '\n') {
            message.pop_back();
        }
        throw Error(Errc::querying_events_failed, std::nullopt, message, state != nullptr ? state : "");
    }
    return result;
}

Connection connect(const std::string& dsn) {
    Connection conn(PQconnectdb(dsn.c_str()), PQfinish);
    if (PQstatus(conn.get()) != CONNECTION_OK) {
        throw Error(Errc::database_connection_failed, PQerrorMessage(conn.get()));
    }
    return conn;
}

} // namespace

Filter filter_of(const FilterFlags& flags) {
    detail::FilterDraft draft;
    if (!flags.types.empty()) {
        draft.add_event_types(flags.types);
    }
    if (!flags.where.empty()) {
        std::vector<FilterPredicate> predicates;
        for (const std::string& kv : flags.where) {
            const auto eq = kv.find('=');
            if (eq == std::string::npos || eq == 0) {
                throw std::invalid_argument("--where " + kv + ": expected KEY=VALUE");
            }
            predicates.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        }
        draft.add_predicates(predicates, flags.all_where);
    }
    if (!flags.tags.empty()) {
        draft.add_tags(flags.tags);
    }
    try {
        if (!flags.occurred_from.empty()) {
            draft.from = parse_time(flags.occurred_from);
        }
        if (!flags.occurred_until.empty()) {
            draft.until = parse_time(flags.occurred_until);
        }
    } catch (const BadLine& bad) {
        throw std::invalid_argument(bad.what());
    }
    draft.sequence_number_higher_than = flags.after;
    return std::move(draft).finalize();
}

ReadOptions read_options_of(const FilterFlags& flags) {
    ReadOptions options;
    options.from = flags.from;
    options.limit = flags.limit;
    options.backwards = flags.backwards;
    return options;
}

int run_migrate(const Target& target, bool print_sql, std::ostream& out, std::ostream& err) {
    return reported(err, [&] {
        if (print_sql) {
            // What migrate() runs on an empty database, for a DBA to review and run.
            const postgres::detail::Schema schema(target.table, std::nullopt);
            for (const auto& statement : schema.migration()) {
                out << statement.sql << ";\n";
            }
            return exit_ok;
        }
        open_store(target)->migrate();
        err << "eventstore: " << target.table << " is ready\n";
        return exit_ok;
    });
}

int run_append(const Target& target, bool atomic, std::istream& in, std::ostream& out, std::ostream& err) {
    const auto events = read_events(in, err, Progress{});
    if (!events) {
        return exit_bad_input;
    }
    return reported(err, [&] {
        auto store = open_store(target);
        const Filter condition = unconditional_filter();
        if (atomic) {
            const AppendResult result = store->append(condition, 0, *events);
            out << "{\"events\":" << events->size() << ",\"last_position\":" << result.last_sequence_number
                << ",\"already_stored\":" << (result.already_stored ? "true" : "false") << "}\n";
            return exit_ok;
        }
        for (const StorableEvent& event : *events) {
            const AppendResult result = store->append(condition, 0, event);
            out << "{\"position\":" << result.last_sequence_number
                << ",\"already_stored\":" << (result.already_stored ? "true" : "false") << "}\n";
        }
        return exit_ok;
    });
}

int run_query(const Target& target, const FilterFlags& flags, std::ostream& out, std::ostream& err) {
    return run_export(target, flags, out, err, Progress{});
}

int run_export(const Target& target, const FilterFlags& flags, std::ostream& out, std::ostream& err,
               const Progress& progress) {
    return reported(err, [&] {
        const Filter filter = filter_of(flags);
        auto store = open_store(target);
        const ReadOptions options = read_options_of(flags);
        // The newest matching position, for the ETA: a forwards export reaches it as it ends.
        SequenceNumber newest = 0;
        SequenceNumber first = 0;
        if (progress.enabled && !options.backwards) {
            newest = store->query(filter, ReadOptions{.backwards = true, .limit = 1}).max_sequence_number;
        }
        std::uint64_t written = 0;
        ProgressLine shown(progress, "exported");
        (void)store->query_stream(Context(), filter, options, [&](StorableEvent&& event) {
            out << event_line(event) << '\n';
            ++written;
            first = first == 0 ? event.sequence_number : first;
            std::optional<double> fraction;
            if (newest > first && event.sequence_number > first) {
                fraction = static_cast<double>(event.sequence_number - first) / static_cast<double>(newest - first);
            }
            shown.update(written, fraction);
        });
        out.flush();
        shown.done(written);
        return exit_ok;
    });
}

namespace {

// Shows an import's progress while it runs. The import is one transaction, so its rows are not
// visible from outside; the sequence numbers it takes are (sequences are not transactional), and
// while the import holds its table lock nothing else takes any.
class ImportWatch {
public:
    ImportWatch(const Target& target, const std::string& quoted_table, std::uint64_t total, const Progress& progress)
        : m_total(total), m_line(progress, "imported") {
        if (!progress.enabled) {
            return;
        }
        // Progress is a courtesy: when it cannot be watched, the import goes on without it.
        try {
            m_conn = connect(target.dsn);
            const Result sequence =
                exec(m_conn.get(), "SELECT pg_get_serial_sequence($1, 'sequence_number')", {quoted_table});
            if (PQgetisnull(sequence.get(), 0, 0) != 0) {
                return; // not a serial column
            }
            m_sequence = PQgetvalue(sequence.get(), 0, 0);
            m_start = taken();
        } catch (const Error&) {
            return;
        }
        m_thread = std::jthread([this](const std::stop_token& stop) {
            std::mutex mutex;
            std::condition_variable_any woken;
            std::unique_lock lock(mutex);
            // Every 250 ms until stopped; a stop wakes it at once.
            while (!woken.wait_for(lock, stop, std::chrono::milliseconds(250), [] { return false; })) {
                if (stop.stop_requested()) {
                    return;
                }
                try {
                    const std::uint64_t done = std::min(taken() - m_start, m_total);
                    m_line.update(done, static_cast<double>(done) / static_cast<double>(m_total));
                } catch (const Error&) {
                    return;
                }
            }
        });
    }

    ImportWatch(const ImportWatch&) = delete;
    ImportWatch& operator=(const ImportWatch&) = delete;
    ImportWatch(ImportWatch&&) = delete;
    ImportWatch& operator=(ImportWatch&&) = delete;
    // Also when the import failed: its message then starts on a clean line.
    ~ImportWatch() { done(); }

    void done() {
        if (m_thread.joinable()) {
            m_thread = std::jthread();
            m_line.clear(); // the command's own summary follows
        }
    }

private:
    std::uint64_t taken() {
        const Result value =
            exec(m_conn.get(), "SELECT coalesce(pg_sequence_last_value($1::regclass), 0)", {m_sequence});
        return std::stoull(PQgetvalue(value.get(), 0, 0));
    }

    std::uint64_t m_total;
    ProgressLine m_line;
    Connection m_conn{nullptr, PQfinish};
    std::string m_sequence;
    std::uint64_t m_start = 0;
    std::jthread m_thread; // last: stopped and joined before the rest goes
};

} // namespace

int run_import(const Target& target, std::istream& in, std::ostream& err, const Progress& progress) {
    const auto events = read_events(in, err, progress);
    if (!events) {
        return exit_bad_input;
    }
    const int code = reported(err, [&] {
        const auto started = Clock::now();
        auto store = open_store(target);
        ImportWatch watch(target, store->table_name(), events->size(), progress);
        store->import_events(Context(), *events);
        watch.done();
        const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
        err << "eventstore: imported " << events->size() << " events in " << seconds << " s\n";
        return exit_ok;
    });
    if (code != exit_ok) {
        err << "eventstore: nothing was imported\n";
    }
    return code;
}

int run_tail(const Target& target, const FilterFlags& flags, const Context& ctx, std::ostream& out, std::ostream& err) {
    if (flags.from != 0 || flags.limit != 0 || flags.backwards) {
        err << "eventstore: tail follows the log forwards from --after: it takes no --from, --limit or --backwards\n";
        return exit_usage;
    }
    return reported(err, [&] {
        FilterFlags without_after = flags;
        without_after.after = 0;
        const Filter filter = filter_of(without_after);
        (void)open_store(target)->subscribe(ctx, filter, flags.after, [&](StorableEvent&& event) {
            out << event_line(event) << '\n' << std::flush; // a reader at the other end of a pipe sees it now
        });
        return exit_ok;
    });
}

Stats stats_of(const std::string& dsn, const std::string& quoted_table) {
    const Connection conn = connect(dsn);
    // One pass over the rows: the counts per type also give the total and the newest position.
    const Result types = exec(conn.get(),
                              "SELECT event_type, count(*), max(sequence_number) FROM " + quoted_table +
                                  " GROUP BY event_type ORDER BY count(*) DESC, event_type",
                              {});
    const Result sizes = exec(conn.get(),
                              "SELECT pg_relation_size($1::regclass), pg_indexes_size($1::regclass), "
                              "pg_total_relation_size($1::regclass), pg_size_pretty(pg_relation_size($1::regclass)), "
                              "pg_size_pretty(pg_indexes_size($1::regclass)), "
                              "pg_size_pretty(pg_total_relation_size($1::regclass))",
                              {quoted_table});
    Stats stats;
    stats.table = quoted_table;
    for (int row = 0; row < PQntuples(types.get()); ++row) {
        const std::uint64_t count = std::stoull(PQgetvalue(types.get(), row, 1));
        stats.types.emplace_back(PQgetvalue(types.get(), row, 0), count);
        stats.events += count;
        stats.newest_position =
            std::max<std::uint64_t>(stats.newest_position, std::stoull(PQgetvalue(types.get(), row, 2)));
    }
    const auto value = [&](int column) { return std::string(PQgetvalue(sizes.get(), 0, column)); };
    stats.table_bytes = std::stoull(value(0));
    stats.index_bytes = std::stoull(value(1));
    stats.total_bytes = std::stoull(value(2));
    stats.table_size = value(3);
    stats.index_size = value(4);
    stats.total_size = value(5);
    return stats;
}

std::string stats_json(const Stats& stats, std::size_t max_types) {
    std::string line = "{\"table\":";
    detail::json::append_quoted(line, stats.table);
    line += ",\"events\":" + std::to_string(stats.events) +
            ",\"newest_position\":" + std::to_string(stats.newest_position) +
            ",\"table_bytes\":" + std::to_string(stats.table_bytes) +
            ",\"index_bytes\":" + std::to_string(stats.index_bytes) +
            ",\"total_bytes\":" + std::to_string(stats.total_bytes) + ",\"total_size\":";
    detail::json::append_quoted(line, stats.total_size);
    line += ",\"type_count\":" + std::to_string(stats.types.size()) + ",\"types\":{";
    for (std::size_t i = 0; i < stats.types.size() && i < max_types; ++i) {
        if (i > 0) {
            line += ',';
        }
        detail::json::append_quoted(line, stats.types[i].first);
        line += ':' + std::to_string(stats.types[i].second);
    }
    return line + "}}";
}

int run_stats(const Target& target, bool json, std::ostream& out, std::ostream& err) {
    return reported(err, [&] {
        // The store resolves and quotes the table's name as its statements use it.
        const Stats stats = stats_of(target.dsn, open_store(target)->table_name());
        if (json) {
            out << stats_json(stats) << '\n';
            return exit_ok;
        }
        out << "table            " << stats.table << '\n'
            << "events           " << stats.events << '\n'
            << "newest position  " << stats.newest_position << '\n'
            << "size             " << stats.total_size << " (rows " << stats.table_size << ", indexes "
            << stats.index_size << ")\n"
            << "events per type\n";
        for (const auto& [type, count] : stats.types) {
            out << "  " << count << '\t' << type << '\n';
        }
        return exit_ok;
    });
}

} // namespace eventstore::cli
