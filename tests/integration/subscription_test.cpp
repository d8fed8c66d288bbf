// EventStore::subscribe: every matching event above the start position, ascending, each exactly once,
// with nothing skipped, during catch-up and live, with writers running at the same time; how it ends
// (stop token, deadline, an exception from the callback) and what the store is like afterwards; what
// it holds between reads (nothing: a callback may use the store, an exhausted pool is waited out) and
// where it reads (the primary); backends terminated under it. The oracle is the final log: once the
// writers are done, what a subscription delivered must be exactly the log's matching events, in order,
// read back through a whole-log query and matched in C++. Server restarts are in
// subscription_restart_test.cpp (a server of its own).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <optional>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixture.hpp"
#include "postgres/lock_keys.hpp"
#include "protocol_writer.hpp"
#include "subscription_support.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::test;
using namespace eventstore::test::subscription;
using postgres::SubscribeOptions;

struct ProjectionFailed : std::runtime_error {
    using std::runtime_error::runtime_error;
};

SubscribeOptions batches_of(std::size_t size) {
    SubscribeOptions options;
    options.batch_size = size;
    return options;
}

class Subscriptions : public StoreTest {
protected:
    // Appends `in_feed` events of the feed and `others` not in it, shuffled, in appends of at most 250.
    void preload(Writer& writer, std::size_t in_feed, std::size_t others, unsigned seed) {
        std::vector<Kind> kinds;
        for (std::size_t i = 0; i < in_feed; ++i) {
            kinds.push_back(i % 2 == 0 ? Kind::tagged : Kind::flagged);
        }
        for (std::size_t i = 0; i < others; ++i) {
            kinds.push_back(i % 2 == 0 ? Kind::other_tagged : Kind::plain);
        }
        std::mt19937 rng(seed);
        std::shuffle(kinds.begin(), kinds.end(), rng);
        for (std::size_t from = 0; from < kinds.size(); from += 250) {
            const auto to = std::min(kinds.size(), from + 250);
            ASSERT_TRUE(writer.append(store(),
                                      std::vector<Kind>(kinds.begin() + static_cast<std::ptrdiff_t>(from),
                                                        kinds.begin() + static_cast<std::ptrdiff_t>(to)),
                                      Clock::now() + 30s));
        }
    }

    // The whole log, ascending.
    std::vector<StorableEvent> final_log() { return store().query(Context().with_timeout(30s), Filter()).events; }

    // Writer threads appending 1 to 5 events at a time (half of the appends one event), each event in
    // the feed with probability 60 %, with pauses of up to `max_pause`, until `stop`.
    std::vector<std::thread> start_writers(std::vector<Writer>& writers, const std::atomic<bool>& stop,
                                           std::chrono::microseconds max_pause) {
        std::vector<std::thread> threads;
        for (std::size_t w = 0; w < writers.size(); ++w) {
            threads.emplace_back([&, w, max_pause] {
                std::mt19937 rng(static_cast<unsigned>(100 + w));
                while (!stop.load()) {
                    std::vector<Kind> kinds(rng() % 2 == 0 ? 1U : 2U + rng() % 4);
                    for (Kind& kind : kinds) {
                        kind = random_kind(rng);
                    }
                    if (!writers[w].append(store(), kinds, Clock::now() + 30s)) {
                        return;
                    }
                    std::this_thread::sleep_for(
                        std::chrono::microseconds(rng() % static_cast<unsigned>(max_pause.count() + 1)));
                }
            });
        }
        return threads;
    }

    // Ends every other client session of the test database (the store's pooled connections, whatever
    // they are doing); returns how many.
    int terminate_other_backends() {
        return std::stoi(raw()
                             .scalar("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                                     "WHERE datname = current_database() AND pid <> pg_backend_pid() AND "
                                     "backend_type = 'client backend'")
                             .value_or("0"));
    }

    // Every pooled connection is back in the pool, within a moment: the store's log watcher may be
    // finishing a sample of the log's head (it samples only while a subscription runs).
    [[nodiscard]] bool pool_is_idle() const {
        const auto until = Clock::now() + 500ms;
        while (pool()->idle_connections() != pool()->open_connections()) {
            if (Clock::now() > until) {
                return false;
            }
            std::this_thread::sleep_for(1ms);
        }
        return true;
    }
};

// --- the oracle: concurrent writers, catch-up and live ---------------------------------------------------

TEST_F(Subscriptions, ConcurrentWritersEveryMatchingEventOnceInOrder) {
    // Enough stored events for a catch-up of many batches, which the writers then race.
    constexpr std::size_t preloaded = 3000;
    Writer loader("preload", 1);
    preload(loader, preloaded, 600, 1);

    const auto started = Clock::now();
    Subscription sub(store(), feed_filter(), 0, batches_of(100));
    std::vector<Writer> writers;
    for (int w = 0; w < 4; ++w) {
        writers.emplace_back("w" + std::to_string(w), static_cast<std::uint64_t>(w + 1) * 1'000'000);
    }
    std::atomic<bool> stop{false};
    auto threads = start_writers(writers, stop, 3000us);
    std::this_thread::sleep_for(2s);
    stop.store(true);
    for (auto& t : threads) {
        t.join();
    }
    const auto writes_ended = Clock::now();

    const auto log = final_log();
    const auto expected = selected(log, in_feed);
    ASSERT_GT(expected.size(), preloaded);
    const SequenceNumber final_max = expected.back().sequence_number;
    EXPECT_TRUE(sub.wait_for(final_max)) << "the subscription did not reach " << final_max << "; at " << sub.last();
    const SequenceNumber returned = sub.stop();
    EXPECT_EQ(returned, final_max);
    EXPECT_TRUE(same_events(sub.delivered(), expected));

    // The writers' own count of what they stored in the feed agrees with the log.
    std::size_t written = 0;
    std::size_t written_in_feed = 0;
    int retries = 0;
    for (const auto& w : writers) {
        written += w.events();
        written_in_feed += w.in_feed_events();
        retries += w.retries();
    }
    EXPECT_EQ(expected.size(), preloaded + written_in_feed);
    EXPECT_EQ(log.size(), loader.events() + written);

    // How long the catch-up on the preloaded events took; the writers started with it.
    const auto caught_up = sub.delivered_at(expected[preloaded - 1].sequence_number);
    std::cout << "oracle: " << sub.delivered().size() << " events delivered (" << preloaded << " preloaded, "
              << written_in_feed << " appended by 4 writers during the run, which also appended "
              << written - written_in_feed << " outside the feed; " << retries << " retries); log of " << log.size()
              << " events, last position " << log.back().sequence_number << "; preload delivered after "
              << (caught_up ? milliseconds(*caught_up - started) : -1.0) << " ms, writes ended after "
              << milliseconds(writes_ended - started) << " ms, all delivered after "
              << milliseconds(sub.delivered_at().back() - started) << " ms\n";
}

// --- resuming --------------------------------------------------------------------------------------------

TEST_F(Subscriptions, ResumingFromTheReturnedPositionDeliversTheRestOnce) {
    Writer loader("preload", 1);
    preload(loader, 700, 300, 2);
    const SubscribeOptions options = batches_of(64);
    std::vector<StorableEvent> all;
    SequenceNumber position = 0;
    // Stopped after the first event, at the end of a batch (64), and inside one (64 + 36).
    for (const std::size_t stop_after : {1U, 64U, 100U}) {
        std::stop_source stop;
        std::vector<StorableEvent> got;
        const SequenceNumber returned = store().subscribe(
            Context().with_stop_token(stop.get_token()).with_timeout(20s), feed_filter(), position,
            [&](StorableEvent&& e) {
                got.push_back(std::move(e));
                if (got.size() == stop_after) {
                    stop.request_stop();
                }
            },
            options);
        ASSERT_EQ(got.size(), stop_after) << "a stop requested in the callback ends the subscription at once";
        EXPECT_EQ(returned, got.back().sequence_number);
        EXPECT_GT(got.front().sequence_number, position);
        position = returned;
        all.insert(all.end(), got.begin(), got.end());
    }
    // More events while no subscription runs; the next one catches up on both.
    preload(loader, 150, 50, 3);
    const auto expected = selected(final_log(), in_feed);
    std::stop_source stop;
    const SequenceNumber returned = store().subscribe(
        Context().with_stop_token(stop.get_token()).with_timeout(20s), feed_filter(), position,
        [&](StorableEvent&& e) {
            if (e.sequence_number == expected.back().sequence_number) {
                stop.request_stop();
            }
            all.push_back(std::move(e));
        },
        options);
    EXPECT_EQ(returned, expected.back().sequence_number);
    EXPECT_TRUE(same_events(all, expected));
    std::cout << "resume: " << all.size() << " events in 4 subscriptions (stopped after 1, 64, 100, then "
              << all.size() - 165 << ")\n";
}

// --- deadlines -------------------------------------------------------------------------------------------

TEST_F(Subscriptions, ADeadlineEndsAQuietSubscriptionNormally) {
    auto subscribe_for_200ms = [&](SequenceNumber after, std::vector<StorableEvent>& got) {
        const auto started = Clock::now();
        const SequenceNumber returned = store().subscribe(Context().with_timeout(200ms), feed_filter(), after,
                                                          [&](StorableEvent&& e) { got.push_back(std::move(e)); });
        const auto took = Clock::now() - started;
        EXPECT_GE(took, 199ms);
        // A poll's wait ends at the deadline; the bound only catches a subscription that runs on.
        EXPECT_LT(took, 1500ms);
        std::cout << "deadline of 200 ms, from " << after << ": " << got.size() << " events, returned " << returned
                  << " after " << milliseconds(took) << " ms\n";
        return returned;
    };
    std::vector<StorableEvent> got;
    EXPECT_EQ(subscribe_for_200ms(0, got), 0U);
    EXPECT_TRUE(got.empty());

    Writer loader("preload", 1);
    preload(loader, 10, 5, 4);
    const auto expected = selected(final_log(), in_feed);
    EXPECT_EQ(subscribe_for_200ms(0, got), expected.back().sequence_number);
    EXPECT_TRUE(same_events(got, expected));

    got.clear();
    EXPECT_EQ(subscribe_for_200ms(expected.back().sequence_number, got), expected.back().sequence_number);
    EXPECT_TRUE(got.empty());
    // A start beyond the end of the log is returned as it is.
    EXPECT_EQ(subscribe_for_200ms(1'000'000, got), 1'000'000U);
    EXPECT_TRUE(got.empty());
}

TEST_F(Subscriptions, ADeadlineDuringCatchUpReturnsTheLastDeliveredPosition) {
    Writer loader("preload", 1);
    preload(loader, 3000, 500, 5);
    const auto expected = selected(final_log(), in_feed);
    auto prefix = [&](std::size_t n) {
        return std::vector<StorableEvent>(expected.begin(), expected.begin() + static_cast<std::ptrdiff_t>(n));
    };

    // The deadline passes inside the callback: a slow projection.
    {
        std::vector<StorableEvent> got;
        const SequenceNumber returned = store().subscribe(
            Context().with_timeout(300ms), feed_filter(), 0,
            [&](StorableEvent&& e) {
                std::this_thread::sleep_for(1ms);
                got.push_back(std::move(e));
            },
            batches_of(100));
        ASSERT_FALSE(got.empty());
        ASSERT_LT(got.size(), expected.size());
        EXPECT_EQ(returned, got.back().sequence_number);
        EXPECT_TRUE(same_events(got, prefix(got.size())));
        std::cout << "deadline in a slow callback: " << got.size() << " of " << expected.size()
                  << " events delivered in 300 ms, returned " << returned << '\n';
    }

    // Batches of 2 and a fast callback: most of the time goes to reads, so the deadline mostly passes
    // inside one (the store counts those as timed-out reads). Several deadlines, for several moments.
    auto reads = std::make_shared<ReadCounter>();
    auto counted = postgres::new_event_store_from_pool(pool(), postgres::with_table_name(table()),
                                                       postgres::with_snapshot_table_name(snapshot_table()),
                                                       postgres::with_metrics(reads));
    for (const auto deadline : {30ms, 55ms, 80ms, 105ms, 130ms}) {
        std::vector<StorableEvent> got;
        const int timeouts_before = reads->timed_out_reads.load();
        const SequenceNumber returned = counted->subscribe(
            Context().with_timeout(deadline), feed_filter(), 0, [&](StorableEvent&& e) { got.push_back(std::move(e)); },
            batches_of(2));
        ASSERT_LT(got.size(), expected.size());
        EXPECT_EQ(returned, got.empty() ? 0 : got.back().sequence_number);
        EXPECT_TRUE(same_events(got, prefix(got.size())));
        EXPECT_TRUE(pool_is_idle()) << "a read ended by the deadline gave its connection back";
        // Resuming from the returned position delivers the rest.
        std::stop_source stop;
        store().subscribe(
            Context().with_stop_token(stop.get_token()).with_timeout(20s), feed_filter(), returned,
            [&](StorableEvent&& e) {
                if (e.sequence_number == expected.back().sequence_number) {
                    stop.request_stop();
                }
                got.push_back(std::move(e));
            },
            batches_of(500));
        EXPECT_TRUE(same_events(got, expected));
        std::cout << "deadline of " << deadline.count() << " ms in reads of 2: returned " << returned
                  << (reads->timed_out_reads.load() > timeouts_before ? ", inside a read" : ", between reads") << '\n';
    }
}

// --- an exception from the callback ----------------------------------------------------------------------

TEST_F(Subscriptions, AnExceptionFromTheCallbackPropagatesAndTheStoreStaysUsable) {
    Writer loader("preload", 1);
    preload(loader, 300, 50, 6);
    const auto expected = selected(final_log(), in_feed);

    // During catch-up.
    std::size_t calls = 0;
    EXPECT_THROW(store().subscribe(
                     Context().with_timeout(20s), feed_filter(), 0,
                     [&](StorableEvent&&) {
                         if (++calls == 5) {
                             throw ProjectionFailed("the fifth event");
                         }
                     },
                     batches_of(100)),
                 ProjectionFailed);
    EXPECT_EQ(calls, 5U);
    EXPECT_TRUE(pool_is_idle());

    // Live: caught up, then a poisoned event arrives.
    Subscription sub(store(), feed_filter(), 0, {}, 20s, [](const StorableEvent& e) {
        if (e.payload_json.find("\"poison\"") != std::string::npos) {
            throw ProjectionFailed("poisoned");
        }
    });
    ASSERT_TRUE(sub.wait_for(expected.back().sequence_number));
    Writer poison("poison", 900'000);
    ASSERT_TRUE(poison.append(store(), {Kind::flagged}, Clock::now() + 10s));
    EXPECT_THROW(sub.join(), ProjectionFailed); // not the safety deadline's normal return
    EXPECT_TRUE(same_events(sub.delivered(), expected));
    EXPECT_TRUE(pool_is_idle());

    // The store goes on: an append, a read, and a subscription that delivers the poisoned event too.
    Writer after("after", 950'000);
    ASSERT_TRUE(after.append(store(), {Kind::tagged, Kind::plain}, Clock::now() + 10s));
    const auto now_expected = selected(final_log(), in_feed);
    ASSERT_EQ(now_expected.size(), expected.size() + 2);
    std::vector<StorableEvent> got;
    store().subscribe(Context().with_timeout(300ms), feed_filter(), 0,
                      [&](StorableEvent&& e) { got.push_back(std::move(e)); });
    EXPECT_TRUE(same_events(got, now_expected));
}

// --- live latency ----------------------------------------------------------------------------------------

TEST_F(Subscriptions, ALiveSubscriptionDeliversANewEventPromptly) {
    Subscription sub(store(), feed_filter(), 0); // the default options
    Writer writer("live", 1);
    std::mt19937 rng(7);
    std::vector<std::pair<SequenceNumber, Clock::time_point>> appended;
    for (int i = 0; i < 30; ++i) {
        // Pauses of various lengths, so that appends meet the poll at various stages of its back-off.
        std::this_thread::sleep_for(std::chrono::milliseconds(10 + rng() % 90));
        const auto before = Clock::now();
        ASSERT_TRUE(writer.append(store(), {i % 2 == 0 ? Kind::tagged : Kind::flagged}, before + 10s));
        appended.emplace_back(writer.last_position(), before);
        ASSERT_TRUE(sub.wait_for(writer.last_position(), 5s));
    }
    sub.stop();
    std::vector<double> latencies;
    for (const auto& [position, before] : appended) {
        const auto delivered = sub.delivered_at(position);
        ASSERT_TRUE(delivered.has_value());
        latencies.push_back(milliseconds(*delivered - before));
    }
    std::sort(latencies.begin(), latencies.end());
    const double p50 = latencies[latencies.size() / 2];
    const double p90 = latencies[latencies.size() * 9 / 10];
    std::cout << "live latency (append start to delivery, " << latencies.size() << " appends): min "
              << latencies.front() << " ms, p50 " << p50 << " ms, p90 " << p90 << " ms, max " << latencies.back()
              << " ms\n";
    // Loose bounds (the benchmark measures latency): below poll_max (1 s), so the head's watcher woke
    // the subscription, not its safety-net read.
    EXPECT_LT(p50, 500.0);
    EXPECT_LT(latencies.back(), 2000.0);
}

// A caught-up subscription takes no locks while the log stands still (the watcher samples the head
// without any), and is woken by the head moving, not by poll_max, here set beyond the test's length.
TEST_F(Subscriptions, AQuietLogCostsNoReadsAndAMovingHeadWakesTheSubscription) {
    auto reads = std::make_shared<ReadCounter>();
    auto counted = postgres::new_event_store_from_pool(pool(), postgres::with_table_name(table()),
                                                       postgres::with_snapshot_table_name(snapshot_table()),
                                                       postgres::with_metrics(reads));
    SubscribeOptions options;
    options.poll_max = 10min;
    Subscription sub(*counted, feed_filter(), 0, options);
    std::this_thread::sleep_for(100ms);
    const int reads_before = reads->reads.load();
    std::this_thread::sleep_for(500ms);
    EXPECT_EQ(reads->reads.load(), reads_before) << "reads while the log stood still";

    Writer writer("quiet", 1);
    for (int i = 0; i < 5; ++i) {
        // An event outside the feed moves the head too: one read, nothing delivered.
        ASSERT_TRUE(writer.append(store(), {Kind::plain}, Clock::now() + 10s));
        ASSERT_TRUE(writer.append(store(), {Kind::tagged}, Clock::now() + 10s));
        ASSERT_TRUE(sub.wait_for(writer.last_position(), 5s)) << "the moving head did not wake the subscription";
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(sub.count(), 5U);
    EXPECT_LE(reads->reads.load() - reads_before, 20) << "more reads than the log moved for";
    sub.stop();
}

// --- terminated backends ---------------------------------------------------------------------------------

TEST_F(Subscriptions, TerminatedBackendsCostNoEventAndNoRepeat) {
    auto reads = std::make_shared<ReadCounter>();
    auto counted = postgres::new_event_store_from_pool(pool(), postgres::with_table_name(table()),
                                                       postgres::with_snapshot_table_name(snapshot_table()),
                                                       postgres::with_metrics(reads));
    Writer loader("preload", 1);
    preload(loader, 500, 100, 8);

    SubscribeOptions options = batches_of(50);
    options.reconnect_min = 10ms;
    options.reconnect_max = 200ms;
    Subscription sub(*counted, feed_filter(), 0, options);
    std::vector<Writer> writers{Writer("w0", 1'000'000), Writer("w1", 2'000'000)};
    std::atomic<bool> stop{false};
    auto threads = start_writers(writers, stop, 4000us);
    int terminated = 0;
    for (int round = 0; round < 8; ++round) {
        std::this_thread::sleep_for(150ms);
        terminated += terminate_other_backends();
    }
    std::this_thread::sleep_for(150ms);
    stop.store(true);
    for (auto& t : threads) {
        t.join();
    }
    const auto expected = selected(final_log(), in_feed);
    EXPECT_TRUE(sub.wait_for(expected.back().sequence_number));
    EXPECT_EQ(sub.stop(), expected.back().sequence_number);
    EXPECT_TRUE(same_events(sub.delivered(), expected));
    std::cout << "terminated backends: " << terminated << " sessions ended in 8 rounds; " << sub.delivered().size()
              << " events delivered; writer retries " << writers[0].retries() + writers[1].retries()
              << "; the subscription made " << reads->reads.load() << " reads, " << reads->failed_reads.load()
              << " of them failed\n";
    EXPECT_GT(terminated, 8) << "too few sessions ended for the test to show anything";
}

// --- an append in flight ---------------------------------------------------------------------------------

// A writer holds a matching position open while a later matching event commits: the subscription waits
// for it rather than deliver the later one first (and so skip it for good), and after a rollback it
// delivers the later one without waiting again. The subscription starts once both are in place: a read
// already running would hold the later append back instead (writers of a boundary wait for its
// readers), and number it after the open one.
TEST_F(Subscriptions, AnAppendInFlightHoldsDeliveryBackRatherThanBeingSkipped) {
    for (const bool commit : {true, false}) {
        const SequenceNumber start = store().query(Filter()).max_sequence_number;
        ProtocolWriter open(conninfo(), table());
        const SequenceNumber held =
            open.begin(flagged_type, nlohmann::ordered_json{{"writer", "open"}, {"n", std::to_string(start)}}.dump());
        Writer later("later" + std::to_string(start), 1'000'000 + start);
        ASSERT_TRUE(later.append(store(), {Kind::tagged}, Clock::now() + 10s));
        ASSERT_GT(later.last_position(), held);
        Subscription sub(store(), feed_filter(), start, {}, 20s);
        std::this_thread::sleep_for(300ms);
        EXPECT_EQ(sub.count(), 0U) << "delivered " << sub.last() << " while " << held << " was in flight";
        if (commit) {
            open.commit();
        } else {
            open.rollback();
        }
        const auto ended = Clock::now();
        EXPECT_TRUE(sub.wait_for(later.last_position(), 5s));
        sub.stop();
        std::vector<SequenceNumber> positions;
        for (const auto& e : sub.delivered()) {
            positions.push_back(e.sequence_number);
        }
        if (commit) {
            EXPECT_EQ(positions, (std::vector<SequenceNumber>{held, later.last_position()}));
        } else {
            EXPECT_EQ(positions, (std::vector<SequenceNumber>{later.last_position()}));
        }
        if (!positions.empty()) {
            std::cout << "in flight (" << (commit ? "commit" : "rollback") << "): delivered "
                      << milliseconds(sub.delivered_at().back() - ended) << " ms after the writer ended\n";
        }
    }
}

// --- what a subscription holds and where it reads --------------------------------------------------------

// Nothing is held between reads, so a callback may use the store, even through a pool of one
// connection (were the subscription holding it, the callback's read would fail for want of one).
TEST_F(Subscriptions, ACallbackMayUseTheStoreOnAPoolOfOneConnection) {
    Writer loader("preload", 1);
    preload(loader, 40, 10, 12);
    auto single =
        make_store(postgres::ConnectionPool::create(conninfo(), {.max_connections = 1, .acquire_timeout = 2s}));
    std::vector<std::size_t> seen_by_callback;
    std::vector<StorableEvent> got;
    std::stop_source stop;
    const auto expected = selected(final_log(), in_feed);
    single->subscribe(
        Context().with_stop_token(stop.get_token()).with_timeout(20s), feed_filter(), 0,
        [&](StorableEvent&& e) {
            seen_by_callback.push_back(
                single->query(Context().with_timeout(5s), feed_filter(), ReadOptions{0, false, 0}).events.size());
            if (e.sequence_number == expected.back().sequence_number) {
                stop.request_stop();
            }
            got.push_back(std::move(e));
        },
        batches_of(16));
    EXPECT_TRUE(same_events(got, expected));
    EXPECT_EQ(seen_by_callback, std::vector<std::size_t>(expected.size(), expected.size()));
}

// A pool whose every connection stays busy for a while fails reads with pool_exhausted; the
// subscription waits that out and then delivers everything.
TEST_F(Subscriptions, AnExhaustedPoolIsWaitedOut) {
    auto single_pool = postgres::ConnectionPool::create(conninfo(), {.max_connections = 1, .acquire_timeout = 100ms});
    auto reads = std::make_shared<ReadCounter>();
    auto single = postgres::new_event_store_from_pool(single_pool, postgres::with_table_name(table()),
                                                      postgres::with_snapshot_table_name(snapshot_table()),
                                                      postgres::with_metrics(reads));
    // A writer in flight holds back a read of the feed, and that read holds the pool's only connection.
    ProtocolWriter open(conninfo(), table());
    const SequenceNumber held = open.begin(flagged_type, nlohmann::ordered_json{{"writer", "open"}, {"n", "1"}}.dump());
    std::thread blocked([&] { (void)single->query(Context().with_timeout(20s), feed_filter()); });
    std::this_thread::sleep_for(200ms);
    SubscribeOptions options;
    options.reconnect_min = 20ms;
    options.reconnect_max = 100ms;
    Subscription sub(*single, feed_filter(), 0, options, 20s);
    std::this_thread::sleep_for(600ms);
    const std::size_t delivered_while_busy = sub.count();
    const int failed_while_busy = reads->failed_reads.load();
    const int reads_while_busy = reads->reads.load();
    open.commit();
    blocked.join();
    Writer writer("w0", 1'000'000);
    ASSERT_TRUE(writer.append(store(), {Kind::tagged, Kind::plain, Kind::flagged}, Clock::now() + 10s));
    const auto expected = selected(final_log(), in_feed);
    EXPECT_TRUE(sub.wait_for(expected.back().sequence_number, 10s));
    EXPECT_EQ(sub.stop(), expected.back().sequence_number);
    EXPECT_TRUE(same_events(sub.delivered(), expected));
    EXPECT_EQ(delivered_while_busy, 0U);
    EXPECT_EQ(expected.front().sequence_number, held);
    std::cout << "exhausted pool: " << reads_while_busy << " reads while the only connection was busy for 600 ms ("
              << failed_while_busy << " counted as failed); then " << sub.delivered().size() << " events delivered\n";
}

// A read the table cannot answer is not a lost connection: it throws at once rather than being retried
// until the deadline.
TEST_F(Subscriptions, AFailureOtherThanTheConnectionThrows) {
    auto missing = postgres::new_event_store_from_pool(pool(), postgres::with_table_name("never_migrated"));
    const auto started = Clock::now();
    const auto err = thrown_error(
        [&] { (void)missing->subscribe(Context().with_timeout(10s), feed_filter(), 0, [](StorableEvent&&) {}); });
    ASSERT_TRUE(err.has_value());
    EXPECT_TRUE(err->is(Errc::querying_events_failed)) << describe(err);
    EXPECT_EQ(err->sqlstate(), "42P01") << describe(err);
    EXPECT_LT(Clock::now() - started, 5s);
}

// Only the primary holds the writers' locks that make a read gap-free: an eventual Context still reads
// there. The stand-in replica (another database) holds different events, so what is delivered shows
// where it was read.
TEST_F(Subscriptions, AnEventualContextStillReadsThePrimary) {
    auto standin_pool = postgres::ConnectionPool::create(eventstore::test::postgres().fresh_database("standin"));
    auto standin = make_store(standin_pool);
    standin->migrate();
    Writer on_standin("standin", 500'000);
    ASSERT_TRUE(on_standin.append(*standin, {Kind::tagged, Kind::tagged, Kind::flagged}, Clock::now() + 10s));
    Writer loader("preload", 1);
    preload(loader, 20, 5, 13);
    auto routed = postgres::new_event_store_from_pool_and_replica(
        pool(), standin_pool, postgres::with_table_name(table()), postgres::with_snapshot_table_name(snapshot_table()));
    ASSERT_EQ(routed->query(with_eventual_consistency(), feed_filter()).events.size(), 3U) << "the stand-in answers";
    std::vector<StorableEvent> got;
    routed->subscribe(with_eventual_consistency(Context().with_timeout(300ms)), feed_filter(), 0,
                      [&](StorableEvent&& e) { got.push_back(std::move(e)); });
    EXPECT_TRUE(same_events(got, selected(final_log(), in_feed)));
}

// --- a cancel at the end of a read -----------------------------------------------------------------------

// A subscription's deadline passes while its read waits on the server, and the read's results arrive
// before the cancel request the store then sent has reached the server: the subscription delivers them
// and ends normally. The next call on the same connection, here another subscription, must not be
// cancelled by that request, its own Context being neither stopped nor past a deadline. The moment is
// a race, so each iteration ends the first read's wait a little differently around its deadline.
TEST_F(Subscriptions, ACancelSentAtTheEndOfAReadDoesNotHitTheNextSubscription) {
    // One connection: the second subscription runs on the first one's.
    auto single = make_store(postgres::ConnectionPool::create(conninfo(), {.max_connections = 1}));
    // The second subscription's read waits for an exclusive lock on one stripe of its filter's key,
    // which the raw session takes before the first one starts (that one reads other keys).
    const Filter held = build_event_filter().matching().any_event_type_of("Held").finalize();
    std::vector<std::uint64_t> held_keys;
    postgres::detail::add_filter_keys(held, held_keys);
    const auto held_lock = postgres::detail::plan_locks({}, held_keys, 0).front();
    ProtocolWriter writer(conninfo(), table());
    int late_deliveries = 0;
    int iterations = 0;
    for (int i = 0; i < 80; ++i) {
        ++iterations;
        const SequenceNumber start = store().query(Filter()).max_sequence_number;
        raw().exec("BEGIN");
        raw().exec("SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(held_lock.key)});
        // The first subscription's read waits for this writer, which ends about at its deadline.
        (void)writer.begin(flagged_type, nlohmann::ordered_json{{"writer", "first"}, {"n", std::to_string(i)}}.dump());
        const auto deadline = Clock::now() + 15ms;
        std::size_t first_delivered = 0;
        std::optional<Error> first_failure;
        std::thread first([&] {
            first_failure = thrown_error([&] {
                (void)single->subscribe(Context().with_deadline(deadline), feed_filter(), start,
                                        [&](StorableEvent&&) { ++first_delivered; });
            });
        });
        std::this_thread::sleep_until(deadline + std::chrono::microseconds(800 + (i % 10) * 200));
        writer.commit();
        first.join();
        late_deliveries += first_delivered > 0 ? 1 : 0;

        // The second one starts at once, and its read waits long enough for a stray cancel request to
        // arrive meanwhile.
        std::optional<Error> second_failure;
        std::stop_source stop;
        std::thread second([&] {
            second_failure = thrown_error([&] {
                (void)single->subscribe(Context().with_stop_token(stop.get_token()), held, 0, [](StorableEvent&&) {});
            });
        });
        std::this_thread::sleep_for(20ms);
        raw().exec("COMMIT");
        std::this_thread::sleep_for(5ms);
        stop.request_stop();
        second.join();
        if (first_failure || second_failure) {
            ADD_FAILURE() << "iteration " << i << ": a subscription whose Context was neither stopped nor past its "
                          << "deadline threw " << describe(first_failure ? first_failure : second_failure)
                          << (first_failure ? " (the first one, after the previous iteration's stop)"
                                            : " (the second one)")
                          << "; the first subscription "
                          << (first_delivered > 0 ? "delivered its event after its deadline" : "delivered nothing");
            break;
        }
    }
    std::cout << "cancel at the end of a read: " << iterations << " iterations; " << late_deliveries
              << " first subscriptions delivered after their deadline had passed\n";
}

// --- no match, and the whole log -------------------------------------------------------------------------

TEST_F(Subscriptions, AFilterThatMatchesNothingDeliversNothing) {
    Writer loader("preload", 1);
    preload(loader, 100, 100, 9);
    const Filter nothing = build_event_filter().matching().any_event_type_of("NeverWritten").finalize();
    // Writers keep appending meanwhile, none of it in the filter.
    std::vector<Writer> writers{Writer("w0", 1'000'000)};
    std::atomic<bool> stop{false};
    auto threads = start_writers(writers, stop, 2000us);
    for (const SequenceNumber after : {SequenceNumber{0}, SequenceNumber{7}}) {
        std::size_t calls = 0;
        const SequenceNumber returned = store().subscribe(
            Context().with_timeout(300ms), nothing, after, [&](StorableEvent&&) { ++calls; }, batches_of(10));
        EXPECT_EQ(returned, after);
        EXPECT_EQ(calls, 0U);
    }
    stop.store(true);
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_GT(writers[0].events(), 0U);
}

TEST_F(Subscriptions, AWholeLogSubscriptionDeliversEveryEvent) {
    Writer loader("preload", 1);
    preload(loader, 400, 400, 10);
    Subscription sub(store(), Filter(), 0, batches_of(100));
    std::vector<Writer> writers{Writer("w0", 1'000'000), Writer("w1", 2'000'000)};
    std::atomic<bool> stop{false};
    auto threads = start_writers(writers, stop, 2000us);
    std::this_thread::sleep_for(1s);
    stop.store(true);
    for (auto& t : threads) {
        t.join();
    }
    const auto log = final_log();
    EXPECT_TRUE(sub.wait_for(log.back().sequence_number));
    EXPECT_EQ(sub.stop(), log.back().sequence_number);
    EXPECT_TRUE(same_events(sub.delivered(), log));

    // From the middle of the log: the rest of it.
    const std::size_t middle = log.size() / 2;
    std::vector<StorableEvent> got;
    std::stop_source stop_rest;
    store().subscribe(
        Context().with_stop_token(stop_rest.get_token()).with_timeout(20s), Filter(), log[middle].sequence_number,
        [&](StorableEvent&& e) {
            if (e.sequence_number == log.back().sequence_number) {
                stop_rest.request_stop();
            }
            got.push_back(std::move(e));
        },
        batches_of(100));
    EXPECT_TRUE(
        same_events(got, std::vector<StorableEvent>(log.begin() + static_cast<std::ptrdiff_t>(middle) + 1, log.end())));
    std::cout << "whole log: " << sub.delivered().size() << " events delivered, " << got.size() << " from the middle\n";
}

} // namespace
