#ifndef EVENTSTORE_EVENTSTORE_HPP
#define EVENTSTORE_EVENTSTORE_HPP

// The engine-agnostic core: events, filters, snapshots, context, errors, the store interface and the
// observability hooks.
#include <eventstore/context.hpp>
#include <eventstore/error.hpp>
#include <eventstore/event_store.hpp>
#include <eventstore/filter.hpp>
#include <eventstore/observability.hpp>
#include <eventstore/snapshot.hpp>
#include <eventstore/storable_event.hpp>

#endif
