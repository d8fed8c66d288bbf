#ifndef EVENTSTORE_SRC_CORE_EVENT_CHECK_HPP
#define EVENTSTORE_SRC_CORE_EVENT_CHECK_HPP

#include <string_view>

#include <eventstore/storable_event.hpp>

#include "core/json.hpp"

namespace eventstore::detail {

// What build_storable_event checks, for events that did not come through it: throws
// Error(invalid_event_type, invalid_payload_json or invalid_metadata_json) for the first problem,
// its detail prefixed with `where` ("event 7: "). When `payload_strings` is given, it receives the
// payload's top-level string members (json::check_object).
void check_event(const StorableEvent& event, std::string_view where, json::StringMembers* payload_strings = nullptr);

} // namespace eventstore::detail

#endif
