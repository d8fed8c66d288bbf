// The replica rotation (replica_set.hpp): round robin over the replicas in rotation, a failed one out
// for its retry delay, and the last failure kept for the error that says none can serve.

#include <chrono>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "postgres/replica_set.hpp"

namespace {

using eventstore::postgres::detail::ReplicaSet;
using namespace std::chrono_literals;
using Order = std::vector<std::size_t>;

ReplicaSet three() { return ReplicaSet({{nullptr, "a"}, {nullptr, "b"}, {nullptr, "c"}}, 5s); }

TEST(ReplicaSet, EachReadStartsWithTheNextReplicaAndTriesTheOthersAfterIt) {
    ReplicaSet set = three();
    const auto now = ReplicaSet::Clock::now();
    EXPECT_EQ(set.rotation(now), (Order{0, 1, 2}));
    EXPECT_EQ(set.rotation(now), (Order{1, 2, 0}));
    EXPECT_EQ(set.rotation(now), (Order{2, 0, 1}));
    EXPECT_EQ(set.rotation(now), (Order{0, 1, 2}));
}

TEST(ReplicaSet, AFailedReplicaIsOutOfRotationForItsRetryDelay) {
    ReplicaSet set = three();
    const auto now = ReplicaSet::Clock::now();
    set.failed(1, now, "connection refused");
    EXPECT_EQ(set.rotation(now), (Order{0, 2}));
    EXPECT_EQ(set.rotation(now + 4999ms), (Order{2, 0}));
    EXPECT_EQ(set.rotation(now + 5s), (Order{2, 0, 1}));
    EXPECT_EQ(set.last_failure(), "b: connection refused");
}

TEST(ReplicaSet, WithEveryReplicaOutTheRotationIsEmpty) {
    ReplicaSet set = three();
    const auto now = ReplicaSet::Clock::now();
    for (std::size_t i = 0; i < 3; ++i) {
        set.failed(i, now, "down");
    }
    EXPECT_TRUE(set.rotation(now + 1s).empty());
    EXPECT_EQ(set.last_failure(), "c: down");
    ReplicaSet none({}, 5s);
    EXPECT_TRUE(none.empty());
    EXPECT_TRUE(none.rotation(now).empty());
}

} // namespace
