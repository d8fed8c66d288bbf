#include "postgres/instruments.hpp"

#include <array>
#include <cstdio>

#include <eventstore/error.hpp>

namespace eventstore::postgres::detail {

namespace {

std::string fixed(double value, int decimals) {
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%.*f", decimals, value);
    return buf.data();
}

double milliseconds(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

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

bool Instruments::logging(Level level) const noexcept {
    const auto wants = [level](const auto& logger) {
        if (!logger) {
            return false;
        }
        try {
            return logger->enabled(level);
        } catch (...) {
            return true; // a failing hook is ignored, not taken to mean "no"
        }
    };
    return wants(m_logger) || wants(m_contextual_logger);
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
                // The span's own trace context, for what the operation passes on (its logs).
                if (const std::string own = out.span->traceparent(); !own.empty()) {
                    try {
                        out.context = out.context.with_traceparent(own);
                    } catch (const Error&) {
                        // A tracer's malformed id is not the caller's problem: keep the caller's.
                    }
                }
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

void Instruments::end_span(const Span& span, std::string_view status, const Attributes& finished,
                           std::chrono::nanoseconds duration) const noexcept {
    if (!m_tracing || !span.span) {
        return;
    }
    guarded([&] {
        Attributes added = finished;
        added.emplace("duration_ms", span_milliseconds(duration));
        end_span(span, status, added, finished);
    });
}

std::string log_milliseconds(std::chrono::nanoseconds d) { return fixed(milliseconds(d), 3); }
std::string span_milliseconds(std::chrono::nanoseconds d) { return fixed(milliseconds(d), 2); }

} // namespace eventstore::postgres::detail
