// The Go library's filter-builder grammar is enforced by the types: every sequence Go allows compiles, and
// every sequence it forbids does not. Checked with requires-expressions at compile time.
#include <array>
#include <chrono>
#include <string>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/filter.hpp>

namespace {

using namespace eventstore;

// ---- the steps, as concepts ---------------------------------------------------------------------------------

template <typename B>
concept can_finalize = requires(const B& b) {
    { b.finalize() } -> std::same_as<Filter>;
};
template <typename B>
concept can_matching = requires(const B& b) {
    b.matching();
};
template <typename B>
concept can_matching_any_event = requires(const B& b) {
    b.matching_any_event();
};
template <typename B>
concept can_or_matching = requires(const B& b) {
    b.or_matching();
};
template <typename B>
concept can_occurred_from = requires(const B& b, TimePoint t) {
    b.occurred_from(t);
};
template <typename B>
concept can_occurred_until = requires(const B& b, TimePoint t) {
    b.occurred_until(t);
};
template <typename B>
concept can_and_occurred_until = requires(const B& b, TimePoint t) {
    b.and_occurred_until(t);
};
template <typename B>
concept can_sequence = requires(const B& b, SequenceNumber n) {
    b.with_sequence_number_higher_than(n);
};
template <typename B>
concept can_any_event_type_of = requires(const B& b) {
    b.any_event_type_of("A");
};
template <typename B>
concept can_and_any_event_type_of = requires(const B& b) {
    b.and_any_event_type_of("A");
};
template <typename B>
concept can_any_predicate_of = requires(const B& b, const FilterPredicate& p) {
    b.any_predicate_of(p);
};
template <typename B>
concept can_all_predicates_of = requires(const B& b, const FilterPredicate& p) {
    b.all_predicates_of(p);
};
template <typename B>
concept can_and_any_predicate_of = requires(const B& b, const FilterPredicate& p) {
    b.and_any_predicate_of(p);
};
template <typename B>
concept can_and_all_predicates_of = requires(const B& b, const FilterPredicate& p) {
    b.and_all_predicates_of(p);
};

// The full set of steps a state offers, as a bit mask, so that each state's row states everything it allows
// and (by omission) everything it forbids.
enum Step : unsigned {
    finalize_step = 1U << 0U,
    matching_step = 1U << 1U,
    matching_any_event_step = 1U << 2U,
    or_matching_step = 1U << 3U,
    occurred_from_step = 1U << 4U,
    occurred_until_step = 1U << 5U,
    and_occurred_until_step = 1U << 6U,
    sequence_step = 1U << 7U,
    any_event_type_of_step = 1U << 8U,
    and_any_event_type_of_step = 1U << 9U,
    any_predicate_of_step = 1U << 10U,
    all_predicates_of_step = 1U << 11U,
    and_any_predicate_of_step = 1U << 12U,
    and_all_predicates_of_step = 1U << 13U,
};

template <typename B>
constexpr unsigned steps() {
    unsigned mask = 0;
    mask |= can_finalize<B> ? finalize_step : 0U;
    mask |= can_matching<B> ? matching_step : 0U;
    mask |= can_matching_any_event<B> ? matching_any_event_step : 0U;
    mask |= can_or_matching<B> ? or_matching_step : 0U;
    mask |= can_occurred_from<B> ? occurred_from_step : 0U;
    mask |= can_occurred_until<B> ? occurred_until_step : 0U;
    mask |= can_and_occurred_until<B> ? and_occurred_until_step : 0U;
    mask |= can_sequence<B> ? sequence_step : 0U;
    mask |= can_any_event_type_of<B> ? any_event_type_of_step : 0U;
    mask |= can_and_any_event_type_of<B> ? and_any_event_type_of_step : 0U;
    mask |= can_any_predicate_of<B> ? any_predicate_of_step : 0U;
    mask |= can_all_predicates_of<B> ? all_predicates_of_step : 0U;
    mask |= can_and_any_predicate_of<B> ? and_any_predicate_of_step : 0U;
    mask |= can_and_all_predicates_of<B> ? and_all_predicates_of_step : 0U;
    return mask;
}

constexpr unsigned closing_steps =
    finalize_step | or_matching_step | occurred_from_step | occurred_until_step | sequence_step;

// One row per state of the builder: the steps Go allows from it.
static_assert(steps<FilterBuilder>() ==
              (matching_step | matching_any_event_step | occurred_from_step | occurred_until_step | sequence_step));
static_assert(steps<EmptyFilterItemBuilder>() ==
              (any_event_type_of_step | any_predicate_of_step | all_predicates_of_step));
static_assert(steps<FilterItemBuilderLackingPredicates>() ==
              (closing_steps | and_any_predicate_of_step | and_all_predicates_of_step));
static_assert(steps<FilterItemBuilderLackingEventTypes>() == (closing_steps | and_any_event_type_of_step));
static_assert(steps<CompletedFilterItemBuilder>() == closing_steps);
static_assert(steps<CompletedFilterItemBuilderWithOccurredFrom>() == (finalize_step | and_occurred_until_step));
static_assert(steps<CompletedFilterItemBuilderWithOccurredUntil>() == finalize_step);
static_assert(steps<CompletedFilterItemBuilderWithOccurredFromToUntil>() == finalize_step);
static_assert(steps<CompletedFilterItemBuilderWithSequenceNumber>() == finalize_step);
static_assert(steps<SequenceFilteringCapable>() == sequence_step);
static_assert(steps<SequenceFilteringIncompatible>() == 0U);
static_assert(requires(const SequenceFilteringIncompatible& s) {
    { s.cannot_add_sequence_filtering() } -> std::same_as<std::string>;
});

// The forbidden sequences named in the brief, spelled out.
static_assert(!can_finalize<EmptyFilterItemBuilder>);
static_assert(!can_finalize<FilterBuilder>);
static_assert(!can_occurred_from<CompletedFilterItemBuilderWithOccurredUntil>);
static_assert(!can_and_any_predicate_of<FilterItemBuilderLackingEventTypes>);
static_assert(!can_or_matching<CompletedFilterItemBuilderWithOccurredFrom>);
static_assert(!can_or_matching<CompletedFilterItemBuilderWithOccurredUntil>);
static_assert(!can_or_matching<CompletedFilterItemBuilderWithSequenceNumber>);
static_assert(!can_sequence<CompletedFilterItemBuilderWithOccurredFrom>);
static_assert(!can_occurred_from<CompletedFilterItemBuilderWithSequenceNumber>);
static_assert(!can_and_any_event_type_of<CompletedFilterItemBuilder>);
static_assert(!can_and_any_predicate_of<CompletedFilterItemBuilder>);
static_assert(!can_any_event_type_of<FilterItemBuilderLackingPredicates>);
static_assert(!can_and_any_event_type_of<FilterItemBuilderLackingPredicates>);
static_assert(!can_any_predicate_of<FilterItemBuilderLackingEventTypes>);
static_assert(!can_finalize<SequenceFilteringCapable>);

// ---- each step leads to the expected state (Test_FilterBuilder_InterfaceConstraints) -----------------------

[[maybe_unused]] const TimePoint t{}; // only named in unevaluated operands
const FilterPredicate p = P("k", "v");

static_assert(std::is_same_v<decltype(build_event_filter()), FilterBuilder>);
static_assert(std::is_same_v<decltype(build_event_filter().matching()), EmptyFilterItemBuilder>);
static_assert(std::is_same_v<decltype(build_event_filter().matching_any_event()), Filter>);
static_assert(std::is_same_v<decltype(build_event_filter().with_sequence_number_higher_than(1)),
                             CompletedFilterItemBuilderWithSequenceNumber>);
static_assert(
    std::is_same_v<decltype(build_event_filter().occurred_from(t)), CompletedFilterItemBuilderWithOccurredFrom>);
static_assert(
    std::is_same_v<decltype(build_event_filter().occurred_until(t)), CompletedFilterItemBuilderWithOccurredUntil>);
static_assert(std::is_same_v<decltype(build_event_filter().occurred_from(t).and_occurred_until(t)),
                             CompletedFilterItemBuilderWithOccurredFromToUntil>);
static_assert(std::is_same_v<decltype(build_event_filter().matching().any_event_type_of("A")),
                             FilterItemBuilderLackingPredicates>);
static_assert(
    std::is_same_v<decltype(build_event_filter().matching().any_predicate_of(p)), FilterItemBuilderLackingEventTypes>);
static_assert(
    std::is_same_v<decltype(build_event_filter().matching().all_predicates_of(p)), FilterItemBuilderLackingEventTypes>);
static_assert(std::is_same_v<decltype(build_event_filter().matching().any_event_type_of("A").and_any_predicate_of(p)),
                             CompletedFilterItemBuilder>);
static_assert(std::is_same_v<decltype(build_event_filter().matching().any_event_type_of("A").and_all_predicates_of(p)),
                             CompletedFilterItemBuilder>);
static_assert(std::is_same_v<decltype(build_event_filter().matching().any_predicate_of(p).and_any_event_type_of("A")),
                             CompletedFilterItemBuilder>);
static_assert(std::is_same_v<decltype(build_event_filter().matching().any_event_type_of("A").or_matching()),
                             EmptyFilterItemBuilder>);
static_assert(std::is_same_v<decltype(build_event_filter().matching().any_predicate_of(p).or_matching()),
                             EmptyFilterItemBuilder>);
static_assert(std::is_same_v<
              decltype(build_event_filter().matching().any_predicate_of(p).and_any_event_type_of("A").or_matching()),
              EmptyFilterItemBuilder>);
static_assert(std::is_same_v<decltype(build_event_filter().matching().any_event_type_of("A").occurred_from(t)),
                             CompletedFilterItemBuilderWithOccurredFrom>);
static_assert(std::is_same_v<decltype(build_event_filter().matching().any_predicate_of(p).occurred_until(t)),
                             CompletedFilterItemBuilderWithOccurredUntil>);
static_assert(std::is_same_v<decltype(build_event_filter()
                                          .matching()
                                          .any_predicate_of(p)
                                          .and_any_event_type_of("A")
                                          .with_sequence_number_higher_than(1)),
                             CompletedFilterItemBuilderWithSequenceNumber>);
static_assert(std::is_same_v<decltype(Filter().reopen_for_sequence_filtering()), SequenceFilteringReopened>);
static_assert(std::is_same_v<decltype(std::declval<SequenceFilteringCapable>().with_sequence_number_higher_than(1)),
                             CompletedFilterItemBuilderWithSequenceNumber>);

// The example chain of the API contract, in full.
static_assert(std::is_same_v<decltype(build_event_filter()
                                          .matching()
                                          .any_event_type_of("A")
                                          .and_any_predicate_of(P("k", "v"))
                                          .or_matching()
                                          .all_predicates_of(P("k", "v"))
                                          .and_any_event_type_of("B")
                                          .occurred_from(t)
                                          .and_occurred_until(t)
                                          .finalize()),
                             Filter>);

// ---- arguments ------------------------------------------------------------------------------------------------

// At least one argument; all of the same kind; lists built at run time through the span overloads. A
// requires-expression only reports (rather than rejects) an ill-formed call when it depends on a template
// parameter, hence these concepts over the receiver and the argument types.
template <typename B, typename... A>
concept any_event_type_of_accepts = requires(const B& b, A&&... a) {
    b.any_event_type_of(std::forward<A>(a)...);
};
template <typename B, typename... A>
concept and_any_event_type_of_accepts = requires(const B& b, A&&... a) {
    b.and_any_event_type_of(std::forward<A>(a)...);
};
template <typename B, typename... A>
concept any_predicate_of_accepts = requires(const B& b, A&&... a) {
    b.any_predicate_of(std::forward<A>(a)...);
};
template <typename B, typename... A>
concept all_predicates_of_accepts = requires(const B& b, A&&... a) {
    b.all_predicates_of(std::forward<A>(a)...);
};
template <typename B, typename... A>
concept and_any_predicate_of_accepts = requires(const B& b, A&&... a) {
    b.and_any_predicate_of(std::forward<A>(a)...);
};
template <typename B, typename... A>
concept and_all_predicates_of_accepts = requires(const B& b, A&&... a) {
    b.and_all_predicates_of(std::forward<A>(a)...);
};

using Empty = EmptyFilterItemBuilder;
using LackingPredicates = FilterItemBuilderLackingPredicates;
using LackingEventTypes = FilterItemBuilderLackingEventTypes;
using Strings = std::vector<std::string>;
using PredicateList = std::vector<FilterPredicate>;

static_assert(!any_event_type_of_accepts<Empty>);
static_assert(!any_predicate_of_accepts<Empty>);
static_assert(!all_predicates_of_accepts<Empty>);
static_assert(!and_any_predicate_of_accepts<LackingPredicates>);
static_assert(!and_all_predicates_of_accepts<LackingPredicates>);
static_assert(!and_any_event_type_of_accepts<LackingEventTypes>);

static_assert(any_event_type_of_accepts<Empty, const char*, std::string, std::string_view, const std::string&>);
static_assert(!any_event_type_of_accepts<Empty, const char*, int>);
static_assert(!any_event_type_of_accepts<Empty, FilterPredicate>);
static_assert(!any_event_type_of_accepts<Empty, int>);
static_assert(and_any_event_type_of_accepts<LackingEventTypes, const char*, std::string>);
static_assert(!and_any_event_type_of_accepts<LackingEventTypes, FilterPredicate>);

static_assert(any_predicate_of_accepts<Empty, FilterPredicate, const FilterPredicate&, FilterPredicate&>);
static_assert(all_predicates_of_accepts<Empty, FilterPredicate, FilterPredicate>);
static_assert(!any_predicate_of_accepts<Empty, FilterPredicate, const char*>);
static_assert(!any_predicate_of_accepts<Empty, const char*>);
static_assert(!all_predicates_of_accepts<Empty, std::string>);
static_assert(and_any_predicate_of_accepts<LackingPredicates, FilterPredicate, FilterPredicate>);
static_assert(!and_all_predicates_of_accepts<LackingPredicates, FilterPredicate, std::string>);

static_assert(any_event_type_of_accepts<Empty, const Strings&>);
static_assert(any_event_type_of_accepts<Empty, Strings>);
static_assert(any_event_type_of_accepts<Empty, const std::array<std::string, 2>&>);
static_assert(any_event_type_of_accepts<Empty, std::span<const std::string>>);
static_assert(and_any_event_type_of_accepts<LackingEventTypes, const Strings&>);
static_assert(any_predicate_of_accepts<Empty, const PredicateList&>);
static_assert(all_predicates_of_accepts<Empty, PredicateList>);
static_assert(and_any_predicate_of_accepts<LackingPredicates, const PredicateList&>);
static_assert(and_all_predicates_of_accepts<LackingPredicates, std::span<const FilterPredicate>>);
static_assert(!any_event_type_of_accepts<Empty, const std::vector<int>&>);
static_assert(!any_predicate_of_accepts<Empty, const Strings&>);
static_assert(!any_event_type_of_accepts<Empty, const PredicateList&>);

// The builders are plain values.
static_assert(std::is_copy_constructible_v<FilterItemBuilderLackingPredicates>);
static_assert(std::is_nothrow_move_constructible_v<Filter>);

TEST(FilterGrammar, EveryAllowedSequenceBuildsAFilter) {
    const TimePoint from = std::chrono::sys_days{std::chrono::year{2025} / 1 / 1};
    const TimePoint until = from + std::chrono::hours{24};
    const std::vector<Filter> filters = {
        build_event_filter().matching_any_event(),
        build_event_filter().occurred_from(from).finalize(),
        build_event_filter().occurred_from(from).and_occurred_until(until).finalize(),
        build_event_filter().occurred_until(until).finalize(),
        build_event_filter().with_sequence_number_higher_than(1).finalize(),
        build_event_filter().matching().any_event_type_of("A").finalize(),
        build_event_filter().matching().any_event_type_of("A").occurred_from(from).finalize(),
        build_event_filter().matching().any_event_type_of("A").occurred_until(until).finalize(),
        build_event_filter().matching().any_event_type_of("A").with_sequence_number_higher_than(1).finalize(),
        build_event_filter().matching().any_event_type_of("A").and_any_predicate_of(p).finalize(),
        build_event_filter().matching().any_event_type_of("A").and_all_predicates_of(p).occurred_from(from).finalize(),
        build_event_filter().matching().any_predicate_of(p).finalize(),
        build_event_filter().matching().all_predicates_of(p).occurred_until(until).finalize(),
        build_event_filter().matching().any_predicate_of(p).and_any_event_type_of("C").finalize(),
        build_event_filter().matching().any_predicate_of(p).with_sequence_number_higher_than(2).finalize(),
        build_event_filter().matching().any_event_type_of("A").or_matching().any_predicate_of(p).finalize(),
        build_event_filter()
            .matching()
            .any_event_type_of("A")
            .and_any_predicate_of(P("k", "v"))
            .or_matching()
            .all_predicates_of(P("k", "v"))
            .and_any_event_type_of("B")
            .occurred_from(from)
            .and_occurred_until(until)
            .finalize(),
    };
    // Every filter is distinct, so every step had an effect.
    for (std::size_t i = 0; i < filters.size(); ++i) {
        for (std::size_t j = i + 1; j < filters.size(); ++j) {
            EXPECT_NE(filters[i].hash(), filters[j].hash()) << i << " vs " << j;
        }
    }
}

} // namespace
