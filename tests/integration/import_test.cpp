// import_events: unconditional, atomic bulk append that later queries and appends see exactly as if
// the events had been appended.

#include <atomic>
#include <future>
#include <stop_token>
#include <thread>

#include <gtest/gtest.h>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using eventstore::build_event_filter;
using eventstore::Errc;
using eventstore::P;
using eventstore::StorableEvent;
using eventstore::test::StoreTest;

std::vector<StorableEvent> books(int count, int first = 0) {
    std::vector<StorableEvent> events;
    events.reserve(static_cast<std::size_t>(count));
    for (int i = first; i < first + count; ++i) {
        events.push_back(eventstore::test::added_to_circulation("book-" + std::to_string(i), eventstore::test::at(i)));
    }
    return events;
}

class Import : public StoreTest {};

TEST_F(Import, StoresEveryEventInOrderAsOneBlock) {
    store().append(eventstore::test::book_filter("book-x"), 0,
                   eventstore::test::added_to_circulation("book-x", eventstore::test::at(0)));
    const auto events = books(12000);
    store().import_events({}, events);
    const auto all = store().query(build_event_filter().matching_any_event()).events;
    ASSERT_EQ(all.size(), events.size() + 1);
    for (std::size_t i = 0; i < events.size(); ++i) {
        const auto& stored = all[i + 1];
        ASSERT_EQ(stored.sequence_number, all[1].sequence_number + i) << "imported events are numbered in a block";
        ASSERT_EQ(stored.occurred_at, events[i].occurred_at);
    }
    // Imported events take part in conflict detection like appended ones.
    const auto filter = eventstore::test::book_filter("book-77");
    const auto [found, max] = store().query(filter);
    ASSERT_EQ(found.size(), 1U);
    EXPECT_THROW(store().append(filter, 0, eventstore::test::lent_to_reader("book-77", "r", eventstore::test::at(1))),
                 eventstore::ConcurrencyConflict);
    EXPECT_NO_THROW(
        store().append(filter, max, eventstore::test::lent_to_reader("book-77", "r", eventstore::test::at(1))));
}

TEST_F(Import, ABadEventWritesNothing) {
    auto events = books(100);
    events[57].payload_json = "{\"BookID\": \"book-57\"";
    const auto error = eventstore::test::thrown_error([&] { store().import_events({}, events); });
    ASSERT_TRUE(error.has_value());
    EXPECT_TRUE(error->is(Errc::appending_event_failed)) << eventstore::test::describe(error);
    EXPECT_TRUE(error->is(Errc::invalid_payload_json)) << eventstore::test::describe(error);
    EXPECT_NE(std::string(error->what()).find("event 57"), std::string::npos) << error->what();
    EXPECT_EQ(count_rows(), 0);
}

TEST_F(Import, ACancelledImportWritesNothingAndTheStoreStaysUsable) {
    const auto events = books(60000);
    std::stop_source stop;
    auto pending = std::async(std::launch::async, [&] {
        store().import_events(eventstore::Context().with_stop_token(stop.get_token()), events);
    });
    std::this_thread::sleep_for(100ms);
    stop.request_stop();
    const auto error = eventstore::test::thrown_error([&] { pending.get(); });
    ASSERT_TRUE(error.has_value()) << "the import finished within 100 ms; make it larger";
    EXPECT_TRUE(error->is(Errc::canceled)) << eventstore::test::describe(error);
    EXPECT_EQ(count_rows(), 0);
    store().import_events({}, books(10));
    EXPECT_EQ(count_rows(), 10);
}

TEST_F(Import, ConcurrentReadersSeeAllOrNothing) {
    const auto events = books(30000);
    std::atomic<bool> done{false};
    std::atomic<int> partial{0};
    std::atomic<int> reads{0};
    std::thread reader([&] {
        const auto everything =
            build_event_filter().matching().any_event_type_of("BookCopyAddedToCirculation").finalize();
        while (!done.load()) {
            const auto n = store().query(everything).events.size();
            if (n != 0 && n != events.size()) {
                ++partial;
            }
            ++reads;
        }
    });
    store().import_events({}, events);
    done = true;
    reader.join();
    EXPECT_EQ(partial.load(), 0);
    EXPECT_GT(reads.load(), 0);
}

} // namespace
