// The snapshot pattern of docs/snapshots.md, end to end: a projection of the books in circulation,
// built from the event log, saved, and resumed incrementally while lenders keep appending.

#include <atomic>
#include <set>
#include <thread>
#include <variant>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/json.hpp"
#include "fixture.hpp"

namespace {

using eventstore::build_event_filter;
using eventstore::EventStore;
using eventstore::Filter;
using eventstore::SequenceNumber;
using eventstore::test::StoreTest;

// --- the projection, as in docs/snapshots.md ----------------------------------------------------

const Filter circulation = build_event_filter()
                               .matching()
                               .any_event_type_of("BookCopyAddedToCirculation", "BookCopyRemovedFromCirculation")
                               .finalize();

// Payloads and snapshot data are read with the store's own reader of top-level string members: the
// rebuild below reads the whole growing log every round, and in a debug build nlohmann-json reads it
// about ten times slower, enough for the writers to outrun the rounds (20 s instead of 2 s).
struct BooksInCirculation {
    std::set<std::string> books;
    SequenceNumber version = 0; // the last event applied

    void apply(const eventstore::StorableEvent& e) {
        eventstore::detail::json::StringMembers members;
        (void)eventstore::detail::json::check_object(e.payload_json, &members);
        for (const auto& [key, value] : members) {
            if (key == "BookID") {
                if (e.event_type == "BookCopyAddedToCirculation") {
                    books.insert(value);
                } else {
                    books.erase(value);
                }
            }
        }
        version = e.sequence_number;
    }

    // Snapshot data: {"<book id>":"in", ...}, one member per book.
    [[nodiscard]] std::string to_json() const {
        nlohmann::json data = nlohmann::json::object();
        for (const auto& b : books) {
            data[b] = "in";
        }
        return data.dump();
    }
    static BooksInCirculation from_snapshot(const eventstore::Snapshot& s) {
        BooksInCirculation p;
        eventstore::detail::json::StringMembers members;
        (void)eventstore::detail::json::check_object(s.data_json, &members);
        for (const auto& [book, in] : members) {
            p.books.insert(book);
        }
        p.version = s.sequence_number;
        return p;
    }
};

// Load the snapshot, catch up from its sequence number, save the result: the whole pattern.
BooksInCirculation catch_up(EventStore& store) {
    BooksInCirculation projection;
    if (auto snapshot = store.load_snapshot("BooksInCirculation", circulation)) {
        projection = BooksInCirculation::from_snapshot(*snapshot);
    }
    const Filter since = std::get<eventstore::SequenceFilteringCapable>(circulation.reopen_for_sequence_filtering())
                             .with_sequence_number_higher_than(projection.version)
                             .finalize();
    for (const auto& e : store.query(since).events) {
        projection.apply(e);
    }
    // The hash of the base filter names the snapshot, not the incremental one's.
    store.save_snapshot(
        eventstore::build_snapshot("BooksInCirculation", circulation.hash(), projection.version, projection.to_json()));
    return projection;
}

// --- the test -------------------------------------------------------------------------------------

class SnapshotProjection : public StoreTest {};

TEST_F(SnapshotProjection, ResumedProjectionEqualsAFullRebuildWhileWritersRun) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> librarians;
    for (int w = 0; w < 4; ++w) {
        librarians.emplace_back([&, w] {
            for (int i = 0; !stop.load(); ++i) {
                const std::string book = "book-" + std::to_string(w) + "-" + std::to_string(i);
                const Filter boundary = eventstore::test::book_filter(book);
                store().append(boundary, 0, eventstore::test::added_to_circulation(book, eventstore::test::at(i)));
                if (i % 3 == 0) {
                    const auto max = store().query(boundary).max_sequence_number;
                    store().append(boundary, max,
                                   eventstore::test::removed_from_circulation(book, eventstore::test::at(i + 1)));
                }
            }
        });
    }
    int rounds = 0;
    for (; rounds < 30; ++rounds) {
        const BooksInCirculation incremental = catch_up(store());
        // A full rebuild up to the same version must agree with the incremental state.
        BooksInCirculation full;
        for (const auto& e : store().query(circulation).events) {
            if (e.sequence_number <= incremental.version) {
                full.apply(e);
            }
        }
        ASSERT_EQ(incremental.books, full.books) << "round " << rounds;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    stop = true;
    for (auto& t : librarians) {
        t.join();
    }
    const BooksInCirculation last = catch_up(store());
    BooksInCirculation full;
    for (const auto& e : store().query(circulation).events) {
        full.apply(e);
    }
    EXPECT_EQ(last.books, full.books);
    EXPECT_EQ(last.version, full.version);
    EXPECT_GT(full.books.size(), 10U);
}

} // namespace
