#ifndef EVENTSTORE_DEVSUPPORT_SQL_NAMES_HPP
#define EVENTSTORE_DEVSUPPORT_SQL_NAMES_HPP

// Table and other names for SQL written by hand next to the store (checks, fixtures, floors).

#include <string>
#include <string_view>

namespace eventstore::devsupport {

// `name` as one SQL identifier in double quotes (inner quotes doubled): "We""ird Name".
[[nodiscard]] std::string quote_identifier(std::string_view name);

// A store's table name as SQL: "schema"."table" when it holds a dot (split at the first one, the
// store's own rule for with_table_name), else "table".
[[nodiscard]] std::string quote_table(std::string_view table);

} // namespace eventstore::devsupport

#endif
