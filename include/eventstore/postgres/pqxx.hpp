#ifndef EVENTSTORE_POSTGRES_PQXX_HPP
#define EVENTSTORE_POSTGRES_PQXX_HPP

// The store over libpqxx 6.4 (target eventstore::pqxx): for an application that already holds a
// pqxx::connection or works inside a pqxx transaction. docs/adapters.md.

#include <memory>
#include <vector>

#include <eventstore/postgres/event_store.hpp>
#include <eventstore/postgres/store_options.hpp>

namespace pqxx {
class connection_base;
class transaction_base;
} // namespace pqxx

namespace eventstore::postgres {

// Calls run on this connection one at a time (a libpqxx connection is not thread-safe; the store
// serialises its own calls, and the application must not use the connection while one runs), each in
// a transaction of its own that keeps nothing on the connection afterwards. While the application
// has a transaction object open on the connection, calls fail (make a store over that transaction
// instead). libpqxx 6.4 offers one statement per round trip and text results: a call costs one round
// trip per statement. A lazy or disconnected connection is opened by libpqxx when a call first needs
// it. Keep the connection alive until the store is destroyed.
std::unique_ptr<EventStore> new_event_store_from_pqxx(pqxx::connection_base& connection, const StoreOptions& options);
std::unique_ptr<EventStore> new_event_store_from_pqxx(pqxx::connection_base& connection,
                                                      const std::vector<Option>& options = {});

// Calls run inside the application's transaction (a pqxx::work, READ COMMITTED as pqxx::work is):
// their writes commit or abort with the application's, and the append's guarantee holds until then.
// The rules of docs/adapters.md, "Calls inside your transaction", apply: no import_events, migrate or
// subscribe; abort after any error but a ConcurrencyConflict; keep the transaction short. The calls
// set DateStyle to ISO for the rest of the transaction (the store reads times as text). Keep the
// transaction alive until the store is destroyed.
std::unique_ptr<EventStore> new_event_store_from_pqxx(pqxx::transaction_base& transaction, const StoreOptions& options);
std::unique_ptr<EventStore> new_event_store_from_pqxx(pqxx::transaction_base& transaction,
                                                      const std::vector<Option>& options = {});

// Eventual reads (Consistency::eventual) go to the replica's connection; everything else to the
// primary's. A null replica sends every call to the primary.
std::unique_ptr<EventStore> new_event_store_from_pqxx_and_replica(pqxx::connection_base& primary,
                                                                  pqxx::connection_base* replica,
                                                                  const StoreOptions& options);
std::unique_ptr<EventStore> new_event_store_from_pqxx_and_replica(pqxx::connection_base& primary,
                                                                  pqxx::connection_base* replica,
                                                                  const std::vector<Option>& options = {});

// Several replicas, each one libpqxx connection (docs/replicas.md; named replica-1, replica-2, ... in
// logs and metrics). A null connection throws Error(Errc::nil_database_connection).
std::unique_ptr<EventStore> new_event_store_from_pqxx_and_replicas(pqxx::connection_base& primary,
                                                                   const std::vector<pqxx::connection_base*>& replicas,
                                                                   const StoreOptions& options);
std::unique_ptr<EventStore> new_event_store_from_pqxx_and_replicas(pqxx::connection_base& primary,
                                                                   const std::vector<pqxx::connection_base*>& replicas,
                                                                   const std::vector<Option>& options = {});

} // namespace eventstore::postgres

#endif
