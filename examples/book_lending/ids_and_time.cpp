#include "ids_and_time.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <random>

namespace book_lending {

namespace {

std::mt19937_64& thread_random_engine() {
    // Seeded once per thread from the OS, so that threads never share or repeat a sequence.
    thread_local std::mt19937_64 engine = [] {
        std::random_device device;
        std::seed_seq seed{device(), device(), device(), device()};
        return std::mt19937_64(seed);
    }();
    return engine;
}

} // namespace

std::string new_id() {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    const auto unix_ms = static_cast<std::uint64_t>(
        duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());

    std::array<std::uint8_t, 16> bytes{};
    for (std::size_t i = 0; i < 6; ++i) {
        bytes[i] = static_cast<std::uint8_t>(unix_ms >> (8U * (5U - i)));
    }
    const std::uint64_t random_bits = thread_random_engine()();
    for (std::size_t i = 6; i < 14; ++i) {
        bytes[i] = static_cast<std::uint8_t>(random_bits >> (8U * (i - 6U)));
    }
    const std::uint64_t more_random_bits = thread_random_engine()();
    bytes[14] = static_cast<std::uint8_t>(more_random_bits);
    bytes[15] = static_cast<std::uint8_t>(more_random_bits >> 8U);
    bytes[6] = static_cast<std::uint8_t>((bytes[6] & 0x0FU) | 0x70U); // version 7
    bytes[8] = static_cast<std::uint8_t>((bytes[8] & 0x3FU) | 0x80U); // variant 10xx

    static constexpr std::array<char, 16> hex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                 '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
    std::string id;
    id.reserve(36);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            id += '-';
        }
        id += hex[bytes[i] >> 4U];
        id += hex[bytes[i] & 0x0FU];
    }
    return id;
}

eventstore::TimePoint now_in_microseconds() {
    return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::string to_rfc3339_utc(eventstore::TimePoint time) {
    using namespace std::chrono;
    const auto micros = time_point_cast<microseconds>(time);
    // floor, not truncation toward zero, so that instants before 1970 still get a positive fraction
    const auto whole_seconds = floor<seconds>(micros);
    const auto fraction = static_cast<long long>((micros - whole_seconds).count());

    const std::time_t seconds_since_epoch =
        system_clock::to_time_t(time_point_cast<system_clock::duration>(whole_seconds));
    std::tm utc{};
    gmtime_r(&seconds_since_epoch, &utc);
    std::array<char, 32> date_time{};
    const std::size_t length = std::strftime(date_time.data(), date_time.size(), "%Y-%m-%dT%H:%M:%S", &utc);

    std::string text(date_time.data(), length);
    if (fraction != 0) {
        std::string digits = std::to_string(fraction);
        digits.insert(0, 6 - digits.size(), '0');
        while (digits.back() == '0') {
            digits.pop_back();
        }
        text += '.';
        text += digits;
    }
    text += 'Z';
    return text;
}

} // namespace book_lending
