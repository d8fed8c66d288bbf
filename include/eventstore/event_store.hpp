#ifndef EVENTSTORE_EVENT_STORE_HPP
#define EVENTSTORE_EVENT_STORE_HPP

#include <optional>
#include <span>
#include <string_view>

#include <eventstore/context.hpp>
#include <eventstore/filter.hpp>
#include <eventstore/snapshot.hpp>
#include <eventstore/storable_event.hpp>

namespace eventstore {

struct QueryResult {
    StorableEvents events;                  // ascending sequence_number
    SequenceNumber max_sequence_number = 0; // of the last event returned; 0 when none matched
};

// The engine-agnostic store. Implementations are safe for concurrent use from many threads.
class EventStore {
public:
    virtual ~EventStore() = default;

    // The events matching the filter and the stream's version. Once a maximum M has been returned for
    // a filter, no event matching it with a sequence number at or below M appears later.
    virtual QueryResult query(const Context& ctx, const Filter& filter) = 0;
    // Appends the events atomically, in argument order, if the greatest sequence number among the
    // events matching `filter` is still `expected_max_sequence_number`; otherwise throws
    // ConcurrencyConflict and writes nothing. No events: does nothing.
    virtual void append(const Context& ctx, const Filter& filter, SequenceNumber expected_max_sequence_number,
                        std::span<const StorableEvent> events) = 0;
    virtual void save_snapshot(const Context& ctx, const Snapshot& snapshot) = 0;
    virtual std::optional<Snapshot> load_snapshot(const Context& ctx, std::string_view projection_type,
                                                  const Filter& filter) = 0;
    virtual void delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter) = 0;

    QueryResult query(const Filter& filter) { return query(Context(), filter); }
    void append(const Filter& filter, SequenceNumber expected_max_sequence_number,
                std::span<const StorableEvent> events) {
        append(Context(), filter, expected_max_sequence_number, events);
    }
    void append(const Context& ctx, const Filter& filter, SequenceNumber expected_max_sequence_number,
                const StorableEvent& event) {
        append(ctx, filter, expected_max_sequence_number, std::span<const StorableEvent>(&event, 1));
    }
    void append(const Filter& filter, SequenceNumber expected_max_sequence_number, const StorableEvent& event) {
        append(Context(), filter, expected_max_sequence_number, event);
    }
    void save_snapshot(const Snapshot& snapshot) { save_snapshot(Context(), snapshot); }
    std::optional<Snapshot> load_snapshot(std::string_view projection_type, const Filter& filter) {
        return load_snapshot(Context(), projection_type, filter);
    }
    void delete_snapshot(std::string_view projection_type, const Filter& filter) {
        delete_snapshot(Context(), projection_type, filter);
    }
};

} // namespace eventstore

#endif
