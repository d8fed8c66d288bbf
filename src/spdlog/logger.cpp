#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include <eventstore/context.hpp>
#include <eventstore/spdlog.hpp>

#include "core/json.hpp"

namespace eventstore {

namespace {

// A value with a space, a quote, '=', a backslash or a control character (or none at all) goes in
// double quotes, escaped as a JSON string is (core/json.hpp).
void append_value(std::string& out, std::string_view value) {
    const bool plain = !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
        return c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20U;
    });
    if (plain) {
        out += value;
    } else {
        detail::json::append_quoted(out, value);
    }
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
