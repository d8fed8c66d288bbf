// Parameters in PostgreSQL's text input syntax, for drivers that cannot send binary parameters or
// parameter types (libpqxx 6.4): the binary parameters the engine builds, rewritten as text, and the
// statement's placeholders given the types the native driver would have sent.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <eventstore/error.hpp>

#include "postgres/codec.hpp"

namespace eventstore::postgres::detail {

namespace {

std::uint32_t read_u32(std::string_view bytes, std::size_t at) {
    if (at + 4 > bytes.size()) {
        throw Error(Errc::appending_event_failed, "a binary parameter ends early");
    }
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    }
    return v;
}

std::int64_t read_i64(std::string_view bytes, std::size_t at) {
    const std::uint64_t v = (static_cast<std::uint64_t>(read_u32(bytes, at)) << 32) | read_u32(bytes, at + 4);
    return static_cast<std::int64_t>(v);
}

void two_digits(std::string& out, unsigned value) {
    out += static_cast<char>('0' + value / 10);
    out += static_cast<char>('0' + value % 10);
}

// "2026-11-30 06:43:06.123456+00": timestamptz's input syntax, in UTC, whatever the session's TimeZone.
std::string timestamptz_text(std::int64_t postgres_micros) {
    using namespace std::chrono;
    const sys_time<microseconds> t{microseconds(postgres_micros + postgres_epoch_offset_us)};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss<microseconds> clock{t - day};
    std::string out = std::to_string(static_cast<int>(ymd.year()));
    out += '-';
    two_digits(out, static_cast<unsigned>(ymd.month()));
    out += '-';
    two_digits(out, static_cast<unsigned>(ymd.day()));
    out += ' ';
    two_digits(out, static_cast<unsigned>(clock.hours().count()));
    out += ':';
    two_digits(out, static_cast<unsigned>(clock.minutes().count()));
    out += ':';
    two_digits(out, static_cast<unsigned>(clock.seconds().count()));
    std::string fraction = std::to_string(clock.subseconds().count() + 1'000'000);
    out += '.';
    out += fraction.substr(1);
    out += "+00";
    return out;
}

// An array element, quoted for the array input syntax.
void quoted(std::string& out, std::string_view text) {
    out += '"';
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    out += '"';
}

std::string array_text(std::string_view bytes) {
    if (read_u32(bytes, 0) != 1) {
        throw Error(Errc::appending_event_failed, "only one-dimensional array parameters are supported");
    }
    const std::uint32_t element_type = read_u32(bytes, 8);
    const std::uint32_t count = read_u32(bytes, 12);
    std::size_t at = 20;
    std::string out = "{";
    for (std::uint32_t i = 0; i < count; ++i) {
        if (i > 0) {
            out += ',';
        }
        const std::uint32_t length = read_u32(bytes, at);
        at += 4;
        if (length == 0xFFFFFFFFU) {
            out += "NULL";
            continue;
        }
        if (at + length > bytes.size()) {
            throw Error(Errc::appending_event_failed, "a binary array parameter ends early");
        }
        const std::string_view element = bytes.substr(at, length);
        at += length;
        switch (element_type) {
        case oid::int8:
            out += std::to_string(read_i64(element, 0));
            break;
        case oid::boolean:
            out += element == std::string_view("\1", 1) ? 't' : 'f';
            break;
        case oid::timestamptz:
            quoted(out, timestamptz_text(read_i64(element, 0)));
            break;
        case oid::jsonb:
            quoted(out, element.substr(1)); // after the version byte
            break;
        default:
            quoted(out, element);
            break;
        }
    }
    out += '}';
    return out;
}

} // namespace

std::string param_text(const Param& param) {
    if (param.format == Format::text) {
        return param.value;
    }
    if (param.type == oid::timestamptz) {
        return timestamptz_text(read_i64(param.value, 0));
    }
    return array_text(param.value);
}

std::string_view type_name(std::uint32_t type) {
    switch (type) {
    case oid::boolean:
        return "boolean";
    case oid::int8:
        return "bigint";
    case oid::text:
        return "text";
    case oid::jsonb:
        return "jsonb";
    case oid::timestamptz:
        return "timestamptz";
    case oid::bool_array:
        return "boolean[]";
    case oid::int8_array:
        return "bigint[]";
    case oid::text_array:
        return "text[]";
    case oid::jsonb_array:
        return "jsonb[]";
    case oid::timestamptz_array:
        return "timestamptz[]";
    default:
        return {};
    }
}

std::string typed_placeholders(std::string_view sql, std::span<const Param> params) {
    std::string out;
    out.reserve(sql.size() + params.size() * 12);
    char quote = 0; // inside '...' or "..."
    for (std::size_t i = 0; i < sql.size(); ++i) {
        const char c = sql[i];
        if (quote != 0) {
            out += c;
            if (c == quote) {
                quote = 0; // a doubled quote closes and reopens: the same text either way
            }
            continue;
        }
        if (c == '\'' || c == '"') {
            quote = c;
            out += c;
            continue;
        }
        if (c != '$' || i + 1 >= sql.size() || sql[i + 1] < '0' || sql[i + 1] > '9') {
            out += c;
            continue;
        }
        std::size_t end = i + 1;
        std::size_t number = 0;
        while (end < sql.size() && sql[end] >= '0' && sql[end] <= '9') {
            number = number * 10 + static_cast<std::size_t>(sql[end] - '0');
            ++end;
        }
        const std::string_view placeholder = sql.substr(i, end - i);
        const std::string_view type =
            number >= 1 && number <= params.size() ? type_name(params[number - 1].type) : std::string_view();
        if (type.empty()) {
            out += placeholder;
        } else {
            out += '(';
            out += placeholder;
            out += "::";
            out += type;
            out += ')';
        }
        i = end - 1;
    }
    return out;
}

} // namespace eventstore::postgres::detail
