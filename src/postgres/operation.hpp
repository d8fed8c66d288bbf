#ifndef EVENTSTORE_SRC_POSTGRES_OPERATION_HPP
#define EVENTSTORE_SRC_POSTGRES_OPERATION_HPP

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include <eventstore/context.hpp>
#include <eventstore/error.hpp>
#include <eventstore/storable_event.hpp>

#include "postgres/failure.hpp"
#include "postgres/instruments.hpp"

namespace eventstore::postgres::detail {

// The database an operation runs on: the database_target label of its metrics.
enum class Target { primary, replica };
[[nodiscard]] std::string_view name(Target target) noexcept;

// What one kind of operation reports under, and the sentinel its failures carry. query and append
// use the Go library's names; query_stream and import follow the same pattern.
struct OperationKind {
    std::string_view name;         // the operation label, and part of every metric and span name
    Errc failure;                  // Error::code() of a failure (querying_events_failed, ...)
    bool writes;                   // whether a lost session leaves its outcome in doubt
    std::string_view build_failed; // log messages
    std::string_view database_failed;
    std::string_view scan_failed;
    std::string_view succeeded;
    std::string_view database_error;  // error_type of a database failure
    std::string_view scan_error;      // error_type (metrics) of a bad row or row count
    std::string_view scan_span_error; // the same, in spans
    std::string_view events_metric;   // the event count of a success; empty: the operation has none
};
extern const OperationKind query_kind;
extern const OperationKind append_kind;
extern const OperationKind stream_kind;
extern const OperationKind import_kind;
extern const OperationKind migrate_kind;

// The metric names and label sets of one kind of operation on one target (operation.cpp).
struct ReportedNames;

// One query, query_stream, append or import: its failure boundary, and what the hooks see of it
// (its span, its clocks, and the Go engine's records at each step, docs/observability.md).
//
// The operation passes through three phases: build (from construction to built()), execute (to
// executed()) and process (to the end). The engine code calls run() with the operation's body and
// marks the phases; run() turns whatever the body throws into the Error the caller sees and the
// records the hooks see, from one classification:
// - a DatabaseFailure: Error(kind.failure) caused by the failure's kind; a database-failure record;
// - an Error while building, or one of the caller's input: wrapped as Error(kind.failure) caused by
//   its code; a build-failure record;
// - another Error (a row that does not decode, an unexpected row count): thrown as it is; a
//   scan-failure record;
// - anything after the operation already ended (a conflict, the caller's callback): as it is.
// An exception of any other type ends the operation as failed with error_type "internal".
class Operation {
public:
    using Clock = std::chrono::steady_clock;

    // A read (query, query_stream). The span is "eventstore.<kind.name>".
    Operation(const Instruments& instruments, const Context& ctx, const OperationKind& kind, Target target);
    // A write of `events` (append, with its expected maximum; import, without): the span starts with
    // their count, and for an append the expected maximum and the first event's type.
    Operation(const Instruments& instruments, const Context& ctx, const OperationKind& kind,
              std::span<const StorableEvent> events, std::optional<SequenceNumber> expected);
    Operation(const Operation&) = delete;
    Operation& operator=(const Operation&) = delete;
    ~Operation();

    // The caller's Context with the operation's span: for the database calls and contextual logs.
    [[nodiscard]] const Context& context() const noexcept { return m_span.context; }

    template <typename Body>
    std::invoke_result_t<Body&> run(Body&& body) {
        try {
            return body();
        } catch (const DatabaseFailure& failure) {
            if (!m_ended) {
                database_failed(failure);
            }
            throw failure.to_error(m_kind.failure, m_kind.writes);
        } catch (const Error& error) {
            if (m_ended) {
                throw;
            }
            if (m_phase == Phase::build || error.is_input_error()) {
                build_failed(error);
                throw Error(m_kind.failure, error.code(), error.detail(), error.sqlstate());
            }
            scan_failed(error);
            throw;
        }
    }

    // The statements are built; `sql` is the one the logs name. Starts the SQL clock.
    void built(std::string sql) noexcept;
    // The database work is done: the debug record "executed sql for: <name>".
    void executed() noexcept;
    // The results are decoded (query).
    void processed() noexcept;
    // The database that answered (its pool's name: a replica's, or the primary's), named by the
    // operation's records and span from here on.
    void served_by(const std::string& database) noexcept;

    // Endings: exactly one per operation, unless run() ends it.
    void read_succeeded(std::size_t event_count, SequenceNumber max_sequence) noexcept;
    void write_succeeded(std::size_t event_count) noexcept;
    // Records the conflict and returns the exception to throw.
    [[nodiscard]] ConcurrencyConflict conflict(std::size_t expected_events, SequenceNumber expected,
                                               std::string detail = {});
    // The caller's own code (query_stream's callback) threw `what`; the exception then propagates.
    void caller_failed(const char* what) noexcept;

private:
    enum class Phase { build, execute, process };

    Operation(const Instruments& instruments, const Context& ctx, const OperationKind& kind, Target target,
              std::optional<std::size_t> event_count, const std::function<void(Attributes&)>& describe);
    // Ends the SQL clock with the debug record "executed sql for: <name>".
    void sql_done() noexcept;
    [[nodiscard]] Labels labels(std::string_view status) const;
    [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept { return Clock::now() - m_start; }
    // eventstore_component_duration_seconds for the phase that just ended, with its component's labels
    // (ReportedNames).
    void component_done(const Labels& component) noexcept;
    void build_failed(const Error& error) noexcept;
    void database_failed(const DatabaseFailure& failure) noexcept;
    void scan_failed(const Error& error) noexcept;
    void succeeded(std::size_t event_count, const Attributes& finished) noexcept;
    // eventstore_<name>_method_duration_seconds and ..._sql_duration_seconds.
    void record_durations(const Labels& labels, std::chrono::nanoseconds method_time) const;
    // Records the method (and SQL) duration and ends the span with status "error".
    void failed(std::string_view status, std::string_view span_error_type) noexcept;

    const Instruments& m_instruments;
    const OperationKind& m_kind;
    const ReportedNames& m_names; // built once per kind and target: the success path builds no name or label
    std::string m_name;
    Target m_target;
    std::optional<std::size_t> m_event_count; // writes: named in a build failure's record
    Instruments::Span m_span;
    Phase m_phase = Phase::build;
    bool m_ended = false;
    std::string m_sql;
    std::string m_database; // served_by(); "" until known
    Clock::time_point m_start;
    Clock::time_point m_mark;
    Clock::time_point m_sql_start;
    std::chrono::nanoseconds m_sql_time{0};
};

} // namespace eventstore::postgres::detail

#endif
