// Incremental reads never skip an event: sequence numbers are taken at INSERT and become visible at
// COMMIT, so without care a reader sees N+1 before N commits and then skips N forever
// (docs/design/append-concurrency.md, "Guarantee 2").

#include <atomic>
#include <chrono>
#include <future>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <variant>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "protocol_writer.hpp"

namespace {

using namespace std::chrono_literals;
using eventstore::build_event_filter;
using eventstore::Filter;
using eventstore::P;
using eventstore::SequenceNumber;
using eventstore::test::PgSession;
using eventstore::test::ProtocolWriter;
using eventstore::test::quote_identifier;
using eventstore::test::StoreTest;

class GapFreeReads : public StoreTest {
protected:
    [[nodiscard]] eventstore::postgres::PoolOptions pool_options() const override { return {.max_connections = 12}; }

    static Filter since(const Filter& base, SequenceNumber n) {
        auto reopened = base.reopen_for_sequence_filtering();
        return std::get<eventstore::SequenceFilteringCapable>(reopened).with_sequence_number_higher_than(n).finalize();
    }
};

eventstore::StorableEvent lent(const std::string& book, const std::string& reader) {
    return eventstore::build_storable_event_with_empty_metadata(
        "BookCopyLentToReader", std::chrono::system_clock::now(),
        nlohmann::ordered_json{{"BookID", book}, {"ReaderID", reader}}.dump());
}

// The reader's boundary covers both writers; the writers' own boundaries do not touch each other, so
// the second writer commits while the first is still open.
const Filter book_or_reader =
    build_event_filter().matching().any_predicate_of(P("BookID", "b1"), P("ReaderID", "r1")).finalize();
const Filter second_writers_boundary = build_event_filter().matching().any_predicate_of(P("BookID", "b2")).finalize();

TEST_F(GapFreeReads, ReaderNeverReportsAMaximumAboveAnOpenWriter_Commit) {
    ProtocolWriter writer(conninfo(), table());
    const SequenceNumber n = writer.begin("BookCopyLentToReader", R"({"BookID":"b1","ReaderID":"r2"})");
    // The second writer commits N+1 (a matching event for the reader) while N is still invisible.
    store().append(second_writers_boundary, 0, lent("b2", "r1"));
    const auto committed = raw().scalar("SELECT max(sequence_number) FROM " + quote_identifier(table()));
    ASSERT_GT(std::stoull(committed.value_or("0")), n);

    auto reader = std::async(std::launch::async, [&] { return store().query(book_or_reader); });
    EXPECT_EQ(reader.wait_for(300ms), std::future_status::timeout) << "the reader must wait for the open writer";
    writer.commit();
    const auto result = reader.get();
    ASSERT_EQ(result.events.size(), 2U);
    EXPECT_EQ(result.events[0].sequence_number, n);
    EXPECT_EQ(result.max_sequence_number, result.events[1].sequence_number);
}

TEST_F(GapFreeReads, ReaderNeverReportsAMaximumAboveAnOpenWriter_Rollback) {
    ProtocolWriter writer(conninfo(), table());
    const SequenceNumber n = writer.begin("BookCopyLentToReader", R"({"BookID":"b1","ReaderID":"r2"})");
    store().append(second_writers_boundary, 0, lent("b2", "r1"));
    auto reader = std::async(std::launch::async, [&] { return store().query(book_or_reader); });
    EXPECT_EQ(reader.wait_for(300ms), std::future_status::timeout);
    writer.rollback();
    // A rolled-back number is a permanent gap: the reader goes on at once, and never waits for it again.
    ASSERT_EQ(reader.wait_for(5s), std::future_status::ready);
    const auto result = reader.get();
    ASSERT_EQ(result.events.size(), 1U);
    EXPECT_GT(result.max_sequence_number, n);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(store().query(since(book_or_reader, 0)).events.size(), 1U);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(GapFreeReads, ALongRunningUnrelatedTransactionDoesNotStallReaders) {
    PgSession other(conninfo());
    other.exec("CREATE TABLE IF NOT EXISTS unrelated (x int)");
    other.exec("BEGIN");
    other.exec("INSERT INTO unrelated VALUES (1)"); // holds a transaction id, like a long report or an idle session
    store().append(book_or_reader, 0, lent("b1", "r9"));
    const auto start = std::chrono::steady_clock::now();
    const auto result = store().query(book_or_reader);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_EQ(result.events.size(), 1U);
    other.exec("ROLLBACK");
}

TEST_F(GapFreeReads, IncrementalReaderSeesEveryEventExactlyOnce) {
    // Writers on disjoint boundaries, all matching the reader's type-only filter, with small random pauses.
    const Filter ticks = build_event_filter().matching().any_event_type_of("Tick").finalize();
    constexpr int writers = 6;
    constexpr int per_writer = 60;
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            std::mt19937 rng(static_cast<unsigned>(w));
            const std::string mine = "w" + std::to_string(w);
            const Filter boundary = build_event_filter().matching().any_predicate_of(P("Writer", mine)).finalize();
            SequenceNumber max = 0;
            for (int i = 0; i < per_writer; ++i) {
                try {
                    store().append(boundary, max,
                                   eventstore::build_storable_event_with_empty_metadata(
                                       "Tick", std::chrono::system_clock::now(),
                                       nlohmann::ordered_json{{"Writer", mine}, {"N", std::to_string(i)}}.dump()));
                    max = store().query(boundary).max_sequence_number;
                } catch (const std::exception& e) {
                    ADD_FAILURE() << e.what();
                }
                std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
            }
            ++done;
        });
    }
    std::multiset<SequenceNumber> seen;
    SequenceNumber last = 0;
    int polls = 0;
    for (;;) {
        const bool finished = done.load() == writers;
        const auto batch = store().query(since(ticks, last));
        for (const auto& e : batch.events) {
            seen.insert(e.sequence_number);
        }
        if (batch.max_sequence_number > 0) {
            last = batch.max_sequence_number;
        }
        ++polls;
        if (finished) {
            break; // this poll started after every writer had returned
        }
    }
    for (auto& t : threads) {
        t.join();
    }
    const auto all = store().query(ticks).events;
    ASSERT_EQ(all.size(), static_cast<std::size_t>(writers * per_writer));
    std::multiset<SequenceNumber> expected;
    for (const auto& e : all) {
        expected.insert(e.sequence_number);
    }
    EXPECT_EQ(seen, expected) << "the incremental reader skipped or repeated events";
    EXPECT_GT(polls, 5) << "the reader should have polled while the writers ran";
}

} // namespace
