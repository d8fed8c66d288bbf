// The failure boundary of an operation (src/postgres/operation.hpp, snapshot_call.hpp), without a
// database: one classification of what went wrong feeds both the Error the caller sees and what the
// hooks record.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/error.hpp>

#include "postgres/failure.hpp"
#include "postgres/operation.hpp"
#include "postgres/snapshot_call.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::postgres;
using namespace eventstore::postgres::detail;

// Records what the store reports, by metric name and by log message.
class Recorder : public MetricsCollector, public Logger {
public:
    void record_duration(std::string_view metric, std::chrono::nanoseconds /*d*/, const Labels& labels) override {
        m_metrics.emplace_back(std::string(metric), labels);
    }
    void increment_counter(std::string_view metric, const Labels& labels) override {
        m_metrics.emplace_back(std::string(metric), labels);
    }
    void record_value(std::string_view metric, double /*value*/, const Labels& labels) override {
        m_metrics.emplace_back(std::string(metric), labels);
    }
    void debug(std::string_view message, const LogFields& /*fields*/) override { log("debug", message); }
    void info(std::string_view message, const LogFields& /*fields*/) override { log("info", message); }
    void warn(std::string_view message, const LogFields& /*fields*/) override { log("warn", message); }
    void error(std::string_view message, const LogFields& /*fields*/) override { log("error", message); }

    // The labels of the one record of `metric`, or nullopt when there is none (a second one fails).
    std::optional<Labels> only(const std::string& metric) const {
        std::optional<Labels> found;
        for (const auto& [name, labels] : m_metrics) {
            if (name == metric) {
                EXPECT_FALSE(found.has_value()) << "two records of " << metric;
                found = labels;
            }
        }
        return found;
    }
    std::vector<Labels> all(const std::string& metric) const {
        std::vector<Labels> found;
        for (const auto& [name, labels] : m_metrics) {
            if (name == metric) {
                found.push_back(labels);
            }
        }
        return found;
    }
    const std::vector<std::string>& logs() const { return m_logs; }

private:
    void log(const std::string& level, std::string_view message) {
        m_logs.push_back(level + ": " + std::string(message));
    }
    std::vector<std::pair<std::string, Labels>> m_metrics;
    std::vector<std::string> m_logs;
};

class Boundary : public ::testing::Test {
protected:
    Boundary() {
        StoreOptions options;
        options.metrics = m_recorder;
        options.logger = m_recorder;
        m_instruments.emplace(options);
    }
    const Instruments& instruments() const { return *m_instruments; }
    Recorder& recorder() const { return *m_recorder; }

    // What `body`, run as a query, makes the caller see.
    template <typename Body>
    Error query_error(Body&& body) {
        Operation op(instruments(), Context(), query_kind, Target::primary);
        try {
            op.run(std::forward<Body>(body));
        } catch (const Error& e) {
            return e;
        }
        ADD_FAILURE() << "nothing thrown";
        return Error(Errc::concurrency_conflict);
    }

private:
    std::shared_ptr<Recorder> m_recorder = std::make_shared<Recorder>();
    std::optional<Instruments> m_instruments;
};

constexpr Outcome nothing = Outcome::nothing_written;

TEST(Failure, ServerFailuresAreClassifiedBySqlstate) {
    EXPECT_EQ(DatabaseFailure::from_server("m", "08006", nothing).kind(), FailureKind::connection);
    EXPECT_EQ(DatabaseFailure::from_server("m", "08P01", nothing).kind(), FailureKind::connection);
    // The server ending the session: administrator command, crash, not accepting connections yet,
    // database dropped, idle session timeout.
    for (const char* state : {"57P01", "57P02", "57P03", "57P04", "57P05"}) {
        EXPECT_EQ(DatabaseFailure::from_server("m", state, nothing).kind(), FailureKind::connection) << state;
    }
    EXPECT_EQ(DatabaseFailure::from_server("m", "57P06", nothing).kind(), FailureKind::statement);
    EXPECT_EQ(DatabaseFailure::from_server("m", "57014", nothing).kind(), FailureKind::statement);
    EXPECT_EQ(DatabaseFailure::from_server("m", "23505", nothing).kind(), FailureKind::statement);
    EXPECT_EQ(DatabaseFailure::from_server("m", "", nothing).kind(), FailureKind::statement);
    EXPECT_EQ(DatabaseFailure::from_server("m", "57P01", nothing).sqlstate(), "57P01");
    EXPECT_EQ(DatabaseFailure::interrupted(true).kind(), FailureKind::deadline_exceeded);
    EXPECT_EQ(DatabaseFailure::interrupted(false).kind(), FailureKind::canceled);
}

TEST(Failure, EachKindHasOneCause) {
    for (const bool writes : {false, true}) {
        EXPECT_EQ(DatabaseFailure::interrupted(false).cause(writes), Errc::canceled);
        EXPECT_EQ(DatabaseFailure::interrupted(true).cause(writes), Errc::deadline_exceeded);
        EXPECT_EQ(DatabaseFailure("m", "", FailureKind::connection).cause(writes), Errc::database_connection_failed);
        EXPECT_EQ(DatabaseFailure("m", "", FailureKind::pool_exhausted).cause(writes), Errc::pool_exhausted);
        EXPECT_FALSE(DatabaseFailure::from_server("m", "42P01", nothing).cause(writes).has_value());
    }
    const Error e = DatabaseFailure::from_server("relation does not exist", "42P01", nothing)
                        .to_error(Errc::appending_event_failed, true);
    EXPECT_EQ(e.code(), Errc::appending_event_failed);
    EXPECT_EQ(e.sqlstate(), "42P01");
    // A missing table says what to do.
    EXPECT_EQ(e.detail(), "relation does not exist (a table of the store is missing: run migrate() first, or check the "
                          "table names and the search_path)");
    EXPECT_EQ(DatabaseFailure::from_server("m", "42501", nothing).to_error(Errc::appending_event_failed, true).detail(),
              "m");
}

TEST(Failure, AWriteLostAfterItWasSentIsInDoubt) {
    const DatabaseFailure lost("server closed the connection", "08006", FailureKind::connection, Outcome::unknown);
    const Error write = lost.to_error(Errc::appending_event_failed, true);
    EXPECT_EQ(write.cause(), Errc::in_doubt);
    EXPECT_FALSE(write.is_retryable());
    EXPECT_FALSE(write.is(Errc::database_connection_failed));
    EXPECT_NE(write.detail().find("may have committed"), std::string::npos) << write.detail();
    // A read has nothing in doubt; a write lost before it was sent, or aborted, neither.
    EXPECT_EQ(lost.cause(false), Errc::database_connection_failed);
    EXPECT_EQ(DatabaseFailure("m", "08006", FailureKind::connection, Outcome::not_sent).cause(true),
              Errc::database_connection_failed);
    EXPECT_EQ(DatabaseFailure("m", "57P01", FailureKind::connection, nothing).cause(true),
              Errc::database_connection_failed);
    // A cancel the server did not end in time: the write may still commit.
    const DatabaseFailure unanswered = DatabaseFailure::interrupted(false, "gave up", "08006", Outcome::unknown);
    EXPECT_EQ(unanswered.cause(true), Errc::in_doubt);
    EXPECT_EQ(unanswered.cause(false), Errc::canceled);
}

TEST_F(Boundary, ADatabaseFailureIsTheOperationsErrorWithItsCause) {
    const Error e = query_error([]() -> int { throw DatabaseFailure("pool", {}, FailureKind::pool_exhausted); });
    EXPECT_EQ(e.code(), Errc::querying_events_failed);
    EXPECT_EQ(e.cause(), Errc::pool_exhausted);
    EXPECT_TRUE(e.is_retryable());
    const auto labels = recorder().only("eventstore_database_errors_total");
    ASSERT_TRUE(labels.has_value());
    EXPECT_EQ(labels->at("error_type"), "database_query");
    EXPECT_EQ(labels->at("status"), "error");
}

TEST_F(Boundary, ACancellationIsCountedAsSuchNotAsAnError) {
    const Error e = query_error([]() -> int { throw DatabaseFailure::interrupted(false); });
    EXPECT_TRUE(e.is(Errc::canceled));
    EXPECT_FALSE(e.is_retryable());
    EXPECT_TRUE(recorder().only("eventstore_query_canceled_total").has_value());
    EXPECT_FALSE(recorder().only("eventstore_database_errors_total").has_value());
    EXPECT_EQ(recorder().only("eventstore_query_method_duration_seconds")->at("status"), "canceled");
}

TEST_F(Boundary, AnErrorWhileBuildingIsWrappedAndRecordedAsABuildFailure) {
    const Error e = query_error([]() -> int { throw Error(Errc::invalid_filter, "bad"); });
    EXPECT_EQ(e.code(), Errc::querying_events_failed);
    EXPECT_EQ(e.cause(), Errc::invalid_filter);
    EXPECT_TRUE(e.is_input_error());
    EXPECT_EQ(recorder().only("eventstore_database_errors_total")->at("error_type"), "build_query");
    EXPECT_EQ(recorder().logs(), std::vector<std::string>{"error: failed to build select query"});
}

TEST_F(Boundary, ARowThatDoesNotDecodeIsThrownAsItIs) {
    Operation op(instruments(), Context(), query_kind, Target::replica);
    try {
        op.run([&]() -> int {
            op.built("SELECT ...");
            op.executed();
            throw Error(Errc::scanning_db_row_failed, "unexpected bigint length 4");
        });
        FAIL() << "nothing thrown";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::scanning_db_row_failed);
        EXPECT_FALSE(e.cause().has_value());
    }
    const auto labels = recorder().only("eventstore_database_errors_total");
    ASSERT_TRUE(labels.has_value());
    EXPECT_EQ(labels->at("error_type"), "row_scan");
    EXPECT_EQ(labels->at("database_target"), "replica");
    EXPECT_EQ(recorder().logs(),
              (std::vector<std::string>{"debug: executed sql for: query", "error: failed to scan database row"}));
}

TEST_F(Boundary, ADatabaseFailureWhileExecutingNamesTheStatementOnce) {
    Operation op(instruments(), Context(), append_kind, {}, std::nullopt);
    EXPECT_THROW(op.run([&] {
        op.built("INSERT ...");
        throw DatabaseFailure::from_server("boom", "XX000", Outcome::nothing_written);
    }),
                 Error);
    EXPECT_EQ(recorder().logs(), (std::vector<std::string>{"debug: executed sql for: append",
                                                           "error: database execution failed during event append"}));
    // The build phase ended; the execution did not.
    const auto components = recorder().all("eventstore_component_duration_seconds");
    ASSERT_EQ(components.size(), 1U);
    EXPECT_EQ(components[0].at("component"), "query_build");
}

TEST_F(Boundary, AnEndedOperationLetsItsExceptionPass) {
    Operation op(instruments(), Context(), append_kind, {}, SequenceNumber{3});
    try {
        op.run([&] { throw op.conflict(1, 3); });
        FAIL() << "nothing thrown";
    } catch (const ConcurrencyConflict& c) {
        EXPECT_EQ(c.code(), Errc::concurrency_conflict);
    }
    EXPECT_TRUE(recorder().only("eventstore_concurrency_conflicts_total").has_value());
    EXPECT_FALSE(recorder().only("eventstore_database_errors_total").has_value());
    EXPECT_FALSE(recorder().only("eventstore_append_method_duration_seconds").has_value());
}

TEST_F(Boundary, AnUnexpectedExceptionEndsTheOperationAsInternal) {
    {
        Operation op(instruments(), Context(), query_kind, Target::primary);
        EXPECT_THROW(op.run([]() -> int { throw std::bad_alloc(); }), std::bad_alloc);
    }
    EXPECT_EQ(recorder().only("eventstore_query_method_duration_seconds")->at("status"), "error");
}

TEST_F(Boundary, ASnapshotCallWrapsDecodeErrorsAndDatabaseFailures) {
    {
        SnapshotCall call(instruments(), Context(), SnapshotAction::load, Target::primary, "p", "h");
        try {
            call.run([]() -> int { throw Error(Errc::scanning_db_row_failed); });
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::loading_snapshot_failed);
            EXPECT_EQ(e.cause(), Errc::scanning_db_row_failed);
        }
    }
    {
        SnapshotCall call(instruments(), Context(), SnapshotAction::remove, Target::primary, "p", "h");
        try {
            call.run([]() -> int { throw DatabaseFailure::interrupted(true); });
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::deleting_snapshot_failed);
            EXPECT_EQ(e.cause(), Errc::deadline_exceeded);
        }
    }
    EXPECT_EQ(recorder().only("eventstore_snapshot_load_errors_total")->at("error_type"), "scan_results");
    EXPECT_EQ(recorder().only("eventstore_snapshot_delete_errors_total")->at("status"), "timeout");
    EXPECT_EQ(recorder().logs(),
              (std::vector<std::string>{"error: loading snapshot failed", "error: deleting snapshot failed"}));
}

} // namespace
