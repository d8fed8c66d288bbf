#ifndef EVENTSTORE_CONTEXT_HPP
#define EVENTSTORE_CONTEXT_HPP

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

namespace eventstore {

class SpanContext;

// Where a read may run. strong (the default): on the primary, with the no-skipped-event guarantee; the
// level to decide appends on. eventual: on the replica when the store has one (else the primary),
// possibly behind and without that guarantee (docs/design/gap-free-reads.md, "Eventual reads").
// Writes always run on the primary.
enum class Consistency { strong, eventual };

// "strong", "eventual", or "unknown".
[[nodiscard]] std::string_view to_string(Consistency level) noexcept;

// Per-operation context, the counterpart of Go's context.Context: consistency level, deadline,
// cancellation and the current trace span. Immutable and cheap to copy; each with_* returns a copy.
class Context {
public:
    Context() = default; // strong, no deadline, not cancellable

    [[nodiscard]] Context with_timeout(std::chrono::nanoseconds timeout) const;
    // The earlier of this and any deadline already set wins, as in Go.
    [[nodiscard]] Context with_deadline(std::chrono::steady_clock::time_point deadline) const;
    // request_stop() on the token's source cancels the running call.
    [[nodiscard]] Context with_stop_token(std::stop_token token) const;
    [[nodiscard]] Context with_consistency(Consistency level) const;
    // Read-your-writes on replicas: an eventual read made with this context includes every commit up to
    // this WAL position (AppendResult::wal_position): it waits, within the deadline, for a replica that
    // has replayed that far, or reads from the primary (docs/replicas.md). The greater of this and a
    // position already set wins; 0 asks for nothing.
    [[nodiscard]] Context with_min_wal_position(std::uint64_t wal_position) const;
    [[nodiscard]] Context with_span(std::shared_ptr<SpanContext> span) const;
    // W3C trace context: the caller's span, as an incoming `traceparent` header carries it,
    // "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>" (lowercase; ids not all zero; a later
    // version's header is read for these fields, per the specification). The tracer sees it in
    // start_span and makes the store's spans its children; log adapters print its ids. Throws
    // Error(Errc::invalid_traceparent) for anything else.
    [[nodiscard]] Context with_traceparent(std::string_view traceparent) const;

    [[nodiscard]] Consistency consistency() const noexcept { return m_consistency; }
    [[nodiscard]] std::uint64_t min_wal_position() const noexcept { return m_min_wal_position; }
    [[nodiscard]] std::optional<std::chrono::steady_clock::time_point> deadline() const noexcept { return m_deadline; }
    [[nodiscard]] const std::stop_token& stop_token() const noexcept { return m_stop_token; }
    [[nodiscard]] const std::shared_ptr<SpanContext>& span() const noexcept { return m_span; }
    // The trace context set by with_traceparent, as version 00; "" when none.
    [[nodiscard]] std::string traceparent() const;

    [[nodiscard]] bool stop_requested() const noexcept { return m_stop_token.stop_requested(); }
    [[nodiscard]] bool deadline_passed() const noexcept {
        return m_deadline && std::chrono::steady_clock::now() >= *m_deadline;
    }

private:
    Consistency m_consistency = Consistency::strong;
    std::uint64_t m_min_wal_position = 0;
    std::optional<std::chrono::steady_clock::time_point> m_deadline;
    std::stop_token m_stop_token;
    std::shared_ptr<SpanContext> m_span;
    // A version-00 traceparent, or all zero when none: a fixed array keeps a copy free of allocation.
    std::array<char, 55> m_traceparent{};
};

[[nodiscard]] Context with_strong_consistency(Context ctx = {});
[[nodiscard]] Context with_eventual_consistency(Context ctx = {});

} // namespace eventstore

#endif
