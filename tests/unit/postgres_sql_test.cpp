// The engine's SQL text, without a database: filters as WHERE clauses, table and index names, and
// the schema's statements. What these statements do on a real server is the integration tests' part.

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/error.hpp>
#include <eventstore/filter.hpp>

#include "core/json.hpp"
#include "postgres/filter_sql.hpp"
#include "postgres/joined_calls.hpp"
#include "postgres/schema.hpp"
#include "postgres/table_name.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::postgres::detail;
using namespace std::chrono_literals;

Errc code_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const Error& e) {
        return e.code();
    }
    ADD_FAILURE() << "nothing thrown";
    return Errc::concurrency_conflict;
}

// --- filter_clause ---------------------------------------------------------------------------------

TEST(FilterClause, AFilterWithoutItemsMatchesEverything) {
    const FilterClause c = filter_clause(Filter(), 1);
    EXPECT_EQ(c.sql, "TRUE");
    EXPECT_TRUE(c.params.empty());
    EXPECT_FALSE(c.has_items);
    EXPECT_FALSE(c.generic); // nothing for an index to lead with
}

TEST(FilterClause, TypesAloneLeadWithTheTypeIndex) {
    const Filter f = build_event_filter().matching().any_event_type_of("A", "B").finalize();
    const FilterClause c = filter_clause(f, 3);
    EXPECT_EQ(c.sql, "((e.event_type = ANY($3::text[])))");
    ASSERT_EQ(c.params.size(), 1U);
    EXPECT_EQ(c.params[0].type, oid::text_array);
    EXPECT_EQ(c.params[0].value, R"({"A","B"})");
    EXPECT_TRUE(c.has_items);
    EXPECT_TRUE(c.generic);
}

TEST(FilterClause, BesideAPredicateTheTypesAreHiddenFromTheirIndex) {
    const Filter f =
        build_event_filter().matching().any_event_type_of("A").and_any_predicate_of(P("BookID", "b1")).finalize();
    const FilterClause c = filter_clause(f, 1);
    EXPECT_EQ(c.sql, "(((e.event_type || '') = ANY($1::text[]) AND e.payload @> $2::jsonb))");
    ASSERT_EQ(c.params.size(), 2U);
    EXPECT_EQ(c.params[1].value, R"({"BookID":"b1"})");
    EXPECT_EQ(c.params[1].type, oid::text);
}

TEST(FilterClause, AnyOfSeveralPredicatesIsOneContainmentOfAnArray) {
    const Filter f = build_event_filter().matching().any_predicate_of(P("A", "1"), P("B", "2")).finalize();
    const FilterClause c = filter_clause(f, 1);
    EXPECT_EQ(c.sql, "((e.payload @> ANY($1::jsonb[])))");
    ASSERT_EQ(c.params.size(), 1U);
    EXPECT_EQ(c.params[0].type, oid::jsonb_array);
    EXPECT_EQ(c.params[0].value, R"({"{\"A\":\"1\"}","{\"B\":\"2\"}"})");
}

TEST(FilterClause, AllOfSeveralPredicatesIsOneMergedDocument) {
    const Filter f = build_event_filter().matching().all_predicates_of(P("B", "2"), P("A", "1")).finalize();
    const FilterClause c = filter_clause(f, 1);
    EXPECT_EQ(c.sql, "((e.payload @> $1::jsonb))");
    ASSERT_EQ(c.params.size(), 1U);
    EXPECT_EQ(c.params[0].value, R"({"A":"1","B":"2"})");
}

TEST(FilterClause, AllOfOneKeyWithTwoValuesCannotBeMerged) {
    const Filter f = build_event_filter().matching().all_predicates_of(P("A", "1"), P("A", "2")).finalize();
    const FilterClause c = filter_clause(f, 1);
    EXPECT_EQ(c.sql, "(((e.payload @> $1::jsonb AND e.payload @> $2::jsonb)))");
    EXPECT_EQ(c.params.size(), 2U);
}

TEST(FilterClause, ItemsAreOredAndBoundsAnded) {
    const TimePoint from = TimePoint(1000s);
    const TimePoint until = TimePoint(2000s);
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A")
                         .or_matching()
                         .any_predicate_of(P("K", "v"))
                         .occurred_from(from)
                         .and_occurred_until(until)
                         .finalize();
    const FilterClause c = filter_clause(f, 1);
    EXPECT_EQ(c.sql, "((e.event_type = ANY($1::text[])) OR (e.payload @> $2::jsonb)) AND e.occurred_at >= $3 "
                     "AND e.occurred_at <= $4");
    ASSERT_EQ(c.params.size(), 4U);
    EXPECT_EQ(c.params[2].type, oid::timestamptz);
    EXPECT_EQ(c.params[2].format, Format::binary);
    EXPECT_FALSE(c.generic); // bounds want their values at planning
}

TEST(FilterClause, ASequenceBoundIsExclusiveAndPlannedPerCall) {
    const Filter f =
        build_event_filter().matching().any_event_type_of("A").with_sequence_number_higher_than(41).finalize();
    const FilterClause c = filter_clause(f, 5);
    EXPECT_EQ(c.sql, "((e.event_type = ANY($5::text[]))) AND e.sequence_number > $6");
    ASSERT_EQ(c.params.size(), 2U);
    EXPECT_EQ(c.params[1].value, "41");
    EXPECT_FALSE(c.generic);
    EXPECT_FALSE(generic_plan_safe(f));
}

TEST(FilterClause, ValuesAreNeverSplicedIntoTheText) {
    const std::string hostile = "x'); DROP TABLE events; --\"\\";
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of(hostile)
                         .and_all_predicates_of(P(hostile, hostile))
                         .finalize();
    const FilterClause c = filter_clause(f, 1);
    EXPECT_EQ(c.sql.find("DROP"), std::string::npos) << c.sql;
    EXPECT_EQ(c.params.size(), 2U);
}

TEST(FilterClause, TextPostgresCannotHoldIsAnInvalidFilter) {
    const Filter nul = build_event_filter().matching().any_event_type_of(std::string("a\0b", 3)).finalize();
    EXPECT_EQ(code_of([&] { (void)filter_clause(nul, 1); }), Errc::invalid_filter);
    const Filter bad_utf8 = build_event_filter().matching().any_predicate_of(P("k", "\xC3\x28")).finalize();
    EXPECT_EQ(code_of([&] { (void)filter_clause(bad_utf8, 1); }), Errc::invalid_filter);
}

TEST(FilterClause, AFilterNeedingMoreThan65535ParametersIsAnInvalidFilter) {
    // Two parameters an item (its types, its predicate): 32,767 items fit with the first parameter
    // at 2, one more does not.
    const auto filter_of = [](int items) {
        auto builder = build_event_filter().matching().any_event_type_of("T0").and_any_predicate_of(P("k", "0"));
        for (int i = 1; i < items; ++i) {
            builder = std::move(builder)
                          .or_matching()
                          .any_event_type_of("T" + std::to_string(i))
                          .and_any_predicate_of(P("k", std::to_string(i)));
        }
        return std::move(builder).finalize();
    };
    EXPECT_EQ(filter_clause(filter_of(32'767), 2).params.size(), 65'534U);
    const Filter too_wide = filter_of(32'768);
    try {
        (void)filter_clause(too_wide, 2);
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::invalid_filter);
        EXPECT_NE(std::string(e.what()).find("65535"), std::string::npos) << e.what();
    }
}

// --- table and index names -----------------------------------------------------------------------

TEST(TableName, APlainNameIsQuotedAndResolvedBySearchPath) {
    const TableName t = parse_table_name("Events");
    EXPECT_EQ(t.schema, "");
    EXPECT_EQ(t.table, "Events");
    EXPECT_EQ(t.quoted, "\"Events\"");
}

TEST(TableName, ASchemaIsSplitAtTheFirstDotAndQuotesAreDoubled) {
    const TableName t = parse_table_name("my\"schema.ev\"ents");
    EXPECT_EQ(t.schema, "my\"schema");
    EXPECT_EQ(t.table, "ev\"ents");
    EXPECT_EQ(t.quoted, "\"my\"\"schema\".\"ev\"\"ents\"");
}

TEST(TableName, NamesPostgresWouldMangleAreRejected) {
    EXPECT_EQ(code_of([] { (void)parse_table_name(""); }), Errc::empty_events_table_name);
    for (const std::string& bad :
         std::vector<std::string>{".events", "schema.", "a.b.c", std::string(64, 'x'), "s." + std::string(64, 'x'),
                                  std::string("ev\0ents", 7), std::string("\xff\xfe")}) {
        EXPECT_EQ(code_of([&] { (void)parse_table_name(bad); }), Errc::invalid_table_name) << bad;
    }
    EXPECT_EQ(parse_table_name(std::string(63, 'x')).table.size(), 63U);
}

TEST(TableName, DerivedIndexNamesFitInSixtyThreeBytesAndStayDistinct) {
    EXPECT_EQ(derived_name(parse_table_name("orders"), "_event_type"), "idx_orders_event_type");
    const std::string long_a = std::string(60, 'a') + "1";
    const std::string long_b = std::string(60, 'a') + "2";
    const std::string a = derived_name(parse_table_name(long_a), "_payload_gin");
    const std::string b = derived_name(parse_table_name(long_b), "_payload_gin");
    EXPECT_EQ(a.size(), 63U);
    EXPECT_EQ(b.size(), 63U);
    EXPECT_NE(a, b);
    EXPECT_EQ(a, derived_name(parse_table_name(long_a), "_payload_gin")); // stable
    // A multi-byte character at the cut is kept whole, at any offset: the name stays valid UTF-8.
    for (std::size_t pad = 40; pad < 44; ++pad) {
        std::string accented(pad, 'a');
        for (int i = 0; i < 8; ++i) {
            accented += "\xC3\xA9";
        }
        const std::string cut = derived_name(parse_table_name(accented), "_payload_gin");
        EXPECT_LE(cut.size(), 63U);
        EXPECT_TRUE(eventstore::detail::json::is_valid_utf8(cut)) << cut;
    }
}

TEST(Schema, TheGoLibrarysIndexNamesForItsDefaultTables) {
    EXPECT_EQ(Schema::index_name(parse_table_name("events"), "_event_type"), "idx_events_event_type");
    EXPECT_EQ(Schema::index_name(parse_table_name("other.events"), "_event_type"), "idx_events_event_type");
    EXPECT_EQ(Schema::index_name(parse_table_name("snapshots"), "_sequence"), "idx_snapshots_sequence");
}

TEST(Schema, MigrationTakesItsLockFirstAndCreatesEveryObjectIdempotently) {
    const Schema schema("app.ev", "snaps");
    const std::vector<Statement> statements = schema.migration();
    ASSERT_GE(statements.size(), 10U);
    EXPECT_EQ(Schema::migration_lock().sql, "SELECT pg_advisory_xact_lock($1)");
    std::vector<std::string> texts;
    for (std::size_t i = 0; i < statements.size(); ++i) {
        EXPECT_NE(statements[i].sql.find("IF NOT EXISTS"), std::string::npos) << statements[i].sql;
        EXPECT_TRUE(statements[i].params.empty()) << statements[i].sql;
        texts.push_back(statements[i].sql);
    }
    EXPECT_EQ(texts[0], "CREATE SCHEMA IF NOT EXISTS \"app\"");
    EXPECT_NE(texts[1].find("CREATE TABLE IF NOT EXISTS \"app\".\"ev\""), std::string::npos);
    const auto gin = std::find_if(texts.begin(), texts.end(),
                                  [](const std::string& s) { return s.find("USING gin") != std::string::npos; });
    ASSERT_NE(gin, texts.end());
    EXPECT_NE(gin->find("\"idx_ev_payload_gin\""), std::string::npos) << *gin;
    EXPECT_NE(gin->find("fastupdate = off"), std::string::npos) << *gin;
}

TEST(Schema, BadTableNamesFailTheSchema) {
    EXPECT_EQ(code_of([] { (void)Schema("", "snapshots"); }), Errc::empty_events_table_name);
    EXPECT_EQ(code_of([] { (void)Schema("events", "a.b.c"); }), Errc::invalid_table_name);
}

// Sessions that keep no state (an adapter's handle, a pool behind a transaction-mode pooler) put their
// per-transaction settings before a call's statements, except before one that must run alone: every
// index the schema builds concurrently, unique or not, and the drop of an invalid one.
TEST(PostgresSql, StatementsThatMustRunAloneAreRecognised) {
    const Schema schema("events", std::nullopt);
    ASSERT_FALSE(schema.late_indexes().empty());
    for (const std::string& name : schema.late_indexes()) {
        EXPECT_TRUE(runs_alone(schema.create_late_index(name))) << name;
    }
    EXPECT_TRUE(runs_alone(Statement::per_call("DROP INDEX CONCURRENTLY IF EXISTS \"x\"")));
    EXPECT_FALSE(runs_alone(Statement::per_call("CREATE INDEX IF NOT EXISTS \"x\" ON \"events\" (event_type)")));
    EXPECT_FALSE(runs_alone(Statement::per_call("SELECT 'CREATE INDEX CONCURRENTLY '")));
}
} // namespace
