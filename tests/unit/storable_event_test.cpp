#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include <eventstore/error.hpp>
#include <eventstore/storable_event.hpp>

namespace {

using eventstore::build_storable_event;
using eventstore::build_storable_event_with_empty_metadata;
using eventstore::Errc;
using eventstore::Error;
using eventstore::TimePoint;

const TimePoint occurred_at =
    std::chrono::sys_days{std::chrono::year{2025} / 3 / 14} + std::chrono::hours{9} + std::chrono::microseconds{123456};
const std::string valid_payload = R"({"BookID":"0198f8b2-1c3e-7d6a-9a4b-0123456789ab","Title":"Dune"})";
const std::string valid_metadata = R"({"CausationID":"c-1","CorrelationID":"c-2"})";

// Runs `build` and returns the code it threw, or fails the test when it did not throw.
template <typename Build>
Errc thrown_code(Build build) {
    try {
        build();
    } catch (const Error& e) {
        return e.code();
    }
    ADD_FAILURE() << "no eventstore::Error thrown";
    return Errc::invalid_filter;
}

// The Go library's error cases for building a storable event (its nil is an empty string in C++).
TEST(BuildStorableEvent, InvalidPayload) {
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("E", occurred_at, R"({"invalid": json})", "{}"); }),
              Errc::invalid_payload_json);
}

TEST(BuildStorableEvent, EmptyPayload) {
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("E", occurred_at, "", "{}"); }), Errc::invalid_payload_json);
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("E", occurred_at, std::string(), "{}"); }),
              Errc::invalid_payload_json);
}

TEST(BuildStorableEvent, InvalidMetadata) {
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("E", occurred_at, valid_payload, R"({"invalid": json})"); }),
              Errc::invalid_metadata_json);
}

TEST(BuildStorableEvent, EmptyMetadata) {
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("E", occurred_at, valid_payload, ""); }),
              Errc::invalid_metadata_json);
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("E", occurred_at, valid_payload, std::string()); }),
              Errc::invalid_metadata_json);
}

TEST(BuildStorableEvent, PayloadIsCheckedBeforeMetadata) {
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("E", occurred_at, "nope", "nope"); }),
              Errc::invalid_payload_json);
}

TEST(BuildStorableEvent, NonObjectAndTrailingGarbageAreRejected) {
    // Go's lax validator accepts these; PostgreSQL or predicate matching would fail on them later.
    for (const char* payload : {"[]", "null", "\"x\"", "true", "1", R"({"a":1} garbage)", R"({"a":"\u0000"})"}) {
        EXPECT_EQ(thrown_code([&] { (void)build_storable_event("E", occurred_at, payload, "{}"); }),
                  Errc::invalid_payload_json)
            << payload;
    }
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("E", occurred_at, "{}", "[]"); }),
              Errc::invalid_metadata_json);
}

TEST(BuildStorableEvent, ErrorMessageNamesTheSentinelAndTheProblem) {
    try {
        (void)build_storable_event("E", occurred_at, R"({"a":1 "b":2})", "{}");
        FAIL() << "not thrown";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "payload json is not valid: expected ',' or '}' at byte 7");
        EXPECT_TRUE(e.is(Errc::invalid_payload_json));
    }
    try {
        (void)build_storable_event("E", occurred_at, "{}", "");
        FAIL() << "not thrown";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("metadata json is not valid: ", 0), 0U) << e.what();
    }
}

TEST(BuildStorableEvent, InvalidEventTypes) {
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("", occurred_at, "{}", "{}"); }), Errc::invalid_event_type);
    EXPECT_EQ(thrown_code([] {
                  (void)build_storable_event(std::string(eventstore::max_event_type_length + 1, 'x'), occurred_at, "{}",
                                             "{}");
              }),
              Errc::invalid_event_type);
    EXPECT_EQ(thrown_code([] { (void)build_storable_event(std::string("Bad\0Type", 8), occurred_at, "{}", "{}"); }),
              Errc::invalid_event_type);
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("Bad\xFFType", occurred_at, "{}", "{}"); }),
              Errc::invalid_event_type);
    // The event type is checked first.
    EXPECT_EQ(thrown_code([] { (void)build_storable_event("", occurred_at, "bad", "bad"); }), Errc::invalid_event_type);
}

TEST(BuildStorableEvent, EventTypeMessageSaysWhatIsWrong) {
    try {
        (void)build_storable_event(std::string("A\0B", 3), occurred_at, "{}", "{}");
        FAIL() << "not thrown";
    } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_EQ(what.rfind("event type is not valid: ", 0), 0U) << what;
        EXPECT_NE(what.find("NUL"), std::string::npos) << what;
    }
}

TEST(BuildStorableEvent, LongestAndUnicodeEventTypesAreAccepted) {
    const std::string longest(eventstore::max_event_type_length, 'x');
    EXPECT_EQ(build_storable_event(longest, occurred_at, "{}", "{}").event_type, longest);
    EXPECT_EQ(build_storable_event("B\xC3\xBC"
                                   "cherEntliehen",
                                   occurred_at, "{}", "{}")
                  .event_type,
              "B\xC3\xBC"
              "cherEntliehen");
    EXPECT_EQ(build_storable_event("with space|and,delims=:%", occurred_at, "{}", "{}").event_type,
              "with space|and,delims=:%");
}

// Test_BuildStorableEvent_Success: everything is kept byte for byte.
TEST(BuildStorableEvent, Success) {
    const std::string payload = " { \"BookID\" : \"b-1\" , \"n\": 1.50 }\n";
    const auto event = build_storable_event("BookCopyLentToReader", occurred_at, payload, valid_metadata);
    EXPECT_EQ(event.event_type, "BookCopyLentToReader");
    EXPECT_EQ(event.occurred_at, occurred_at);
    EXPECT_EQ(event.payload_json, payload);
    EXPECT_EQ(event.metadata_json, valid_metadata);
    EXPECT_EQ(event.sequence_number, 0U);
}

TEST(BuildStorableEvent, ZeroTimeIsAccepted) {
    EXPECT_EQ(build_storable_event("E", TimePoint{}, "{}", "{}").occurred_at, TimePoint{});
}

// Test_BuildStorableEventWithEmptyMetadata_ErrorCases.
TEST(BuildStorableEventWithEmptyMetadata, InvalidPayloads) {
    EXPECT_EQ(
        thrown_code([] { (void)build_storable_event_with_empty_metadata("E", occurred_at, R"({"invalid": json})"); }),
        Errc::invalid_payload_json);
    EXPECT_EQ(thrown_code([] { (void)build_storable_event_with_empty_metadata("E", occurred_at, ""); }),
              Errc::invalid_payload_json);
    EXPECT_EQ(thrown_code([] { (void)build_storable_event_with_empty_metadata("E", occurred_at, std::string()); }),
              Errc::invalid_payload_json);
    EXPECT_EQ(thrown_code([] { (void)build_storable_event_with_empty_metadata("", occurred_at, "{}"); }),
              Errc::invalid_event_type);
}

// Test_BuildStorableEventWithEmptyMetadata_Success.
TEST(BuildStorableEventWithEmptyMetadata, MetadataIsExactlyAnEmptyObject) {
    const auto event = build_storable_event_with_empty_metadata("BookCopyReturnedByReader", occurred_at, valid_payload);
    EXPECT_EQ(event.event_type, "BookCopyReturnedByReader");
    EXPECT_EQ(event.occurred_at, occurred_at);
    EXPECT_EQ(event.payload_json, valid_payload);
    EXPECT_EQ(event.metadata_json, "{}");
    EXPECT_EQ(event.sequence_number, 0U);
}

TEST(StorableEvent, EqualityComparesEveryField) {
    const auto a = build_storable_event_with_empty_metadata("E", occurred_at, "{}");
    auto b = a;
    EXPECT_EQ(a, b);
    b.sequence_number = 1;
    EXPECT_NE(a, b);
}

} // namespace
