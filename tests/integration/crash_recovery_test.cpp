// The crash test: writer threads append batches while the server is killed with SIGKILL and started
// again, several times, all on one store and one pool. Afterwards the table, read through a plain libpq
// session rather than the store, must show that:
//   - every acknowledged append is there, each of its events once, all of them, in argument order;
//   - no append is there in part, and no event is there twice;
//   - an append that failed without being in doubt left nothing (nothing was sent, or the server
//     rolled it back); an in-doubt append is there whole or not at all (both are counted);
//   - every writer appended again after every restart, through the same store and pool.
// Each writer reads and appends on a boundary of its own (its "writer" member), so no append of one
// writer can conflict with another's; a conflict would mean a lost or doubled write.
//
// The server is a cluster of this process's own (OWN_SERVER in tests/CMakeLists.txt), with PostgreSQL's
// own durability settings (ServerOptions::crash_safe): a kill loses no acknowledged commit. With fsync
// on, a commit's WAL is written some time before the fsync its reply waits for, so some kills fall in
// between and leave commits whose writers never heard of them: in-doubt appends that committed.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixture.hpp"

namespace {

using namespace std::chrono_literals;
using eventstore::build_event_filter;
using eventstore::Context;
using eventstore::Errc;
using eventstore::Error;
using eventstore::Filter;
using eventstore::P;
using eventstore::SequenceNumber;
using eventstore::StorableEvent;
using eventstore::test::CrashKind;
using eventstore::test::describe;
using eventstore::test::PgSession;
using eventstore::test::PostgresServer;

constexpr int writer_count = 4;
constexpr int crash_count = 12;
// Taken in turn: a server killed outright, one shut down immediately, one that loses a backend.
constexpr std::array<CrashKind, 3> crash_kinds{CrashKind::kill_all, CrashKind::immediate_shutdown,
                                               CrashKind::kill_backend};
// Longer than any call takes while the server is up; a call cut short by it has written nothing.
constexpr auto call_timeout = 10s;
// How long the server stays dead: the writers meet a missing server, not only dropped connections.
constexpr auto down_time = 200ms;
// How long the writers may take to append again after a restart before the test gives up.
constexpr auto recovery_limit = 60s;

// An append that failed may have committed when, and only when, the library says so.
bool may_have_committed(const Error& e) { return e.is(Errc::in_doubt); }

enum class Outcome { acknowledged, in_doubt, failed, conflict };

struct Attempt {
    std::string batch; // "w<writer>-<number>"; its events' ids are "<batch>-<index>"
    std::size_t size = 0;
    Outcome outcome = Outcome::failed;
    std::string error; // for failures
};

struct Writer {
    std::vector<Attempt> attempts;
    int failed_queries = 0;
    // The latest server incarnation (0: before the first crash) in which an append of this writer
    // started and was acknowledged.
    std::atomic<int> acknowledged_in{-1};
};

Filter writer_filter(int writer) {
    return build_event_filter().matching().any_predicate_of(P("writer", "w" + std::to_string(writer))).finalize();
}

void run_writer(eventstore::EventStore& store, int number, Writer& writer, const std::atomic<int>& incarnation,
                const std::atomic<bool>& stop) {
    const Filter filter = writer_filter(number);
    std::mt19937 rng(static_cast<unsigned>(7000 + number));
    for (int batch_number = 0; !stop.load(); ++batch_number) {
        const int started_in = incarnation.load();
        SequenceNumber max = 0;
        try {
            max = store.query(Context().with_timeout(call_timeout), filter).max_sequence_number;
        } catch (const Error&) {
            ++writer.failed_queries;
            std::this_thread::sleep_for(10ms); // the server is away: do not spin
            continue;
        }
        Attempt attempt;
        attempt.batch = "w" + std::to_string(number) + "-" + std::to_string(batch_number);
        attempt.size = std::uniform_int_distribution<std::size_t>(2, 5)(rng);
        std::vector<StorableEvent> events;
        for (std::size_t i = 0; i < attempt.size; ++i) {
            const std::string id = attempt.batch + "-" + std::to_string(i);
            events.push_back(eventstore::build_storable_event_with_empty_metadata(
                "CrashTestEvent", std::chrono::system_clock::now(),
                nlohmann::ordered_json{{"writer", "w" + std::to_string(number)}, {"batch", attempt.batch}, {"id", id}}
                    .dump()));
        }
        try {
            store.append(Context().with_timeout(call_timeout), filter, max, events);
            attempt.outcome = Outcome::acknowledged;
            writer.acknowledged_in.store(std::max(writer.acknowledged_in.load(), started_in));
        } catch (const eventstore::ConcurrencyConflict& e) {
            attempt.outcome = Outcome::conflict;
            attempt.error = describe(e);
        } catch (const Error& e) {
            attempt.outcome = may_have_committed(e) ? Outcome::in_doubt : Outcome::failed;
            attempt.error = describe(e);
            std::this_thread::sleep_for(10ms);
        }
        writer.attempts.push_back(std::move(attempt));
    }
}

// Waits until every writer has had an append acknowledged that started in `incarnation`.
bool all_appended_in(const std::vector<Writer>& writers, int incarnation) {
    const auto limit = std::chrono::steady_clock::now() + recovery_limit;
    while (std::chrono::steady_clock::now() < limit) {
        if (std::all_of(writers.begin(), writers.end(),
                        [&](const Writer& w) { return w.acknowledged_in.load() >= incarnation; })) {
            return true;
        }
        std::this_thread::sleep_for(5ms);
    }
    return false;
}

const char* crash_name(CrashKind kind) {
    switch (kind) {
    case CrashKind::kill_all:
        return "SIGKILL to every server process";
    case CrashKind::immediate_shutdown:
        return "immediate shutdown";
    case CrashKind::kill_backend:
        return "SIGKILL to one backend";
    }
    return "?";
}

long long milliseconds(std::chrono::steady_clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

struct StoredEvent {
    SequenceNumber sequence_number = 0;
    std::string batch;
    std::string id;
};

TEST(CrashRecovery, AcknowledgedAppendsSurviveSigkillAndNothingIsPartial) {
    PostgresServer server(eventstore::test::ServerOptions{.own_cluster = true, .crash_safe = true});
    const std::string conninfo = server.create_database("crash");
    const std::string table = "crash_events";
    auto pool = eventstore::postgres::ConnectionPool::create(conninfo, {.max_connections = writer_count});
    auto store = eventstore::postgres::new_event_store_from_pool(pool, eventstore::postgres::with_table_name(table));
    store->migrate();

    std::vector<Writer> writers(writer_count);
    std::atomic<int> incarnation{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    const auto started = std::chrono::steady_clock::now();
    for (int w = 0; w < writer_count; ++w) {
        threads.emplace_back(
            [&, w] { run_writer(*store, w, writers[static_cast<std::size_t>(w)], incarnation, stop); });
    }
    std::ostringstream timeline;
    bool recovered = all_appended_in(writers, 0);
    for (int crash = 1; recovered && crash <= crash_count; ++crash) {
        // Let the writers run a little, for a kill at some other point of their calls each time.
        std::this_thread::sleep_for(std::chrono::milliseconds(150 + 50 * (crash % 7)));
        const CrashKind kind = crash_kinds[static_cast<std::size_t>(crash) % crash_kinds.size()];
        const auto killed = std::chrono::steady_clock::now();
        server.crash(kind);
        if (kind != CrashKind::kill_backend) { // that one the server survives by itself
            std::this_thread::sleep_for(down_time);
            server.restart();
        }
        const auto up = std::chrono::steady_clock::now();
        incarnation.store(crash);
        recovered = all_appended_in(writers, crash);
        timeline << "  crash " << crash << " (" << crash_name(kind) << "): restarted after "
                 << milliseconds(up - killed) << " ms, every writer appended again "
                 << milliseconds(std::chrono::steady_clock::now() - up) << " ms later\n";
    }
    stop.store(true);
    for (auto& t : threads) {
        t.join();
    }
    const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ASSERT_TRUE(recovered) << "the writers did not append again within "
                           << std::chrono::duration_cast<std::chrono::seconds>(recovery_limit).count()
                           << " s after a restart";

    // The table as it is, read without the library.
    PgSession raw(conninfo);
    const auto rows = raw.exec("SELECT sequence_number, payload->>'batch', payload->>'id' FROM " + table +
                               " ORDER BY sequence_number")
                          .all();
    std::vector<StoredEvent> stored;
    std::set<std::string> ids;
    std::map<std::string, std::vector<const StoredEvent*>> by_batch;
    stored.reserve(rows.size());
    for (const auto& row : rows) {
        ASSERT_EQ(row.size(), 3U);
        ASSERT_TRUE(row[0] && row[1] && row[2]) << "an event without batch or id";
        stored.push_back({std::stoull(*row[0]), *row[1], *row[2]});
        EXPECT_TRUE(ids.insert(*row[2]).second) << "event " << *row[2] << " stored twice";
    }
    for (const auto& e : stored) {
        by_batch[e.batch].push_back(&e);
    }

    int acknowledged = 0;
    int in_doubt_committed = 0;
    int in_doubt_absent = 0;
    int failed = 0;
    std::size_t acknowledged_events = 0;
    std::map<std::string, int> failure_kinds; // error description without the server's message
    std::set<std::string> known_batches;
    for (std::size_t w = 0; w < writers.size(); ++w) {
        SequenceNumber previous_batch_end = 0;
        for (const Attempt& a : writers[w].attempts) {
            known_batches.insert(a.batch);
            const auto found = by_batch.find(a.batch);
            const std::size_t present = found == by_batch.end() ? 0 : found->second.size();
            if (a.outcome != Outcome::acknowledged) {
                failure_kinds[a.error.substr(0, a.error.find(':'))]++;
            }
            switch (a.outcome) {
            case Outcome::acknowledged:
                ++acknowledged;
                acknowledged_events += a.size;
                EXPECT_EQ(present, a.size) << "acknowledged append " << a.batch << " is not all there";
                break;
            case Outcome::in_doubt:
                EXPECT_TRUE(present == 0 || present == a.size)
                    << "in-doubt append " << a.batch << " is there in part (" << present << " of " << a.size << ")";
                ++(present == 0 ? in_doubt_absent : in_doubt_committed);
                break;
            case Outcome::failed:
                ++failed;
                EXPECT_EQ(present, 0U) << "append " << a.batch << " failed (" << a.error
                                       << ") without being in doubt, yet left events";
                break;
            case Outcome::conflict:
                ADD_FAILURE() << "append " << a.batch << " conflicted on its writer's own boundary: " << a.error;
                break;
            }
            if (present == 0) {
                continue;
            }
            // In argument order, and after the writer's earlier appends (one thread, one call at a time).
            const auto& events = found->second;
            for (std::size_t i = 0; i < events.size(); ++i) {
                EXPECT_EQ(events[i]->id, a.batch + "-" + std::to_string(i)) << "append " << a.batch << " out of order";
            }
            EXPECT_GT(events.front()->sequence_number, previous_batch_end)
                << "append " << a.batch << " is numbered before an earlier append of its writer";
            previous_batch_end = events.back()->sequence_number;
        }
    }
    for (const auto& [batch, events] : by_batch) {
        EXPECT_TRUE(known_batches.count(batch) == 1) << "events of an append nobody made: " << batch;
    }

    // The same store, on the same pool, reads what the table holds.
    const auto through_store = store->query(Context().with_timeout(call_timeout), Filter());
    EXPECT_EQ(through_store.events.size(), stored.size());
    EXPECT_EQ(through_store.max_sequence_number, stored.empty() ? 0 : stored.back().sequence_number);

    int failed_queries = 0;
    for (const auto& w : writers) {
        failed_queries += w.failed_queries;
    }
    std::cout << "crash test: " << crash_count << " crashes in " << static_cast<int>(seconds) << " s; " << acknowledged
              << " acknowledged appends (" << acknowledged_events << " events), "
              << in_doubt_committed + in_doubt_absent << " in doubt (" << in_doubt_committed << " committed, "
              << in_doubt_absent << " not), " << failed << " failed with nothing written, " << failed_queries
              << " failed queries; " << stored.size() << " events stored\n";
    std::cout << timeline.str();
    for (const auto& [kind, count] : failure_kinds) {
        std::cout << "  " << count << " x " << kind << '\n';
    }
    // Every crash ends every connection, so each fails at least one call, or the test proved nothing.
    EXPECT_GE(in_doubt_committed + in_doubt_absent + failed + failed_queries, crash_count);
}

} // namespace
