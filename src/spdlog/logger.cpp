#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include <eventstore/context.hpp>
#include <eventstore/spdlog.hpp>

namespace eventstore {

namespace {

bool needs_quotes(std::string_view value) {
    return value.empty() || value.find_first_of(" \t\"=\\\n\r") != std::string_view::npos;
}

void append_value(std::string& out, std::string_view value) {
    if (!needs_quotes(value)) {
        out += value;
        return;
    }
    out += '"';
    for (const char c : value) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        default:
            out += c;
        }
    }
    out += '"';
}

class SpdlogLogger final : public ContextualLogger {
public:
    explicit SpdlogLogger(std::shared_ptr<::spdlog::logger> logger) : m_logger(std::move(logger)) {}

    void debug(const Context& ctx, std::string_view message, const LogFields& fields) override {
        log(::spdlog::level::debug, ctx, message, fields);
    }
    void info(const Context& ctx, std::string_view message, const LogFields& fields) override {
        log(::spdlog::level::info, ctx, message, fields);
    }
    void warn(const Context& ctx, std::string_view message, const LogFields& fields) override {
        log(::spdlog::level::warn, ctx, message, fields);
    }
    void error(const Context& ctx, std::string_view message, const LogFields& fields) override {
        log(::spdlog::level::err, ctx, message, fields);
    }
    [[nodiscard]] bool enabled(LogLevel level) const override {
        switch (level) {
        case LogLevel::debug:
            return m_logger->should_log(::spdlog::level::debug);
        case LogLevel::info:
            return m_logger->should_log(::spdlog::level::info);
        case LogLevel::warn:
            return m_logger->should_log(::spdlog::level::warn);
        case LogLevel::error:
            return m_logger->should_log(::spdlog::level::err);
        }
        return true;
    }

private:
    void log(::spdlog::level::level_enum level, const Context& ctx, std::string_view message,
             const LogFields& fields) const {
        if (!m_logger->should_log(level)) {
            return;
        }
        std::string line(message);
        for (const auto& [key, value] : fields) {
            line += ' ';
            line += key;
            line += '=';
            append_value(line, value);
        }
        // traceparent: "00-<trace id: 32>-<span id: 16>-<flags>"
        if (const std::string traceparent = ctx.traceparent(); !traceparent.empty()) {
            line += " trace_id=";
            line.append(traceparent, 3, 32);
            line += " span_id=";
            line.append(traceparent, 36, 16);
        }
        m_logger->log(level, "{}", line);
    }

    std::shared_ptr<::spdlog::logger> m_logger;
};

} // namespace

std::shared_ptr<ContextualLogger> make_spdlog_logger(std::shared_ptr<::spdlog::logger> logger) {
    if (!logger) {
        throw std::invalid_argument("make_spdlog_logger: the spdlog logger is null");
    }
    return std::make_shared<SpdlogLogger>(std::move(logger));
}

} // namespace eventstore
