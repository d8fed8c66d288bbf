// The lock protocol's planning (src/postgres/lock_keys.hpp), without a database: which keys a filter
// and an event stand for, and the lock set one call takes. That the protocol prevents lost conflicts
// and skipped events is the concurrency oracle's part.

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "postgres/lock_keys.hpp"

namespace {

using namespace eventstore;
using namespace eventstore::postgres::detail;

std::vector<std::uint64_t> filter_keys(const Filter& filter) {
    std::vector<std::uint64_t> keys;
    add_filter_keys(filter, keys);
    return keys;
}

std::uint64_t stripe_of(std::int64_t key) { return static_cast<std::uint64_t>(key) & (lock_stripes - 1); }
std::uint64_t base_of(std::int64_t key) { return static_cast<std::uint64_t>(key) & ~std::uint64_t{lock_stripes - 1}; }

TEST(LockKeys, KeysAreStableAndLeaveTheStripeBitsFree) {
    // Part of the on-disk protocol: every process writing to one database must agree.
    EXPECT_EQ(event_type_key("A"), event_type_key("A"));
    EXPECT_NE(event_type_key("A"), event_type_key("B"));
    EXPECT_NE(predicate_key("k", "v"), predicate_key("kv", "")); // length-prefixed fields
    EXPECT_NE(predicate_key("A", ""), event_type_key("A"));      // kinds never collide by design
    for (const std::uint64_t k : {global_key(), event_type_key("A"), predicate_key("k", "v")}) {
        EXPECT_EQ(k & (lock_stripes - 1), 0U);
    }
}

TEST(LockKeys, AFilterWithoutItemsDependsOnTheGlobalKey) {
    EXPECT_EQ(filter_keys(Filter()), std::vector<std::uint64_t>{global_key()});
}

TEST(LockKeys, PredicatesStandForTheirItemAndTypesOnlyWithoutThem) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A", "B")
                         .and_any_predicate_of(P("k", "1"), P("k", "2"))
                         .or_matching()
                         .any_event_type_of("C")
                         .finalize();
    const auto keys = filter_keys(f);
    const std::set<std::uint64_t> got(keys.begin(), keys.end());
    EXPECT_EQ(got, (std::set<std::uint64_t>{predicate_key("k", "1"), predicate_key("k", "2"), event_type_key("C")}));
}

TEST(LockKeys, AllOfSeveralPredicatesNeedsOneOfThem) {
    const Filter f = build_event_filter().matching().all_predicates_of(P("a", "1"), P("b", "2")).finalize();
    const auto keys = filter_keys(f);
    ASSERT_EQ(keys.size(), 1U);
    // Every matching event carries all of them, so it writes under whichever is chosen.
    EXPECT_TRUE(keys[0] == predicate_key("a", "1") || keys[0] == predicate_key("b", "2"));
}

TEST(LockKeys, AnEventWritesUnderTheGlobalKeyItsTypeAndEachStringMember) {
    std::vector<std::uint64_t> keys;
    const std::vector<std::pair<std::string, std::string>> members{{"BookID", "b1"}, {"ReaderID", "r1"}};
    add_event_keys("Lent", members, {}, keys);
    EXPECT_EQ(keys, (std::vector<std::uint64_t>{global_key(), event_type_key("Lent"), predicate_key("BookID", "b1"),
                                                predicate_key("ReaderID", "r1")}));
}

TEST(LockKeys, WritersTakeOneStripeReadersEveryStripeInOneSortedOrder) {
    const std::vector<std::uint64_t> readers{event_type_key("R")};
    const std::vector<std::uint64_t> writers{event_type_key("W"), event_type_key("W")}; // duplicates collapse
    const auto locks = plan_locks(readers, writers, 13);
    ASSERT_EQ(locks.size(), 1U + lock_stripes);
    EXPECT_TRUE(std::is_sorted(locks.begin(), locks.end(),
                               [](const LockRequest& a, const LockRequest& b) { return a.key < b.key; }));
    std::size_t exclusive = 0;
    for (const LockRequest& l : locks) {
        if (l.exclusive) {
            ++exclusive;
            EXPECT_EQ(base_of(l.key), event_type_key("W"));
            EXPECT_EQ(stripe_of(l.key), 13U % lock_stripes);
        } else {
            EXPECT_EQ(base_of(l.key), event_type_key("R"));
        }
    }
    EXPECT_EQ(exclusive, 1U);
}

TEST(LockKeys, WhereAReaderAndAWriterKeyMeetTheExclusiveLockWins) {
    const std::uint64_t k = event_type_key("Same");
    const auto locks = plan_locks({k}, {k}, 2);
    ASSERT_EQ(locks.size(), lock_stripes); // one request per stripe, never two for one key
    for (const LockRequest& l : locks) {
        EXPECT_EQ(l.exclusive, stripe_of(l.key) == 2U) << l.key;
    }
}

TEST(LockKeys, TheLockStatementTakesThePlannedLocksInOrder) {
    const auto locks = plan_locks({global_key()}, {event_type_key("A")}, 1);
    const Statement s = lock_statement(locks);
    EXPECT_EQ(s.plan, Statement::Plan::cached);
    ASSERT_EQ(s.params.size(), 2U);
    EXPECT_EQ(s.params[0].type, oid::int8_array);
    EXPECT_EQ(s.params[1].type, oid::bool_array);
    // 20 header bytes, then 4 length bytes and 8 value bytes per key.
    EXPECT_EQ(s.params[0].value.size(), 20U + 12U * locks.size());
    EXPECT_EQ(s.params[1].value.size(), 20U + 5U * locks.size());
    EXPECT_NE(s.sql.find("unnest"), std::string::npos);
}

// Past the budget a call locks every stripe of the global key instead of its own keys: a bounded
// number of locks, no table lock, and still every conflict (the global key is every event's).
TEST(LockKeys, ACallWithTooManyKeysLocksEveryStripeOfTheGlobalKey) {
    std::vector<std::uint64_t> many;
    for (int i = 0; i < 500; ++i) {
        many.push_back(event_type_key("Type" + std::to_string(i)));
    }
    const auto global_stripes = [](const std::vector<LockRequest>& locks, bool exclusive) {
        if (locks.size() != lock_stripes) {
            return false;
        }
        for (std::uint64_t s = 0; s < lock_stripes; ++s) {
            const LockRequest expected{static_cast<std::int64_t>(global_key() | s), exclusive};
            if (std::find(locks.begin(), locks.end(), expected) == locks.end()) {
                return false;
            }
        }
        return std::is_sorted(locks.begin(), locks.end(),
                              [](const LockRequest& a, const LockRequest& b) { return a.key < b.key; });
    };
    // A read of 500 types: shared, like a read of the whole log.
    EXPECT_TRUE(global_stripes(plan_locks(many, {}, 0), false));
    // A write with a 500-type filter, and a write of 500 keys: exclusive, alone among writers.
    EXPECT_TRUE(global_stripes(plan_locks(many, {event_type_key("W")}, 3), true));
    EXPECT_TRUE(global_stripes(plan_locks({}, many, 3), true));
    // At the budget, the keys themselves.
    std::vector<std::uint64_t> budget(many.begin(), many.begin() + max_advisory_locks / lock_stripes);
    EXPECT_EQ(plan_locks(budget, {}, 0).size(), max_advisory_locks);
    EXPECT_FALSE(global_stripes(plan_locks(budget, {}, 0), false));
}

} // namespace
