#ifndef EVENTSTORE_BENCH_SUPPORT_BENCH_SUPPORT_HPP
#define EVENTSTORE_BENCH_SUPPORT_BENCH_SUPPORT_HPP

// Helpers shared by the benchmark (bench/) and the fixture tools (tools/): what both need to write
// events in the shape of spec §7 and to name the store's table in SQL of their own.

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace eventstore::bench_support {

// A UUIDv7 (RFC 9562): the Unix millisecond, then 74 random bits from `rng`.
[[nodiscard]] std::string uuid_v7(std::int64_t unix_ms, std::mt19937_64& rng);

// RFC 3339 in UTC, the fraction trimmed of trailing zeros: Go's time.RFC3339Nano at microsecond
// precision (how the Go serialiser writes OccurredAt).
[[nodiscard]] std::string rfc3339_utc(std::int64_t unix_us);

// An SQL identifier in double quotes.
[[nodiscard]] std::string quote_identifier(std::string_view name);

// "schema.table" or "table", each part quoted, split at the first dot (the library's rule for
// with_table_name).
[[nodiscard]] std::string quote_table(std::string_view table);

} // namespace eventstore::bench_support

#endif
