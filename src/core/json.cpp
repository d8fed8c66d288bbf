#include "core/json.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace eventstore::detail::json {

namespace {

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

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr std::uint64_t utf8_length(std::uint32_t code_point) noexcept {
    return code_point < 0x80U ? 1 : code_point < 0x800U ? 2 : code_point < 0x10000U ? 3 : 4;
}

// Length of a character in PostgreSQL's text for a jsonb string (escape_json): quotes, backslashes
// and the control characters with a short escape take two bytes, the other control characters six
// (\u00XX), every other character its UTF-8 bytes.
constexpr std::uint64_t escaped_length(std::uint32_t code_point) noexcept {
    switch (code_point) {
    case '"':
    case '\\':
    case '\b':
    case '\f':
    case '\n':
    case '\r':
    case '\t':
        return 2;
    default:
        return code_point < 0x20U ? 6 : utf8_length(code_point);
    }
}

constexpr long long floor_div4(long long n) noexcept { return n >= 0 ? n / 4 : -((-n + 3) / 4); }

// The reader keeps its open containers on a stack of its own rather than recursing, so that no
// nesting can overflow the caller's stack, whatever its size (threads, sanitizers).
//
// On the way it adds up two sizes of the document as PostgreSQL 15 stores and returns it (jsonb.h,
// jsonb_util.c, jsonb.c, numeric.c):
// - The binary jsonb form: an object or array is a 4-byte header, a 4-byte entry per element (two per
//   member: key and value), then the elements' data: a string's decoded bytes; a number's numeric datum
//   (a 4-byte length, a 2-byte header or a 4-byte one when the scale or the weight is large, 2 bytes
//   per base-10000 digit); nothing for true, false and null; a nested container's own size. Numbers
//   and nested containers are first aligned to 4 bytes (the top-level object's data is aligned). An
//   array keeps its elements' order, so their alignment is computed; an object's members are sorted
//   by key, and duplicates dropped, before they are written, so inside objects duplicates count in
//   full and 3 bytes of alignment count per number or container: an upper bound.
// - The text jsonb_out makes of it: `{"k": v, "l": [w, x]}`, with ": " and ", " as separators,
//   strings escaped as escaped_length() says, and numbers in plain notation with all their digits.
class Checker {
public:
    Checker(std::string_view text, StringMembers* members, const Limits& limits)
        : m_text(text), m_members(members), m_limits(limits) {}

    std::string run(DocumentStats* stats) {
        if (m_text.size() > m_limits.document_size) {
            return fail_at("document is longer than " + std::to_string(m_limits.document_size) + " bytes",
                           static_cast<std::size_t>(m_limits.document_size));
        }
        skip_whitespace();
        if (at_end()) {
            return m_text.empty() ? "document is empty" : "document holds only whitespace";
        }
        if (peek() != '{') {
            return fail("top-level value is not an object");
        }
        if (!parse_document()) {
            return std::move(m_error);
        }
        skip_whitespace();
        if (!at_end()) {
            return fail("unexpected data after the object");
        }
        if (stats != nullptr) {
            stats->depth = m_max_depth;
            stats->jsonb_size = m_binary;
            stats->jsonb_text_size = m_output;
        }
        return {};
    }

private:
    // Frame::data_mod4 when the alignment is not known.
    static constexpr std::uint8_t unknown_alignment = 4;

    struct Frame {
        char close; // '}' or ']'
        // Arrays: the size of the data written so far, modulo 4, where the next element starts
        // relative to an aligned address. Objects: always unknown_alignment.
        std::uint8_t data_mod4;
        std::uint32_t elements; // so far
    };

    std::string_view m_text;
    StringMembers* m_members;
    Limits m_limits;
    std::size_t m_pos = 0;
    std::string m_error;
    std::vector<Frame> m_open; // the containers open at m_pos, innermost last
    std::size_t m_max_depth = 0;
    std::uint64_t m_binary = 0; // the binary jsonb size so far (from above)
    std::uint64_t m_output = 0; // the length of PostgreSQL's text so far
    // The last string read: its decoded length, and its length in PostgreSQL's text.
    std::uint64_t m_string_binary = 0;
    std::uint64_t m_string_output = 0;
    // The current top-level member's name and string value, when collecting them.
    std::string m_key;
    std::string m_value;

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
        const char* const begin = m_text.data();
        const char* const end = begin + m_text.size();
        const char* p = begin + m_pos;
        while (p != end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
            ++p;
        }
        m_pos = static_cast<std::size_t>(p - begin);
    }

    // The top-level object, from its '{' at m_pos.
    bool parse_document() {
        if (!open_container()) {
            return false;
        }
        bool just_opened = true;
        while (true) {
            skip_whitespace();
            // An element, unless this is the close of an empty container.
            if (!just_opened || at_end() || peek() != m_open.back().close) {
                bool opened = false;
                if (!parse_element(opened)) {
                    return false;
                }
                if (opened) {
                    just_opened = true;
                    continue;
                }
            }
            // After a value: close what ends here, up to the next element or the end of the document.
            just_opened = false;
            while (true) {
                if (!within_size_limits()) {
                    return false;
                }
                skip_whitespace();
                if (at_end()) {
                    return error("unexpected end of input");
                }
                const char close = m_open.back().close;
                if (peek() == close) {
                    ++m_pos;
                    close_container();
                    if (m_open.empty()) {
                        return within_size_limits();
                    }
                    continue;
                }
                if (peek() == ',') {
                    ++m_pos;
                    m_output += 2; // ", "
                    break;
                }
                return error(close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
            }
        }
    }

    bool within_size_limits() {
        if (m_binary > m_limits.document_size) {
            return error("document would take more than " + std::to_string(m_limits.document_size) +
                         " bytes as PostgreSQL jsonb");
        }
        if (m_output > m_limits.document_size) {
            return error("document would be longer than " + std::to_string(m_limits.document_size) +
                         " bytes as the text PostgreSQL returns for it");
        }
        return true;
    }

    // One member of the innermost object, or one element of the innermost array, from m_pos (after
    // any whitespace). A value that opens a container is only opened (`opened` is set).
    bool parse_element(bool& opened) {
        Frame& frame = m_open.back();
        const bool in_object = frame.close == '}';
        if (in_object && frame.elements == m_limits.object_members) {
            return error("object of more than " + std::to_string(m_limits.object_members) +
                         " members (PostgreSQL jsonb reads at most that many)");
        }
        if (!in_object && frame.elements == m_limits.array_elements) {
            return error("array of more than " + std::to_string(m_limits.array_elements) +
                         " elements (PostgreSQL jsonb reads at most that many)");
        }
        ++frame.elements;
        const bool collect = in_object && m_members != nullptr && m_open.size() == 1;
        if (in_object) {
            if (at_end() || peek() != '"') {
                return end_or("expected '\"' to start a member name");
            }
            m_key.clear();
            if (!parse_string(collect ? &m_key : nullptr)) {
                return false;
            }
            m_binary += 8 + m_string_binary; // the key's and the value's entries, the key's bytes
            m_output += m_string_output + 2; // the key and ": "
            skip_whitespace();
            if (at_end() || peek() != ':') {
                return end_or("expected ':'");
            }
            ++m_pos;
            skip_whitespace();
        } else {
            m_binary += 4; // the element's entry
        }
        if (at_end()) {
            return error("unexpected end of input");
        }
        switch (peek()) {
        case '{':
        case '[':
            opened = true;
            return open_container();
        case '"': {
            std::string* decoded = nullptr;
            if (collect) {
                m_value.clear();
                decoded = &m_value;
            }
            if (!parse_string(decoded)) {
                return false;
            }
            add_unaligned(m_string_binary);
            m_output += m_string_output;
            if (collect) {
                m_members->emplace_back(m_key, m_value);
            }
            return true;
        }
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

    // Bytes of a string in the innermost container: no alignment.
    void add_unaligned(std::uint64_t size) {
        m_binary += size;
        Frame& frame = m_open.back();
        if (frame.data_mod4 != unknown_alignment) {
            frame.data_mod4 = static_cast<std::uint8_t>((frame.data_mod4 + size) % 4);
        }
    }

    // The alignment padding before a number or container in the innermost container (3, the most,
    // when unknown).
    [[nodiscard]] std::uint64_t padding() const {
        const std::uint8_t offset = m_open.back().data_mod4;
        return offset == unknown_alignment ? 3 : (4U - offset) % 4U;
    }

    // After a number or container of `size_mod4` (its size modulo 4, or unknown_alignment), which
    // started aligned.
    void end_aligned(std::uint8_t size_mod4) {
        Frame& frame = m_open.back();
        frame.data_mod4 = frame.close == ']' ? size_mod4 : unknown_alignment;
    }

    // m_pos at '{' or '['.
    bool open_container() {
        if (m_open.size() >= m_limits.depth) {
            return error("nesting deeper than " + std::to_string(m_limits.depth) + " levels");
        }
        const char open = peek();
        ++m_pos;
        if (!m_open.empty()) {
            m_binary += padding();
        }
        m_binary += 4; // the header
        m_output += 2; // the brackets
        m_open.push_back(Frame{open == '{' ? '}' : ']', open == '{' ? unknown_alignment : std::uint8_t{0}, 0});
        m_max_depth = std::max(m_max_depth, m_open.size());
        return true;
    }

    // After the closing bracket of the innermost container.
    void close_container() {
        const Frame closed = m_open.back();
        m_open.pop_back();
        if (m_open.empty()) {
            return;
        }
        // Header and entries are whole multiples of 4 bytes: an array's size modulo 4 is its data's;
        // an object's is unknown but when it is empty.
        const bool is_array = closed.close == ']';
        end_aligned(is_array ? closed.data_mod4 : closed.elements == 0 ? std::uint8_t{0} : unknown_alignment);
    }

    bool parse_literal(std::string_view literal) {
        if (m_text.substr(m_pos, literal.size()) != literal) {
            return error("invalid literal");
        }
        m_pos += literal.size();
        m_output += literal.size(); // no data in the binary form: the entry says it all
        return true;
    }

    bool parse_number() {
        const bool negative = peek() == '-';
        if (negative) {
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
            bool negative_exponent = false;
            if (!at_end() && (peek() == '+' || peek() == '-')) {
                negative_exponent = peek() == '-';
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
            exponent = negative_exponent ? -exponent : exponent;
        }
        return add_number(int_start, negative, int_digits, frac_digits, exponent);
    }

    // jsonb keeps numbers as PostgreSQL numeric, which holds at most 131072 digits before the decimal
    // point and 16383 after it. Rejects the rest here rather than fail inside an append; adds the
    // number's sizes.
    bool add_number(std::size_t start, bool negative, std::string_view int_digits, std::string_view frac_digits,
                    long long exponent) {
        const long long scale = static_cast<long long>(frac_digits.size()) - exponent;
        if (scale > numeric_max_scale) {
            return error_at("number has more fraction digits than PostgreSQL can store", start);
        }
        const long long display_scale = std::max(scale, 0LL);
        // Decimal positions (powers of ten) of the first and last significant digits.
        long long first = 0;
        long long last = 0;
        bool zero = false;
        if (int_digits != "0") {
            first = static_cast<long long>(int_digits.size()) - 1 + exponent;
        } else if (const auto f = frac_digits.find_first_not_of('0'); f != std::string_view::npos) {
            first = -static_cast<long long>(f) - 1 + exponent;
        } else {
            zero = true;
        }
        if (!zero && first >= numeric_max_integer_digits) {
            return error_at("number is larger than PostgreSQL can store", start);
        }
        long long weight = 0; // in base-10000 digits, as numeric stores it
        long long digits = 0;
        if (!zero) {
            if (const auto l = frac_digits.find_last_not_of('0'); l != std::string_view::npos) {
                last = -static_cast<long long>(l) - 1 + exponent;
            } else {
                const auto l_int = int_digits.find_last_not_of('0');
                last = static_cast<long long>(int_digits.size() - 1 - l_int) + exponent;
            }
            weight = floor_div4(first);
            digits = weight - floor_div4(last) + 1;
        }
        const bool short_header = display_scale <= 63 && weight >= -64 && weight <= 63;
        const auto size = static_cast<std::uint64_t>((short_header ? 6 : 8) + 2 * digits);
        m_binary += padding() + size;
        end_aligned(static_cast<std::uint8_t>(size % 4));
        // numeric_out: the sign of a non-zero number, the integer digits (at least "0"), and the
        // display scale's fraction digits.
        const long long integer_digits = zero || first < 0 ? 1 : first + 1;
        m_output += static_cast<std::uint64_t>((negative && !zero ? 1 : 0) + integer_digits +
                                               (display_scale > 0 ? display_scale + 1 : 0));
        return true;
    }

    void skip_digits() noexcept {
        while (!at_end() && is_digit(peek())) {
            ++m_pos;
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
    bool parse_unicode_escape(std::uint32_t& code_point) {
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
        code_point = unit;
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
        return true;
    }

    // m_pos is at the opening quote. Appends the decoded text to `decoded` when given; sets
    // m_string_binary and m_string_output.
    bool parse_string(std::string* decoded) {
        const std::size_t open = m_pos;
        ++m_pos;
        std::uint64_t binary = 0;
        std::uint64_t output = 2; // the quotes
        std::size_t run_start = m_pos;
        // A run of characters PostgreSQL returns as they are.
        const auto flush = [&] {
            const std::size_t run = m_pos - run_start;
            binary += run;
            output += run;
            if (decoded != nullptr) {
                decoded->append(m_text.substr(run_start, run));
            }
        };
        while (!at_end()) {
            const auto byte = static_cast<unsigned char>(peek());
            if (byte == '"') {
                flush();
                ++m_pos;
                m_string_binary = binary;
                m_string_output = output;
                return true;
            }
            if (byte == '\\') {
                flush();
                std::uint32_t code_point = 0;
                if (!parse_escape(code_point)) {
                    return false;
                }
                binary += utf8_length(code_point);
                output += escaped_length(code_point);
                if (decoded != nullptr) {
                    append_utf8(*decoded, code_point);
                }
                run_start = m_pos;
            } else if (byte < 0x20U) {
                return error("raw control character in string");
            } else if (byte < 0x80U) {
                skip_plain_ascii();
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

    // Past the printable ASCII characters but '"' and '\\' at m_pos: the bulk of most strings, in a
    // loop of its own.
    void skip_plain_ascii() noexcept {
        const char* const begin = m_text.data();
        const char* const end = begin + m_text.size();
        const char* p = begin + m_pos;
        while (p != end) {
            const auto byte = static_cast<unsigned char>(*p);
            if (byte < 0x20U || byte >= 0x80U || byte == '"' || byte == '\\') {
                break;
            }
            ++p;
        }
        m_pos = static_cast<std::size_t>(p - begin);
    }

    // m_pos is at the backslash.
    bool parse_escape(std::uint32_t& code_point) {
        ++m_pos;
        if (at_end()) {
            return error("unexpected end of input");
        }
        switch (peek()) {
        case '"':
        case '\\':
        case '/':
            code_point = static_cast<unsigned char>(peek());
            break;
        case 'b':
            code_point = '\b';
            break;
        case 'f':
            code_point = '\f';
            break;
        case 'n':
            code_point = '\n';
            break;
        case 'r':
            code_point = '\r';
            break;
        case 't':
            code_point = '\t';
            break;
        case 'u':
            ++m_pos;
            return parse_unicode_escape(code_point);
        default:
            return error_at("invalid escape", m_pos - 1);
        }
        ++m_pos;
        return true;
    }
};

} // namespace

std::string check_object(std::string_view text, StringMembers* top_level_strings, DocumentStats* stats,
                         const Limits& limits) {
    return Checker(text, top_level_strings, limits).run(stats);
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

} // namespace eventstore::detail::json
