// The eventstore program's event lines: what is written, what is read back, and the message for a line
// that is not an event.

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "ndjson.hpp"

namespace {

using namespace std::chrono;
using eventstore::StorableEvent;
using eventstore::TimePoint;
using eventstore::cli::BadLine;
using eventstore::cli::event_line;
using eventstore::cli::format_time;
using eventstore::cli::parse_event_line;
using eventstore::cli::parse_time;

const TimePoint now = sys_days(year(2026) / 11 / 29) + hours(21) + minutes(15) + seconds(12) + microseconds(123456);

std::string bad_line_message(const std::string& line) {
    try {
        (void)parse_event_line(line, now);
    } catch (const BadLine& bad) {
        return bad.what();
    }
    return "(accepted)";
}

TEST(CliNdjson, TimesAreWrittenInUtcWithMicroseconds) {
    EXPECT_EQ(format_time(now), "2026-11-29T21:15:12.123456Z");
    EXPECT_EQ(format_time(TimePoint(microseconds(-500000))), "1969-12-31T23:59:59.500000Z");
    EXPECT_EQ(parse_time("2026-11-29T21:15:12.123456Z"), now);
    EXPECT_EQ(parse_time("2026-11-29T22:15:12.123456789+01:00"), now); // beyond microseconds: cut
    EXPECT_EQ(parse_time("2026-11-29T20:15:12.123456-01:00"), now);
    EXPECT_EQ(parse_time("1969-12-31T23:59:59.5Z"), TimePoint(microseconds(-500000)));
    for (const char* bad : {"2026-11-29", "2026-13-29T21:15:12Z", "2026-11-29T21:15:12", "2026-11-29T21:15:12.Z",
                            "2026-11-29T21:15:12+0100", "yesterday", "1013-11-29T22:15:12Z", "9999-12-31T23:59:59Z"}) {
        EXPECT_THROW((void)parse_time(bad), BadLine) << bad;
    }
}

TEST(CliNdjson, AWrittenLineReadsBackAsTheSameEvent) {
    StorableEvent event = eventstore::build_storable_event(
        "BookCopyLentToReader", now, R"({"BookID": "b\"1", "n": 12345678901234567890123.25, "x": [1, {"y": null}]})",
        R"({"CausationID": "c"})");
    event.tags = {"book:b1", "reader:\u00e9"};
    event.id = "0198c0de-0000-7000-8000-000000000001";
    event.sequence_number = 12;
    const std::string line = event_line(event);
    EXPECT_EQ(line.rfind(R"({"position":12,"type":"BookCopyLentToReader","tags":["book:b1","reader:)", 0), 0U) << line;
    StorableEvent back = parse_event_line(line, TimePoint());
    EXPECT_EQ(back.sequence_number, 0U); // a position read is not kept: the store gives its own
    back.sequence_number = event.sequence_number;
    EXPECT_EQ(back, event); // payload and metadata byte for byte: the big number is not rounded
}

TEST(CliNdjson, OnlyTypeAndPayloadAreRequired) {
    const StorableEvent event = parse_event_line(R"(  {"payload":{},"type":"Opened"}  )", now);
    EXPECT_EQ(event.event_type, "Opened");
    EXPECT_EQ(event.payload_json, "{}");
    EXPECT_EQ(event.metadata_json, "{}");
    EXPECT_TRUE(event.tags.empty());
    EXPECT_EQ(event.id, "");
    EXPECT_EQ(event.occurred_at, now);
    EXPECT_EQ(parse_event_line(R"({"type":"T","payload":{},"tags":null,"metadata":null,"id":null})", now).metadata_json,
              "{}");
}

TEST(CliNdjson, ALineThatIsNotAnEventSaysWhy) {
    EXPECT_EQ(bad_line_message(R"({"type":"X"})"),
              R"(no "payload" (an event's payload is a JSON object, {} when it has none))");
    EXPECT_EQ(bad_line_message(R"({"payload":{}})"), R"(no "type")");
    EXPECT_EQ(bad_line_message(R"({"type":1,"payload":{}})"), R"("type" must be a string)");
    EXPECT_EQ(
        bad_line_message(R"({"type":"T","payload":{},"colour":"red"})"),
        R"(unknown member "colour" (an event line has type, payload, tags, metadata, occurred_at, id, position))");
    EXPECT_EQ(bad_line_message(R"({"type":"T","payload":{}} x)"), "unexpected text after the event at byte 27");
    EXPECT_EQ(bad_line_message(R"([1])"), "expected '{' at byte 1");
    EXPECT_EQ(bad_line_message(R"({"type":"T","payload":{"a":1})"), "expected ',' at byte 30");
    EXPECT_NE(bad_line_message(R"({"type":"T","payload":[1]})").find("payload"), std::string::npos);
    EXPECT_NE(bad_line_message(R"({"type":"T","payload":{},"occurred_at":"now"})").find("RFC 3339"), std::string::npos);
    EXPECT_EQ(bad_line_message(R"({"type":"T","payload":{},"tags":["a",2]})"), R"("tags" must be an array of strings)");
}

} // namespace
