#ifndef EVENTSTORE_SRC_CORE_JSON_HPP
#define EVENTSTORE_SRC_CORE_JSON_HPP

// A strict, allocation-light JSON reader for the few things the library needs: validating event and
// snapshot documents, finding the payload's top-level string members (the lock keys of an append),
// and quoting strings for predicate documents. Not a DOM.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventstore::detail::json {

using StringMembers = std::vector<std::pair<std::string, std::string>>;

// Checks that `text` is exactly one JSON object per RFC 8259 (surrounding whitespace allowed, nothing
// else after it), in valid UTF-8, and storable as PostgreSQL jsonb: no \u0000 escape and no unpaired
// surrogate escape. Returns "" when it is, else a short description of the first problem with its
// byte offset ("expected ',' or '}' at byte 12"). Nesting deeper than 512 levels is rejected.
// When `top_level_strings` is given, it receives every top-level member whose value is a string, as
// (key, value) with escapes decoded to UTF-8, in document order (duplicates included).
[[nodiscard]] std::string check_object(std::string_view text, StringMembers* top_level_strings = nullptr);

// Appends `s` as a JSON string literal: quoted, with `"`, `\` and control characters escaped.
// `s` must be valid UTF-8 (non-ASCII bytes are copied as they are).
void append_quoted(std::string& out, std::string_view s);

[[nodiscard]] bool is_valid_utf8(std::string_view s) noexcept;

} // namespace eventstore::detail::json

#endif
