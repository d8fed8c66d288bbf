// The builder's cost grows linearly with the number of items: a chain of steps on temporaries (or on
// std::move(builder)) hands the items on instead of copying them. Asserted by counting heap
// allocations, which every copied item makes (its vectors), rather than by timing: this binary
// replaces the global operator new and delete with counting ones.
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/filter.hpp>

namespace {

std::atomic<std::size_t> allocations{0};

void* counted_allocation(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) {
        return p;
    }
    throw std::bad_alloc();
}

} // namespace

// Replacements of the global allocation functions (the array and nothrow forms too, so that every new
// is paired with its delete under AddressSanitizer as well: it intercepts the nothrow new that
// std::stable_sort's buffer comes from, which would otherwise be freed by the std::free below).
void* operator new(std::size_t size) { return counted_allocation(size); }
void* operator new[](std::size_t size) { return counted_allocation(size); }
void* operator new(std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
    try {
        return counted_allocation(size);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t /*size*/) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t /*size*/) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t& /*tag*/) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t& /*tag*/) noexcept { std::free(p); }

namespace {

using eventstore::build_event_filter;
using eventstore::Filter;
using eventstore::FilterPredicate;
using eventstore::P;

// Longer than the small-string buffer, so that copying one allocates.
std::string type_name(std::size_t i) { return "SomeLongEventTypeName-" + std::to_string(i); }
FilterPredicate predicate(std::size_t i) {
    return P("SomeLongPredicateKey", "some-long-predicate-value-" + std::to_string(i));
}

struct Inputs {
    std::vector<std::string> types;
    std::vector<FilterPredicate> predicates;
};

Inputs inputs(std::size_t n) {
    Inputs in;
    for (std::size_t i = 0; i < n; ++i) {
        in.types.push_back(type_name(i));
        in.predicates.push_back(predicate(i));
    }
    return in;
}

// n items of one event type and one predicate each, extended by moving the builder. Returns the
// allocations the building made, the inputs' own excluded.
std::size_t allocations_to_build(const Inputs& in, Filter& out) {
    const std::size_t before = allocations.load();
    auto builder =
        build_event_filter().matching().any_event_type_of(in.types[0]).and_any_predicate_of(in.predicates[0]);
    for (std::size_t i = 1; i < in.types.size(); ++i) {
        builder =
            std::move(builder).or_matching().any_event_type_of(in.types[i]).and_any_predicate_of(in.predicates[i]);
    }
    out = std::move(builder).finalize();
    return allocations.load() - before;
}

TEST(FilterBuilderCost, MovedChainsAllocateAConstantAmountPerItem) {
    // A copy of the items so far at each step would make about n^2 / 2 item copies, each with at least
    // three allocations (two vectors and a string): 6 million for 2,000 items.
    for (const std::size_t n : {std::size_t{500}, std::size_t{2000}}) {
        const Inputs in = inputs(n);
        Filter filter;
        const std::size_t count = allocations_to_build(in, filter);
        ASSERT_EQ(filter.items().size(), n);
        EXPECT_EQ(filter.items().back().event_types(), std::vector<std::string>{in.types.back()});
        EXPECT_LE(count, 30 * n) << n << " items";
    }
}

TEST(FilterBuilderCost, FinalizingATemporaryMovesTheItems) {
    const Inputs in = inputs(1000);
    auto builder = build_event_filter().matching().any_event_type_of(in.types[0]);
    for (std::size_t i = 1; i < in.types.size(); ++i) {
        builder = std::move(builder).or_matching().any_event_type_of(in.types[i]);
    }
    const auto copy = builder;

    std::size_t before = allocations.load();
    const Filter copied = copy.finalize(); // a builder in a variable: its items are copied
    const std::size_t copying = allocations.load() - before;

    before = allocations.load();
    const Filter moved = std::move(builder).finalize();
    const std::size_t moving = allocations.load() - before;

    EXPECT_EQ(copied, moved);
    EXPECT_EQ(copied.items().size(), in.types.size());
    EXPECT_GE(copying, 2 * in.types.size()); // each item's vector and string
    EXPECT_LE(moving, 2U);                   // at most the items' vector, grown for the last item
}

TEST(FilterBuilderCost, StepsOnABuilderInAVariableLeaveItAsItWas) {
    const auto base = build_event_filter().matching().any_event_type_of("A").and_any_predicate_of(P("k", "v"));
    const Filter before = base.finalize();
    const Filter extended = base.or_matching().any_event_type_of("B").finalize();
    const Filter bounded = base.with_sequence_number_higher_than(7).finalize();
    EXPECT_EQ(base.finalize(), before);
    EXPECT_EQ(extended.items().size(), 2U);
    EXPECT_EQ(bounded.items().size(), 1U);
    EXPECT_EQ(bounded.sequence_number_higher_than(), 7U);

    auto reopened = std::get<eventstore::SequenceFilteringCapable>(extended.reopen_for_sequence_filtering());
    const Filter from_copy = reopened.with_sequence_number_higher_than(9).finalize();
    const Filter from_move = std::move(reopened).with_sequence_number_higher_than(9).finalize();
    EXPECT_EQ(from_copy, from_move);
    EXPECT_EQ(from_move.items(), extended.items());
}

TEST(FilterBuilderCost, MovedAndCopiedChainsBuildTheSameFilter) {
    const Inputs in = inputs(50);
    auto moved = build_event_filter().matching().any_predicate_of(in.predicates[0]).and_any_event_type_of(in.types[0]);
    auto copied = moved;
    for (std::size_t i = 1; i < in.types.size(); ++i) {
        moved = std::move(moved).or_matching().all_predicates_of(in.predicates[i]).and_any_event_type_of(in.types[i]);
        copied = copied.or_matching().all_predicates_of(in.predicates[i]).and_any_event_type_of(in.types[i]);
    }
    const Filter a =
        std::move(moved).occurred_from(eventstore::TimePoint{}).and_occurred_until(eventstore::TimePoint{}).finalize();
    const Filter b =
        copied.occurred_from(eventstore::TimePoint{}).and_occurred_until(eventstore::TimePoint{}).finalize();
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.hash(), b.hash());
}

// Not timed: 50,000 items build within the test's timeout only when building is linear (quadratic
// copying took about 50 s for 8,000 items in a Debug build).
TEST(FilterBuilderCost, FiftyThousandItems) {
    constexpr std::size_t n = 50000;
    auto builder = build_event_filter().matching().any_event_type_of(type_name(0));
    for (std::size_t i = 1; i < n; ++i) {
        builder = std::move(builder).or_matching().any_event_type_of(type_name(i));
    }
    const Filter filter = std::move(builder).with_sequence_number_higher_than(1).finalize();
    ASSERT_EQ(filter.items().size(), n);
    EXPECT_EQ(filter.items()[n - 1].event_types(), std::vector<std::string>{type_name(n - 1)});
    EXPECT_EQ(filter.sequence_number_higher_than(), 1U);
}

} // namespace
