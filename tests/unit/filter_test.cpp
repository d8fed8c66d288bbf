// What the Go library's filter tests check: builder results, sanitisation, mutual
// exclusion of the bounds, edge cases and ReopenForSequenceFiltering.
#include <chrono>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/error.hpp>
#include <eventstore/filter.hpp>

namespace {

using eventstore::build_event_filter;
using eventstore::Errc;
using eventstore::Error;
using eventstore::Filter;
using eventstore::FilterItem;
using eventstore::FilterPredicate;
using eventstore::P;
using eventstore::SequenceFilteringCapable;
using eventstore::SequenceFilteringIncompatible;
using eventstore::TimePoint;
using Strings = std::vector<std::string>;
using Predicates = std::vector<FilterPredicate>;

TimePoint utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
    using namespace std::chrono;
    return sys_days{year{y} / mo / d} + hours{h} + minutes{mi} + seconds{s};
}

const TimePoint t_from = utc(2025, 1, 1, 12);
const TimePoint t_until = utc(2025, 1, 2, 9);

void expect_no_bounds(const Filter& f) {
    EXPECT_FALSE(f.occurred_from().has_value());
    EXPECT_FALSE(f.occurred_until().has_value());
    EXPECT_EQ(f.sequence_number_higher_than(), 0U);
}

void expect_item(const FilterItem& item, const Strings& types, const Predicates& predicates, bool all) {
    EXPECT_EQ(item.event_types(), types);
    EXPECT_EQ(item.predicates(), predicates);
    EXPECT_EQ(item.all_predicates_must_match(), all);
}

// ---- Test_FilterBuilder_ValidCombinations --------------------------------------------------------------

TEST(FilterValidCombinations, MatchingAnyEventCreatesEmptyFilter) {
    const Filter f = build_event_filter().matching_any_event();
    EXPECT_TRUE(f.items().empty());
    expect_no_bounds(f);
    EXPECT_EQ(f, Filter());
}

TEST(FilterValidCombinations, SequenceOnlyFilter) {
    const Filter f = build_event_filter().with_sequence_number_higher_than(10).finalize();
    ASSERT_EQ(f.items().size(), 1U);
    EXPECT_TRUE(f.items()[0].empty());
    expect_item(f.items()[0], {}, {}, false);
    EXPECT_EQ(f.sequence_number_higher_than(), 10U);
    EXPECT_FALSE(f.occurred_from().has_value());
    EXPECT_FALSE(f.occurred_until().has_value());
}

TEST(FilterValidCombinations, OccurredFromOnlyFilter) {
    const Filter f = build_event_filter().occurred_from(t_from).finalize();
    ASSERT_EQ(f.items().size(), 1U);
    EXPECT_TRUE(f.items()[0].empty());
    EXPECT_EQ(f.occurred_from(), t_from);
    EXPECT_FALSE(f.occurred_until().has_value());
    EXPECT_EQ(f.sequence_number_higher_than(), 0U);
}

TEST(FilterValidCombinations, OccurredUntilOnlyFilter) {
    const Filter f = build_event_filter().occurred_until(t_until).finalize();
    ASSERT_EQ(f.items().size(), 1U);
    EXPECT_TRUE(f.items()[0].empty());
    EXPECT_FALSE(f.occurred_from().has_value());
    EXPECT_EQ(f.occurred_until(), t_until);
}

TEST(FilterValidCombinations, OccurredFromAndUntilFilter) {
    const Filter f = build_event_filter().occurred_from(t_from).and_occurred_until(t_until).finalize();
    ASSERT_EQ(f.items().size(), 1U);
    EXPECT_TRUE(f.items()[0].empty());
    EXPECT_EQ(f.occurred_from(), t_from);
    EXPECT_EQ(f.occurred_until(), t_until);
    EXPECT_EQ(f.sequence_number_higher_than(), 0U);
}

TEST(FilterValidCombinations, SingleEventTypeFilter) {
    const Filter f = build_event_filter().matching().any_event_type_of("BookCopyLentToReader").finalize();
    ASSERT_EQ(f.items().size(), 1U);
    expect_item(f.items()[0], {"BookCopyLentToReader"}, {}, false);
    expect_no_bounds(f);
}

TEST(FilterValidCombinations, MultipleEventTypesFilter) {
    const Filter f =
        build_event_filter()
            .matching()
            .any_event_type_of("BookCopyReturnedByReader", "BookCopyLentToReader", "BookCopyAddedToCirculation")
            .finalize();
    ASSERT_EQ(f.items().size(), 1U);
    expect_item(f.items()[0], {"BookCopyAddedToCirculation", "BookCopyLentToReader", "BookCopyReturnedByReader"}, {},
                false);
}

TEST(FilterValidCombinations, SinglePredicateAnyFilter) {
    const Filter f = build_event_filter().matching().any_predicate_of(P("BookID", "b-1")).finalize();
    ASSERT_EQ(f.items().size(), 1U);
    expect_item(f.items()[0], {}, {P("BookID", "b-1")}, false);
}

TEST(FilterValidCombinations, SinglePredicateAllFilter) {
    const Filter f = build_event_filter().matching().all_predicates_of(P("BookID", "b-1")).finalize();
    ASSERT_EQ(f.items().size(), 1U);
    expect_item(f.items()[0], {}, {P("BookID", "b-1")}, true);
}

TEST(FilterValidCombinations, MultiplePredicatesAnyFilter) {
    const Filter f =
        build_event_filter().matching().any_predicate_of(P("ReaderID", "r-1"), P("BookID", "b-1")).finalize();
    ASSERT_EQ(f.items().size(), 1U);
    expect_item(f.items()[0], {}, {P("BookID", "b-1"), P("ReaderID", "r-1")}, false);
}

TEST(FilterValidCombinations, MultiplePredicatesAllFilter) {
    const Filter f =
        build_event_filter().matching().all_predicates_of(P("ReaderID", "r-1"), P("BookID", "b-1")).finalize();
    ASSERT_EQ(f.items().size(), 1U);
    expect_item(f.items()[0], {}, {P("BookID", "b-1"), P("ReaderID", "r-1")}, true);
}

TEST(FilterValidCombinations, EventTypesAndPredicatesAny) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("B", "A")
                         .and_any_predicate_of(P("k2", "v2"), P("k1", "v1"))
                         .finalize();
    ASSERT_EQ(f.items().size(), 1U);
    expect_item(f.items()[0], {"A", "B"}, {P("k1", "v1"), P("k2", "v2")}, false);
    expect_no_bounds(f);
}

TEST(FilterValidCombinations, EventTypesAndPredicatesAll) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A")
                         .and_all_predicates_of(P("k2", "v2"), P("k1", "v1"))
                         .finalize();
    ASSERT_EQ(f.items().size(), 1U);
    expect_item(f.items()[0], {"A"}, {P("k1", "v1"), P("k2", "v2")}, true);
}

TEST(FilterValidCombinations, PredicatesThenEventTypes) {
    const Filter any =
        build_event_filter().matching().any_predicate_of(P("k", "v")).and_any_event_type_of("B", "A").finalize();
    ASSERT_EQ(any.items().size(), 1U);
    expect_item(any.items()[0], {"A", "B"}, {P("k", "v")}, false);
    const Filter all =
        build_event_filter().matching().all_predicates_of(P("k", "v")).and_any_event_type_of("A").finalize();
    ASSERT_EQ(all.items().size(), 1U);
    expect_item(all.items()[0], {"A"}, {P("k", "v")}, true);
}

TEST(FilterValidCombinations, EventTypesWithTimeBoundaries) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A")
                         .occurred_from(t_from)
                         .and_occurred_until(t_until)
                         .finalize();
    ASSERT_EQ(f.items().size(), 1U);
    expect_item(f.items()[0], {"A"}, {}, false);
    EXPECT_EQ(f.occurred_from(), t_from);
    EXPECT_EQ(f.occurred_until(), t_until);
    EXPECT_EQ(f.sequence_number_higher_than(), 0U);
}

TEST(FilterValidCombinations, PredicatesWithSequenceBoundary) {
    const Filter f =
        build_event_filter().matching().any_predicate_of(P("k", "v")).with_sequence_number_higher_than(7).finalize();
    ASSERT_EQ(f.items().size(), 1U);
    expect_item(f.items()[0], {}, {P("k", "v")}, false);
    EXPECT_EQ(f.sequence_number_higher_than(), 7U);
    EXPECT_FALSE(f.occurred_from().has_value());
    EXPECT_FALSE(f.occurred_until().has_value());
}

TEST(FilterValidCombinations, ComplexCombinationWithTime) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("BookCopyLentToReader", "BookCopyReturnedByReader")
                         .and_any_predicate_of(P("BookID", "b-1"), P("ReaderID", "r-1"))
                         .or_matching()
                         .all_predicates_of(P("BookID", "b-1"), P("ReaderID", "r-1"))
                         .and_any_event_type_of("BookCopyAddedToCirculation")
                         .occurred_from(t_from)
                         .and_occurred_until(t_until)
                         .finalize();
    ASSERT_EQ(f.items().size(), 2U);
    expect_item(f.items()[0], {"BookCopyLentToReader", "BookCopyReturnedByReader"},
                {P("BookID", "b-1"), P("ReaderID", "r-1")}, false);
    expect_item(f.items()[1], {"BookCopyAddedToCirculation"}, {P("BookID", "b-1"), P("ReaderID", "r-1")}, true);
    EXPECT_EQ(f.occurred_from(), t_from);
    EXPECT_EQ(f.occurred_until(), t_until);
}

TEST(FilterValidCombinations, MultipleFilterItemsWithOrMatching) {
    const Filter f =
        build_event_filter().matching().any_event_type_of("A").or_matching().any_event_type_of("B").finalize();
    ASSERT_EQ(f.items().size(), 2U);
    expect_item(f.items()[0], {"A"}, {}, false);
    expect_item(f.items()[1], {"B"}, {}, false);
    expect_no_bounds(f);
}

TEST(FilterValidCombinations, ThreeFilterItemsWithDifferentPatterns) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A", "B")
                         .or_matching()
                         .any_predicate_of(P("k1", "v1"), P("k2", "v2"))
                         .or_matching()
                         .all_predicates_of(P("k3", "v3"), P("k4", "v4"))
                         .finalize();
    ASSERT_EQ(f.items().size(), 3U);
    expect_item(f.items()[0], {"A", "B"}, {}, false);
    expect_item(f.items()[1], {}, {P("k1", "v1"), P("k2", "v2")}, false);
    expect_item(f.items()[2], {}, {P("k3", "v3"), P("k4", "v4")}, true);
}

TEST(FilterValidCombinations, MultipleFilterItemsWithSequenceBoundary) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A")
                         .or_matching()
                         .any_predicate_of(P("k", "v"))
                         .with_sequence_number_higher_than(99)
                         .finalize();
    ASSERT_EQ(f.items().size(), 2U);
    expect_item(f.items()[0], {"A"}, {}, false);
    expect_item(f.items()[1], {}, {P("k", "v")}, false);
    EXPECT_EQ(f.sequence_number_higher_than(), 99U);
}

TEST(FilterValidCombinations, RuntimeLists) {
    const Strings types = {"C", "A", "B"};
    const Predicates predicates = {P("k2", "v2"), P("k1", "v1")};
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of(types)
                         .and_all_predicates_of(predicates)
                         .or_matching()
                         .any_predicate_of(predicates)
                         .and_any_event_type_of(Strings{"Z"})
                         .or_matching()
                         .all_predicates_of(std::span<const FilterPredicate>(predicates))
                         .finalize();
    const Filter expected = build_event_filter()
                                .matching()
                                .any_event_type_of("C", "A", "B")
                                .and_all_predicates_of(P("k2", "v2"), P("k1", "v1"))
                                .or_matching()
                                .any_predicate_of(P("k2", "v2"), P("k1", "v1"))
                                .and_any_event_type_of("Z")
                                .or_matching()
                                .all_predicates_of(P("k2", "v2"), P("k1", "v1"))
                                .finalize();
    EXPECT_EQ(f, expected);
    EXPECT_EQ(f.items()[0].event_types(), (Strings{"A", "B", "C"}));
}

TEST(FilterValidCombinations, EmptyRuntimeListsAreRefused) {
    // An item built from a list that came out empty would match every event.
    const auto refused = [](const auto& build) {
        try {
            (void)build();
        } catch (const Error& e) {
            return e.code() == Errc::invalid_filter;
        }
        return false;
    };
    EXPECT_TRUE(refused([] { return build_event_filter().matching().any_event_type_of(Strings{}).finalize(); }));
    EXPECT_TRUE(refused([] { return build_event_filter().matching().any_predicate_of(Predicates{}).finalize(); }));
    EXPECT_TRUE(refused([] { return build_event_filter().matching().all_predicates_of(Predicates{}).finalize(); }));
    EXPECT_TRUE(refused([] { return build_event_filter().matching().all_tags_of(Strings{}).finalize(); }));
    EXPECT_TRUE(refused([] {
        return build_event_filter().matching().any_event_type_of("A").and_any_predicate_of(Predicates{}).finalize();
    }));
    EXPECT_TRUE(refused(
        [] { return build_event_filter().matching().any_event_type_of("A").and_all_tags_of(Strings{}).finalize(); }));
    EXPECT_TRUE(refused([] {
        return build_event_filter()
            .matching()
            .any_predicate_of(P("k", "v"))
            .and_any_event_type_of(Strings{})
            .finalize();
    }));
}

TEST(FilterValidCombinations, ListsOfEmptyNamesGiveAnEmptyItemAsInGo) {
    // The Go grammar sanitises empty strings away; the item left is empty and matches everything.
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of(Strings{""})
                         .and_any_predicate_of(Predicates{P("", "v")})
                         .finalize();
    ASSERT_EQ(f.items().size(), 1U);
    EXPECT_TRUE(f.items()[0].empty());
}

TEST(FilterTags, AnEmptyTagIsRefusedRatherThanWideningTheItem) {
    EXPECT_THROW((void)build_event_filter().matching().all_tags_of("").finalize(), Error);
    const Strings tags{"", "x"};
    EXPECT_THROW((void)build_event_filter().matching().all_tags_of(std::span<const std::string>(tags)).finalize(),
                 Error);
    EXPECT_THROW((void)build_event_filter().matching().any_event_type_of("T").and_all_tags_of("").finalize(), Error);
}

TEST(FilterTags, ItemsKeepTheirTagsSortedAndUnique) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("Subscribed")
                         .and_all_tags_of("student:s1", "course:c1", "student:s1")
                         .or_matching()
                         .all_tags_of("course:c2")
                         .and_any_event_type_of("Opened")
                         .or_matching()
                         .any_predicate_of(P("k", "v"))
                         .and_all_tags_of(Strings{"t"})
                         .and_any_event_type_of("T")
                         .finalize();
    ASSERT_EQ(f.items().size(), 3U);
    EXPECT_EQ(f.items()[0].tags(), (Strings{"course:c1", "student:s1"}));
    EXPECT_EQ(f.items()[0].event_types(), (Strings{"Subscribed"}));
    EXPECT_EQ(f.items()[1].tags(), (Strings{"course:c2"}));
    EXPECT_EQ(f.items()[1].event_types(), (Strings{"Opened"}));
    EXPECT_EQ(f.items()[2].tags(), (Strings{"t"}));
    EXPECT_EQ(f.items()[2].predicates().size(), 1U);
    EXPECT_FALSE(f.items()[1].empty());
}

TEST(FilterTags, OnlyFiltersWithTagsSerialiseThem) {
    const Filter plain = build_event_filter().matching().any_event_type_of("A").finalize();
    EXPECT_EQ(plain.serialize(), "item:0|event_types:A|predicate_logic:OR");
    const Filter tagged = build_event_filter().matching().any_event_type_of("A").and_all_tags_of("b:1", "a").finalize();
    EXPECT_EQ(tagged.serialize(), "item:0|event_types:A|tags:a,b%3A1|predicate_logic:OR");
    EXPECT_NE(plain.hash(), tagged.hash());
    // Tag order does not matter: one filter, one hash.
    EXPECT_EQ(tagged.hash(),
              build_event_filter().matching().any_event_type_of("A").and_all_tags_of("a", "b:1").finalize().hash());
}

TEST(FilterValidCombinations, StringLikeArguments) {
    const std::string a = "A";
    const std::string_view b = "B";
    const char* c = "C";
    const Filter f = build_event_filter().matching().any_event_type_of(c, a, b).finalize();
    expect_item(f.items()[0], {"A", "B", "C"}, {}, false);
}

TEST(FilterValidCombinations, BuildersAreValuesThatCanBeReused) {
    const auto base = build_event_filter().matching().any_event_type_of("A");
    const Filter plain = base.finalize();
    const Filter with_predicate = base.and_any_predicate_of(P("k", "v")).finalize();
    const Filter with_seq = base.with_sequence_number_higher_than(3).finalize();
    EXPECT_TRUE(plain.items()[0].predicates().empty());
    EXPECT_EQ(with_predicate.items()[0].predicates().size(), 1U);
    EXPECT_EQ(plain.sequence_number_higher_than(), 0U);
    EXPECT_EQ(with_seq.sequence_number_higher_than(), 3U);
}

// ---- Test_FilterBuilder_InputSanitization ---------------------------------------------------------------

TEST(FilterInputSanitization, EmptyEventTypesAreRemoved) {
    const Filter f = build_event_filter().matching().any_event_type_of("", "A", "", "B", "").finalize();
    expect_item(f.items()[0], {"A", "B"}, {}, false);
}

TEST(FilterInputSanitization, DuplicateEventTypesAreRemovedAndSorted) {
    const Filter f = build_event_filter().matching().any_event_type_of("C", "A", "B", "A", "C").finalize();
    expect_item(f.items()[0], {"A", "B", "C"}, {}, false);
}

TEST(FilterInputSanitization, EventTypesSortBytewise) {
    const Filter f = build_event_filter().matching().any_event_type_of("b", "B", "a", "\xC3\xA9", "A", "_").finalize();
    expect_item(f.items()[0], {"A", "B", "_", "a", "b", "\xC3\xA9"}, {}, false);
}

TEST(FilterInputSanitization, AllEmptyEventTypesResultsInEmptyList) {
    const Filter f = build_event_filter().matching().any_event_type_of("", "").finalize();
    ASSERT_EQ(f.items().size(), 1U); // the item still exists
    EXPECT_TRUE(f.items()[0].event_types().empty());
    EXPECT_TRUE(f.items()[0].empty());
}

TEST(FilterInputSanitization, EmptyPredicatesAreRemoved) {
    const Filter f =
        build_event_filter().matching().any_predicate_of(P("", "v"), P("k", ""), P("", ""), P("k", "v")).finalize();
    expect_item(f.items()[0], {}, {P("k", "v")}, false);
}

TEST(FilterInputSanitization, DuplicatePredicatesAreRemovedAndSortedByKey) {
    const Filter f =
        build_event_filter().matching().any_predicate_of(P("b", "2"), P("a", "1"), P("b", "2"), P("a", "1")).finalize();
    expect_item(f.items()[0], {}, {P("a", "1"), P("b", "2")}, false);
}

TEST(FilterInputSanitization, PredicatesSortByKeyOnlyKeepingTieOrder) {
    // Go's sort is stable for these sizes: ties on the key keep their input order.
    const Filter f = build_event_filter().matching().any_predicate_of(P("b", "1"), P("a", "2"), P("a", "1")).finalize();
    expect_item(f.items()[0], {}, {P("a", "2"), P("a", "1"), P("b", "1")}, false);
}

TEST(FilterInputSanitization, OnlyAdjacentDuplicatePredicatesAreRemoved) {
    const Filter f = build_event_filter().matching().any_predicate_of(P("a", "1"), P("a", "2"), P("a", "1")).finalize();
    expect_item(f.items()[0], {}, {P("a", "1"), P("a", "2"), P("a", "1")}, false);

    const Filter reordered = build_event_filter().matching().any_predicate_of(P("a", "2"), P("a", "1")).finalize();
    const Filter ordered = build_event_filter().matching().any_predicate_of(P("a", "1"), P("a", "2")).finalize();
    EXPECT_NE(reordered, ordered);
    EXPECT_NE(reordered.hash(), ordered.hash());
}

TEST(FilterInputSanitization, CombinedSanitizationEventTypesAndPredicates) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("B", "", "A", "B")
                         .and_all_predicates_of(P("k2", "v2"), P("", "x"), P("k1", "v1"), P("k2", "v2"))
                         .finalize();
    expect_item(f.items()[0], {"A", "B"}, {P("k1", "v1"), P("k2", "v2")}, true);
}

TEST(FilterInputSanitization, AllEmptyPredicatesResultsInEmptyList) {
    const Filter f = build_event_filter().matching().all_predicates_of(P("", "v"), P("k", "")).finalize();
    ASSERT_EQ(f.items().size(), 1U);
    EXPECT_TRUE(f.items()[0].predicates().empty());
    EXPECT_TRUE(f.items()[0].all_predicates_must_match());
}

TEST(FilterInputSanitization, ZeroSequenceNumberBoundaryTest) {
    const Filter f =
        build_event_filter().matching().any_event_type_of("A").with_sequence_number_higher_than(0).finalize();
    EXPECT_EQ(f.sequence_number_higher_than(), 0U);
}

TEST(FilterInputSanitization, SmallSequenceNumberBoundaryTest) {
    const Filter f =
        build_event_filter().matching().any_event_type_of("A").with_sequence_number_higher_than(1).finalize();
    EXPECT_EQ(f.sequence_number_higher_than(), 1U);
}

TEST(FilterInputSanitization, PositiveSequenceNumbersUnchanged) {
    for (const std::uint64_t n : {2ULL, 42ULL, 1000ULL, 123456789ULL}) {
        EXPECT_EQ(build_event_filter().with_sequence_number_higher_than(n).finalize().sequence_number_higher_than(), n);
    }
}

TEST(FilterInputSanitization, ZeroSequenceNumberUnchanged) {
    EXPECT_EQ(build_event_filter().with_sequence_number_higher_than(0).finalize().sequence_number_higher_than(), 0U);
}

// ---- Test_FilterBuilder_MutualExclusion ----------------------------------------------------------------

TEST(FilterMutualExclusion, TimeBoundariesExcludeSequenceNumber) {
    const Filter f = build_event_filter().occurred_from(t_from).and_occurred_until(t_until).finalize();
    EXPECT_EQ(f.sequence_number_higher_than(), 0U);
}

TEST(FilterMutualExclusion, SequenceBoundaryExcludesTimeBoundaries) {
    const Filter f = build_event_filter().with_sequence_number_higher_than(5).finalize();
    EXPECT_FALSE(f.occurred_from().has_value());
    EXPECT_FALSE(f.occurred_until().has_value());
}

TEST(FilterMutualExclusion, ComplexFilterWithTimeBoundariesNoSequence) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A")
                         .and_any_predicate_of(P("k", "v"))
                         .or_matching()
                         .any_event_type_of("B")
                         .occurred_from(t_from)
                         .and_occurred_until(t_until)
                         .finalize();
    EXPECT_EQ(f.items().size(), 2U);
    EXPECT_TRUE(f.occurred_from().has_value());
    EXPECT_TRUE(f.occurred_until().has_value());
    EXPECT_EQ(f.sequence_number_higher_than(), 0U);
}

TEST(FilterMutualExclusion, ComplexFilterWithSequenceBoundaryNoTime) {
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A")
                         .and_any_predicate_of(P("k", "v"))
                         .or_matching()
                         .any_event_type_of("B")
                         .with_sequence_number_higher_than(12)
                         .finalize();
    EXPECT_EQ(f.items().size(), 2U);
    EXPECT_FALSE(f.occurred_from().has_value());
    EXPECT_FALSE(f.occurred_until().has_value());
    EXPECT_EQ(f.sequence_number_higher_than(), 12U);
}

// ---- Test_FilterBuilder_EdgeCases ------------------------------------------------------------------------

TEST(FilterEdgeCases, ZeroSequenceNumberBoundary) {
    const Filter f = build_event_filter().with_sequence_number_higher_than(0).finalize();
    EXPECT_EQ(f.sequence_number_higher_than(), 0U);
    EXPECT_EQ(f.serialize().find("sequence_higher_than"), std::string::npos);
}

TEST(FilterEdgeCases, SmallSequenceNumberPreserved) {
    EXPECT_EQ(build_event_filter().with_sequence_number_higher_than(3).finalize().sequence_number_higher_than(), 3U);
}

TEST(FilterEdgeCases, MinimalSequenceNumberPreserved) {
    EXPECT_EQ(build_event_filter().with_sequence_number_higher_than(1).finalize().sequence_number_higher_than(), 1U);
}

TEST(FilterEdgeCases, LargeSequenceNumberBoundary) {
    const std::uint64_t largest_signed = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    const Filter f = build_event_filter()
                         .matching()
                         .any_event_type_of("A")
                         .with_sequence_number_higher_than(largest_signed)
                         .finalize();
    EXPECT_EQ(f.sequence_number_higher_than(), 9223372036854775807ULL);
    EXPECT_NE(f.serialize().find("sequence_higher_than:9223372036854775807"), std::string::npos);
}

TEST(FilterEdgeCases, EpochTimeBoundariesAreRealBounds) {
    // Go's zero time (year 1) means "unset" there and has no std::chrono::system_clock counterpart: here
    // "unset" is std::nullopt, and the default TimePoint (the Unix epoch) is a bound like any other instant,
    // as time.Unix(0, 0) is in Go.
    const Filter f = build_event_filter().occurred_from(TimePoint{}).and_occurred_until(TimePoint{}).finalize();
    EXPECT_EQ(f.occurred_from(), TimePoint{});
    EXPECT_EQ(f.occurred_until(), TimePoint{});
    EXPECT_EQ(f.serialize(), "item:0|predicate_logic:OR||occurred_from:1970-01-01T00:00:00Z||"
                             "occurred_until:1970-01-01T00:00:00Z");
    EXPECT_TRUE(build_event_filter().matching().any_event_type_of("A").finalize().occurred_from() == std::nullopt);
}

TEST(FilterEdgeCases, UntilBeforeFromIsNotChecked) {
    const Filter f = build_event_filter().occurred_from(t_until).and_occurred_until(t_from).finalize();
    EXPECT_EQ(f.occurred_from(), t_until);
    EXPECT_EQ(f.occurred_until(), t_from);
}

TEST(FilterEdgeCases, SingleCharacterEventType) {
    const Filter f = build_event_filter().matching().any_event_type_of("X").finalize();
    expect_item(f.items()[0], {"X"}, {}, false);
}

TEST(FilterEdgeCases, SingleCharacterPredicateKeyAndValue) {
    const Filter f = build_event_filter().matching().any_predicate_of(P("k", "v")).finalize();
    expect_item(f.items()[0], {}, {P("k", "v")}, false);
    EXPECT_EQ(f.items()[0].predicates()[0].key(), "k");
    EXPECT_EQ(f.items()[0].predicates()[0].val(), "v");
}

// ---- ReopenForSequenceFiltering ---------------------------------------------------------------------------

Filter reopen_with(const Filter& base, eventstore::SequenceNumber n) {
    const auto reopened = base.reopen_for_sequence_filtering();
    const auto* capable = std::get_if<SequenceFilteringCapable>(&reopened);
    if (capable == nullptr) {
        ADD_FAILURE() << "not capable";
        return Filter();
    }
    return capable->with_sequence_number_higher_than(n).finalize();
}

TEST(FilterReopenCompatible, EventTypesOnly) {
    const Filter base = build_event_filter().matching().any_event_type_of("A", "B").finalize();
    const Filter incremental = reopen_with(base, 42);
    EXPECT_EQ(incremental.items(), base.items());
    EXPECT_EQ(incremental.sequence_number_higher_than(), 42U);
    EXPECT_FALSE(incremental.occurred_from().has_value());
    EXPECT_FALSE(incremental.occurred_until().has_value());
}

TEST(FilterReopenCompatible, EventTypesAndPredicates) {
    const Filter base = build_event_filter()
                            .matching()
                            .any_event_type_of("A")
                            .and_all_predicates_of(P("k1", "v1"), P("k2", "v2"))
                            .or_matching()
                            .any_predicate_of(P("k3", "v3"))
                            .finalize();
    const Filter incremental = reopen_with(base, 100);
    EXPECT_EQ(incremental.items(), base.items());
    ASSERT_EQ(incremental.items().size(), 2U);
    EXPECT_TRUE(incremental.items()[0].all_predicates_must_match());
    EXPECT_EQ(incremental.sequence_number_higher_than(), 100U);
}

TEST(FilterReopenCompatible, PredicatesOnly) {
    const Filter base = build_event_filter().matching().any_predicate_of(P("k", "v")).finalize();
    const Filter incremental = reopen_with(base, 5);
    EXPECT_EQ(incremental.items(), base.items());
    EXPECT_EQ(incremental.sequence_number_higher_than(), 5U);
}

TEST(FilterReopenCompatible, ExistingSequenceBoundIsReplaced) {
    const Filter base =
        build_event_filter().matching().any_event_type_of("A").with_sequence_number_higher_than(10).finalize();
    const Filter incremental = reopen_with(base, 20);
    EXPECT_EQ(incremental.items(), base.items());
    EXPECT_EQ(incremental.sequence_number_higher_than(), 20U);
    EXPECT_EQ(reopen_with(base, 0).sequence_number_higher_than(), 0U);
}

TEST(FilterReopenCompatible, ZeroIsKeptAsZero) {
    const Filter base = build_event_filter().matching().any_event_type_of("A").finalize();
    const Filter incremental = reopen_with(base, 0);
    EXPECT_EQ(incremental, base);
    EXPECT_EQ(incremental.hash(), base.hash());
}

TEST(FilterReopenCompatible, ItemsAreNotDuplicatedOrExtended) {
    const Filter base =
        build_event_filter().matching().any_event_type_of("A").or_matching().any_event_type_of("B").finalize();
    EXPECT_EQ(reopen_with(base, 9).items().size(), 2U);
    // The root sequence shortcut's empty item is kept as it is.
    const Filter root = build_event_filter().with_sequence_number_higher_than(3).finalize();
    EXPECT_EQ(reopen_with(root, 4).items().size(), 1U);
    // No items stays no items.
    EXPECT_TRUE(reopen_with(build_event_filter().matching_any_event(), 4).items().empty());
}

TEST(FilterReopenCompatible, IncrementalSerialisation) {
    const Filter base = build_event_filter().matching().any_event_type_of("TestEvent").finalize();
    EXPECT_EQ(reopen_with(base, 98765).serialize(),
              "item:0|event_types:TestEvent|predicate_logic:OR||sequence_higher_than:98765");
}

void expect_incompatible(const Filter& base) {
    const auto reopened = base.reopen_for_sequence_filtering();
    EXPECT_FALSE(std::holds_alternative<SequenceFilteringCapable>(reopened));
    const auto* incompatible = std::get_if<SequenceFilteringIncompatible>(&reopened);
    ASSERT_NE(incompatible, nullptr);
    EXPECT_EQ(incompatible->cannot_add_sequence_filtering(),
              "cannot add sequence filtering: time boundaries already present");
}

TEST(FilterReopenIncompatible, OccurredFrom) {
    expect_incompatible(build_event_filter().matching().any_event_type_of("A").occurred_from(t_from).finalize());
}

TEST(FilterReopenIncompatible, OccurredUntil) {
    expect_incompatible(build_event_filter().matching().any_event_type_of("A").occurred_until(t_until).finalize());
}

TEST(FilterReopenIncompatible, Both) {
    expect_incompatible(build_event_filter().occurred_from(t_from).and_occurred_until(t_until).finalize());
}

TEST(FilterReopen, CompileTimeSafety) {
    const Filter capable_base = build_event_filter().matching().any_event_type_of("A").finalize();
    const auto capable = capable_base.reopen_for_sequence_filtering();
    ASSERT_TRUE(std::holds_alternative<SequenceFilteringCapable>(capable));
    const Filter incremental =
        std::get<SequenceFilteringCapable>(capable).with_sequence_number_higher_than(1).finalize();
    EXPECT_EQ(incremental.sequence_number_higher_than(), 1U);

    const auto incompatible = build_event_filter()
                                  .matching()
                                  .any_event_type_of("A")
                                  .occurred_from(t_from)
                                  .finalize()
                                  .reopen_for_sequence_filtering();
    ASSERT_FALSE(std::holds_alternative<SequenceFilteringCapable>(incompatible));
    EXPECT_NE(std::get<SequenceFilteringIncompatible>(incompatible)
                  .cannot_add_sequence_filtering()
                  .find("time boundaries already present"),
              std::string::npos);
}

} // namespace
