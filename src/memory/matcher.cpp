#include "memory/matcher.hpp"

#include <algorithm>
#include <string_view>

#include <eventstore/error.hpp>

#include "core/event_check.hpp"
#include "core/json.hpp"

namespace eventstore::memory::detail {

namespace json = eventstore::detail::json;

namespace {

bool has_tag(const std::vector<std::string>& tags, const std::string& tag) {
    return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

} // namespace

StoredEvent stored_form(const StorableEvent& event) {
    StoredEvent stored;
    stored.event = event;
    stored.event.tags = eventstore::detail::unique_tags(event.tags);
    stored.event.id = eventstore::detail::normalized_id(event.id);
    stored.event.occurred_at = to_microseconds(event.occurred_at);
    stored.event.sequence_number = 0;
    json::CanonicalMembers members = json::canonical_members(event.payload_json);
    for (auto& member : members) {
        if (member.second.front() == '"') {
            stored.string_members.push_back(std::move(member));
        }
    }
    return stored;
}

TimePoint to_microseconds(TimePoint t) {
    return TimePoint(std::chrono::floor<std::chrono::microseconds>(t.time_since_epoch()));
}

Matcher::Matcher(const Filter& filter)
    : m_from(filter.occurred_from()), m_until(filter.occurred_until()),
      m_higher_than(filter.sequence_number_higher_than()) {
    eventstore::detail::check_filter_texts(filter);
    for (const FilterItem& item : filter.items()) {
        if (item.empty()) {
            continue; // dropped from the OR, as in the Go library
        }
        Item prepared{&item, {}};
        for (const FilterPredicate& p : item.predicates()) {
            Predicate predicate{&p.key(), {}};
            json::append_quoted(predicate.quoted_value, p.val());
            prepared.predicates.push_back(std::move(predicate));
        }
        m_items.push_back(std::move(prepared));
    }
    // The engine binds the bounds as timestamps, which hold whole microseconds.
    if (m_from) {
        m_from = to_microseconds(*m_from);
    }
    if (m_until) {
        m_until = to_microseconds(*m_until);
    }
}

bool Matcher::matches(const StoredEvent& stored) const {
    const StorableEvent& e = stored.event;
    if (e.sequence_number <= m_higher_than) {
        return false;
    }
    if ((m_from && e.occurred_at < *m_from) || (m_until && e.occurred_at > *m_until)) {
        return false;
    }
    return m_items.empty() ||
           std::any_of(m_items.begin(), m_items.end(), [&](const Item& item) { return item_matches(item, stored); });
}

bool Matcher::item_matches(const Item& item, const StoredEvent& stored) {
    const StorableEvent& e = stored.event;
    const auto& types = item.item->event_types();
    if (!types.empty() && std::find(types.begin(), types.end(), e.event_type) == types.end()) {
        return false;
    }
    const auto holds = [&](const Predicate& p) {
        const auto& members = stored.string_members;
        const auto found =
            std::lower_bound(members.begin(), members.end(), *p.key,
                             [](const auto& member, const std::string& key) { return member.first < key; });
        return found != members.end() && found->first == *p.key && found->second == p.quoted_value;
    };
    if (!item.predicates.empty()) {
        const bool held = item.item->all_predicates_must_match()
                              ? std::all_of(item.predicates.begin(), item.predicates.end(), holds)
                              : std::any_of(item.predicates.begin(), item.predicates.end(), holds);
        if (!held) {
            return false;
        }
    }
    const auto& tags = item.item->tags();
    return std::all_of(tags.begin(), tags.end(), [&](const std::string& tag) { return has_tag(e.tags, tag); });
}

} // namespace eventstore::memory::detail
