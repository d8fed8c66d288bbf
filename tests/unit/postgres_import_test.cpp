// How import_events cuts its events into statements (src/postgres/import.hpp), without a database.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "postgres/import.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::postgres::detail;

StorableEvents events_of_sizes(const std::vector<std::size_t>& payload_bytes) {
    StorableEvents out;
    for (const std::size_t n : payload_bytes) {
        out.push_back(StorableEvent{"T", TimePoint(), std::string(n, 'x'), "{}", 0, {}, {}});
    }
    return out;
}

TEST(ImportChunks, CountCutsChunksOfSmallEvents) {
    const auto events = events_of_sizes(std::vector<std::size_t>(12, 10));
    EXPECT_EQ(plan_chunks(events, 5, 1'000'000), (std::vector<std::size_t>{0, 5, 10, 12}));
}

TEST(ImportChunks, SizeCutsChunksOfLargeEvents) {
    // 435 bytes an event of 400: its text, type "T", metadata "{}" and 32 bytes of array framing.
    EXPECT_EQ(plan_chunks(events_of_sizes({400, 400, 400, 100, 100}), 5000, 1000), (std::vector<std::size_t>{0, 2, 5}));
    EXPECT_EQ(plan_chunks(events_of_sizes({400, 400, 400, 400, 100}), 5000, 1000),
              (std::vector<std::size_t>{0, 2, 4, 5}));
}

TEST(ImportChunks, AnEventLargerThanAChunkIsAChunkOfItsOwn) {
    const auto events = events_of_sizes({10, 5000, 10});
    EXPECT_EQ(plan_chunks(events, 5000, 1000), (std::vector<std::size_t>{0, 1, 2, 3}));
}

TEST(ImportChunks, NoEventsNoChunks) { EXPECT_EQ(plan_chunks({}, 5000, 1000), (std::vector<std::size_t>{0})); }

} // namespace
