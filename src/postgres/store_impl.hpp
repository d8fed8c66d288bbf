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

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <eventstore/postgres/event_store.hpp>

#include "postgres/filter_sql.hpp"
#include "postgres/instruments.hpp"
#include "postgres/log_watcher.hpp"
#include "postgres/operation.hpp"
#include "postgres/replica_set.hpp"
#include "postgres/schema.hpp"
#include "postgres/session.hpp"

namespace eventstore::postgres {

class EventStore::Impl {
public:
    // Eventual reads go to the replicas, when there are any. Throws Error for bad table names.
    Impl(std::shared_ptr<detail::SessionSource> primary, std::string primary_name,
         std::vector<detail::ReplicaSet::Replica> replicas, const StoreOptions& options);

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

    // Eventual reads go to the replicas when there are any; everything else to the primary.
    [[nodiscard]] detail::Target read_target(const Context& ctx) const noexcept {
        return !m_replicas.empty() && ctx.consistency() == Consistency::eventual ? detail::Target::replica
                                                                                 : detail::Target::primary;
    }

    // Runs a read where `target` says, as docs/replicas.md describes for replicas: on the replicas in
    // rotation, the next one when one fails to connect (it leaves the rotation), after waiting for the
    // Context's minimum WAL position; on the primary when the position is not replayed in time, or when
    // no replica can serve and the store falls back. `read(session, on_replica)` runs it on a session;
    // `served(name)` learns which database answered. Throws DatabaseFailure.
    template <typename Read>
    std::invoke_result_t<Read&, detail::Session&, bool> read_on(detail::Target target, const Context& ctx,
                                                                const std::function<void(const std::string&)>& served,
                                                                Read&& read) {
        // Without replicas every read is the primary's, and the records and spans keep the Go library's
        // exact fields.
        const auto on_primary = [&] {
            auto result = detail::with_session(*m_primary, ctx, true,
                                               [&](detail::Session& session) { return read(session, false); });
            if (!m_replicas.empty()) {
                served(m_primary_name);
            }
            return result;
        };
        if (target == detail::Target::primary) {
            return on_primary();
        }
        if (ctx.min_wal_position() == std::numeric_limits<std::uint64_t>::max()) {
            count_replica_read(m_primary_name, "position_unknown");
            return on_primary();
        }
        for (const std::size_t i : m_replicas.rotation(detail::ReplicaSet::Clock::now())) {
            const detail::ReplicaSet::Replica& replica = m_replicas.at(i);
            try {
                if (!replayed(ctx, replica)) {
                    count_replica_read(replica.name, "behind");
                    return on_primary();
                }
                auto result = detail::with_session(*replica.source, ctx, true,
                                                   [&](detail::Session& session) { return read(session, true); });
                served(replica.name);
                count_replica_read(replica.name, "served");
                return result;
            } catch (const detail::DatabaseFailure& failure) {
                if (failure.kind() != detail::FailureKind::connection) {
                    throw; // the call's own: a cancellation, a deadline, a statement the server refused
                }
                replica_failed(ctx, i, failure);
            }
        }
        if (!m_replica_fallback) {
            throw no_replica();
        }
        count_replica_read(m_primary_name, "fallback");
        return on_primary();
    }

    // Replicas (replicas.cpp). Whether `replica` has replayed the Context's minimum WAL position,
    // waiting for it within the deadline and replica_max_wait.
    [[nodiscard]] bool replayed(const Context& ctx, const detail::ReplicaSet::Replica& replica) const;
    void replica_failed(const Context& ctx, std::size_t i, const detail::DatabaseFailure& failure);
    [[nodiscard]] detail::DatabaseFailure no_replica() const;
    // eventstore_replica_reads_total{database, outcome}.
    void count_replica_read(const std::string& database, std::string_view outcome) const noexcept;
    // After a successful append, in a store with replicas: the WAL position past its commit, or the
    // maximum when it cannot be read (AppendResult::wal_position).
    [[nodiscard]] static std::uint64_t wal_position_after_commit(detail::Session& session) noexcept;

    // The subscriptions' shared wake-up, started by the first subscribe (subscribe.cpp).
    detail::LogWatcher& watcher();

    std::shared_ptr<detail::SessionSource> m_primary;
    std::string m_primary_name;
    detail::ReplicaSet m_replicas;
    bool m_replica_fallback;
    std::chrono::milliseconds m_replica_max_wait;
    detail::Instruments m_instruments;
    detail::Schema m_schema;
    std::mutex m_watcher_mutex;
    std::unique_ptr<detail::LogWatcher> m_watcher; // last: its thread reads from the primary
};

namespace detail {

// The options given one at a time, as one value.
[[nodiscard]] StoreOptions combined(const std::vector<Option>& options);

// A store on these sources (the factories of the pool and of the adapters).
[[nodiscard]] inline std::unique_ptr<EventStore> make_store(std::shared_ptr<SessionSource> primary,
                                                            std::string primary_name,
                                                            std::vector<ReplicaSet::Replica> replicas,
                                                            const StoreOptions& options) {
    return std::make_unique<EventStore>(
        std::make_unique<EventStore::Impl>(std::move(primary), std::move(primary_name), std::move(replicas), options));
}

// Replicas without names of their own: "replica" when alone, else "replica-1", "replica-2", ...
[[nodiscard]] inline std::vector<ReplicaSet::Replica>
named_replicas(std::vector<std::shared_ptr<SessionSource>> sources) {
    std::vector<ReplicaSet::Replica> replicas;
    replicas.reserve(sources.size());
    for (std::size_t i = 0; i < sources.size(); ++i) {
        replicas.push_back(
            {std::move(sources[i]), sources.size() == 1 ? std::string("replica") : "replica-" + std::to_string(i + 1)});
    }
    return replicas;
}

} // namespace detail

} // namespace eventstore::postgres

#endif
