#ifndef EVENTSTORE_SRC_POSTGRES_FILTER_SQL_HPP
#define EVENTSTORE_SRC_POSTGRES_FILTER_SQL_HPP

// A filter as SQL: a WHERE clause whose text depends only on the filter's structure, with every
// event type, predicate and bound a bind parameter.

#include <string>
#include <vector>

#include <eventstore/filter.hpp>

#include "postgres/statement.hpp"

namespace eventstore::postgres::detail {

// The WHERE clause of a filter over alias `e`, its parameters numbered from `first_param`.
struct FilterClause {
    std::string sql; // "TRUE" when the filter matches everything
    std::vector<Param> params;
    // Whether statements built on it may run on a cached generic plan (see generic_plan_safe()).
    bool generic = false;
    // Whether the filter constrains anything but time and sequence bounds.
    bool has_items = false;
};
// Throws Error(invalid_filter) for names or values PostgreSQL cannot hold (NUL bytes, invalid UTF-8),
// and for a filter whose statement would need more than max_statement_parameters parameters.
[[nodiscard]] FilterClause filter_clause(const Filter& filter, int first_param);

// A generic plan cannot know the parameters' values, so its row estimates are defaults. It is only
// safe when an index on the items (the payload GIN index, or the event-type index for items without
// predicates) is the right access path whatever the values: filters with items and no bounds. Time
// and sequence bounds need the values (a catch-up read near the head wants the primary key, an old
// one the items' index), so such statements are planned for each call.
[[nodiscard]] bool generic_plan_safe(const Filter& filter) noexcept;

} // namespace eventstore::postgres::detail

#endif
