#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <utility>

#include <eventstore/context.hpp>
#include <eventstore/error.hpp>

#include "core/context_wait.hpp"

namespace eventstore {

std::string_view to_string(Consistency level) noexcept {
    switch (level) {
    case Consistency::strong:
        return "strong";
    case Consistency::eventual:
        return "eventual";
    }
    return "unknown";
}

Context Context::with_timeout(std::chrono::nanoseconds timeout) const {
    const auto now = std::chrono::steady_clock::now();
    // Saturate instead of overflowing the clock for "practically infinite" timeouts.
    const auto room = std::chrono::steady_clock::time_point::max() - now;
    if (timeout >= room) {
        return with_deadline(std::chrono::steady_clock::time_point::max());
    }
    return with_deadline(now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout));
}

Context Context::with_deadline(std::chrono::steady_clock::time_point deadline) const {
    Context copy = *this;
    // As in Go, a derived context can never outlive its parent's deadline.
    if (!copy.m_deadline || deadline < *copy.m_deadline) {
        copy.m_deadline = deadline;
    }
    return copy;
}

Context Context::with_stop_token(std::stop_token token) const {
    Context copy = *this;
    copy.m_stop_token = std::move(token);
    return copy;
}

Context Context::with_min_wal_position(std::uint64_t wal_position) const {
    Context copy = *this;
    copy.m_min_wal_position = std::max(copy.m_min_wal_position, wal_position);
    return copy;
}

Context Context::with_consistency(Consistency level) const {
    Context copy = *this;
    copy.m_consistency = level;
    return copy;
}

Context Context::with_span(std::shared_ptr<SpanContext> span) const {
    Context copy = *this;
    copy.m_span = std::move(span);
    return copy;
}

namespace {

bool lower_hex(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool all_zero(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c == '0'; });
}

} // namespace

// W3C Trace Context, "traceparent Header": version "-" trace-id "-" parent-id "-" trace-flags, each
// lowercase hex; version ff is invalid; a version other than 00 may carry more after the flags.
Context Context::with_traceparent(std::string_view traceparent) const {
    const auto refuse = [&](const char* why) {
        throw Error(Errc::invalid_traceparent, "\"" + std::string(traceparent.substr(0, 80)) + "\": " + why);
    };
    if (traceparent.size() < 55 || traceparent[2] != '-' || traceparent[35] != '-' || traceparent[52] != '-') {
        refuse("not of the form 00-<32 hex digits>-<16 hex digits>-<2 hex digits>");
    }
    const std::string_view version = traceparent.substr(0, 2);
    const std::string_view trace_id = traceparent.substr(3, 32);
    const std::string_view parent_id = traceparent.substr(36, 16);
    const std::string_view flags = traceparent.substr(53, 2);
    if (!lower_hex(version) || !lower_hex(trace_id) || !lower_hex(parent_id) || !lower_hex(flags)) {
        refuse("not lowercase hexadecimal");
    }
    if (version == "ff") {
        refuse("version ff is invalid");
    }
    if (version == "00" ? traceparent.size() != 55 : traceparent.size() > 55 && traceparent[55] != '-') {
        refuse("unexpected text after the flags");
    }
    if (all_zero(trace_id) || all_zero(parent_id)) {
        refuse("an all-zero trace id or parent id is invalid");
    }
    Context copy = *this;
    std::copy(traceparent.begin(), traceparent.begin() + 55, copy.m_traceparent.begin());
    copy.m_traceparent[0] = '0'; // passed on as the version this library speaks
    copy.m_traceparent[1] = '0';
    return copy;
}

std::string Context::traceparent() const {
    if (m_traceparent[0] == '\0') {
        return {};
    }
    return {m_traceparent.begin(), m_traceparent.end()};
}

// The by-value parameter is the API's fixed call shape (API.md).
// NOLINTNEXTLINE(performance-unnecessary-value-param)
Context with_strong_consistency(Context ctx) { return ctx.with_consistency(Consistency::strong); }

// NOLINTNEXTLINE(performance-unnecessary-value-param)
Context with_eventual_consistency(Context ctx) { return ctx.with_consistency(Consistency::eventual); }

void detail::sleep_within(const Context& ctx, std::chrono::milliseconds pause) {
    auto until = std::chrono::steady_clock::now() + pause;
    if (const auto deadline = ctx.deadline()) {
        until = std::min(until, *deadline);
    }
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock<std::mutex> lock(mutex);
    wake.wait_until(lock, ctx.stop_token(), until, [] { return false; });
}

} // namespace eventstore
