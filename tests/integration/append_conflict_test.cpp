// Deterministic conflict tests: a raw session plays a concurrent writer that has inserted a matching
// event and not yet committed (ProtocolWriter, following the store's lock protocol as every append
// does); an append decided on the stale maximum runs meanwhile.

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "protocol_writer.hpp"

namespace {

using namespace std::chrono_literals;
using namespace eventstore::test;

class AppendConflict : public StoreTest {};

const std::string book = make_uuid(0x0123456789ab);

eventstore::StorableEvent lent(const std::string& reader) { return lent_to_reader(book, reader, at(1)); }

std::string lent_payload(const std::string& reader) { return lent_to_reader_payload(book, reader, at(1)); }

TEST_F(AppendConflict, StaleAppendConflictsOnceTheOpenWriterCommits) {
    auto [events, max] = store().query(book_filter(book));
    ASSERT_EQ(max, 0U);
    ProtocolWriter writer(conninfo(), table());
    writer.begin(book_copy_lent_to_reader, lent_payload("reader-raw"));

    auto pending =
        std::async(std::launch::async, [&, m = max] { store().append(book_filter(book), m, lent("reader-store")); });
    // The append must wait for the open writer rather than decide on a world without its event.
    EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout);
    writer.commit();
    EXPECT_THROW(pending.get(), eventstore::ConcurrencyConflict);

    const auto after = store().query(book_filter(book));
    ASSERT_EQ(after.events.size(), 1U);
    EXPECT_NE(after.events[0].payload_json.find("reader-raw"), std::string::npos);
}

TEST_F(AppendConflict, StaleAppendSucceedsWhenTheOpenWriterRollsBack) {
    store().append(book_filter(book), 0, lent("reader-0"));
    auto [events, max] = store().query(book_filter(book));
    ASSERT_EQ(events.size(), 1U);
    ProtocolWriter writer(conninfo(), table());
    writer.begin(book_copy_lent_to_reader, lent_payload("reader-raw"));

    auto pending =
        std::async(std::launch::async, [&, m = max] { store().append(book_filter(book), m, lent("reader-store")); });
    EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout);
    writer.rollback();
    EXPECT_NO_THROW(pending.get());

    const auto after = store().query(book_filter(book));
    ASSERT_EQ(after.events.size(), 2U);
    EXPECT_NE(after.events[1].payload_json.find("reader-store"), std::string::npos);
    // The rolled-back writer left a gap in the numbering, which is allowed.
    EXPECT_GT(after.events[1].sequence_number, after.events[0].sequence_number + 1);
}

TEST_F(AppendConflict, QueryWaitsForAnOpenWriterOfItsBoundary) {
    store().append(book_filter(book), 0, lent("reader-0"));
    ProtocolWriter writer(conninfo(), table());
    writer.begin(book_copy_lent_to_reader, lent_payload("reader-raw"));
    // A second writer on the same boundary commits after the first took its number: a reader must not
    // report its number as the maximum while the first one's is still invisible.
    auto reader = std::async(std::launch::async, [&] { return store().query(book_filter(book)); });
    EXPECT_EQ(reader.wait_for(300ms), std::future_status::timeout);
    writer.commit();
    const auto result = reader.get();
    ASSERT_EQ(result.events.size(), 2U);
    EXPECT_EQ(result.max_sequence_number, result.events.back().sequence_number);
}

TEST_F(AppendConflict, WritersOnOtherBoundariesDoNotBlock) {
    ProtocolWriter writer(conninfo(), table());
    writer.begin(book_copy_lent_to_reader, lent_to_reader_payload("ffffffff-0000-0000-0000-000000000000", "r", at(1)));
    // Same event type, same EventType member, other book: neither the query nor the append waits.
    auto pending = std::async(std::launch::async, [&] {
        auto [events, max] = store().query(book_filter(book));
        store().append(book_filter(book), max, lent("reader-store"));
    });
    EXPECT_EQ(pending.wait_for(5s), std::future_status::ready);
    EXPECT_NO_THROW(pending.get());
    writer.rollback();
}

TEST_F(AppendConflict, AppendWithAStaleMaximumAfterACommittedWriteConflicts) {
    auto [events, max] = store().query(book_filter(book));
    store().append(book_filter(book), max, lent("first"));
    EXPECT_THROW(store().append(book_filter(book), max, lent("second")), eventstore::ConcurrencyConflict);
    std::vector<eventstore::StorableEvent> two{lent("a"), lent("b")};
    EXPECT_THROW(store().append(book_filter(book), max, two), eventstore::ConcurrencyConflict);
    EXPECT_EQ(store().query(book_filter(book)).events.size(), 1U);
    // A maximum above the real one is stale too: the stream's version must be exactly what was read.
    auto current = store().query(book_filter(book)).max_sequence_number;
    EXPECT_THROW(store().append(book_filter(book), current + 1000, lent("third")), eventstore::ConcurrencyConflict);
    EXPECT_NO_THROW(store().append(book_filter(book), current, two));
    const auto after = store().query(book_filter(book));
    ASSERT_EQ(after.events.size(), 3U);
    // Stored in argument order.
    EXPECT_NE(after.events[1].payload_json.find("\"a\""), std::string::npos);
    EXPECT_NE(after.events[2].payload_json.find("\"b\""), std::string::npos);
    EXPECT_LT(after.events[1].sequence_number, after.events[2].sequence_number);
}

} // namespace
