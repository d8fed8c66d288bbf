#include "core/json.hpp"

#include <cstddef>
#include <cstdint>

namespace eventstore::detail::json {

namespace {

constexpr int max_depth = 512;
// PostgreSQL numeric limits (numeric.c), which jsonb numbers must respect.
constexpr long long numeric_max_exponent = 1073741822; // larger exponents overflow while parsing
constexpr long long numeric_max_scale = 16383;         // NUMERIC_DSCALE_MAX
constexpr long long numeric_max_integer_digits = 131072;

// Length of the well-formed UTF-8 sequence starting at `pos` (RFC 3629: no overlong forms, no encoded
// surrogates, nothing above U+10FFFF), or 0 when the bytes there do not form one.
std::size_t utf8_sequence_length(std::string_view s, std::size_t pos) noexcept {
    const auto byte_at = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char lead = byte_at(pos);
    if (lead < 0x80U) {
        return 1;
    }
    std::size_t length = 0;
    unsigned char second_min = 0x80U;
    unsigned char second_max = 0xBFU;
    if (lead >= 0xC2U && lead <= 0xDFU) {
        length = 2;
    } else if (lead >= 0xE0U && lead <= 0xEFU) {
        length = 3;
        if (lead == 0xE0U) {
            second_min = 0xA0U; // below is an overlong form
        } else if (lead == 0xEDU) {
            second_max = 0x9FU; // above are the UTF-16 surrogates
        }
    } else if (lead >= 0xF0U && lead <= 0xF4U) {
        length = 4;
        if (lead == 0xF0U) {
            second_min = 0x90U; // below is an overlong form
        } else if (lead == 0xF4U) {
            second_max = 0x8FU; // above is beyond U+10FFFF
        }
    } else {
        return 0;
    }
    if (s.size() - pos < length) {
        return 0;
    }
    const unsigned char second = byte_at(pos + 1);
    if (second < second_min || second > second_max) {
        return 0;
    }
    for (std::size_t i = 2; i < length; ++i) {
        if ((byte_at(pos + i) & 0xC0U) != 0x80U) {
            return 0;
        }
    }
    return length;
}

void append_utf8(std::string& out, std::uint32_t code_point) {
    if (code_point < 0x80U) {
        out.push_back(static_cast<char>(code_point));
    } else if (code_point < 0x800U) {
        out.push_back(static_cast<char>(0xC0U | (code_point >> 6U)));
        out.push_back(static_cast<char>(0x80U | (code_point & 0x3FU)));
    } else if (code_point < 0x10000U) {
        out.push_back(static_cast<char>(0xE0U | (code_point >> 12U)));
        out.push_back(static_cast<char>(0x80U | ((code_point >> 6U) & 0x3FU)));
        out.push_back(static_cast<char>(0x80U | (code_point & 0x3FU)));
    } else {
        out.push_back(static_cast<char>(0xF0U | (code_point >> 18U)));
        out.push_back(static_cast<char>(0x80U | ((code_point >> 12U) & 0x3FU)));
        out.push_back(static_cast<char>(0x80U | ((code_point >> 6U) & 0x3FU)));
        out.push_back(static_cast<char>(0x80U | (code_point & 0x3FU)));
    }
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

class Checker {
public:
    Checker(std::string_view text, StringMembers* members) : m_text(text), m_members(members) {}

    std::string run() {
        skip_whitespace();
        if (at_end()) {
            return m_text.empty() ? "document is empty" : "document holds only whitespace";
        }
        if (peek() != '{') {
            return fail("top-level value is not an object");
        }
        if (!parse_object(1)) {
            return std::move(m_error);
        }
        skip_whitespace();
        if (!at_end()) {
            return fail("unexpected data after the object");
        }
        return {};
    }

private:
    std::string_view m_text;
    StringMembers* m_members;
    std::size_t m_pos = 0;
    std::string m_error;

    [[nodiscard]] bool at_end() const noexcept { return m_pos >= m_text.size(); }
    [[nodiscard]] char peek() const noexcept { return m_text[m_pos]; }

    [[nodiscard]] std::string fail(std::string_view what) const { return fail_at(what, m_pos); }

    static std::string fail_at(std::string_view what, std::size_t pos) {
        std::string text(what);
        text += " at byte ";
        text += std::to_string(pos);
        return text;
    }

    // Records the first problem; returns false so that callers can `return error(...)`.
    bool error(std::string_view what) { return error_at(what, m_pos); }
    bool error_at(std::string_view what, std::size_t pos) {
        m_error = fail_at(what, pos);
        return false;
    }
    bool end_or(std::string_view what) { return error(at_end() ? std::string_view("unexpected end of input") : what); }

    void skip_whitespace() noexcept {
        while (!at_end()) {
            const char c = peek();
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
                return;
            }
            ++m_pos;
        }
    }

    bool parse_value(int depth) {
        if (at_end()) {
            return error("unexpected end of input");
        }
        switch (peek()) {
        case '{':
            return parse_object(depth + 1);
        case '[':
            return parse_array(depth + 1);
        case '"':
            return parse_string(nullptr);
        case 't':
            return parse_literal("true");
        case 'f':
            return parse_literal("false");
        case 'n':
            return parse_literal("null");
        default:
            if (peek() == '-' || is_digit(peek())) {
                return parse_number();
            }
            return error("expected a value");
        }
    }

    bool parse_literal(std::string_view literal) {
        if (m_text.substr(m_pos, literal.size()) != literal) {
            return error("invalid literal");
        }
        m_pos += literal.size();
        return true;
    }

    bool parse_number() {
        if (peek() == '-') {
            ++m_pos;
        }
        if (at_end() || !is_digit(peek())) {
            return end_or("expected a digit");
        }
        const std::size_t int_start = m_pos;
        if (peek() == '0') {
            ++m_pos;
            if (!at_end() && is_digit(peek())) {
                return error("leading zero in number");
            }
        } else {
            skip_digits();
        }
        const std::string_view int_digits = m_text.substr(int_start, m_pos - int_start);
        std::string_view frac_digits;
        if (!at_end() && peek() == '.') {
            ++m_pos;
            if (at_end() || !is_digit(peek())) {
                return end_or("expected a digit after '.'");
            }
            const std::size_t frac_start = m_pos;
            skip_digits();
            frac_digits = m_text.substr(frac_start, m_pos - frac_start);
        }
        long long exponent = 0;
        if (!at_end() && (peek() == 'e' || peek() == 'E')) {
            ++m_pos;
            bool negative = false;
            if (!at_end() && (peek() == '+' || peek() == '-')) {
                negative = peek() == '-';
                ++m_pos;
            }
            if (at_end() || !is_digit(peek())) {
                return end_or("expected a digit in exponent");
            }
            const std::size_t exp_start = m_pos;
            skip_digits();
            const std::string_view exp_digits = m_text.substr(exp_start, m_pos - exp_start);
            for (char d : exp_digits) {
                exponent = exponent * 10 + (d - '0');
                if (exponent > numeric_max_exponent) {
                    return error_at("number exponent out of the range PostgreSQL can store", exp_start);
                }
            }
            exponent = negative ? -exponent : exponent;
        }
        return check_numeric_range(int_start, int_digits, frac_digits, exponent);
    }

    // jsonb keeps numbers as PostgreSQL numeric, which holds at most 131072 digits before the decimal
    // point and 16383 after it (numeric.c). Reject the rest here rather than fail inside an append.
    bool check_numeric_range(std::size_t start, std::string_view int_digits, std::string_view frac_digits,
                             long long exponent) {
        const long long scale = static_cast<long long>(frac_digits.size()) - exponent;
        if (scale > numeric_max_scale) {
            return error_at("number has more fraction digits than PostgreSQL can store", start);
        }
        long long leading = 0; // decimal position of the first significant digit
        if (int_digits != "0") {
            leading = static_cast<long long>(int_digits.size()) - 1 + exponent;
        } else {
            const auto first = frac_digits.find_first_not_of('0');
            if (first == std::string_view::npos) {
                return true; // zero
            }
            leading = -static_cast<long long>(first) - 1 + exponent;
        }
        if (leading >= numeric_max_integer_digits) {
            return error_at("number is larger than PostgreSQL can store", start);
        }
        return true;
    }

    void skip_digits() noexcept {
        while (!at_end() && is_digit(peek())) {
            ++m_pos;
        }
    }

    bool parse_object(int depth) {
        if (depth > max_depth) {
            return error("nesting deeper than 512 levels");
        }
        ++m_pos; // '{'
        skip_whitespace();
        if (!at_end() && peek() == '}') {
            ++m_pos;
            return true;
        }
        const bool collect = m_members != nullptr && depth == 1;
        std::string key;
        std::string value;
        while (true) {
            if (at_end() || peek() != '"') {
                return end_or("expected '\"' to start a member name");
            }
            key.clear();
            if (!parse_string(collect ? &key : nullptr)) {
                return false;
            }
            skip_whitespace();
            if (at_end() || peek() != ':') {
                return end_or("expected ':'");
            }
            ++m_pos;
            skip_whitespace();
            if (collect && !at_end() && peek() == '"') {
                value.clear();
                if (!parse_string(&value)) {
                    return false;
                }
                m_members->emplace_back(key, value);
            } else if (!parse_value(depth)) {
                return false;
            }
            skip_whitespace();
            if (at_end()) {
                return error("unexpected end of input");
            }
            if (peek() == '}') {
                ++m_pos;
                return true;
            }
            if (peek() != ',') {
                return error("expected ',' or '}'");
            }
            ++m_pos;
            skip_whitespace();
        }
    }

    bool parse_array(int depth) {
        if (depth > max_depth) {
            return error("nesting deeper than 512 levels");
        }
        ++m_pos; // '['
        skip_whitespace();
        if (!at_end() && peek() == ']') {
            ++m_pos;
            return true;
        }
        while (true) {
            if (!parse_value(depth)) {
                return false;
            }
            skip_whitespace();
            if (at_end()) {
                return error("unexpected end of input");
            }
            if (peek() == ']') {
                ++m_pos;
                return true;
            }
            if (peek() != ',') {
                return error("expected ',' or ']'");
            }
            ++m_pos;
            skip_whitespace();
        }
    }

    // Reads four hex digits at m_pos.
    bool read_hex4(std::uint32_t& value) {
        if (m_text.size() - m_pos < 4) {
            return error("truncated \\u escape");
        }
        value = 0;
        for (std::size_t i = 0; i < 4; ++i) {
            const char c = m_text[m_pos + i];
            std::uint32_t digit = 0;
            if (c >= '0' && c <= '9') {
                digit = static_cast<std::uint32_t>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                digit = static_cast<std::uint32_t>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                digit = static_cast<std::uint32_t>(c - 'A' + 10);
            } else {
                return error_at("invalid hex digit in \\u escape", m_pos + i);
            }
            value = (value << 4U) | digit;
        }
        m_pos += 4;
        return true;
    }

    // m_pos is just after "\u".
    bool parse_unicode_escape(std::string* decoded) {
        const std::size_t escape_start = m_pos - 2;
        std::uint32_t unit = 0;
        if (!read_hex4(unit)) {
            return false;
        }
        if (unit == 0) {
            return error_at("\\u0000 escape (PostgreSQL jsonb cannot store it)", escape_start);
        }
        if (unit >= 0xDC00U && unit <= 0xDFFFU) {
            return error_at("unpaired low surrogate escape", escape_start);
        }
        std::uint32_t code_point = unit;
        if (unit >= 0xD800U && unit <= 0xDBFFU) {
            if (m_text.size() - m_pos < 2 || m_text[m_pos] != '\\' || m_text[m_pos + 1] != 'u') {
                return error_at("unpaired high surrogate escape", escape_start);
            }
            m_pos += 2;
            std::uint32_t low = 0;
            if (!read_hex4(low)) {
                return false;
            }
            if (low < 0xDC00U || low > 0xDFFFU) {
                return error_at("unpaired high surrogate escape", escape_start);
            }
            code_point = 0x10000U + ((unit - 0xD800U) << 10U) + (low - 0xDC00U);
        }
        if (decoded != nullptr) {
            append_utf8(*decoded, code_point);
        }
        return true;
    }

    // m_pos is at the opening quote. Appends the decoded text to `decoded` when given.
    bool parse_string(std::string* decoded) {
        const std::size_t open = m_pos;
        ++m_pos;
        std::size_t run_start = m_pos;
        const auto flush = [&] {
            if (decoded != nullptr) {
                decoded->append(m_text.substr(run_start, m_pos - run_start));
            }
        };
        while (!at_end()) {
            const auto byte = static_cast<unsigned char>(peek());
            if (byte == '"') {
                flush();
                ++m_pos;
                return true;
            }
            if (byte == '\\') {
                flush();
                if (!parse_escape(decoded)) {
                    return false;
                }
                run_start = m_pos;
            } else if (byte < 0x20U) {
                return error("raw control character in string");
            } else if (byte < 0x80U) {
                ++m_pos;
            } else {
                const std::size_t length = utf8_sequence_length(m_text, m_pos);
                if (length == 0) {
                    return error("invalid UTF-8");
                }
                m_pos += length;
            }
        }
        return error_at("unterminated string", open);
    }

    // m_pos is at the backslash.
    bool parse_escape(std::string* decoded) {
        ++m_pos;
        if (at_end()) {
            return error("unexpected end of input");
        }
        char replacement = 0;
        switch (peek()) {
        case '"':
            replacement = '"';
            break;
        case '\\':
            replacement = '\\';
            break;
        case '/':
            replacement = '/';
            break;
        case 'b':
            replacement = '\b';
            break;
        case 'f':
            replacement = '\f';
            break;
        case 'n':
            replacement = '\n';
            break;
        case 'r':
            replacement = '\r';
            break;
        case 't':
            replacement = '\t';
            break;
        case 'u':
            ++m_pos;
            return parse_unicode_escape(decoded);
        default:
            return error_at("invalid escape", m_pos - 1);
        }
        ++m_pos;
        if (decoded != nullptr) {
            decoded->push_back(replacement);
        }
        return true;
    }
};

} // namespace

std::string check_object(std::string_view text, StringMembers* top_level_strings) {
    return Checker(text, top_level_strings).run();
}

void append_quoted(std::string& out, std::string_view s) {
    static constexpr std::string_view hex_digits = "0123456789abcdef";
    out.reserve(out.size() + s.size() + 2);
    out.push_back('"');
    std::size_t run_start = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto byte = static_cast<unsigned char>(s[i]);
        if (byte >= 0x20U && byte != '"' && byte != '\\') {
            continue;
        }
        out.append(s.substr(run_start, i - run_start));
        run_start = i + 1;
        switch (byte) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        default:
            out += "\\u00";
            out.push_back(hex_digits[byte >> 4U]);
            out.push_back(hex_digits[byte & 0x0FU]);
            break;
        }
    }
    out.append(s.substr(run_start));
    out.push_back('"');
}

bool is_valid_utf8(std::string_view s) noexcept {
    std::size_t pos = 0;
    while (pos < s.size()) {
        if (static_cast<unsigned char>(s[pos]) < 0x80U) {
            ++pos;
            continue;
        }
        const std::size_t length = utf8_sequence_length(s, pos);
        if (length == 0) {
            return false;
        }
        pos += length;
    }
    return true;
}

} // namespace eventstore::detail::json
