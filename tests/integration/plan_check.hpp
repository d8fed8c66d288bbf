#ifndef EVENTSTORE_TESTS_INTEGRATION_PLAN_CHECK_HPP
#define EVENTSTORE_TESTS_INTEGRATION_PLAN_CHECK_HPP

// Reading and judging PostgreSQL plans, for the generic-plans test: EXPLAIN (FORMAT JSON) output and
// auto_explain's JSON entries in a stderr server log, rendered as text and checked for the shapes
// that make an events table slow under generic planning.

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "devsupport/pg_session.hpp"

namespace eventstore::test::plans {

// The indexes of one table, by role, and its size.
struct TableIndexes {
    std::string primary_key;
    std::set<std::string> event_type; // B-trees whose first column is event_type
    std::set<std::string> gin;
    std::int64_t max_sequence_number = 0; // the greatest key when the indexes were read
};

[[nodiscard]] TableIndexes indexes_of(devsupport::PgSession& db, std::string_view table);

// The plan as indented text: node, relation or index, conditions; the estimates only when asked for
// (the text without them identifies a plan's shape whatever the parameter values).
[[nodiscard]] std::string render(const nlohmann::json& plan, bool estimates);

// Whether the statement reads or writes `table` (its text names it, or a plan node does).
[[nodiscard]] bool mentions_table(const nlohmann::json& plan, const std::string& query_text, std::string_view table);

// Why the plan is bad for the events table `events_table`, sorted; empty when it is fine: a
// sequential scan of it, a backward walk of its primary key (unless it has no filter and the statement
// a LIMIT: the newest rows of the whole log), a primary-key walk that filters row by
// row (a probe for given keys is fine, and so is a custom plan's walk from a literal lower bound
// within 1% of the table's end: a catch-up read near the head, which the planner saw the value of),
// a BitmapAnd reading an event_type index next to a payload condition.
[[nodiscard]] std::vector<std::string> problems_of(const nlohmann::json& plan, const std::string& query_text,
                                                   const TableIndexes& indexes, std::string_view events_table);

// The "Plan" of EXPLAIN (FORMAT JSON) output; null when the text is not such output.
[[nodiscard]] nlohmann::json plan_of_explain(const std::string& explain_output);

// One auto_explain entry (log_format = json) of a server log.
struct LoggedPlan {
    int pid = 0;
    std::string query_text;
    nlohmann::json plan; // the "Plan" member
};

// The auto_explain entries of a stderr server log: an entry is a line not starting with a tab
// ("<time> [pid] ... LOG:  duration: 0.041 ms  plan:") and the tab-indented lines after it. Entries
// whose JSON cannot be read go to `unreadable`.
[[nodiscard]] std::vector<LoggedPlan> logged_plans(const std::string& log, std::vector<std::string>& unreadable);

// The file from byte `offset` on, and its size (0 when it cannot be read).
[[nodiscard]] std::string read_file_from(const std::string& path, std::uintmax_t offset);
[[nodiscard]] std::uintmax_t file_size(const std::string& path);

// A statement with its plan and what is wrong with it, for failure messages.
struct Finding {
    std::string query_text;
    std::string plan_text; // with estimates, from the first occurrence
    std::vector<std::string> problems;
    int count = 0;
};

[[nodiscard]] std::string describe(const Finding& finding);

} // namespace eventstore::test::plans

#endif
