// Snapshots are shared with the Go library: same table layout, same filter hash. Rows are written
// and read here with the Go library's own SQL statements (values spliced into the text), as plain SQL.

#include <gtest/gtest.h>

#include "fixture.hpp"

namespace {

using eventstore::build_event_filter;
using eventstore::P;
using eventstore::devsupport::quote_identifier;
using eventstore::test::StoreTest;

class SnapshotGoInterop : public StoreTest {};

// The book filter of the Go library's filter-hash test vectors and the hash the Go code computes for it.
const std::string go_book = "0198f8b2-1c3e-7d6a-9a4b-0123456789ab";
const std::string go_hash = "sha256:e8d1e46cee6cc5366528733f00ca9454f99b607906ba40f33ef878b6774c4633";

eventstore::Filter go_book_filter() {
    return build_event_filter()
        .matching()
        .any_event_type_of("BookCopyAddedToCirculation", "BookCopyLentToReader", "BookCopyRemovedFromCirculation",
                           "BookCopyReturnedByReader")
        .and_any_predicate_of(P("BookID", go_book))
        .finalize();
}

TEST_F(SnapshotGoInterop, ASnapshotWrittenByTheGoLibraryIsFound) {
    ASSERT_EQ(go_book_filter().hash(), go_hash);
    // The Go library's save statement, with its literal values (it splices them into the SQL text).
    raw().exec("INSERT INTO " + quote_identifier(snapshot_table()) +
               " (\"created_at\",\"filter_hash\",\"projection_type\",\"sequence_number\",\"snapshot_data\") "
               "VALUES (NOW(), '" +
               go_hash + "', 'BookCirculation', 42, '{\"lent\": true, \"reader\": \"r-1\"}'::jsonb)");
    const auto loaded = store().load_snapshot("BookCirculation", go_book_filter());
    ASSERT_TRUE(loaded.has_value());
    EXPECT_EQ(loaded->projection_type, "BookCirculation");
    EXPECT_EQ(loaded->filter_hash, go_hash);
    EXPECT_EQ(loaded->sequence_number, 42U);
    EXPECT_TRUE(json_equal(loaded->data_json, R"({"reader":"r-1","lent":true})"));
}

TEST_F(SnapshotGoInterop, ASnapshotSavedHereIsFoundByTheGoLibrarysQuery) {
    store().save_snapshot(eventstore::build_snapshot("BookCirculation", go_book_filter().hash(), 7, R"({"n":7})"));
    // The Go library's load statement, as it renders it.
    const auto result = raw().exec("SELECT \"projection_type\",\"filter_hash\",\"sequence_number\",\"snapshot_data\","
                                   "\"created_at\" FROM " +
                                   quote_identifier(snapshot_table()) + " WHERE ((\"filter_hash\" = '" + go_hash +
                                   "') AND (\"projection_type\" = 'BookCirculation'))");
    ASSERT_EQ(result.rows(), 1);
    EXPECT_EQ(result.value(0, 2), "7");
    EXPECT_TRUE(json_equal(result.value(0, 3), R"({"n":7})"));
}

TEST_F(SnapshotGoInterop, TheGoUpsertAndOursAgreeOnSequenceRules) {
    const auto go_save = [&](int seq, const std::string& data) {
        raw().exec("INSERT INTO " + quote_identifier(snapshot_table()) +
                   " AS snapshots (\"created_at\",\"filter_hash\",\"projection_type\",\"sequence_number\","
                   "\"snapshot_data\") VALUES (NOW(), '" +
                   go_hash + "', 'P', " + std::to_string(seq) + ", '" + data +
                   "'::jsonb) ON CONFLICT (projection_type,filter_hash) DO UPDATE SET "
                   "\"created_at\" = CASE WHEN EXCLUDED.sequence_number >= snapshots.sequence_number THEN "
                   "EXCLUDED.created_at ELSE snapshots.created_at END, "
                   "\"sequence_number\" = GREATEST(snapshots.sequence_number, EXCLUDED.sequence_number), "
                   "\"snapshot_data\" = CASE WHEN EXCLUDED.sequence_number >= snapshots.sequence_number THEN "
                   "EXCLUDED.snapshot_data ELSE snapshots.snapshot_data END");
    };
    go_save(10, R"({"by":"go-10"})");
    store().save_snapshot(eventstore::build_snapshot("P", go_hash, 5, R"({"by":"cpp-5"})"));
    EXPECT_TRUE(json_equal(store().load_snapshot("P", go_book_filter())->data_json, R"({"by":"go-10"})"));
    store().save_snapshot(eventstore::build_snapshot("P", go_hash, 10, R"({"by":"cpp-10"})"));
    EXPECT_TRUE(json_equal(store().load_snapshot("P", go_book_filter())->data_json, R"({"by":"cpp-10"})"));
    go_save(9, R"({"by":"go-9"})");
    const auto loaded = store().load_snapshot("P", go_book_filter());
    EXPECT_EQ(loaded->sequence_number, 10U);
    EXPECT_TRUE(json_equal(loaded->data_json, R"({"by":"cpp-10"})"));
}

} // namespace
