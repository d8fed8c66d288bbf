// The public facade of the PostgreSQL engine: forwarding to the Impl, options, factories, and
// migrate(). The operations live in reads.cpp, append.cpp, import.cpp and snapshots.cpp.

#include <eventstore/error.hpp>
#include <eventstore/postgres/event_store.hpp>

#include "postgres/import.hpp"
#include "postgres/pool_impl.hpp"
#include "postgres/store_impl.hpp"

namespace eventstore::postgres {

namespace {

// A pool as the engine sees it: a source of sessions, kept alive by the store.
std::shared_ptr<detail::SessionSource> sessions_of(std::shared_ptr<ConnectionPool> pool) {
    if (!pool) {
        return nullptr;
    }
    detail::SessionSource& sessions = detail::PoolAccess::impl(*pool);
    return {std::move(pool), &sessions};
}

} // namespace

StoreOptions detail::combined(const std::vector<Option>& options) {
    StoreOptions out;
    for (const Option& o : options) {
        o.apply(out);
    }
    return out;
}

EventStore::Impl::Impl(std::shared_ptr<detail::SessionSource> primary, std::string primary_name,
                       std::vector<detail::ReplicaSet::Replica> replicas, const StoreOptions& options)
    : m_primary(std::move(primary)), m_primary_name(std::move(primary_name)),
      m_replicas(std::move(replicas), options.replica_retry_after), m_replica_fallback(options.replica_fallback),
      m_replica_max_wait(options.replica_max_wait), m_instruments(options),
      m_schema(options.table_name, options.snapshot_table_name, options.checkpoint_table_name) {}

void EventStore::Impl::import_events(const Context& ctx, std::span<const StorableEvent> events) {
    if (events.empty()) {
        return;
    }
    detail::Operation op(m_instruments, ctx, detail::import_kind, events, std::nullopt);
    op.run([&] {
        try {
            detail::Importer(m_schema, *m_primary, m_instruments, op, events).run();
        } catch (const detail::DatabaseFailure& failure) {
            // The ids' unique index: an id given twice, or one stored already. The import wrote nothing.
            if (failure.sqlstate() == "23505") {
                throw Error(Errc::duplicate_event_id, std::string(failure.what()));
            }
            throw;
        }
        op.write_succeeded(events.size());
    });
}

// --- public surface ------------------------------------------------------------------------------

EventStore::EventStore(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
EventStore::~EventStore() = default;

QueryResult EventStore::query(const Context& ctx, const Filter& filter, const ReadOptions& options) {
    return m_impl->query(ctx, filter, options);
}

AppendResult EventStore::append(const Context& ctx, const Filter& filter, SequenceNumber expected_max_sequence_number,
                                std::span<const StorableEvent> events) {
    return m_impl->append(ctx, filter, expected_max_sequence_number, events);
}

void EventStore::save_snapshot(const Context& ctx, const Snapshot& snapshot) { m_impl->save_snapshot(ctx, snapshot); }

std::optional<Snapshot> EventStore::load_snapshot(const Context& ctx, std::string_view projection_type,
                                                  const Filter& filter) {
    return m_impl->load_snapshot(ctx, projection_type, filter);
}

void EventStore::delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter) {
    m_impl->delete_snapshot(ctx, projection_type, filter);
}

void EventStore::migrate(const Context& ctx) { m_impl->migrate(ctx); }

SequenceNumber EventStore::query_stream(const Context& ctx, const Filter& filter,
                                        const std::function<void(StorableEvent&&)>& on_event) {
    return m_impl->query_stream(ctx, filter, ReadOptions{}, on_event);
}

SequenceNumber EventStore::query_stream(const Context& ctx, const Filter& filter, const ReadOptions& options,
                                        const std::function<void(StorableEvent&&)>& on_event) {
    return m_impl->query_stream(ctx, filter, options, on_event);
}

void EventStore::import_events(const Context& ctx, std::span<const StorableEvent> events) {
    m_impl->import_events(ctx, events);
}

const std::string& EventStore::table_name() const noexcept { return m_impl->schema().events().quoted; }

const std::string& EventStore::snapshot_table_name() const noexcept { return m_impl->schema().snapshots().quoted; }
const std::string& EventStore::checkpoint_table_name() const noexcept { return m_impl->schema().checkpoints().quoted; }
const std::string& EventStore::checkpoint_statement() const noexcept {
    return m_impl->schema().projection_checkpoint();
}

Option with_table_name(std::string name) {
    return Option([name = std::move(name)](StoreOptions& o) { o.table_name = name; });
}

Option with_snapshot_table_name(std::string name) {
    return Option([name = std::move(name)](StoreOptions& o) { o.snapshot_table_name = name; });
}
Option with_success_log_level(SuccessLogLevel level) {
    return Option([level](StoreOptions& o) { o.success_log_level = level; });
}
Option with_replica_retry_after(std::chrono::milliseconds delay) {
    return Option([delay](StoreOptions& o) { o.replica_retry_after = delay; });
}
Option with_replica_fallback(bool fall_back_to_primary) {
    return Option([fall_back_to_primary](StoreOptions& o) { o.replica_fallback = fall_back_to_primary; });
}
Option with_replica_max_wait(std::chrono::milliseconds wait) {
    return Option([wait](StoreOptions& o) { o.replica_max_wait = wait; });
}
Option with_checkpoint_table_name(std::string name) {
    return Option([name = std::move(name)](StoreOptions& o) { o.checkpoint_table_name = name; });
}

Option with_logger(std::shared_ptr<Logger> logger) {
    return Option([logger = std::move(logger)](StoreOptions& o) { o.logger = logger; });
}

Option with_contextual_logger(std::shared_ptr<ContextualLogger> logger) {
    return Option([logger = std::move(logger)](StoreOptions& o) { o.contextual_logger = logger; });
}

Option with_metrics(std::shared_ptr<MetricsCollector> collector) {
    return Option([collector = std::move(collector)](StoreOptions& o) { o.metrics = collector; });
}

Option with_tracing(std::shared_ptr<TracingCollector> collector) {
    return Option([collector = std::move(collector)](StoreOptions& o) { o.tracing = collector; });
}

std::unique_ptr<EventStore>
new_event_store_from_pool_and_replicas(std::shared_ptr<ConnectionPool> primary,
                                       std::vector<std::shared_ptr<ConnectionPool>> replicas,
                                       const StoreOptions& options) {
    if (!primary) {
        throw Error(Errc::nil_database_connection);
    }
    // A replica's name is its pool's; one left at the default ("primary") is called after its role.
    std::vector<detail::ReplicaSet::Replica> set;
    for (std::size_t i = 0; i < replicas.size(); ++i) {
        if (!replicas[i]) {
            throw Error(Errc::nil_database_connection, "replica " + std::to_string(i) + " is null");
        }
        std::string name = replicas[i]->options().name;
        if (name == PoolOptions().name) {
            name = replicas.size() == 1 ? "replica" : "replica-" + std::to_string(i + 1);
        }
        set.push_back({sessions_of(std::move(replicas[i])), std::move(name)});
    }
    std::string primary_name = primary->options().name;
    return detail::make_store(sessions_of(std::move(primary)), std::move(primary_name), std::move(set), options);
}

std::unique_ptr<EventStore>
new_event_store_from_pool_and_replicas(std::shared_ptr<ConnectionPool> primary,
                                       std::vector<std::shared_ptr<ConnectionPool>> replicas,
                                       const std::vector<Option>& options) {
    return new_event_store_from_pool_and_replicas(std::move(primary), std::move(replicas), detail::combined(options));
}

std::unique_ptr<EventStore> new_event_store_from_pool_and_replica(std::shared_ptr<ConnectionPool> primary,
                                                                  std::shared_ptr<ConnectionPool> replica,
                                                                  const StoreOptions& options) {
    std::vector<std::shared_ptr<ConnectionPool>> replicas;
    if (replica) {
        replicas.push_back(std::move(replica));
    }
    return new_event_store_from_pool_and_replicas(std::move(primary), std::move(replicas), options);
}

std::unique_ptr<EventStore> new_event_store_from_pool_and_replica(std::shared_ptr<ConnectionPool> primary,
                                                                  std::shared_ptr<ConnectionPool> replica,
                                                                  const std::vector<Option>& options) {
    return new_event_store_from_pool_and_replica(std::move(primary), std::move(replica), detail::combined(options));
}

std::unique_ptr<EventStore> new_event_store_from_pool(std::shared_ptr<ConnectionPool> primary,
                                                      const StoreOptions& options) {
    return new_event_store_from_pool_and_replica(std::move(primary), nullptr, options);
}

std::unique_ptr<EventStore> new_event_store_from_pool(std::shared_ptr<ConnectionPool> primary,
                                                      const std::vector<Option>& options) {
    return new_event_store_from_pool_and_replica(std::move(primary), nullptr, options);
}

} // namespace eventstore::postgres
