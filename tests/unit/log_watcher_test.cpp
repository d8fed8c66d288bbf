// The subscriptions' shared wake-up: it samples only while a subscription runs, wakes the waiters
// when the head moves past what they saw, never reports a head that went down, keeps going after a
// failed sample, and ends a wait on the waiter's Context or time limit.

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <stop_token>
#include <thread>

#include <gtest/gtest.h>

#include "postgres/log_watcher.hpp"

namespace {

using eventstore::Context;
using eventstore::SequenceNumber;
using eventstore::postgres::detail::LogWatcher;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct FakeLog {
    std::atomic<SequenceNumber> head{0};
    std::atomic<int> samples{0};
    std::atomic<bool> failing{false};

    LogWatcher::Probe probe() {
        return [this](const Context&) {
            ++samples;
            if (failing.load()) {
                throw std::runtime_error("unreachable");
            }
            return head.load();
        };
    }
};

TEST(LogWatcher, SamplesOnlyWhileASubscriptionRuns) {
    FakeLog log;
    LogWatcher watcher(log.probe(), 1ms);
    std::this_thread::sleep_for(30ms);
    EXPECT_EQ(log.samples.load(), 0);
    {
        const LogWatcher::Interest interest(watcher);
        std::this_thread::sleep_for(30ms);
        EXPECT_GT(log.samples.load(), 3);
    }
    std::this_thread::sleep_for(5ms);
    const int after = log.samples.load();
    std::this_thread::sleep_for(30ms);
    EXPECT_LE(log.samples.load(), after + 1);
}

TEST(LogWatcher, WakesAWaiterWhenTheHeadMovesPastWhatItSaw) {
    FakeLog log;
    log.head = 10;
    LogWatcher watcher(log.probe(), 1ms);
    const LogWatcher::Interest interest(watcher);
    ASSERT_TRUE(watcher.wait_above(0, Context(), Clock::now() + 2s));
    EXPECT_EQ(watcher.head(), 10U);
    // Nothing new: the wait ends at its limit.
    const auto start = Clock::now();
    EXPECT_FALSE(watcher.wait_above(10, Context(), start + 50ms));
    EXPECT_GE(Clock::now() - start, 50ms);

    std::thread writer([&] {
        std::this_thread::sleep_for(20ms);
        log.head = 11;
    });
    EXPECT_TRUE(watcher.wait_above(10, Context(), Clock::now() + 2s));
    EXPECT_EQ(watcher.head(), 11U);
    writer.join();
    // A head that reads lower (a sample from a lagging source) never moves it back.
    log.head = 5;
    std::this_thread::sleep_for(10ms);
    EXPECT_EQ(watcher.head(), 11U);
}

TEST(LogWatcher, AWaitEndsWithTheWaitersContext) {
    FakeLog log;
    LogWatcher watcher(log.probe(), 1ms);
    const LogWatcher::Interest interest(watcher);
    std::stop_source stop;
    std::thread stopper([&] {
        std::this_thread::sleep_for(20ms);
        stop.request_stop();
    });
    const auto start = Clock::now();
    EXPECT_FALSE(watcher.wait_above(0, Context().with_stop_token(stop.get_token()), start + 10s));
    EXPECT_LT(Clock::now() - start, 1s);
    stopper.join();
    EXPECT_FALSE(watcher.wait_above(0, Context().with_timeout(20ms), Clock::now() + 10s));
}

TEST(LogWatcher, AFailedSampleIsTriedAgain) {
    FakeLog log;
    log.failing = true;
    log.head = 3;
    LogWatcher watcher(log.probe(), 1ms);
    const LogWatcher::Interest interest(watcher);
    std::this_thread::sleep_for(30ms);
    EXPECT_EQ(watcher.head(), 0U);
    log.failing = false;
    EXPECT_TRUE(watcher.wait_above(0, Context(), Clock::now() + 5s)) << "the watcher gave up after a failure";
}

} // namespace
