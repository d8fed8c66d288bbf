#ifndef EVENTSTORE_SRC_POSTGRES_INSTRUMENTS_HPP
#define EVENTSTORE_SRC_POSTGRES_INSTRUMENTS_HPP

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <eventstore/context.hpp>
#include <eventstore/observability.hpp>
#include <eventstore/postgres/store_options.hpp>

namespace eventstore::postgres::detail {

// The store's calls into the user's logger, metrics and tracing hooks (names and records:
// docs/observability.md). A hook that throws is ignored: observing an operation must never change
// its outcome. With no hook configured every call is a cheap no-op, so the uninstrumented store pays
// nothing.
class Instruments {
public:
    using Level = LogLevel;

    explicit Instruments(const StoreOptions& options)
        : m_logger(options.logger), m_contextual_logger(options.contextual_logger), m_metrics(options.metrics),
          m_tracing(options.tracing),
          m_success_level(options.success_log_level == SuccessLogLevel::info ? Level::info : Level::debug) {}

    [[nodiscard]] bool logging() const noexcept { return m_logger || m_contextual_logger; }
    // Whether a record at `level` would reach a logger (Logger::enabled): build its fields only then.
    [[nodiscard]] bool logging(Level level) const noexcept;
    [[nodiscard]] bool metrics() const noexcept { return m_metrics != nullptr; }
    [[nodiscard]] bool tracing() const noexcept { return m_tracing != nullptr; }
    // The level of a successful call's record (StoreOptions::success_log_level).
    [[nodiscard]] Level success_level() const noexcept { return m_success_level; }

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
    // The usual ending: `added` is `finished` plus duration_ms.
    void end_span(const Span& span, std::string_view status, const Attributes& finished,
                  std::chrono::nanoseconds duration) const noexcept;

private:
    std::shared_ptr<Logger> m_logger;
    std::shared_ptr<ContextualLogger> m_contextual_logger;
    std::shared_ptr<MetricsCollector> m_metrics;
    std::shared_ptr<TracingCollector> m_tracing;
    Level m_success_level;
};

// Runs a hook, swallowing what it throws.
template <typename Fn>
void guarded(Fn&& fn) noexcept {
    try {
        fn();
    } catch (...) { // NOLINT(bugprone-empty-catch): a failing hook must not fail the operation
    }
}

// Milliseconds with three decimals, as the Go engine's log fields carry them.
[[nodiscard]] std::string log_milliseconds(std::chrono::nanoseconds d);
// Milliseconds with two decimals, as its span attributes carry them.
[[nodiscard]] std::string span_milliseconds(std::chrono::nanoseconds d);

} // namespace eventstore::postgres::detail

#endif
