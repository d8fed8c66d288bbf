// Result decoders for text-format results (codec.hpp): what PostgreSQL's output functions write,
// for drivers that cannot ask for binary results.

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <eventstore/error.hpp>

#include "postgres/codec.hpp"

namespace eventstore::postgres::detail {

namespace {

[[noreturn]] void refuse(std::string_view type, std::string_view text) {
    throw Error(Errc::scanning_db_row_failed,
                "unexpected " + std::string(type) + " text \"" + std::string(text.substr(0, 64)) + "\"");
}

// Reads the digits at `at` into `value`; false when there are none.
bool digits(std::string_view text, std::size_t& at, std::int64_t& value, std::size_t min_count = 1) {
    const std::size_t start = at;
    value = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
        if (value > (std::numeric_limits<std::int64_t>::max() - 9) / 10) {
            return false;
        }
        value = value * 10 + (text[at] - '0');
        ++at;
    }
    return at - start >= min_count;
}

bool expect(std::string_view text, std::size_t& at, char c) {
    if (at < text.size() && text[at] == c) {
        ++at;
        return true;
    }
    return false;
}

// Days from 1970-01-01 to the proleptic Gregorian date (astronomical year: 1 BC is year 0).
std::int64_t days_from_civil(std::int64_t y, std::int64_t m, std::int64_t d) {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const std::int64_t yoe = y - era * 400;
    const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

} // namespace

std::int64_t decode_int8_text(std::string_view text) {
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size()) {
        refuse("bigint", text);
    }
    return value;
}

bool decode_bool_text(std::string_view text) {
    if (text == "t") {
        return true;
    }
    if (text == "f") {
        return false;
    }
    refuse("boolean", text);
}

TimePoint decode_timestamptz_text(std::string_view text) {
    if (text == "infinity") {
        return TimePoint::max();
    }
    if (text == "-infinity") {
        return TimePoint::min();
    }
    std::size_t at = 0;
    std::int64_t year = 0;
    std::int64_t month = 0;
    std::int64_t day = 0;
    std::int64_t hour = 0;
    std::int64_t minute = 0;
    std::int64_t second = 0;
    if (!digits(text, at, year, 4) || !expect(text, at, '-') || !digits(text, at, month, 2) || !expect(text, at, '-') ||
        !digits(text, at, day, 2) || !expect(text, at, ' ') || !digits(text, at, hour, 2) || !expect(text, at, ':') ||
        !digits(text, at, minute, 2) || !expect(text, at, ':') || !digits(text, at, second, 2) || month < 1 ||
        month > 12 || day < 1 || day > 31 || hour > 24 || minute > 59 || second > 60) {
        refuse("timestamptz", text);
    }
    std::int64_t micros = 0;
    if (expect(text, at, '.')) {
        int places = 0;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
            if (places < 6) {
                micros = micros * 10 + (text[at] - '0');
                ++places;
            }
            ++at;
        }
        if (places == 0) {
            refuse("timestamptz", text);
        }
        for (; places < 6; ++places) {
            micros *= 10;
        }
    }
    // The offset: +HH, +HH:MM or +HH:MM:SS (east of UTC positive).
    std::int64_t offset_seconds = 0;
    if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
        const bool east = text[at] == '+';
        ++at;
        std::int64_t oh = 0;
        std::int64_t om = 0;
        std::int64_t os = 0;
        if (!digits(text, at, oh, 2)) {
            refuse("timestamptz", text);
        }
        if (expect(text, at, ':') &&
            (!digits(text, at, om, 2) || (expect(text, at, ':') && !digits(text, at, os, 2)))) {
            refuse("timestamptz", text);
        }
        offset_seconds = (east ? 1 : -1) * (oh * 3600 + om * 60 + os);
    } else {
        refuse("timestamptz", text); // timestamptz output always carries its offset
    }
    if (text.substr(at) == " BC") {
        year = 1 - year;
        at = text.size();
    }
    if (at != text.size()) {
        refuse("timestamptz", text);
    }
    // Far outside TimePoint's range (about 1677 to 2262): clamp before the arithmetic could overflow.
    if (year > 100000) {
        return TimePoint::max();
    }
    if (year < -100000) {
        return TimePoint::min();
    }
    const std::int64_t unix_seconds =
        days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
    constexpr std::int64_t max_unix_us = std::numeric_limits<std::int64_t>::max() / 1000;
    if (unix_seconds > max_unix_us / 1'000'000 - 1) {
        const std::int64_t us = unix_seconds * 1'000'000 + micros;
        if (unix_seconds > max_unix_us / 1'000'000 || us > max_unix_us) {
            return TimePoint::max();
        }
    }
    if (unix_seconds < -(max_unix_us / 1'000'000) + 1) {
        const std::int64_t us = unix_seconds * 1'000'000 + micros;
        if (unix_seconds < -(max_unix_us / 1'000'000) || us < -max_unix_us) {
            return TimePoint::min();
        }
    }
    return TimePoint(
        std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(unix_seconds * 1'000'000 + micros)));
}

std::vector<std::string> decode_text_array_text(std::string_view text) {
    std::vector<std::string> out;
    if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
        refuse("text[]", text);
    }
    std::size_t at = 1;
    const std::size_t end = text.size() - 1;
    if (at == end) {
        return out;
    }
    for (;;) {
        std::string element;
        if (at < end && text[at] == '"') {
            ++at;
            for (;;) {
                if (at >= end) {
                    refuse("text[]", text);
                }
                const char c = text[at++];
                if (c == '"') {
                    break;
                }
                if (c == '\\') {
                    if (at >= end) {
                        refuse("text[]", text);
                    }
                    element += text[at++];
                } else {
                    element += c;
                }
            }
        } else {
            const std::size_t start = at;
            while (at < end && text[at] != ',') {
                if (text[at] == '"' || text[at] == '{' || text[at] == '}' || text[at] == '\\') {
                    refuse("text[]", text); // quoted by the server, or a nested array
                }
                ++at;
            }
            element = std::string(text.substr(start, at - start));
            if (element.empty() || element == "NULL") {
                refuse("text[]", text); // empty elements are quoted; the store never writes NULL tags
            }
        }
        out.push_back(std::move(element));
        if (at == end) {
            return out;
        }
        if (text[at] != ',') {
            refuse("text[]", text);
        }
        ++at;
    }
}

std::string decode_uuid_text(std::string_view text) {
    if (text.size() != 36) {
        refuse("uuid", text);
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            refuse("uuid", text);
        }
    }
    return std::string(text);
}

} // namespace eventstore::postgres::detail
