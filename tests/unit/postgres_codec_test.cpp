// PostgreSQL's binary formats as the engine writes and reads them: round trips, the edges of the
// representable time range, and bytes that are not what they claim to be.

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/error.hpp>

#include "postgres/codec.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::postgres::detail;
using namespace std::chrono;

// The 8 big-endian bytes of `v`, as a bigint or timestamptz arrives.
std::string be64(std::int64_t v) {
    std::string out;
    for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((static_cast<std::uint64_t>(v) >> shift) & 0xFFU));
    }
    return out;
}

// What a timestamptz parameter carries, read back as a result would be.
TimePoint round_trip(TimePoint t) { return decode_timestamptz(timestamptz_param(t).value); }

TEST(Codec, Int8RoundTripsAtItsEdges) {
    for (const std::int64_t v : {std::int64_t{0}, std::int64_t{1}, std::int64_t{-1},
                                 std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()}) {
        EXPECT_EQ(decode_int8(be64(v)), v);
        EXPECT_EQ(int8_param(v).value, std::to_string(v));
    }
}

TEST(Codec, TimesRoundTripWithMicrosecondPrecision) {
    const TimePoint t = TimePoint(microseconds(1'732'912'345'678'901LL)) + nanoseconds(999);
    EXPECT_EQ(round_trip(t), TimePoint(microseconds(1'732'912'345'678'901LL)));
    EXPECT_EQ(round_trip(TimePoint()), TimePoint()); // the Unix epoch
    // PostgreSQL's own epoch is 2000-01-01: zero on the wire.
    EXPECT_EQ(timestamptz_param(TimePoint(seconds(946'684'800))).value, be64(0));
}

TEST(Codec, TimesBeforeTheEpochTruncateTowardsThePast) {
    const TimePoint t = TimePoint(microseconds(-1'500)) - nanoseconds(1);
    EXPECT_EQ(round_trip(t), TimePoint(microseconds(-1'501)));
    const TimePoint year_1700 = sys_days{year{1700} / 3 / 1} + hours{12};
    EXPECT_EQ(round_trip(year_1700), year_1700);
}

TEST(Codec, TheWholeRepresentableRangeRoundTrips) {
    // system_clock holds 1677-09-21 to 2262-04-11 in nanoseconds; every whole microsecond of it survives.
    const TimePoint lowest = TimePoint(ceil<microseconds>(TimePoint::min().time_since_epoch()));
    const TimePoint highest = TimePoint(floor<microseconds>(TimePoint::max().time_since_epoch()));
    EXPECT_EQ(round_trip(lowest), lowest);
    EXPECT_EQ(round_trip(highest), highest);
    EXPECT_EQ(round_trip(lowest + microseconds(1)), lowest + microseconds(1));
    EXPECT_EQ(round_trip(TimePoint::max()), highest);
}

TEST(Codec, TimesBeyondTheRangeAndInfinityAreClamped) {
    constexpr std::int64_t offset = postgres_epoch_offset_us;
    constexpr std::int64_t max_unix_us = std::numeric_limits<std::int64_t>::max() / 1000;
    EXPECT_EQ(decode_timestamptz(be64(std::numeric_limits<std::int64_t>::max())), TimePoint::max()); // infinity
    EXPECT_EQ(decode_timestamptz(be64(std::numeric_limits<std::int64_t>::min())), TimePoint::min()); // -infinity
    EXPECT_EQ(decode_timestamptz(be64(max_unix_us - offset + 1)), TimePoint::max());
    EXPECT_EQ(decode_timestamptz(be64(-max_unix_us - offset - 1)), TimePoint::min());
    EXPECT_EQ(decode_timestamptz(be64(max_unix_us - offset)), TimePoint(microseconds(max_unix_us)));
    EXPECT_EQ(decode_timestamptz(be64(-max_unix_us - offset)), TimePoint(microseconds(-max_unix_us)));
}

TEST(Codec, BytesOfTheWrongSizeAreAScanningError) {
    for (const std::string& bytes : {std::string(), std::string(4, '\0'), std::string(9, '\0')}) {
        try {
            (void)decode_int8(bytes);
            ADD_FAILURE() << "no error for " << bytes.size() << " bytes";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::scanning_db_row_failed);
        }
        EXPECT_THROW((void)decode_timestamptz(bytes), Error);
    }
    EXPECT_THROW((void)decode_bool(""), Error);
    EXPECT_THROW((void)decode_jsonb(""), Error);
    EXPECT_THROW((void)decode_jsonb("\2{}"), Error); // an unknown jsonb format version
    EXPECT_EQ(decode_jsonb("\1{\"a\":1}"), "{\"a\":1}");
    EXPECT_TRUE(decode_bool(std::string(1, '\1')));
    EXPECT_FALSE(decode_bool(std::string(1, '\0')));
}

TEST(Codec, TextArraysQuoteEveryElement) {
    const std::vector<std::string> values{"plain", "with \"quote\"", "back\\slash", "NULL", "", "a,b{}"};
    const Param p = text_array_param(values, oid::text_array);
    EXPECT_EQ(p.value, R"({"plain","with \"quote\"","back\\slash","NULL","","a,b{}"})");
    EXPECT_EQ(p.format, Format::text);
}

TEST(Codec, EventColumnsAreBinaryArraysInEventOrder) {
    StorableEvent a{"TypeA", TimePoint(seconds(946'684'800)), R"({"k":"v"})", "{}", 0, {}, {}};
    StorableEvent b{"B", TimePoint(seconds(946'684'801)), "{}", R"({"m":1})", 0, {}, {}};
    const std::vector<StorableEvent> events{a, b};
    const EventColumns cols = event_columns(events);
    // Header: 1 dimension, no NULLs, element type, 2 elements, lower bound 1 (20 bytes).
    const std::string& types = cols.event_types.value;
    ASSERT_GE(types.size(), 20U);
    EXPECT_EQ(types.substr(12, 4), std::string("\0\0\0\2", 4));
    EXPECT_EQ(types.substr(20), std::string("\0\0\0\5TypeA\0\0\0\1B", 14));
    EXPECT_EQ(cols.occurred_at.value.substr(20),
              std::string("\0\0\0\x08", 4) + be64(0) + std::string("\0\0\0\x08", 4) + be64(1'000'000));
    EXPECT_EQ(cols.payloads.value.substr(20), std::string("\0\0\0\x0a\1{\"k\":\"v\"}\0\0\0\3\1{}", 21));
    EXPECT_EQ(cols.metadata.type, oid::jsonb_array);
    EXPECT_EQ(cols.metadata.format, Format::binary);
}

TEST(TypedPlaceholders, CastsEachPlaceholderToItsParametersType) {
    const std::vector<Param> params{int8_param(1), text_param("x"), Param{0, "?", {}}};
    EXPECT_EQ(typed_placeholders("SELECT $1, $2, $3", params), "SELECT ($1::bigint), ($2::text), $3");
    // Quoted literals and identifiers are left alone; a number is read whole; $0 and missing ones too.
    EXPECT_EQ(typed_placeholders(R"(SELECT '$1', "t$2"."c", $10, $0, $2)", params),
              R"(SELECT '$1', "t$2"."c", $10, $0, ($2::text))");
    EXPECT_EQ(typed_placeholders("SELECT 'it''s $1' || $1", params), "SELECT 'it''s $1' || ($1::bigint)");
}

} // namespace
