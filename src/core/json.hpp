#ifndef EVENTSTORE_SRC_CORE_JSON_HPP
#define EVENTSTORE_SRC_CORE_JSON_HPP

// A strict, allocation-light JSON reader for the few things the library needs: validating event and
// snapshot documents, finding the payload's top-level string members (the lock keys of an append),
// and quoting strings for predicate documents. Not a DOM.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eventstore::detail::json {

using StringMembers = std::vector<std::pair<std::string, std::string>>;

// Deepest nesting accepted, the top-level object being level 1. PostgreSQL's jsonb input recurses
// and stops at its max_stack_depth: with the default 2MB, PostgreSQL 15.18 (Debian's x86-64 build)
// accepts up to 13,089 levels of objects and 14,543 of arrays, about 160 bytes of stack a level. This
// limit leaves room for builds whose frames are twice as large. This reader does not recurse.
inline constexpr std::size_t max_depth = 6000;

// Largest document accepted, in bytes: its text, the binary jsonb PostgreSQL makes of it, and the
// text PostgreSQL returns for it (jsonb_out) must each fit. 268,435,455 is jsonb's own limit on the
// binary form of any object or array (JENTRY_OFFLENMASK; beyond it PostgreSQL refuses the value with
// "total size of jsonb object elements exceeds the maximum"). The text form can be much longer than
// the input (a number like 1e131071 comes back as 131,072 digits) and PostgreSQL cannot return a value
// whose text passes 1 GB, so a stored event could never be read again; the same limit on both texts
// keeps a row's payload and metadata readable together.
inline constexpr std::uint64_t max_document_size = 268435455;

// Most elements of one array, and members of one object (duplicates included), accepted: PostgreSQL
// 15 (64-bit) reads a container's elements into an array that doubles as it fills, and one more
// element would make it 1 GB, more than it can allocate ("invalid memory alloc request size").
inline constexpr std::uint32_t max_array_elements = 16777216;
inline constexpr std::uint32_t max_object_members = 8388608;

// The limits check_object applies: these constants, or smaller ones in tests.
struct Limits {
    std::size_t depth = max_depth;
    std::uint64_t document_size = max_document_size;
    std::uint32_t array_elements = max_array_elements;
    std::uint32_t object_members = max_object_members;
};

// What check_object measured of a document it accepted.
struct DocumentStats {
    std::size_t depth = 0; // deepest nesting, the top-level object being 1
    // The binary jsonb form's size without its 4-byte varlena header, from above: exact but for
    // duplicate keys (PostgreSQL keeps the last; they are counted here) and for the alignment of
    // numbers and containers inside objects (PostgreSQL sorts the members first; counted as 3 bytes).
    std::uint64_t jsonb_size = 0;
    // The length of PostgreSQL's text for the value (jsonb_out), exact but for duplicate keys.
    std::uint64_t jsonb_text_size = 0;
};

// Checks that `text` is exactly one JSON object per RFC 8259 (surrounding whitespace allowed, nothing
// else after it), in valid UTF-8, and storable as PostgreSQL jsonb: no \u0000 escape, no unpaired
// surrogate escape, numbers within PostgreSQL numeric's range, at most max_depth levels deep, at most
// max_array_elements and max_object_members in any one array or object, and at most
// max_document_size bytes as text, as binary jsonb and as PostgreSQL's text for it. Returns ""
// when it is, else a short description of the first problem with its byte offset ("expected ',' or
// '}' at byte 12").
// When `top_level_strings` is given, it receives every top-level member whose value is a string, as
// (key, value) with escapes decoded to UTF-8, in document order (duplicates included). When `stats` is
// given and the document is accepted, it receives the document's measures.
[[nodiscard]] std::string check_object(std::string_view text, StringMembers* top_level_strings = nullptr,
                                       DocumentStats* stats = nullptr, const Limits& limits = {});

// Appends `s` as a JSON string literal: quoted, with `"`, `\` and control characters escaped.
// `s` must be valid UTF-8 (non-ASCII bytes are copied as they are).
void append_quoted(std::string& out, std::string_view s);

[[nodiscard]] bool is_valid_utf8(std::string_view s) noexcept;
// Appends a Unicode code point (at most 0x10FFFF, not a surrogate) in UTF-8.
void append_utf8(std::string& out, std::uint32_t code_point);

} // namespace eventstore::detail::json

#endif
