#ifndef EVENTSTORE_DEVSUPPORT_UUID_HPP
#define EVENTSTORE_DEVSUPPORT_UUID_HPP

// UUIDv7 strings (RFC 9562), the shape of the ids in the Go library's fixtures: 48 bits of Unix
// milliseconds first, so that ids made in time order are stored near each other in an index.

#include <cstdint>
#include <random>
#include <string>

namespace eventstore::devsupport {

// The UUIDv7 of `unix_ms` whose 12-bit and 62-bit random fields are the low bits of `rand_a` and
// `rand_b`; the rest of the arguments is ignored. Lowercase, "xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx".
// Fixed arguments give fixed ids: uuid_v7(t, 0, n) differs for every n below 2^62.
[[nodiscard]] std::string uuid_v7(std::int64_t unix_ms, std::uint64_t rand_a, std::uint64_t rand_b);

// The random fields drawn from `rng` (deterministic for a seeded generator).
[[nodiscard]] std::string uuid_v7(std::int64_t unix_ms, std::mt19937_64& rng);

// A fresh UUIDv7 of the current time, from a generator per thread seeded by the operating system, so
// that threads and runs never share a sequence. Thread-safe.
[[nodiscard]] std::string new_uuid_v7();

} // namespace eventstore::devsupport

#endif
