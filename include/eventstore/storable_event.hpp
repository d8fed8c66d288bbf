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
// Longest tag accepted, in bytes, for the same reason (the tag index).
inline constexpr std::size_t max_tag_length = 1024;

struct StorableEvent {
    std::string event_type;
    TimePoint occurred_at;
    std::string payload_json;           // a JSON object
    std::string metadata_json;          // a JSON object, "{}" when there is none
    SequenceNumber sequence_number = 0; // set on events a store returns; 0 before they are stored
    // DCB tags ("course:c1"): each non-empty UTF-8 without NUL, at most max_tag_length bytes. A store
    // keeps their order and drops repeats (the first of equal tags stays). None by default.
    std::vector<std::string> tags;
    // Optional idempotency id, a UUID in text form (any case, with hyphens: 8-4-4-4-12 hex digits);
    // "" = none. Unique across the store; a store returns it in lowercase. See EventStore::append.
    std::string id;

    friend bool operator==(const StorableEvent&, const StorableEvent&) = default;
};
using StorableEvents = std::vector<StorableEvent>;

// Validates and keeps the exact bytes and time given. Throws Error: invalid_event_type (empty, longer
// than max_event_type_length, or holding a NUL byte), invalid_payload_json, invalid_metadata_json.
// Tags and id are set on the returned event; append checks them (invalid_tag, invalid_event_id).
//
// Payload and metadata must each be one JSON object per RFC 8259, in UTF-8, that PostgreSQL 15 can
// store as jsonb and return again, so that a document accepted here is never refused after its
// upload. That is:
// - no \u0000 escape and no unpaired surrogate escape (jsonb cannot hold them);
// - numbers that PostgreSQL numeric holds: at most 131,072 digits before the decimal point and 16,383
//   after it;
// - at most 6,000 levels of nesting, the object itself being the first. PostgreSQL's own limit is its
//   stack (max_stack_depth): with the default 2 MB it takes more than 13,000 levels; a server
//   configured with much less stack may refuse a document accepted here (SQLSTATE 54001);
// - at most 16,777,216 elements in one array and 8,388,608 members in one object, duplicate keys
//   included (PostgreSQL cannot read more into memory);
// - at most 268,435,455 bytes (256 MiB - 1) each: the text; its binary jsonb form, whose limit this is
//   in PostgreSQL; and the text PostgreSQL returns for it, which a value like 1e131071 (131,072 digits)
//   makes far longer than the input. The binary size is counted from above (duplicate keys in full,
//   and 3 bytes of alignment for each number or nested value inside an object), so near the limit a
//   document may be refused although PostgreSQL would store it. A document of up to 32 MiB of text is
//   always small enough, unless its numbers have exponents that stand for many more digits than they
//   are written with.
// docs/json-documents.md has the measurements.
StorableEvent build_storable_event(std::string event_type, TimePoint occurred_at, std::string payload_json,
                                   std::string metadata_json);
StorableEvent build_storable_event_with_empty_metadata(std::string event_type, TimePoint occurred_at,
                                                       std::string payload_json);

} // namespace eventstore

#endif
