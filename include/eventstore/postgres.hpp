#ifndef EVENTSTORE_POSTGRES_HPP
#define EVENTSTORE_POSTGRES_HPP

// The PostgreSQL engine on libpq. No libpq type appears in these headers.
#include <eventstore/eventstore.hpp>
#include <eventstore/postgres/connection_pool.hpp>
#include <eventstore/postgres/event_store.hpp>

#endif
