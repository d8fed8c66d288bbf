#ifndef EVENTSTORE_EVENT_STORE_HPP
#define EVENTSTORE_EVENT_STORE_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include <eventstore/context.hpp>
#include <eventstore/filter.hpp>
#include <eventstore/snapshot.hpp>
#include <eventstore/storable_event.hpp>

namespace eventstore {

struct QueryResult {
    StorableEvents events;                  // ascending sequence_number (descending for a backwards read)
    SequenceNumber max_sequence_number = 0; // the greatest sequence number returned; 0 when none was
};

// How to read, in the DCB specification's terms. The defaults read every matching event, oldest first.
struct ReadOptions {
    SequenceNumber from = 0; // inclusive bound: the lowest position returned, or the highest when
                             // backwards; 0 = from the start (or from the newest)
    bool backwards = false;  // descending sequence order
    std::size_t limit = 0;   // at most this many events; 0 = no limit
};

struct AppendResult {
    SequenceNumber last_sequence_number = 0; // the position of the append's last event; 0 for no events
    // Whether the events were stored by an earlier call with the same event ids (an idempotent
    // retry); the positions are then theirs.
    bool already_stored = false;
    // PostgreSQL, in a store with replicas: the WAL position just past the append's commit. A replica
    // that has replayed that far shows the append; give it to Context::with_min_wal_position for an
    // eventual read that must see it. 0 when the store has no replica (or the position could not be
    // read after the commit: then such reads go to the primary), and for the in-memory store.
    std::uint64_t wal_position = 0;
};

// The engine-agnostic store. Implementations are safe for concurrent use from many threads.
class EventStore {
public:
    virtual ~EventStore() = default;

    // The events matching the filter, as the options say, and the greatest sequence number among them.
    // Once a maximum M has been returned for a filter, no event matching it with a sequence number at
    // or below M appears later; a limited read returns the greatest position it returned, never one
    // that passes over events it left out.
    virtual QueryResult query(const Context& ctx, const Filter& filter, const ReadOptions& options) = 0;
    // Appends the events atomically, in argument order, if the greatest sequence number among the
    // events matching `filter` is still `expected_max_sequence_number`; otherwise throws
    // ConcurrencyConflict and writes nothing. No events: does nothing.
    //
    // Idempotency: when every event carries an id and all of those ids are already stored, for the same
    // events (same type, same tags in any order, payloads that are the same JSON value; occurred_at and
    // metadata are not compared), the append writes nothing and returns the original positions
    // (already_stored), whatever the condition says: it was a retry of an append that committed. An id
    // stored for a different event, or an append mixing stored ids with new ones, throws
    // Error(Errc::duplicate_event_id) and writes nothing.
    virtual AppendResult append(const Context& ctx, const Filter& filter, SequenceNumber expected_max_sequence_number,
                                std::span<const StorableEvent> events) = 0;
    virtual void save_snapshot(const Context& ctx, const Snapshot& snapshot) = 0;
    virtual std::optional<Snapshot> load_snapshot(const Context& ctx, std::string_view projection_type,
                                                  const Filter& filter) = 0;
    virtual void delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter) = 0;

    QueryResult query(const Context& ctx, const Filter& filter) { return query(ctx, filter, ReadOptions{}); }
    QueryResult query(const Filter& filter) { return query(Context(), filter, ReadOptions{}); }
    QueryResult query(const Filter& filter, const ReadOptions& options) { return query(Context(), filter, options); }
    AppendResult append(const Filter& filter, SequenceNumber expected_max_sequence_number,
                        std::span<const StorableEvent> events) {
        return append(Context(), filter, expected_max_sequence_number, events);
    }
    AppendResult append(const Context& ctx, const Filter& filter, SequenceNumber expected_max_sequence_number,
                        const StorableEvent& event) {
        return append(ctx, filter, expected_max_sequence_number, std::span<const StorableEvent>(&event, 1));
    }
    AppendResult append(const Filter& filter, SequenceNumber expected_max_sequence_number, const StorableEvent& event) {
        return append(Context(), filter, expected_max_sequence_number, event);
    }
    void save_snapshot(const Snapshot& snapshot) { save_snapshot(Context(), snapshot); }
    std::optional<Snapshot> load_snapshot(std::string_view projection_type, const Filter& filter) {
        return load_snapshot(Context(), projection_type, filter);
    }
    void delete_snapshot(std::string_view projection_type, const Filter& filter) {
        delete_snapshot(Context(), projection_type, filter);
    }
};

// The read-decide-append loop: reads the filter's events, calls decide(result) for the events to
// append (none: nothing to do, returns an empty result), appends them conditioned on the maximum it
// read, and on ConcurrencyConflict reads and decides again, up to max_attempts times in all (then
// rethrows the conflict), waiting `backoff` times the attempt number between tries. Honours the
// Context between tries (Error canceled or deadline_exceeded). Works on every store.
struct RetryPolicy {
    int max_attempts = 5;
    std::chrono::milliseconds backoff{1};
};
AppendResult decide_and_append(EventStore& store, const Context& ctx, const Filter& filter,
                               const std::function<StorableEvents(const QueryResult&)>& decide,
                               RetryPolicy policy = {});

} // namespace eventstore

#endif
