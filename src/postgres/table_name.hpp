#ifndef EVENTSTORE_SRC_POSTGRES_TABLE_NAME_HPP
#define EVENTSTORE_SRC_POSTGRES_TABLE_NAME_HPP

// Names the engine puts into SQL text: always quoted, never taken unchecked from the caller.

#include <string>
#include <string_view>

namespace eventstore::postgres::detail {

// A validated, possibly schema-qualified table name and its quoted SQL form.
struct TableName {
    std::string schema; // empty: resolved by search_path
    std::string table;
    std::string quoted; // "schema"."table" or "table"
};

// Splits "schema.table" at the first dot and quotes each part. Throws Error: empty_events_table_name
// for "", invalid_table_name for an empty part, a second dot, a part over 63 bytes (PostgreSQL would
// truncate it silently), a NUL byte or invalid UTF-8.
[[nodiscard]] TableName parse_table_name(std::string_view name);

// `table` in `schema` (empty: unqualified), with its quoted form; the parts are taken as they are.
[[nodiscard]] TableName table_name(std::string schema, std::string table);

// `name` in double quotes, inner quotes doubled.
[[nodiscard]] std::string quote_identifier(std::string_view name);

// `name` if it fits in 63 bytes; otherwise cut at a UTF-8 boundary and made unique by a hash of the
// whole name, 63 bytes in all. For names the engine derives from the caller's, which PostgreSQL would
// otherwise truncate (and two long ones would then collide).
[[nodiscard]] std::string fitted_identifier(std::string name);

// "idx_" + table + suffix (an index's name), fitted to 63 bytes (fitted_identifier).
[[nodiscard]] std::string derived_name(const TableName& table, std::string_view suffix);

} // namespace eventstore::postgres::detail

#endif
