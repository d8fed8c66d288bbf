#include "devsupport/uuid.hpp"

#include <array>
#include <chrono>
#include <string_view>

namespace eventstore::devsupport {

std::string uuid_v7(std::int64_t unix_ms, std::uint64_t rand_a, std::uint64_t rand_b) {
    std::array<std::uint8_t, 16> bytes{};
    const auto ms = static_cast<std::uint64_t>(unix_ms);
    for (std::size_t i = 0; i < 6; ++i) {
        bytes[i] = static_cast<std::uint8_t>(ms >> (8U * (5U - i)));
    }
    bytes[6] = static_cast<std::uint8_t>(0x70U | ((rand_a >> 8U) & 0x0FU)); // version 7
    bytes[7] = static_cast<std::uint8_t>(rand_a);
    for (std::size_t i = 8; i < 16; ++i) {
        bytes[i] = static_cast<std::uint8_t>(rand_b >> (8U * (15U - i)));
    }
    bytes[8] = static_cast<std::uint8_t>(0x80U | (bytes[8] & 0x3FU)); // RFC 9562 variant (10xx)

    static constexpr std::string_view hex = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out += '-';
        }
        out += hex[bytes[i] >> 4U];
        out += hex[bytes[i] & 0x0FU];
    }
    return out;
}

std::string uuid_v7(std::int64_t unix_ms, std::mt19937_64& rng) {
    const std::uint64_t rand_a = rng();
    const std::uint64_t rand_b = rng();
    return uuid_v7(unix_ms, rand_a, rand_b);
}

std::string new_uuid_v7() {
    thread_local std::mt19937_64 rng = [] {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device()};
        return std::mt19937_64(seed);
    }();
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return uuid_v7(std::chrono::duration_cast<std::chrono::milliseconds>(now).count(), rng);
}

} // namespace eventstore::devsupport
