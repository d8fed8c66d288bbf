#ifndef EVENTSTORE_POSTGRES_SOCI_HPP
#define EVENTSTORE_POSTGRES_SOCI_HPP

// The store over SOCI 4.0's PostgreSQL backend (target eventstore::soci): for an application that
// already holds a soci::connection_pool or a soci::session. docs/adapters.md.

#include <memory>
#include <vector>

#include <eventstore/postgres/event_store.hpp>
#include <eventstore/postgres/store_options.hpp>

namespace soci {
class connection_pool;
class session;
} // namespace soci

namespace eventstore::postgres {

// Calls borrow one session of the pool each (SOCI's pool is thread-safe, and so is the store), run
// on its PostgreSQL connection and give it back. Every session of the pool must have been opened
// with the PostgreSQL backend. The store keeps no state on the server between calls (no prepared
// statements, no session settings), so the application can use the same sessions for its own work.
// A session whose connection was lost is reconnected (session::reconnect()) when next borrowed.
// The store does not own the pool: keep it alive until the store is destroyed. Waiting for a free
// session is bounded by the call's Context and by 30 s (Errc::pool_exhausted).
std::unique_ptr<EventStore> new_event_store_from_soci(soci::connection_pool& pool, const StoreOptions& options);
std::unique_ptr<EventStore> new_event_store_from_soci(soci::connection_pool& pool,
                                                      const std::vector<Option>& options = {});

// Calls run on this one session, one at a time. When the session is inside a transaction of the
// application's (a soci::transaction), query, append and the snapshot calls join it: their writes
// commit or roll back with the application's, and the append's guarantee holds until then (its
// locks are held to the end of that transaction). The transaction must be READ COMMITTED (the
// default); import_events, migrate and subscribe manage transactions of their own and refuse to run
// inside one. An error inside the application's transaction (a cancelled call too, but not a
// ConcurrencyConflict) aborts it: roll it back. A session that is not connected throws
// Error(Errc::nil_database_connection); a lost connection is not reconnected behind the
// application's back. Keep the session alive until the store is destroyed, and do not use it from
// another thread while a call runs.
std::unique_ptr<EventStore> new_event_store_from_soci(soci::session& session, const StoreOptions& options);
std::unique_ptr<EventStore> new_event_store_from_soci(soci::session& session, const std::vector<Option>& options = {});

// Eventual reads (Consistency::eventual) go to the replica's pool; everything else to the primary's.
// A null replica sends every call to the primary.
std::unique_ptr<EventStore> new_event_store_from_soci_and_replica(soci::connection_pool& primary,
                                                                  soci::connection_pool* replica,
                                                                  const StoreOptions& options);
std::unique_ptr<EventStore> new_event_store_from_soci_and_replica(soci::connection_pool& primary,
                                                                  soci::connection_pool* replica,
                                                                  const std::vector<Option>& options = {});

// Several replicas, each a SOCI pool (docs/replicas.md; the replicas are named replica-1, replica-2, ...
// in logs and metrics). A null pool throws Error(Errc::nil_database_connection).
std::unique_ptr<EventStore> new_event_store_from_soci_and_replicas(soci::connection_pool& primary,
                                                                   const std::vector<soci::connection_pool*>& replicas,
                                                                   const StoreOptions& options);
std::unique_ptr<EventStore> new_event_store_from_soci_and_replicas(soci::connection_pool& primary,
                                                                   const std::vector<soci::connection_pool*>& replicas,
                                                                   const std::vector<Option>& options = {});

} // namespace eventstore::postgres

#endif
