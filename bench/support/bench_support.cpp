#include "bench_support.hpp"

#include <array>
#include <ctime>

namespace eventstore::bench_support {

std::string uuid_v7(std::int64_t unix_ms, std::mt19937_64& rng) {
    std::array<std::uint8_t, 16> b{};
    const auto ms = static_cast<std::uint64_t>(unix_ms);
    for (std::size_t i = 0; i < 6; ++i) {
        b[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
    }
    const std::uint64_t r1 = rng();
    const std::uint64_t r2 = rng();
    for (std::size_t i = 0; i < 2; ++i) {
        b[6 + i] = static_cast<std::uint8_t>(r1 >> (8 * i));
    }
    for (std::size_t i = 0; i < 8; ++i) {
        b[8 + i] = static_cast<std::uint8_t>(r2 >> (8 * i));
    }
    b[6] = static_cast<std::uint8_t>((b[6] & 0x0FU) | 0x70U); // version 7
    b[8] = static_cast<std::uint8_t>((b[8] & 0x3FU) | 0x80U); // RFC 9562 variant
    static constexpr std::string_view hex = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out += '-';
        }
        out += hex[b[i] >> 4U];
        out += hex[b[i] & 0x0FU];
    }
    return out;
}

std::string rfc3339_utc(std::int64_t unix_us) {
    // Floor division, so that instants before 1970 keep a fraction in [0, 1) s.
    const std::int64_t secs = unix_us >= 0 ? unix_us / 1'000'000 : (unix_us - 999'999) / 1'000'000;
    const auto micros = static_cast<int>(unix_us - secs * 1'000'000);
    const auto t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::array<char, 40> buf{};
    std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out = buf.data();
    if (micros != 0) {
        std::string frac = std::to_string(micros);
        frac.insert(0, 6 - frac.size(), '0');
        while (frac.back() == '0') {
            frac.pop_back();
        }
        out += '.';
        out += frac;
    }
    out += 'Z';
    return out;
}

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
    return out;
}

std::string quote_table(std::string_view table) {
    const auto dot = table.find('.');
    if (dot == std::string_view::npos) {
        return quote_identifier(table);
    }
    return quote_identifier(table.substr(0, dot)) + "." + quote_identifier(table.substr(dot + 1));
}

} // namespace eventstore::bench_support
