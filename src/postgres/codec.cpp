#include "postgres/codec.hpp"

#include <chrono>
#include <limits>

#include <eventstore/error.hpp>

#include "core/event_check.hpp"

namespace eventstore::postgres::detail {

namespace {

void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((v >> shift) & 0xFFU));
    }
}

void put_i64(std::string& out, std::int64_t value) {
    const auto v = static_cast<std::uint64_t>(value);
    for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((v >> shift) & 0xFFU));
    }
}

std::uint64_t read_u64(const char* data) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
        v = (v << 8) | static_cast<unsigned char>(data[i]);
    }
    return v;
}

std::uint32_t read_u32(const char* data) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
        v = (v << 8) | static_cast<unsigned char>(data[i]);
    }
    return v;
}

// One-dimensional binary array header (array_send's format).
std::string array_header(std::uint32_t element_type, std::size_t count, bool has_nulls = false) {
    std::string out;
    put_u32(out, 1); // dimensions
    put_u32(out, has_nulls ? 1 : 0);
    put_u32(out, element_type);
    put_u32(out, static_cast<std::uint32_t>(count));
    put_u32(out, 1); // lower bound
    return out;
}

void put_null(std::string& out) { put_u32(out, 0xFFFFFFFFU); }

void put_text(std::string& out, std::string_view text) {
    put_u32(out, static_cast<std::uint32_t>(text.size()));
    out += text;
}

// The text form of a text[] ("{\"a\",\"b\"}"), every element quoted, so that no tag is read as NULL
// or split whatever it holds.
std::string array_literal(std::span<const std::string> values) {
    std::string literal = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) {
            literal += ',';
        }
        literal += '"';
        for (char c : values[i]) {
            if (c == '"' || c == '\\') {
                literal += '\\';
            }
            literal += c;
        }
        literal += '"';
    }
    literal += '}';
    return literal;
}

void expect_size(std::string_view what, std::string_view bytes, std::size_t size) {
    if (bytes.size() != size) {
        throw Error(Errc::scanning_db_row_failed,
                    "unexpected " + std::string(what) + " length " + std::to_string(bytes.size()));
    }
}

} // namespace

std::int64_t to_postgres_micros(TimePoint t) {
    const auto us = std::chrono::floor<std::chrono::microseconds>(t.time_since_epoch()).count();
    return us - postgres_epoch_offset_us;
}

Param int8_param(std::int64_t value) { return Param{oid::int8, std::to_string(value), Format::text}; }

Param text_param(std::string value) { return Param{oid::text, std::move(value), Format::text}; }

Param timestamptz_param(TimePoint t) {
    Param p{oid::timestamptz, {}, Format::binary};
    put_i64(p.value, to_postgres_micros(t));
    return p;
}

Param text_array_param(std::span<const std::string> values, std::uint32_t array_type) {
    return Param{array_type, array_literal(values), Format::text};
}

Param int8_array_param(std::span<const std::int64_t> values) {
    Param p{oid::int8_array, array_header(oid::int8, values.size()), Format::binary};
    for (std::int64_t v : values) {
        put_u32(p.value, 8);
        put_i64(p.value, v);
    }
    return p;
}

Param bool_array_param(const std::vector<bool>& values) {
    Param p{oid::bool_array, array_header(oid::boolean, values.size()), Format::binary};
    for (bool v : values) {
        put_u32(p.value, 1);
        p.value.push_back(v ? '\1' : '\0');
    }
    return p;
}

EventColumns event_columns(std::span<const StorableEvent> events) {
    EventColumns cols{Param{oid::text_array, array_header(oid::text, events.size()), Format::binary},
                      Param{oid::timestamptz_array, array_header(oid::timestamptz, events.size()), Format::binary},
                      Param{oid::jsonb_array, array_header(oid::jsonb, events.size()), Format::binary},
                      Param{oid::jsonb_array, array_header(oid::jsonb, events.size()), Format::binary},
                      Param{oid::text_array, array_header(oid::text, events.size(), true), Format::binary},
                      Param{oid::text_array, array_header(oid::text, events.size(), true), Format::binary}};
    for (const StorableEvent& e : events) {
        put_u32(cols.event_types.value, static_cast<std::uint32_t>(e.event_type.size()));
        cols.event_types.value += e.event_type;
        put_u32(cols.occurred_at.value, 8);
        put_i64(cols.occurred_at.value, to_postgres_micros(e.occurred_at));
        // jsonb's binary format: version 1, then the text.
        put_u32(cols.payloads.value, static_cast<std::uint32_t>(e.payload_json.size() + 1));
        cols.payloads.value += '\1';
        cols.payloads.value += e.payload_json;
        put_u32(cols.metadata.value, static_cast<std::uint32_t>(e.metadata_json.size() + 1));
        cols.metadata.value += '\1';
        cols.metadata.value += e.metadata_json;
        // Each event's tags as one text[] literal, cast per row; NULL (as the Go library's rows have)
        // when it has none.
        if (e.tags.empty()) {
            put_null(cols.tags.value);
        } else {
            put_text(cols.tags.value, array_literal(eventstore::detail::unique_tags(e.tags)));
        }
        if (e.id.empty()) {
            put_null(cols.ids.value);
        } else {
            put_text(cols.ids.value, e.id);
        }
    }
    return cols;
}

std::int64_t decode_int8(std::string_view bytes) {
    expect_size("bigint", bytes, 8);
    return static_cast<std::int64_t>(read_u64(bytes.data()));
}

bool decode_bool(std::string_view bytes) {
    expect_size("boolean", bytes, 1);
    return bytes[0] != '\0';
}

TimePoint decode_timestamptz(std::string_view bytes) {
    expect_size("timestamptz", bytes, 8);
    const auto us = static_cast<std::int64_t>(read_u64(bytes.data()));
    // system_clock counts nanoseconds in 64 bits: whole microseconds within +/-(2^63 - 1) / 1000 of
    // the Unix epoch fit exactly; clamp what lies beyond, including PostgreSQL's +/-infinity (the
    // extreme int64 values). Compared before adding the epoch offset, which would overflow there.
    constexpr std::int64_t max_unix_us = std::numeric_limits<std::int64_t>::max() / 1000;
    if (us > max_unix_us - postgres_epoch_offset_us) {
        return TimePoint::max();
    }
    if (us < -max_unix_us - postgres_epoch_offset_us) {
        return TimePoint::min();
    }
    return TimePoint(
        std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us + postgres_epoch_offset_us)));
}

std::vector<std::string> decode_text_array(std::string_view bytes) {
    std::vector<std::string> out;
    const auto fail = [] { throw Error(Errc::scanning_db_row_failed, "unexpected text[] format"); };
    if (bytes.size() < 12) {
        fail();
    }
    const std::uint32_t dimensions = read_u32(bytes.data());
    if (dimensions == 0) {
        return out;
    }
    if (dimensions != 1 || bytes.size() < 20) {
        fail();
    }
    const std::uint32_t count = read_u32(bytes.data() + 12);
    std::size_t at = 20;
    out.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        if (bytes.size() - at < 4) {
            fail();
        }
        const std::uint32_t size = read_u32(bytes.data() + at);
        at += 4;
        if (size == 0xFFFFFFFFU || bytes.size() - at < size) {
            fail(); // the store never writes a NULL tag
        }
        out.emplace_back(bytes.substr(at, size));
        at += size;
    }
    return out;
}

std::string decode_uuid(std::string_view bytes) {
    expect_size("uuid", bytes, 16);
    constexpr std::string_view hex = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out.push_back('-');
        }
        const auto b = static_cast<unsigned char>(bytes[i]);
        out.push_back(hex[b >> 4U]);
        out.push_back(hex[b & 0xFU]);
    }
    return out;
}

std::string decode_jsonb(std::string_view bytes) {
    if (bytes.empty() || bytes[0] != '\1') {
        throw Error(Errc::scanning_db_row_failed, "unexpected jsonb format version");
    }
    return std::string(bytes.substr(1));
}

} // namespace eventstore::postgres::detail
