#ifndef EVENTSTORE_SRC_POSTGRES_SQL_HPP
#define EVENTSTORE_SRC_POSTGRES_SQL_HPP

// SQL text and parameters. No value is ever spliced into SQL text: filters become a WHERE clause
// whose shape depends only on the filter's structure, with every name and value a bind parameter.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <eventstore/filter.hpp>
#include <eventstore/storable_event.hpp>

#include "postgres/connection.hpp"

namespace eventstore::postgres::detail {

// A validated, possibly schema-qualified table name and its quoted SQL form.
struct TableName {
    std::string schema; // empty: resolved by search_path
    std::string table;
    std::string quoted; // "schema"."table" or "table"
};

// Splits "schema.table" at the first dot and quotes each part. Throws Error: empty_events_table_name
// for "", invalid_table_name for an empty part, a part over 63 bytes (PostgreSQL would truncate it
// silently), a NUL byte or invalid UTF-8.
[[nodiscard]] TableName parse_table_name(std::string_view name);
[[nodiscard]] std::string quote_identifier(std::string_view name);

// A name derived from a table name (index names), kept within 63 bytes and unique by a hash suffix.
[[nodiscard]] std::string derived_name(const TableName& table, std::string_view suffix);

// The WHERE clause of a filter over alias `e`, its parameters numbered from `first_param`.
struct FilterClause {
    std::string sql; // "TRUE" when the filter matches everything
    std::vector<Param> params;
    // Whether statements built on it may run on a cached generic plan (see generic_plan_safe()).
    bool generic = false;
    // Whether the filter constrains anything but time and sequence bounds.
    bool has_items = false;
};
// Throws Error(invalid_filter) for names or values PostgreSQL cannot hold (NUL bytes, invalid UTF-8).
[[nodiscard]] FilterClause filter_clause(const Filter& filter, int first_param);

// A generic plan cannot know the parameters' values, so its row estimates are defaults. It is only
// safe when an index on the items (the payload GIN index, or the event-type index for items without
// predicates) is the right access path whatever the values: filters with items and no bounds. Time
// and sequence bounds need the values (a catch-up read near the head wants the primary key, an old
// one the items' index), so such statements are planned for each call.
[[nodiscard]] bool generic_plan_safe(const Filter& filter) noexcept;

// Parameter encoders.
[[nodiscard]] Param int8_param(std::int64_t value);
[[nodiscard]] Param text_param(std::string value);
[[nodiscard]] Param timestamptz_param(TimePoint t);
[[nodiscard]] Param text_array_param(std::span<const std::string> values, Oid array_type);
[[nodiscard]] Param int8_array_param(std::span<const std::int64_t> values);
[[nodiscard]] Param bool_array_param(const std::vector<bool>& values);
// The columns of events to insert, as binary arrays (no text escaping of payloads).
struct EventColumns {
    Param event_types;
    Param occurred_at;
    Param payloads;
    Param metadata;
};
[[nodiscard]] EventColumns event_columns(std::span<const StorableEvent> events);

// Binary result decoders.
[[nodiscard]] std::int64_t decode_int8(const char* data, int length);
[[nodiscard]] TimePoint decode_timestamptz(const char* data, int length);
// jsonb in binary is a version byte followed by the text.
[[nodiscard]] std::string decode_jsonb(const char* data, int length);

// Microseconds between the Unix and PostgreSQL epochs (2000-01-01).
inline constexpr std::int64_t postgres_epoch_offset_us = 946'684'800'000'000LL;

} // namespace eventstore::postgres::detail

#endif
