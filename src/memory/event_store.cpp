// The in-memory store: the PostgreSQL engine's semantics over a vector, for users' unit tests.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <eventstore/memory.hpp>

#include "core/event_check.hpp"
#include "core/json_value.hpp"
#include "memory/matcher.hpp"

namespace eventstore::memory {

namespace {

using detail::StoredEvent;

// Sequence numbers and expected maxima are bigint in the engine.
constexpr auto sequence_ceiling = static_cast<SequenceNumber>(std::numeric_limits<std::int64_t>::max());

// A Context that ended before the call fails it the way the engine reports a cancelled statement.
void check_context(const Context& ctx, Errc failure) {
    if (ctx.stop_requested()) {
        throw Error(failure, Errc::canceled, "context canceled");
    }
    if (ctx.deadline_passed()) {
        throw Error(failure, Errc::deadline_exceeded, "context deadline exceeded");
    }
}

// Runs `body`; an input error it throws becomes the operation's failure caused by it, as the engine's
// operations report them.
template <typename Body>
auto wrapping_input_errors(Errc failure, Body&& body) {
    try {
        return body();
    } catch (const Error& error) {
        if (!error.is_input_error() || error.code() == failure) {
            throw;
        }
        throw Error(failure, error.code(), error.detail());
    }
}

[[noreturn]] void duplicate_id(std::string detail) {
    throw Error(Errc::appending_event_failed, Errc::duplicate_event_id, std::move(detail));
}

// The ids of one append's events so far: two events of one append cannot share an id, the second
// would be a copy of the first.
class DistinctIds {
public:
    void add(const std::string& id, std::size_t index) {
        if (id.empty()) {
            return;
        }
        if (const auto [it, inserted] = m_seen.emplace(id, index); !inserted) {
            // Bare: thrown inside wrapping_input_errors, which makes it the append's failure.
            throw Error(Errc::duplicate_event_id, "events " + std::to_string(it->second) + " and " +
                                                      std::to_string(index) + " of the append have the id " + id);
        }
    }

private:
    std::unordered_map<std::string, std::size_t> m_seen;
};

std::vector<std::string> tag_set(std::vector<std::string> tags) {
    std::sort(tags.begin(), tags.end());
    return tags;
}

// Why `candidate` is not the event stored under its id, or "" when it is the same: same type, same
// tags in any order, payloads that are the same JSON value. occurred_at and metadata do not count: a
// retry may well rebuild them.
std::string difference(const StorableEvent& stored, const StorableEvent& candidate) {
    if (stored.event_type != candidate.event_type) {
        return "another event type (\"" + stored.event_type + "\" is stored)";
    }
    // Both lists are without repeats already, so equal sorted lists are equal sets.
    if (tag_set(stored.tags) != tag_set(candidate.tags)) {
        return "other tags";
    }
    if (!eventstore::detail::json::same_value(stored.payload_json, candidate.payload_json)) {
        return "another payload";
    }
    return {};
}

} // namespace

struct EventStore::State {
    mutable std::shared_mutex mutex;
    std::vector<StoredEvent> events; // the event at position p is events[p - 1]
    std::unordered_map<std::string, SequenceNumber> positions_by_id;
    std::map<std::pair<std::string, std::string>, Snapshot> snapshots; // by (projection type, filter hash)

    // The result of an append whose events are all stored already (a retry), or nullopt when none of
    // their ids is stored. Throws duplicate_event_id for anything in between. Under the lock.
    [[nodiscard]] std::optional<AppendResult> already_stored(const std::vector<StoredEvent>& incoming) const {
        std::optional<std::size_t> first_stored;
        std::optional<std::size_t> first_new;
        for (std::size_t i = 0; i < incoming.size(); ++i) {
            const std::string& id = incoming[i].event.id;
            if (!id.empty() && positions_by_id.contains(id)) {
                first_stored = first_stored.value_or(i);
            } else {
                first_new = first_new.value_or(i);
            }
        }
        if (!first_stored) {
            return std::nullopt;
        }
        if (first_new) {
            // Part of the append is stored: it is not a retry of one append, and storing the rest
            // would split what the caller meant to be atomic.
            duplicate_id("event " + std::to_string(*first_stored) + "'s id " + incoming[*first_stored].event.id +
                         " is already stored but event " + std::to_string(*first_new) +
                         (incoming[*first_new].event.id.empty() ? " has no id" : "'s id is new") +
                         ": a retry repeats a whole stored append");
        }
        SequenceNumber last = 0;
        for (std::size_t i = 0; i < incoming.size(); ++i) {
            const StorableEvent& candidate = incoming[i].event;
            last = positions_by_id.at(candidate.id);
            if (std::string why = difference(events[last - 1].event, candidate); !why.empty()) {
                duplicate_id("event " + std::to_string(i) + ": id " + candidate.id + " is stored at position " +
                             std::to_string(last) + " for a different event: " + why);
            }
        }
        return AppendResult{last, true};
    }

    // The greatest position among the events matching, or 0.
    [[nodiscard]] SequenceNumber newest_match(const detail::Matcher& matcher) const {
        const auto found = std::find_if(events.rbegin(), events.rend(),
                                        [&](const StoredEvent& stored) { return matcher.matches(stored); });
        return found == events.rend() ? 0 : found->event.sequence_number;
    }

    // Stores the events at the next positions, all or none. Under the lock.
    AppendResult commit(std::vector<StoredEvent> incoming) {
        const std::size_t before = events.size();
        events.reserve(before + incoming.size());
        try {
            for (StoredEvent& stored : incoming) {
                stored.event.sequence_number = events.size() + 1;
                if (!stored.event.id.empty()) {
                    positions_by_id.emplace(stored.event.id, stored.event.sequence_number);
                }
                events.push_back(std::move(stored)); // cannot throw: the capacity is reserved
            }
        } catch (...) {
            for (std::size_t i = before; i < events.size(); ++i) {
                positions_by_id.erase(events[i].event.id);
            }
            events.erase(events.begin() + static_cast<std::ptrdiff_t>(before), events.end());
            throw;
        }
        return AppendResult{events.size(), false};
    }
};

EventStore::EventStore() : m_state(std::make_unique<State>()) {}

EventStore::~EventStore() = default;

QueryResult EventStore::query(const Context& ctx, const Filter& filter, const ReadOptions& options) {
    check_context(ctx, Errc::querying_events_failed);
    const detail::Matcher matcher =
        wrapping_input_errors(Errc::querying_events_failed, [&] { return detail::Matcher(filter); });
    QueryResult out;
    // Whether to go on after this event.
    const auto take = [&](const StoredEvent& stored) {
        if (matcher.matches(stored)) {
            out.events.push_back(stored.event);
        }
        return options.limit == 0 || out.events.size() < options.limit;
    };
    std::shared_lock lock(m_state->mutex);
    const std::vector<StoredEvent>& events = m_state->events;
    // Positions have no gaps, so the bounds are indexes: position p is at p - 1.
    if (options.backwards) {
        const std::size_t newest =
            options.from > 0 ? std::min<SequenceNumber>(options.from, events.size()) : events.size();
        for (std::size_t p = newest; p > 0 && take(events[p - 1]); --p) {
        }
    } else {
        const SequenceNumber first = std::max<SequenceNumber>(options.from, 1);
        for (std::size_t p = first; p <= events.size() && take(events[p - 1]); ++p) {
        }
    }
    lock.unlock();
    if (!out.events.empty()) {
        out.max_sequence_number =
            options.backwards ? out.events.front().sequence_number : out.events.back().sequence_number;
    }
    return out;
}

AppendResult EventStore::append(const Context& ctx, const Filter& filter, SequenceNumber expected_max_sequence_number,
                                std::span<const StorableEvent> events) {
    check_context(ctx, Errc::appending_event_failed);
    if (events.empty()) {
        return {};
    }
    // Everything is checked and prepared before the lock: nothing is written for a bad event.
    std::vector<StoredEvent> incoming;
    incoming.reserve(events.size());
    const detail::Matcher matcher = wrapping_input_errors(Errc::appending_event_failed, [&] {
        // In the engine's order: each event, then the filter.
        DistinctIds ids;
        for (std::size_t i = 0; i < events.size(); ++i) {
            eventstore::detail::check_event(events[i], "event " + std::to_string(i) + ": ");
            incoming.push_back(detail::stored_form(events[i]));
            ids.add(incoming.back().event.id, i);
        }
        return detail::Matcher(filter);
    });
    if (expected_max_sequence_number > sequence_ceiling) {
        throw ConcurrencyConflict("expected sequence number " + std::to_string(expected_max_sequence_number) +
                                  " is out of range");
    }

    std::unique_lock lock(m_state->mutex);
    // A retry of a committed append succeeds whatever the condition says now: the condition held when
    // it committed.
    if (std::optional<AppendResult> retry = m_state->already_stored(incoming)) {
        return *retry;
    }
    if (m_state->newest_match(matcher) != expected_max_sequence_number) {
        throw ConcurrencyConflict();
    }
    return m_state->commit(std::move(incoming));
}

void EventStore::save_snapshot(const Context& ctx, const Snapshot& snapshot) {
    check_context(ctx, Errc::saving_snapshot_failed);
    // Invalid input is thrown as its own code, before the call proper, as the engine does.
    snapshot.validate();
    if (snapshot.sequence_number > sequence_ceiling) {
        throw Error(Errc::saving_snapshot_failed, "sequence number out of range");
    }
    Snapshot kept = snapshot;
    kept.created_at = detail::to_microseconds(std::chrono::system_clock::now());
    std::unique_lock lock(m_state->mutex);
    auto [it, inserted] =
        m_state->snapshots.try_emplace(std::make_pair(snapshot.projection_type, snapshot.filter_hash), kept);
    // A lower sequence number never overwrites; an equal or higher one does.
    if (!inserted && kept.sequence_number >= it->second.sequence_number) {
        it->second = std::move(kept);
    }
}

std::optional<Snapshot> EventStore::load_snapshot(const Context& ctx, std::string_view projection_type,
                                                  const Filter& filter) {
    check_context(ctx, Errc::loading_snapshot_failed);
    Snapshot::validate_projection_type(projection_type);
    const auto key = std::make_pair(std::string(projection_type), filter.hash());
    std::shared_lock lock(m_state->mutex);
    const auto found = m_state->snapshots.find(key);
    if (found == m_state->snapshots.end()) {
        return std::nullopt;
    }
    return found->second;
}

void EventStore::delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter) {
    check_context(ctx, Errc::deleting_snapshot_failed);
    Snapshot::validate_projection_type(projection_type);
    const auto key = std::make_pair(std::string(projection_type), filter.hash());
    std::unique_lock lock(m_state->mutex);
    m_state->snapshots.erase(key);
}

std::unique_ptr<EventStore> new_event_store() { return std::make_unique<EventStore>(); }

} // namespace eventstore::memory
