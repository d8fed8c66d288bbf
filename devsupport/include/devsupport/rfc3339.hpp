#ifndef EVENTSTORE_DEVSUPPORT_RFC3339_HPP
#define EVENTSTORE_DEVSUPPORT_RFC3339_HPP

// Times as the Go serialiser writes OccurredAt (time.RFC3339Nano in UTC), at the microsecond
// precision PostgreSQL keeps: "2025-06-01T12:00:00.12345Z", the fraction without trailing zeros and
// left out when zero ("1970-01-01T00:00:01Z"). Instants before 1970 are written correctly
// ("1969-12-31T23:59:59.5Z"), not with a negative fraction.

#include <chrono>
#include <cstdint>
#include <string>

namespace eventstore::devsupport {

[[nodiscard]] std::string rfc3339_utc(std::chrono::system_clock::time_point time);

// The same for microseconds since the Unix epoch.
[[nodiscard]] std::string rfc3339_utc(std::int64_t unix_us);

} // namespace eventstore::devsupport

#endif
