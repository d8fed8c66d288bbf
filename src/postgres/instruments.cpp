#include "postgres/instruments.hpp"

#include <array>
#include <cstdio>

namespace eventstore::postgres::detail {

namespace {

std::string fixed(double value, int decimals) {
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%.*f", decimals, value);
    return buf.data();
}

double milliseconds(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Runs a hook, swallowing what it throws.
template <typename Fn>
void guarded(Fn&& fn) noexcept {
    try {
        fn();
    } catch (...) { // NOLINT(bugprone-empty-catch): a failing hook must not fail the operation
    }
}

} // namespace

void Instruments::log(Level level, const Context& ctx, std::string_view message,
                      const LogFields& fields) const noexcept {
    if (m_logger) {
        guarded([&] {
            switch (level) {
            case Level::debug:
                m_logger->debug(message, fields);
                break;
            case Level::info:
                m_logger->info(message, fields);
                break;
            case Level::warn:
                m_logger->warn(message, fields);
                break;
            case Level::error:
                m_logger->error(message, fields);
                break;
            }
        });
    }
    if (m_contextual_logger) {
        guarded([&] {
            switch (level) {
            case Level::debug:
                m_contextual_logger->debug(ctx, message, fields);
                break;
            case Level::info:
                m_contextual_logger->info(ctx, message, fields);
                break;
            case Level::warn:
                m_contextual_logger->warn(ctx, message, fields);
                break;
            case Level::error:
                m_contextual_logger->error(ctx, message, fields);
                break;
            }
        });
    }
}

void Instruments::record_duration(std::string_view metric, std::chrono::nanoseconds d,
                                  const Labels& labels) const noexcept {
    if (m_metrics) {
        guarded([&] { m_metrics->record_duration(metric, d, labels); });
    }
}

void Instruments::increment_counter(std::string_view metric, const Labels& labels) const noexcept {
    if (m_metrics) {
        guarded([&] { m_metrics->increment_counter(metric, labels); });
    }
}

void Instruments::record_value(std::string_view metric, double value, const Labels& labels) const noexcept {
    if (m_metrics) {
        guarded([&] { m_metrics->record_value(metric, value, labels); });
    }
}

Instruments::Span Instruments::start_span(const Context& ctx, std::string_view name,
                                          const Attributes& attributes) const noexcept {
    Span out{nullptr, ctx};
    if (m_tracing) {
        guarded([&] {
            out.span = m_tracing->start_span(ctx, name, attributes);
            if (out.span) {
                out.context = ctx.with_span(out.span);
            }
        });
    }
    return out;
}

void Instruments::end_span(const Span& span, std::string_view status, const Attributes& added,
                           const Attributes& finished) const noexcept {
    if (!m_tracing || !span.span) {
        return;
    }
    guarded([&] {
        span.span->set_status(status);
        for (const auto& [key, value] : added) {
            span.span->add_attribute(key, value);
        }
    });
    guarded([&] { m_tracing->finish_span(*span.span, status, finished); });
}

// --- Operation -----------------------------------------------------------------------------------

const OperationKind query_kind{"query",
                               "failed to build select query",
                               "database query execution failed",
                               "failed to scan database row",
                               "eventstore operation: query completed",
                               "database_query",
                               "row_scan",
                               "scan_results",
                               "eventstore_events_queried_total"};
const OperationKind append_kind{"append",
                                "failed to build insert query",
                                "database execution failed during event append",
                                "failed to get rows affected count",
                                "eventstore operation: events appended",
                                "database_exec",
                                "rows_affected",
                                "rows_affected",
                                "eventstore_events_appended_total"};
const OperationKind stream_kind{"query_stream",
                                "failed to build select query",
                                "database query execution failed",
                                "failed to scan database row",
                                "eventstore operation: query stream completed",
                                "database_query",
                                "row_scan",
                                "scan_results",
                                "eventstore_events_streamed_total"};
const OperationKind import_kind{"import",
                                "failed to build insert query",
                                "database execution failed during event import",
                                "failed to get rows affected count",
                                "eventstore operation: events imported",
                                "database_exec",
                                "rows_affected",
                                "rows_affected",
                                "eventstore_events_imported_total"};

Operation::Operation(const Instruments& instruments, const Context& ctx, const OperationKind& kind,
                     std::string_view target, const Attributes& span_attributes)
    : m_instruments(instruments), m_kind(kind), m_name(kind.name), m_target(target), m_start(Clock::now()),
      m_mark(m_start), m_sql_start(m_start) {
    if (m_instruments.metrics()) {
        guarded([&] {
            m_instruments.increment_counter("eventstore_" + m_name + "_method_calls_total", {{"operation", m_name}});
        });
    }
    m_span.context = ctx;
    if (m_instruments.tracing()) {
        guarded([&] {
            Attributes attributes = span_attributes;
            attributes.emplace("operation", m_name);
            m_span = m_instruments.start_span(ctx, "eventstore." + m_name, attributes);
        });
    }
}

Operation::~Operation() {
    // Every path of the store ends the operation explicitly; this catches what escapes them (an
    // exception of a type the store does not expect), so that no span is left open.
    if (!m_ended) {
        failed("error", "internal", {});
    }
}

Labels Operation::labels(std::string_view status) const {
    return {{"operation", m_name}, {"status", std::string(status)}, {"database_target", std::string(m_target)}};
}

void Operation::component_done(std::string_view component) noexcept {
    const auto now = Clock::now();
    if (m_instruments.metrics()) {
        guarded([&] {
            Labels l = labels("success");
            l.emplace("component", component);
            m_instruments.record_duration("eventstore_component_duration_seconds", now - m_mark, l);
        });
    }
    m_mark = now;
}

void Operation::sql_done(const std::string& sql) noexcept {
    m_sql_time = Clock::now() - m_sql_start;
    if (m_instruments.logging()) {
        guarded([&] {
            m_instruments.log(Instruments::Level::debug, context(), "executed sql for: " + m_name,
                              {{"duration_ms", log_milliseconds(m_sql_time)}, {"query", sql}});
        });
    }
}

void Operation::record_durations(const Labels& labels, std::chrono::nanoseconds method_time) const {
    m_instruments.record_duration("eventstore_" + m_name + "_method_duration_seconds", method_time, labels);
    m_instruments.record_duration("eventstore_" + m_name + "_sql_duration_seconds", m_sql_time, labels);
}

void Operation::failed(std::string_view status, std::string_view span_error_type, Attributes extra) noexcept {
    m_ended = true;
    const auto method_time = elapsed();
    if (m_instruments.metrics()) {
        guarded([&] {
            const Labels l = labels(status);
            record_durations(l, method_time);
        });
    }
    if (m_instruments.tracing()) {
        guarded([&] {
            extra.emplace("error_type", span_error_type);
            Attributes added = extra;
            added.emplace("duration_ms", span_milliseconds(method_time));
            m_instruments.end_span(m_span, "error", added, extra);
        });
    }
}

void Operation::build_failed(const Error& error, const LogFields& extra) noexcept {
    if (m_instruments.logging()) {
        guarded([&] {
            LogFields fields{{"error", error.what()}};
            fields.insert(fields.end(), extra.begin(), extra.end());
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
    failed("error", "build_query", {});
}

void Operation::database_failed(const DatabaseFailure& failure, const std::string& sql) noexcept {
    if (m_instruments.logging()) {
        guarded([&] {
            m_instruments.log(Instruments::Level::error, context(), m_kind.database_failed,
                              {{"error", failure.what()}, {"query", sql}});
        });
    }
    switch (failure.interruption) {
    case Interruption::canceled:
        if (m_instruments.metrics()) {
            guarded([&] {
                m_instruments.increment_counter("eventstore_" + m_name + "_canceled_total", labels("canceled"));
            });
        }
        failed("canceled", "cancelled", {}); // the Go engine's spans spell it the British way
        return;
    case Interruption::deadline_exceeded:
        if (m_instruments.metrics()) {
            guarded(
                [&] { m_instruments.increment_counter("eventstore_" + m_name + "_timeout_total", labels("timeout")); });
        }
        failed("timeout", "timeout", {});
        return;
    case Interruption::none:
        break;
    }
    const std::string_view type = m_kind.database_error;
    if (m_instruments.metrics()) {
        guarded([&] {
            Labels l = labels("error");
            l.emplace("error_type", type);
            m_instruments.increment_counter("eventstore_database_errors_total", l);
        });
    }
    failed("error", type, {});
}

void Operation::scan_failed(const Error& error) noexcept {
    if (m_instruments.logging()) {
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
    failed("error", m_kind.scan_span_error, {});
}

void Operation::caller_failed(const char* what) noexcept {
    if (m_instruments.logging()) {
        guarded([&] {
            m_instruments.log(Instruments::Level::error, context(), "event callback failed", {{"error", what}});
        });
    }
    failed("error", "callback", {});
}

void Operation::conflicted(std::size_t expected_events, std::uint64_t expected_sequence) noexcept {
    m_ended = true;
    if (m_instruments.metrics()) {
        guarded([&] {
            m_instruments.increment_counter(
                "eventstore_concurrency_conflicts_total",
                {{"operation", m_name}, {"conflict_type", "concurrency"}, {"database_target", std::string(m_target)}});
        });
    }
    if (m_instruments.logging()) {
        guarded([&] {
            m_instruments.log(Instruments::Level::info, context(),
                              "eventstore operation: concurrency conflict detected",
                              {{"expected_events", std::to_string(expected_events)},
                               {"rows_affected", "0"},
                               {"expected_sequence", std::to_string(expected_sequence)}});
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
}

void Operation::read_succeeded(std::size_t event_count, std::uint64_t max_sequence) noexcept {
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
            const Labels l = labels("success");
            record_durations(l, method_time);
            m_instruments.record_value(m_kind.events_metric, static_cast<double>(event_count), l);
        });
    }
    if (m_instruments.logging()) {
        guarded([&] {
            m_instruments.log(
                Instruments::Level::info, context(), m_kind.succeeded,
                {{"event_count", std::to_string(event_count)}, {"duration_ms", log_milliseconds(method_time)}});
        });
    }
    if (m_instruments.tracing()) {
        guarded([&] {
            Attributes added = finished;
            added.emplace("duration_ms", span_milliseconds(method_time));
            m_instruments.end_span(m_span, "success", added, finished);
        });
    }
}

// --- SnapshotCall ------------------------------------------------------------------------------

SnapshotCall::SnapshotCall(const Instruments& instruments, const Context& ctx, std::string_view action,
                           std::string_view target, std::string_view projection_type, std::string_view filter_hash)
    : m_instruments(instruments), m_action(action), m_target(target), m_start(Clock::now()) {
    if (m_instruments.metrics() || m_instruments.tracing()) {
        m_projection_type = projection_type;
    }
    if (m_instruments.tracing()) {
        guarded([&] {
            const std::string operation = m_action + "_snapshot";
            m_span = m_instruments.start_span(ctx, "eventstore." + operation,
                                              {{"operation", operation},
                                               {"projection_type", std::string(projection_type)},
                                               {"filter_hash", std::string(filter_hash)}});
        });
    }
    if (!m_span.span) {
        m_span.context = ctx;
    }
}

SnapshotCall::~SnapshotCall() {
    if (!m_ended) {
        failed("error", "internal");
    }
}

void SnapshotCall::record_call(std::string_view status, std::string_view result, std::chrono::nanoseconds time) const {
    Labels l{{"projection_type", m_projection_type},
             {"status", std::string(status)},
             {"database_target", std::string(m_target)}};
    if (!result.empty()) {
        l.emplace("result", result);
    }
    m_instruments.record_duration("eventstore_snapshot_" + m_action + "_duration_seconds", time, l);
    m_instruments.increment_counter("eventstore_snapshot_" + m_action + "_total", l);
}

void SnapshotCall::succeeded(std::string_view result) noexcept {
    m_ended = true;
    const auto time = elapsed();
    if (m_instruments.metrics()) {
        guarded([&] { record_call("success", result, time); });
    }
    if (m_instruments.tracing()) {
        guarded([&] {
            Attributes finished;
            if (!result.empty()) {
                finished.emplace("result", result);
            }
            Attributes added = finished;
            added.emplace("duration_ms", span_milliseconds(time));
            m_instruments.end_span(m_span, "success", added, finished);
        });
    }
}

void SnapshotCall::database_failed(const DatabaseFailure& failure) noexcept {
    switch (failure.interruption) {
    case Interruption::canceled:
        failed("canceled", "cancelled");
        return;
    case Interruption::deadline_exceeded:
        failed("timeout", "timeout");
        return;
    case Interruption::none:
        failed("error", m_action == "load" ? "database_query" : "database_exec");
        return;
    }
}

void SnapshotCall::decode_failed() noexcept { failed("error", "scan_results"); }

void SnapshotCall::failed(std::string_view status, std::string_view error_type) noexcept {
    m_ended = true;
    const auto time = elapsed();
    if (m_instruments.metrics()) {
        guarded([&] {
            record_call(status, m_action == "load" ? "error" : "", time);
            m_instruments.increment_counter("eventstore_snapshot_" + m_action + "_errors_total",
                                            {{"projection_type", m_projection_type},
                                             {"error_type", std::string(error_type)},
                                             {"status", std::string(status)}});
        });
    }
    if (m_instruments.tracing()) {
        guarded([&] {
            const Attributes finished{{"error_type", std::string(error_type)}};
            Attributes added = finished;
            added.emplace("duration_ms", span_milliseconds(time));
            m_instruments.end_span(m_span, "error", added, finished);
        });
    }
}

std::string log_milliseconds(std::chrono::nanoseconds d) { return fixed(milliseconds(d), 3); }
std::string span_milliseconds(std::chrono::nanoseconds d) { return fixed(milliseconds(d), 2); }

} // namespace eventstore::postgres::detail
