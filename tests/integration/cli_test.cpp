// The eventstore program's subcommands against a real server: on streams of the test's own (the
// commands library), and the installed executable for its exit codes and messages.

#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.hpp"
#include "fixture.hpp"
#include "ndjson.hpp"

namespace {

using eventstore::cli::FilterFlags;
using eventstore::cli::Progress;
using eventstore::cli::Target;

class Cli : public eventstore::test::StoreTest {
protected:
    [[nodiscard]] Target target() const { return Target{conninfo(), table()}; }

    // The command's exit code, standard output and standard error, with `input` on standard input.
    struct Run {
        int code;
        std::string out;
        std::string err;
    };
    template <typename Command>
    static Run run(Command command, const std::string& input = "") {
        std::istringstream in(input);
        std::ostringstream out;
        std::ostringstream err;
        const int code = command(in, out, err);
        return {code, out.str(), err.str()};
    }

    Run append(const std::string& lines, bool atomic = false) const {
        return run([&](std::istream& in, std::ostream& out,
                       std::ostream& err) { return eventstore::cli::run_append(target(), atomic, in, out, err); },
                   lines);
    }
    static Run query(const FilterFlags& flags, const Target& where) {
        return run([&](std::istream& /*in*/, std::ostream& out, std::ostream& err) {
            return eventstore::cli::run_query(where, flags, out, err);
        });
    }
    Run query(const FilterFlags& flags = {}) const { return query(flags, target()); }

    // The program itself, through the shell: "eventstore <arguments>" with `input` piped in.
    static Run program(const std::string& arguments, const std::string& input = "") {
        const std::string command = "printf '%s' '" + input + "' | " EVENTSTORE_PROGRAM " " + arguments + " 2>&1";
        std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
        std::string out;
        std::array<char, 4096> buffer{};
        std::size_t n = 0;
        while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe.get())) > 0) {
            out.append(buffer.data(), n);
        }
        const int status = ::pclose(pipe.release());
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, out};
    }
};

std::size_t lines_in(const std::string& text) {
    std::size_t n = 0;
    for (const char c : text) {
        n += c == '\n' ? 1 : 0;
    }
    return n;
}

constexpr const char* three_events =
    R"({"type":"Opened","tags":["account:1"],"payload":{"id":"1","limit":12345678901234567890.5},"occurred_at":"2026-11-29T21:15:12.123456Z"}
{"type":"Deposited","tags":["account:1","teller:t"],"payload":{"id":"1","amount":5},"metadata":{"by":"t"},"id":"0198c0de-0000-7000-8000-000000000001","occurred_at":"2026-11-29T21:16:00Z"}
{"type":"Opened","tags":["account:2"],"payload":{"id":"2"}}
)";

TEST_F(Cli, AppendsEachLineAndQueriesWithTheFilterFlags) {
    const Run appended = append(three_events);
    ASSERT_EQ(appended.code, 0) << appended.err;
    EXPECT_EQ(appended.out, "{\"position\":1,\"already_stored\":false}\n{\"position\":2,\"already_stored\":false}\n"
                            "{\"position\":3,\"already_stored\":false}\n");
    EXPECT_EQ(lines_in(query().out), 3U);
    EXPECT_EQ(lines_in(query({.types = {"Opened"}}).out), 2U);
    EXPECT_EQ(lines_in(query({.tags = {"account:1", "teller:t"}}).out), 1U);
    EXPECT_EQ(lines_in(query({.where = {"id=2", "id=1"}}).out), 3U);
    EXPECT_EQ(lines_in(query({.where = {"id=1", "amount=5"}, .all_where = true}).out), 0U); // 5 is a number
    EXPECT_EQ(lines_in(query({.after = 1}).out), 2U);
    const Run newest = query({.limit = 1, .backwards = true});
    EXPECT_EQ(newest.out.rfind("{\"position\":3,", 0), 0U) << newest.out;
    EXPECT_EQ(lines_in(query({.occurred_from = "2026-11-29T21:15:30Z", .occurred_until = "2026-11-29T21:17:00Z"}).out),
              1U);
    const Run bad = query({.where = {"id"}});
    EXPECT_EQ(bad.code, eventstore::cli::exit_usage);
    EXPECT_EQ(bad.err, "eventstore: --where id: expected KEY=VALUE\n");
    // The same line again, with its id: an idempotent retry.
    const Run again = append(
        R"({"type":"Deposited","tags":["account:1","teller:t"],"payload":{"id":"1","amount":5},"id":"0198c0de-0000-7000-8000-000000000001"})");
    EXPECT_EQ(again.out, "{\"position\":2,\"already_stored\":true}\n");
}

TEST_F(Cli, ABadLineWritesNothingAndSaysWhichLine) {
    const Run bad = append(std::string(three_events) + "{\"type\":\"Closed\"}\n", true);
    EXPECT_EQ(bad.code, eventstore::cli::exit_bad_input);
    EXPECT_EQ(bad.err, "eventstore: line 4: no \"payload\" (an event's payload is a JSON object, {} when it has none) "
                       "(nothing was written)\n");
    EXPECT_EQ(count_rows(), 0);
    // A line the library refuses (a tag it cannot store) in an atomic append: nothing either.
    const Run refused = append(std::string(three_events) + "{\"type\":\"T\",\"payload\":{},\"tags\":[\"\"]}\n", true);
    EXPECT_EQ(refused.code, eventstore::cli::exit_failed);
    EXPECT_EQ(count_rows(), 0);
    const Run atomic = append(three_events, true);
    EXPECT_EQ(atomic.out, "{\"events\":3,\"last_position\":3,\"already_stored\":false}\n");
}

// Progress (forced, as --progress does) on its own stream: the lines read, then the import's own line,
// rubbed out for the summary on standard error.
TEST_F(Cli, ImportShowsProgressAndEndsOnACleanLine) {
    std::string lines;
    for (int i = 0; i < 30000; ++i) {
        lines += R"({"type":"Imported","tags":["n:)" + std::to_string(i % 10) + R"("],"payload":{"i":)" +
                 std::to_string(i) + "}}\n";
    }
    std::istringstream in(lines);
    std::ostringstream progress;
    std::ostringstream err;
    ASSERT_EQ(eventstore::cli::run_import(target(), in, err, Progress{.enabled = true, .out = &progress}), 0)
        << err.str();
    EXPECT_NE(progress.str().find("read 30000 events in "), std::string::npos) << progress.str();
    EXPECT_NE(progress.str().find("; importing"), std::string::npos) << progress.str();
    EXPECT_EQ(progress.str().back(), '\r') << progress.str(); // the watch's line rubbed out
    // Any line the watch wrote counts the events inserted so far, never more than there are.
    for (std::size_t at = progress.str().find("imported "); at != std::string::npos;
         at = progress.str().find("imported ", at + 1)) {
        EXPECT_LE(std::stoul(progress.str().substr(at + 9)), 30000U) << progress.str();
    }
    EXPECT_NE(err.str().find("imported 30000 events in"), std::string::npos) << err.str();
    EXPECT_EQ(count_rows(), 30000);
}

// export | import into another table reproduces the log: types, tags, payloads, metadata, times, ids
// and order.
TEST_F(Cli, ExportThenImportReproducesTheLog) {
    ASSERT_EQ(append(three_events).code, 0);
    const Run exported = run([&](std::istream& /*in*/, std::ostream& out, std::ostream& err) {
        return eventstore::cli::run_export(target(), {}, out, err, Progress{});
    });
    ASSERT_EQ(exported.code, 0) << exported.err;
    const Target copy{conninfo(), table() + "_copy"};
    std::ostringstream ignored;
    ASSERT_EQ(eventstore::cli::run_migrate(copy, false, ignored, ignored), 0) << ignored.str();
    const Run imported = run([&](std::istream& in, std::ostream& /*out*/,
                                 std::ostream& err) { return eventstore::cli::run_import(copy, in, err, Progress{}); },
                             exported.out);
    ASSERT_EQ(imported.code, 0) << imported.err;
    EXPECT_NE(imported.err.find("imported 3 events"), std::string::npos) << imported.err;
    EXPECT_EQ(query({}, copy).out, exported.out);
    const auto original = store().query(eventstore::Filter()).events;
    const auto copied =
        eventstore::postgres::new_event_store_from_pool(pool(), eventstore::postgres::with_table_name(copy.table))
            ->query(eventstore::Filter())
            .events;
    EXPECT_EQ(original, copied);
}

TEST_F(Cli, PrintSqlIsTheSchemaThatMigrateWouldCreate) {
    const Target fresh{conninfo(), "printed_" + table()};
    std::ostringstream sql;
    std::ostringstream err;
    ASSERT_EQ(eventstore::cli::run_migrate(fresh, true, sql, err), 0) << err.str();
    EXPECT_NE(sql.str().find("CREATE TABLE"), std::string::npos) << sql.str();
    raw().exec(sql.str());
    // migrate() finds everything in place: it needs no privilege then, as a role that may create nothing.
    const std::string reader = "cli_reader_" + std::to_string(::getpid());
    raw().exec("CREATE ROLE " + reader + " NOLOGIN");
    EXPECT_NO_THROW(eventstore::postgres::new_event_store_from_pool(
                        eventstore::postgres::ConnectionPool::create(conninfo() + " options='-c role=" + reader + "'"),
                        eventstore::postgres::with_table_name(fresh.table))
                        ->migrate());
}

TEST_F(Cli, StatsCountEventsPerType) {
    ASSERT_EQ(append(three_events).code, 0);
    std::ostringstream out;
    std::ostringstream err;
    ASSERT_EQ(eventstore::cli::run_stats(target(), true, out, err), 0) << err.str();
    const auto stats = nlohmann::json::parse(out.str());
    EXPECT_EQ(stats["events"], 3);
    EXPECT_EQ(stats["newest_position"], 3);
    EXPECT_EQ(stats["types"], nlohmann::json::parse(R"({"Opened":2,"Deposited":1})"));
    EXPECT_EQ(stats["type_count"], 2);
    EXPECT_GT(stats["index_bytes"].get<std::int64_t>(), 0);
    EXPECT_GE(stats["total_bytes"].get<std::int64_t>(),
              stats["table_bytes"].get<std::int64_t>() + stats["index_bytes"].get<std::int64_t>());
    std::ostringstream text;
    ASSERT_EQ(eventstore::cli::run_stats(target(), false, text, err), 0) << err.str();
    EXPECT_NE(text.str().find("events per type\n  2\tOpened\n  1\tDeposited\n"), std::string::npos) << text.str();
    std::ostringstream missing;
    EXPECT_EQ(eventstore::cli::run_stats(Target{conninfo(), "no_such_table"}, false, text, missing), 1);
    EXPECT_NE(missing.str().find("run `eventstore migrate`"), std::string::npos) << missing.str();
}

// A stream that counts its flushes: tail flushes once per event line.
class FlushCounter : public std::stringbuf {
public:
    std::atomic<int> flushes{0};

protected:
    int sync() override {
        ++flushes;
        return std::stringbuf::sync();
    }
};

TEST_F(Cli, TailPrintsTheMatchesThenFollowsUntilStopped) {
    ASSERT_EQ(append(three_events).code, 0);
    FlushCounter buffer;
    std::ostream out(&buffer);
    std::ostringstream err;
    std::stop_source stop;
    int code = -1;
    std::thread tail([&] {
        code = eventstore::cli::run_tail(target(), {.types = {"Opened", "Closed"}, .after = 1},
                                         eventstore::Context().with_stop_token(stop.get_token()), out, err);
    });
    ASSERT_EQ(append(R"({"type":"Closed","payload":{"id":"2"}})").code, 0);
    ASSERT_EQ(append(R"({"type":"Deposited","payload":{"id":"2"}})").code, 0); // not a match
    const bool followed =
        eventstore::test::eventually([&] { return buffer.flushes.load() >= 2; }, std::chrono::seconds(10));
    stop.request_stop();
    tail.join();
    ASSERT_TRUE(followed) << err.str();
    EXPECT_EQ(code, 0) << err.str();
    const std::string lines = buffer.str();
    EXPECT_EQ(lines_in(lines), 2U) << lines;
    EXPECT_EQ(lines.rfind("{\"position\":3,\"type\":\"Opened\"", 0), 0U) << lines;
    EXPECT_NE(lines.find("{\"position\":4,\"type\":\"Closed\""), std::string::npos) << lines;
    const Run flags = run([&](std::istream& /*in*/, std::ostream& o, std::ostream& e) {
        return eventstore::cli::run_tail(target(), {.limit = 1}, eventstore::Context(), o, e);
    });
    EXPECT_EQ(flags.code, eventstore::cli::exit_usage);
}

TEST_F(Cli, TheProgramSaysWhatToDoNext) {
    const Run missing = program("query --dsn '" + conninfo() + "' --table no_such_table");
    EXPECT_EQ(missing.code, eventstore::cli::exit_failed);
    EXPECT_NE(missing.out.find("run `eventstore migrate`"), std::string::npos) << missing.out;
    const Run usage = program("query --limit many");
    EXPECT_EQ(usage.code, eventstore::cli::exit_usage) << usage.out;
    EXPECT_NE(usage.out.find("--limit"), std::string::npos) << usage.out;
    const Run none = program("");
    EXPECT_EQ(none.code, eventstore::cli::exit_usage) << none.out;
    const Run appended =
        program("append --dsn '" + conninfo() + "' --table " + table(), R"({"type":"Opened","payload":{"id":"9"}})");
    EXPECT_EQ(appended.code, 0) << appended.out;
    EXPECT_EQ(appended.out, "{\"position\":1,\"already_stored\":false}\n");
    // tail until SIGTERM: the events so far, and a normal end.
    const Run tailed =
        program("tail --dsn '" + conninfo() + "' --table " + table() + " & sleep 1; kill -TERM $!; wait $!");
    EXPECT_EQ(tailed.code, 0) << tailed.out;
    EXPECT_EQ(tailed.out.rfind("{\"position\":1,\"type\":\"Opened\"", 0), 0U) << tailed.out;
}

} // namespace
