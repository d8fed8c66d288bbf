// eventstore::make_spdlog_logger: records reach the spdlog logger at the store's level, with their
// fields in logfmt (quoted where needed) and the trace and span ids of the Context's traceparent;
// records below the logger's level are not formatted at all.

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <eventstore/context.hpp>
#include <eventstore/spdlog.hpp>

namespace {

using eventstore::Context;

// Keeps each record's level and text.
class Sink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    struct Record {
        spdlog::level::level_enum level;
        std::string text;
    };
    std::vector<Record> records;

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        records.push_back({msg.level, std::string(msg.payload.data(), msg.payload.size())});
    }
    void flush_() override {}
};

struct Fixture {
    std::shared_ptr<Sink> sink = std::make_shared<Sink>();
    std::shared_ptr<spdlog::logger> spd = std::make_shared<spdlog::logger>("store", sink);
    std::shared_ptr<eventstore::ContextualLogger> logger = eventstore::make_spdlog_logger(spd);
};

TEST(SpdlogLogger, LevelsMessageAndFields) {
    Fixture f;
    f.spd->set_level(spdlog::level::trace);
    f.logger->debug(Context(), "executed sql for: query", {{"duration_ms", "0.412"}, {"query", "SELECT 1"}});
    f.logger->info(Context(), "eventstore operation: concurrency conflict detected", {{"expected_sequence", "7"}});
    f.logger->warn(Context(), "w", {{"error", "say \"no\"\\ now\nthen"}, {"empty", ""}});
    f.logger->error(Context(), "e", {});
    f.logger->info(Context(), "c", {{"control", "a\tb\x01"}});
    ASSERT_EQ(f.sink->records.size(), 5U);
    EXPECT_EQ(f.sink->records[0].level, spdlog::level::debug);
    EXPECT_EQ(f.sink->records[0].text, "executed sql for: query duration_ms=0.412 query=\"SELECT 1\"");
    EXPECT_EQ(f.sink->records[1].level, spdlog::level::info);
    EXPECT_EQ(f.sink->records[1].text, "eventstore operation: concurrency conflict detected expected_sequence=7");
    EXPECT_EQ(f.sink->records[2].level, spdlog::level::warn);
    EXPECT_EQ(f.sink->records[2].text, "w error=\"say \\\"no\\\"\\\\ now\\nthen\" empty=\"\"");
    EXPECT_EQ(f.sink->records[3].level, spdlog::level::err);
    EXPECT_EQ(f.sink->records[3].text, "e");
    // Control characters are escaped, never written raw into the line.
    EXPECT_EQ(f.sink->records[4].text, "c control=\"a\\tb\\u0001\"");
}

TEST(SpdlogLogger, TraceAndSpanIdsFromTheContext) {
    Fixture f;
    const Context ctx = Context().with_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    f.logger->info(ctx, "m", {{"k", "v"}});
    ASSERT_EQ(f.sink->records.size(), 1U);
    EXPECT_EQ(f.sink->records[0].text, "m k=v trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7");
}

TEST(SpdlogLogger, RecordsBelowTheLevelAreDropped) {
    Fixture f;
    f.spd->set_level(spdlog::level::info);
    f.logger->debug(Context(), "hidden", {{"k", "v"}});
    f.logger->info(Context(), "shown", {});
    ASSERT_EQ(f.sink->records.size(), 1U);
    EXPECT_EQ(f.sink->records[0].text, "shown");
}

TEST(SpdlogLogger, ANullLoggerIsRefused) {
    EXPECT_THROW((void)eventstore::make_spdlog_logger(nullptr), std::invalid_argument);
}

} // namespace
