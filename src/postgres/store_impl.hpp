#ifndef EVENTSTORE_SRC_POSTGRES_STORE_IMPL_HPP
#define EVENTSTORE_SRC_POSTGRES_STORE_IMPL_HPP

// The engine behind postgres::EventStore, shared by the files that implement it, one concern each:
//   event_store.cpp  the public facade: forwarding, options, factories
//   migrate.cpp      migrate(): creating and upgrading the tables
//   reads.cpp        query, query_stream, and the read prologue they share
//   append.cpp       the conditional append and its lock protocol
//   subscribe.cpp    subscribe: catch-up then live, on reads from a position
//   import.cpp       import_events (the Importer)
//   snapshots.cpp    save, load and delete of snapshots
// Each operation talks to the database through the session seam (session.hpp) only.

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>

#include <eventstore/postgres/event_store.hpp>

#include "postgres/filter_sql.hpp"
#include "postgres/instruments.hpp"
#include "postgres/log_watcher.hpp"
#include "postgres/operation.hpp"
#include "postgres/schema.hpp"
#include "postgres/session.hpp"

namespace eventstore::postgres {

class EventStore::Impl {
public:
    // `replica` may be null: every call then goes to the primary. Throws Error for bad table names.
    Impl(std::shared_ptr<detail::SessionSource> primary, std::shared_ptr<detail::SessionSource> replica,
         const StoreOptions& options);

    QueryResult query(const Context& ctx, const Filter& filter, const ReadOptions& options);
    SequenceNumber query_stream(const Context& ctx, const Filter& filter, const ReadOptions& options,
                                const std::function<void(StorableEvent&&)>& on_event);
    AppendResult append(const Context& ctx, const Filter& filter, SequenceNumber expected,
                        std::span<const StorableEvent> events);
    SequenceNumber subscribe(const Context& ctx, const Filter& filter, SequenceNumber after,
                             const std::function<void(StorableEvent&&)>& on_event, const SubscribeOptions& options);
    void wait_until_processed(std::string_view name, SequenceNumber position, const Context& ctx);
    std::optional<SequenceNumber> checkpoint(const Context& ctx, std::string_view name);
    void import_events(const Context& ctx, std::span<const StorableEvent> events);
    void save_snapshot(const Context& ctx, const Snapshot& snapshot);
    std::optional<Snapshot> load_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter);
    void delete_snapshot(const Context& ctx, std::string_view projection_type, const Filter& filter);
    void migrate(const Context& ctx);

    [[nodiscard]] const detail::Schema& schema() const noexcept { return m_schema; }

private:
    // What every read starts with: its WHERE clause, and the statement that waits for the in-flight
    // writers of its keys (the gap-free barrier, docs/design/gap-free-reads.md).
    struct Read {
        detail::FilterClause clause;
        detail::Statement barrier;
    };
    [[nodiscard]] static Read prepare_read(const Filter& filter, int first_param);
    void build_late_indexes(const Context& ctx, detail::Session& session) const;
    // migrate()'s work, reported by its caller's Operation; throws DatabaseFailure.
    void migrate_on(const Context& ctx, const std::vector<detail::Statement>& check);
    // A subscription with a name (subscribe.cpp).
    SequenceNumber subscribe_durably(const Context& ctx, const Filter& filter, SequenceNumber after,
                                     const std::function<void(StorableEvent&&)>& on_event,
                                     const SubscribeOptions& options);

    // Eventual reads go to the replica when there is one; everything else to the primary. There is no
    // fallback: a failing replica fails the call, and the caller decides whether to ask the primary.
    [[nodiscard]] detail::Target read_target(const Context& ctx) const noexcept {
        return m_replica && ctx.consistency() == Consistency::eventual ? detail::Target::replica
                                                                       : detail::Target::primary;
    }
    [[nodiscard]] detail::SessionSource& source(detail::Target target) const noexcept {
        return target == detail::Target::replica ? *m_replica : *m_primary;
    }

    // The subscriptions' shared wake-up, started by the first subscribe (subscribe.cpp).
    detail::LogWatcher& watcher();

    std::shared_ptr<detail::SessionSource> m_primary;
    std::shared_ptr<detail::SessionSource> m_replica; // may be null
    detail::Instruments m_instruments;
    detail::Schema m_schema;
    std::mutex m_watcher_mutex;
    std::unique_ptr<detail::LogWatcher> m_watcher; // last: its thread reads from the primary
};

} // namespace eventstore::postgres

#endif
