#ifndef EVENTSTORE_SRC_POSTGRES_INSTRUMENTS_HPP
#define EVENTSTORE_SRC_POSTGRES_INSTRUMENTS_HPP

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <eventstore/context.hpp>
#include <eventstore/observability.hpp>

#include "postgres/connection.hpp"
#include "postgres/store_config.hpp"

namespace eventstore::postgres::detail {

// The store's calls into the user's logger, metrics and tracing hooks, with the Go library's names
// (spec/go-behaviour.md §4; docs/observability.md). A hook that throws is ignored: observing an
// operation must never change its outcome. With no hook configured every call is a cheap no-op, so
// the uninstrumented store pays nothing.
class Instruments {
public:
    enum class Level { debug, info, warn, error };

    explicit Instruments(const StoreConfig& config)
        : m_logger(config.logger), m_contextual_logger(config.contextual_logger), m_metrics(config.metrics),
          m_tracing(config.tracing) {}

    [[nodiscard]] bool logging() const noexcept { return m_logger || m_contextual_logger; }
    [[nodiscard]] bool metrics() const noexcept { return m_metrics != nullptr; }
    [[nodiscard]] bool tracing() const noexcept { return m_tracing != nullptr; }

    // Both loggers get every record (the contextual one with the operation's Context).
    void log(Level level, const Context& ctx, std::string_view message, const LogFields& fields) const noexcept;

    void record_duration(std::string_view metric, std::chrono::nanoseconds d, const Labels& labels) const noexcept;
    void increment_counter(std::string_view metric, const Labels& labels) const noexcept;
    void record_value(std::string_view metric, double value, const Labels& labels) const noexcept;

    // A started span (null when there is no tracer, or it declined) and the Context that carries it.
    struct Span {
        std::shared_ptr<SpanContext> span;
        Context context;
    };
    [[nodiscard]] Span start_span(const Context& ctx, std::string_view name,
                                  const Attributes& attributes) const noexcept;
    // Sets the status, adds `added`, then finishes the span with `finished`: the Go engine's sequence.
    void end_span(const Span& span, std::string_view status, const Attributes& added,
                  const Attributes& finished) const noexcept;

private:
    std::shared_ptr<Logger> m_logger;
    std::shared_ptr<ContextualLogger> m_contextual_logger;
    std::shared_ptr<MetricsCollector> m_metrics;
    std::shared_ptr<TracingCollector> m_tracing;
};

// The names one kind of operation reports under. query and append are the Go library's (spec §4);
// query_stream and import follow the same pattern.
struct OperationKind {
    std::string_view name;         // the operation label, and part of every metric and span name
    std::string_view build_failed; // log messages
    std::string_view database_failed;
    std::string_view scan_failed;
    std::string_view succeeded;
    std::string_view database_error;  // error_type of a database failure
    std::string_view scan_error;      // error_type (metrics) of a bad row or row count
    std::string_view scan_span_error; // the same, in spans
    std::string_view events_metric;   // the event count of a success
};
extern const OperationKind query_kind;
extern const OperationKind append_kind;
extern const OperationKind stream_kind;
extern const OperationKind import_kind;

// One query or one append as the hooks see it: its span, its clocks, and the records the Go engine
// makes at each step (spec §4), under the same names. The store reports each step as it ends and
// ends the operation with exactly one of the *_failed, conflicted or *_succeeded calls.
class Operation {
public:
    using Clock = std::chrono::steady_clock;

    // The span is "eventstore.<kind.name>", started with `span_attributes` plus operation=<kind.name>.
    // `target` is the database the call runs on, "primary" or "replica" (the database_target label).
    // An operation destroyed before one of the ending calls counts as failed (error_type "internal").
    Operation(const Instruments& instruments, const Context& ctx, const OperationKind& kind, std::string_view target,
              const Attributes& span_attributes);
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;
    ~Operation();

    // The caller's Context with the operation's span: for the database calls and contextual logs.
    [[nodiscard]] const Context& context() const noexcept { return m_span.context; }

    // eventstore_component_duration_seconds for the phase that just ended (query_build,
    // sql_execution, result_processing).
    void component_done(std::string_view component) noexcept;
    void sql_started() noexcept { m_sql_start = Clock::now(); }
    // The debug record "executed sql for: <name>" with the statement; ends the SQL clock.
    void sql_done(const std::string& sql) noexcept;

    void build_failed(const Error& error, const LogFields& extra) noexcept;
    void database_failed(const DatabaseFailure& failure, const std::string& sql) noexcept;
    void scan_failed(const Error& error) noexcept;
    // The caller's own code (query_stream's callback) threw.
    void caller_failed(const char* what) noexcept;
    void conflicted(std::size_t expected_events, std::uint64_t expected_sequence) noexcept;
    // query and query_stream.
    void read_succeeded(std::size_t event_count, std::uint64_t max_sequence) noexcept;
    // append and import.
    void write_succeeded(std::size_t event_count) noexcept;

private:
    [[nodiscard]] Labels labels(std::string_view status) const;
    [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept { return Clock::now() - m_start; }
    void succeeded(std::size_t event_count, const Attributes& finished) noexcept;
    // eventstore_<name>_method_duration_seconds and ..._sql_duration_seconds.
    void record_durations(const Labels& labels, std::chrono::nanoseconds method_time) const;
    // Records the method (and SQL) duration and ends the span with status "error".
    void failed(std::string_view status, std::string_view span_error_type, Attributes extra) noexcept;

    const Instruments& m_instruments;
    const OperationKind& m_kind;
    std::string m_name;
    std::string_view m_target;
    Instruments::Span m_span;
    bool m_ended = false;
    Clock::time_point m_start;
    Clock::time_point m_mark;
    Clock::time_point m_sql_start;
    std::chrono::nanoseconds m_sql_time{0};
};

// save_snapshot, load_snapshot or delete_snapshot as the metrics and tracing hooks see it: the
// snapshot metrics the Go project planned (spec §9), and a span per call. Logs stay with the store
// (their messages differ per action).
class SnapshotCall {
public:
    using Clock = std::chrono::steady_clock;

    // `action` is "save", "load" or "delete"; `target` "primary" or "replica".
    SnapshotCall(const Instruments& instruments, const Context& ctx, std::string_view action, std::string_view target,
                 std::string_view projection_type, std::string_view filter_hash);
    SnapshotCall(const SnapshotCall&) = delete;
    SnapshotCall& operator=(const SnapshotCall&) = delete;
    ~SnapshotCall();

    [[nodiscard]] const Context& context() const noexcept { return m_span.context; }
    [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept { return Clock::now() - m_start; }

    // `result`: "hit" or "miss" for a load, empty otherwise.
    void succeeded(std::string_view result) noexcept;
    void database_failed(const DatabaseFailure& failure) noexcept;
    // A row that could not be decoded (load only).
    void decode_failed() noexcept;

private:
    // eventstore_snapshot_<action>_duration_seconds and ..._total; `result` empty for no result label.
    void record_call(std::string_view status, std::string_view result, std::chrono::nanoseconds time) const;
    void failed(std::string_view status, std::string_view error_type) noexcept;

    const Instruments& m_instruments;
    std::string m_action;
    std::string_view m_target;
    std::string m_projection_type;
    Instruments::Span m_span;
    bool m_ended = false;
    Clock::time_point m_start;
};

// Milliseconds with three decimals, as the Go engine's log fields carry them.
[[nodiscard]] std::string log_milliseconds(std::chrono::nanoseconds d);
// Milliseconds with two decimals, as its span attributes carry them.
[[nodiscard]] std::string span_milliseconds(std::chrono::nanoseconds d);

} // namespace eventstore::postgres::detail

#endif
