#include "postgres/snapshot_call.hpp"

namespace eventstore::postgres::detail {

SnapshotCall::SnapshotCall(const Instruments& instruments, const Context& ctx, SnapshotAction action, Target target,
                           std::string_view projection_type, std::string_view filter_hash)
    : m_instruments(instruments), m_action(action), m_target(target), m_start(Clock::now()) {
    if (m_instruments.metrics() || m_instruments.tracing() || m_instruments.logging()) {
        m_projection_type = projection_type;
        m_filter_hash = filter_hash;
    }
    if (m_instruments.tracing()) {
        guarded([&] {
            const std::string operation = std::string(action_name()) + "_snapshot";
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

Errc SnapshotCall::failure_code() const noexcept {
    switch (m_action) {
    case SnapshotAction::save:
        return Errc::saving_snapshot_failed;
    case SnapshotAction::load:
        return Errc::loading_snapshot_failed;
    case SnapshotAction::remove:
        break;
    }
    return Errc::deleting_snapshot_failed;
}

std::string_view SnapshotCall::action_name() const noexcept {
    switch (m_action) {
    case SnapshotAction::save:
        return "save";
    case SnapshotAction::load:
        return "load";
    case SnapshotAction::remove:
        break;
    }
    return "delete";
}

void SnapshotCall::record_call(std::string_view status, std::string_view result, std::chrono::nanoseconds time) const {
    Labels l{{"projection_type", m_projection_type},
             {"status", std::string(status)},
             {"database_target", std::string(name(m_target))}};
    if (!result.empty()) {
        l.emplace("result", result);
    }
    const std::string prefix = "eventstore_snapshot_" + std::string(action_name());
    m_instruments.record_duration(prefix + "_duration_seconds", time, l);
    m_instruments.increment_counter(prefix + "_total", l);
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
            m_instruments.end_span(m_span, "success", finished, time);
        });
    }
}

void SnapshotCall::log_success(std::string_view message, LogFields fields) const noexcept {
    if (m_instruments.logging(m_instruments.success_level())) {
        guarded([&] {
            fields.emplace_back("duration_ms", log_milliseconds(elapsed()));
            m_instruments.log(m_instruments.success_level(), context(), message, fields);
        });
    }
}

void SnapshotCall::saved(SequenceNumber sequence_number) noexcept {
    succeeded({});
    log_success("eventstore operation: snapshot saved successfully",
                {{"projection_type", m_projection_type},
                 {"filter_hash", m_filter_hash},
                 {"sequence_number", std::to_string(sequence_number)}});
}

void SnapshotCall::loaded(const Snapshot& snapshot) noexcept {
    succeeded("hit");
    log_success("eventstore operation: snapshot loaded successfully",
                {{"projection_type", snapshot.projection_type},
                 {"filter_hash", snapshot.filter_hash},
                 {"sequence_number", std::to_string(snapshot.sequence_number)}});
}

void SnapshotCall::missed() noexcept {
    succeeded("miss");
    log_success("eventstore operation: snapshot not found",
                {{"projection_type", m_projection_type}, {"filter_hash", m_filter_hash}});
}

void SnapshotCall::deleted(std::uint64_t rows_affected) noexcept {
    succeeded({});
    log_success("eventstore operation: snapshot deletion completed",
                {{"projection_type", m_projection_type},
                 {"filter_hash", m_filter_hash},
                 {"rows_affected", std::to_string(rows_affected)}});
}

void SnapshotCall::log_failure(const std::exception& failure) const noexcept {
    if (m_instruments.logging(Instruments::Level::error)) {
        guarded([&] {
            const std::string message = m_action == SnapshotAction::save   ? "saving snapshot failed"
                                        : m_action == SnapshotAction::load ? "loading snapshot failed"
                                                                           : "deleting snapshot failed";
            m_instruments.log(Instruments::Level::error, context(), message,
                              {{"error", failure.what()}, {"projection_type", m_projection_type}});
        });
    }
}

void SnapshotCall::database_failed(const DatabaseFailure& failure) noexcept {
    switch (failure.kind()) {
    case FailureKind::canceled:
        failed("canceled", "cancelled");
        break;
    case FailureKind::deadline_exceeded:
        failed("timeout", "timeout");
        break;
    case FailureKind::connection:
    case FailureKind::pool_exhausted:
    case FailureKind::statement:
        failed("error", m_action == SnapshotAction::load ? "database_query" : "database_exec");
        break;
    }
    log_failure(failure);
}

void SnapshotCall::decode_failed(const Error& error) noexcept {
    failed("error", "scan_results");
    log_failure(error);
}

void SnapshotCall::failed(std::string_view status, std::string_view error_type) noexcept {
    m_ended = true;
    const auto time = elapsed();
    if (m_instruments.metrics()) {
        guarded([&] {
            record_call(status, m_action == SnapshotAction::load ? "error" : "", time);
            m_instruments.increment_counter("eventstore_snapshot_" + std::string(action_name()) + "_errors_total",
                                            {{"projection_type", m_projection_type},
                                             {"error_type", std::string(error_type)},
                                             {"status", std::string(status)}});
        });
    }
    if (m_instruments.tracing()) {
        guarded([&] { m_instruments.end_span(m_span, "error", {{"error_type", std::string(error_type)}}, time); });
    }
}

} // namespace eventstore::postgres::detail
