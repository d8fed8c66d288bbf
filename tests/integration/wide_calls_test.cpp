// Calls that need more lock keys than the advisory-lock budget (src/postgres/lock_keys.hpp): wide
// filters and large appends work, for a role that may only SELECT and INSERT, and the fallback keeps
// the guarantees: it waits for writers in flight, holds off the writers it must, and nothing else.

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/postgres.hpp>

#include "fixture.hpp"
#include "protocol_writer.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::test;
using namespace std::chrono_literals;

// `n` event types, "Type0" ... "Type<n-1>".
std::vector<std::string> types(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
        out.push_back("Type" + std::to_string(i));
    }
    return out;
}

// An event with `members` string members, each a key of its own for the lock protocol.
StorableEvent wide_event(const std::string& type, int members, const std::string& tag) {
    nlohmann::ordered_json payload{{"Tag", tag}};
    for (int i = 0; i < members; ++i) {
        payload["M" + std::to_string(i)] = "v" + std::to_string(i);
    }
    return build_storable_event_with_empty_metadata(type, at(1), payload.dump());
}

// Events with a distinct string id each: one key per event.
StorableEvents events_with_ids(int n, const std::string& type) {
    StorableEvents out;
    for (int i = 0; i < n; ++i) {
        out.push_back(build_storable_event_with_empty_metadata(
            type, at(i), nlohmann::json{{"EventID", make_uuid(static_cast<std::uint64_t>(i) + 1)}}.dump()));
    }
    return out;
}

Filter filter_of_types(const std::vector<std::string>& t) {
    return build_event_filter().matching().any_event_type_of(std::span<const std::string>(t)).finalize();
}

class WideCalls : public StoreTest {
protected:
    // A store used by a role that may only read and insert: no table lock, no ownership.
    std::unique_ptr<postgres::EventStore> app_store() {
        m_role = unique_table_name("app");
        raw().exec("CREATE ROLE " + m_role + " LOGIN");
        raw().exec("GRANT SELECT, INSERT ON " + table() + " TO " + m_role);
        raw().exec("GRANT USAGE ON SEQUENCE " + sequence_of_table() + " TO " + m_role);
        return make_store(postgres::ConnectionPool::create(conninfo() + " user=" + m_role));
    }

    void TearDown() override {
        if (!m_role.empty()) {
            raw().exec("DROP OWNED BY " + m_role);
            raw().exec("DROP ROLE " + m_role);
        }
        StoreTest::TearDown();
    }

private:
    std::string m_role;
};

TEST_F(WideCalls, WideReadsAndLargeAppendsWorkForARoleThatMayOnlySelectAndInsert) {
    auto app = app_store();
    // A 32-type filter on the append (256 shared locks plus the writer's own), 250 distinct ids.
    const auto first = events_with_ids(250, "Type1");
    app->append(filter_of_types(types(32)), 0, first);
    // An event with 300 string members.
    const SequenceNumber max = app->query(filter_of_types(types(32))).max_sequence_number;
    app->append(filter_of_types(types(32)), max, wide_event("Type2", 300, "wide"));
    // 10,000 events with distinct ids, in one append.
    const auto many = events_with_ids(10'000, "Type3");
    app->append(filter_of_types({"Type3"}), 0, many);
    // Reads of 33 and 500 types, and a stream of 33.
    EXPECT_EQ(app->query(filter_of_types(types(33))).events.size(), 250U + 1U + 10'000U);
    EXPECT_EQ(app->query(filter_of_types(types(500))).events.size(), 250U + 1U + 10'000U);
    std::size_t streamed = 0;
    const SequenceNumber last =
        app->query_stream(Context(), filter_of_types(types(33)), [&](StorableEvent&&) { ++streamed; });
    EXPECT_EQ(streamed, 250U + 1U + 10'000U);
    EXPECT_EQ(last, app->query(Filter()).max_sequence_number);
    // In argument order, all of them.
    const auto stored = app->query(filter_of_types({"Type3"})).events;
    ASSERT_EQ(stored.size(), many.size());
    for (std::size_t i = 0; i < many.size(); ++i) {
        ASSERT_TRUE(json_equal(stored[i].payload_json, many[i].payload_json)) << i;
    }
}

TEST_F(WideCalls, AWideAppendWaitsForAWriterInFlightAndThenConflicts) {
    ProtocolWriter writer(conninfo(), table());
    const std::vector<std::string> wide_types = types(40);
    const SequenceNumber before = store().query(filter_of_types(wide_types)).max_sequence_number;
    writer.begin("Type7", "{\"Tag\":\"in flight\"}");
    auto pending = std::async(std::launch::async, [&] {
        store().append(filter_of_types(wide_types), before, wide_event("Type8", 300, "late"));
    });
    EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout) << "the wide append did not wait";
    writer.commit();
    EXPECT_THROW(pending.get(), ConcurrencyConflict);
    EXPECT_EQ(count_rows(), 1);
}

TEST_F(WideCalls, AWideReadWaitsForAWriterInFlightAndSeesItsEvent) {
    ProtocolWriter writer(conninfo(), table());
    const SequenceNumber n = writer.begin("Type9", "{\"Tag\":\"in flight\"}");
    auto pending = std::async(std::launch::async, [&] { return store().query(filter_of_types(types(500))); });
    EXPECT_EQ(pending.wait_for(300ms), std::future_status::timeout) << "the wide read did not wait";
    writer.commit();
    const auto result = pending.get();
    ASSERT_EQ(result.events.size(), 1U);
    EXPECT_EQ(result.max_sequence_number, n);
}

// A writer in flight with more keys than the budget: it holds every stripe of the global key, so a
// conditional append anywhere waits for it (and, of its boundary, then conflicts), while reads of
// other boundaries go on.
TEST_F(WideCalls, AWideWriterInFlightHoldsOffWritersButNotOtherReaders) {
    store().append(book_filter("b-1"), 0, added_to_circulation("b-1", at(1)));
    ProtocolWriter wide(conninfo(), table());
    nlohmann::ordered_json payload{{"BookID", "b-2"}};
    for (int i = 0; i < 300; ++i) {
        payload["M" + std::to_string(i)] = "v";
    }
    wide.begin(std::string(book_copy_added_to_circulation), payload.dump());

    // A read of another boundary does not wait.
    auto read = std::async(std::launch::async, [&] { return store().query(book_filter("b-1")); });
    EXPECT_EQ(read.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(read.get().events.size(), 1U);
    // An append to its boundary waits, then conflicts; one to another boundary waits, then succeeds.
    auto same = std::async(std::launch::async,
                           [&] { store().append(book_filter("b-2"), 0, added_to_circulation("b-2", at(2))); });
    auto other = std::async(std::launch::async,
                            [&] { store().append(book_filter("b-3"), 0, added_to_circulation("b-3", at(3))); });
    EXPECT_EQ(same.wait_for(300ms), std::future_status::timeout);
    EXPECT_EQ(other.wait_for(0ms), std::future_status::timeout);
    wide.commit();
    EXPECT_THROW(same.get(), ConcurrencyConflict);
    EXPECT_NO_THROW(other.get());
    EXPECT_EQ(count_rows(), 3);
}

// PostgreSQL takes a protocol message of at most 1 GB: an append that large is refused before any
// database work (and before reading a gigabyte of JSON); import_events cuts its chunks by size as
// well as by count (their planning: tests/unit/postgres_import_test.cpp).
TEST_F(WideCalls, AnAppendTooLargeForOneStatementIsRefusedBeforeAnyDatabaseWork) {
    StorableEvents big;
    for (int i = 0; i < 5; ++i) {
        std::string payload = "{\"Big\":\"";
        payload.append(220U << 20U, static_cast<char>('a' + i));
        payload += "\"}";
        big.push_back(StorableEvent{"Big", at(i), std::move(payload), "{}", 0, {}, {}});
    }
    const auto err = thrown_error([&] { store().append(filter_of_types({"Big"}), 0, big); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::appending_event_failed)) << describe(err);
    EXPECT_TRUE(err->is_input_error()) << describe(err);
    EXPECT_EQ(count_rows(), 0);
}

TEST_F(WideCalls, LargeEventsAreImportedInChunksOfTheirSize) {
    StorableEvents big;
    for (int i = 0; i < 3; ++i) {
        big.push_back(build_storable_event_with_empty_metadata(
            "Big", at(i), nlohmann::json{{"Big", std::string(40U << 20U, static_cast<char>('a' + i))}}.dump()));
    }
    store().import_events(Context(), big);
    const auto lengths = raw().exec("SELECT octet_length(payload->>'Big'), left(payload->>'Big', 1) FROM " +
                                    quote_identifier(table()) + " ORDER BY sequence_number");
    ASSERT_EQ(lengths.rows(), 3);
    for (int r = 0; r < 3; ++r) {
        EXPECT_EQ(lengths.value(r, 0), std::to_string(40U << 20U));
        EXPECT_EQ(lengths.value(r, 1), std::string(1, static_cast<char>('a' + r)));
    }
}

} // namespace
