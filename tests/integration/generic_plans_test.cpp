// Every statement the store sends keeps a good plan under GENERIC planning (pitfall 3 of
// measured-floors-and-pitfalls.md): no sequential scan of the events table, no backward walk of its
// primary key, no primary-key walk that filters row by row, no BitmapAnd that reads the event_type
// index next to a payload containment (the 200k-row trap).
//
// How: a database of its own, with auto_explain preloaded into every session (ALTER DATABASE ... SET
// session_preload_libraries) and plan_cache_mode = force_generic_plan as the database default; a
// 400k-event table in the shape of go-behaviour.md §7/§8; every public operation driven through the
// store, each at least 8 times on one connection (so a prepared statement would reach its generic
// plan). Then two passes over what the server logged:
//   1. the plans the store's own sessions really used (whatever plan_cache_mode they run with: the
//      store's session setup may override the database default);
//   2. the generic plan of each of those statements, from its exact logged text, re-prepared in a raw
//      session with plan_cache_mode = force_generic_plan: PREPARE p AS <text>; EXPLAIN EXECUTE p(NULL, ...)
//      (a generic plan does not depend on the parameter values).
// A failure prints each offending statement with its plan.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <eventstore/postgres.hpp>

#include "integration/fixture.hpp"
#include "support/postgres_server.hpp"

namespace {

using eventstore::build_event_filter;
using eventstore::build_snapshot;
using eventstore::Filter;
using eventstore::P;
using eventstore::SequenceNumber;
using eventstore::StorableEvent;
using eventstore::StorableEvents;
using eventstore::devsupport::PgSession;
using namespace std::chrono_literals;

constexpr std::string_view events_table = "plans_events";
constexpr std::string_view snapshots_table = "plans_snapshots";
constexpr std::int64_t total_events = 400'000;
constexpr std::int64_t books = 40'000; // book b's 4 events have sequence numbers 10b+3 .. 10b+9
constexpr std::int64_t readers = 10'000;
constexpr int repetitions = 8; // > 5: a prepared statement switches to its generic plan after 5 runs
constexpr std::int64_t base_unix_seconds = 1'735'689'600; // 2025-01-01T00:00:00Z; event g occurs g s later

const std::string added{eventstore::test::book_copy_added_to_circulation};
const std::string removed{eventstore::test::book_copy_removed_from_circulation};
const std::string lent{eventstore::test::book_copy_lent_to_reader};
const std::string returned{eventstore::test::book_copy_returned_by_reader};

std::string book(std::int64_t b) { return "book-" + std::to_string(b); }
std::string reader(std::int64_t r) { return "reader-" + std::to_string(r); }
std::int64_t first_sequence_of_book(std::int64_t b) { return 10 * b + 3; }
eventstore::TimePoint time_of(std::int64_t sequence_number) {
    return eventstore::test::at(base_unix_seconds + sequence_number);
}

// --- a minimal JSON reader (auto_explain's and EXPLAIN's JSON output) -------------------------------

struct Json {
    enum class Kind { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    std::string text; // string value, or the literal of a number / boolean
    std::vector<Json> items;
    std::vector<std::pair<std::string, Json>> members;

    [[nodiscard]] const Json* get(std::string_view key) const {
        for (const auto& [k, v] : members) {
            if (k == key) {
                return &v;
            }
        }
        return nullptr;
    }
    [[nodiscard]] std::string str(std::string_view key) const {
        const Json* v = get(key);
        return v != nullptr && v->kind != Kind::array && v->kind != Kind::object ? v->text : std::string();
    }
};

class JsonParser {
public:
    explicit JsonParser(std::string_view text) : m_text(text) {}

    std::optional<Json> parse() {
        Json value;
        if (!value_into(value)) {
            return std::nullopt;
        }
        skip_space();
        return m_pos == m_text.size() ? std::optional<Json>(std::move(value)) : std::nullopt;
    }

private:
    void skip_space() {
        while (m_pos < m_text.size() &&
               (m_text[m_pos] == ' ' || m_text[m_pos] == '\t' || m_text[m_pos] == '\n' || m_text[m_pos] == '\r')) {
            ++m_pos;
        }
    }

    bool literal(std::string_view word) {
        if (m_text.substr(m_pos, word.size()) != word) {
            return false;
        }
        m_pos += word.size();
        return true;
    }

    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    bool hex4(unsigned& cp) {
        if (m_pos + 4 > m_text.size()) {
            return false;
        }
        cp = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = m_text[m_pos++];
            cp <<= 4;
            if (c >= '0' && c <= '9') {
                cp |= static_cast<unsigned>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                cp |= static_cast<unsigned>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                cp |= static_cast<unsigned>(c - 'A' + 10);
            } else {
                return false;
            }
        }
        return true;
    }

    bool string_into(std::string& out) {
        if (m_pos >= m_text.size() || m_text[m_pos] != '"') {
            return false;
        }
        ++m_pos;
        while (m_pos < m_text.size()) {
            const char c = m_text[m_pos++];
            if (c == '"') {
                return true;
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (m_pos >= m_text.size()) {
                return false;
            }
            const char e = m_text[m_pos++];
            switch (e) {
            case 'n':
                out += '\n';
                break;
            case 't':
                out += '\t';
                break;
            case 'r':
                out += '\r';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'u': {
                unsigned cp = 0;
                if (!hex4(cp)) {
                    return false;
                }
                if (cp >= 0xD800 && cp < 0xDC00 && literal("\\u")) {
                    unsigned low = 0;
                    if (!hex4(low)) {
                        return false;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                put_utf8(out, cp);
                break;
            }
            default:
                out += e;
                break; // \" \\ \/
            }
        }
        return false;
    }

    bool value_into(Json& v) {
        skip_space();
        if (m_pos >= m_text.size()) {
            return false;
        }
        const char c = m_text[m_pos];
        if (c == '{') {
            ++m_pos;
            v.kind = Json::Kind::object;
            skip_space();
            if (m_pos < m_text.size() && m_text[m_pos] == '}') {
                ++m_pos;
                return true;
            }
            for (;;) {
                skip_space();
                std::string key;
                if (!string_into(key)) {
                    return false;
                }
                skip_space();
                if (m_pos >= m_text.size() || m_text[m_pos++] != ':') {
                    return false;
                }
                Json member;
                if (!value_into(member)) {
                    return false;
                }
                v.members.emplace_back(std::move(key), std::move(member));
                skip_space();
                if (m_pos >= m_text.size()) {
                    return false;
                }
                const char next = m_text[m_pos++];
                if (next == '}') {
                    return true;
                }
                if (next != ',') {
                    return false;
                }
            }
        }
        if (c == '[') {
            ++m_pos;
            v.kind = Json::Kind::array;
            skip_space();
            if (m_pos < m_text.size() && m_text[m_pos] == ']') {
                ++m_pos;
                return true;
            }
            for (;;) {
                Json item;
                if (!value_into(item)) {
                    return false;
                }
                v.items.push_back(std::move(item));
                skip_space();
                if (m_pos >= m_text.size()) {
                    return false;
                }
                const char next = m_text[m_pos++];
                if (next == ']') {
                    return true;
                }
                if (next != ',') {
                    return false;
                }
            }
        }
        if (c == '"') {
            v.kind = Json::Kind::string;
            return string_into(v.text);
        }
        if (literal("null")) {
            v.kind = Json::Kind::null;
            return true;
        }
        if (literal("true")) {
            v.kind = Json::Kind::boolean;
            v.text = "true";
            return true;
        }
        if (literal("false")) {
            v.kind = Json::Kind::boolean;
            v.text = "false";
            return true;
        }
        const std::size_t start = m_pos;
        while (m_pos < m_text.size() &&
               (std::isdigit(static_cast<unsigned char>(m_text[m_pos])) != 0 || m_text[m_pos] == '-' ||
                m_text[m_pos] == '+' || m_text[m_pos] == '.' || m_text[m_pos] == 'e' || m_text[m_pos] == 'E')) {
            ++m_pos;
        }
        if (m_pos == start) {
            return false;
        }
        v.kind = Json::Kind::number;
        v.text = std::string(m_text.substr(start, m_pos - start));
        return true;
    }

    std::string_view m_text;
    std::size_t m_pos = 0;
};

// --- the events table's indexes ---------------------------------------------------------------------

struct TableIndexes {
    std::string primary_key;
    std::set<std::string> event_type; // B-trees whose first column is event_type
    std::set<std::string> gin;
};

TableIndexes indexes_of(PgSession& db, std::string_view table) {
    TableIndexes out;
    const auto rows = db.exec("SELECT c.relname, i.indisprimary, am.amname, "
                              "       coalesce(pg_get_indexdef(i.indexrelid, 1, true), '') "
                              "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                              "JOIN pg_am am ON am.oid = c.relam "
                              "WHERE i.indrelid = to_regclass($1)",
                              {std::string(table)})
                          .all();
    for (const auto& row : rows) {
        const std::string name = row[0].value_or("");
        if (row[1] == std::optional<std::string>("t")) {
            out.primary_key = name;
        }
        if (row[2] == std::optional<std::string>("gin")) {
            out.gin.insert(name);
        } else if (row[2] == std::optional<std::string>("btree") &&
                   row[3] == std::optional<std::string>("event_type")) {
            out.event_type.insert(name);
        }
    }
    return out;
}

// --- plan inspection ---------------------------------------------------------------------------------

const std::vector<std::string_view>& condition_keys() {
    static const std::vector<std::string_view> keys{"Index Cond",      "Recheck Cond", "Filter",         "Join Filter",
                                                    "Hash Cond",       "Merge Cond",   "Sort Key",       "Group Key",
                                                    "One-Time Filter", "Order By",     "Conflict Filter"};
    return keys;
}

// The plan as indented text: node, relation / index, conditions; estimates only when asked for (the
// text without them identifies a plan shape across parameter values).
void render(const Json& node, int depth, bool estimates, std::string& out) {
    const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
    out += indent;
    if (const std::string sub = node.str("Subplan Name"); !sub.empty()) {
        out += "[" + sub + "] ";
    }
    out += node.str("Node Type");
    if (node.str("Scan Direction") == "Backward") {
        out += " Backward";
    }
    if (const std::string op = node.str("Operation"); !op.empty() && node.str("Node Type") == "ModifyTable") {
        out += " (" + op + ")";
    }
    if (const std::string index = node.str("Index Name"); !index.empty()) {
        out += " using " + index;
    }
    if (const std::string relation = node.str("Relation Name"); !relation.empty()) {
        out += " on " + relation;
        if (const std::string alias = node.str("Alias"); !alias.empty() && alias != relation) {
            out += " " + alias;
        }
    } else if (const std::string function = node.str("Function Name"); !function.empty()) {
        out += " on " + function + "()";
    }
    if (estimates) {
        out += "  (rows=" + node.str("Plan Rows") + " cost=" + node.str("Total Cost") + ")";
    }
    out += '\n';
    for (const std::string_view key : condition_keys()) {
        const Json* value = node.get(key);
        if (value == nullptr) {
            continue;
        }
        std::string text;
        if (value->kind == Json::Kind::array) {
            for (const Json& item : value->items) {
                text += (text.empty() ? "" : ", ") + item.text;
            }
        } else {
            text = value->text;
        }
        out += indent + "    " + std::string(key) + ": " + text + '\n';
    }
    if (const Json* plans = node.get("Plans")) {
        for (const Json& child : plans->items) {
            render(child, depth + 1, estimates, out);
        }
    }
}

void collect_nodes(const Json& node, std::vector<const Json*>& out) {
    out.push_back(&node);
    if (const Json* plans = node.get("Plans")) {
        for (const Json& child : plans->items) {
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

bool mentions_events_table(const Json& plan_root, const std::string& query_text) {
    if (query_text.find(events_table) != std::string::npos) {
        return true;
    }
    std::vector<const Json*> nodes;
    collect_nodes(plan_root, nodes);
    return std::any_of(nodes.begin(), nodes.end(),
                       [](const Json* n) { return n->str("Relation Name") == events_table; });
}

// Why the plan is bad; empty when it is fine.
std::vector<std::string> problems_of(const Json& plan_root, const std::string& query_text, const TableIndexes& idx) {
    std::vector<std::string> problems;
    std::vector<const Json*> nodes;
    collect_nodes(plan_root, nodes);
    const bool payload_condition = query_text.find("@>") != std::string::npos;
    for (const Json* n : nodes) {
        const std::string type = n->str("Node Type");
        const std::string relation = n->str("Relation Name");
        const std::string index = n->str("Index Name");
        if (type == "Seq Scan" && relation == events_table) {
            problems.push_back("Seq Scan on the events table");
        }
        if (is_index_scan(type) && index == idx.primary_key && n->str("Scan Direction") == "Backward") {
            problems.push_back(type + " Backward on the primary key " + index);
        }
        if (is_index_scan(type) && index == idx.primary_key && n->get("Filter") != nullptr &&
            !equality_only(n->str("Index Cond"))) {
            problems.push_back(type + " on the primary key " + index + " with a Filter (" + n->str("Filter") +
                               "): a filtered walk of the key" +
                               (n->get("Index Cond") != nullptr ? ", Index Cond " + n->str("Index Cond") : ""));
        }
        if (type == "BitmapAnd") {
            std::vector<const Json*> below;
            collect_nodes(*n, below);
            bool reads_event_type = false;
            bool reads_gin = false;
            for (const Json* b : below) {
                if (b->str("Node Type") != "Bitmap Index Scan") {
                    continue;
                }
                reads_event_type = reads_event_type || idx.event_type.count(b->str("Index Name")) > 0;
                reads_gin = reads_gin || idx.gin.count(b->str("Index Name")) > 0;
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

// --- the server log ---------------------------------------------------------------------------------

struct LoggedPlan {
    int pid = 0;
    std::string query_text;
    Json plan; // the "Plan" member
};

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

// The auto_explain entries (format json) of a stderr server log: an entry is a line not starting with
// a tab ("<time> [pid] ... LOG:  duration: 0.041 ms  plan:") and the tab-indented lines after it.
std::vector<LoggedPlan> logged_plans(const std::string& log, std::vector<std::string>& unreadable) {
    std::vector<LoggedPlan> out;
    std::istringstream in(log);
    std::string line;
    std::string head;
    std::string body;
    auto finish = [&] {
        if (head.find("LOG:  duration: ") != std::string::npos && head.size() >= 5 &&
            head.compare(head.size() - 5, 5, "plan:") == 0) {
            auto json = JsonParser(body).parse();
            const Json* text = json ? json->get("Query Text") : nullptr;
            const Json* plan = json ? json->get("Plan") : nullptr;
            if (text == nullptr || plan == nullptr) {
                unreadable.push_back(head + "\n" + body.substr(0, 2000));
            } else {
                out.push_back(LoggedPlan{pid_of_log_line(head), text->text, *plan});
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

// --- the workload ------------------------------------------------------------------------------------

const std::vector<std::string>& book_types() {
    static const std::vector<std::string> types{added, lent, returned, removed};
    return types;
}

Filter book_filter(std::int64_t b) {
    return build_event_filter()
        .matching()
        .any_event_type_of(std::span<const std::string>(book_types()))
        .and_any_predicate_of(P("BookID", book(b)))
        .finalize();
}

Filter book_filter(const std::string& book_id) {
    return build_event_filter()
        .matching()
        .any_event_type_of(std::span<const std::string>(book_types()))
        .and_any_predicate_of(P("BookID", book_id))
        .finalize();
}

// The 400k events, 60% noise of 50,000 types, 40% the 4 book types over 40,000 books (sequence numbers
// 10b+3 .. 10b+9 for book b; every 5 rows, rows 3 and 4 are book events). The secondary indexes are
// dropped and rebuilt around the load (whatever migrate() made them), which is far quicker than
// maintaining them row by row.
void fill(PgSession& db) {
    const std::string t = "\"" + std::string(events_table) + "\"";
    const auto definitions = db.exec("SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                                     "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass($1) "
                                     "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
                                     {std::string(events_table)})
                                 .all();
    for (const auto& row : definitions) {
        db.exec("DROP INDEX \"" + row[0].value_or("") + "\"");
    }
    db.exec("INSERT INTO " + t +
            " (sequence_number, occurred_at, event_type, payload, metadata) "
            "SELECT g, timestamptz '2025-01-01 00:00:00+00' + g * interval '1 second', "
            "  CASE WHEN g % 5 < 3 THEN 'SomethingHasHappened' || (g % 50000) "
            "       ELSE (ARRAY['" +
            added + "','" + lent + "','" + returned + "','" + removed +
            "'])[k % 4 + 1] END, "
            "  CASE WHEN g % 5 < 3 THEN jsonb_build_object('ID', 'id-' || g, 'Description', "
            "                                             'lorem ipsum dolor sit amet, consectetur adipiscing') "
            "       WHEN k % 4 IN (1, 2) THEN jsonb_build_object('BookID', 'book-' || (k / 4), "
            "                                                   'ReaderID', 'reader-' || ((k / 4) % " +
            std::to_string(readers) +
            ")) "
            "       ELSE jsonb_build_object('BookID', 'book-' || (k / 4)) END, "
            "  '{}' "
            "FROM generate_series(1, " +
            std::to_string(total_events) + ") AS g, LATERAL (SELECT (g / 5) * 2 + (g % 5 - 3) AS k) AS x");
    db.exec("SELECT setval(pg_get_serial_sequence('" + t + "', 'sequence_number'), " + std::to_string(total_events) +
            ")");
    for (const auto& row : definitions) {
        db.exec(row[1].value_or(""));
    }
    db.exec("VACUUM ANALYZE " + t);
}

// --- reports -----------------------------------------------------------------------------------------

struct Finding {
    std::string query_text;
    std::string plan_text; // with estimates, from the first occurrence
    std::vector<std::string> problems;
    int count = 0;
};

std::string describe(const Finding& f) {
    std::string out = "  Query Text: " + f.query_text + "\n  seen " + std::to_string(f.count) + "x; problems:\n";
    for (const auto& p : f.problems) {
        out += "    - " + p + '\n';
    }
    out += "  Plan:\n";
    std::istringstream lines(f.plan_text);
    std::string line;
    while (std::getline(lines, line)) {
        out += "    " + line + '\n';
    }
    return out;
}

class GenericPlansTest : public ::testing::Test {};

TEST_F(GenericPlansTest, EveryStatementOnTheEventsTableKeepsAGoodPlanUnderGenericPlanning) {
    auto& server = eventstore::test::postgres();
    if (server.is_external()) {
        GTEST_SKIP() << "needs the server log of a throwaway cluster (EVENTSTORE_TEST_CONNINFO is set)";
    }
    const std::string log_path = server.directory() + "/server.log";
    const std::string conninfo = server.fresh_database("plans");
    const auto started = std::chrono::steady_clock::now();

    // Opened before auto_explain is switched on for the database: the load is not logged.
    PgSession admin(conninfo);
    const std::string dbname = admin.scalar("SELECT current_database()").value_or("");
    admin.exec("LOAD 'auto_explain'"); // validates the settings below
    for (const std::string setting : {"session_preload_libraries = 'auto_explain'", "auto_explain.log_min_duration = 0",
                                      "auto_explain.log_format = 'json'", "auto_explain.log_nested_statements = on",
                                      "auto_explain.log_level = 'log'", "plan_cache_mode = 'force_generic_plan'"}) {
        admin.exec("ALTER DATABASE \"" + dbname + "\" SET " + setting);
    }

    eventstore::postgres::PoolOptions options;
    options.max_connections = 1; // one session: every prepared statement runs on it 8 times
    auto pool = eventstore::postgres::ConnectionPool::create(conninfo, options);
    auto store = eventstore::postgres::new_event_store_from_pool(
        pool, eventstore::postgres::with_table_name(std::string(events_table)),
        eventstore::postgres::with_snapshot_table_name(std::string(snapshots_table)));
    store->migrate();
    fill(admin);
    const TableIndexes idx = indexes_of(admin, events_table);
    ASSERT_FALSE(idx.primary_key.empty()) << "the events table has no primary key";
    std::cout
        << "[ info ] loaded " << total_events << " events in "
        << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
        << " ms; primary key " << idx.primary_key << ", " << idx.event_type.size() << " event_type index(es), "
        << idx.gin.size() << " GIN index(es)\n";

    // The checker itself must see the traps: a sequential scan, and a filtered backward walk of the key.
    {
        const std::string t = "\"" + std::string(events_table) + "\"";
        const auto problems_of_explain = [&](const std::string& sql) {
            auto json =
                JsonParser(admin.exec("EXPLAIN (FORMAT JSON) " + sql).all().front().front().value_or("")).parse();
            const Json* plan = json && !json->items.empty() ? json->items.front().get("Plan") : nullptr;
            return plan != nullptr ? problems_of(*plan, sql, idx) : std::vector<std::string>{"(unreadable EXPLAIN)"};
        };
        const auto has = [](const std::vector<std::string>& problems, std::string_view what) {
            return std::any_of(problems.begin(), problems.end(),
                               [what](const std::string& p) { return p.find(what) != std::string::npos; });
        };
        const auto seq = problems_of_explain("SELECT * FROM " + t + " e WHERE e.metadata = '{\"x\": 1}'::jsonb");
        ASSERT_TRUE(has(seq, "Seq Scan")) << "the plan checker misses a sequential scan";
        const auto walk =
            problems_of_explain("SELECT e.sequence_number FROM " + t +
                                " e WHERE e.metadata IS NOT NULL ORDER BY e.sequence_number DESC LIMIT 1");
        ASSERT_TRUE(has(walk, "Backward") && has(walk, "with a Filter"))
            << "the plan checker misses a filtered backward walk of the primary key";
    }

    const std::uintmax_t log_offset = file_size(log_path);

    // --- every public operation, each 8 times ---
    const std::int64_t near_end = total_events - 100;
    for (int i = 0; i < repetitions; ++i) {
        const std::int64_t late_book = books - 1 - i;       // events near the end of the table
        const std::int64_t middle_book = books / 2 + 7 * i; // events in the middle
        const std::int64_t early_book = 10 + i;             // events near the start
        const std::int64_t some_reader = (middle_book + 3) % readers;
        SCOPED_TRACE("repetition " + std::to_string(i));

        // Query: the 4 book types + BookID.
        EXPECT_EQ(store->query(book_filter(late_book)).events.size(), 4U);
        // Book or reader: two predicates, any of.
        EXPECT_FALSE(store->query(eventstore::test::book_or_reader_filter(book(middle_book), reader(some_reader)))
                         .events.empty());
        // All of two predicates (one merged containment).
        EXPECT_EQ(store
                      ->query(build_event_filter()
                                  .matching()
                                  .any_event_type_of(std::span<const std::string>(book_types()))
                                  .and_all_predicates_of(P("BookID", book(middle_book)),
                                                         P("ReaderID", reader(middle_book % readers)))
                                  .finalize())
                      .events.size(),
                  2U);
        // All of two predicates on one key (not mergeable: two containments).
        EXPECT_TRUE(
            store
                ->query(build_event_filter()
                            .matching()
                            .any_event_type_of(std::span<const std::string>(book_types()))
                            .and_all_predicates_of(P("BookID", book(middle_book)), P("BookID", book(early_book)))
                            .finalize())
                .events.empty());
        // Types only: one book type (10% of the table), and one noise type (a handful of events).
        EXPECT_EQ(store->query(build_event_filter().matching().any_event_type_of(removed).finalize()).events.size(),
                  static_cast<std::size_t>(books));
        EXPECT_FALSE(store
                         ->query(build_event_filter()
                                     .matching()
                                     .any_event_type_of("SomethingHasHappened" + std::to_string(1000 + 5 * i))
                                     .finalize())
                         .events.empty());
        // Two items: a book, or a reader.
        EXPECT_FALSE(store
                         ->query(build_event_filter()
                                     .matching()
                                     .any_event_type_of(std::span<const std::string>(book_types()))
                                     .and_any_predicate_of(P("BookID", book(late_book)))
                                     .or_matching()
                                     .any_event_type_of(lent, returned)
                                     .and_any_predicate_of(P("ReaderID", reader(some_reader)))
                                     .finalize())
                         .events.empty());
        // Predicates only.
        EXPECT_EQ(
            store->query(build_event_filter().matching().any_predicate_of(P("BookID", book(middle_book))).finalize())
                .events.size(),
            4U);
        // The book filter within a time window, and a bare time window near the end.
        const std::int64_t first = first_sequence_of_book(middle_book);
        EXPECT_EQ(store
                      ->query(build_event_filter()
                                  .matching()
                                  .any_event_type_of(std::span<const std::string>(book_types()))
                                  .and_any_predicate_of(P("BookID", book(middle_book)))
                                  .occurred_from(time_of(first - 50))
                                  .and_occurred_until(time_of(first + 50))
                                  .finalize())
                      .events.size(),
                  4U);
        EXPECT_EQ(store
                      ->query(build_event_filter()
                                  .occurred_from(time_of(near_end))
                                  .and_occurred_until(time_of(near_end + 9))
                                  .finalize())
                      .events.size(),
                  10U);
        // Snapshot catch-up: the book filter above a sequence number near the end; and every event above it.
        EXPECT_EQ(store
                      ->query(build_event_filter()
                                  .matching()
                                  .any_event_type_of(std::span<const std::string>(book_types()))
                                  .and_any_predicate_of(P("BookID", book(books - 1)))
                                  .with_sequence_number_higher_than(static_cast<SequenceNumber>(near_end))
                                  .finalize())
                      .events.size(),
                  4U);
        EXPECT_GE(store
                      ->query(build_event_filter()
                                  .with_sequence_number_higher_than(static_cast<SequenceNumber>(near_end))
                                  .finalize())
                      .events.size(),
                  100U);

        // Append to a fresh book (expected 0).
        const std::string fresh = "fresh-book-" + std::to_string(i);
        store->append(book_filter(fresh), 0, eventstore::test::added_to_circulation(fresh, time_of(total_events + i)));
        // Append to an existing book with its real maximum: an old book (its events near the start) and
        // one in the middle.
        for (const std::int64_t b : {early_book, middle_book}) {
            const SequenceNumber max = store->query(book_filter(b)).max_sequence_number;
            ASSERT_GT(max, 0U);
            store->append(book_filter(b), max,
                          eventstore::test::lent_to_reader(book(b), reader(b % readers), time_of(total_events + i)));
        }
        // Append of 5 events to a fresh book.
        const std::string fresh5 = "fresh-five-" + std::to_string(i);
        const StorableEvents five{
            eventstore::test::added_to_circulation(fresh5, time_of(total_events + i)),
            eventstore::test::lent_to_reader(fresh5, reader(1), time_of(total_events + i)),
            eventstore::test::returned_by_reader(fresh5, reader(1), time_of(total_events + i)),
            eventstore::test::lent_to_reader(fresh5, reader(2), time_of(total_events + i)),
            eventstore::test::returned_by_reader(fresh5, reader(2), time_of(total_events + i)),
        };
        store->append(book_filter(fresh5), 0, five);

        // Snapshots: save, load, delete.
        const Filter snapshot_filter = book_filter(middle_book);
        const SequenceNumber snapshot_at = store->query(snapshot_filter).max_sequence_number;
        store->save_snapshot(build_snapshot("BookState", snapshot_filter.hash(), snapshot_at, R"({"lent":true})"));
        EXPECT_TRUE(store->load_snapshot("BookState", snapshot_filter).has_value());
        store->delete_snapshot("BookState", snapshot_filter);
        EXPECT_FALSE(store->load_snapshot("BookState", snapshot_filter).has_value());
    }
    store.reset();
    pool.reset();

    // --- wait for the log to hold everything: a marker statement logged after the workload ---
    PgSession marker(conninfo); // has auto_explain (session_preload_libraries)
    const std::string marker_text = "SELECT 'generic_plans_test_end_of_workload' AS marker";
    marker.exec(marker_text);
    std::string log;
    for (auto deadline = std::chrono::steady_clock::now() + 10s;;) {
        log = read_file_from(log_path, log_offset);
        if (log.find("generic_plans_test_end_of_workload") != std::string::npos ||
            std::chrono::steady_clock::now() > deadline) {
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_NE(log.find("generic_plans_test_end_of_workload"), std::string::npos)
        << "auto_explain did not log the marker statement; log tail:\n"
        << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);

    std::vector<std::string> unreadable;
    const std::vector<LoggedPlan> plans = logged_plans(log, unreadable);
    EXPECT_TRUE(unreadable.empty()) << unreadable.size() << " auto_explain entries could not be parsed; the first:\n"
                                    << (unreadable.empty() ? std::string() : unreadable.front());

    // --- pass 1: the plans the store's sessions used ---
    std::map<std::string, Finding> pass1; // by query text + plan shape
    std::vector<std::string> texts;       // distinct query texts on the events table, in first-seen order
    std::set<std::string> seen_texts;
    const int marker_pid = marker.backend_pid();
    for (const LoggedPlan& p : plans) {
        if (p.pid == marker_pid || !mentions_events_table(p.plan, p.query_text)) {
            continue;
        }
        if (seen_texts.insert(p.query_text).second) {
            texts.push_back(p.query_text);
        }
        std::string shape;
        render(p.plan, 0, false, shape);
        Finding& f = pass1[p.query_text + "\n" + shape];
        if (f.count++ == 0) {
            f.query_text = p.query_text;
            render(p.plan, 0, true, f.plan_text);
            f.problems = problems_of(p.plan, p.query_text, idx);
        }
    }
    const bool any_select = std::any_of(texts.begin(), texts.end(), [](const std::string& t) {
        return t.find("SELECT") != std::string::npos && t.find("INSERT") == std::string::npos;
    });
    const bool any_insert = std::any_of(texts.begin(), texts.end(),
                                        [](const std::string& t) { return t.find("INSERT") != std::string::npos; });
    EXPECT_TRUE(any_select && any_insert)
        << "auto_explain logged " << plans.size() << " plans but "
        << (any_select ? "no append (INSERT)" : "no query (SELECT)") << " on the events table: is the capture broken?";
    EXPECT_GE(texts.size(), 10U) << "too few distinct statements on the events table were captured";

    int pass1_bad = 0;
    for (const auto& [key, f] : pass1) {
        if (!f.problems.empty()) {
            ++pass1_bad;
            ADD_FAILURE() << "Pass 1 (the store's own session, as it plans): a bad plan\n" << describe(f);
        }
    }

    // --- pass 2: the generic plan of each statement, re-prepared from its logged text ---
    PgSession generic(conninfo);
    generic.exec("SET auto_explain.log_min_duration = -1");
    generic.exec("SET plan_cache_mode = force_generic_plan");
    std::map<std::string, Finding> pass2;
    int number = 0;
    for (const std::string& text : texts) {
        const std::string name = "generic_plan_" + std::to_string(++number);
        try {
            generic.exec("PREPARE " + name + " AS " + text);
        } catch (const eventstore::devsupport::PgError& e) {
            // A statement the server logged but that cannot stand alone (e.g. one nested in a PL/pgSQL
            // function, which names its variables): its generic plan cannot be checked this way.
            ADD_FAILURE() << "Pass 2: cannot re-prepare a logged statement to check its generic plan (" << e.what()
                          << ")\n  Query Text: " << text;
            continue;
        }
        const auto count = generic
                               .exec("SELECT coalesce(array_length(parameter_types, 1), 0) FROM "
                                     "pg_prepared_statements WHERE name = $1",
                                     {name})
                               .all()
                               .front()
                               .front()
                               .value_or("0");
        const int parameters = std::stoi(count);
        std::string arguments;
        for (int k = 0; k < parameters; ++k) {
            arguments += k == 0 ? "(NULL" : ", NULL";
        }
        arguments += parameters > 0 ? ")" : "";
        const auto rows = generic.exec("EXPLAIN (FORMAT JSON) EXECUTE " + name + arguments);
        generic.exec("DEALLOCATE " + name);
        auto json = JsonParser(rows.all().front().front().value_or("")).parse();
        const Json* plan = json && !json->items.empty() ? json->items.front().get("Plan") : nullptr;
        if (plan == nullptr) {
            ADD_FAILURE() << "Pass 2: unreadable EXPLAIN output for\n  Query Text: " << text;
            continue;
        }
        Finding& f = pass2[text];
        f.count = 1;
        f.query_text = text;
        render(*plan, 0, true, f.plan_text);
        f.problems = problems_of(*plan, text, idx);
        if (!f.problems.empty()) {
            ADD_FAILURE() << "Pass 2 (generic plan: plan_cache_mode = force_generic_plan, PREPARE + EXPLAIN "
                             "EXECUTE of the logged text): a bad plan\n"
                          << describe(f);
        }
    }
    // EVENTSTORE_TEST_SHOW_PLANS=1: every statement's plans, good or bad.
    if (const char* show = std::getenv("EVENTSTORE_TEST_SHOW_PLANS");
        show != nullptr && std::string_view(show) == "1") {
        for (const auto& [key, f] : pass1) {
            std::cout << "--- pass 1 (as the store plans)" << (f.problems.empty() ? "" : ", BAD") << '\n'
                      << describe(f);
        }
        for (const auto& [key, f] : pass2) {
            std::cout << "--- pass 2 (generic)" << (f.problems.empty() ? "" : ", BAD") << '\n' << describe(f);
        }
    }
    const auto pass2_bad =
        std::count_if(pass2.begin(), pass2.end(), [](const auto& kv) { return !kv.second.problems.empty(); });
    std::cout
        << "[ info ] " << plans.size() << " plans logged; " << texts.size()
        << " distinct statements on the events table; pass 1 (as the store plans): " << pass1.size()
        << " distinct plans, " << pass1_bad << " bad; pass 2 (generic): " << pass2.size() << " plans, " << pass2_bad
        << " bad; "
        << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
        << " ms in all\n";
}

} // namespace
