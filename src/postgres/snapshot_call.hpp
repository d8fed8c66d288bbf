#ifndef EVENTSTORE_SRC_POSTGRES_SNAPSHOT_CALL_HPP
#define EVENTSTORE_SRC_POSTGRES_SNAPSHOT_CALL_HPP

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include <eventstore/context.hpp>
#include <eventstore/error.hpp>
#include <eventstore/snapshot.hpp>

#include "postgres/failure.hpp"
#include "postgres/instruments.hpp"
#include "postgres/operation.hpp"

namespace eventstore::postgres::detail {

enum class SnapshotAction { save, load, remove };

// One save_snapshot, load_snapshot or delete_snapshot call: its failure boundary, and what the hooks
// see of it (the Go library's log records, the snapshot metrics its project planned, a span).
//
// run() turns whatever the body throws into the Error the caller sees, Error(<action>_snapshot_failed)
// caused by the failure's kind (a DatabaseFailure) or by the Error's code (a row that does not
// decode), and records the failure once.
class SnapshotCall {
public:
    using Clock = std::chrono::steady_clock;

    SnapshotCall(const Instruments& instruments, const Context& ctx, SnapshotAction action, Target target,
                 std::string_view projection_type, std::string_view filter_hash);
    SnapshotCall(const SnapshotCall&) = delete;
    SnapshotCall& operator=(const SnapshotCall&) = delete;
    ~SnapshotCall();

    [[nodiscard]] const Context& context() const noexcept { return m_span.context; }

    template <typename Body>
    std::invoke_result_t<Body&> run(Body&& body) {
        try {
            return body();
        } catch (const DatabaseFailure& failure) {
            database_failed(failure);
            throw failure.to_error(failure_code(), m_action != SnapshotAction::load);
        } catch (const Error& error) {
            decode_failed(error);
            throw Error(failure_code(), error.code(), error.detail(), error.sqlstate());
        }
    }

    // Endings.
    void saved(SequenceNumber sequence_number) noexcept;
    void loaded(const Snapshot& snapshot) noexcept;
    void missed() noexcept;
    void deleted(std::uint64_t rows_affected) noexcept;

private:
    [[nodiscard]] Errc failure_code() const noexcept;
    [[nodiscard]] std::string_view action_name() const noexcept;
    [[nodiscard]] std::chrono::nanoseconds elapsed() const noexcept { return Clock::now() - m_start; }
    // Metrics and span of a success; `result` is "hit" or "miss" for a load, empty otherwise.
    void succeeded(std::string_view result) noexcept;
    void database_failed(const DatabaseFailure& failure) noexcept;
    void decode_failed(const Error& error) noexcept;
    // eventstore_snapshot_<action>_duration_seconds and ..._total; `result` empty for no result label.
    void record_call(std::string_view status, std::string_view result, std::chrono::nanoseconds time) const;
    void failed(std::string_view status, std::string_view error_type) noexcept;
    // The error record ("saving snapshot failed", ...).
    void log_failure(const std::exception& failure) const noexcept;
    void log_success(std::string_view message, LogFields fields) const noexcept;

    const Instruments& m_instruments;
    SnapshotAction m_action;
    Target m_target;
    std::string m_projection_type;
    std::string m_filter_hash;
    Instruments::Span m_span;
    bool m_ended = false;
    Clock::time_point m_start;
};

} // namespace eventstore::postgres::detail

#endif
