// The text result decoders (codec.hpp, for drivers whose results come as text) against the binary
// ones, on what a real server writes: each value is selected once in text format and once in binary
// format, and both decodings must agree. Times are written under several session time zones
// (offsets of whole hours, of minutes, west and east), with BC years, the edges of the range and
// infinity; arrays with every character array_out quotes.

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "fixture.hpp"
#include "postgres/codec.hpp"
#include "postgres/result.hpp"

namespace {

using namespace eventstore::postgres::detail;

class TextCodec : public eventstore::test::DatabaseTest {
protected:
    // The single value `sql` selects, as the server writes it in `format` (0 text, 1 binary).
    std::string value(const std::string& sql, int format) {
        struct Clear {
            void operator()(PGresult* r) const noexcept { PQclear(r); }
        };
        const std::unique_ptr<PGresult, Clear> result(
            PQexecParams(raw().native(), sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, format));
        EXPECT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK) << sql << ": " << PQerrorMessage(raw().native());
        if (PQntuples(result.get()) != 1 || PQgetisnull(result.get(), 0, 0) != 0) {
            ADD_FAILURE() << sql << ": not one value";
            return {};
        }
        return {PQgetvalue(result.get(), 0, 0), static_cast<std::size_t>(PQgetlength(result.get(), 0, 0))};
    }
};

TEST_F(TextCodec, TimesAgreeWithTheBinaryDecoderUnderEveryTimeZone) {
    raw().exec("SET DateStyle = ISO");
    const std::vector<std::string> times{"2026-11-30 06:43:06.123456+00",
                                         "1970-01-01 00:00:00+00",
                                         "2000-01-01 00:00:00+00",
                                         "1999-12-31 23:59:59.999999+00",
                                         "2026-03-29 01:30:00.5+00",
                                         "1900-02-28 12:00:00.000001+00",
                                         "1677-09-21 00:12:44+00",
                                         "1677-09-21 00:12:43+00",
                                         "2262-04-11 23:47:16.854775+00",
                                         "2262-04-11 23:47:16.854776+00",
                                         "0044-03-15 12:00:00+00 BC",
                                         "0001-01-01 00:00:00+00",
                                         "294276-12-31 23:59:59+00",
                                         "4713-11-24 00:00:00+00 BC",
                                         "infinity",
                                         "-infinity",
                                         "1847-01-01 00:00:00+00",
                                         "2024-02-29 23:59:59.75+00"};
    for (const std::string zone : {"UTC", "Asia/Kathmandu", "America/St_Johns", "Pacific/Kiritimati",
                                   "America/Los_Angeles", "Europe/Amsterdam"}) {
        raw().exec("SET TimeZone = '" + zone + "'");
        for (const std::string& t : times) {
            const std::string sql = "SELECT '" + t + "'::timestamptz";
            const std::string text = value(sql, 0);
            EXPECT_EQ(decode_timestamptz_text(text), decode_timestamptz(value(sql, 1)))
                << t << " in " << zone << ", written as " << text;
        }
    }
}

TEST_F(TextCodec, ArraysUuidsNumbersAndBooleansAgree) {
    const std::vector<std::string> arrays{
        "ARRAY['a','b']",
        "ARRAY['with space','comma,inside','quote\"inside','back\\\\slash','NULL','null','','{braces}','ünï',"
        "'tab\tx','line\nbreak']",
        "ARRAY[]::text[]", "ARRAY['course:c1','student:s1']"};
    for (const std::string& a : arrays) {
        const std::string sql = "SELECT " + a;
        const std::string text = value(sql, 0);
        EXPECT_EQ(decode_text_array_text(text), decode_text_array(value(sql, 1))) << a << " written as " << text;
    }
    for (const std::string u : {"00000000-0000-0000-0000-000000000000", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}) {
        const std::string sql = "SELECT '" + u + "'::uuid";
        EXPECT_EQ(decode_uuid_text(value(sql, 0)), decode_uuid(value(sql, 1)));
    }
    for (const std::string n : {"0", "-1", "9223372036854775807", "-9223372036854775808", "42"}) {
        const std::string sql = "SELECT '" + n + "'::bigint";
        EXPECT_EQ(decode_int8_text(value(sql, 0)), decode_int8(value(sql, 1)));
    }
    for (const std::string b : {"true", "false"}) {
        const std::string sql = "SELECT " + b;
        EXPECT_EQ(decode_bool_text(value(sql, 0)), decode_bool(value(sql, 1)));
    }
    // jsonb's text output is its binary form without the version byte.
    const std::string json = "SELECT '{\"b\": [1, 2.50, \"ü\"], \"a\": null}'::jsonb";
    EXPECT_EQ(value(json, 0), decode_jsonb(value(json, 1)));

    // A Field decodes by its format.
    const std::string text = value(json, 0);
    const std::string binary = value(json, 1);
    EXPECT_EQ(Field(text, Format::text).as_jsonb(), Field(binary).as_jsonb());
    const std::string when = "SELECT '2026-11-30 06:43:06.123456+05:45'::timestamptz";
    const std::string when_text = value(when, 0);
    const std::string when_binary = value(when, 1);
    EXPECT_EQ(Field(when_text, Format::text).as_timestamptz(), Field(when_binary, Format::binary).as_timestamptz());
}

TEST_F(TextCodec, AnythingElseIsARowThatDoesNotDecode) {
    for (const std::string bad : {"", "2026-11-30", "2026-11-30 06:43:06", "2026-13-01 00:00:00+00",
                                  "2026-11-30 06:43:06.+00", "2026-11-30 06:43:06+00 AD", "x"}) {
        EXPECT_THROW((void)decode_timestamptz_text(bad), eventstore::Error) << bad;
    }
    for (const std::string bad : {"", "a,b", "{a", "{a,NULL}", "{\"a}", "{{a},{b}}", "{a,,b}"}) {
        EXPECT_THROW((void)decode_text_array_text(bad), eventstore::Error) << bad;
    }
    for (const std::string bad : {"", "1.5", "12a", "99999999999999999999"}) {
        EXPECT_THROW((void)decode_int8_text(bad), eventstore::Error) << bad;
    }
    EXPECT_THROW((void)decode_bool_text("true"), eventstore::Error);
    EXPECT_THROW((void)decode_uuid_text("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), eventstore::Error);
}

// Parameters for a driver that sends untyped text (param_text, typed_placeholders): each binary
// parameter the engine builds, sent once as binary with its type and once as text through the typed
// placeholder, must reach the server as the same value, whatever the session's time zone.
TEST_F(TextCodec, TextParametersReachTheServerAsTheBinaryOnesDo) {
    std::vector<eventstore::StorableEvent> events(3);
    events[0].event_type = "Opened \"quoted\" \\ back";
    events[0].occurred_at = eventstore::TimePoint(std::chrono::microseconds(1'764'485'000'123'456));
    events[0].payload_json = R"({"a":"x\"y","b":[1,2],"c":"\\"})";
    events[0].metadata_json = "{}";
    events[0].tags = {"t,1", "t{2}", "NULL"};
    events[0].id = "0198f8b2-1c3e-7d6a-9a4b-000000000001";
    events[1].event_type = "NULL";
    events[1].occurred_at = eventstore::TimePoint(std::chrono::seconds(-5'000'000'000LL));
    events[1].payload_json = "{}";
    events[1].metadata_json = R"({"k":"v"})";
    events[2].event_type = "{}";
    events[2].occurred_at = eventstore::TimePoint(std::chrono::microseconds(1));
    events[2].payload_json = R"({"é":"ü 😀"})";
    events[2].metadata_json = "{}";
    EventColumns cols = event_columns(events);
    const std::vector<std::int64_t> numbers{0, -1, std::numeric_limits<std::int64_t>::max(),
                                            std::numeric_limits<std::int64_t>::min()};
    const std::vector<bool> flags{true, false, true};
    const std::vector<Param> params{timestamptz_param(events[0].occurred_at),
                                    timestamptz_param(events[1].occurred_at),
                                    int8_array_param(numbers),
                                    bool_array_param(flags),
                                    cols.event_types,
                                    cols.occurred_at,
                                    cols.payloads,
                                    cols.metadata,
                                    cols.tags,
                                    cols.ids};
    for (const std::string zone : {"UTC", "Asia/Kathmandu", "America/St_Johns"}) {
        raw().exec("SET TimeZone = '" + zone + "'");
        for (const Param& p : params) {
            ASSERT_EQ(p.format, Format::binary);
            const char* binary_value = p.value.data();
            const int binary_length = static_cast<int>(p.value.size());
            const int binary_format = 1;
            const Oid type = p.type;
            struct Clear {
                void operator()(PGresult* r) const noexcept { PQclear(r); }
            };
            const std::unique_ptr<PGresult, Clear> sent_binary(PQexecParams(
                raw().native(), "SELECT $1::text", 1, &type, &binary_value, &binary_length, &binary_format, 0));
            ASSERT_EQ(PQresultStatus(sent_binary.get()), PGRES_TUPLES_OK) << PQerrorMessage(raw().native());
            const std::string text = param_text(p);
            const char* text_value = text.c_str();
            const std::string sql = typed_placeholders("SELECT $1::text", std::span<const Param>(&p, 1));
            const std::unique_ptr<PGresult, Clear> sent_text(
                PQexecParams(raw().native(), sql.c_str(), 1, nullptr, &text_value, nullptr, nullptr, 0));
            ASSERT_EQ(PQresultStatus(sent_text.get()), PGRES_TUPLES_OK) << PQerrorMessage(raw().native()) << text;
            EXPECT_STREQ(PQgetvalue(sent_text.get(), 0, 0), PQgetvalue(sent_binary.get(), 0, 0))
                << type_name(p.type) << " under " << zone << ", sent as " << text;
        }
    }
}

} // namespace
