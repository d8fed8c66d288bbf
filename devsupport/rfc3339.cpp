#include "devsupport/rfc3339.hpp"

#include <array>
#include <ctime>

namespace eventstore::devsupport {

std::string rfc3339_utc(std::int64_t unix_us) {
    // Floor division, so that an instant before 1970 has a fraction in [0, 1) s like any other.
    const std::int64_t seconds = unix_us >= 0 ? unix_us / 1'000'000 : (unix_us - 999'999) / 1'000'000;
    const std::int64_t micros = unix_us - seconds * 1'000'000;
    const auto t = static_cast<std::time_t>(seconds);
    std::tm utc{};
    gmtime_r(&t, &utc);
    std::array<char, 40> date_time{};
    const std::size_t length = std::strftime(date_time.data(), date_time.size(), "%Y-%m-%dT%H:%M:%S", &utc);
    std::string out(date_time.data(), length);
    if (micros != 0) {
        std::string digits = std::to_string(micros);
        digits.insert(0, 6 - digits.size(), '0');
        while (digits.back() == '0') {
            digits.pop_back();
        }
        out += '.';
        out += digits;
    }
    out += 'Z';
    return out;
}

std::string rfc3339_utc(std::chrono::system_clock::time_point time) {
    return rfc3339_utc(std::chrono::floor<std::chrono::microseconds>(time.time_since_epoch()).count());
}

} // namespace eventstore::devsupport
