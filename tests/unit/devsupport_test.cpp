// The development-support helpers the tests, benchmarks, tools and example share: ids, times and SQL
// names must come out exactly as the Go fixtures and PostgreSQL expect them.

#include <chrono>
#include <cstdint>
#include <random>
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "devsupport/rfc3339.hpp"
#include "devsupport/sql_names.hpp"
#include "devsupport/uuid.hpp"

namespace {

using namespace eventstore::devsupport;

TEST(DevSupportUuid, LaysOutTimeVersionVariantAndRandomBits) {
    EXPECT_EQ(uuid_v7(0x0198'f8b2'1c3e, 0xd6a, 0x9a4b'0123'4567'89abULL), "0198f8b2-1c3e-7d6a-9a4b-0123456789ab");
    // Only the random fields' own bits are used; version and variant are always 7 and 10xx.
    EXPECT_EQ(uuid_v7(0, 0xFFFF, ~0ULL), "00000000-0000-7fff-bfff-ffffffffffff");
    EXPECT_EQ(uuid_v7(0, 0, 0), "00000000-0000-7000-8000-000000000000");
    EXPECT_NE(uuid_v7(1, 0, 1), uuid_v7(1, 0, 2));
}

TEST(DevSupportUuid, DrawsFromTheGeneratorDeterministically) {
    std::mt19937_64 a(42);
    std::mt19937_64 b(42);
    const std::string first = uuid_v7(1'700'000'000'000, a);
    EXPECT_EQ(first, uuid_v7(1'700'000'000'000, b));
    EXPECT_NE(first, uuid_v7(1'700'000'000'000, a));
    EXPECT_EQ(first.substr(0, 13), "018bcfe5-6800");
}

TEST(DevSupportUuid, FreshIdsAreVersion7AndDistinct) {
    const std::regex shape("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const std::string id = new_uuid_v7();
        ASSERT_TRUE(std::regex_match(id, shape)) << id;
        seen.insert(id);
    }
    EXPECT_EQ(seen.size(), 1000U);
}

TEST(DevSupportRfc3339, TrimsTheFractionLikeGo) {
    EXPECT_EQ(rfc3339_utc(std::int64_t{0}), "1970-01-01T00:00:00Z");
    EXPECT_EQ(rfc3339_utc(std::int64_t{1'000'000}), "1970-01-01T00:00:01Z");
    EXPECT_EQ(rfc3339_utc(std::int64_t{1'750'000'000'123'456}), "2025-06-15T15:06:40.123456Z");
    EXPECT_EQ(rfc3339_utc(std::int64_t{1'750'000'000'120'000}), "2025-06-15T15:06:40.12Z");
    EXPECT_EQ(rfc3339_utc(std::int64_t{1'750'000'000'000'001}), "2025-06-15T15:06:40.000001Z");
}

TEST(DevSupportRfc3339, InstantsBefore1970HaveAPositiveFraction) {
    EXPECT_EQ(rfc3339_utc(std::int64_t{-1}), "1969-12-31T23:59:59.999999Z");
    EXPECT_EQ(rfc3339_utc(std::int64_t{-500'000}), "1969-12-31T23:59:59.5Z");
    EXPECT_EQ(rfc3339_utc(std::int64_t{-1'000'000}), "1969-12-31T23:59:59Z");
}

TEST(DevSupportRfc3339, TimePointsAreCutToMicroseconds) {
    using namespace std::chrono;
    const system_clock::time_point t{seconds(1) + nanoseconds(123'456'789)};
    EXPECT_EQ(rfc3339_utc(t), "1970-01-01T00:00:01.123456Z");
    EXPECT_EQ(rfc3339_utc(system_clock::time_point{-nanoseconds(1)}), "1969-12-31T23:59:59.999999Z");
}

TEST(DevSupportSqlNames, QuotesIdentifiersAndSplitsTablesAtTheFirstDot) {
    EXPECT_EQ(quote_identifier("events"), "\"events\"");
    EXPECT_EQ(quote_identifier("We\"ird Name"), "\"We\"\"ird Name\"");
    EXPECT_EQ(quote_table("events"), "\"events\"");
    EXPECT_EQ(quote_table("dcb.events"), "\"dcb\".\"events\"");
    EXPECT_EQ(quote_table("a.b.c"), "\"a\".\"b.c\"");
}

} // namespace
