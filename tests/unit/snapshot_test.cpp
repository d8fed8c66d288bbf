#include <chrono>

#include <gtest/gtest.h>

#include <eventstore/error.hpp>
#include <eventstore/snapshot.hpp>

namespace {

using eventstore::build_snapshot;
using eventstore::Errc;
using eventstore::Error;
using eventstore::Snapshot;

const std::string filter_hash = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

template <typename Action>
Errc thrown_code(Action action) {
    try {
        action();
    } catch (const Error& e) {
        return e.code();
    }
    ADD_FAILURE() << "no eventstore::Error thrown";
    return Errc::invalid_filter;
}

TEST(BuildSnapshot, Success) {
    const auto before = std::chrono::system_clock::now();
    const Snapshot snapshot = build_snapshot("BooksInCirculation", filter_hash, 42, R"({"books":["a","b"]})");
    const auto after = std::chrono::system_clock::now();
    EXPECT_EQ(snapshot.projection_type, "BooksInCirculation");
    EXPECT_EQ(snapshot.filter_hash, filter_hash);
    EXPECT_EQ(snapshot.sequence_number, 42U);
    EXPECT_EQ(snapshot.data_json, R"({"books":["a","b"]})");
    EXPECT_GE(snapshot.created_at, before);
    EXPECT_LE(snapshot.created_at, after);
}

TEST(BuildSnapshot, ZeroSequenceNumberIsAccepted) { EXPECT_EQ(build_snapshot("P", "h", 0, "{}").sequence_number, 0U); }

TEST(BuildSnapshot, ValidatesInGoOrder) {
    EXPECT_EQ(thrown_code([] { (void)build_snapshot("", "", 1, ""); }), Errc::empty_projection_type);
    EXPECT_EQ(thrown_code([] { (void)build_snapshot("P", "", 1, ""); }), Errc::empty_filter_hash);
    EXPECT_EQ(thrown_code([] { (void)build_snapshot("P", "h", 1, ""); }), Errc::invalid_snapshot_json);
}

TEST(SnapshotValidate, InvalidData) {
    for (const char* data : {"", "   ", "{", R"({"a":})", "[]", "null", "1", R"({"a":1} x)", R"({"a":"\u0000"})"}) {
        Snapshot snapshot{"P", "h", 1, data, std::chrono::system_clock::now()};
        EXPECT_EQ(thrown_code([&] { snapshot.validate(); }), Errc::invalid_snapshot_json) << data;
    }
}

TEST(SnapshotValidate, ValidSnapshotDoesNotThrow) {
    const Snapshot snapshot{"P", "h", 7, R"({"count":3,"names":["x"]})", {}};
    EXPECT_NO_THROW(snapshot.validate());
}

TEST(SnapshotValidate, MessagesAreTheGoSentinels) {
    try {
        Snapshot{"", "h", 1, "{}", {}}.validate();
        FAIL() << "not thrown";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "projection type must not be empty");
    }
    try {
        Snapshot{"P", "", 1, "{}", {}}.validate();
        FAIL() << "not thrown";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "filter hash must not be empty");
    }
    try {
        Snapshot{"P", "h", 1, "", {}}.validate();
        FAIL() << "not thrown";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("snapshot json is not valid", 0), 0U) << e.what();
    }
}

} // namespace

TEST(SnapshotKeys, KeysPostgresCannotHoldAreRefused) {
    const auto code = [](const std::string& type, const std::string& hash) {
        try {
            (void)eventstore::build_snapshot(type, hash, 1, "{}");
        } catch (const eventstore::Error& e) {
            return e.code();
        }
        return eventstore::Errc::concurrency_conflict;
    };
    EXPECT_EQ(code(std::string("P\0two", 5), "h"), eventstore::Errc::invalid_snapshot_key);
    EXPECT_EQ(code("P", std::string("h\0x", 3)), eventstore::Errc::invalid_snapshot_key);
    EXPECT_EQ(code("P\xff", "h"), eventstore::Errc::invalid_snapshot_key);
    EXPECT_EQ(code(std::string(eventstore::max_snapshot_key_length + 1, 'p'), "h"),
              eventstore::Errc::invalid_snapshot_key);
    EXPECT_EQ(code(std::string(eventstore::max_snapshot_key_length, 'p'), "h"), eventstore::Errc::concurrency_conflict);
    EXPECT_THROW(eventstore::Snapshot::validate_projection_type(std::string("a\0b", 3)), eventstore::Error);
}
