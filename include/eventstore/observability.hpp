#ifndef EVENTSTORE_OBSERVABILITY_HPP
#define EVENTSTORE_OBSERVABILITY_HPP

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventstore {

class Context;

// Structured fields of a log record, in order (Go's alternating slog arguments).
using LogFields = std::vector<std::pair<std::string, std::string>>;
using Labels = std::map<std::string, std::string>;
using Attributes = std::map<std::string, std::string>;

// The level of a log record.
enum class LogLevel { debug, info, warn, error };

// Every hook is optional. Implementations must be thread-safe; the store calls them from whichever
// thread runs the operation, and must not let them throw (their exceptions are swallowed).
class Logger {
public:
    virtual ~Logger() = default;
    virtual void debug(std::string_view message, const LogFields& fields) = 0;
    virtual void info(std::string_view message, const LogFields& fields) = 0;
    virtual void warn(std::string_view message, const LogFields& fields) = 0;
    virtual void error(std::string_view message, const LogFields& fields) = 0;
    // Whether records at `level` are wanted now. The store builds a record (its fields, durations
    // formatted, the SQL text) only when one of its loggers wants it: a logger that filters by level
    // says so here, and the records it would drop cost nothing. The default wants everything.
    [[nodiscard]] virtual bool enabled(LogLevel level) const {
        (void)level;
        return true;
    }
};

// The same, with the operation's Context (and so its span) for trace correlation.
class ContextualLogger {
public:
    virtual ~ContextualLogger() = default;
    virtual void debug(const Context& ctx, std::string_view message, const LogFields& fields) = 0;
    virtual void info(const Context& ctx, std::string_view message, const LogFields& fields) = 0;
    virtual void warn(const Context& ctx, std::string_view message, const LogFields& fields) = 0;
    virtual void error(const Context& ctx, std::string_view message, const LogFields& fields) = 0;
    // As Logger::enabled.
    [[nodiscard]] virtual bool enabled(LogLevel level) const {
        (void)level;
        return true;
    }
};

class MetricsCollector {
public:
    virtual ~MetricsCollector() = default;
    virtual void record_duration(std::string_view metric, std::chrono::nanoseconds duration, const Labels& labels) = 0;
    virtual void increment_counter(std::string_view metric, const Labels& labels) = 0;
    virtual void record_value(std::string_view metric, double value, const Labels& labels) = 0;
};

// An active span.
class SpanContext {
public:
    virtual ~SpanContext() = default;
    virtual void set_status(std::string_view status) = 0;
    virtual void add_attribute(std::string_view key, std::string_view value) = 0;
    // The span as a W3C traceparent ("00-<trace id>-<span id>-<flags>"), for the store to pass on in
    // the operation's Context (Context::traceparent(): logs then name this span). "" (the default)
    // when the tracer has none.
    [[nodiscard]] virtual std::string traceparent() const { return {}; }
};

class TracingCollector {
public:
    virtual ~TracingCollector() = default;
    // Returns the span, or null to skip finishing it. ctx.traceparent() is the caller's trace context,
    // if any: the new span's parent. The store passes ctx.with_span(span) on to the operation's logs
    // (with the span's own traceparent(), when it gives one).
    virtual std::shared_ptr<SpanContext> start_span(const Context& ctx, std::string_view name,
                                                    const Attributes& attributes) = 0;
    virtual void finish_span(SpanContext& span, std::string_view status, const Attributes& attributes) = 0;
};

} // namespace eventstore

#endif
