#include <string_view>
#include <utility>

#include <eventstore/error.hpp>
#include <eventstore/storable_event.hpp>

#include "core/event_check.hpp"
#include "core/json.hpp"

namespace eventstore {

namespace {

// Returns what is wrong with the event type, or "" when it is acceptable.
std::string event_type_problem(std::string_view event_type) {
    if (event_type.empty()) {
        return "event type is empty";
    }
    if (event_type.size() > max_event_type_length) {
        return "event type is " + std::to_string(event_type.size()) + " bytes long, more than the " +
               std::to_string(max_event_type_length) + " allowed";
    }
    // PostgreSQL text columns cannot hold NUL, and would reject invalid UTF-8 in a UTF8 database.
    if (event_type.find('\0') != std::string_view::npos) {
        return "event type contains a NUL byte";
    }
    if (!detail::json::is_valid_utf8(event_type)) {
        return "event type is not valid UTF-8";
    }
    return {};
}

} // namespace

void detail::check_event(const StorableEvent& event, std::string_view where, json::StringMembers* payload_strings) {
    if (std::string problem = event_type_problem(event.event_type); !problem.empty()) {
        throw Error(Errc::invalid_event_type, std::string(where) + problem);
    }
    if (std::string problem = json::check_object(event.payload_json, payload_strings); !problem.empty()) {
        throw Error(Errc::invalid_payload_json, std::string(where) + problem);
    }
    if (std::string problem = json::check_object(event.metadata_json); !problem.empty()) {
        throw Error(Errc::invalid_metadata_json, std::string(where) + problem);
    }
}

StorableEvent build_storable_event(std::string event_type, TimePoint occurred_at, std::string payload_json,
                                   std::string metadata_json) {
    StorableEvent event;
    event.event_type = std::move(event_type);
    event.occurred_at = occurred_at;
    event.payload_json = std::move(payload_json);
    event.metadata_json = std::move(metadata_json);
    detail::check_event(event, {});
    return event;
}

StorableEvent build_storable_event_with_empty_metadata(std::string event_type, TimePoint occurred_at,
                                                       std::string payload_json) {
    return build_storable_event(std::move(event_type), occurred_at, std::move(payload_json), "{}");
}

} // namespace eventstore
