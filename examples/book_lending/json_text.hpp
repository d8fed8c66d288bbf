#ifndef BOOK_LENDING_JSON_TEXT_HPP
#define BOOK_LENDING_JSON_TEXT_HPP

// Just enough JSON for the example: writing flat objects and reading back one top-level string
// member. The application has no JSON library, and pulling one in for four payload shapes would
// hide what the store actually receives.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace book_lending::json {

// `text` as a JSON string literal, quotes included. Escapes the quote, the backslash and every
// control character (RFC 8259 §7); other UTF-8 bytes pass through unchanged.
[[nodiscard]] std::string quote(std::string_view text);

// Builds a JSON object member by member, in the order given. The order matters to nobody but a
// human reading the log (jsonb reorders keys anyway); it follows the Go fixtures of the spec.
class ObjectWriter {
public:
    ObjectWriter& add_string(std::string_view key, std::string_view value);
    ObjectWriter& add_number(std::string_view key, std::int64_t value);
    [[nodiscard]] std::string finish() const;

private:
    void start_member(std::string_view key);
    std::string m_text = "{";
};

// The decoded value of the top-level member `key` when `json` is an object holding that member as a
// string; nullopt otherwise (missing member, another JSON type, malformed text). Tolerates any
// whitespace and key order, because the store hands payloads back as PostgreSQL prints jsonb.
[[nodiscard]] std::optional<std::string> top_level_string(std::string_view json, std::string_view key);

} // namespace book_lending::json

#endif
