#ifndef EVENTSTORE_POSTGRES_EVENT_STORE_HPP
#define EVENTSTORE_POSTGRES_EVENT_STORE_HPP

#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <eventstore/event_store.hpp>
#include <eventstore/observability.hpp>
#include <eventstore/postgres/connection_pool.hpp>
#include <eventstore/postgres/store_options.hpp>
#include <eventstore/postgres/subscribe_options.hpp>

namespace eventstore::postgres {

// The PostgreSQL engine. Safe for concurrent use; holds no connection between calls.
//
// Errors. Every call throws eventstore::Error, whose code() names the operation that failed and whose
// cause() says why (docs/errors.md has the whole table):
//   query, query_stream       querying_events_failed; a row that does not decode: scanning_db_row_failed
//   append                    ConcurrencyConflict (code concurrency_conflict); appending_event_failed
//   import_events             appending_event_failed
//   save/load/delete_snapshot saving_/loading_/deleting_snapshot_failed; invalid input as its own code
//                             (empty_projection_type, empty_filter_hash, invalid_snapshot_json)
//   migrate                   migration_failed
// with cause() one of: canceled, deadline_exceeded (the Context), database_connection_failed (no
// connection could be opened, or it was lost), pool_exhausted (every pooled connection stayed busy),
// an input error (invalid_filter, invalid_event_type, invalid_payload_json, invalid_metadata_json),
// or none when the database refused the statement (sqlstate() says how). Error::is_retryable() and
// Error::is_input_error() sort them for a caller.
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

    QueryResult query(const Context& ctx, const Filter& filter, const ReadOptions& options) override;
    AppendResult append(const Context& ctx, const Filter& filter, SequenceNumber expected_max_sequence_number,
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
    // The same with read options: from (inclusive: the lowest position delivered, or the highest when
    // backwards), backwards (descending order) and limit. Returns the greatest sequence number
    // delivered, with the same guarantee.
    SequenceNumber query_stream(const Context& ctx, const Filter& filter, const ReadOptions& options,
                                const std::function<void(StorableEvent&&)>& on_event);

    // Delivers every event matching `filter` with a position above `after`, in ascending order, each
    // once, never skipping one (the guarantee of query): first those already stored, then each new one
    // soon after it commits. Blocks the calling thread. It ends normally, returning the position of the
    // last event delivered (`after` when none), when the Context's stop token is requested or its
    // deadline passes (from inside the callback too); a failure other than a lost connection throws
    // Error (querying_events_failed). An exception from `on_event` ends it and propagates. A lost
    // connection (a server restart, a terminated backend) is retried with backoff while the Context
    // allows, and delivery resumes after the last event delivered. docs/subscriptions.md.
    SequenceNumber subscribe(const Context& ctx, const Filter& filter, SequenceNumber after,
                             const std::function<void(StorableEvent&&)>& on_event,
                             const SubscribeOptions& options = {});

    // Durable subscriptions (SubscribeOptions::name). Returns once the subscription `name` has
    // processed every event up to `position` (its saved checkpoint is at or above it): for a caller
    // that must see its own append reflected in a projection. Waits as long as the Context allows,
    // also for a name no consumer has started yet; throws Error(Errc::subscription_failed) caused by
    // deadline_exceeded or canceled when it ends first (saying where the subscription is), or by a
    // database failure; invalid_subscription_name for a bad name.
    void wait_until_processed(std::string_view name, SequenceNumber position, const Context& ctx);
    // The saved checkpoint of the subscription `name`, or nothing when no consumer has used that name.
    std::optional<SequenceNumber> checkpoint(const Context& ctx, std::string_view name);
    // For CheckpointSaving::by_projection: the statement a projection runs in its own transaction,
    // before its own writes, with $1 the subscription's name (text) and $2 the event's position
    // (bigint). It moves the checkpoint to $2 and reports one row changed; no row changed means
    // that position was already processed (by another consumer of the name, after a takeover): roll
    // the transaction back and return from the callback. docs/subscriptions.md shows the pattern.
    [[nodiscard]] const std::string& checkpoint_statement() const noexcept;

    // Creates every table and index the store needs. When they all exist already it only reads the
    // catalog, so any role that may use the tables may call it at startup; creating them needs a role
    // that may (the schema's owner: docs/operations.md lists the grants of each role). Idempotent;
    // safe when several processes run it at once (they take turns on an advisory lock). A table of an
    // earlier version or of the Go library is upgraded in place: two nullable columns (a catalog
    // change, which gives up after 2 s behind a long transaction and is retried 5 times), then their
    // indexes built with CREATE INDEX CONCURRENTLY while readers and writers go on. Throws
    // Error(Errc::migration_failed), with the cause (database_connection_failed, canceled, ...) and
    // the SQLSTATE: 42501 when something is missing and this role may not create it.
    void migrate(const Context& ctx = {});

    // Appends the events unconditionally and atomically, in order: for migrations from other stores,
    // fixtures and benchmarks. Holds the table exclusively while it inserts, so concurrent queries and
    // appends see all of the events or none, exactly as if they had been appended. Every event is
    // validated; a bad one fails the whole import (the first 5,000 are checked before any lock is
    // taken, later ones while earlier chunks are inserted: nothing becomes visible, but the sequence
    // numbers taken meanwhile are skipped). Throws Error(Errc::appending_event_failed).
    // An import of 1,000 events or more writes the payload index in sorted batches when the store's role
    // owns the table, and leaves the index as migrate() made it. A failed or cancelled import may take up
    // to 10 s more, even after a cancel, to tidy the index before it throws (docs/design/bulk-import.md).
    void import_events(const Context& ctx, std::span<const StorableEvent> events);

    // The tables the store uses, as quoted SQL names ("\"events\"", "\"app\".\"events\""); the
    // snapshot and checkpoint tables are the default ones (StoreOptions) when none was given.
    [[nodiscard]] const std::string& table_name() const noexcept;
    [[nodiscard]] const std::string& snapshot_table_name() const noexcept;
    [[nodiscard]] const std::string& checkpoint_table_name() const noexcept;

private:
    std::unique_ptr<Impl> m_impl;
};

// A null primary throws Error(Errc::nil_database_connection); bad table names throw as StoreOptions
// describes. The store shares ownership of its pools.
std::unique_ptr<EventStore> new_event_store_from_pool(std::shared_ptr<ConnectionPool> primary,
                                                      const StoreOptions& options);
std::unique_ptr<EventStore> new_event_store_from_pool(std::shared_ptr<ConnectionPool> primary,
                                                      const std::vector<Option>& options);
// Eventual reads (query and load_snapshot with Consistency::eventual) go to the replica; everything
// else to the primary. The replica may be null; every call then goes to the primary. The replica set
// of one (below): with a minimum WAL position, failover to the primary when enabled.
std::unique_ptr<EventStore> new_event_store_from_pool_and_replica(std::shared_ptr<ConnectionPool> primary,
                                                                  std::shared_ptr<ConnectionPool> replica,
                                                                  const StoreOptions& options);
std::unique_ptr<EventStore> new_event_store_from_pool_and_replica(std::shared_ptr<ConnectionPool> primary,
                                                                  std::shared_ptr<ConnectionPool> replica,
                                                                  const std::vector<Option>& options);

// Eventual reads spread over several replicas (docs/replicas.md): each read goes to the next replica in
// rotation; one whose connection fails leaves the rotation for StoreOptions::replica_retry_after and the
// read moves on to the next; when none can serve, the read fails (Errc::database_connection_failed) or,
// with StoreOptions::replica_fallback, goes to the primary. A replica is named after its pool
// (PoolOptions::name; "replica-<n>" when left at the default) in logs, spans and the metric
// eventstore_replica_reads_total. An empty list sends every call to the primary; a null pool throws
// Error(Errc::nil_database_connection).
std::unique_ptr<EventStore>
new_event_store_from_pool_and_replicas(std::shared_ptr<ConnectionPool> primary,
                                       std::vector<std::shared_ptr<ConnectionPool>> replicas,
                                       const StoreOptions& options);
std::unique_ptr<EventStore>
new_event_store_from_pool_and_replicas(std::shared_ptr<ConnectionPool> primary,
                                       std::vector<std::shared_ptr<ConnectionPool>> replicas,
                                       const std::vector<Option>& options = {});

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
