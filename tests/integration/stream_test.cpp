// query_stream: large results one row at a time, with query()'s guarantee.

#include <future>
#include <stop_token>
#include <thread>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "protocol_writer.hpp"

namespace {

using namespace std::chrono_literals;
using eventstore::build_event_filter;
using eventstore::Errc;
using eventstore::StorableEvent;
using eventstore::test::StoreTest;

class Stream : public StoreTest {
protected:
    void fill(int books) {
        std::vector<StorableEvent> events;
        for (int i = 0; i < books; ++i) {
            const std::string book = "book-" + std::to_string(i);
            events.push_back(eventstore::test::added_to_circulation(book, eventstore::test::at(i)));
            events.push_back(
                eventstore::test::lent_to_reader(book, "reader-" + std::to_string(i % 7), eventstore::test::at(i)));
        }
        store().import_events({}, events);
    }
};

const eventstore::Filter lent = build_event_filter().matching().any_event_type_of("BookCopyLentToReader").finalize();

TEST_F(Stream, DeliversExactlyWhatQueryReturnsInOrder) {
    fill(15000);
    const auto expected = store().query(lent);
    std::vector<StorableEvent> streamed;
    const auto max = store().query_stream({}, lent, [&](StorableEvent&& e) { streamed.push_back(std::move(e)); });
    ASSERT_EQ(streamed.size(), 15000U);
    EXPECT_EQ(streamed, expected.events);
    EXPECT_EQ(max, expected.max_sequence_number);
    // An incremental stream from the middle, and an empty one.
    const auto since = std::get<eventstore::SequenceFilteringCapable>(lent.reopen_for_sequence_filtering())
                           .with_sequence_number_higher_than(streamed[9999].sequence_number)
                           .finalize();
    std::size_t count = 0;
    EXPECT_EQ(store().query_stream({}, since, [&](StorableEvent&&) { ++count; }), max);
    EXPECT_EQ(count, 5000U);
    const auto none = build_event_filter().matching().any_event_type_of("Nothing").finalize();
    EXPECT_EQ(store().query_stream({}, none, [&](StorableEvent&&) { ADD_FAILURE(); }), 0U);
}

TEST_F(Stream, ACallbackExceptionStopsTheStreamAndTheStoreStaysUsable) {
    fill(20000);
    int seen = 0;
    EXPECT_THROW(store().query_stream({}, lent,
                                      [&](StorableEvent&&) {
                                          if (++seen == 10) {
                                              throw std::runtime_error("projection failed");
                                          }
                                      }),
                 std::runtime_error);
    EXPECT_EQ(seen, 10) << "rows arrive one at a time, so the stream stops at once";
    EXPECT_EQ(store().query(lent).events.size(), 20000U);
}

TEST_F(Stream, CancellationEndsAStreamMidway) {
    fill(20000);
    std::stop_source stop;
    int seen = 0;
    try {
        store().query_stream(eventstore::Context().with_stop_token(stop.get_token()), lent, [&](StorableEvent&&) {
            if (++seen == 100) {
                stop.request_stop();
            }
        });
        // The server may have sent every row before the cancel arrived; then the stream simply ends.
        EXPECT_EQ(seen, 20000);
    } catch (const eventstore::Error& e) {
        EXPECT_TRUE(e.is(Errc::canceled)) << e.what();
        EXPECT_LT(seen, 20000);
    }
    EXPECT_EQ(store().query(lent).events.size(), 20000U);
}

// Rows already received are handed over without the server: the Context is looked at between them.
TEST_F(Stream, AStopOrADeadlineEndsTheStreamBetweenCallbacks) {
    fill(3000);
    std::stop_source stop;
    int seen = 0;
    const auto stopped = eventstore::test::thrown_error([&] {
        store().query_stream(eventstore::Context().with_stop_token(stop.get_token()), lent, [&](StorableEvent&&) {
            if (++seen == 10) {
                stop.request_stop();
            }
        });
    });
    ASSERT_TRUE(stopped.has_value());
    EXPECT_TRUE(stopped->is(Errc::canceled)) << eventstore::test::describe(stopped);
    EXPECT_EQ(seen, 10);

    seen = 0;
    const auto started = std::chrono::steady_clock::now();
    const auto expired = eventstore::test::thrown_error([&] {
        store().query_stream(eventstore::Context().with_timeout(100ms), lent, [&](StorableEvent&&) {
            ++seen;
            std::this_thread::sleep_for(1ms);
        });
    });
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(expired.has_value());
    EXPECT_TRUE(expired->is(Errc::deadline_exceeded)) << eventstore::test::describe(expired);
    EXPECT_LT(seen, 3000);
    EXPECT_LT(took, 1s);
    EXPECT_EQ(store().query(lent).events.size(), 3000U);
}

TEST_F(Stream, WaitsForAnOpenWriterOfItsBoundaryLikeQuery) {
    fill(10);
    eventstore::test::ProtocolWriter writer(conninfo(), table());
    writer.begin("BookCopyLentToReader", R"({"BookID":"late","ReaderID":"r"})");
    std::size_t count = 0;
    auto pending = std::async(std::launch::async,
                              [&] { return store().query_stream({}, lent, [&](StorableEvent&&) { ++count; }); });
    EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout) << "the stream must wait for the open writer";
    writer.commit();
    const auto max = pending.get();
    EXPECT_EQ(count, 11U);
    EXPECT_EQ(max, store().query(lent).max_sequence_number);
}

} // namespace
