#ifndef EVENTSTORE_SRC_CORE_JSON_VALUE_HPP
#define EVENTSTORE_SRC_CORE_JSON_VALUE_HPP

// JSON documents compared as the values PostgreSQL's jsonb makes of them, for code that keeps documents
// as text and must still agree with the PostgreSQL engine: whether a retried append carries "the same"
// payload, and which payloads a predicate matches when a key appears twice.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventstore::detail::json {

// An object's members as (decoded key, canonical text of the value).
using CanonicalMembers = std::vector<std::pair<std::string, std::string>>;

// The canonical text of a JSON document (any value at top level, surrounding whitespace allowed): two
// documents have the same canonical text exactly when jsonb holds them as the same value. That is:
// - objects: each key once, the last of duplicate keys winning (as jsonb keeps it), keys in byte order;
// - arrays: their elements in order;
// - numbers: by numeric value, as PostgreSQL numeric compares them (1, 1.0, 1e0 and 10e-1 alike, -0 is
//   0), written as one digit, an optional fraction and an optional exponent ("1.5e2");
// - strings: decoded, then quoted as append_quoted does;
// - no whitespace.
// Throws std::invalid_argument when the text is not one JSON value. It does not check what check_object
// checks beyond the grammar (UTF-8, limits): give it documents that passed check_object.
[[nodiscard]] std::string canonical_text(std::string_view document);

// Whether two documents are the same jsonb value (their canonical texts are equal).
[[nodiscard]] bool same_value(std::string_view a, std::string_view b);

// The members of a JSON object document as jsonb holds them: each key once (the last of duplicates),
// sorted by the key's bytes, each value in canonical text. A member's value is the JSON string s exactly
// when its canonical text is append_quoted(s). Throws std::invalid_argument when the document is not
// one JSON object.
[[nodiscard]] CanonicalMembers canonical_members(std::string_view object_document);

} // namespace eventstore::detail::json

#endif
