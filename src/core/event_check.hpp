#ifndef EVENTSTORE_SRC_CORE_EVENT_CHECK_HPP
#define EVENTSTORE_SRC_CORE_EVENT_CHECK_HPP

#include <string>
#include <string_view>
#include <vector>

#include <eventstore/filter.hpp>
#include <eventstore/storable_event.hpp>

#include "core/json.hpp"

namespace eventstore::detail {

// What build_storable_event checks, for events that did not come through it: throws
// Error(invalid_event_type, invalid_payload_json or invalid_metadata_json) for the first problem,
// its detail prefixed with `where` ("event 7: "). When `payload_strings` is given, it receives the
// payload's top-level string members (json::check_object).
// Also checks the tags (invalid_tag) and the id (invalid_event_id).
void check_event(const StorableEvent& event, std::string_view where, json::StringMembers* payload_strings = nullptr);

// The tags as a store keeps them: in their order, without repeats.
[[nodiscard]] std::vector<std::string> unique_tags(const std::vector<std::string>& tags);
// The id as a store keeps it: lowercase. The id must have passed check_event.
[[nodiscard]] std::string normalized_id(std::string_view id);
// The texts of a filter's non-empty items as a store can hold them: throws Error(invalid_filter) for an
// event type, predicate key or value, or tag with a NUL byte or invalid UTF-8 (PostgreSQL text holds
// neither; the in-memory store refuses the same input).
void check_filter_texts(const Filter& filter);
// What keeps a text from being a key column's value (a tag, a snapshot key, a subscription name), as
// a phrase to follow its name: "contains a NUL byte" (PostgreSQL text holds none, and libpq would cut
// the parameter there), "is not valid UTF-8", or "is N bytes long, more than the M allowed" (an index
// entry has a size limit); "" when none.
[[nodiscard]] std::string key_text_problem(std::string_view text, std::size_t max_length);
// What is wrong with a tag (for filters as for events), or "" when it is acceptable.
[[nodiscard]] std::string tag_problem(std::string_view tag);

} // namespace eventstore::detail

#endif
