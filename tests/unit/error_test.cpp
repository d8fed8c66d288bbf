#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/error.hpp>

namespace {

using eventstore::ConcurrencyConflict;
using eventstore::Errc;
using eventstore::Error;

// Every code with the message of the Go sentinel it stands for, or of our own checks.
const std::vector<std::pair<Errc, std::string>> all_messages = {
    {Errc::empty_events_table_name, "events table name must not be empty"},
    {Errc::concurrency_conflict, "concurrency error, no rows were affected"},
    {Errc::cant_build_query_for_zero_events, "can't build query for zero events"},
    {Errc::nil_database_connection, "database connection must not be nil"},
    {Errc::querying_events_failed, "querying events failed"},
    {Errc::scanning_db_row_failed, "scanning db row failed"},
    {Errc::building_storable_event_failed, "building storable event failed"},
    {Errc::appending_event_failed, "appending the event failed"},
    {Errc::getting_rows_affected_failed, "getting rows affected failed"},
    {Errc::building_query_failed, "building the query failed"},
    {Errc::row_iteration_failed, "database rows iteration failed"},
    {Errc::invalid_payload_json, "payload json is not valid"},
    {Errc::invalid_metadata_json, "metadata json is not valid"},
    {Errc::invalid_snapshot_json, "snapshot json is not valid"},
    {Errc::empty_projection_type, "projection type must not be empty"},
    {Errc::empty_filter_hash, "filter hash must not be empty"},
    {Errc::saving_snapshot_failed, "saving snapshot failed"},
    {Errc::loading_snapshot_failed, "loading snapshot failed"},
    {Errc::deleting_snapshot_failed, "deleting snapshot failed"},
    {Errc::canceled, "context canceled"},
    {Errc::deadline_exceeded, "context deadline exceeded"},
    {Errc::invalid_event_type, "event type is not valid"},
    {Errc::invalid_filter, "filter is not valid"},
    {Errc::invalid_table_name, "table name is not valid"},
    {Errc::database_connection_failed, "database connection failed"},
    {Errc::migration_failed, "migrating the schema failed"},
    {Errc::pool_exhausted, "no free connection in the pool"},
    {Errc::in_doubt, "the outcome is unknown: the write may have committed"},
    {Errc::invalid_tag, "tag is not valid"},
    {Errc::invalid_event_id, "event id is not valid"},
    {Errc::duplicate_event_id, "event id is already used by another event"},
    {Errc::invalid_snapshot_key, "snapshot key is not valid"},
    {Errc::invalid_subscription_name, "subscription name is not valid"},
    {Errc::subscription_failed, "subscription failed"},
    {Errc::invalid_traceparent, "traceparent is not valid"},
};

TEST(ErrorMessage, MatchesGoSentinels) {
    for (const auto& [code, text] : all_messages) {
        EXPECT_EQ(eventstore::message(code), text) << eventstore::name(code);
    }
}

TEST(ErrorMessage, EveryEnumeratorIsCovered) {
    // invalid_traceparent is the last enumerator; the table must hold one row per value.
    EXPECT_EQ(all_messages.size(), static_cast<std::size_t>(Errc::invalid_traceparent) + 1);
    std::set<std::string_view> distinct;
    for (const auto& row : all_messages) {
        distinct.insert(eventstore::message(row.first));
    }
    EXPECT_EQ(distinct.size(), all_messages.size());
}

TEST(ErrorName, SpellsTheEnumerator) {
    EXPECT_EQ(eventstore::name(Errc::concurrency_conflict), "concurrency_conflict");
    EXPECT_EQ(eventstore::name(Errc::nil_database_connection), "nil_database_connection");
    EXPECT_EQ(eventstore::name(Errc::invalid_metadata_json), "invalid_metadata_json");
    EXPECT_EQ(eventstore::name(Errc::cant_build_query_for_zero_events), "cant_build_query_for_zero_events");
    EXPECT_EQ(eventstore::name(Errc::canceled), "canceled");
    EXPECT_EQ(eventstore::name(Errc::deadline_exceeded), "deadline_exceeded");
    EXPECT_EQ(eventstore::name(Errc::database_connection_failed), "database_connection_failed");
    std::set<std::string_view> distinct;
    for (const auto& row : all_messages) {
        distinct.insert(eventstore::name(row.first));
    }
    EXPECT_EQ(distinct.size(), all_messages.size());
}

TEST(Error, BareCodeWhatIsTheMessage) {
    const Error error(Errc::empty_projection_type);
    EXPECT_STREQ(error.what(), "projection type must not be empty");
    EXPECT_EQ(error.code(), Errc::empty_projection_type);
    EXPECT_FALSE(error.cause().has_value());
    EXPECT_TRUE(error.detail().empty());
    EXPECT_TRUE(error.sqlstate().empty());
}

TEST(Error, DetailIsAppended) {
    const Error error(Errc::invalid_payload_json, "expected ',' or '}' at byte 12");
    EXPECT_STREQ(error.what(), "payload json is not valid: expected ',' or '}' at byte 12");
    EXPECT_EQ(error.detail(), "expected ',' or '}' at byte 12");
}

TEST(Error, CauseIsJoinedLikeGoErrorsJoin) {
    const Error error(Errc::appending_event_failed, Errc::canceled);
    EXPECT_STREQ(error.what(), "appending the event failed: context canceled");
    EXPECT_TRUE(error.is(Errc::appending_event_failed));
    EXPECT_TRUE(error.is(Errc::canceled));
    EXPECT_FALSE(error.is(Errc::deadline_exceeded));
    ASSERT_TRUE(error.cause().has_value());
    EXPECT_EQ(*error.cause(), Errc::canceled);
}

TEST(Error, CauseAndDetailAndSqlstate) {
    const Error error(Errc::querying_events_failed, Errc::deadline_exceeded,
                      "canceling statement due to statement timeout", "57014");
    EXPECT_STREQ(error.what(),
                 "querying events failed: context deadline exceeded: canceling statement due to statement timeout");
    EXPECT_EQ(error.sqlstate(), "57014");
    EXPECT_TRUE(error.is(Errc::deadline_exceeded));

    const Error without_cause(Errc::querying_events_failed, std::nullopt, "relation \"x\" does not exist", "42P01");
    EXPECT_STREQ(without_cause.what(), "querying events failed: relation \"x\" does not exist");
    EXPECT_EQ(without_cause.sqlstate(), "42P01");
    EXPECT_FALSE(without_cause.is(Errc::canceled));
}

TEST(Error, IsARuntimeError) {
    try {
        throw Error(Errc::empty_filter_hash);
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "filter hash must not be empty");
        return;
    }
    FAIL() << "not caught as std::runtime_error";
}

TEST(ConcurrencyConflict, IsAnErrorWithTheConflictCode) {
    try {
        throw ConcurrencyConflict();
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::concurrency_conflict);
        EXPECT_TRUE(e.is(Errc::concurrency_conflict));
        EXPECT_STREQ(e.what(), "concurrency error, no rows were affected");
    }
    const ConcurrencyConflict with_detail("expected 3");
    EXPECT_STREQ(with_detail.what(), "concurrency error, no rows were affected: expected 3");
}

TEST(ErrorPredicates, RetryableAreTheTransientFailures) {
    EXPECT_TRUE(Error(Errc::appending_event_failed, Errc::database_connection_failed).is_retryable());
    EXPECT_TRUE(Error(Errc::querying_events_failed, Errc::pool_exhausted).is_retryable());
    for (const char* state : {"40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03", "08006", "08P01"}) {
        EXPECT_TRUE(Error(Errc::querying_events_failed, std::nullopt, "x", state).is_retryable()) << state;
    }
    // The caller's own decisions, a conflict (read and decide again), and what fails the same way again.
    EXPECT_FALSE(Error(Errc::querying_events_failed, Errc::canceled).is_retryable());
    EXPECT_FALSE(Error(Errc::querying_events_failed, Errc::deadline_exceeded).is_retryable());
    EXPECT_FALSE(ConcurrencyConflict().is_retryable());
    // Retrying an in-doubt write could write it twice.
    EXPECT_FALSE(Error(Errc::appending_event_failed, Errc::in_doubt, "x").is_retryable());
    EXPECT_FALSE(Error(Errc::appending_event_failed, Errc::in_doubt, std::string("x"), "08006").is_retryable());
    EXPECT_FALSE(Error(Errc::appending_event_failed, std::nullopt, "x", "23505").is_retryable());
    EXPECT_FALSE(Error(Errc::appending_event_failed, Errc::invalid_payload_json).is_retryable());
}

TEST(ErrorPredicates, InputErrorsAreTheCallersByCodeOrCause) {
    for (const Errc code : {Errc::empty_events_table_name, Errc::nil_database_connection, Errc::invalid_payload_json,
                            Errc::invalid_metadata_json, Errc::invalid_snapshot_json, Errc::empty_projection_type,
                            Errc::empty_filter_hash, Errc::invalid_event_type, Errc::invalid_filter,
                            Errc::invalid_table_name, Errc::invalid_subscription_name, Errc::invalid_traceparent}) {
        EXPECT_TRUE(Error(code).is_input_error()) << eventstore::name(code);
        EXPECT_TRUE(Error(Errc::appending_event_failed, code).is_input_error()) << eventstore::name(code);
        EXPECT_FALSE(Error(code).is_retryable()) << eventstore::name(code);
    }
    EXPECT_FALSE(Error(Errc::querying_events_failed, Errc::database_connection_failed).is_input_error());
    EXPECT_FALSE(ConcurrencyConflict().is_input_error());
    EXPECT_FALSE(Error(Errc::scanning_db_row_failed).is_input_error());
    EXPECT_FALSE(Error(Errc::subscription_failed, Errc::deadline_exceeded).is_input_error());
}

} // namespace
