#include <algorithm>
#include <string_view>
#include <utility>

#include <eventstore/error.hpp>
#include <eventstore/storable_event.hpp>

#include "core/event_check.hpp"
#include "core/json.hpp"

namespace eventstore {

namespace {

// Returns what is wrong with the event type, or "" when it is acceptable.
std::string event_type_problem(std::string_view event_type) {
    if (event_type.empty()) {
        return "event type is empty";
    }
    if (event_type.size() > max_event_type_length) {
        return "event type is " + std::to_string(event_type.size()) + " bytes long, more than the " +
               std::to_string(max_event_type_length) + " allowed";
    }
    // PostgreSQL text columns cannot hold NUL, and would reject invalid UTF-8 in a UTF8 database.
    if (event_type.find('\0') != std::string_view::npos) {
        return "event type contains a NUL byte";
    }
    if (!detail::json::is_valid_utf8(event_type)) {
        return "event type is not valid UTF-8";
    }
    return {};
}

std::string id_problem(std::string_view id) {
    // 8-4-4-4-12 hex digits, the text form PostgreSQL's uuid type reads and writes.
    if (id.size() != 36) {
        return "event id \"" + std::string(id.substr(0, 64)) + "\" is not a UUID (8-4-4-4-12 hex digits)";
    }
    for (std::size_t i = 0; i < id.size(); ++i) {
        const char c = id[i];
        const bool hyphen_place = i == 8 || i == 13 || i == 18 || i == 23;
        const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (hyphen_place ? c != '-' : !hex) {
            return "event id \"" + std::string(id) + "\" is not a UUID (8-4-4-4-12 hex digits)";
        }
    }
    return {};
}

} // namespace

std::string detail::key_text_problem(std::string_view text, std::size_t max_length) {
    if (text.find('\0') != std::string_view::npos) {
        return "contains a NUL byte";
    }
    if (!json::is_valid_utf8(text)) {
        return "is not valid UTF-8";
    }
    if (text.size() > max_length) {
        return "is " + std::to_string(text.size()) + " bytes long, more than the " + std::to_string(max_length) +
               " allowed";
    }
    return {};
}

std::string detail::tag_problem(std::string_view tag) {
    if (tag.empty()) {
        return "a tag is empty";
    }
    const std::string problem = key_text_problem(tag, max_tag_length);
    return problem.empty() ? problem : "a tag " + problem;
}

namespace {

void check_filter_text(std::string_view what, std::string_view s) {
    if (s.find('\0') != std::string_view::npos) {
        throw Error(Errc::invalid_filter, std::string(what) + " contains a NUL byte, which PostgreSQL cannot store");
    }
    if (!detail::json::is_valid_utf8(s)) {
        throw Error(Errc::invalid_filter, std::string(what) + " is not valid UTF-8");
    }
}

} // namespace

void detail::check_filter_texts(const Filter& filter) {
    for (const FilterItem& item : filter.items()) {
        if (item.empty()) {
            continue; // dropped from the OR
        }
        for (const std::string& type : item.event_types()) {
            check_filter_text("an event type", type);
        }
        for (const FilterPredicate& p : item.predicates()) {
            check_filter_text("a predicate key", p.key());
            check_filter_text("a predicate value", p.val());
        }
        for (const std::string& tag : item.tags()) {
            check_filter_text("a tag", tag);
        }
    }
}

std::vector<std::string> detail::unique_tags(const std::vector<std::string>& tags) {
    std::vector<std::string> out;
    out.reserve(tags.size());
    for (const std::string& tag : tags) {
        // Events carry a handful of tags: a linear scan beats building a set.
        if (std::find(out.begin(), out.end(), tag) == out.end()) {
            out.push_back(tag);
        }
    }
    return out;
}

std::string detail::normalized_id(std::string_view id) {
    std::string out(id);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c; });
    return out;
}

void detail::check_event(const StorableEvent& event, std::string_view where, json::StringMembers* payload_strings) {
    if (std::string problem = event_type_problem(event.event_type); !problem.empty()) {
        throw Error(Errc::invalid_event_type, std::string(where) + problem);
    }
    if (std::string problem = json::check_object(event.payload_json, payload_strings); !problem.empty()) {
        throw Error(Errc::invalid_payload_json, std::string(where) + problem);
    }
    if (std::string problem = json::check_object(event.metadata_json); !problem.empty()) {
        throw Error(Errc::invalid_metadata_json, std::string(where) + problem);
    }
    for (const std::string& tag : event.tags) {
        if (std::string problem = tag_problem(tag); !problem.empty()) {
            throw Error(Errc::invalid_tag, std::string(where) + problem);
        }
    }
    if (!event.id.empty()) {
        if (std::string problem = id_problem(event.id); !problem.empty()) {
            throw Error(Errc::invalid_event_id, std::string(where) + problem);
        }
    }
}

StorableEvent build_storable_event(std::string event_type, TimePoint occurred_at, std::string payload_json,
                                   std::string metadata_json) {
    StorableEvent event;
    event.event_type = std::move(event_type);
    event.occurred_at = occurred_at;
    event.payload_json = std::move(payload_json);
    event.metadata_json = std::move(metadata_json);
    detail::check_event(event, {});
    return event;
}

StorableEvent build_storable_event_with_empty_metadata(std::string event_type, TimePoint occurred_at,
                                                       std::string payload_json) {
    return build_storable_event(std::move(event_type), occurred_at, std::move(payload_json), "{}");
}

} // namespace eventstore
