#ifndef EVENTSTORE_MEMORY_HPP
#define EVENTSTORE_MEMORY_HPP

// An in-memory eventstore::EventStore for unit tests of code written against the interface: no
// database, no dependency beyond the core (CMake target eventstore::memory).
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include <eventstore/eventstore.hpp>

namespace eventstore::memory {

// Holds its events and snapshots in memory, with the PostgreSQL engine's semantics: the same
// matching, read options, conditional and idempotent appends, input checks and errors (the codes of
// docs/errors.md). Every call is atomic and the store is safe for concurrent use; a Context that is
// already cancelled or past its deadline fails the call before it starts.
//
// Differences from the engine, which tests should not rely on either way:
// - payload, metadata and snapshot data come back as they were given, not in PostgreSQL's normalised
//   jsonb text (key order, whitespace, number spelling);
// - sequence numbers have no gaps (the engine's may, after failed appends);
// - nothing persists beyond the object's life, and there is no query_stream, import_events or migrate.
class EventStore final : public eventstore::EventStore {
public:
    EventStore();
    ~EventStore() override;
    EventStore(const EventStore&) = delete;
    EventStore& operator=(const EventStore&) = delete;
    EventStore(EventStore&&) = delete;
    EventStore& operator=(EventStore&&) = delete;

    using eventstore::EventStore::append;
    using eventstore::EventStore::delete_snapshot;
    using eventstore::EventStore::load_snapshot;
    using eventstore::EventStore::query;
    using eventstore::EventStore::save_snapshot;

    QueryResult query(const Context& ctx, const Filter& filter, const ReadOptions& options) override;
    AppendResult append(const Context& ctx, const Filter& filter, SequenceNumber expected_max_sequence_number,
                        std::span<const StorableEvent> events) override;
    void save_snapshot(const Context& ctx, const Snapshot& snapshot) override;
    std::optional<Snapshot> load_snapshot(const Context& ctx, std::string_view projection_type,
                                          const Filter& filter) override;
    void delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter) override;

private:
    struct State;
    std::unique_ptr<State> m_state;
};

// An empty store.
[[nodiscard]] std::unique_ptr<EventStore> new_event_store();

} // namespace eventstore::memory

#endif
