#ifndef EVENTSTORE_STORABLE_EVENT_HPP
#define EVENTSTORE_STORABLE_EVENT_HPP

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace eventstore {

// The "version" of a dynamic event stream: the greatest sequence number among the events matching a
// filter. 0 means "no matching event".
using SequenceNumber = std::uint64_t;
// Stored with microsecond precision (sub-microsecond parts are truncated).
using TimePoint = std::chrono::system_clock::time_point;

// Longest event type accepted, in bytes. Longer names would not fit the event-type index entry.
inline constexpr std::size_t max_event_type_length = 1024;

struct StorableEvent {
    std::string event_type;
    TimePoint occurred_at;
    std::string payload_json;           // a JSON object
    std::string metadata_json;          // a JSON object, "{}" when there is none
    SequenceNumber sequence_number = 0; // set on events a store returns; 0 before they are stored

    friend bool operator==(const StorableEvent&, const StorableEvent&) = default;
};
using StorableEvents = std::vector<StorableEvent>;

// Validates and keeps the exact bytes and time given. Throws Error: invalid_event_type (empty, longer
// than max_event_type_length, or holding a NUL byte), invalid_payload_json, invalid_metadata_json
// (each must be one JSON object per RFC 8259, in UTF-8, and storable as PostgreSQL jsonb).
StorableEvent build_storable_event(std::string event_type, TimePoint occurred_at, std::string payload_json,
                                   std::string metadata_json);
StorableEvent build_storable_event_with_empty_metadata(std::string event_type, TimePoint occurred_at,
                                                       std::string payload_json);

} // namespace eventstore

#endif
