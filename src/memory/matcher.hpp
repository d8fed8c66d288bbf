#ifndef EVENTSTORE_SRC_MEMORY_MATCHER_HPP
#define EVENTSTORE_SRC_MEMORY_MATCHER_HPP

#include <optional>
#include <string>
#include <vector>

#include <eventstore/filter.hpp>
#include <eventstore/storable_event.hpp>

#include "core/json_value.hpp"

namespace eventstore::memory::detail {

// An event as the store keeps it, with what matching needs computed once, when it is appended.
struct StoredEvent {
    // As queries return it: tags without repeats, id in lowercase, occurred_at in whole microseconds,
    // sequence_number set.
    StorableEvent event;
    // The payload's top-level members as jsonb holds them (the last of duplicate keys), sorted by key,
    // with canonical values; only those whose value is a string, the only ones a predicate can match.
    eventstore::detail::json::CanonicalMembers string_members;
};

// The event as the store keeps it; the event must have passed check_event. Its sequence number is
// left 0.
[[nodiscard]] StoredEvent stored_form(const StorableEvent& event);

// A time as the engine stores it: floored to whole microseconds.
[[nodiscard]] TimePoint to_microseconds(TimePoint t);

// A filter prepared for matching many events, with the PostgreSQL engine's semantics: (no item, or any
// non-empty item matches) and within the time bounds (inclusive, in whole microseconds) and above the
// sequence bound. An item matches when the type is one of its types (if any), its predicates hold (any
// or all of them, if any) and the event carries every one of its tags. It refers to the filter, which
// must outlive it.
class Matcher {
public:
    // Throws Error(invalid_filter) for an event type, predicate key or value, or tag holding a NUL
    // byte or invalid UTF-8, as the engine does (PostgreSQL text cannot hold them).
    explicit Matcher(const Filter& filter);

    [[nodiscard]] bool matches(const StoredEvent& stored) const;

private:
    struct Predicate {
        const std::string* key;
        std::string quoted_value; // the value's canonical text, to compare with a member's
    };
    struct Item {
        const FilterItem* item;
        std::vector<Predicate> predicates;
    };

    [[nodiscard]] static bool item_matches(const Item& item, const StoredEvent& stored);

    std::vector<Item> m_items; // the filter's non-empty items; they point into the filter
    std::optional<TimePoint> m_from;
    std::optional<TimePoint> m_until;
    SequenceNumber m_higher_than;
};

} // namespace eventstore::memory::detail

#endif
