#include "plan_check.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace eventstore::test::plans {

namespace {

// A scalar member as text (strings as they are, numbers and booleans as JSON prints them); "" when
// the member is missing or is an array or object.
std::string text_of(const nlohmann::json& node, std::string_view key) {
    const auto member = node.find(key);
    if (member == node.end() || member->is_array() || member->is_object()) {
        return "";
    }
    return member->is_string() ? member->get<std::string>() : member->dump();
}

const std::vector<std::string_view>& condition_keys() {
    static const std::vector<std::string_view> keys{"Index Cond",      "Recheck Cond", "Filter",         "Join Filter",
                                                    "Hash Cond",       "Merge Cond",   "Sort Key",       "Group Key",
                                                    "One-Time Filter", "Order By",     "Conflict Filter"};
    return keys;
}

void render_node(const nlohmann::json& node, int depth, bool estimates, std::string& out) {
    const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
    out += indent;
    if (const std::string sub = text_of(node, "Subplan Name"); !sub.empty()) {
        out += "[" + sub + "] ";
    }
    out += text_of(node, "Node Type");
    if (text_of(node, "Scan Direction") == "Backward") {
        out += " Backward";
    }
    if (const std::string op = text_of(node, "Operation"); !op.empty() && text_of(node, "Node Type") == "ModifyTable") {
        out += " (" + op + ")";
    }
    if (const std::string index = text_of(node, "Index Name"); !index.empty()) {
        out += " using " + index;
    }
    if (const std::string relation = text_of(node, "Relation Name"); !relation.empty()) {
        out += " on " + relation;
        if (const std::string alias = text_of(node, "Alias"); !alias.empty() && alias != relation) {
            out += " " + alias;
        }
    } else if (const std::string function = text_of(node, "Function Name"); !function.empty()) {
        out += " on " + function + "()";
    }
    if (estimates) {
        out += "  (rows=" + text_of(node, "Plan Rows") + " cost=" + text_of(node, "Total Cost") + ")";
    }
    out += '\n';
    for (const std::string_view key : condition_keys()) {
        const auto value = node.find(key);
        if (value == node.end()) {
            continue;
        }
        std::string text;
        if (value->is_array()) {
            for (const auto& item : *value) {
                text += (text.empty() ? "" : ", ") + (item.is_string() ? item.get<std::string>() : item.dump());
            }
        } else {
            text = value->is_string() ? value->get<std::string>() : value->dump();
        }
        out += indent + "    " + std::string(key) + ": " + text + '\n';
    }
    if (const auto children = node.find("Plans"); children != node.end() && children->is_array()) {
        for (const auto& child : *children) {
            render_node(child, depth + 1, estimates, out);
        }
    }
}

void collect_nodes(const nlohmann::json& node, std::vector<const nlohmann::json*>& out) {
    out.push_back(&node);
    if (const auto children = node.find("Plans"); children != node.end() && children->is_array()) {
        for (const auto& child : *children) {
            collect_nodes(child, out);
        }
    }
}

bool is_index_scan(const std::string& type) { return type == "Index Scan" || type == "Index Only Scan"; }

// An index condition that pins the key to given values (sequence_number = x, = ANY(...)): a filtered
// probe of at most that many rows, not a walk.
bool equality_only(const std::string& index_cond) {
    return !index_cond.empty() && index_cond.find('=') != std::string::npos &&
           index_cond.find('<') == std::string::npos && index_cond.find('>') == std::string::npos;
}

// A primary-key condition "(sequence_number > '399900'::bigint)" with a literal bound (a custom
// plan's; a generic plan has "$3" there) that leaves at most 1% of the table above it.
bool short_walk_from_the_head(const std::string& index_cond, std::int64_t max_sequence_number) {
    // A range the planner saw the literal bound of, covering at most 1% of the table: above a bound
    // near the head (a catch-up), or below one near the start (a backwards read from an early position).
    const bool above = index_cond.rfind("(sequence_number > '", 0) == 0;
    const bool below = index_cond.rfind("(sequence_number <= '", 0) == 0;
    if ((!above && !below) || max_sequence_number <= 0) {
        return false;
    }
    std::int64_t bound = 0;
    const std::size_t start = index_cond.find('\'') + 1;
    std::size_t i = start;
    for (; i < index_cond.size() && std::isdigit(static_cast<unsigned char>(index_cond[i])) != 0; ++i) {
        bound = bound * 10 + (index_cond[i] - '0');
    }
    if (i == start || index_cond.compare(i, std::string::npos, "'::bigint)") != 0) {
        return false;
    }
    return above ? max_sequence_number - bound <= max_sequence_number / 100 : bound <= max_sequence_number / 100;
}

int pid_of_log_line(std::string_view line) {
    const auto open = line.find('[');
    const auto close = line.find(']', open == std::string_view::npos ? 0 : open);
    if (open == std::string_view::npos || close == std::string_view::npos) {
        return 0;
    }
    int pid = 0;
    for (std::size_t i = open + 1; i < close; ++i) {
        if (std::isdigit(static_cast<unsigned char>(line[i])) == 0) {
            return 0;
        }
        pid = pid * 10 + (line[i] - '0');
    }
    return pid;
}

} // namespace

TableIndexes indexes_of(devsupport::PgSession& db, std::string_view table) {
    TableIndexes out;
    const auto rows = db.exec("SELECT c.relname, i.indisprimary, am.amname, "
                              "       coalesce(pg_get_indexdef(i.indexrelid, 1, true), '') "
                              "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                              "JOIN pg_am am ON am.oid = c.relam "
                              "WHERE i.indrelid = to_regclass($1)",
                              {std::string(table)});
    for (int r = 0; r < rows.rows(); ++r) {
        const std::string name = rows.value(r, 0);
        if (rows.value(r, 1) == "t") {
            out.primary_key = name;
        }
        if (rows.value(r, 2) == "gin") {
            out.gin.insert(name);
        } else if (rows.value(r, 2) == "btree" && rows.value(r, 3) == "event_type") {
            out.event_type.insert(name);
        }
    }
    return out;
}

std::string render(const nlohmann::json& plan, bool estimates) {
    std::string out;
    render_node(plan, 0, estimates, out);
    return out;
}

bool mentions_table(const nlohmann::json& plan, const std::string& query_text, std::string_view table) {
    if (query_text.find(table) != std::string::npos) {
        return true;
    }
    std::vector<const nlohmann::json*> nodes;
    collect_nodes(plan, nodes);
    return std::any_of(nodes.begin(), nodes.end(),
                       [&](const nlohmann::json* n) { return text_of(*n, "Relation Name") == table; });
}

std::vector<std::string> problems_of(const nlohmann::json& plan, const std::string& query_text,
                                     const TableIndexes& indexes, std::string_view events_table) {
    std::vector<std::string> problems;
    std::vector<const nlohmann::json*> nodes;
    collect_nodes(plan, nodes);
    const bool payload_condition = query_text.find("@>") != std::string::npos;
    for (const nlohmann::json* n : nodes) {
        const std::string type = text_of(*n, "Node Type");
        const std::string relation = text_of(*n, "Relation Name");
        const std::string index = text_of(*n, "Index Name");
        if (type == "Seq Scan" && relation == events_table) {
            problems.push_back("Seq Scan on the events table");
        }
        // A backward walk that filters reads rows until enough match: for an old boundary, the whole
        // table. One without a filter (the newest rows of the whole log, a backwards read with a limit)
        // reads only what it returns.
        if (is_index_scan(type) && index == indexes.primary_key && text_of(*n, "Scan Direction") == "Backward" &&
            (n->contains("Filter") || query_text.find("LIMIT") == std::string::npos)) {
            problems.push_back(type + " Backward on the primary key " + index);
        }
        if (is_index_scan(type) && index == indexes.primary_key && n->contains("Filter") &&
            !equality_only(text_of(*n, "Index Cond")) &&
            !short_walk_from_the_head(text_of(*n, "Index Cond"), indexes.max_sequence_number)) {
            problems.push_back(type + " on the primary key " + index + " with a Filter (" + text_of(*n, "Filter") +
                               "): a filtered walk of the key" +
                               (n->contains("Index Cond") ? ", Index Cond " + text_of(*n, "Index Cond") : ""));
        }
        if (type == "BitmapAnd") {
            std::vector<const nlohmann::json*> below;
            collect_nodes(*n, below);
            bool reads_event_type = false;
            bool reads_gin = false;
            for (const nlohmann::json* b : below) {
                if (text_of(*b, "Node Type") != "Bitmap Index Scan") {
                    continue;
                }
                reads_event_type = reads_event_type || indexes.event_type.count(text_of(*b, "Index Name")) > 0;
                reads_gin = reads_gin || indexes.gin.count(text_of(*b, "Index Name")) > 0;
            }
            if (reads_event_type && (reads_gin || payload_condition)) {
                problems.push_back("BitmapAnd reading an event_type index next to a payload (GIN) condition");
            }
        }
    }
    std::sort(problems.begin(), problems.end());
    problems.erase(std::unique(problems.begin(), problems.end()), problems.end());
    return problems;
}

nlohmann::json plan_of_explain(const std::string& explain_output) {
    const auto json = nlohmann::json::parse(explain_output, nullptr, /*allow_exceptions=*/false);
    if (!json.is_array() || json.empty() || !json.front().is_object() || !json.front().contains("Plan")) {
        return nullptr;
    }
    return json.front()["Plan"];
}

std::vector<LoggedPlan> logged_plans(const std::string& log, std::vector<std::string>& unreadable) {
    std::vector<LoggedPlan> out;
    std::istringstream in(log);
    std::string line;
    std::string head;
    std::string body;
    auto finish = [&] {
        if (head.find("LOG:  duration: ") != std::string::npos && head.size() >= 5 &&
            head.compare(head.size() - 5, 5, "plan:") == 0) {
            const auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
            const auto text = json.is_object() ? json.find("Query Text") : json.end();
            const auto plan = json.is_object() ? json.find("Plan") : json.end();
            if (text == json.end() || plan == json.end() || !text->is_string()) {
                unreadable.push_back(head + "\n" + body.substr(0, 2000));
            } else {
                out.push_back(LoggedPlan{pid_of_log_line(head), text->get<std::string>(), *plan});
            }
        }
        head.clear();
        body.clear();
    };
    while (std::getline(in, line)) {
        if (!line.empty() && line.front() == '\t') {
            body += std::string_view(line).substr(1);
            body += '\n';
        } else {
            finish();
            head = line;
        }
    }
    finish();
    return out;
}

std::string read_file_from(const std::string& path, std::uintmax_t offset) {
    std::ifstream in(path, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(offset));
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
}

std::uintmax_t file_size(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    return in ? static_cast<std::uintmax_t>(in.tellg()) : 0;
}

std::string describe(const Finding& finding) {
    std::string out =
        "  Query Text: " + finding.query_text + "\n  seen " + std::to_string(finding.count) + "x; problems:\n";
    for (const auto& p : finding.problems) {
        out += "    - " + p + '\n';
    }
    out += "  Plan:\n";
    std::istringstream lines(finding.plan_text);
    std::string line;
    while (std::getline(lines, line)) {
        out += "    " + line + '\n';
    }
    return out;
}

} // namespace eventstore::test::plans
