#ifndef EVENTSTORE_POSTGRES_EVENT_STORE_HPP
#define EVENTSTORE_POSTGRES_EVENT_STORE_HPP

#include <concepts>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <eventstore/event_store.hpp>
#include <eventstore/observability.hpp>
#include <eventstore/postgres/connection_pool.hpp>

namespace eventstore::postgres {

namespace detail {
struct StoreConfig;
}

// A configuration step for the store factories, Go style: new_event_store_from_pool(pool, with_table_name("x")).
class Option {
public:
    explicit Option(std::function<void(detail::StoreConfig&)> apply) : m_apply(std::move(apply)) {}
    void apply(detail::StoreConfig& config) const { m_apply(config); }

private:
    std::function<void(detail::StoreConfig&)> m_apply;
};

// Events table; "schema.table" is allowed. Each part is quoted, so names are case-sensitive. An empty
// name makes the factory throw Errc::empty_events_table_name; a part that is empty, longer than 63
// bytes or holds a NUL byte, Errc::invalid_table_name.
[[nodiscard]] Option with_table_name(std::string name);
// Snapshot table (the Go library hard-codes "snapshots"); same rules.
[[nodiscard]] Option with_snapshot_table_name(std::string name);
[[nodiscard]] Option with_logger(std::shared_ptr<Logger> logger);
[[nodiscard]] Option with_contextual_logger(std::shared_ptr<ContextualLogger> logger);
[[nodiscard]] Option with_metrics(std::shared_ptr<MetricsCollector> collector);
[[nodiscard]] Option with_tracing(std::shared_ptr<TracingCollector> collector);

// The PostgreSQL engine. Safe for concurrent use; holds no connection between calls.
class EventStore final : public eventstore::EventStore {
public:
    class Impl;
    explicit EventStore(std::unique_ptr<Impl> impl);
    ~EventStore() override;
    EventStore(const EventStore&) = delete;
    EventStore& operator=(const EventStore&) = delete;

    using eventstore::EventStore::append;
    using eventstore::EventStore::delete_snapshot;
    using eventstore::EventStore::load_snapshot;
    using eventstore::EventStore::query;
    using eventstore::EventStore::save_snapshot;

    QueryResult query(const Context& ctx, const Filter& filter) override;
    void append(const Context& ctx, const Filter& filter, SequenceNumber expected_max_sequence_number,
                std::span<const StorableEvent> events) override;
    void save_snapshot(const Context& ctx, const Snapshot& snapshot) override;
    std::optional<Snapshot> load_snapshot(const Context& ctx, std::string_view projection_type,
                                          const Filter& filter) override;
    void delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter) override;

    // Streams the events matching the filter to `on_event`, in ascending sequence order, holding one
    // row at a time: for projections that rebuild from the beginning over millions of events. Returns
    // the stream's maximum, with the same guarantee as query(): no event matching the filter at or
    // below it appears later. Writers are held off only while the stream's upper bound is fixed, not
    // while it is read. An exception thrown by `on_event` ends the call and propagates.
    SequenceNumber query_stream(const Context& ctx, const Filter& filter,
                                const std::function<void(StorableEvent&&)>& on_event);

    // Creates every table, index and function the store needs. Idempotent; safe when several processes
    // run it at once (they take turns on an advisory lock). Throws Error(Errc::migration_failed), with
    // the cause (database_connection_failed, canceled, ...) and the SQLSTATE.
    void migrate(const Context& ctx = {});

    // Appends the events unconditionally and atomically, in order: for migrations from other stores,
    // fixtures and benchmarks. Holds the table exclusively while it inserts, so concurrent queries and
    // appends see all of the events or none, exactly as if they had been appended. Every event is
    // validated; a bad one fails the whole import (the first 5,000 are checked before any lock is
    // taken, later ones while earlier chunks are inserted: nothing becomes visible, but the sequence
    // numbers taken meanwhile are skipped). Throws Error(Errc::appending_event_failed).
    // From 1,000 events on, and when the role owns the table, the payload index is written in sorted
    // batches through GIN's pending list (docs/performance.md) and left as migrate() made it. A failed
    // or cancelled import merges what its rolled-back rows left in that list before it throws (on a
    // fresh connection, at most 10 s, even after a cancel), so that later queries do not scan it.
    void import_events(const Context& ctx, std::span<const StorableEvent> events);

    [[nodiscard]] const std::string& table_name() const noexcept;
    [[nodiscard]] const std::string& snapshot_table_name() const noexcept;

private:
    std::unique_ptr<Impl> m_impl;
};

std::unique_ptr<EventStore> new_event_store_from_pool(std::shared_ptr<ConnectionPool> primary,
                                                      const std::vector<Option>& options);
// Eventual reads (query and load_snapshot with Consistency::eventual) go to the replica; everything
// else to the primary. The replica may be null; every call then goes to the primary.
std::unique_ptr<EventStore> new_event_store_from_pool_and_replica(std::shared_ptr<ConnectionPool> primary,
                                                                  std::shared_ptr<ConnectionPool> replica,
                                                                  const std::vector<Option>& options);

namespace detail {
template <typename T>
concept StoreOption = std::same_as<std::remove_cvref_t<T>, Option>;
} // namespace detail

template <detail::StoreOption... Options>
std::unique_ptr<EventStore> new_event_store_from_pool(std::shared_ptr<ConnectionPool> primary, Options&&... options) {
    return new_event_store_from_pool(std::move(primary), std::vector<Option>{std::forward<Options>(options)...});
}

template <detail::StoreOption... Options>
std::unique_ptr<EventStore> new_event_store_from_pool_and_replica(std::shared_ptr<ConnectionPool> primary,
                                                                  std::shared_ptr<ConnectionPool> replica,
                                                                  Options&&... options) {
    return new_event_store_from_pool_and_replica(std::move(primary), std::move(replica),
                                                 std::vector<Option>{std::forward<Options>(options)...});
}

} // namespace eventstore::postgres

#endif
