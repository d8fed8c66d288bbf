// EventStore::subscribe across server restarts: a clean restart, every server process killed, and an
// immediate shutdown, with a writer appending throughout. While the server is away the subscriptions'
// reads (and a durable one's checkpoint saves) fail and they retry with backoff; afterwards what each
// delivered must be exactly the final log's matching events, in order, each once.
//
// The server is a cluster of this process's own (OWN_SERVER in tests/CMakeLists.txt), with
// PostgreSQL's own durability settings: with synchronous_commit off, a kill could lose a commit that
// a subscription had already delivered, and the log would then disagree with it for a reason that is
// not the subscription's.

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fixture.hpp"
#include "subscription_support.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::test;
using namespace eventstore::test::subscription;

enum class Outage { restart, kill_all, immediate_shutdown };

const char* outage_name(Outage outage) {
    switch (outage) {
    case Outage::restart:
        return "restart (fast shutdown)";
    case Outage::kill_all:
        return "SIGKILL to every server process, 300 ms down";
    case Outage::immediate_shutdown:
        return "immediate shutdown, 300 ms down";
    }
    return "?";
}

TEST(SubscriptionRestart, DeliveryResumesAfterServerRestartsWithoutGapOrRepeat) {
    PostgresServer server(ServerOptions{.own_cluster = true, .crash_safe = true});
    const std::string conninfo = server.create_database("subscription");
    auto pool = postgres::ConnectionPool::create(conninfo, {.max_connections = 4, .acquire_timeout = 5s});
    auto reads = std::make_shared<ReadCounter>();
    auto store = postgres::new_event_store_from_pool(pool, postgres::with_table_name("subscription_events"),
                                                     postgres::with_metrics(reads));
    store->migrate();

    postgres::SubscribeOptions options;
    options.batch_size = 50;
    options.reconnect_min = 20ms;
    options.reconnect_max = 500ms;
    const auto started = Clock::now();
    // The safety deadline only keeps a broken subscription from hanging the test.
    Subscription sub(*store, feed_filter(), 0, options, 120s);
    // And a durable one beside it: its claim and checkpoint saves fail with the server too, and it
    // claims its name again (still its own) and goes on from where it was, delivering nothing twice.
    postgres::SubscribeOptions named = options;
    named.name = "restarts";
    named.lease = 2s;
    Subscription durable(*store, feed_filter(), 0, named, 120s);

    // One writer appends throughout, outages included: its failed appends are made again until stored.
    Writer writer("w0", 1'000'000);
    std::atomic<bool> stop{false};
    std::thread writing([&] {
        std::mt19937 rng(11);
        while (!stop.load()) {
            std::vector<Kind> kinds(1 + rng() % 4);
            for (Kind& kind : kinds) {
                kind = random_kind(rng);
            }
            if (!writer.append(*store, kinds, Clock::now() + 60s)) {
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 6));
        }
    });

    // After each outage, one event of the main thread's: how long the subscription took to deliver
    // again, counted from the moment the server accepted connections.
    Writer marker("marker", 2'000'000);
    std::ostringstream timeline;
    for (const Outage outage : {Outage::restart, Outage::kill_all, Outage::immediate_shutdown}) {
        std::this_thread::sleep_for(400ms);
        const std::size_t delivered_before = sub.count();
        const auto down = Clock::now();
        switch (outage) {
        case Outage::restart:
            break;
        case Outage::kill_all:
            server.crash(CrashKind::kill_all);
            std::this_thread::sleep_for(300ms);
            break;
        case Outage::immediate_shutdown:
            server.crash(CrashKind::immediate_shutdown);
            std::this_thread::sleep_for(300ms);
            break;
        }
        server.restart();
        const auto up = Clock::now();
        ASSERT_TRUE(marker.append(*store, {Kind::flagged}, up + 60s));
        ASSERT_TRUE(sub.wait_for(marker.last_position(), 60s))
            << "no delivery after the " << outage_name(outage) << "; the subscription is at " << sub.last();
        timeline << "  " << outage_name(outage) << ": server up after " << milliseconds(up - down)
                 << " ms; the next event delivered " << milliseconds(Clock::now() - up) << " ms later; "
                 << delivered_before << " events delivered before it\n";
    }
    std::this_thread::sleep_for(400ms);
    stop.store(true);
    writing.join();

    const auto log = store->query(Context().with_timeout(30s), Filter()).events;
    const auto expected = selected(log, in_feed);
    ASSERT_FALSE(expected.empty());
    EXPECT_TRUE(sub.wait_for(expected.back().sequence_number, 30s));
    EXPECT_EQ(sub.stop(), expected.back().sequence_number);
    EXPECT_TRUE(same_events(sub.delivered(), expected));
    EXPECT_TRUE(durable.wait_for(expected.back().sequence_number, 30s));
    EXPECT_EQ(durable.stop(), expected.back().sequence_number);
    EXPECT_TRUE(same_events(durable.delivered(), expected)) << "the durable subscription";
    EXPECT_EQ(store->checkpoint(Context().with_timeout(5s), "restarts"), expected.back().sequence_number);
    // Every append the writers were told was stored is in the log, once (the ids are unique).
    EXPECT_EQ(log.size(), writer.events() + marker.events());

    std::cout << "restarts: " << sub.delivered().size() << " events delivered of a log of " << log.size() << " in "
              << milliseconds(Clock::now() - started) << " ms; writer retries " << writer.retries() + marker.retries()
              << "; the subscription made " << reads->reads.load() << " reads, " << reads->failed_reads.load()
              << " of them failed\n"
              << timeline.str();
}

} // namespace
