#ifndef EVENTSTORE_SRC_CORE_SHA256_HPP
#define EVENTSTORE_SRC_CORE_SHA256_HPP

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace eventstore::detail {

// FIPS 180-4 SHA-256, for filter hashes (no crypto library dependency for 100 lines).
[[nodiscard]] std::array<std::uint8_t, 32> sha256(std::string_view data) noexcept;
[[nodiscard]] std::string sha256_hex(std::string_view data);

} // namespace eventstore::detail

#endif
