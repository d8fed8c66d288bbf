// Snapshots: save, load and delete as the Go library's snapshot tests check them (validation, the
// newest sequence number wins, one snapshot per projection type and filter hash), and contexts.

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "integration/fixture.hpp"

namespace {

using eventstore::build_event_filter;
using eventstore::build_snapshot;
using eventstore::Context;
using eventstore::Errc;
using eventstore::Filter;
using eventstore::P;
using eventstore::SequenceNumber;
using eventstore::Snapshot;
using namespace eventstore::test;
using namespace std::chrono_literals;

const std::string book_1 = make_uuid(0x51);
const std::string book_2 = make_uuid(0x52);
const std::string projection = "BooksInCirculation";

class SnapshotTest : public StoreTest {
protected:
    Filter filter() const { return book_filter(book_1); }

    std::optional<Snapshot> load() { return store().load_snapshot(projection, filter()); }

    void save(SequenceNumber seq, const std::string& data) {
        store().save_snapshot(build_snapshot(projection, filter().hash(), seq, data));
    }
};

TEST_F(SnapshotTest, SaveAndLoadRoundTrip) {
    const std::string data =
        R"({"books": {"a": {"title": "O'Reilly \"DDD\"", "lent": true, "n": 1.5}}, "list": [1, "x", null]})";
    Snapshot s = build_snapshot(projection, filter().hash(), 42, data);
    s.created_at = at(0); // ignored: the server's clock stamps the row
    const auto before = std::chrono::system_clock::now();
    store().save_snapshot(s);

    const auto loaded = load();
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->projection_type, projection);
    EXPECT_EQ(loaded->filter_hash, filter().hash());
    EXPECT_EQ(loaded->sequence_number, 42U);
    EXPECT_TRUE(json_equal(loaded->data_json, data));
    const auto now = std::chrono::system_clock::now();
    EXPECT_GT(loaded->created_at, before - 5s);
    EXPECT_LT(loaded->created_at, now + 5s);
    EXPECT_EQ(count_snapshot_rows(), 1);
}

TEST_F(SnapshotTest, LoadingAMissingSnapshotGivesNothing) {
    EXPECT_FALSE(load().has_value());
    save(1, "{}");
    // Same filter, other projection; same projection, other filter.
    EXPECT_FALSE(store().load_snapshot("OtherProjection", filter()).has_value());
    EXPECT_FALSE(store().load_snapshot(projection, book_filter(book_2)).has_value());
    EXPECT_TRUE(load().has_value());
}

TEST_F(SnapshotTest, SaveValidatesItsInput) {
    struct Case {
        const char* name;
        Snapshot snapshot;
        Errc expected;
    };
    const std::vector<Case> cases{
        {"empty projection type", Snapshot{"", filter().hash(), 1, "{}", {}}, Errc::empty_projection_type},
        {"empty filter hash", Snapshot{projection, "", 1, "{}", {}}, Errc::empty_filter_hash},
        {"invalid json", Snapshot{projection, filter().hash(), 1, "{invalid json", {}}, Errc::invalid_snapshot_json},
        {"empty json", Snapshot{projection, filter().hash(), 1, "", {}}, Errc::invalid_snapshot_json},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const auto err = thrown_error([&] { store().save_snapshot(c.snapshot); });
        ASSERT_TRUE(err.has_value());
        EXPECT_TRUE(err->is(c.expected)) << describe(err);
    }
    EXPECT_EQ(count_snapshot_rows(), 0);

    auto err = thrown_error([&] { (void)store().load_snapshot("", filter()); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::empty_projection_type)) << describe(err);
    err = thrown_error([&] { store().delete_snapshot("", filter()); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::empty_projection_type)) << describe(err);
}

TEST_F(SnapshotTest, LowerSequenceNeverOverwrites) {
    save(100, R"({"version": "hundred"})");
    ASSERT_NO_THROW(save(50, R"({"version": "fifty"})"));
    const auto loaded = load();
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->sequence_number, 100U);
    EXPECT_TRUE(json_equal(loaded->data_json, R"({"version": "hundred"})"));
    EXPECT_EQ(count_snapshot_rows(), 1);
}

TEST_F(SnapshotTest, EqualSequenceOverwrites) {
    save(100, R"({"version": "first"})");
    const auto first = load();
    ASSERT_TRUE(first.has_value());
    std::this_thread::sleep_for(20ms);
    save(100, R"({"version": "second"})");
    const auto loaded = load();
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->sequence_number, 100U);
    EXPECT_TRUE(json_equal(loaded->data_json, R"({"version": "second"})"));
    EXPECT_GT(loaded->created_at, first->created_at); // created_at is renewed too
}

TEST_F(SnapshotTest, HigherSequenceUpserts) {
    save(10, R"({"v": 10})");
    save(20, R"({"v": 20})");
    const auto loaded = load();
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->sequence_number, 20U);
    EXPECT_TRUE(json_equal(loaded->data_json, R"({"v": 20})"));
    EXPECT_EQ(count_snapshot_rows(), 1);
}

TEST_F(SnapshotTest, ConcurrentSavesKeepTheHighestSequence) {
    constexpr int writers = 10;
    std::vector<std::optional<eventstore::Error>> errors(writers);
    std::vector<std::thread> threads;
    threads.reserve(writers);
    for (int i = 0; i < writers; ++i) {
        threads.emplace_back([&, i] {
            const auto seq = static_cast<SequenceNumber>(i + 1);
            errors[static_cast<std::size_t>(i)] =
                thrown_error([&] { save(seq, "{\"seq\": " + std::to_string(seq) + "}"); });
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    for (std::size_t i = 0; i < errors.size(); ++i) {
        EXPECT_FALSE(errors[i].has_value()) << "save " << i + 1 << ": " << describe(errors[i]);
    }
    const auto loaded = load();
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->sequence_number, 10U);
    EXPECT_TRUE(json_equal(loaded->data_json, R"({"seq": 10})"));
    EXPECT_EQ(count_snapshot_rows(), 1);
}

TEST_F(SnapshotTest, DifferentFiltersGiveDifferentSnapshots) {
    const Filter f1 = book_filter(book_1);
    const Filter f2 = book_or_reader_filter(book_1, make_uuid(0xEE));
    ASSERT_NE(f1.hash(), f2.hash());
    store().save_snapshot(build_snapshot(projection, f1.hash(), 5, R"({"f": 1})"));
    store().save_snapshot(build_snapshot(projection, f2.hash(), 7, R"({"f": 2})"));
    EXPECT_EQ(count_snapshot_rows(), 2);
    const auto s1 = store().load_snapshot(projection, f1);
    const auto s2 = store().load_snapshot(projection, f2);
    ASSERT_TRUE(s1.has_value());
    ASSERT_TRUE(s2.has_value());
    EXPECT_EQ(s1->sequence_number, 5U);
    EXPECT_EQ(s2->sequence_number, 7U);
    EXPECT_TRUE(json_equal(s1->data_json, R"({"f": 1})"));
    EXPECT_TRUE(json_equal(s2->data_json, R"({"f": 2})"));
    EXPECT_EQ(s2->filter_hash, f2.hash());
}

TEST_F(SnapshotTest, LoadUsesTheHashOfTheFilterItIsGiven) {
    // Saved under the base filter's hash: the incremental (reopened) filter is another stream.
    save(3, R"({"n": 3})");
    const auto reopened = filter().reopen_for_sequence_filtering();
    ASSERT_TRUE(std::holds_alternative<eventstore::SequenceFilteringCapable>(reopened));
    const Filter incremental =
        std::get<eventstore::SequenceFilteringCapable>(reopened).with_sequence_number_higher_than(3).finalize();
    EXPECT_FALSE(store().load_snapshot(projection, incremental).has_value());
    EXPECT_TRUE(store().load_snapshot(projection, filter()).has_value());
}

TEST_F(SnapshotTest, DeleteThenLoadGivesNothing) {
    save(1, R"({"a": 1})");
    store().save_snapshot(build_snapshot("OtherProjection", filter().hash(), 1, R"({"b": 1})"));
    ASSERT_TRUE(load().has_value());
    store().delete_snapshot(projection, filter());
    EXPECT_FALSE(load().has_value());
    // Only that one.
    EXPECT_TRUE(store().load_snapshot("OtherProjection", filter()).has_value());
    EXPECT_EQ(count_snapshot_rows(), 1);
}

TEST_F(SnapshotTest, DeleteIsIdempotent) {
    EXPECT_NO_THROW(store().delete_snapshot(projection, filter()));
    save(1, "{}");
    EXPECT_NO_THROW(store().delete_snapshot(projection, filter()));
    EXPECT_NO_THROW(store().delete_snapshot(projection, filter()));
    EXPECT_FALSE(load().has_value());
    // A save after a delete starts afresh, even with a lower sequence number.
    save(0, R"({"fresh": true})");
    const auto loaded = load();
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->sequence_number, 0U);
}

TEST_F(SnapshotTest, LargeDocumentRoundTrips) {
    nlohmann::ordered_json books = nlohmann::ordered_json::array();
    for (int i = 0; i < 2000; ++i) {
        books.push_back({{"BookID", make_uuid(static_cast<std::uint64_t>(i))},
                         {"ISBN", fixture_isbn},
                         {"Title", std::string(fixture_title) + " #" + std::to_string(i)},
                         {"Authors", fixture_authors},
                         {"Edition", fixture_edition},
                         {"Publisher", fixture_publisher},
                         {"PublicationYear", fixture_publication_year + i % 5},
                         {"Lent", i % 3 == 0},
                         {"Notes", std::string(60, static_cast<char>('a' + i % 26))}});
    }
    const std::string data = nlohmann::ordered_json{{"books", books}, {"count", 2000}}.dump();
    ASSERT_GT(data.size(), 500U * 1024U);

    save(2000, data);
    const auto loaded = load();
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->sequence_number, 2000U);
    EXPECT_GT(loaded->data_json.size(), 500U * 1024U);
    EXPECT_TRUE(json_equal(loaded->data_json, data));
}

TEST_F(SnapshotTest, CancelledContextFailsEveryOperation) {
    save(1, R"({"before": true})");
    std::stop_source stop;
    stop.request_stop();
    const Context cancelled = Context().with_stop_token(stop.get_token());

    auto err = thrown_error([&] {
        store().save_snapshot(cancelled, build_snapshot(projection, filter().hash(), 2, R"({"after": true})"));
    });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::canceled)) << describe(err);
    EXPECT_TRUE(err->is(Errc::saving_snapshot_failed)) << describe(err);
    EXPECT_NE(std::string(err->what()).find("context canceled"), std::string::npos) << describe(err);

    err = thrown_error([&] { (void)store().load_snapshot(cancelled, projection, filter()); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::canceled)) << describe(err);
    EXPECT_TRUE(err->is(Errc::loading_snapshot_failed)) << describe(err);

    err = thrown_error([&] { store().delete_snapshot(cancelled, projection, filter()); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::canceled)) << describe(err);
    EXPECT_TRUE(err->is(Errc::deleting_snapshot_failed)) << describe(err);

    // Nothing changed.
    const auto loaded = load();
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->sequence_number, 1U);
    EXPECT_TRUE(json_equal(loaded->data_json, R"({"before": true})"));
}

TEST_F(SnapshotTest, ExpiredDeadlineFailsEveryOperation) {
    const Context expired = Context().with_deadline(std::chrono::steady_clock::now() - 1ms);
    auto err =
        thrown_error([&] { store().save_snapshot(expired, build_snapshot(projection, filter().hash(), 2, "{}")); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::deadline_exceeded)) << describe(err);
    err = thrown_error([&] { (void)store().load_snapshot(expired, projection, filter()); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::deadline_exceeded)) << describe(err);
    err = thrown_error([&] { store().delete_snapshot(expired, projection, filter()); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::deadline_exceeded)) << describe(err);
    EXPECT_EQ(count_snapshot_rows(), 0);
}

} // namespace
