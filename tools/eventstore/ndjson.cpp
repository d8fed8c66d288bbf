#include "ndjson.hpp"

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <utility>
#include <vector>

#include <eventstore/error.hpp>

#include "core/json.hpp"

namespace eventstore::cli {

namespace {

using namespace std::chrono;

// --- reading a line's top-level members as raw text ------------------------------------------------
// Only the layout of the top-level object is read here; each value's own syntax is checked by what
// reads it (the library checks payload and metadata when they are appended).

class Scanner {
public:
    explicit Scanner(std::string_view text) : m_text(text) {}

    void skip_space() {
        while (m_at < m_text.size() &&
               (m_text[m_at] == ' ' || m_text[m_at] == '\t' || m_text[m_at] == '\r' || m_text[m_at] == '\n')) {
            ++m_at;
        }
    }
    [[nodiscard]] bool at_end() const { return m_at >= m_text.size(); }
    [[nodiscard]] char peek() const { return at_end() ? '\0' : m_text[m_at]; }
    void expect(char c) {
        skip_space();
        if (peek() != c) {
            fail(std::string("expected '") + c + "'");
        }
        ++m_at;
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw BadLine(what + " at byte " + std::to_string(m_at + 1));
    }

    // A string's raw text, quotes included.
    std::string_view raw_string() {
        skip_space();
        const std::size_t start = m_at;
        if (peek() != '"') {
            fail("expected a string");
        }
        for (++m_at; m_at < m_text.size(); ++m_at) {
            if (m_text[m_at] == '\\') {
                ++m_at;
            } else if (m_text[m_at] == '"') {
                ++m_at;
                return m_text.substr(start, m_at - start);
            }
        }
        fail("unterminated string");
    }

    // Any value's raw text: strings skipped whole, brackets counted.
    std::string_view raw_value() {
        skip_space();
        const std::size_t start = m_at;
        if (peek() == '"') {
            return raw_string();
        }
        int depth = 0;
        while (!at_end()) {
            const char c = peek();
            if (c == '"') {
                (void)raw_string();
                continue;
            }
            if (c == '{' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ']') {
                if (depth == 0) {
                    break;
                }
                --depth;
            } else if (c == ',' && depth == 0) {
                break;
            }
            ++m_at;
            if (depth == 0 && (c == '}' || c == ']')) {
                break;
            }
        }
        if (depth != 0) {
            fail("unbalanced brackets");
        }
        std::string_view raw = m_text.substr(start, m_at - start);
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\r')) {
            raw.remove_suffix(1);
        }
        if (raw.empty()) {
            fail("expected a value");
        }
        return raw;
    }

private:
    std::string_view m_text;
    std::size_t m_at = 0;
};

// A JSON string literal's content (escapes decoded); the literal was found by the scanner.
std::string decode_string(std::string_view literal, std::string_view member) {
    if (literal.size() < 2 || literal.front() != '"') {
        throw BadLine("\"" + std::string(member) + "\" must be a string");
    }
    // The library's reader checks and decodes: as the only top-level string member of an object.
    const std::string document = "{\"s\":" + std::string(literal) + "}";
    detail::json::StringMembers members;
    if (const std::string problem = detail::json::check_object(document, &members); !problem.empty()) {
        throw BadLine("\"" + std::string(member) + "\" is not a valid JSON string");
    }
    return members.front().second;
}

std::vector<std::string> decode_tags(std::string_view raw) {
    std::vector<std::string> tags;
    if (raw == "null") {
        return tags;
    }
    Scanner scanner(raw);
    scanner.expect('[');
    scanner.skip_space();
    if (scanner.peek() == ']') {
        return tags;
    }
    for (;;) {
        tags.push_back(decode_string(scanner.raw_string(), "tags"));
        scanner.skip_space();
        if (scanner.peek() == ']') {
            return tags;
        }
        scanner.expect(',');
    }
}

int digits(std::string_view text, std::size_t at, std::size_t count) {
    int value = 0;
    if (at + count > text.size()) {
        throw BadLine("time \"" + std::string(text) + "\" is not RFC 3339 (2026-11-29T21:15:12Z)");
    }
    const auto [end, error] = std::from_chars(text.data() + at, text.data() + at + count, value);
    if (error != std::errc() || end != text.data() + at + count) {
        throw BadLine("time \"" + std::string(text) + "\" is not RFC 3339 (2026-11-29T21:15:12Z)");
    }
    return value;
}

} // namespace

std::string format_time(TimePoint time) {
    const auto us = time_point_cast<microseconds>(time);
    const auto day = floor<days>(us);
    const year_month_day date(day);
    const hh_mm_ss<microseconds> clock(us - day);
    std::array<char, 40> text{};
    (void)std::snprintf(text.data(), text.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                        static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                        static_cast<unsigned>(date.day()), static_cast<int>(clock.hours().count()),
                        static_cast<int>(clock.minutes().count()), static_cast<int>(clock.seconds().count()),
                        static_cast<long long>(clock.subseconds().count()));
    return text.data();
}

TimePoint parse_time(std::string_view text) {
    const auto bad = [&] {
        return BadLine("time \"" + std::string(text) + "\" is not RFC 3339 (2026-11-29T21:15:12Z)");
    };
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
        (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' || text[16] != ':') {
        throw bad();
    }
    const year_month_day date{year(digits(text, 0, 4)), month(static_cast<unsigned>(digits(text, 5, 2))),
                              day(static_cast<unsigned>(digits(text, 8, 2)))};
    const int hour = digits(text, 11, 2);
    const int minute = digits(text, 14, 2);
    const int second = digits(text, 17, 2);
    if (!date.ok() || hour > 23 || minute > 59 || second > 60) {
        throw bad();
    }
    std::size_t at = 19;
    microseconds fraction{0};
    if (at < text.size() && text[at] == '.') {
        std::size_t count = 0;
        std::int64_t us = 0;
        for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++count) {
            if (count < 6) {
                us = us * 10 + (text[at] - '0');
            }
        }
        if (count == 0 || count > 9) {
            throw bad();
        }
        for (std::size_t i = count; i < 6; ++i) {
            us *= 10;
        }
        fraction = microseconds(us);
    }
    minutes offset{0};
    if (at < text.size() && (text[at] == 'Z' || text[at] == 'z') && at + 1 == text.size()) {
        // UTC
    } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
        offset = hours(digits(text, at + 1, 2)) + minutes(digits(text, at + 4, 2));
        if (text[at] == '-') {
            offset = -offset;
        }
    } else {
        throw bad();
    }
    const auto local = sys_days(date) + hours(hour) + minutes(minute) + seconds(second) + fraction;
    const microseconds since_epoch = (local - offset).time_since_epoch();
    // The clock's range (its nanoseconds span the years 1678 to 2262), checked in microseconds.
    constexpr auto limit = duration_cast<microseconds>(TimePoint::duration::max()).count() - 1;
    if (since_epoch.count() > limit || since_epoch.count() < -limit) {
        throw BadLine("time \"" + std::string(text) + "\" is outside the years 1678 to 2262");
    }
    return TimePoint(duration_cast<TimePoint::duration>(since_epoch));
}

std::string event_line(const StorableEvent& event) {
    std::string line = "{\"position\":" + std::to_string(event.sequence_number) + ",\"type\":";
    detail::json::append_quoted(line, event.event_type);
    line += ",\"tags\":[";
    for (std::size_t i = 0; i < event.tags.size(); ++i) {
        if (i > 0) {
            line += ',';
        }
        detail::json::append_quoted(line, event.tags[i]);
    }
    line += R"(],"occurred_at":")" + format_time(event.occurred_at) + R"(","payload":)" + event.payload_json +
            ",\"metadata\":" + (event.metadata_json.empty() ? std::string("{}") : event.metadata_json);
    if (!event.id.empty()) {
        line += ",\"id\":";
        detail::json::append_quoted(line, event.id);
    }
    line += '}';
    return line;
}

StorableEvent parse_event_line(std::string_view line, TimePoint now) {
    Scanner scanner(line);
    scanner.expect('{');
    std::optional<std::string> type;
    std::optional<std::string> payload;
    std::string metadata = "{}";
    std::vector<std::string> tags;
    std::string id;
    TimePoint occurred_at = now;
    scanner.skip_space();
    if (scanner.peek() != '}') {
        for (;;) {
            const std::string key = decode_string(scanner.raw_string(), "a member name");
            scanner.expect(':');
            const std::string_view raw = scanner.raw_value();
            if (key == "type") {
                type = decode_string(raw, key);
            } else if (key == "payload") {
                payload = std::string(raw);
            } else if (key == "metadata") {
                metadata = raw == "null" ? std::string("{}") : std::string(raw);
            } else if (key == "tags") {
                try {
                    tags = decode_tags(raw);
                } catch (const BadLine&) {
                    throw BadLine("\"tags\" must be an array of strings");
                }
            } else if (key == "id") {
                id = raw == "null" ? std::string() : decode_string(raw, key);
            } else if (key == "occurred_at") {
                occurred_at = parse_time(decode_string(raw, key));
            } else if (key != "position") {
                throw BadLine("unknown member \"" + key +
                              "\" (an event line has type, payload, tags, metadata, occurred_at, id, position)");
            }
            scanner.skip_space();
            if (scanner.peek() == '}') {
                break;
            }
            scanner.expect(',');
        }
    }
    scanner.expect('}');
    scanner.skip_space();
    if (!scanner.at_end()) {
        scanner.fail("unexpected text after the event");
    }
    if (!type) {
        throw BadLine("no \"type\"");
    }
    if (!payload) {
        throw BadLine("no \"payload\" (an event's payload is a JSON object, {} when it has none)");
    }
    try {
        StorableEvent event =
            build_storable_event(std::move(*type), occurred_at, std::move(*payload), std::move(metadata));
        event.tags = std::move(tags);
        event.id = std::move(id);
        return event;
    } catch (const Error& e) {
        throw BadLine(e.what());
    }
}

} // namespace eventstore::cli
