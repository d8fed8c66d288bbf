#ifndef BOOK_LENDING_IDS_AND_TIME_HPP
#define BOOK_LENDING_IDS_AND_TIME_HPP

#include <string>

#include <eventstore/storable_event.hpp>

namespace book_lending {

// A fresh UUIDv7 string (RFC 9562: 48-bit Unix milliseconds, then random bits), like the IDs of the
// Go fixtures. Time-ordered IDs keep index inserts local; the random part makes runs independent.
// Thread-safe (one generator per thread).
[[nodiscard]] std::string new_id();

// Now, truncated to whole microseconds: the precision the store keeps, so the time inside the payload
// and the event's occurred_at column are the same instant.
[[nodiscard]] eventstore::TimePoint now_in_microseconds();

// RFC 3339 in UTC with the fraction trimmed of trailing zeros, as Go's time.RFC3339Nano prints it:
// "2025-06-01T12:00:00.123456Z", "1970-01-01T00:00:01Z".
[[nodiscard]] std::string to_rfc3339_utc(eventstore::TimePoint time);

} // namespace book_lending

#endif
