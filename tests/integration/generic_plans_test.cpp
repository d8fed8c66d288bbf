// Every statement the store sends keeps a good plan under GENERIC planning, where the planner cannot
// see the parameter values: no sequential scan of the events table, no backward walk of its primary
// key, no primary-key walk that filters row by row, no BitmapAnd that reads the event_type index next
// to a payload containment (which reads a 10% slice of the table to intersect it with a few rows).
//
// How: a database of its own, with auto_explain preloaded into every session (ALTER DATABASE ... SET
// session_preload_libraries) and plan_cache_mode = force_generic_plan as the database default; a
// 400k-event table of book-lending events among many noise types; every public operation driven
// through the store, each at least 8 times on one connection (so a prepared statement would reach its
// generic plan). Then two passes over what the server logged during the test:
//   1. the plans the store's own session really used (whatever plan_cache_mode it runs with: the
//      store's session setup may override the database default);
//   2. the generic plan of each of those statements, from its exact logged text, re-prepared in a raw
//      session with plan_cache_mode = force_generic_plan: PREPARE p AS <text>; EXPLAIN EXECUTE p(NULL, ...)
//      (a generic plan does not depend on the parameter values).
// A failure prints each offending statement with its plan; EVENTSTORE_TEST_SHOW_PLANS=1 prints all.
//
// The tests share the loaded database and run in one process (ONE_PROCESS in tests/CMakeLists.txt);
// each checks the statements logged while it ran.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <eventstore/postgres.hpp>

#include "integration/fixture.hpp"
#include "integration/plan_check.hpp"

namespace {

using eventstore::build_event_filter;
using eventstore::build_snapshot;
using eventstore::Context;
using eventstore::Filter;
using eventstore::P;
using eventstore::SequenceNumber;
using eventstore::StorableEvent;
using eventstore::StorableEvents;
using eventstore::devsupport::PgError;
using eventstore::devsupport::PgSession;
using namespace eventstore::test::plans;
using namespace std::chrono_literals;

constexpr std::string_view events_table = "plans_events";
constexpr std::string_view snapshots_table = "plans_snapshots";
constexpr std::int64_t total_events = 400'000;
constexpr std::int64_t books = 40'000; // book b's 4 events have sequence numbers 10b+3 .. 10b+9
constexpr std::int64_t readers = 10'000;
constexpr int repetitions = 8; // > 5: a prepared statement switches to its generic plan after 5 runs
constexpr std::int64_t base_unix_seconds = 1'735'689'600; // 2025-01-01T00:00:00Z; event g occurs g s later

const std::string added{eventstore::test::book_copy_added_to_circulation};
const std::string removed{eventstore::test::book_copy_removed_from_circulation};
const std::string lent{eventstore::test::book_copy_lent_to_reader};
const std::string returned{eventstore::test::book_copy_returned_by_reader};

std::string book(std::int64_t b) { return "book-" + std::to_string(b); }
std::string reader(std::int64_t r) { return "reader-" + std::to_string(r); }
std::int64_t first_sequence_of_book(std::int64_t b) { return 10 * b + 3; }
eventstore::TimePoint time_of(std::int64_t sequence_number) {
    return eventstore::test::at(base_unix_seconds + sequence_number);
}

const std::vector<std::string>& book_types() {
    static const std::vector<std::string> types{added, lent, returned, removed};
    return types;
}

Filter book_filter(const std::string& book_id) {
    return build_event_filter()
        .matching()
        .any_event_type_of(std::span<const std::string>(book_types()))
        .and_any_predicate_of(P("BookID", book_id))
        .finalize();
}

Filter book_filter(std::int64_t b) { return book_filter(book(b)); }

// The 400k events, 60% noise of 50,000 types, 40% the 4 book types over 40,000 books (sequence numbers
// 10b+3 .. 10b+9 for book b; every 5 rows, rows 3 and 4 are book events). The secondary indexes are
// dropped and rebuilt around the load (whatever migrate() made them), which is far quicker than
// maintaining them row by row.
void fill(PgSession& db) {
    const std::string t = eventstore::devsupport::quote_identifier(events_table);
    const auto definitions = db.exec("SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                                     "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass($1) "
                                     "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
                                     {std::string(events_table)})
                                 .all();
    for (const auto& row : definitions) {
        db.exec("DROP INDEX " + eventstore::devsupport::quote_identifier(row[0].value_or("")));
    }
    db.exec("INSERT INTO " + t +
            " (sequence_number, occurred_at, event_type, payload, metadata, tags) "
            "SELECT g, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second', "
            "  CASE WHEN g % 5 < 3 THEN 'SomethingHasHappened' || (g % 50000) "
            "       ELSE (ARRAY['" +
            added + "','" + lent + "','" + returned + "','" + removed +
            "'])[k % 4 + 1] END, "
            "  CASE WHEN g % 5 < 3 THEN jsonb_build_object('ID', 'id-' || g, 'Description', "
            "                                             'lorem ipsum dolor sit amet, consectetur adipiscing') "
            "       WHEN k % 4 IN (1, 2) THEN jsonb_build_object('BookID', 'book-' || (k / 4), "
            "                                                   'ReaderID', 'reader-' || ((k / 4) % " +
            std::to_string(readers) +
            ")) "
            "       ELSE jsonb_build_object('BookID', 'book-' || (k / 4)) END, "
            "  '{}', "
            // Book events carry the book's tag, and lendings and returns their reader's too; noise has none.
            "  CASE WHEN g % 5 < 3 THEN NULL "
            "       WHEN k % 4 IN (1, 2) THEN ARRAY['book:' || (k / 4), 'reader:' || ((k / 4) % " +
            std::to_string(readers) +
            ")] "
            "       ELSE ARRAY['book:' || (k / 4)] END "
            "FROM generate_series(1, " +
            std::to_string(total_events) + ") AS g, LATERAL (SELECT (g / 5) * 2 + (g % 5 - 3) AS k) AS x");
    db.exec("SELECT setval(pg_get_serial_sequence('" + t + "', 'sequence_number'), " + std::to_string(total_events) +
            ")");
    for (const auto& row : definitions) {
        db.exec(row[1].value_or(""));
    }
    db.exec("VACUUM ANALYZE " + t);
}

// The loaded database, shared by the tests of this process. Sessions are opened in an order that
// matters: `admin` before auto_explain is switched on (the load and the checks' own statements are not
// logged), `generic` after, with auto_explain silenced.
struct PlansDatabase {
    PlansDatabase()
        : log_path(eventstore::test::postgres().directory() + "/server.log"),
          conninfo(eventstore::test::postgres().fresh_database("plans")), admin(conninfo) {
        const auto started = std::chrono::steady_clock::now();
        const std::string dbname = admin.scalar("SELECT current_database()").value_or("");
        admin.exec("LOAD 'auto_explain'"); // validates the settings below
        for (const std::string setting :
             {"session_preload_libraries = 'auto_explain'", "auto_explain.log_min_duration = 0",
              "auto_explain.log_format = 'json'", "auto_explain.log_nested_statements = on",
              "auto_explain.log_level = 'log'", "plan_cache_mode = 'force_generic_plan'"}) {
            admin.exec("ALTER DATABASE " + eventstore::devsupport::quote_identifier(dbname) + " SET " + setting);
        }
        eventstore::postgres::PoolOptions options;
        options.max_connections = 1; // one session: every prepared statement runs on it 8 times
        pool = eventstore::postgres::ConnectionPool::create(conninfo, options);
        store = eventstore::postgres::new_event_store_from_pool(
            pool, eventstore::postgres::with_table_name(std::string(events_table)),
            eventstore::postgres::with_snapshot_table_name(std::string(snapshots_table)));
        store->migrate();
        fill(admin);
        indexes = indexes_of(admin, events_table);
        indexes.max_sequence_number = total_events;
        generic.emplace(conninfo);
        generic->exec("SET auto_explain.log_min_duration = -1");
        generic->exec("SET plan_cache_mode = force_generic_plan");
        std::cout
            << "[ info ] loaded " << total_events << " events in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
            << " ms; primary key " << indexes.primary_key << ", " << indexes.event_type.size()
            << " event_type index(es), " << indexes.gin.size() << " GIN index(es)\n";
    }

    std::string log_path;
    std::string conninfo;
    PgSession admin;
    std::shared_ptr<eventstore::postgres::ConnectionPool> pool;
    std::unique_ptr<eventstore::postgres::EventStore> store;
    TableIndexes indexes;
    std::optional<PgSession> generic;
};

class GenericPlans : public ::testing::Test {
protected:
    static void TearDownTestSuite() { s_database.reset(); }

    void SetUp() override {
        if (eventstore::test::postgres().is_external()) {
            GTEST_SKIP() << "needs the server log of a throwaway cluster (EVENTSTORE_TEST_CONNINFO is set)";
        }
        if (!s_database) {
            s_database = std::make_unique<PlansDatabase>();
        }
        ASSERT_FALSE(db().indexes.primary_key.empty()) << "the events table has no primary key";
        m_log_offset = file_size(db().log_path);
        m_started = std::chrono::steady_clock::now();
    }

    [[nodiscard]] static PlansDatabase& db() { return *s_database; }
    [[nodiscard]] static eventstore::postgres::EventStore& store() { return *s_database->store; }

    // The statements on the events table that the store's session ran since the test began, with the
    // plans it used: pass 1 checks those plans, pass 2 each statement's generic plan. `texts` gets
    // the distinct statements, in first-seen order.
    void expect_good_plans(std::vector<std::string>& texts);

private:
    // Waits until the server log holds everything logged so far: a marker statement of its own, logged
    // after the workload. Returns the log since the test began and the marker session's pid.
    void read_log(std::string& log, int& marker_pid);

    static std::unique_ptr<PlansDatabase> s_database;
    std::uintmax_t m_log_offset = 0;
    std::chrono::steady_clock::time_point m_started;
};

std::unique_ptr<PlansDatabase> GenericPlans::s_database;

void GenericPlans::read_log(std::string& log, int& marker_pid) {
    PgSession marker(db().conninfo); // has auto_explain (session_preload_libraries)
    const std::string tag =
        std::string("generic_plans_test_end_of_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    marker.exec("SELECT '" + tag + "' AS marker");
    marker_pid = marker.backend_pid();
    for (auto deadline = std::chrono::steady_clock::now() + 10s;;) {
        log = read_file_from(db().log_path, m_log_offset);
        if (log.find(tag) != std::string::npos || std::chrono::steady_clock::now() > deadline) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_NE(log.find(tag), std::string::npos) << "auto_explain did not log the marker statement; log tail:\n"
                                                << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
}

void GenericPlans::expect_good_plans(std::vector<std::string>& texts) {
    std::string log;
    int marker_pid = 0;
    ASSERT_NO_FATAL_FAILURE(read_log(log, marker_pid));
    std::vector<std::string> unreadable;
    const std::vector<LoggedPlan> plans = logged_plans(log, unreadable);
    EXPECT_TRUE(unreadable.empty()) << unreadable.size() << " auto_explain entries could not be parsed; the first:\n"
                                    << (unreadable.empty() ? std::string() : unreadable.front());

    // --- pass 1: the plans the store's session used ---
    std::map<std::string, Finding> pass1; // by query text + plan shape
    std::set<std::string> seen_texts;
    for (const LoggedPlan& p : plans) {
        if (p.pid == marker_pid || !mentions_table(p.plan, p.query_text, events_table)) {
            continue;
        }
        if (seen_texts.insert(p.query_text).second) {
            texts.push_back(p.query_text);
        }
        Finding& f = pass1[p.query_text + "\n" + render(p.plan, false)];
        if (f.count++ == 0) {
            f.query_text = p.query_text;
            f.plan_text = render(p.plan, true);
            f.problems = problems_of(p.plan, p.query_text, db().indexes, events_table);
        }
    }
    int pass1_bad = 0;
    for (const auto& [key, f] : pass1) {
        if (!f.problems.empty()) {
            ++pass1_bad;
            ADD_FAILURE() << "Pass 1 (the store's own session, as it plans): a bad plan\n" << describe(f);
        }
    }

    // --- pass 2: the generic plan of each statement, re-prepared from its logged text ---
    PgSession& generic = *db().generic;
    std::map<std::string, Finding> pass2;
    int number = 0;
    for (const std::string& text : texts) {
        const std::string name = "generic_plan_" + std::to_string(++number);
        try {
            generic.exec("PREPARE " + name + " AS " + text);
        } catch (const PgError& e) {
            // A statement the server logged but that cannot stand alone (e.g. one nested in a PL/pgSQL
            // function, which names its variables): its generic plan cannot be checked this way.
            ADD_FAILURE() << "Pass 2: cannot re-prepare a logged statement to check its generic plan (" << e.what()
                          << ")\n  Query Text: " << text;
            continue;
        }
        const int parameters = std::stoi(generic
                                             .exec("SELECT coalesce(array_length(parameter_types, 1), 0) FROM "
                                                   "pg_prepared_statements WHERE name = $1",
                                                   {name})
                                             .value(0, 0));
        std::string arguments;
        for (int k = 0; k < parameters; ++k) {
            arguments += k == 0 ? "(NULL" : ", NULL";
        }
        arguments += parameters > 0 ? ")" : "";
        const auto explained = generic.exec("EXPLAIN (FORMAT JSON) EXECUTE " + name + arguments);
        generic.exec("DEALLOCATE " + name);
        const nlohmann::json plan = plan_of_explain(explained.value(0, 0));
        if (plan.is_null()) {
            ADD_FAILURE() << "Pass 2: unreadable EXPLAIN output for\n  Query Text: " << text;
            continue;
        }
        Finding& f = pass2[text];
        f.count = 1;
        f.query_text = text;
        f.plan_text = render(plan, true);
        f.problems = problems_of(plan, text, db().indexes, events_table);
        if (!f.problems.empty()) {
            ADD_FAILURE() << "Pass 2 (generic plan: plan_cache_mode = force_generic_plan, PREPARE + EXPLAIN "
                             "EXECUTE of the logged text): a bad plan\n"
                          << describe(f);
        }
    }

    if (const char* show = std::getenv("EVENTSTORE_TEST_SHOW_PLANS");
        show != nullptr && std::string_view(show) == "1") {
        for (const auto& [key, f] : pass1) {
            std::cout << "--- pass 1 (as the store plans)" << (f.problems.empty() ? "" : ", BAD") << '\n'
                      << describe(f);
        }
        for (const auto& [key, f] : pass2) {
            std::cout << "--- pass 2 (generic)" << (f.problems.empty() ? "" : ", BAD") << '\n' << describe(f);
        }
    }
    const auto pass2_bad =
        std::count_if(pass2.begin(), pass2.end(), [](const auto& kv) { return !kv.second.problems.empty(); });
    std::cout
        << "[ info ] " << plans.size() << " plans logged; " << texts.size()
        << " distinct statements on the events table; pass 1 (as the store plans): " << pass1.size()
        << " distinct plans, " << pass1_bad << " bad; pass 2 (generic): " << pass2.size() << " plans, " << pass2_bad
        << " bad; "
        << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - m_started).count()
        << " ms\n";
}

bool is_query(const std::string& text) {
    return text.find("SELECT") != std::string::npos && text.find("INSERT") == std::string::npos;
}
bool is_append(const std::string& text) { return text.find("INSERT") != std::string::npos; }

// --- the tests ----------------------------------------------------------------------------------------

// The checker itself must see the traps: a sequential scan, and a filtered backward walk of the key.
TEST_F(GenericPlans, TheCheckerSeesSequentialScansAndFilteredBackwardWalks) {
    const std::string t = eventstore::devsupport::quote_identifier(events_table);
    const auto problems_of_explain = [&](const std::string& sql) {
        const nlohmann::json plan = plan_of_explain(db().admin.exec("EXPLAIN (FORMAT JSON) " + sql).value(0, 0));
        return plan.is_null() ? std::vector<std::string>{"(unreadable EXPLAIN)"}
                              : problems_of(plan, sql, db().indexes, events_table);
    };
    const auto has = [](const std::vector<std::string>& problems, std::string_view what) {
        return std::any_of(problems.begin(), problems.end(),
                           [what](const std::string& p) { return p.find(what) != std::string::npos; });
    };
    const auto seq = problems_of_explain("SELECT * FROM " + t + " e WHERE e.metadata = '{\"x\": 1}'::jsonb");
    ASSERT_TRUE(has(seq, "Seq Scan")) << "the plan checker misses a sequential scan";
    const auto walk = problems_of_explain("SELECT e.sequence_number FROM " + t +
                                          " e WHERE e.metadata IS NOT NULL ORDER BY e.sequence_number DESC LIMIT 1");
    ASSERT_TRUE(has(walk, "Backward") && has(walk, "with a Filter"))
        << "the plan checker misses a filtered backward walk of the primary key";
    // A custom plan's forward walk from a literal bound: fine near the head, not from far behind it.
    const auto from = [&](std::int64_t bound) {
        return problems_of_explain("SELECT e.sequence_number FROM " + t + " e WHERE e.sequence_number > " +
                                   std::to_string(bound) +
                                   "::bigint AND e.metadata IS NOT NULL ORDER BY e.sequence_number LIMIT 1");
    };
    ASSERT_TRUE(has(from(5), "with a Filter")) << "the plan checker misses a long filtered walk of the primary key";
    ASSERT_FALSE(has(from(total_events - 50), "with a Filter")) << "a walk of the last 50 rows is not a problem";
}

TEST_F(GenericPlans, EveryQueryShapeKeepsAGoodPlan) {
    const std::int64_t near_end = total_events - 100;
    for (int i = 0; i < repetitions; ++i) {
        const std::int64_t late_book = books - 1 - i;       // events near the end of the table
        const std::int64_t middle_book = books / 2 + 7 * i; // events in the middle
        const std::int64_t early_book = 10 + i;             // events near the start
        const std::int64_t some_reader = (middle_book + 3) % readers;
        SCOPED_TRACE("repetition " + std::to_string(i));

        // The 4 book types + BookID.
        EXPECT_EQ(store().query(book_filter(late_book)).events.size(), 4U);
        // Book or reader: two predicates, any of.
        EXPECT_FALSE(store()
                         .query(eventstore::test::book_or_reader_filter(book(middle_book), reader(some_reader)))
                         .events.empty());
        // All of two predicates (one merged containment).
        EXPECT_EQ(store()
                      .query(build_event_filter()
                                 .matching()
                                 .any_event_type_of(std::span<const std::string>(book_types()))
                                 .and_all_predicates_of(P("BookID", book(middle_book)),
                                                        P("ReaderID", reader(middle_book % readers)))
                                 .finalize())
                      .events.size(),
                  2U);
        // All of two predicates on one key (not mergeable: two containments).
        EXPECT_TRUE(store()
                        .query(build_event_filter()
                                   .matching()
                                   .any_event_type_of(std::span<const std::string>(book_types()))
                                   .and_all_predicates_of(P("BookID", book(middle_book)), P("BookID", book(early_book)))
                                   .finalize())
                        .events.empty());
        // Types only: one book type (10% of the table), and one noise type (a handful of events).
        EXPECT_EQ(store().query(build_event_filter().matching().any_event_type_of(removed).finalize()).events.size(),
                  static_cast<std::size_t>(books));
        EXPECT_FALSE(store()
                         .query(build_event_filter()
                                    .matching()
                                    .any_event_type_of("SomethingHasHappened" + std::to_string(1000 + 5 * i))
                                    .finalize())
                         .events.empty());
        // Two items: a book, or a reader.
        EXPECT_FALSE(store()
                         .query(build_event_filter()
                                    .matching()
                                    .any_event_type_of(std::span<const std::string>(book_types()))
                                    .and_any_predicate_of(P("BookID", book(late_book)))
                                    .or_matching()
                                    .any_event_type_of(lent, returned)
                                    .and_any_predicate_of(P("ReaderID", reader(some_reader)))
                                    .finalize())
                         .events.empty());
        // Predicates only.
        EXPECT_EQ(
            store()
                .query(build_event_filter().matching().any_predicate_of(P("BookID", book(middle_book))).finalize())
                .events.size(),
            4U);
        // The book filter within a time window, and a bare time window near the end.
        const std::int64_t first = first_sequence_of_book(middle_book);
        EXPECT_EQ(store()
                      .query(build_event_filter()
                                 .matching()
                                 .any_event_type_of(std::span<const std::string>(book_types()))
                                 .and_any_predicate_of(P("BookID", book(middle_book)))
                                 .occurred_from(time_of(first - 50))
                                 .and_occurred_until(time_of(first + 50))
                                 .finalize())
                      .events.size(),
                  4U);
        EXPECT_EQ(store()
                      .query(build_event_filter()
                                 .occurred_from(time_of(near_end))
                                 .and_occurred_until(time_of(near_end + 9))
                                 .finalize())
                      .events.size(),
                  10U);
        // Snapshot catch-up from far behind: planned with its value, it must not walk the key.
        EXPECT_EQ(store()
                      .query(build_event_filter()
                                 .matching()
                                 .any_event_type_of(std::span<const std::string>(book_types()))
                                 .and_any_predicate_of(P("BookID", book(middle_book)))
                                 .with_sequence_number_higher_than(static_cast<SequenceNumber>(early_book))
                                 .finalize())
                      .events.size(),
                  4U);
        // Snapshot catch-up: the book filter above a sequence number near the end; and every event above it.
        EXPECT_EQ(store()
                      .query(build_event_filter()
                                 .matching()
                                 .any_event_type_of(std::span<const std::string>(book_types()))
                                 .and_any_predicate_of(P("BookID", book(books - 1)))
                                 .with_sequence_number_higher_than(static_cast<SequenceNumber>(near_end))
                                 .finalize())
                      .events.size(),
                  4U);
        EXPECT_GE(store()
                      .query(build_event_filter()
                                 .with_sequence_number_higher_than(static_cast<SequenceNumber>(near_end))
                                 .finalize())
                      .events.size(),
                  100U);
    }

    std::vector<std::string> texts;
    ASSERT_NO_FATAL_FAILURE(expect_good_plans(texts));
    EXPECT_TRUE(std::any_of(texts.begin(), texts.end(), is_query))
        << "auto_explain logged no query (SELECT) on the events table: is the capture broken?";
    EXPECT_GE(texts.size(), 10U) << "too few distinct statements on the events table were captured";
}

// The DCB model's shapes: tags alone, beside types and beside predicates, and the read options (the
// newest event of a boundary, a page from the start, a page from a position, the whole log backwards).
TEST_F(GenericPlans, EveryTagAndReadOptionShapeKeepsAGoodPlan) {
    using eventstore::ReadOptions;
    for (int i = 0; i < repetitions; ++i) {
        const std::int64_t late_book = books - 1 - i;
        const std::int64_t middle_book = books / 2 + 7 * i + 5; // its own: the other tests count events
        const std::int64_t early_book = 10 + i;
        SCOPED_TRACE("repetition " + std::to_string(i));
        const auto tag = [](std::int64_t b) { return "book:" + std::to_string(b); };
        const Context none;
        for (const std::int64_t b : {early_book, middle_book, late_book}) {
            const Filter by_tag = build_event_filter().matching().all_tags_of(tag(b)).finalize();
            EXPECT_EQ(store().query(by_tag).events.size(), 4U);
            // The newest event of a 4-event boundary, wherever it lies in the table.
            const auto newest = store().query(none, by_tag, ReadOptions{0, true, 1});
            ASSERT_EQ(newest.events.size(), 1U);
            EXPECT_EQ(store().query(none, by_tag, ReadOptions{0, false, 2}).events.size(), 2U);
            EXPECT_EQ(
                store()
                    .query(none, by_tag, ReadOptions{static_cast<SequenceNumber>(newest.max_sequence_number), true, 2})
                    .events.size(),
                2U);
        }
        EXPECT_EQ(store()
                      .query(build_event_filter()
                                 .matching()
                                 .any_event_type_of(lent, returned)
                                 .and_all_tags_of(tag(middle_book))
                                 .finalize())
                      .events.size(),
                  2U);
        EXPECT_EQ(store()
                      .query(build_event_filter()
                                 .matching()
                                 .any_predicate_of(P("BookID", book(middle_book)))
                                 .and_all_tags_of(tag(middle_book))
                                 .finalize())
                      .events.size(),
                  4U);
        EXPECT_EQ(store()
                      .query(none,
                             build_event_filter()
                                 .matching()
                                 .any_event_type_of(std::span<const std::string>(book_types()))
                                 .and_any_predicate_of(P("BookID", book(early_book)))
                                 .finalize(),
                             ReadOptions{0, true, 1})
                      .events.size(),
                  1U);
        EXPECT_EQ(store().query(none, Filter(), ReadOptions{0, true, 1}).events.size(), 1U);
        // An append on a tag boundary, expected its real maximum.
        const Filter boundary = build_event_filter().matching().all_tags_of(tag(middle_book)).finalize();
        StorableEvent e = eventstore::test::lent_to_reader(book(middle_book), reader(1), time_of(total_events + i));
        e.tags = {tag(middle_book), "reader:" + reader(1)};
        store().append(boundary, store().query(none, boundary, ReadOptions{0, true, 1}).max_sequence_number, e);
    }
    std::vector<std::string> texts;
    ASSERT_NO_FATAL_FAILURE(expect_good_plans(texts));
    EXPECT_GE(texts.size(), 6U) << "too few distinct statements on the events table were captured";
}

TEST_F(GenericPlans, EveryAppendShapeKeepsAGoodPlan) {
    for (int i = 0; i < repetitions; ++i) {
        // Books of their own, apart from those the query test counts events of.
        const std::int64_t middle_book = books / 2 + 7 * i + 3; // events in the middle
        const std::int64_t early_book = 20 + i;                 // events near the start
        SCOPED_TRACE("repetition " + std::to_string(i));

        // Append to a fresh book (expected 0).
        const std::string fresh = "fresh-book-" + std::to_string(i);
        store().append(book_filter(fresh), 0, eventstore::test::added_to_circulation(fresh, time_of(total_events + i)));
        // Append to an existing book with its real maximum: an old book (its events near the start) and
        // one in the middle.
        for (const std::int64_t b : {early_book, middle_book}) {
            const SequenceNumber max = store().query(book_filter(b)).max_sequence_number;
            ASSERT_GT(max, 0U);
            store().append(book_filter(b), max,
                           eventstore::test::lent_to_reader(book(b), reader(b % readers), time_of(total_events + i)));
        }
        // Append of 5 events to a fresh book.
        const std::string fresh5 = "fresh-five-" + std::to_string(i);
        const StorableEvents five{
            eventstore::test::added_to_circulation(fresh5, time_of(total_events + i)),
            eventstore::test::lent_to_reader(fresh5, reader(1), time_of(total_events + i)),
            eventstore::test::returned_by_reader(fresh5, reader(1), time_of(total_events + i)),
            eventstore::test::lent_to_reader(fresh5, reader(2), time_of(total_events + i)),
            eventstore::test::returned_by_reader(fresh5, reader(2), time_of(total_events + i)),
        };
        store().append(book_filter(fresh5), 0, five);
    }

    std::vector<std::string> texts;
    ASSERT_NO_FATAL_FAILURE(expect_good_plans(texts));
    EXPECT_TRUE(std::any_of(texts.begin(), texts.end(), is_append))
        << "auto_explain logged no append (INSERT) on the events table: is the capture broken?";
}

TEST_F(GenericPlans, SnapshotCallsKeepGoodPlans) {
    for (int i = 0; i < repetitions; ++i) {
        const std::int64_t middle_book = books / 2 + 7 * i;
        SCOPED_TRACE("repetition " + std::to_string(i));

        // Save, load, delete.
        const Filter snapshot_filter = book_filter(middle_book);
        const SequenceNumber snapshot_at = store().query(snapshot_filter).max_sequence_number;
        store().save_snapshot(build_snapshot("BookState", snapshot_filter.hash(), snapshot_at, R"({"lent":true})"));
        EXPECT_TRUE(store().load_snapshot("BookState", snapshot_filter).has_value());
        store().delete_snapshot("BookState", snapshot_filter);
        EXPECT_FALSE(store().load_snapshot("BookState", snapshot_filter).has_value());
    }

    std::vector<std::string> texts;
    ASSERT_NO_FATAL_FAILURE(expect_good_plans(texts));
    EXPECT_FALSE(texts.empty()) << "auto_explain logged no statement on the events table: is the capture broken?";
}

} // namespace
