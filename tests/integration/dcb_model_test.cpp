// The DCB specification's model on the PostgreSQL engine: tags, read options, append results and
// idempotent appends, and the in-place upgrade of a table without them.

#include <algorithm>
#include <atomic>
#include <barrier>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "integration/fixture.hpp"

namespace eventstore::test {
namespace {

using Strings = std::vector<std::string>;

StorableEvent tagged(std::string type, Strings tags, std::string payload = "{}", std::string id = {}) {
    StorableEvent e = build_storable_event_with_empty_metadata(std::move(type), at(1), std::move(payload));
    e.tags = std::move(tags);
    e.id = std::move(id);
    return e;
}

std::vector<SequenceNumber> positions(const QueryResult& r) {
    std::vector<SequenceNumber> out;
    for (const StorableEvent& e : r.events) {
        out.push_back(e.sequence_number);
    }
    return out;
}

class DcbModel : public StoreTest {
protected:
    // Appends one event whatever the log holds; returns its position.
    SequenceNumber put(const StorableEvent& e) {
        const SequenceNumber max = store().query(Filter()).max_sequence_number;
        return store().append(Filter(), max, e).last_sequence_number;
    }
};

TEST_F(DcbModel, TagsAreStoredInOrderWithoutRepeatsAndReadBack) {
    const SequenceNumber p = put(tagged("Subscribed", {"student:s1", "course:c1", "student:s1", "x\"y\\z,{}"}));
    const QueryResult r = store().query(Filter());
    ASSERT_EQ(r.events.size(), 1U);
    EXPECT_EQ(r.events[0].sequence_number, p);
    EXPECT_EQ(r.events[0].tags, (Strings{"student:s1", "course:c1", "x\"y\\z,{}"}));
    EXPECT_EQ(r.events[0].id, "");
}

TEST_F(DcbModel, AnItemMatchesEventsCarryingEveryOneOfItsTags) {
    const SequenceNumber a = put(tagged("Subscribed", {"student:s1", "course:c1"}));
    const SequenceNumber b = put(tagged("Subscribed", {"student:s2", "course:c1"}));
    const SequenceNumber c = put(tagged("Opened", {"course:c1"}));
    const SequenceNumber d = put(tagged("Subscribed", {"student:s1", "course:c2"}, R"({"k":"v"})"));
    put(tagged("Other", {}));

    const auto read = [&](const Filter& f) { return positions(store().query(f)); };
    EXPECT_EQ(read(build_event_filter().matching().all_tags_of("course:c1").finalize()),
              (std::vector<SequenceNumber>{a, b, c}));
    EXPECT_EQ(read(build_event_filter().matching().all_tags_of("course:c1", "student:s1").finalize()),
              (std::vector<SequenceNumber>{a}));
    EXPECT_EQ(read(build_event_filter()
                       .matching()
                       .any_event_type_of("Subscribed")
                       .and_all_tags_of("course:c1")
                       .or_matching()
                       .all_tags_of("student:s1")
                       .finalize()),
              (std::vector<SequenceNumber>{a, b, d}));
    EXPECT_EQ(
        read(build_event_filter().matching().any_predicate_of(P("k", "v")).and_all_tags_of("course:c2").finalize()),
        (std::vector<SequenceNumber>{d}));
    EXPECT_TRUE(read(build_event_filter().matching().all_tags_of("course:c3").finalize()).empty());
}

TEST_F(DcbModel, ReadOptionsBoundOrderAndLimit) {
    std::vector<SequenceNumber> p;
    for (int i = 0; i < 5; ++i) {
        p.push_back(put(tagged("T", {"t"})));
        put(tagged("U", {"u"}));
    }
    const Filter f = build_event_filter().matching().all_tags_of("t").finalize();
    const auto check = [&](ReadOptions o, std::vector<SequenceNumber> expected) {
        const QueryResult r = store().query(Context(), f, o);
        EXPECT_EQ(positions(r), expected) << "from " << o.from << " backwards " << o.backwards << " limit " << o.limit;
        const SequenceNumber max = expected.empty() ? 0 : *std::max_element(expected.begin(), expected.end());
        EXPECT_EQ(r.max_sequence_number, max);
    };
    check({}, p);
    check({0, true, 1}, {p[4]});
    check({0, true, 0}, {p[4], p[3], p[2], p[1], p[0]});
    check({p[2], true, 2}, {p[2], p[1]});
    check({p[2] + 1, true, 0}, {p[2], p[1], p[0]});
    check({p[1], false, 2}, {p[1], p[2]});
    check({0, false, 2}, {p[0], p[1]});
    check({p[4] + 1, false, 0}, {});
    // The whole log backwards, and a read of the filter's own exclusive bound with an inclusive from.
    EXPECT_EQ(store().query(Context(), Filter(), ReadOptions{0, true, 1}).events.at(0).sequence_number, p[4] + 1);
    const Filter above =
        build_event_filter().matching().all_tags_of("t").with_sequence_number_higher_than(p[1]).finalize();
    EXPECT_EQ(positions(store().query(Context(), above, ReadOptions{p[1], false, 0})),
              (std::vector<SequenceNumber>{p[2], p[3], p[4]}));
}

TEST_F(DcbModel, QueryStreamTakesReadOptions) {
    std::vector<SequenceNumber> p;
    for (int i = 0; i < 4; ++i) {
        p.push_back(put(tagged("T", {"t"})));
    }
    const Filter f = build_event_filter().matching().all_tags_of("t").finalize();
    std::vector<SequenceNumber> seen;
    const SequenceNumber max = store().query_stream(Context(), f, ReadOptions{p[2], true, 2},
                                                    [&](StorableEvent&& e) { seen.push_back(e.sequence_number); });
    EXPECT_EQ(seen, (std::vector<SequenceNumber>{p[2], p[1]}));
    EXPECT_EQ(max, p[2]);
    seen.clear();
    EXPECT_EQ(store().query_stream(Context(), f, ReadOptions{p[1], false, 0},
                                   [&](StorableEvent&& e) { seen.push_back(e.sequence_number); }),
              p[3]);
    EXPECT_EQ(seen, (std::vector<SequenceNumber>{p[1], p[2], p[3]}));
}

TEST_F(DcbModel, AppendReturnsThePositionOfItsLastEvent) {
    const std::vector<StorableEvent> events{tagged("A", {"a"}), tagged("B", {"b"}), tagged("C", {})};
    const AppendResult r = store().append(Filter(), 0, events);
    const QueryResult all = store().query(Filter());
    ASSERT_EQ(all.events.size(), 3U);
    EXPECT_EQ(r.last_sequence_number, all.events.back().sequence_number);
    EXPECT_FALSE(r.already_stored);
    EXPECT_EQ(store().append(Filter(), 0, std::span<const StorableEvent>()).last_sequence_number, 0U);
}

TEST_F(DcbModel, ATagBoundaryConflicts) {
    const Filter course = build_event_filter().matching().all_tags_of("course:c1").finalize();
    const SequenceNumber seen = store().query(course).max_sequence_number;
    put(tagged("Subscribed", {"course:c1", "student:s9"}));
    const auto error = thrown_error([&] { store().append(course, seen, tagged("Subscribed", {"course:c1"})); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code(), Errc::concurrency_conflict) << describe(error);
    // Another course's boundary is not touched.
    const Filter other = build_event_filter().matching().all_tags_of("course:c2").finalize();
    EXPECT_NO_THROW(store().append(other, 0, tagged("Subscribed", {"course:c2"})));
}

TEST_F(DcbModel, BadTagsAndIdsAreRefusedBeforeAnyWrite) {
    const auto code_of = [&](const StorableEvent& e) {
        const auto error = thrown_error([&] { store().append(Filter(), 0, e); });
        return error && error->cause() ? *error->cause() : Errc::concurrency_conflict;
    };
    EXPECT_EQ(code_of(tagged("T", {""})), Errc::invalid_tag);
    EXPECT_EQ(code_of(tagged("T", {std::string("a\0b", 3)})), Errc::invalid_tag);
    EXPECT_EQ(code_of(tagged("T", {std::string(1025, 'x')})), Errc::invalid_tag);
    EXPECT_EQ(code_of(tagged("T", {}, "{}", "not-a-uuid")), Errc::invalid_event_id);
    EXPECT_EQ(code_of(tagged("T", {}, "{}", "0198f8b2-1c3e-7d6a-9a4b-00000000000g")), Errc::invalid_event_id);
    EXPECT_EQ(count_rows(), 0);
    const auto filter_error = thrown_error(
        [&] { store().query(build_event_filter().matching().all_tags_of(std::string("a\0b", 3)).finalize()); });
    ASSERT_TRUE(filter_error);
    EXPECT_TRUE(filter_error->is(Errc::invalid_filter)) << describe(filter_error);
}

// --- idempotency --------------------------------------------------------------------------------------

TEST_F(DcbModel, ARetriedAppendReturnsTheOriginalResult) {
    const std::string id1 = make_uuid(1);
    const std::string id2 = make_uuid(2);
    const Filter course = build_event_filter().matching().all_tags_of("course:c1").finalize();
    const std::vector<StorableEvent> events{tagged("Subscribed", {"course:c1"}, R"({"a":1,"b":"x"})", id1),
                                            tagged("Subscribed", {"course:c1", "s"}, "{}", id2)};
    const AppendResult first = store().append(course, 0, events);
    EXPECT_FALSE(first.already_stored);
    // The reply was lost, say: the same append again, its condition now stale. Upper-case ids, another
    // key order, spacing and spelling of the number, tags in another order: the same events.
    std::vector<StorableEvent> again{tagged("Subscribed", {"course:c1"}, R"({ "b": "x", "a": 1.0 })", id1),
                                     tagged("Subscribed", {"s", "course:c1", "s"}, "{}", id2)};
    std::transform(again[0].id.begin(), again[0].id.end(), again[0].id.begin(), ::toupper);
    again[0].occurred_at = at(99);
    const AppendResult retry = store().append(course, 0, again);
    EXPECT_TRUE(retry.already_stored);
    EXPECT_EQ(retry.last_sequence_number, first.last_sequence_number);
    EXPECT_EQ(count_rows(), 2);
    const QueryResult stored = store().query(course);
    EXPECT_EQ(stored.events.at(0).id, id1);
    EXPECT_EQ(stored.events.at(1).id, id2);
}

TEST_F(DcbModel, AnIdReusedForAnotherEventIsRefused) {
    const std::string id = make_uuid(7);
    store().append(Filter(), 0, tagged("A", {"t"}, R"({"n":1})", id));
    const auto expect_duplicate = [&](const std::vector<StorableEvent>& events) {
        const auto error = thrown_error([&] { store().append(Filter(), 1, events); });
        ASSERT_TRUE(error);
        EXPECT_EQ(error->code(), Errc::appending_event_failed) << describe(error);
        EXPECT_TRUE(error->is(Errc::duplicate_event_id)) << describe(error);
        EXPECT_EQ(count_rows(), 1);
    };
    expect_duplicate({tagged("A", {"t"}, R"({"n":2})", id)});                  // another payload
    expect_duplicate({tagged("B", {"t"}, R"({"n":1})", id)});                  // another type
    expect_duplicate({tagged("A", {"t", "u"}, R"({"n":1})", id)});             // other tags
    expect_duplicate({tagged("A", {"t"}, R"({"n":1})", id), tagged("A", {})}); // stored and new
    expect_duplicate({tagged("A", {"t"}, R"({"n":1})", id), tagged("A", {}, "{}", make_uuid(8))});
    // Twice in one append.
    const auto twice = thrown_error([&] {
        store().append(
            Filter(), 1,
            std::vector<StorableEvent>{tagged("A", {}, "{}", make_uuid(9)), tagged("A", {}, "{}", make_uuid(9))});
    });
    ASSERT_TRUE(twice);
    EXPECT_TRUE(twice->is(Errc::duplicate_event_id)) << describe(twice);
    EXPECT_EQ(count_rows(), 1);
}

TEST_F(DcbModel, EightRacersOfOneAppendStoreOneCopy) {
    constexpr int racers = 8;
    const Filter course = build_event_filter().matching().all_tags_of("course:race").finalize();
    const std::vector<StorableEvent> events{tagged("Subscribed", {"course:race"}, R"({"s":"1"})", make_uuid(100)),
                                            tagged("Subscribed", {"course:race"}, R"({"s":"2"})", make_uuid(101))};
    std::vector<AppendResult> results(racers);
    std::vector<std::string> failures(racers);
    std::barrier start(racers);
    std::vector<std::thread> threads;
    for (int i = 0; i < racers; ++i) {
        threads.emplace_back([&, i] {
            start.arrive_and_wait();
            try {
                results[i] = store().append(course, 0, events);
            } catch (const std::exception& e) {
                failures[i] = e.what();
            }
        });
    }
    for (std::thread& t : threads) {
        t.join();
    }
    int originals = 0;
    for (int i = 0; i < racers; ++i) {
        EXPECT_EQ(failures[i], "") << "racer " << i;
        EXPECT_EQ(results[i].last_sequence_number, results[0].last_sequence_number) << "racer " << i;
        originals += results[i].already_stored ? 0 : 1;
    }
    EXPECT_EQ(originals, 1);
    EXPECT_EQ(count_rows(), 2);
}

TEST_F(DcbModel, AnImportOfAStoredIdIsRefused) {
    store().append(Filter(), 0, tagged("A", {}, "{}", make_uuid(5)));
    const auto error = thrown_error(
        [&] { store().import_events(Context(), std::vector<StorableEvent>{tagged("A", {}, "{}", make_uuid(5))}); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(error->is(Errc::duplicate_event_id)) << describe(error);
    EXPECT_EQ(count_rows(), 1);
    // Tags and ids travel through an import too.
    store().import_events(Context(), std::vector<StorableEvent>{tagged("B", {"b", "a", "b"}, "{}", make_uuid(6))});
    const QueryResult r = store().query(build_event_filter().matching().all_tags_of("a").finalize());
    ASSERT_EQ(r.events.size(), 1U);
    EXPECT_EQ(r.events[0].tags, (Strings{"b", "a"}));
    EXPECT_EQ(r.events[0].id, make_uuid(6));
}

// --- the upgrade of an existing table -----------------------------------------------------------------

class DcbUpgrade : public DatabaseTest {};

TEST_F(DcbUpgrade, MigrateUpgradesAGoLayoutTableInPlace) {
    const std::string table = unique_table_name("go");
    const std::string quoted = quote_identifier(table);
    // The Go library's table, with a row it wrote.
    raw().exec("CREATE TABLE " + quoted +
               " (sequence_number BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL, event_type TEXT NOT NULL, "
               "payload JSONB NOT NULL, metadata JSONB DEFAULT '{}')");
    raw().exec("INSERT INTO " + quoted + " (occurred_at, event_type, payload) VALUES (now(), 'Old', '{\"k\":\"v\"}')");
    auto pool = postgres::ConnectionPool::create(conninfo());
    auto store = postgres::new_event_store_from_pool(pool, postgres::with_table_name(table));
    // Several migrators at once, as processes starting together would.
    std::vector<std::thread> migrators;
    std::vector<std::string> failures(4);
    for (int i = 0; i < 4; ++i) {
        migrators.emplace_back([&, i] {
            try {
                store->migrate();
            } catch (const std::exception& e) {
                failures[i] = e.what();
            }
        });
    }
    for (std::thread& t : migrators) {
        t.join();
    }
    for (const std::string& f : failures) {
        EXPECT_EQ(f, "");
    }
    // Names of indexes on long table names are fitted to 63 bytes: find them by what they index.
    const std::string new_indexes = "SELECT x.indexrelid FROM pg_index x WHERE x.indrelid = '" + quoted +
                                    "'::regclass AND (pg_get_indexdef(x.indexrelid) LIKE '%gin (tags)%' OR "
                                    "pg_get_indexdef(x.indexrelid) LIKE '%(event_id)%')";
    const std::string valid_indexes =
        raw()
            .scalar("SELECT count(*) FROM pg_index WHERE indisvalid AND indexrelid IN (" + new_indexes + ")")
            .value_or("");
    EXPECT_EQ(valid_indexes, "2");
    const QueryResult old = store->query(Filter());
    ASSERT_EQ(old.events.size(), 1U);
    EXPECT_TRUE(old.events[0].tags.empty());
    store->append(Filter(), old.max_sequence_number, tagged("New", {"t"}, "{}", make_uuid(1)));
    EXPECT_EQ(store->query(build_event_filter().matching().all_tags_of("t").finalize()).events.size(), 1U);

    // An index left invalid (an interrupted concurrent build) is built again.
    raw().exec("UPDATE pg_index SET indisvalid = false WHERE indexrelid IN (" + new_indexes + ")");
    EXPECT_EQ(raw()
                  .scalar("SELECT count(*) FROM pg_index WHERE indisvalid AND indexrelid IN (" + new_indexes + ")")
                  .value_or(""),
              "0");
    store->migrate();
    EXPECT_EQ(
        raw()
            .scalar("SELECT bool_and(x.indisvalid)::text FROM pg_index x WHERE x.indrelid = '" + quoted + "'::regclass")
            .value_or(""),
        "true");
}

} // namespace
} // namespace eventstore::test
