#include "core/json_value.hpp"

#include <algorithm>
#include <cstdint>
#include <stdexcept>

#include "core/json.hpp"

namespace eventstore::detail::json {

namespace {

bool is_whitespace(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// Exponents are counted up to here: a number with a larger one is far outside PostgreSQL numeric's
// range, which check_object enforces, so saturating cannot make two accepted numbers look equal.
constexpr std::int64_t exponent_ceiling = 1'000'000'000'000'000;

// Reads a document into its canonical text, written once into one buffer as it is read; only an
// object whose keys are not already in order without repeats is rewritten when it closes. Iterative,
// with the open containers on a heap-allocated stack: documents may nest thousands of levels deep
// (check_object accepts max_depth), too deep for recursion on a small thread stack.
class Canonicalizer {
public:
    explicit Canonicalizer(std::string_view text) : m_text(text) {}

    // The canonical text of the whole document. When `top_members` is given, the document must be an
    // object, whose settled members it receives.
    std::string run(CanonicalMembers* top_members) {
        skip_whitespace();
        if (top_members != nullptr && peek() != '{') {
            malformed("expected an object");
        }
        std::vector<Container> open;
        for (;;) {
            if (!read_value_or_open(open)) {
                continue; // a container opened: read its first element
            }
            // A value is complete: close every container that ends after it.
            for (;;) {
                if (open.empty()) {
                    skip_whitespace();
                    if (m_pos != m_text.size()) {
                        malformed("expected the end of the document");
                    }
                    return std::move(m_out);
                }
                Container& inner = open.back();
                if (inner.object) {
                    inner.members.back().end = m_out.size();
                }
                skip_whitespace();
                const char next = take();
                if (next == ',') {
                    m_out.push_back(',');
                    skip_whitespace();
                    if (inner.object) {
                        start_member(inner);
                    }
                    break;
                }
                if (next != (inner.object ? '}' : ']')) {
                    malformed(inner.object ? "expected ',' or '}'" : "expected ',' or ']'");
                }
                if (inner.object) {
                    close_object(inner, open.size() == 1 ? top_members : nullptr);
                } else {
                    m_out.push_back(']');
                }
                open.pop_back();
            }
        }
    }

private:
    struct Member {
        std::string key;   // decoded
        std::size_t begin; // the value's canonical text in m_out
        std::size_t end;
    };
    struct Container {
        bool object = false;
        std::size_t start = 0;       // where its '{' or '[' is in m_out
        std::vector<Member> members; // an object's members so far, in document order
    };

    // Reads a member's key and ':' and writes the key, leaving the position at its value.
    void start_member(Container& object) {
        if (peek() != '"') {
            malformed("expected a key");
        }
        std::string key = read_string();
        skip_whitespace();
        if (take() != ':') {
            malformed("expected ':'");
        }
        skip_whitespace();
        append_quoted(m_out, key);
        m_out.push_back(':');
        object.members.push_back(Member{std::move(key), m_out.size(), m_out.size()});
    }

    // Ends an object: its members sorted by key, the last of duplicate keys kept, as jsonb does.
    void close_object(Container& object, CanonicalMembers* members_out) {
        auto& members = object.members;
        bool settled = true;
        for (std::size_t i = 1; i < members.size() && settled; ++i) {
            settled = members[i - 1].key < members[i].key;
        }
        if (settled && members_out == nullptr) {
            m_out.push_back('}'); // written in order already
            return;
        }
        // Stable, so that equal keys stay in document order and the last of a run is the last written.
        std::stable_sort(members.begin(), members.end(),
                         [](const Member& a, const Member& b) { return a.key < b.key; });
        CanonicalMembers kept;
        kept.reserve(members.size());
        for (std::size_t i = 0; i < members.size(); ++i) {
            if (i + 1 < members.size() && members[i + 1].key == members[i].key) {
                continue;
            }
            kept.emplace_back(std::move(members[i].key),
                              m_out.substr(members[i].begin, members[i].end - members[i].begin));
        }
        m_out.resize(object.start);
        m_out.push_back('{');
        for (std::size_t i = 0; i < kept.size(); ++i) {
            if (i > 0) {
                m_out.push_back(',');
            }
            append_quoted(m_out, kept[i].first);
            m_out.push_back(':');
            m_out += kept[i].second;
        }
        m_out.push_back('}');
        if (members_out != nullptr) {
            *members_out = std::move(kept);
        }
    }

    [[noreturn]] void malformed(std::string_view what) const {
        throw std::invalid_argument("not a JSON document: " + std::string(what) + " at byte " + std::to_string(m_pos));
    }

    [[nodiscard]] char peek() const noexcept { return m_pos < m_text.size() ? m_text[m_pos] : '\0'; }

    char take() {
        if (m_pos >= m_text.size()) {
            malformed("unexpected end");
        }
        return m_text[m_pos++];
    }

    void skip_whitespace() noexcept {
        while (m_pos < m_text.size() && is_whitespace(m_text[m_pos])) {
            ++m_pos;
        }
    }

    // Writes a scalar (returns true), or opens a container (returns false; an empty one is read whole,
    // as a scalar would be). Leaves the position at the first element of an opened one.
    bool read_value_or_open(std::vector<Container>& open) {
        const char c = peek();
        if (c == '{' || c == '[') {
            ++m_pos;
            skip_whitespace();
            Container container{c == '{', m_out.size(), {}};
            m_out.push_back(c);
            if (peek() == (container.object ? '}' : ']')) {
                m_out.push_back(take());
                return true;
            }
            if (container.object) {
                start_member(container);
            }
            open.push_back(std::move(container));
            return false;
        }
        if (c == '"') {
            append_quoted(m_out, read_string());
        } else if (c == '-' || is_digit(c)) {
            read_number();
        } else if (!read_literal("true") && !read_literal("false") && !read_literal("null")) {
            malformed("expected a value");
        }
        return true;
    }

    bool read_literal(std::string_view word) {
        if (m_text.substr(m_pos, word.size()) != word) {
            return false;
        }
        m_pos += word.size();
        m_out += word;
        return true;
    }

    std::uint32_t read_hex4() {
        std::uint32_t unit = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = take();
            std::uint32_t digit = 0;
            if (is_digit(h)) {
                digit = static_cast<std::uint32_t>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
                digit = static_cast<std::uint32_t>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
                digit = static_cast<std::uint32_t>(h - 'A' + 10);
            } else {
                malformed("expected a hex digit");
            }
            unit = unit * 16U + digit;
        }
        return unit;
    }

    // A string literal, decoded to its bytes.
    std::string read_string() {
        ++m_pos; // the opening quote
        std::string out;
        for (;;) {
            const char c = take();
            if (c == '"') {
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20U) {
                malformed("control character in a string");
            }
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            switch (take()) {
            case '"':
                out.push_back('"');
                break;
            case '\\':
                out.push_back('\\');
                break;
            case '/':
                out.push_back('/');
                break;
            case 'b':
                out.push_back('\b');
                break;
            case 'f':
                out.push_back('\f');
                break;
            case 'n':
                out.push_back('\n');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'u':
                append_utf8(out, read_escaped_code_point());
                break;
            default:
                malformed("unknown escape");
            }
        }
    }

    // After "\u": one code point, from a surrogate pair when it takes two escapes. jsonb refuses
    // \u0000 and unpaired surrogates, so they are malformed here too.
    std::uint32_t read_escaped_code_point() {
        const std::uint32_t unit = read_hex4();
        if (unit == 0) {
            malformed("\\u0000 in a string");
        }
        if (unit >= 0xDC00U && unit <= 0xDFFFU) {
            malformed("unpaired low surrogate");
        }
        if (unit < 0xD800U || unit > 0xDBFFU) {
            return unit;
        }
        if (take() != '\\' || take() != 'u') {
            malformed("unpaired high surrogate");
        }
        const std::uint32_t low = read_hex4();
        if (low < 0xDC00U || low > 0xDFFFU) {
            malformed("unpaired high surrogate");
        }
        return 0x10000U + ((unit - 0xD800U) << 10U) + (low - 0xDC00U);
    }

    // Writes a number as its significant digits and the power of ten of the first: equal values get
    // equal texts whatever their spelling.
    void read_number() {
        const bool negative = peek() == '-';
        if (negative) {
            ++m_pos;
        }
        std::string digits; // the integer and fraction digits, the decimal point after `integer_digits`
        if (peek() == '0') {
            digits.push_back(take());
        } else if (is_digit(peek())) {
            while (is_digit(peek())) {
                digits.push_back(take());
            }
        } else {
            malformed("expected a digit");
        }
        const std::size_t integer_digits = digits.size();
        if (peek() == '.') {
            ++m_pos;
            if (!is_digit(peek())) {
                malformed("expected a digit after '.'");
            }
            while (is_digit(peek())) {
                digits.push_back(take());
            }
        }
        std::int64_t exponent = 0;
        if (peek() == 'e' || peek() == 'E') {
            ++m_pos;
            bool negative_exponent = false;
            if (peek() == '+' || peek() == '-') {
                negative_exponent = take() == '-';
            }
            if (!is_digit(peek())) {
                malformed("expected a digit in the exponent");
            }
            while (is_digit(peek())) {
                exponent = std::min(exponent * 10 + (take() - '0'), exponent_ceiling);
            }
            if (negative_exponent) {
                exponent = -exponent;
            }
        }
        const std::size_t first = digits.find_first_not_of('0');
        if (first == std::string::npos) {
            m_out.push_back('0'); // numeric has no negative zero, and zero has no scale that equality sees
            return;
        }
        const std::size_t last = digits.find_last_not_of('0');
        // The value is d.ddd x 10^power, d being the first significant digit.
        const std::int64_t power =
            static_cast<std::int64_t>(integer_digits) - static_cast<std::int64_t>(first) - 1 + exponent;
        if (negative) {
            m_out.push_back('-');
        }
        m_out.push_back(digits[first]);
        if (last > first) {
            m_out.push_back('.');
            m_out.append(digits, first + 1, last - first);
        }
        if (power != 0) {
            m_out += 'e' + std::to_string(power);
        }
    }

    std::string_view m_text;
    std::size_t m_pos = 0;
    std::string m_out; // the canonical text so far
};

} // namespace

std::string canonical_text(std::string_view document) { return Canonicalizer(document).run(nullptr); }

bool same_value(std::string_view a, std::string_view b) { return canonical_text(a) == canonical_text(b); }

CanonicalMembers canonical_members(std::string_view object_document) {
    CanonicalMembers members;
    (void)Canonicalizer(object_document).run(&members);
    return members;
}

} // namespace eventstore::detail::json
