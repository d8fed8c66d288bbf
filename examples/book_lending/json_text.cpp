#include "json_text.hpp"

#include <array>

namespace book_lending::json {

std::string quote(std::string_view text) {
    static constexpr std::array<char, 16> hex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                                 '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'};
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
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
        default:
            if (byte < 0x20) {
                out += "\\u00";
                out += hex[byte >> 4U];
                out += hex[byte & 0x0FU];
            } else {
                out += c;
            }
        }
    }
    out += '"';
    return out;
}

void ObjectWriter::start_member(std::string_view key) {
    if (m_text.size() > 1) {
        m_text += ',';
    }
    m_text += quote(key);
    m_text += ':';
}

ObjectWriter& ObjectWriter::add_string(std::string_view key, std::string_view value) {
    start_member(key);
    m_text += quote(value);
    return *this;
}

ObjectWriter& ObjectWriter::add_number(std::string_view key, std::int64_t value) {
    start_member(key);
    m_text += std::to_string(value);
    return *this;
}

std::string ObjectWriter::finish() const { return m_text + "}"; }

namespace {

// A forward-only scanner over one JSON text. Every method returns false on malformed input, which
// the caller turns into "member not found": the example only reads payloads it wrote itself.
class Scanner {
public:
    explicit Scanner(std::string_view text) : m_text(text) {}

    void skip_whitespace() {
        while (m_pos < m_text.size() &&
               (m_text[m_pos] == ' ' || m_text[m_pos] == '\t' || m_text[m_pos] == '\n' || m_text[m_pos] == '\r')) {
            ++m_pos;
        }
    }

    [[nodiscard]] bool at_end() const { return m_pos >= m_text.size(); }
    [[nodiscard]] char peek() const { return at_end() ? '\0' : m_text[m_pos]; }

    bool consume(char expected) {
        if (peek() != expected) {
            return false;
        }
        ++m_pos;
        return true;
    }

    // Reads a string literal, decoding its escapes (\uXXXX, surrogate pairs included, as UTF-8).
    bool read_string(std::string& out) {
        out.clear();
        if (!consume('"')) {
            return false;
        }
        while (!at_end()) {
            const char c = m_text[m_pos++];
            if (c == '"') {
                return true;
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_end()) {
                return false;
            }
            switch (m_text[m_pos++]) {
            case '"':
                out += '"';
                break;
            case '\\':
                out += '\\';
                break;
            case '/':
                out += '/';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'u': {
                std::uint32_t code = 0;
                if (!read_hex4(code)) {
                    return false;
                }
                if (code >= 0xD800 && code <= 0xDBFF) { // high surrogate: a low one must follow
                    std::uint32_t low = 0;
                    if (!consume('\\') || !consume('u') || !read_hex4(low) || low < 0xDC00 || low > 0xDFFF) {
                        return false;
                    }
                    code = 0x10000 + ((code - 0xD800) << 10U) + (low - 0xDC00);
                }
                append_utf8(out, code);
                break;
            }
            default:
                return false;
            }
        }
        return false;
    }

    // Skips one value of any type, nested ones included.
    bool skip_value() {
        std::string ignored;
        switch (peek()) {
        case '"':
            return read_string(ignored);
        case '{':
        case '[': {
            int depth = 0;
            while (!at_end()) {
                const char c = peek();
                if (c == '"') {
                    if (!read_string(ignored)) {
                        return false;
                    }
                    continue;
                }
                ++m_pos;
                if (c == '{' || c == '[') {
                    ++depth;
                } else if (c == '}' || c == ']') {
                    if (--depth == 0) {
                        return true;
                    }
                }
            }
            return false;
        }
        default: { // number, true, false, null
            const std::size_t start = m_pos;
            while (!at_end() && peek() != ',' && peek() != '}' && peek() != ']' && peek() != ' ' && peek() != '\t' &&
                   peek() != '\n' && peek() != '\r') {
                ++m_pos;
            }
            return m_pos > start;
        }
        }
    }

private:
    bool read_hex4(std::uint32_t& code) {
        if (m_text.size() - m_pos < 4) {
            return false;
        }
        code = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = m_text[m_pos++];
            std::uint32_t digit = 0;
            if (c >= '0' && c <= '9') {
                digit = static_cast<std::uint32_t>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                digit = static_cast<std::uint32_t>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                digit = static_cast<std::uint32_t>(c - 'A' + 10);
            } else {
                return false;
            }
            code = code * 16 + digit;
        }
        return true;
    }

    static void append_utf8(std::string& out, std::uint32_t code) {
        const auto byte = [&out](std::uint32_t b) { out += static_cast<char>(static_cast<unsigned char>(b)); };
        if (code < 0x80) {
            byte(code);
        } else if (code < 0x800) {
            byte(0xC0 | (code >> 6U));
            byte(0x80 | (code & 0x3FU));
        } else if (code < 0x10000) {
            byte(0xE0 | (code >> 12U));
            byte(0x80 | ((code >> 6U) & 0x3FU));
            byte(0x80 | (code & 0x3FU));
        } else {
            byte(0xF0 | (code >> 18U));
            byte(0x80 | ((code >> 12U) & 0x3FU));
            byte(0x80 | ((code >> 6U) & 0x3FU));
            byte(0x80 | (code & 0x3FU));
        }
    }

    std::string_view m_text;
    std::size_t m_pos = 0;
};

} // namespace

std::optional<std::string> top_level_string(std::string_view json, std::string_view key) {
    Scanner scanner(json);
    scanner.skip_whitespace();
    if (!scanner.consume('{')) {
        return std::nullopt;
    }
    scanner.skip_whitespace();
    if (scanner.consume('}')) {
        return std::nullopt;
    }
    std::string member;
    for (;;) {
        scanner.skip_whitespace();
        if (!scanner.read_string(member)) {
            return std::nullopt;
        }
        scanner.skip_whitespace();
        if (!scanner.consume(':')) {
            return std::nullopt;
        }
        scanner.skip_whitespace();
        if (member == key && scanner.peek() == '"') {
            std::string value;
            if (!scanner.read_string(value)) {
                return std::nullopt;
            }
            return value;
        }
        if (!scanner.skip_value()) {
            return std::nullopt;
        }
        scanner.skip_whitespace();
        if (scanner.consume('}')) {
            return std::nullopt;
        }
        if (!scanner.consume(',')) {
            return std::nullopt;
        }
    }
}

} // namespace book_lending::json
