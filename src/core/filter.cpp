#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include <eventstore/error.hpp>
#include <eventstore/filter.hpp>

#include "core/sha256.hpp"

namespace eventstore {

namespace detail {

namespace {

// A list built at run time that came out empty would otherwise make an item that matches every event.
void require_entries(std::size_t size, std::string_view what) {
    if (size == 0) {
        throw Error(Errc::invalid_filter, "the list of " + std::string(what) +
                                              " is empty: an item without them would match every event; "
                                              "leave the call out, or use matching_any_event() to mean all events");
    }
}

} // namespace

void FilterDraft::add_event_types(std::span<const std::string> types) {
    require_entries(types.size(), "event types");
    // As in Go, only the batch being added is sorted and de-duplicated before it is appended.
    std::vector<std::string> batch;
    batch.reserve(types.size());
    for (const std::string& type : types) {
        if (!type.empty()) {
            batch.push_back(type);
        }
    }
    std::sort(batch.begin(), batch.end());
    batch.erase(std::unique(batch.begin(), batch.end()), batch.end());
    auto& target = current.m_event_types;
    target.insert(target.end(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
}

void FilterDraft::add_predicates(std::span<const FilterPredicate> predicates, bool all_must_match) {
    require_entries(predicates.size(), "predicates");
    std::vector<FilterPredicate> batch;
    batch.reserve(predicates.size());
    for (const FilterPredicate& predicate : predicates) {
        if (!predicate.key().empty() && !predicate.val().empty()) {
            batch.push_back(predicate);
        }
    }
    // Go sorts by key only and its sort is stable for the small lists filters have, so ties keep their
    // input order (and [a=2, a=1] and [a=1, a=2] stay different filters with different hashes).
    std::stable_sort(batch.begin(), batch.end(),
                     [](const FilterPredicate& lhs, const FilterPredicate& rhs) { return lhs.key() < rhs.key(); });
    batch.erase(std::unique(batch.begin(), batch.end()), batch.end());
    auto& target = current.m_predicates;
    target.insert(target.end(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
    current.m_all_predicates_must_match = all_must_match;
}

void FilterDraft::add_tags(std::span<const std::string> tags) {
    require_entries(tags.size(), "tags");
    // Tags are AND-ed, so their order means nothing: sorted, a filter has one serialisation and hash.
    auto& target = current.m_tags;
    for (const std::string& tag : tags) {
        // Tags are not in the Go grammar, so there is no sanitising to keep: an empty tag would make an
        // item that matches every event, and no event can carry one.
        if (tag.empty()) {
            throw Error(Errc::invalid_filter, "a tag is empty: no event carries an empty tag");
        }
        target.push_back(tag);
    }
    std::sort(target.begin(), target.end());
    target.erase(std::unique(target.begin(), target.end()), target.end());
}

void FilterDraft::start_next_item() {
    if (has_current) {
        items.push_back(std::move(current));
    }
    current = FilterItem();
    has_current = true;
}

Filter FilterDraft::finalize() const& { return FilterDraft(*this).finalize(); }

Filter FilterDraft::finalize() && {
    Filter filter;
    filter.m_items = std::move(items);
    if (has_current) {
        filter.m_items.push_back(std::move(current));
    }
    filter.m_occurred_from = from;
    filter.m_occurred_until = until;
    filter.m_sequence_number_higher_than = sequence_number_higher_than;
    return filter;
}

} // namespace detail

namespace {

// Escapes the serialisation's delimiters inside names and values ('%' first, so that the escapes
// themselves stay unambiguous); this is what makes different filters serialise differently.
void append_escaped(std::string& out, std::string_view text) {
    for (const char c : text) {
        switch (c) {
        case '%':
            out += "%25";
            break;
        case '|':
            out += "%7C";
            break;
        case ',':
            out += "%2C";
            break;
        case '=':
            out += "%3D";
            break;
        case ':':
            out += "%3A";
            break;
        default:
            out.push_back(c);
            break;
        }
    }
}

void append_padded(std::string& out, long long value, int width) {
    std::string digits = std::to_string(value);
    if (digits.size() < static_cast<std::size_t>(width)) {
        out.append(static_cast<std::size_t>(width) - digits.size(), '0');
    }
    out += digits;
}

// Go's time.RFC3339Nano for a UTC time: fraction without trailing zeros, omitted when zero.
// Whole seconds first (truncating, then borrowing one for a negative remainder), days from those: taking
// floor<days> of the time itself would overflow for times in the first or last day its clock can
// represent (1677-09-21 and 2262-04-11 with nanoseconds).
void append_rfc3339_nano_utc(std::string& out, TimePoint time) {
    using namespace std::chrono;
    const auto since_epoch = time.time_since_epoch();
    auto whole = duration_cast<seconds>(since_epoch);
    auto below_second = since_epoch - whole;
    if (below_second < decltype(below_second)::zero()) {
        whole -= seconds{1};
        below_second += seconds{1};
    }
    const auto day = floor<days>(whole);
    const year_month_day date{sys_days{day}};
    const long long nanos = duration_cast<nanoseconds>(below_second).count();
    const long long seconds_of_day = (whole - day).count();

    append_padded(out, static_cast<int>(date.year()), 4);
    out.push_back('-');
    append_padded(out, static_cast<unsigned>(date.month()), 2);
    out.push_back('-');
    append_padded(out, static_cast<unsigned>(date.day()), 2);
    out.push_back('T');
    append_padded(out, seconds_of_day / 3600, 2);
    out.push_back(':');
    append_padded(out, seconds_of_day / 60 % 60, 2);
    out.push_back(':');
    append_padded(out, seconds_of_day % 60, 2);
    if (nanos != 0) {
        std::string fraction;
        append_padded(fraction, nanos, 9);
        fraction.erase(fraction.find_last_not_of('0') + 1);
        out.push_back('.');
        out += fraction;
    }
    out.push_back('Z');
}

} // namespace

std::string Filter::serialize() const {
    std::string out;
    const auto start_part = [&out] {
        if (!out.empty()) {
            out += "||";
        }
    };
    for (std::size_t i = 0; i < m_items.size(); ++i) {
        const FilterItem& item = m_items[i];
        start_part();
        out += "item:";
        out += std::to_string(i);
        if (!item.event_types().empty()) {
            out += "|event_types:";
            for (std::size_t t = 0; t < item.event_types().size(); ++t) {
                if (t > 0) {
                    out.push_back(',');
                }
                append_escaped(out, item.event_types()[t]);
            }
        }
        if (!item.predicates().empty()) {
            out += "|predicates:";
            for (std::size_t p = 0; p < item.predicates().size(); ++p) {
                if (p > 0) {
                    out.push_back(',');
                }
                append_escaped(out, item.predicates()[p].key());
                out.push_back('=');
                append_escaped(out, item.predicates()[p].val());
            }
        }
        // Only filters with tags serialise them, so every filter the Go library can express keeps its hash.
        if (!item.tags().empty()) {
            out += "|tags:";
            for (std::size_t t = 0; t < item.tags().size(); ++t) {
                if (t > 0) {
                    out.push_back(',');
                }
                append_escaped(out, item.tags()[t]);
            }
        }
        out += item.all_predicates_must_match() ? "|predicate_logic:AND" : "|predicate_logic:OR";
    }
    if (m_occurred_from) {
        start_part();
        out += "occurred_from:";
        append_rfc3339_nano_utc(out, *m_occurred_from);
    }
    if (m_occurred_until) {
        start_part();
        out += "occurred_until:";
        append_rfc3339_nano_utc(out, *m_occurred_until);
    }
    if (m_sequence_number_higher_than > 0) {
        start_part();
        out += "sequence_higher_than:";
        out += std::to_string(m_sequence_number_higher_than);
    }
    return out;
}

std::string Filter::hash() const { return "sha256:" + detail::sha256_hex(serialize()); }

SequenceFilteringReopened Filter::reopen_for_sequence_filtering() const {
    if (m_occurred_from || m_occurred_until) {
        return SequenceFilteringIncompatible();
    }
    detail::FilterDraft draft;
    draft.items = m_items;
    draft.has_current = false;
    draft.sequence_number_higher_than = m_sequence_number_higher_than;
    return SequenceFilteringCapable(std::move(draft));
}

// Each const& step is its && step applied to a copy of the builder, which keeps the builder as it was.

CompletedFilterItemBuilderWithOccurredFromToUntil
CompletedFilterItemBuilderWithOccurredFrom::and_occurred_until(TimePoint until) const& {
    return CompletedFilterItemBuilderWithOccurredFrom(*this).and_occurred_until(until);
}

CompletedFilterItemBuilderWithOccurredFromToUntil
CompletedFilterItemBuilderWithOccurredFrom::and_occurred_until(TimePoint until) && {
    m_draft.until = until;
    return CompletedFilterItemBuilderWithOccurredFromToUntil(std::move(m_draft));
}

CompletedFilterItemBuilder
FilterItemBuilderLackingPredicates::and_any_predicate_of(std::span<const FilterPredicate> predicates) const& {
    return FilterItemBuilderLackingPredicates(*this).and_any_predicate_of(predicates);
}

CompletedFilterItemBuilder
FilterItemBuilderLackingPredicates::and_any_predicate_of(std::span<const FilterPredicate> predicates) && {
    m_draft.add_predicates(predicates, false);
    return CompletedFilterItemBuilder(std::move(m_draft));
}

CompletedFilterItemBuilder
FilterItemBuilderLackingPredicates::and_all_predicates_of(std::span<const FilterPredicate> predicates) const& {
    return FilterItemBuilderLackingPredicates(*this).and_all_predicates_of(predicates);
}

CompletedFilterItemBuilder
FilterItemBuilderLackingPredicates::and_all_predicates_of(std::span<const FilterPredicate> predicates) && {
    m_draft.add_predicates(predicates, true);
    return CompletedFilterItemBuilder(std::move(m_draft));
}

CompletedFilterItemBuilder
FilterItemBuilderLackingEventTypes::and_any_event_type_of(std::span<const std::string> event_types) const& {
    return FilterItemBuilderLackingEventTypes(*this).and_any_event_type_of(event_types);
}

CompletedFilterItemBuilder
FilterItemBuilderLackingEventTypes::and_any_event_type_of(std::span<const std::string> event_types) && {
    m_draft.add_event_types(event_types);
    return CompletedFilterItemBuilder(std::move(m_draft));
}

FilterItemBuilderLackingPredicates
EmptyFilterItemBuilder::any_event_type_of(std::span<const std::string> event_types) const& {
    return EmptyFilterItemBuilder(*this).any_event_type_of(event_types);
}

FilterItemBuilderLackingPredicates
EmptyFilterItemBuilder::any_event_type_of(std::span<const std::string> event_types) && {
    m_draft.add_event_types(event_types);
    return FilterItemBuilderLackingPredicates(std::move(m_draft));
}

FilterItemBuilderLackingEventTypes
EmptyFilterItemBuilder::any_predicate_of(std::span<const FilterPredicate> predicates) const& {
    return EmptyFilterItemBuilder(*this).any_predicate_of(predicates);
}

FilterItemBuilderLackingEventTypes
EmptyFilterItemBuilder::any_predicate_of(std::span<const FilterPredicate> predicates) && {
    m_draft.add_predicates(predicates, false);
    return FilterItemBuilderLackingEventTypes(std::move(m_draft));
}

FilterItemBuilderLackingEventTypes
EmptyFilterItemBuilder::all_predicates_of(std::span<const FilterPredicate> predicates) const& {
    return EmptyFilterItemBuilder(*this).all_predicates_of(predicates);
}

FilterItemBuilderLackingEventTypes
EmptyFilterItemBuilder::all_predicates_of(std::span<const FilterPredicate> predicates) && {
    m_draft.add_predicates(predicates, true);
    return FilterItemBuilderLackingEventTypes(std::move(m_draft));
}

FilterItemBuilderLackingEventTypes EmptyFilterItemBuilder::all_tags_of(std::span<const std::string> tags) const& {
    return EmptyFilterItemBuilder(*this).all_tags_of(tags);
}

FilterItemBuilderLackingEventTypes EmptyFilterItemBuilder::all_tags_of(std::span<const std::string> tags) && {
    m_draft.add_tags(tags);
    return FilterItemBuilderLackingEventTypes(std::move(m_draft));
}

CompletedFilterItemBuilderWithOccurredFrom FilterBuilder::occurred_from(TimePoint from) const {
    detail::FilterDraft draft = m_draft;
    draft.from = from;
    return CompletedFilterItemBuilderWithOccurredFrom(std::move(draft));
}

CompletedFilterItemBuilderWithOccurredUntil FilterBuilder::occurred_until(TimePoint until) const {
    detail::FilterDraft draft = m_draft;
    draft.until = until;
    return CompletedFilterItemBuilderWithOccurredUntil(std::move(draft));
}

CompletedFilterItemBuilderWithSequenceNumber FilterBuilder::with_sequence_number_higher_than(SequenceNumber n) const {
    detail::FilterDraft draft = m_draft;
    draft.sequence_number_higher_than = n;
    return CompletedFilterItemBuilderWithSequenceNumber(std::move(draft));
}

CompletedFilterItemBuilderWithSequenceNumber
SequenceFilteringCapable::with_sequence_number_higher_than(SequenceNumber n) const& {
    return SequenceFilteringCapable(*this).with_sequence_number_higher_than(n);
}

CompletedFilterItemBuilderWithSequenceNumber
SequenceFilteringCapable::with_sequence_number_higher_than(SequenceNumber n) && {
    m_draft.sequence_number_higher_than = n;
    return CompletedFilterItemBuilderWithSequenceNumber(std::move(m_draft));
}

// An instance method, as in Go, so that the variant's two alternatives read alike.
// NOLINTNEXTLINE(readability-convert-member-functions-to-static)
std::string SequenceFilteringIncompatible::cannot_add_sequence_filtering() const {
    return "cannot add sequence filtering: time boundaries already present";
}

} // namespace eventstore
