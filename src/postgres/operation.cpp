#include "postgres/operation.hpp"

#include <map>
#include <utility>

namespace eventstore::postgres::detail {

std::string_view name(Target target) noexcept { return target == Target::replica ? "replica" : "primary"; }

const OperationKind query_kind{"query",
                               Errc::querying_events_failed,
                               false,
                               "failed to build select query",
                               "database query execution failed",
                               "failed to scan database row",
                               "eventstore operation: query completed",
                               "database_query",
                               "row_scan",
                               "scan_results",
                               "eventstore_events_queried_total"};
const OperationKind append_kind{"append",
                                Errc::appending_event_failed,
                                true,
                                "failed to build insert query",
                                "database execution failed during event append",
                                "failed to get rows affected count",
                                "eventstore operation: events appended",
                                "database_exec",
                                "rows_affected",
                                "rows_affected",
                                "eventstore_events_appended_total"};
const OperationKind stream_kind{"query_stream",
                                Errc::querying_events_failed,
                                false,
                                "failed to build select query",
                                "database query execution failed",
                                "failed to scan database row",
                                "eventstore operation: query stream completed",
                                "database_query",
                                "row_scan",
                                "scan_results",
                                "eventstore_events_streamed_total"};
const OperationKind import_kind{"import",
                                Errc::appending_event_failed,
                                true,
                                "failed to build insert query",
                                "database execution failed during event import",
                                "failed to get rows affected count",
                                "eventstore operation: events imported",
                                "database_exec",
                                "rows_affected",
                                "rows_affected",
                                "eventstore_events_imported_total"};

const OperationKind migrate_kind{"migrate",
                                 Errc::migration_failed,
                                 false,
                                 "failed to build migration",
                                 "database execution failed during migration",
                                 "failed to read the catalog",
                                 "eventstore operation: schema migrated",
                                 "database_exec",
                                 "catalog",
                                 "catalog",
                                 ""};

struct ReportedNames {
    std::string calls_total;
    std::string method_duration;
    std::string sql_duration;
    Labels operation; // {operation}
    Labels success;   // {operation, status=success, database_target}
    Labels query_build;
    Labels sql_execution;
    Labels result_processing;
};

namespace {

const ReportedNames& reported_names(const OperationKind& kind, Target target) {
    static const std::map<std::pair<const OperationKind*, Target>, ReportedNames> table = [] {
        std::map<std::pair<const OperationKind*, Target>, ReportedNames> t;
        for (const OperationKind* k : {&query_kind, &append_kind, &stream_kind, &import_kind, &migrate_kind}) {
            for (const Target where : {Target::primary, Target::replica}) {
                const std::string op(k->name);
                ReportedNames n;
                n.calls_total = "eventstore_" + op + "_method_calls_total";
                n.method_duration = "eventstore_" + op + "_method_duration_seconds";
                n.sql_duration = "eventstore_" + op + "_sql_duration_seconds";
                n.operation = {{"operation", op}};
                n.success = {{"operation", op}, {"status", "success"}, {"database_target", std::string(name(where))}};
                n.query_build = n.success;
                n.query_build.emplace("component", "query_build");
                n.sql_execution = n.success;
                n.sql_execution.emplace("component", "sql_execution");
                n.result_processing = n.success;
                n.result_processing.emplace("component", "result_processing");
                t.emplace(std::make_pair(k, where), std::move(n));
            }
        }
        return t;
    }();
    return table.at({&kind, target});
}

} // namespace

Operation::Operation(const Instruments& instruments, const Context& ctx, const OperationKind& kind, Target target)
    : Operation(instruments, ctx, kind, target, std::nullopt, [](Attributes& /*attributes*/) {}) {}

Operation::Operation(const Instruments& instruments, const Context& ctx, const OperationKind& kind,
                     std::span<const StorableEvent> events, std::optional<SequenceNumber> expected)
    : Operation(instruments, ctx, kind, Target::primary, events.size(), [&](Attributes& attributes) {
          attributes.emplace("event_count", std::to_string(events.size()));
          if (expected && !events.empty()) {
              attributes.emplace("expected_seq", std::to_string(*expected));
              attributes.emplace("event_type", events.front().event_type);
          }
      }) {}

Operation::Operation(const Instruments& instruments, const Context& ctx, const OperationKind& kind, Target target,
                     std::optional<std::size_t> event_count, const std::function<void(Attributes&)>& describe)
    : m_instruments(instruments), m_kind(kind), m_names(reported_names(kind, target)), m_name(kind.name),
      m_target(target), m_event_count(event_count), m_start(Clock::now()), m_mark(m_start), m_sql_start(m_start) {
    if (m_instruments.metrics()) {
        guarded([&] { m_instruments.increment_counter(m_names.calls_total, m_names.operation); });
    }
    m_span.context = ctx;
    if (m_instruments.tracing()) {
        guarded([&] {
            Attributes attributes{{"operation", m_name}};
            describe(attributes);
            m_span = m_instruments.start_span(ctx, "eventstore." + m_name, attributes);
        });
    }
}

Operation::~Operation() {
    // Every path of the store ends the operation; this catches what escapes them (an exception of a
    // type the store does not expect), so that no span is left open.
    if (!m_ended) {
        failed("error", "internal");
    }
}

Labels Operation::labels(std::string_view status) const {
    return {{"operation", m_name}, {"status", std::string(status)}, {"database_target", std::string(name(m_target))}};
}

void Operation::component_done(const Labels& component) noexcept {
    const auto now = Clock::now();
    if (m_instruments.metrics()) {
        guarded(
            [&] { m_instruments.record_duration("eventstore_component_duration_seconds", now - m_mark, component); });
    }
    m_mark = now;
}

void Operation::built(std::string sql) noexcept {
    m_sql = std::move(sql);
    component_done(m_names.query_build);
    m_phase = Phase::execute;
    m_sql_start = Clock::now();
}

void Operation::sql_done() noexcept {
    m_sql_time = Clock::now() - m_sql_start;
    if (m_instruments.logging(Instruments::Level::debug)) {
        guarded([&] {
            m_instruments.log(Instruments::Level::debug, context(), "executed sql for: " + m_name,
                              {{"duration_ms", log_milliseconds(m_sql_time)}, {"query", m_sql}});
        });
    }
}

void Operation::executed() noexcept {
    sql_done();
    component_done(m_names.sql_execution);
    m_phase = Phase::process;
}

void Operation::processed() noexcept { component_done(m_names.result_processing); }

void Operation::served_by(const std::string& database) noexcept {
    guarded([&] { m_database = database; });
}

void Operation::record_durations(const Labels& labels, std::chrono::nanoseconds method_time) const {
    m_instruments.record_duration(m_names.method_duration, method_time, labels);
    m_instruments.record_duration(m_names.sql_duration, m_sql_time, labels);
}

void Operation::failed(std::string_view status, std::string_view span_error_type) noexcept {
    m_ended = true;
    const auto method_time = elapsed();
    if (m_instruments.metrics()) {
        guarded([&] { record_durations(labels(status), method_time); });
    }
    if (m_instruments.tracing()) {
        guarded([&] {
            m_instruments.end_span(m_span, "error", {{"error_type", std::string(span_error_type)}}, method_time);
        });
    }
}

void Operation::build_failed(const Error& error) noexcept {
    if (m_instruments.logging(Instruments::Level::error)) {
        guarded([&] {
            LogFields fields{{"error", error.what()}};
            if (m_event_count) {
                fields.emplace_back("event_count", std::to_string(*m_event_count));
            }
            m_instruments.log(Instruments::Level::error, context(), m_kind.build_failed, fields);
        });
    }
    if (m_instruments.metrics()) {
        guarded([&] {
            Labels l = labels("error");
            l.emplace("error_type", "build_query");
            m_instruments.increment_counter("eventstore_database_errors_total", l);
        });
    }
    failed("error", "build_query");
}

void Operation::database_failed(const DatabaseFailure& failure) noexcept {
    if (m_phase == Phase::execute) {
        sql_done(); // the debug record of the statement that failed, and the SQL time it took
    }
    if (m_instruments.logging(Instruments::Level::error)) {
        guarded([&] {
            LogFields fields{{"error", failure.what()}, {"query", m_sql}};
            if (!m_database.empty()) {
                fields.emplace_back("database", m_database);
            }
            m_instruments.log(Instruments::Level::error, context(), m_kind.database_failed, fields);
        });
    }
    switch (failure.kind()) {
    case FailureKind::canceled:
        if (m_instruments.metrics()) {
            guarded([&] {
                m_instruments.increment_counter("eventstore_" + m_name + "_canceled_total", labels("canceled"));
            });
        }
        failed("canceled", "cancelled"); // the Go engine's spans spell it the British way
        return;
    case FailureKind::deadline_exceeded:
        if (m_instruments.metrics()) {
            guarded(
                [&] { m_instruments.increment_counter("eventstore_" + m_name + "_timeout_total", labels("timeout")); });
        }
        failed("timeout", "timeout");
        return;
    case FailureKind::connection:
    case FailureKind::pool_exhausted:
    case FailureKind::statement:
        break;
    }
    if (m_instruments.metrics()) {
        guarded([&] {
            Labels l = labels("error");
            l.emplace("error_type", m_kind.database_error);
            m_instruments.increment_counter("eventstore_database_errors_total", l);
        });
    }
    failed("error", m_kind.database_error);
}

void Operation::scan_failed(const Error& error) noexcept {
    if (m_instruments.logging(Instruments::Level::error)) {
        guarded([&] {
            m_instruments.log(Instruments::Level::error, context(), m_kind.scan_failed, {{"error", error.what()}});
        });
    }
    if (m_instruments.metrics()) {
        guarded([&] {
            Labels l = labels("error");
            l.emplace("error_type", m_kind.scan_error);
            m_instruments.increment_counter("eventstore_database_errors_total", l);
        });
    }
    failed("error", m_kind.scan_span_error);
}

void Operation::caller_failed(const char* what) noexcept {
    if (m_instruments.logging(Instruments::Level::error)) {
        guarded([&] {
            m_instruments.log(Instruments::Level::error, context(), "event callback failed", {{"error", what}});
        });
    }
    failed("error", "callback");
}

ConcurrencyConflict Operation::conflict(std::size_t expected_events, SequenceNumber expected, std::string detail) {
    m_ended = true;
    if (m_instruments.metrics()) {
        guarded([&] {
            m_instruments.increment_counter("eventstore_concurrency_conflicts_total",
                                            {{"operation", m_name},
                                             {"conflict_type", "concurrency"},
                                             {"database_target", std::string(name(m_target))}});
        });
    }
    if (m_instruments.logging(Instruments::Level::info)) {
        guarded([&] {
            m_instruments.log(Instruments::Level::info, context(),
                              "eventstore operation: concurrency conflict detected",
                              {{"expected_events", std::to_string(expected_events)},
                               {"rows_affected", "0"},
                               {"expected_sequence", std::to_string(expected)}});
        });
    }
    if (m_instruments.tracing()) {
        guarded([&] {
            const Attributes a{{"error_type", "concurrency_conflict"},
                               {"rows_affected", "0"},
                               {"duration_ms", span_milliseconds(elapsed())}};
            m_instruments.end_span(m_span, "error", a, a);
        });
    }
    return detail.empty() ? ConcurrencyConflict() : ConcurrencyConflict(std::move(detail));
}

void Operation::read_succeeded(std::size_t event_count, SequenceNumber max_sequence) noexcept {
    succeeded(event_count, m_instruments.tracing() ? Attributes{{"max_sequence", std::to_string(max_sequence)},
                                                                {"event_count", std::to_string(event_count)}}
                                                   : Attributes{});
}

void Operation::write_succeeded(std::size_t event_count) noexcept {
    succeeded(event_count,
              m_instruments.tracing() ? Attributes{{"rows_affected", std::to_string(event_count)}} : Attributes{});
}

void Operation::succeeded(std::size_t event_count, const Attributes& finished) noexcept {
    m_ended = true;
    const auto method_time = elapsed();
    if (m_instruments.metrics()) {
        guarded([&] {
            const Labels& l = m_names.success;
            record_durations(l, method_time);
            if (!m_kind.events_metric.empty()) {
                m_instruments.record_value(m_kind.events_metric, static_cast<double>(event_count), l);
            }
        });
    }
    if (m_instruments.logging(m_instruments.success_level())) {
        guarded([&] {
            LogFields fields = m_kind.events_metric.empty() ? LogFields{{"duration_ms", log_milliseconds(method_time)}}
                                                            : LogFields{{"event_count", std::to_string(event_count)},
                                                                        {"duration_ms", log_milliseconds(method_time)}};
            if (!m_database.empty()) {
                fields.emplace_back("database", m_database);
            }
            m_instruments.log(m_instruments.success_level(), context(), m_kind.succeeded, fields);
        });
    }
    if (!m_database.empty() && m_instruments.tracing()) {
        guarded([&] {
            Attributes with_database = finished;
            with_database.emplace("database", m_database);
            m_instruments.end_span(m_span, "success", with_database, method_time);
        });
        return;
    }
    m_instruments.end_span(m_span, "success", finished, method_time);
}

} // namespace eventstore::postgres::detail
