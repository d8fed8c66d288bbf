// Durable subscriptions (SubscribeOptions::name): the checkpoint a subscription keeps and resumes from,
// wait_until_processed, one active consumer per name (a second waits, and takes over when the first
// stops or stops renewing its claim), and the exactly-once pattern (the checkpoint saved in the
// projection's own transaction) with writers running and consumers taking the name from each other.
// The oracle is the final log, as in subscription_test.cpp: what the consumers delivered (or the
// projection table holds) must be the log's matching events, each once where the mode promises it.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/prometheus.hpp>

#include "fixture.hpp"
#include "subscription_support.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::test;
using namespace eventstore::test::subscription;
using postgres::CheckpointSaving;
using postgres::SubscribeOptions;

SubscribeOptions named(std::string name, std::chrono::milliseconds lease = 10s) {
    SubscribeOptions options;
    options.name = std::move(name);
    options.batch_size = 50;
    options.lease = lease;
    return options;
}

class DurableSubscriptions : public StoreTest {
protected:
    void append_feed(Writer& writer, std::size_t count, unsigned seed) {
        std::mt19937 rng(seed);
        for (std::size_t done = 0; done < count;) {
            const std::size_t n = std::min<std::size_t>(count - done, 1 + rng() % 20);
            std::vector<Kind> kinds(n);
            for (Kind& kind : kinds) {
                kind = random_kind(rng);
            }
            ASSERT_TRUE(writer.append(store(), kinds, Clock::now() + 30s));
            done += n;
        }
    }

    std::vector<StorableEvent> feed_above(SequenceNumber after) {
        return selected(store().query(Context().with_timeout(30s), Filter()).events,
                        [after](const StorableEvent& e) { return in_feed(e) && e.sequence_number > after; });
    }

    // The checkpoint row as monitoring sees it: position, owner (empty when free).
    std::pair<std::string, std::string> row(const std::string& name) {
        const PgResult r = raw().exec("SELECT sequence_number, coalesce(owner, '') FROM " +
                                          store().checkpoint_table_name() + " WHERE name = $1",
                                      {name});
        if (r.rows() == 0) {
            return {"", ""};
        }
        return {r.value(0, 0), r.value(0, 1)};
    }
};

TEST_F(DurableSubscriptions, ANamedSubscriptionResumesFromItsCheckpoint) {
    Writer writer("w", 1);
    append_feed(writer, 300, 1);
    const auto first_part = feed_above(0);
    SequenceNumber stopped_at = 0;
    {
        Subscription sub(store(), feed_filter(), 0, named("resume"));
        ASSERT_TRUE(sub.wait_for(first_part.back().sequence_number));
        stopped_at = sub.stop();
        EXPECT_TRUE(same_events(sub.delivered(), first_part));
    }
    EXPECT_EQ(store().checkpoint(Context(), "resume"), stopped_at);
    EXPECT_EQ(row("resume").second, "") << "the name is given up when the subscription ends";
    EXPECT_EQ(store().checkpoint(Context(), "never-used"), std::nullopt);

    append_feed(writer, 200, 2);
    const auto second_part = feed_above(stopped_at);
    ASSERT_FALSE(second_part.empty());
    // `after` only counts the first time a name is used: the checkpoint wins.
    Subscription again(store(), feed_filter(), 0, named("resume"));
    ASSERT_TRUE(again.wait_for(second_part.back().sequence_number));
    EXPECT_EQ(again.stop(), second_part.back().sequence_number);
    EXPECT_TRUE(same_events(again.delivered(), second_part));
    EXPECT_EQ(store().checkpoint(Context(), "resume"), second_part.back().sequence_number);
}

TEST_F(DurableSubscriptions, AFirstUseStartsAfterTheGivenPosition) {
    Writer writer("w", 1);
    append_feed(writer, 100, 3);
    const auto all = feed_above(0);
    const SequenceNumber after = all[all.size() / 2].sequence_number;
    Subscription sub(store(), feed_filter(), after, named("from-middle"));
    ASSERT_TRUE(sub.wait_for(all.back().sequence_number));
    sub.stop();
    EXPECT_TRUE(same_events(sub.delivered(), feed_above(after)));
}

TEST_F(DurableSubscriptions, WaitUntilProcessedSeesTheProjectionCatchUp) {
    std::mutex mutex;
    std::set<SequenceNumber> projected;
    Subscription sub(store(), feed_filter(), 0, named("rw"), 60s, [&](const StorableEvent& e) {
        std::this_thread::sleep_for(2ms); // a projection that takes a moment per event
        std::lock_guard lock(mutex);
        projected.insert(e.sequence_number);
    });
    Writer writer("w", 1);
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(writer.append(store(), {Kind::tagged}, Clock::now() + 10s));
        const SequenceNumber mine = writer.last_position();
        store().wait_until_processed("rw", mine, Context().with_timeout(10s));
        std::lock_guard lock(mutex);
        EXPECT_EQ(projected.count(mine), 1U) << "returned before the projection had event " << mine;
    }
    const auto beyond = thrown_error(
        [&] { store().wait_until_processed("rw", writer.last_position() + 1000, Context().with_timeout(100ms)); });
    ASSERT_TRUE(beyond.has_value());
    EXPECT_EQ(beyond->code(), Errc::subscription_failed);
    EXPECT_TRUE(beyond->is(Errc::deadline_exceeded)) << describe(beyond);
    EXPECT_NE(beyond->detail().find("has processed up to"), std::string::npos) << describe(beyond);

    const auto unknown = thrown_error([&] { store().wait_until_processed("nobody", 1, Context().with_timeout(50ms)); });
    ASSERT_TRUE(unknown.has_value());
    EXPECT_NE(unknown->detail().find("no consumer has used that name"), std::string::npos) << describe(unknown);
    sub.stop();
}

TEST_F(DurableSubscriptions, BadNamesAreRefusedBeforeAnyDatabaseWork) {
    for (const std::string& name : {std::string("a\0b", 3), std::string("\xff"), std::string(2000, 'n')}) {
        const auto subscribed = thrown_error([&] {
            (void)store().subscribe(
                Context(), feed_filter(), 0, [](StorableEvent&&) {}, named(name));
        });
        ASSERT_TRUE(subscribed.has_value());
        EXPECT_EQ(subscribed->code(), Errc::invalid_subscription_name);
        EXPECT_TRUE(subscribed->is_input_error());
        const auto waited = thrown_error([&] { store().wait_until_processed(name, 1, Context()); });
        ASSERT_TRUE(waited.has_value());
        EXPECT_EQ(waited->code(), Errc::invalid_subscription_name);
    }
    const auto empty = thrown_error([&] { (void)store().checkpoint(Context(), ""); });
    ASSERT_TRUE(empty.has_value());
    EXPECT_EQ(empty->code(), Errc::invalid_subscription_name);
}

TEST_F(DurableSubscriptions, AMissingCheckpointTableSaysToMigrate) {
    auto other = postgres::new_event_store_from_pool(pool(), postgres::with_table_name(table()),
                                                     postgres::with_snapshot_table_name(snapshot_table()),
                                                     postgres::with_checkpoint_table_name("no_such_checkpoints"));
    const auto err = thrown_error([&] {
        (void)other->subscribe(
            Context().with_timeout(5s), feed_filter(), 0, [](StorableEvent&&) {}, named("x"));
    });
    ASSERT_TRUE(err.has_value());
    EXPECT_EQ(err->code(), Errc::subscription_failed);
    EXPECT_EQ(err->sqlstate(), "42P01");
    EXPECT_NE(std::string(err->what()).find("run migrate()"), std::string::npos) << describe(err);
}

// A second consumer of a name delivers nothing while the first holds it, and carries on from the first
// one's checkpoint once it has stopped: together they deliver every event once.
TEST_F(DurableSubscriptions, ASecondConsumerWaitsAndTakesOverWhenTheFirstStops) {
    Writer writer("w", 1);
    append_feed(writer, 200, 4);
    const auto lease = 500ms;
    Subscription first(store(), feed_filter(), 0, named("one", lease));
    ASSERT_TRUE(first.wait_for(feed_above(0).back().sequence_number));
    const std::string owner = row("one").second;
    EXPECT_FALSE(owner.empty());
    Subscription second(store(), feed_filter(), 0, named("one", lease));
    append_feed(writer, 100, 5);
    ASSERT_TRUE(first.wait_for(feed_above(0).back().sequence_number));
    std::this_thread::sleep_for(lease); // several of the second one's tries
    EXPECT_EQ(second.count(), 0U) << "two consumers of one name were active at once";
    EXPECT_EQ(row("one").second, owner);

    const SequenceNumber handed_over = first.stop();
    append_feed(writer, 100, 6);
    const auto rest = feed_above(handed_over);
    ASSERT_TRUE(second.wait_for(rest.back().sequence_number));
    second.stop();
    EXPECT_TRUE(same_events(second.delivered(), rest));
    std::vector<StorableEvent> together = first.delivered();
    together.insert(together.end(), second.delivered().begin(), second.delivered().end());
    EXPECT_TRUE(same_events(together, feed_above(0)));
}

// A subscription reports what it delivered, how far behind the log's head it is, and its claims.
TEST_F(DurableSubscriptions, ASubscriptionReportsDeliveriesLagAndClaims) {
    auto metrics = std::make_shared<eventstore::prometheus::Collector>();
    auto observed = postgres::new_event_store_from_pool(pool(), postgres::with_table_name(table()),
                                                        postgres::with_snapshot_table_name(snapshot_table()),
                                                        postgres::with_metrics(metrics));
    Writer writer("w", 1);
    append_feed(writer, 120, 10);
    const auto all = feed_above(0);
    Subscription sub(*observed, feed_filter(), 0, named("reported"));
    ASSERT_TRUE(sub.wait_for(all.back().sequence_number));
    // Caught up: the next read finds nothing, and the lag is 0.
    const auto has = [&](const std::string& line) {
        const auto until = Clock::now() + 5s;
        while (Clock::now() < until) {
            if (metrics->exposition().find(line + "\n") != std::string::npos) {
                return true;
            }
            std::this_thread::sleep_for(10ms);
        }
        return false;
    };
    EXPECT_TRUE(
        has("eventstore_subscription_events_delivered_total{subscription=\"reported\"} " + std::to_string(all.size())))
        << metrics->exposition();
    EXPECT_TRUE(has("eventstore_subscription_lag_events{subscription=\"reported\"} 0")) << metrics->exposition();
    EXPECT_TRUE(has("eventstore_subscription_claims_total{outcome=\"acquired\",subscription=\"reported\"} 1"))
        << metrics->exposition();
    sub.stop();
}

// A caught-up consumer renews its claim while the log stands still, also when its lease is shorter than
// poll_max (1 s): a standby must not take over a live consumer (it did, before the wait for the log to
// move was bounded by the next renewal).
TEST_F(DurableSubscriptions, AQuietConsumerKeepsItsClaim) {
    Writer writer("w", 1);
    append_feed(writer, 20, 9);
    const auto lease = 300ms;
    Subscription first(store(), feed_filter(), 0, named("quiet", lease));
    ASSERT_TRUE(first.wait_for(feed_above(0).back().sequence_number));
    const std::string owner = row("quiet").second;
    Subscription second(store(), feed_filter(), 0, named("quiet", lease));
    std::this_thread::sleep_for(2s); // nothing is appended: several leases, two poll_max
    EXPECT_EQ(row("quiet").second, owner) << "the standby took the name from a live consumer";
    EXPECT_EQ(second.count(), 0U);
    first.stop();
    second.stop();
}

// A consumer that stops renewing its claim (a process that hangs, or is killed: the database sees the
// same) is replaced once its lease has lapsed. The new consumer starts from the saved checkpoint; the
// stalled one, when it wakes, finds its claim taken and delivers nothing more. At least once: the
// events the stalled consumer had delivered but not yet saved are delivered again.
TEST_F(DurableSubscriptions, AConsumerThatStopsRenewingIsReplacedAfterItsLease) {
    Writer writer("w", 1);
    append_feed(writer, 300, 7);
    const auto all = feed_above(0);
    const auto lease = 300ms;
    std::atomic<bool> hang{true};
    std::atomic<int> delivered_after_wake{0};
    std::atomic<bool> woke{false};
    const SequenceNumber hang_at = all[all.size() / 2].sequence_number;
    Subscription stalled(store(), feed_filter(), 0, named("stall", lease), 60s, [&](const StorableEvent& e) {
        if (woke.load()) {
            ++delivered_after_wake;
        }
        if (e.sequence_number == hang_at) {
            while (hang.load()) {
                std::this_thread::sleep_for(5ms);
            }
            woke.store(true);
        }
    });
    Subscription standby(store(), feed_filter(), 0, named("stall", lease));
    ASSERT_TRUE(standby.wait_for(all.back().sequence_number)) << "the standby never took over";
    hang.store(false);
    std::this_thread::sleep_for(3 * lease);
    EXPECT_EQ(delivered_after_wake.load(), 0) << "the stalled consumer went on after losing its claim";
    // The standby started at the checkpoint the stalled one had saved: at or before the event it hung
    // in, after what it had saved.
    ASSERT_GT(standby.count(), 0U);
    EXPECT_LE(standby.delivered().front().sequence_number, hang_at);
    stalled.stop();
    standby.stop();
    std::set<SequenceNumber> seen;
    for (const auto* sub : {&stalled, &standby}) {
        for (const auto& e : sub->delivered()) {
            seen.insert(e.sequence_number);
        }
    }
    EXPECT_EQ(seen.size(), all.size()) << "an event was skipped";
}

// The exactly-once pattern: each consumer applies an event to a projection table in a transaction that
// first moves the checkpoint with checkpoint_statement(); no row moved means another consumer applied
// it, and the transaction is rolled back. Two consumers take the name from each other (each hangs for
// longer than the lease now and then) while writers append: the projection must hold every matching
// event exactly once, applied in log order.
TEST_F(DurableSubscriptions, ExactlyOnceWithTheCheckpointInTheProjectionsTransaction) {
    raw().exec("CREATE TABLE " + table() + "_projection (position bigint PRIMARY KEY, applied bigserial)");
    const std::string insert = "INSERT INTO " + table() + "_projection (position) VALUES ($1)";
    const auto lease = 200ms;
    std::atomic<int> skipped{0};
    std::atomic<int> applied{0};
    std::atomic<int> stalls_before{0};
    auto consumer = [&](unsigned seed) {
        auto session = std::make_shared<PgSession>(conninfo());
        auto rng = std::make_shared<std::mt19937>(seed);
        SubscribeOptions options = named("exact", lease);
        options.checkpoints = CheckpointSaving::by_projection;
        options.batch_size = 20;
        return std::make_unique<Subscription>(
            store(), feed_filter(), 0, options, 60s,
            [this, session, rng, &insert, &skipped, &applied, &stalls_before, lease](const StorableEvent& e) {
                const unsigned draw = (*rng)() % 300;
                if (draw == 0) {
                    // Hang before applying: the other consumer takes over and applies this event, and
                    // this one must find it applied.
                    ++stalls_before;
                    std::this_thread::sleep_for(3 * lease);
                }
                session->exec("BEGIN");
                const std::string position = std::to_string(e.sequence_number);
                if (session->exec(store().checkpoint_statement(), {std::string("exact"), position}).affected() == 0) {
                    session->exec("ROLLBACK");
                    ++skipped;
                    return;
                }
                session->exec(insert, {position});
                if (draw == 1) {
                    // Hang holding the transaction: the claim lapses, and the other consumer waits for
                    // the checkpoint row until this commits.
                    std::this_thread::sleep_for(lease + lease / 2);
                }
                session->exec("COMMIT");
                ++applied;
            });
    };
    std::vector<Writer> writers{Writer("w0", 1'000'000), Writer("w1", 2'000'000)};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (std::size_t w = 0; w < writers.size(); ++w) {
        threads.emplace_back([&, w] {
            std::mt19937 rng(static_cast<unsigned>(w + 40));
            while (!stop.load()) {
                std::vector<Kind> kinds(1 + rng() % 4);
                for (Kind& kind : kinds) {
                    kind = random_kind(rng);
                }
                if (!writers[w].append(store(), kinds, Clock::now() + 30s)) {
                    return;
                }
                std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
            }
        });
    }
    auto a = consumer(1);
    auto b = consumer(2);
    std::this_thread::sleep_for(4s);
    stop.store(true);
    for (auto& t : threads) {
        t.join();
    }
    const auto expected = feed_above(0);
    store().wait_until_processed("exact", expected.back().sequence_number, Context().with_timeout(30s));
    a->stop();
    b->stop();

    const PgRows rows = raw().exec("SELECT position FROM " + table() + "_projection ORDER BY applied").all();
    std::vector<SequenceNumber> in_projection;
    in_projection.reserve(rows.size());
    for (const PgRow& r : rows) {
        in_projection.push_back(std::stoull(r[0].value_or("0")));
    }
    std::vector<SequenceNumber> wanted;
    wanted.reserve(expected.size());
    for (const auto& e : expected) {
        wanted.push_back(e.sequence_number);
    }
    EXPECT_EQ(in_projection, wanted) << "the projection does not hold every matching event once, in log order";
    std::cout << "exactly once: " << expected.size() << " events, " << applied.load() << " applied, " << skipped.load()
              << " found applied by the other consumer; deliveries " << a->count() << " + " << b->count() << "; "
              << stalls_before.load() << " hangs before applying\n";
    EXPECT_GT(a->count(), 0U) << "no takeover happened: the test showed nothing";
    EXPECT_GT(b->count(), 0U) << "no takeover happened: the test showed nothing";
    if (stalls_before.load() > 0) {
        EXPECT_GT(skipped.load(), 0) << "a consumer that hung before applying found nothing applied by the other";
    }
}

} // namespace
