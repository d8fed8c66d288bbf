#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <utility>

#include <eventstore/context.hpp>

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
