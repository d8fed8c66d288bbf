#ifndef EVENTSTORE_FILTER_HPP
#define EVENTSTORE_FILTER_HPP

#include <concepts>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <eventstore/storable_event.hpp>

namespace eventstore {

// A payload predicate: matches events whose payload has the top-level key `key` holding exactly the
// JSON string `val` (case-sensitive; numbers, arrays and nested objects never match).
class FilterPredicate {
public:
    FilterPredicate(std::string key, std::string val) : m_key(std::move(key)), m_val(std::move(val)) {}
    [[nodiscard]] const std::string& key() const noexcept { return m_key; }
    [[nodiscard]] const std::string& val() const noexcept { return m_val; }
    friend bool operator==(const FilterPredicate&, const FilterPredicate&) = default;

private:
    std::string m_key;
    std::string m_val;
};

[[nodiscard]] inline FilterPredicate P(std::string key, std::string val) {
    return FilterPredicate(std::move(key), std::move(val));
}

namespace detail {
struct FilterDraft;
}

// One alternative of a filter: (any of the event types) AND (the predicates, OR-ed or AND-ed) AND
// (every one of the tags). An empty list puts no constraint on its dimension; an item with none is
// dropped from the OR (a filter whose items are all empty matches every event within its bounds).
class FilterItem {
public:
    [[nodiscard]] const std::vector<std::string>& event_types() const noexcept { return m_event_types; }
    [[nodiscard]] const std::vector<FilterPredicate>& predicates() const noexcept { return m_predicates; }
    [[nodiscard]] bool all_predicates_must_match() const noexcept { return m_all_predicates_must_match; }
    // Sorted, without repeats: an event matches only when it carries all of them.
    [[nodiscard]] const std::vector<std::string>& tags() const noexcept { return m_tags; }
    [[nodiscard]] bool empty() const noexcept {
        return m_event_types.empty() && m_predicates.empty() && m_tags.empty();
    }
    friend bool operator==(const FilterItem&, const FilterItem&) = default;

private:
    friend struct detail::FilterDraft;
    std::vector<std::string> m_event_types;
    std::vector<FilterPredicate> m_predicates;
    bool m_all_predicates_must_match = false;
    std::vector<std::string> m_tags;
};

class SequenceFilteringCapable;
class SequenceFilteringIncompatible;
using SequenceFilteringReopened = std::variant<SequenceFilteringCapable, SequenceFilteringIncompatible>;

// The dynamic event stream: an OR of items, AND-ed with optional occurred-at bounds (inclusive) or a
// sequence-number lower bound (exclusive). A filter without items matches every event.
class Filter {
public:
    Filter() = default; // matches every event, like build_event_filter().matching_any_event()

    [[nodiscard]] const std::vector<FilterItem>& items() const noexcept { return m_items; }
    [[nodiscard]] std::optional<TimePoint> occurred_from() const noexcept { return m_occurred_from; }
    [[nodiscard]] std::optional<TimePoint> occurred_until() const noexcept { return m_occurred_until; }
    [[nodiscard]] SequenceNumber sequence_number_higher_than() const noexcept { return m_sequence_number_higher_than; }

    // The Go library's serialisation, with `%`, `|`, `,`, `=` and `:` inside names and values
    // percent-encoded so that different filters never serialise alike. Times are written in UTC.
    [[nodiscard]] std::string serialize() const;
    // "sha256:" + 64 lowercase hex digits of serialize(); equal to the Go library's hash whenever no
    // name or value holds one of the escaped characters. Identifies the filter's snapshots.
    [[nodiscard]] std::string hash() const;
    // The incremental form for snapshot catch-up, unless the filter has time bounds.
    [[nodiscard]] SequenceFilteringReopened reopen_for_sequence_filtering() const;

    friend bool operator==(const Filter&, const Filter&) = default;

private:
    friend struct detail::FilterDraft;
    std::vector<FilterItem> m_items;
    std::optional<TimePoint> m_occurred_from;
    std::optional<TimePoint> m_occurred_until;
    SequenceNumber m_sequence_number_higher_than = 0;
};

namespace detail {
// The state every builder step carries. Not part of the API.
struct FilterDraft {
    std::vector<FilterItem> items;
    FilterItem current;
    bool has_current = true; // false only for a reopened filter, which keeps its items as they are
    std::optional<TimePoint> from;
    std::optional<TimePoint> until;
    SequenceNumber sequence_number_higher_than = 0;

    void add_event_types(std::span<const std::string> types);
    void add_predicates(std::span<const FilterPredicate> predicates, bool all_must_match);
    void add_tags(std::span<const std::string> tags);
    void start_next_item();
    [[nodiscard]] Filter finalize() const&; // copies the items
    [[nodiscard]] Filter finalize() &&;     // moves them
};

template <typename... T>
concept StringLikes = (std::convertible_to<const T&, std::string_view> && ...);
template <typename... T>
concept Predicates = (std::same_as<std::remove_cvref_t<T>, FilterPredicate> && ...);

template <typename... Rest>
std::vector<std::string> collect_strings(std::string_view first, const Rest&... rest) {
    std::vector<std::string> all;
    all.reserve(1 + sizeof...(rest));
    all.emplace_back(first);
    (all.emplace_back(std::string_view(rest)), ...);
    return all;
}
template <typename... Rest>
std::vector<FilterPredicate> collect_predicates(const FilterPredicate& first, const Rest&... rest) {
    return std::vector<FilterPredicate>{first, rest...};
}

class BuilderBase {
protected:
    BuilderBase() = default;
    explicit BuilderBase(FilterDraft draft) : m_draft(std::move(draft)) {}
    FilterDraft m_draft;
};
} // namespace detail

// The builder states, with the Go library's names and grammar. Each is a value; each call returns the
// next state, so a sequence the grammar forbids does not compile: bounds come last and end the items,
// and only occurred_from can be followed by and_occurred_until. Variadic methods take at least one
// argument; the span overloads take lists built at run time. Empty event types, and predicates with
// an empty key or value, are dropped (the Go library's sanitising); an empty tag throws
// Error(Errc::invalid_filter) (tags are not Go's, and no event carries one); each call's types are sorted
// and de-duplicated, its predicates sorted by key (equal keys keep their order) with adjacent
// duplicates removed, and an item's tags sorted and de-duplicated.
//
// Beyond the Go grammar: all_tags_of may start an item wherever any_predicate_of may, and
// and_all_tags_of may follow the item's event types or predicates (it keeps the state it follows, so
// the other dimension may still come). A span overload given an empty list throws
// Error(Errc::invalid_filter): an item built from a list that happened to be empty would match every
// event, and a decision would be made on the wrong events. The Go library matches everything there.
//
// Every step has two overloads, so that building n items costs O(n) rather than O(n^2). Called on a
// temporary (the next link of a chain, or std::move(builder)), a step hands the items built so far on
// to the next state without copying them. Called on a builder kept in a variable, it copies them and
// leaves that builder as it was, to be reused. So a builder extended in a loop is moved, and a builder
// moved from is left without items:
//
//     auto builder = build_event_filter().matching().any_event_type_of(types.front());
//     for (std::size_t i = 1; i < types.size(); ++i) {
//         builder = std::move(builder).or_matching().any_event_type_of(types[i]);
//     }
//     Filter filter = std::move(builder).finalize();
class CompletedFilterItemBuilderWithOccurredFromToUntil;
class CompletedFilterItemBuilderWithOccurredFrom;
class CompletedFilterItemBuilderWithOccurredUntil;
class CompletedFilterItemBuilderWithSequenceNumber;
class CompletedFilterItemBuilder;
class FilterItemBuilderLackingPredicates;
class FilterItemBuilderLackingEventTypes;
class EmptyFilterItemBuilder;

class CompletedFilterItemBuilderWithSequenceNumber : detail::BuilderBase {
public:
    explicit CompletedFilterItemBuilderWithSequenceNumber(detail::FilterDraft draft) : BuilderBase(std::move(draft)) {}
    [[nodiscard]] Filter finalize() const& { return m_draft.finalize(); }
    [[nodiscard]] Filter finalize() && { return std::move(m_draft).finalize(); }
};

class CompletedFilterItemBuilderWithOccurredUntil : detail::BuilderBase {
public:
    explicit CompletedFilterItemBuilderWithOccurredUntil(detail::FilterDraft draft) : BuilderBase(std::move(draft)) {}
    [[nodiscard]] Filter finalize() const& { return m_draft.finalize(); }
    [[nodiscard]] Filter finalize() && { return std::move(m_draft).finalize(); }
};

class CompletedFilterItemBuilderWithOccurredFromToUntil : detail::BuilderBase {
public:
    explicit CompletedFilterItemBuilderWithOccurredFromToUntil(detail::FilterDraft draft)
        : BuilderBase(std::move(draft)) {}
    [[nodiscard]] Filter finalize() const& { return m_draft.finalize(); }
    [[nodiscard]] Filter finalize() && { return std::move(m_draft).finalize(); }
};

class CompletedFilterItemBuilderWithOccurredFrom : detail::BuilderBase {
public:
    explicit CompletedFilterItemBuilderWithOccurredFrom(detail::FilterDraft draft) : BuilderBase(std::move(draft)) {}
    [[nodiscard]] CompletedFilterItemBuilderWithOccurredFromToUntil and_occurred_until(TimePoint until) const&;
    [[nodiscard]] CompletedFilterItemBuilderWithOccurredFromToUntil and_occurred_until(TimePoint until) &&;
    [[nodiscard]] Filter finalize() const& { return m_draft.finalize(); }
    [[nodiscard]] Filter finalize() && { return std::move(m_draft).finalize(); }
};

namespace detail {
// The steps shared by every state in which the current item may be closed. Each const& overload is
// the && one applied to a copy.
template <typename Self>
class ClosableItemSteps : protected BuilderBase {
public:
    [[nodiscard]] CompletedFilterItemBuilderWithOccurredFrom occurred_from(TimePoint from) const& {
        return ClosableItemSteps(*this).occurred_from(from);
    }
    [[nodiscard]] CompletedFilterItemBuilderWithOccurredFrom occurred_from(TimePoint from) && {
        m_draft.from = from;
        return CompletedFilterItemBuilderWithOccurredFrom(std::move(m_draft));
    }
    [[nodiscard]] CompletedFilterItemBuilderWithOccurredUntil occurred_until(TimePoint until) const& {
        return ClosableItemSteps(*this).occurred_until(until);
    }
    [[nodiscard]] CompletedFilterItemBuilderWithOccurredUntil occurred_until(TimePoint until) && {
        m_draft.until = until;
        return CompletedFilterItemBuilderWithOccurredUntil(std::move(m_draft));
    }
    [[nodiscard]] CompletedFilterItemBuilderWithSequenceNumber
    with_sequence_number_higher_than(SequenceNumber n) const& {
        return ClosableItemSteps(*this).with_sequence_number_higher_than(n);
    }
    [[nodiscard]] CompletedFilterItemBuilderWithSequenceNumber with_sequence_number_higher_than(SequenceNumber n) && {
        m_draft.sequence_number_higher_than = n;
        return CompletedFilterItemBuilderWithSequenceNumber(std::move(m_draft));
    }
    [[nodiscard]] EmptyFilterItemBuilder or_matching() const&;
    [[nodiscard]] EmptyFilterItemBuilder or_matching() &&;
    [[nodiscard]] Filter finalize() const& { return m_draft.finalize(); }
    [[nodiscard]] Filter finalize() && { return std::move(m_draft).finalize(); }

    // Adds tags the item's events must all carry; the item stays in the state it was in.
    template <typename... Rest>
        requires StringLikes<Rest...>
    [[nodiscard]] Self and_all_tags_of(std::string_view first, const Rest&... rest) const& {
        return and_all_tags_of(std::span<const std::string>(collect_strings(first, rest...)));
    }
    template <typename... Rest>
        requires StringLikes<Rest...>
    [[nodiscard]] Self and_all_tags_of(std::string_view first, const Rest&... rest) && {
        return std::move(*this).and_all_tags_of(std::span<const std::string>(collect_strings(first, rest...)));
    }
    [[nodiscard]] Self and_all_tags_of(std::span<const std::string> tags) const& {
        return ClosableItemSteps(*this).and_all_tags_of(tags);
    }
    [[nodiscard]] Self and_all_tags_of(std::span<const std::string> tags) && {
        m_draft.add_tags(tags);
        return Self(std::move(m_draft));
    }

protected:
    using BuilderBase::BuilderBase;
};
} // namespace detail

class CompletedFilterItemBuilder : public detail::ClosableItemSteps<CompletedFilterItemBuilder> {
public:
    explicit CompletedFilterItemBuilder(detail::FilterDraft draft) : ClosableItemSteps(std::move(draft)) {}
};

class FilterItemBuilderLackingPredicates : public detail::ClosableItemSteps<FilterItemBuilderLackingPredicates> {
public:
    explicit FilterItemBuilderLackingPredicates(detail::FilterDraft draft) : ClosableItemSteps(std::move(draft)) {}

    template <typename... Rest>
        requires detail::Predicates<Rest...>
    [[nodiscard]] CompletedFilterItemBuilder and_any_predicate_of(const FilterPredicate& first,
                                                                  const Rest&... rest) const& {
        return and_any_predicate_of(std::span<const FilterPredicate>(detail::collect_predicates(first, rest...)));
    }
    template <typename... Rest>
        requires detail::Predicates<Rest...>
    [[nodiscard]] CompletedFilterItemBuilder and_any_predicate_of(const FilterPredicate& first,
                                                                  const Rest&... rest) && {
        return std::move(*this).and_any_predicate_of(
            std::span<const FilterPredicate>(detail::collect_predicates(first, rest...)));
    }
    [[nodiscard]] CompletedFilterItemBuilder and_any_predicate_of(std::span<const FilterPredicate> predicates) const&;
    [[nodiscard]] CompletedFilterItemBuilder and_any_predicate_of(std::span<const FilterPredicate> predicates) &&;

    template <typename... Rest>
        requires detail::Predicates<Rest...>
    [[nodiscard]] CompletedFilterItemBuilder and_all_predicates_of(const FilterPredicate& first,
                                                                   const Rest&... rest) const& {
        return and_all_predicates_of(std::span<const FilterPredicate>(detail::collect_predicates(first, rest...)));
    }
    template <typename... Rest>
        requires detail::Predicates<Rest...>
    [[nodiscard]] CompletedFilterItemBuilder and_all_predicates_of(const FilterPredicate& first,
                                                                   const Rest&... rest) && {
        return std::move(*this).and_all_predicates_of(
            std::span<const FilterPredicate>(detail::collect_predicates(first, rest...)));
    }
    [[nodiscard]] CompletedFilterItemBuilder and_all_predicates_of(std::span<const FilterPredicate> predicates) const&;
    [[nodiscard]] CompletedFilterItemBuilder and_all_predicates_of(std::span<const FilterPredicate> predicates) &&;
};

class FilterItemBuilderLackingEventTypes : public detail::ClosableItemSteps<FilterItemBuilderLackingEventTypes> {
public:
    explicit FilterItemBuilderLackingEventTypes(detail::FilterDraft draft) : ClosableItemSteps(std::move(draft)) {}

    template <typename... Rest>
        requires detail::StringLikes<Rest...>
    [[nodiscard]] CompletedFilterItemBuilder and_any_event_type_of(std::string_view first, const Rest&... rest) const& {
        return and_any_event_type_of(std::span<const std::string>(detail::collect_strings(first, rest...)));
    }
    template <typename... Rest>
        requires detail::StringLikes<Rest...>
    [[nodiscard]] CompletedFilterItemBuilder and_any_event_type_of(std::string_view first, const Rest&... rest) && {
        return std::move(*this).and_any_event_type_of(
            std::span<const std::string>(detail::collect_strings(first, rest...)));
    }
    [[nodiscard]] CompletedFilterItemBuilder and_any_event_type_of(std::span<const std::string> event_types) const&;
    [[nodiscard]] CompletedFilterItemBuilder and_any_event_type_of(std::span<const std::string> event_types) &&;
};

class EmptyFilterItemBuilder : detail::BuilderBase {
public:
    explicit EmptyFilterItemBuilder(detail::FilterDraft draft) : BuilderBase(std::move(draft)) {}

    template <typename... Rest>
        requires detail::StringLikes<Rest...>
    [[nodiscard]] FilterItemBuilderLackingPredicates any_event_type_of(std::string_view first,
                                                                       const Rest&... rest) const& {
        return any_event_type_of(std::span<const std::string>(detail::collect_strings(first, rest...)));
    }
    template <typename... Rest>
        requires detail::StringLikes<Rest...>
    [[nodiscard]] FilterItemBuilderLackingPredicates any_event_type_of(std::string_view first, const Rest&... rest) && {
        return std::move(*this).any_event_type_of(
            std::span<const std::string>(detail::collect_strings(first, rest...)));
    }
    [[nodiscard]] FilterItemBuilderLackingPredicates any_event_type_of(std::span<const std::string> event_types) const&;
    [[nodiscard]] FilterItemBuilderLackingPredicates any_event_type_of(std::span<const std::string> event_types) &&;

    template <typename... Rest>
        requires detail::Predicates<Rest...>
    [[nodiscard]] FilterItemBuilderLackingEventTypes any_predicate_of(const FilterPredicate& first,
                                                                      const Rest&... rest) const& {
        return any_predicate_of(std::span<const FilterPredicate>(detail::collect_predicates(first, rest...)));
    }
    template <typename... Rest>
        requires detail::Predicates<Rest...>
    [[nodiscard]] FilterItemBuilderLackingEventTypes any_predicate_of(const FilterPredicate& first,
                                                                      const Rest&... rest) && {
        return std::move(*this).any_predicate_of(
            std::span<const FilterPredicate>(detail::collect_predicates(first, rest...)));
    }
    [[nodiscard]] FilterItemBuilderLackingEventTypes
    any_predicate_of(std::span<const FilterPredicate> predicates) const&;
    [[nodiscard]] FilterItemBuilderLackingEventTypes any_predicate_of(std::span<const FilterPredicate> predicates) &&;

    template <typename... Rest>
        requires detail::Predicates<Rest...>
    [[nodiscard]] FilterItemBuilderLackingEventTypes all_predicates_of(const FilterPredicate& first,
                                                                       const Rest&... rest) const& {
        return all_predicates_of(std::span<const FilterPredicate>(detail::collect_predicates(first, rest...)));
    }
    template <typename... Rest>
        requires detail::Predicates<Rest...>
    [[nodiscard]] FilterItemBuilderLackingEventTypes all_predicates_of(const FilterPredicate& first,
                                                                       const Rest&... rest) && {
        return std::move(*this).all_predicates_of(
            std::span<const FilterPredicate>(detail::collect_predicates(first, rest...)));
    }
    [[nodiscard]] FilterItemBuilderLackingEventTypes
    all_predicates_of(std::span<const FilterPredicate> predicates) const&;
    [[nodiscard]] FilterItemBuilderLackingEventTypes all_predicates_of(std::span<const FilterPredicate> predicates) &&;

    // An item of events carrying every one of the tags; event types may follow.
    template <typename... Rest>
        requires detail::StringLikes<Rest...>
    [[nodiscard]] FilterItemBuilderLackingEventTypes all_tags_of(std::string_view first, const Rest&... rest) const& {
        return all_tags_of(std::span<const std::string>(detail::collect_strings(first, rest...)));
    }
    template <typename... Rest>
        requires detail::StringLikes<Rest...>
    [[nodiscard]] FilterItemBuilderLackingEventTypes all_tags_of(std::string_view first, const Rest&... rest) && {
        return std::move(*this).all_tags_of(std::span<const std::string>(detail::collect_strings(first, rest...)));
    }
    [[nodiscard]] FilterItemBuilderLackingEventTypes all_tags_of(std::span<const std::string> tags) const&;
    [[nodiscard]] FilterItemBuilderLackingEventTypes all_tags_of(std::span<const std::string> tags) &&;
};

// The root state. It holds no items, so its steps need no moving overloads.
class FilterBuilder : detail::BuilderBase {
public:
    FilterBuilder() = default;
    [[nodiscard]] EmptyFilterItemBuilder matching() const { return EmptyFilterItemBuilder(m_draft); }
    // NOLINTNEXTLINE(readability-convert-member-functions-to-static): a step of the builder chain
    [[nodiscard]] Filter matching_any_event() const { return Filter(); }
    // These three create one empty item (matching every event) bounded by time or sequence number.
    [[nodiscard]] CompletedFilterItemBuilderWithOccurredFrom occurred_from(TimePoint from) const;
    [[nodiscard]] CompletedFilterItemBuilderWithOccurredUntil occurred_until(TimePoint until) const;
    [[nodiscard]] CompletedFilterItemBuilderWithSequenceNumber with_sequence_number_higher_than(SequenceNumber n) const;
};

[[nodiscard]] inline FilterBuilder build_event_filter() { return FilterBuilder(); }

// reopen_for_sequence_filtering() of a filter without time bounds.
class SequenceFilteringCapable : detail::BuilderBase {
public:
    explicit SequenceFilteringCapable(detail::FilterDraft draft) : BuilderBase(std::move(draft)) {}
    // Replaces any earlier sequence bound; 0 means no bound.
    [[nodiscard]] CompletedFilterItemBuilderWithSequenceNumber
    with_sequence_number_higher_than(SequenceNumber n) const&;
    [[nodiscard]] CompletedFilterItemBuilderWithSequenceNumber with_sequence_number_higher_than(SequenceNumber n) &&;
};

// reopen_for_sequence_filtering() of a filter with time bounds.
class SequenceFilteringIncompatible {
public:
    // "cannot add sequence filtering: time boundaries already present"
    [[nodiscard]] std::string cannot_add_sequence_filtering() const;
};

namespace detail {
template <typename Self>
EmptyFilterItemBuilder ClosableItemSteps<Self>::or_matching() const& {
    return ClosableItemSteps(*this).or_matching();
}
template <typename Self>
EmptyFilterItemBuilder ClosableItemSteps<Self>::or_matching() && {
    m_draft.start_next_item();
    return EmptyFilterItemBuilder(std::move(m_draft));
}
} // namespace detail

} // namespace eventstore

#endif
