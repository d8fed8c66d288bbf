#ifndef EVENTSTORE_TOOLS_EVENTSTORE_NDJSON_HPP
#define EVENTSTORE_TOOLS_EVENTSTORE_NDJSON_HPP

// The program's event lines (docs/cli.md): one JSON object per line,
//
//   {"position":12,"type":"BookCopyLentToReader","tags":["book:b1"],"occurred_at":"2026-11-29T21:15:12.123456Z",
//    "payload":{...},"metadata":{...},"id":"..."}
//
// Written with every member but an empty id; read with only "type" and "payload" required ("tags",
// "metadata", "id" and "occurred_at" optional, "occurred_at" defaulting to now, "position" ignored).
// Payload and metadata keep their exact text: a number is never rounded through a double.

#include <stdexcept>
#include <string>
#include <string_view>

#include <eventstore/storable_event.hpp>

namespace eventstore::cli {

// A line that is not an event: what is wrong with it, for "line N: ...".
class BadLine : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The line for a stored event (no trailing newline).
[[nodiscard]] std::string event_line(const StorableEvent& event);

// The event on `line`; `now` for a line without "occurred_at". Throws BadLine.
[[nodiscard]] StorableEvent parse_event_line(std::string_view line, TimePoint now);

// RFC 3339 in UTC with microseconds, as the lines carry times: "2026-11-29T21:15:12.123456Z".
[[nodiscard]] std::string format_time(TimePoint time);
// RFC 3339 with a "Z" or numeric offset, a fraction of up to 9 digits (kept to the microsecond):
// "2026-11-29T21:15:12Z", "2026-11-29T22:15:12.5+01:00". Throws BadLine.
[[nodiscard]] TimePoint parse_time(std::string_view text);

} // namespace eventstore::cli

#endif
