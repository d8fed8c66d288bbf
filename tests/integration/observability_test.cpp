// The logger, metrics and tracing hooks, with the Go library's names for records, metrics, spans and
// their attributes, recorded by spies on a real store.

#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <stop_token>

#include <gtest/gtest.h>

#include "fixture.hpp"

namespace {

using eventstore::Attributes;
using eventstore::Context;
using eventstore::Labels;
using eventstore::LogFields;
using eventstore::test::StoreTest;
namespace pg = eventstore::postgres;
namespace t = eventstore::test;

struct LogRecord {
    std::string level;
    std::string message;
    LogFields fields;
    std::shared_ptr<eventstore::SpanContext> span; // the Context's span (contextual logger only)

    [[nodiscard]] std::optional<std::string> field(std::string_view key) const {
        for (const auto& [k, v] : fields) {
            if (k == key) {
                return v;
            }
        }
        return std::nullopt;
    }
};

class SpyLogger final : public eventstore::Logger {
public:
    void debug(std::string_view m, const LogFields& f) override { add("debug", m, f); }
    void info(std::string_view m, const LogFields& f) override { add("info", m, f); }
    void warn(std::string_view m, const LogFields& f) override { add("warn", m, f); }
    void error(std::string_view m, const LogFields& f) override { add("error", m, f); }

    std::vector<LogRecord> records() const {
        const std::lock_guard lock(m_mutex);
        return m_records;
    }

private:
    void add(std::string level, std::string_view m, const LogFields& f) {
        const std::lock_guard lock(m_mutex);
        m_records.push_back({std::move(level), std::string(m), f, nullptr});
    }
    mutable std::mutex m_mutex;
    std::vector<LogRecord> m_records;
};

class SpyContextualLogger final : public eventstore::ContextualLogger {
public:
    void debug(const Context& c, std::string_view m, const LogFields& f) override { add(c, "debug", m, f); }
    void info(const Context& c, std::string_view m, const LogFields& f) override { add(c, "info", m, f); }
    void warn(const Context& c, std::string_view m, const LogFields& f) override { add(c, "warn", m, f); }
    void error(const Context& c, std::string_view m, const LogFields& f) override { add(c, "error", m, f); }

    std::vector<LogRecord> records() const {
        const std::lock_guard lock(m_mutex);
        return m_records;
    }

private:
    void add(const Context& c, std::string level, std::string_view m, const LogFields& f) {
        const std::lock_guard lock(m_mutex);
        m_records.push_back({std::move(level), std::string(m), f, c.span()});
    }
    mutable std::mutex m_mutex;
    std::vector<LogRecord> m_records;
};

struct MetricRecord {
    std::string kind; // duration, counter, value
    std::string name;
    Labels labels;
    double value = 0; // seconds for durations
};

class SpyMetrics final : public eventstore::MetricsCollector {
public:
    void record_duration(std::string_view metric, std::chrono::nanoseconds d, const Labels& labels) override {
        add({"duration", std::string(metric), labels, std::chrono::duration<double>(d).count()});
    }
    void increment_counter(std::string_view metric, const Labels& labels) override {
        add({"counter", std::string(metric), labels, 1});
    }
    void record_value(std::string_view metric, double value, const Labels& labels) override {
        add({"value", std::string(metric), labels, value});
    }

    // The records named `name` whose labels include every one of `labels`.
    std::vector<MetricRecord> find(std::string_view name, const Labels& labels = {}) const {
        const std::lock_guard lock(m_mutex);
        std::vector<MetricRecord> out;
        for (const auto& r : m_records) {
            const bool match = std::all_of(labels.begin(), labels.end(), [&](const auto& l) {
                auto it = r.labels.find(l.first);
                return it != r.labels.end() && it->second == l.second;
            });
            if (r.name == name && match) {
                out.push_back(r);
            }
        }
        return out;
    }

private:
    void add(MetricRecord r) {
        const std::lock_guard lock(m_mutex);
        m_records.push_back(std::move(r));
    }
    mutable std::mutex m_mutex;
    std::vector<MetricRecord> m_records;
};

class SpySpan final : public eventstore::SpanContext {
public:
    SpySpan(std::string span_name, Attributes start) : name(std::move(span_name)), start_attributes(std::move(start)) {}
    void set_status(std::string_view s) override { status = s; }
    void add_attribute(std::string_view k, std::string_view v) override { added[std::string(k)] = v; }

    std::string name;
    Attributes start_attributes;
    std::string status;
    Attributes added;
    std::string finish_status;
    Attributes finish_attributes;
    bool finished = false;
};

class SpyTracer final : public eventstore::TracingCollector {
public:
    std::shared_ptr<eventstore::SpanContext> start_span(const Context&, std::string_view name,
                                                        const Attributes& attributes) override {
        const std::lock_guard lock(m_mutex);
        m_spans.push_back(std::make_shared<SpySpan>(std::string(name), attributes));
        return m_spans.back();
    }
    void finish_span(eventstore::SpanContext& span, std::string_view status, const Attributes& attributes) override {
        auto& s = dynamic_cast<SpySpan&>(span);
        s.finish_status = status;
        s.finish_attributes = attributes;
        s.finished = true;
    }
    std::vector<std::shared_ptr<SpySpan>> spans() const {
        const std::lock_guard lock(m_mutex);
        return m_spans;
    }

private:
    mutable std::mutex m_mutex;
    std::vector<std::shared_ptr<SpySpan>> m_spans;
};

// Every hook throws: the store must behave as if there were none.
class ThrowingHooks final : public eventstore::Logger,
                            public eventstore::MetricsCollector,
                            public eventstore::TracingCollector {
public:
    void debug(std::string_view, const LogFields&) override { throw std::runtime_error("logger"); }
    void info(std::string_view, const LogFields&) override { throw std::runtime_error("logger"); }
    void warn(std::string_view, const LogFields&) override { throw std::runtime_error("logger"); }
    void error(std::string_view, const LogFields&) override { throw std::runtime_error("logger"); }
    void record_duration(std::string_view, std::chrono::nanoseconds, const Labels&) override {
        throw std::runtime_error("metrics");
    }
    void increment_counter(std::string_view, const Labels&) override { throw std::runtime_error("metrics"); }
    void record_value(std::string_view, double, const Labels&) override { throw std::runtime_error("metrics"); }
    std::shared_ptr<eventstore::SpanContext> start_span(const Context&, std::string_view, const Attributes&) override {
        throw std::runtime_error("tracing");
    }
    void finish_span(eventstore::SpanContext&, std::string_view, const Attributes&) override {
        throw std::runtime_error("tracing");
    }
};

class Observability : public StoreTest {
protected:
    // A store on the fixture's tables (or on `table`) with the given options.
    std::unique_ptr<pg::EventStore> observed(std::vector<pg::Option> options, std::string table = {}) {
        options.push_back(pg::with_table_name(table.empty() ? this->table() : table));
        options.push_back(pg::with_snapshot_table_name(snapshot_table()));
        return pg::new_event_store_from_pool(pool(), options);
    }

    // Appends book `id`'s first event through `store` and returns the filter it used.
    static eventstore::Filter add_book(pg::EventStore& store, const std::string& id) {
        const auto filter = t::book_filter(id);
        store.append(filter, 0, t::added_to_circulation(id, t::at(1)));
        return filter;
    }
};

// --- logs --------------------------------------------------------------------------------------

TEST_F(Observability, ASuccessfulQueryLogsExactlyTwoRecords) {
    auto logger = std::make_shared<SpyLogger>();
    add_book(store(), "book-1");
    auto s = observed({pg::with_logger(logger)});
    s->query(t::book_filter("book-1"));
    const auto records = logger->records();
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].level, "debug");
    EXPECT_EQ(records[0].message, "executed sql for: query");
    EXPECT_TRUE(records[0].field("duration_ms").has_value());
    EXPECT_NE(records[0].field("query").value_or("").find("SELECT"), std::string::npos);
    // Routine success at debug (the Go library logs it at info: with_success_log_level below).
    EXPECT_EQ(records[1].level, "debug");
    EXPECT_EQ(records[1].message, "eventstore operation: query completed");
    EXPECT_EQ(records[1].field("event_count"), "1");
    EXPECT_TRUE(records[1].field("duration_ms").has_value());
}

TEST_F(Observability, AQueryAndAnAppendLogExactlyFourRecords) {
    auto logger = std::make_shared<SpyLogger>();
    auto s = observed({pg::with_logger(logger)});
    const auto filter = t::book_filter("book-2");
    const auto [events, max] = s->query(filter);
    s->append(filter, max, t::added_to_circulation("book-2", t::at(2)));
    const auto records = logger->records();
    ASSERT_EQ(records.size(), 4U);
    EXPECT_EQ(records[2].message, "executed sql for: append");
    EXPECT_NE(records[2].field("query").value_or("").find("INSERT"), std::string::npos);
    EXPECT_EQ(records[3].message, "eventstore operation: events appended");
    EXPECT_EQ(records[3].field("event_count"), "1");
}

TEST_F(Observability, AConflictLogsExactlyTwoRecords) {
    auto logger = std::make_shared<SpyLogger>();
    add_book(store(), "book-3");
    auto s = observed({pg::with_logger(logger)});
    EXPECT_THROW(s->append(t::book_filter("book-3"), 0, t::lent_to_reader("book-3", "reader", t::at(3))),
                 eventstore::ConcurrencyConflict);
    const auto records = logger->records();
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].message, "executed sql for: append");
    EXPECT_EQ(records[1].level, "info");
    EXPECT_EQ(records[1].message, "eventstore operation: concurrency conflict detected");
    EXPECT_EQ(records[1].field("expected_events"), "1");
    EXPECT_EQ(records[1].field("rows_affected"), "0");
    EXPECT_EQ(records[1].field("expected_sequence"), "0");
}

TEST_F(Observability, ADatabaseErrorIsLoggedAtErrorLevelWithItsStatement) {
    auto logger = std::make_shared<SpyLogger>();
    auto contextual = std::make_shared<SpyContextualLogger>();
    auto s = observed({pg::with_logger(logger), pg::with_contextual_logger(contextual)}, "no_such_table");
    EXPECT_THROW(s->query(t::book_filter("x")), eventstore::Error);
    for (const auto& records : {logger->records(), contextual->records()}) {
        const auto it = std::find_if(records.begin(), records.end(),
                                     [](const LogRecord& r) { return r.message == "database query execution failed"; });
        ASSERT_NE(it, records.end());
        EXPECT_EQ(it->level, "error");
        EXPECT_NE(it->field("error").value_or("").find("no_such_table"), std::string::npos);
        EXPECT_TRUE(it->field("query").has_value());
    }
}

// The level policy: success at debug, conflicts at info, failures at error, so that a logger at info
// keeps conflicts and errors without a record per call; the Go library's info for success on request.
TEST_F(Observability, SuccessIsLoggedAtDebugUnlessGoLevelsAreAskedFor) {
    auto quiet = std::make_shared<SpyLogger>();
    auto go = std::make_shared<SpyLogger>();
    add_book(store(), "book-levels");
    for (const auto& [logger, options] :
         {std::pair{quiet, std::vector<pg::Option>{pg::with_logger(quiet)}},
          std::pair{go, std::vector<pg::Option>{pg::with_logger(go),
                                                pg::with_success_log_level(pg::SuccessLogLevel::info)}}}) {
        auto s = observed(options);
        const auto filter = t::book_filter("book-levels");
        const auto max = s->query(filter).max_sequence_number;
        s->append(filter, max, t::lent_to_reader("book-levels", "r", t::at(2)));
        EXPECT_THROW(s->append(filter, max, t::lent_to_reader("book-levels", "r", t::at(3))),
                     eventstore::ConcurrencyConflict);
        s->save_snapshot(eventstore::build_snapshot("shelf", filter.hash(), 1, "{}"));
    }
    auto levels = [](const std::vector<LogRecord>& records) {
        std::map<std::string, std::string> out;
        for (const auto& r : records) {
            if (r.message.rfind("executed sql", 0) != 0) {
                out[r.message] = r.level;
            }
        }
        return out;
    };
    const std::map<std::string, std::string> quiet_levels{
        {"eventstore operation: query completed", "debug"},
        {"eventstore operation: events appended", "debug"},
        {"eventstore operation: concurrency conflict detected", "info"},
        {"eventstore operation: snapshot saved successfully", "debug"}};
    EXPECT_EQ(levels(quiet->records()), quiet_levels);
    const std::map<std::string, std::string> go_levels{{"eventstore operation: query completed", "info"},
                                                       {"eventstore operation: events appended", "info"},
                                                       {"eventstore operation: concurrency conflict detected", "info"},
                                                       {"eventstore operation: snapshot saved successfully", "info"}};
    EXPECT_EQ(levels(go->records()), go_levels);
}

// A logger that says which levels it wants (Logger::enabled) is not called for the others: the store
// does not even build those records.
TEST_F(Observability, ALoggerIsAskedWhichLevelsItWants) {
    struct InfoAndAbove final : eventstore::Logger {
        void debug(std::string_view, const LogFields&) override { ++debug_calls; }
        void info(std::string_view, const LogFields&) override { ++other_calls; }
        void warn(std::string_view, const LogFields&) override { ++other_calls; }
        void error(std::string_view, const LogFields&) override { ++other_calls; }
        [[nodiscard]] bool enabled(eventstore::LogLevel level) const override {
            ++asked;
            return level != eventstore::LogLevel::debug;
        }
        std::atomic<int> debug_calls{0};
        std::atomic<int> other_calls{0};
        mutable std::atomic<int> asked{0};
    };
    auto logger = std::make_shared<InfoAndAbove>();
    add_book(store(), "book-enabled");
    auto s = observed({pg::with_logger(logger)});
    const auto filter = t::book_filter("book-enabled");
    EXPECT_THROW(s->append(filter, 0, t::lent_to_reader("book-enabled", "r", t::at(2))),
                 eventstore::ConcurrencyConflict);
    (void)s->query(filter);
    EXPECT_EQ(logger->debug_calls.load(), 0);
    EXPECT_EQ(logger->other_calls.load(), 1) << "the conflict, at info";
    EXPECT_GE(logger->asked.load(), 3);
}

// W3C trace context: the tracer sees the caller's traceparent when it starts the store's span, and
// the span's own traceparent is what the operation's logs carry.
TEST_F(Observability, TheTraceparentReachesTheTracerAndTheSpansOwnReachesTheLogs) {
    struct LinkedSpan final : eventstore::SpanContext {
        explicit LinkedSpan(std::string caller) : parent(std::move(caller)) {}
        void set_status(std::string_view) override {}
        void add_attribute(std::string_view, std::string_view) override {}
        [[nodiscard]] std::string traceparent() const override {
            // A child: the caller's trace id, a span id of its own.
            return parent.substr(0, 36) + "1111111111111111-01";
        }
        std::string parent;
    };
    struct LinkingTracer final : eventstore::TracingCollector {
        std::shared_ptr<eventstore::SpanContext> start_span(const Context& ctx, std::string_view,
                                                            const Attributes&) override {
            seen = ctx.traceparent();
            return std::make_shared<LinkedSpan>(seen);
        }
        void finish_span(eventstore::SpanContext&, std::string_view, const Attributes&) override {}
        std::string seen;
    };
    struct TraceLogger final : eventstore::ContextualLogger {
        void debug(const Context& c, std::string_view, const LogFields&) override { seen.push_back(c.traceparent()); }
        void info(const Context& c, std::string_view, const LogFields&) override { seen.push_back(c.traceparent()); }
        void warn(const Context& c, std::string_view, const LogFields&) override { seen.push_back(c.traceparent()); }
        void error(const Context& c, std::string_view, const LogFields&) override { seen.push_back(c.traceparent()); }
        std::vector<std::string> seen;
    };
    auto tracer = std::make_shared<LinkingTracer>();
    auto logger = std::make_shared<TraceLogger>();
    auto s = observed({pg::with_tracing(tracer), pg::with_contextual_logger(logger)});
    const std::string caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    s->query(Context().with_traceparent(caller), t::book_filter("book-trace"));
    EXPECT_EQ(tracer->seen, caller);
    ASSERT_EQ(logger->seen.size(), 2U);
    for (const auto& seen : logger->seen) {
        EXPECT_EQ(seen, "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01");
    }
}

// migrate() reports like the other operations: a call counter, its durations, a success record at
// the success level, a span; a refused migration an error record and a database error count.
TEST_F(Observability, MigrateIsReportedLikeTheOtherOperations) {
    auto metrics = std::make_shared<SpyMetrics>();
    auto logger = std::make_shared<SpyLogger>();
    auto tracer = std::make_shared<SpyTracer>();
    auto s = observed({pg::with_metrics(metrics), pg::with_logger(logger), pg::with_tracing(tracer)});
    s->migrate();
    EXPECT_EQ(metrics->find("eventstore_migrate_method_calls_total", {{"operation", "migrate"}}).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_migrate_method_duration_seconds", {{"status", "success"}}).size(), 1U);
    EXPECT_TRUE(metrics->find("eventstore_events_migrated_total").empty());
    const auto records = logger->records();
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(records.back().message, "eventstore operation: schema migrated");
    EXPECT_EQ(records.back().level, "debug");
    EXPECT_FALSE(records.back().field("event_count").has_value());
    ASSERT_EQ(tracer->spans().size(), 1U);
    EXPECT_EQ(tracer->spans()[0]->name, "eventstore.migrate");
    EXPECT_EQ(tracer->spans()[0]->finish_status, "success");

    // A schema this role may not create in: the error is reported, and still says what to do.
    raw().exec("CREATE SCHEMA IF NOT EXISTS obs_locked");
    raw().exec("DROP ROLE IF EXISTS obs_weak");
    raw().exec("CREATE ROLE obs_weak LOGIN");
    raw().exec("GRANT USAGE ON SCHEMA obs_locked TO obs_weak");
    auto weak_pool = pg::ConnectionPool::create(conninfo() + " user=obs_weak");
    auto weak = pg::new_event_store_from_pool(weak_pool, pg::with_table_name("obs_locked.events"),
                                              pg::with_metrics(metrics), pg::with_logger(logger));
    const auto err = t::thrown_error([&] { weak->migrate(); });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->sqlstate(), "42501");
    EXPECT_NE(err->detail().find("run migrate() once as the role that owns the schema"), std::string::npos)
        << t::describe(err);
    EXPECT_EQ(metrics->find("eventstore_migrate_method_duration_seconds", {{"status", "error"}}).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_database_errors_total", {{"operation", "migrate"}}).size(), 1U);
    const auto all = logger->records();
    EXPECT_TRUE(std::any_of(all.begin(), all.end(), [](const LogRecord& r) {
        return r.level == "error" && r.message == "database execution failed during migration";
    }));
    weak.reset();
    weak_pool.reset();
    raw().exec("DROP SCHEMA obs_locked CASCADE");
    raw().exec("DROP ROLE obs_weak");
}

TEST_F(Observability, TheContextualLoggerSeesTheOperationsSpan) {
    auto contextual = std::make_shared<SpyContextualLogger>();
    auto tracer = std::make_shared<SpyTracer>();
    auto s = observed({pg::with_contextual_logger(contextual), pg::with_tracing(tracer)});
    s->query(t::book_filter("book-4"));
    const auto records = contextual->records();
    const auto spans = tracer->spans();
    ASSERT_EQ(records.size(), 2U);
    ASSERT_EQ(spans.size(), 1U);
    for (const auto& r : records) {
        EXPECT_EQ(r.span, spans[0]) << r.message << ": logged outside the query's span";
    }
}

TEST_F(Observability, SnapshotOperationsAreLogged) {
    auto logger = std::make_shared<SpyLogger>();
    auto s = observed({pg::with_logger(logger)});
    const auto filter = t::book_filter("book-5");
    EXPECT_FALSE(s->load_snapshot("shelf", filter).has_value());
    s->save_snapshot(eventstore::build_snapshot("shelf", filter.hash(), 7, R"({"books": 1})"));
    EXPECT_TRUE(s->load_snapshot("shelf", filter).has_value());
    s->delete_snapshot("shelf", filter);
    const auto records = logger->records();
    ASSERT_EQ(records.size(), 4U);
    EXPECT_EQ(records[0].message, "eventstore operation: snapshot not found");
    EXPECT_EQ(records[1].message, "eventstore operation: snapshot saved successfully");
    EXPECT_EQ(records[1].field("sequence_number"), "7");
    EXPECT_EQ(records[1].field("filter_hash"), filter.hash());
    EXPECT_EQ(records[2].message, "eventstore operation: snapshot loaded successfully");
    EXPECT_EQ(records[3].message, "eventstore operation: snapshot deletion completed");
    EXPECT_EQ(records[3].field("rows_affected"), "1");
    for (const auto& r : records) {
        EXPECT_EQ(r.level, "debug");
        EXPECT_EQ(r.field("projection_type"), "shelf");
        EXPECT_TRUE(r.field("duration_ms").has_value());
    }
}

// --- metrics -----------------------------------------------------------------------------------

TEST_F(Observability, AQueryAndAnAppendRecordTheWholeHierarchy) {
    auto metrics = std::make_shared<SpyMetrics>();
    auto s = observed({pg::with_metrics(metrics)});
    const auto filter = t::book_filter("book-6");
    s->query(filter);
    s->append(filter, 0, t::added_to_circulation("book-6", t::at(6)));

    const Labels query_ok{{"operation", "query"}, {"status", "success"}, {"database_target", "primary"}};
    const Labels append_ok{{"operation", "append"}, {"status", "success"}, {"database_target", "primary"}};
    EXPECT_EQ(metrics->find("eventstore_query_method_calls_total", {{"operation", "query"}}).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_append_method_calls_total", {{"operation", "append"}}).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_query_method_duration_seconds", query_ok).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_query_sql_duration_seconds", query_ok).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_append_method_duration_seconds", append_ok).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_append_sql_duration_seconds", append_ok).size(), 1U);
    const auto queried = metrics->find("eventstore_events_queried_total", query_ok);
    ASSERT_EQ(queried.size(), 1U);
    EXPECT_EQ(queried[0].kind, "value");
    EXPECT_EQ(queried[0].value, 0);
    const auto appended = metrics->find("eventstore_events_appended_total", append_ok);
    ASSERT_EQ(appended.size(), 1U);
    EXPECT_EQ(appended[0].value, 1);
    for (const char* component : {"query_build", "sql_execution", "result_processing"}) {
        EXPECT_EQ(
            metrics->find("eventstore_component_duration_seconds", {{"operation", "query"}, {"component", component}})
                .size(),
            1U)
            << component;
    }
    for (const char* component : {"query_build", "sql_execution"}) {
        EXPECT_EQ(
            metrics->find("eventstore_component_duration_seconds", {{"operation", "append"}, {"component", component}})
                .size(),
            1U)
            << component;
    }
    const auto method = metrics->find("eventstore_append_method_duration_seconds")[0].value;
    const auto sql = metrics->find("eventstore_append_sql_duration_seconds")[0].value;
    EXPECT_GT(sql, 0);
    EXPECT_LE(sql, method) << "the SQL time is part of the method time";
}

TEST_F(Observability, AConflictIsCounted) {
    auto metrics = std::make_shared<SpyMetrics>();
    add_book(store(), "book-7");
    auto s = observed({pg::with_metrics(metrics)});
    EXPECT_THROW(s->append(t::book_filter("book-7"), 0, t::lent_to_reader("book-7", "r", t::at(7))),
                 eventstore::ConcurrencyConflict);
    EXPECT_EQ(metrics
                  ->find("eventstore_concurrency_conflicts_total",
                         {{"operation", "append"}, {"conflict_type", "concurrency"}, {"database_target", "primary"}})
                  .size(),
              1U);
    EXPECT_TRUE(metrics->find("eventstore_append_method_duration_seconds").empty())
        << "a conflict is not a completed append (as in the Go engine)";
}

TEST_F(Observability, ADatabaseErrorIsCountedWithItsType) {
    auto metrics = std::make_shared<SpyMetrics>();
    auto s = observed({pg::with_metrics(metrics)}, "no_such_table");
    EXPECT_THROW(s->query(t::book_filter("x")), eventstore::Error);
    EXPECT_THROW(s->append(t::book_filter("x"), 0, t::added_to_circulation("x", t::at(1))), eventstore::Error);
    EXPECT_EQ(metrics
                  ->find("eventstore_query_method_duration_seconds",
                         {{"operation", "query"}, {"status", "error"}, {"database_target", "primary"}})
                  .size(),
              1U);
    EXPECT_EQ(metrics
                  ->find("eventstore_database_errors_total",
                         {{"operation", "query"}, {"status", "error"}, {"error_type", "database_query"}})
                  .size(),
              1U);
    EXPECT_EQ(metrics
                  ->find("eventstore_database_errors_total",
                         {{"operation", "append"}, {"status", "error"}, {"error_type", "database_exec"}})
                  .size(),
              1U);
}

TEST_F(Observability, AFilterThatCannotBecomeSqlIsABuildError) {
    auto logger = std::make_shared<SpyLogger>();
    auto metrics = std::make_shared<SpyMetrics>();
    auto s = observed({pg::with_logger(logger), pg::with_metrics(metrics)});
    const auto filter =
        eventstore::build_event_filter().matching().any_event_type_of(std::string("Book\0Added", 10)).finalize();
    EXPECT_THROW(s->query(filter), eventstore::Error);
    EXPECT_EQ(metrics
                  ->find("eventstore_database_errors_total",
                         {{"operation", "query"}, {"status", "error"}, {"error_type", "build_query"}})
                  .size(),
              1U);
    const auto records = logger->records();
    ASSERT_EQ(records.size(), 1U);
    EXPECT_EQ(records[0].level, "error");
    EXPECT_EQ(records[0].message, "failed to build select query");
}

TEST_F(Observability, ACancelledCallIsCountedAsCanceled) {
    auto metrics = std::make_shared<SpyMetrics>();
    auto tracer = std::make_shared<SpyTracer>();
    auto s = observed({pg::with_metrics(metrics), pg::with_tracing(tracer)});
    std::stop_source stop;
    stop.request_stop();
    const auto ctx = Context().with_stop_token(stop.get_token());
    EXPECT_THROW(s->query(ctx, t::book_filter("x")), eventstore::Error);
    EXPECT_THROW(s->append(ctx, t::book_filter("x"), 0, t::added_to_circulation("x", t::at(1))), eventstore::Error);
    for (const char* op : {"query", "append"}) {
        const std::string name(op);
        EXPECT_EQ(metrics->find("eventstore_" + name + "_canceled_total", {{"operation", name}, {"status", "canceled"}})
                      .size(),
                  1U)
            << op;
        EXPECT_EQ(metrics->find("eventstore_" + name + "_method_duration_seconds", {{"status", "canceled"}}).size(), 1U)
            << op;
        EXPECT_TRUE(metrics->find("eventstore_database_errors_total", {{"operation", name}}).empty()) << op;
    }
    for (const auto& span : tracer->spans()) {
        EXPECT_EQ(span->status, "error");
        EXPECT_EQ(span->finish_attributes["error_type"], "cancelled") << span->name;
    }
    EXPECT_EQ(tracer->spans().size(), 2U);
}

TEST_F(Observability, TheTargetLabelNamesTheDatabaseThatServedTheCall) {
    auto metrics = std::make_shared<SpyMetrics>();
    const std::vector<pg::Option> options{pg::with_metrics(metrics), pg::with_table_name(table()),
                                          pg::with_snapshot_table_name(snapshot_table())};
    // The replica is the same database here: only the routing decision is under test.
    auto with_replica = pg::new_event_store_from_pool_and_replica(pool(), pool(), options);
    auto without_replica = pg::new_event_store_from_pool(pool(), options);
    const auto filter = t::book_filter("book-12");
    with_replica->query(eventstore::with_eventual_consistency(), filter);
    with_replica->query(filter);
    without_replica->query(eventstore::with_eventual_consistency(), filter);
    with_replica->append(eventstore::with_eventual_consistency(), filter, 0,
                         t::added_to_circulation("book-12", t::at(12)));
    const auto target = [&](std::string_view name, std::string_view where) {
        return metrics->find(name, {{"database_target", std::string(where)}}).size();
    };
    EXPECT_EQ(target("eventstore_query_method_duration_seconds", "replica"), 1U);
    EXPECT_EQ(target("eventstore_query_method_duration_seconds", "primary"), 2U)
        << "an eventual query without a replica runs on, and is labelled, primary";
    EXPECT_EQ(target("eventstore_append_method_duration_seconds", "primary"), 1U) << "appends always go to the primary";
}

TEST_F(Observability, SnapshotOperationsAreMeasuredAndTraced) {
    auto metrics = std::make_shared<SpyMetrics>();
    auto tracer = std::make_shared<SpyTracer>();
    auto s = observed({pg::with_metrics(metrics), pg::with_tracing(tracer)});
    const auto filter = t::book_filter("book-13");
    EXPECT_FALSE(s->load_snapshot("shelf", filter).has_value());
    s->save_snapshot(eventstore::build_snapshot("shelf", filter.hash(), 3, R"({"books": 1})"));
    EXPECT_TRUE(s->load_snapshot("shelf", filter).has_value());
    s->delete_snapshot("shelf", filter);

    const Labels shelf{{"projection_type", "shelf"}, {"status", "success"}, {"database_target", "primary"}};
    EXPECT_EQ(metrics->find("eventstore_snapshot_save_duration_seconds", shelf).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_snapshot_save_total", shelf).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_snapshot_load_total", {{"result", "miss"}}).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_snapshot_load_total", {{"result", "hit"}}).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_snapshot_load_duration_seconds", {{"result", "hit"}}).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_snapshot_delete_duration_seconds", shelf).size(), 1U);

    const auto spans = tracer->spans();
    ASSERT_EQ(spans.size(), 4U);
    EXPECT_EQ(spans[0]->name, "eventstore.load_snapshot");
    EXPECT_EQ(spans[0]->finish_attributes, (Attributes{{"result", "miss"}}));
    EXPECT_EQ(spans[1]->name, "eventstore.save_snapshot");
    EXPECT_EQ(
        spans[1]->start_attributes,
        (Attributes{{"operation", "save_snapshot"}, {"projection_type", "shelf"}, {"filter_hash", filter.hash()}}));
    EXPECT_EQ(spans[2]->finish_attributes, (Attributes{{"result", "hit"}}));
    EXPECT_EQ(spans[3]->name, "eventstore.delete_snapshot");
    for (const auto& span : spans) {
        EXPECT_EQ(span->finish_status, "success") << span->name;
    }

    auto broken = pg::new_event_store_from_pool(pool(), {pg::with_metrics(metrics), pg::with_tracing(tracer),
                                                         pg::with_table_name(table()),
                                                         pg::with_snapshot_table_name("no_such_snapshots")});
    EXPECT_THROW(broken->save_snapshot(eventstore::build_snapshot("shelf", filter.hash(), 3, "{}")), eventstore::Error);
    EXPECT_EQ(metrics
                  ->find("eventstore_snapshot_save_errors_total",
                         {{"projection_type", "shelf"}, {"error_type", "database_exec"}})
                  .size(),
              1U);
    EXPECT_EQ(tracer->spans().back()->finish_status, "error");
}

TEST_F(Observability, ImportAndQueryStreamReportLikeAppendAndQuery) {
    auto logger = std::make_shared<SpyLogger>();
    auto metrics = std::make_shared<SpyMetrics>();
    auto tracer = std::make_shared<SpyTracer>();
    auto s = observed({pg::with_logger(logger), pg::with_metrics(metrics), pg::with_tracing(tracer)});
    const std::vector<eventstore::StorableEvent> events{t::added_to_circulation("book-14", t::at(14)),
                                                        t::lent_to_reader("book-14", "r", t::at(15)),
                                                        t::added_to_circulation("book-15", t::at(16))};
    s->import_events({}, events);
    std::size_t streamed = 0;
    const auto max = s->query_stream({}, t::book_filter("book-14"), [&](eventstore::StorableEvent&&) { ++streamed; });
    ASSERT_EQ(streamed, 2U);

    const auto records = logger->records();
    ASSERT_EQ(records.size(), 4U);
    EXPECT_EQ(records[0].message, "executed sql for: import");
    EXPECT_EQ(records[1].message, "eventstore operation: events imported");
    EXPECT_EQ(records[1].field("event_count"), "3");
    EXPECT_EQ(records[2].message, "executed sql for: query_stream");
    EXPECT_EQ(records[3].message, "eventstore operation: query stream completed");
    EXPECT_EQ(records[3].field("event_count"), "2");

    const auto imported = metrics->find("eventstore_events_imported_total", {{"operation", "import"}});
    ASSERT_EQ(imported.size(), 1U);
    EXPECT_EQ(imported[0].value, 3);
    const auto streamed_metric = metrics->find("eventstore_events_streamed_total", {{"operation", "query_stream"}});
    ASSERT_EQ(streamed_metric.size(), 1U);
    EXPECT_EQ(streamed_metric[0].value, 2);
    EXPECT_EQ(metrics->find("eventstore_import_method_duration_seconds", {{"status", "success"}}).size(), 1U);
    EXPECT_EQ(metrics->find("eventstore_query_stream_method_duration_seconds", {{"status", "success"}}).size(), 1U);

    const auto spans = tracer->spans();
    ASSERT_EQ(spans.size(), 2U);
    EXPECT_EQ(spans[0]->name, "eventstore.import");
    EXPECT_EQ(spans[0]->start_attributes, (Attributes{{"operation", "import"}, {"event_count", "3"}}));
    EXPECT_EQ(spans[0]->finish_attributes, (Attributes{{"rows_affected", "3"}}));
    EXPECT_EQ(spans[1]->name, "eventstore.query_stream");
    EXPECT_EQ(spans[1]->finish_attributes, (Attributes{{"event_count", "2"}, {"max_sequence", std::to_string(max)}}));
}

TEST_F(Observability, AThrowingStreamCallbackEndsTheSpanInError) {
    auto logger = std::make_shared<SpyLogger>();
    auto tracer = std::make_shared<SpyTracer>();
    add_book(store(), "book-16");
    auto s = observed({pg::with_logger(logger), pg::with_tracing(tracer)});
    EXPECT_THROW(s->query_stream({}, t::book_filter("book-16"),
                                 [](eventstore::StorableEvent&&) { throw std::runtime_error("projection bug"); }),
                 std::runtime_error);
    const auto spans = tracer->spans();
    ASSERT_EQ(spans.size(), 1U);
    EXPECT_EQ(spans[0]->finish_status, "error");
    EXPECT_EQ(spans[0]->finish_attributes["error_type"], "callback");
    const auto records = logger->records();
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(records.back().message, "event callback failed");
    EXPECT_EQ(records.back().field("error"), "projection bug");
}

TEST_F(Observability, ACallbackThrowingANonStandardExceptionStillEndsTheSpan) {
    auto tracer = std::make_shared<SpyTracer>();
    add_book(store(), "book-17");
    auto s = observed({pg::with_tracing(tracer)});
    EXPECT_THROW(s->query_stream({}, t::book_filter("book-17"), [](eventstore::StorableEvent&&) { throw 42; }), int);
    const auto spans = tracer->spans();
    ASSERT_EQ(spans.size(), 1U);
    EXPECT_TRUE(spans[0]->finished);
    EXPECT_EQ(spans[0]->finish_attributes["error_type"], "callback");
}

// --- spans -------------------------------------------------------------------------------------

TEST_F(Observability, AQueryHasASuccessfulSpan) {
    auto tracer = std::make_shared<SpyTracer>();
    add_book(store(), "book-8");
    auto s = observed({pg::with_tracing(tracer)});
    const auto [events, max] = s->query(t::book_filter("book-8"));
    const auto spans = tracer->spans();
    ASSERT_EQ(spans.size(), 1U);
    const auto& span = *spans[0];
    EXPECT_EQ(span.name, "eventstore.query");
    EXPECT_EQ(span.start_attributes, (Attributes{{"operation", "query"}}));
    EXPECT_TRUE(span.finished);
    EXPECT_EQ(span.status, "success");
    EXPECT_EQ(span.finish_status, "success");
    EXPECT_EQ(span.finish_attributes, (Attributes{{"event_count", "1"}, {"max_sequence", std::to_string(max)}}));
    EXPECT_TRUE(span.added.count("duration_ms"));
}

TEST_F(Observability, AnAppendHasASpanDescribingIt) {
    auto tracer = std::make_shared<SpyTracer>();
    auto s = observed({pg::with_tracing(tracer)});
    add_book(*s, "book-9");
    const auto spans = tracer->spans();
    ASSERT_EQ(spans.size(), 1U);
    const auto& span = *spans[0];
    EXPECT_EQ(span.name, "eventstore.append");
    EXPECT_EQ(span.start_attributes, (Attributes{{"operation", "append"},
                                                 {"event_count", "1"},
                                                 {"expected_seq", "0"},
                                                 {"event_type", "BookCopyAddedToCirculation"}}));
    EXPECT_EQ(span.finish_status, "success");
    EXPECT_EQ(span.finish_attributes, (Attributes{{"rows_affected", "1"}}));
}

TEST_F(Observability, AConflictEndsTheSpanInError) {
    auto tracer = std::make_shared<SpyTracer>();
    add_book(store(), "book-10");
    auto s = observed({pg::with_tracing(tracer)});
    EXPECT_THROW(s->append(t::book_filter("book-10"), 0, t::lent_to_reader("book-10", "r", t::at(10))),
                 eventstore::ConcurrencyConflict);
    const auto spans = tracer->spans();
    ASSERT_EQ(spans.size(), 1U);
    EXPECT_EQ(spans[0]->status, "error");
    EXPECT_EQ(spans[0]->finish_status, "error");
    EXPECT_EQ(spans[0]->finish_attributes["error_type"], "concurrency_conflict");
}

TEST_F(Observability, ADatabaseErrorEndsTheSpanInError) {
    auto tracer = std::make_shared<SpyTracer>();
    auto s = observed({pg::with_tracing(tracer)}, "no_such_table");
    EXPECT_THROW(s->query(t::book_filter("x")), eventstore::Error);
    EXPECT_THROW(s->append(t::book_filter("x"), 0, t::added_to_circulation("x", t::at(1))), eventstore::Error);
    const auto spans = tracer->spans();
    ASSERT_EQ(spans.size(), 2U);
    EXPECT_EQ(spans[0]->finish_attributes["error_type"], "database_query");
    EXPECT_EQ(spans[1]->finish_status, "error");
    EXPECT_EQ(spans[1]->finish_attributes["error_type"], "database_exec");
    EXPECT_TRUE(spans[1]->added.count("duration_ms"));
}

// --- robustness --------------------------------------------------------------------------------

TEST_F(Observability, HooksThatThrowChangeNothing) {
    auto hooks = std::make_shared<ThrowingHooks>();
    auto s = observed({pg::with_logger(hooks), pg::with_metrics(hooks), pg::with_tracing(hooks)});
    const auto filter = t::book_filter("book-11");
    s->append(filter, 0, t::added_to_circulation("book-11", t::at(11)));
    EXPECT_EQ(s->query(filter).events.size(), 1U);
    EXPECT_THROW(s->append(filter, 0, t::lent_to_reader("book-11", "r", t::at(12))), eventstore::ConcurrencyConflict);
    auto missing = observed({pg::with_logger(hooks), pg::with_metrics(hooks)}, "no_such_table");
    const auto error = t::thrown_error([&] { missing->query(filter); });
    ASSERT_TRUE(error.has_value());
    EXPECT_TRUE(error->is(eventstore::Errc::querying_events_failed)) << t::describe(error);
}

} // namespace
