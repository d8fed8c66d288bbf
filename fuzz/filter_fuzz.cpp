// libFuzzer target: the filter builder, its serialisation and hash, and what the engine makes of a
// filter (src/postgres/filter_sql.hpp: its WHERE clause; src/postgres/lock_keys.hpp: its lock keys and
// a call's lock plan). The input is a program of builder steps (see Program), run twice: once with
// every step on a temporary (std::move) and once on builders kept in variables, and once more on a
// model of the builder's rules. Asserted:
// - both runs and the model build the same filter; a reopened filter keeps its items;
// - serialisation is injective: two filters from one input serialise (and hash) alike only when equal;
// - the WHERE clause numbers its parameters from the first one asked for, each placeholder once, and
//   its text depends only on the filter's structure: a filter whose every name and value is changed
//   (prefixed) has the same clause, so no value ever reaches the SQL text;
// - the clause refuses exactly the filters holding a NUL byte or invalid UTF-8;
// - lock keys: an event matching any item of the filter writes under at least one of the filter's
//   keys; a lock plan is sorted, one request per key, exclusive on the writer's stripe of each writer
//   key and on every stripe of each reader key, or the global key's stripes when it would be too big.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <eventstore/error.hpp>
#include <eventstore/filter.hpp>

#include "core/json.hpp"
#include "postgres/filter_sql.hpp"
#include "postgres/lock_keys.hpp"

namespace {

using namespace eventstore;
namespace pg = eventstore::postgres::detail;

void require(bool condition, const char* what, const std::string& detail = {}) {
    if (!condition) {
        std::fprintf(stderr, "filter_fuzz: invariant broken: %s %s\n", what, detail.c_str());
        std::abort();
    }
}

// --- the input ------------------------------------------------------------------------------------------

// Byte 0 splits the rest of the input into two programs (two filters, for the injectivity check). A
// program is a sequence of steps, each one byte choosing among the steps the current builder state
// allows (modulo their number), then the step's arguments:
//   FilterBuilder                      op % 5: 0 matching, 1 matching_any_event, 2-4 occurred_from,
//                                      occurred_until, with_sequence_number_higher_than
//   EmptyFilterItemBuilder             op % 3: 0 any_event_type_of, 1 any_predicate_of, 2 all_predicates_of
//   the item states                    op % 7: 0 finalize, 1-2 or_matching, 3-4 the state's own step
//                                      (and_any_predicate_of, and_all_predicates_of; and_any_event_type_of;
//                                      or_matching), 5-6 a bound (op / 7 % 3, as above)
//   CompletedFilterItemBuilderWithOccurredFrom   op % 2: 0 and_occurred_until, 1 finalize
// Arguments: a list is an arity byte (% 4: one to three arguments, or 0 for a runtime list) and a count
// byte (a runtime list has count % 4 elements); a name is a byte below 0xC0, choosing from a small set,
// or 0xC0 + a length below 32 and that many raw bytes; a time is 8 bytes (nanoseconds since 1970), a
// sequence number 8 bytes and a shift. At the end of the program the builder is finished (an empty
// list completes an empty item). Missing bytes read as 0.
class Program {
public:
    Program(const std::uint8_t* data, std::size_t size) : m_data(data), m_size(size) {}

    [[nodiscard]] bool done() const { return m_pos >= m_size; }

    std::uint8_t byte() { return m_pos < m_size ? m_data[m_pos++] : 0; }

    std::uint64_t u64() {
        std::uint64_t v = 0;
        for (int i = 0; i < 8; ++i) {
            v = (v << 8U) | byte();
        }
        return v;
    }

    // Mostly names from a small set, so that equal names (duplicates, shared keys) are common; else
    // raw bytes, NUL and invalid UTF-8 included.
    std::string text() {
        static const std::vector<std::string> names = {"",         "A",
                                                       "B",        "C",
                                                       "a",        "b",
                                                       "k",        "v",
                                                       "BookID",   "ReaderID",
                                                       "x,y",      "a=b",
                                                       "%",        "%25",
                                                       "|",        "||",
                                                       ":",        "item:0",
                                                       "\xC3\xA9", "e'x",
                                                       "\"q\"",    "\\",
                                                       "$1",       "' OR 1=1 --",
                                                       "\xFF",     std::string("n\0l", 3)};
        const std::uint8_t b = byte();
        if (b < 0xC0) {
            return names[b % names.size()];
        }
        std::string s;
        const std::size_t length = b & 0x1FU;
        for (std::size_t i = 0; i < length; ++i) {
            s.push_back(static_cast<char>(byte()));
        }
        return s;
    }

    std::vector<std::string> texts(std::size_t min) {
        std::vector<std::string> all(min + byte() % 4);
        for (auto& t : all) {
            t = text();
        }
        return all;
    }

    std::vector<FilterPredicate> predicates(std::size_t min) {
        std::vector<FilterPredicate> all;
        const std::size_t n = min + byte() % 4;
        for (std::size_t i = 0; i < n; ++i) {
            std::string key = text();
            all.emplace_back(std::move(key), text());
        }
        return all;
    }

    TimePoint time() { return TimePoint(std::chrono::nanoseconds(static_cast<std::int64_t>(u64()))); }

private:
    const std::uint8_t* m_data;
    std::size_t m_size;
    std::size_t m_pos = 0;
};

// --- the model: the builder's rules, written again -----------------------------------------------------

struct ModelItem {
    std::vector<std::string> types;
    std::vector<FilterPredicate> predicates;
    bool all = false;
    std::vector<std::string> tags;
};

struct Model {
    std::vector<ModelItem> items;
    ModelItem current;
    bool has_current = true;
    std::optional<TimePoint> from;
    std::optional<TimePoint> until;
    SequenceNumber sequence = 0;

    void add_types(std::vector<std::string> types) {
        types.erase(std::remove(types.begin(), types.end(), std::string()), types.end());
        std::sort(types.begin(), types.end());
        types.erase(std::unique(types.begin(), types.end()), types.end());
        current.types.insert(current.types.end(), types.begin(), types.end());
    }
    void add_predicates(std::vector<FilterPredicate> predicates, bool all) {
        predicates.erase(std::remove_if(predicates.begin(), predicates.end(),
                                        [](const FilterPredicate& p) { return p.key().empty() || p.val().empty(); }),
                         predicates.end());
        std::stable_sort(predicates.begin(), predicates.end(),
                         [](const FilterPredicate& a, const FilterPredicate& b) { return a.key() < b.key(); });
        predicates.erase(std::unique(predicates.begin(), predicates.end()), predicates.end());
        current.predicates.insert(current.predicates.end(), predicates.begin(), predicates.end());
        current.all = all;
    }
    void add_tags(const std::vector<std::string>& tags) {
        current.tags.insert(current.tags.end(), tags.begin(), tags.end());
        std::sort(current.tags.begin(), current.tags.end());
        current.tags.erase(std::unique(current.tags.begin(), current.tags.end()), current.tags.end());
    }
    void next_item() {
        items.push_back(current);
        current = ModelItem();
    }
    [[nodiscard]] std::vector<ModelItem> final_items() const {
        std::vector<ModelItem> all = items;
        if (has_current) {
            all.push_back(current);
        }
        return all;
    }
};

void require_model(const Filter& f, const Model& m) {
    const std::vector<ModelItem> items = m.final_items();
    std::string model = "(model:";
    for (const ModelItem& item : items) {
        model += " [";
        for (const std::string& t : item.types) {
            model += t + ",";
        }
        model += item.all ? "] AND" : "] OR";
        for (const FilterPredicate& p : item.predicates) {
            model += " " + p.key() + "=" + p.val();
        }
    }
    const std::string shown = f.serialize() + " " + model + ")";
    require(f.items().size() == items.size(), "item count as the model's", shown);
    for (std::size_t i = 0; i < items.size(); ++i) {
        require(f.items()[i].event_types() == items[i].types, "event types as the model's", shown);
        require(f.items()[i].predicates() == items[i].predicates, "predicates as the model's", shown);
        require(f.items()[i].all_predicates_must_match() == items[i].all, "predicate logic as the model's", shown);
        require(f.items()[i].tags() == items[i].tags, "tags as the model's", shown);
    }
    require(f.occurred_from() == m.from && f.occurred_until() == m.until, "time bounds as the model's");
    require(f.sequence_number_higher_than() == m.sequence, "sequence bound as the model's");
}

// --- running a program through the builder ---------------------------------------------------------------

using State = std::variant<
    FilterBuilder, EmptyFilterItemBuilder, FilterItemBuilderLackingPredicates, FilterItemBuilderLackingEventTypes,
    CompletedFilterItemBuilder, CompletedFilterItemBuilderWithOccurredFrom, CompletedFilterItemBuilderWithOccurredUntil,
    CompletedFilterItemBuilderWithOccurredFromToUntil, CompletedFilterItemBuilderWithSequenceNumber, Filter>;

// A step on `b`: on a temporary (moved from) or on the builder as a variable (copied from), which must
// then be left as it was (checked by finalizing it again at the end).
template <typename B, typename Step>
State step(B& b, bool move, Step&& s) {
    if (move) {
        return State(s(std::move(b)));
    }
    const B& kept = b;
    return State(s(kept));
}

// any_event_type_of (on an empty item) or and_any_event_type_of, with one to three arguments or a
// runtime list.
template <typename B>
State types_step(B& b, bool move, Program& in, Model& m) {
    const std::uint8_t arity = in.byte() % 4;
    // A runtime list is never empty here: an empty one is refused (checked in check_empty_lists).
    std::vector<std::string> types = in.texts(arity == 0 ? 1 : arity);
    if (arity != 0) {
        types.resize(arity);
    }
    if (arity == 3) {
        types[2] = types[2].c_str(); // passed as a C string below: up to its first NUL
    }
    m.add_types(types);
    return step(b, move, [&](auto&& x) -> State {
        const auto call = [&](auto&&... args) -> State {
            if constexpr (std::is_same_v<B, EmptyFilterItemBuilder>) {
                return std::forward<decltype(x)>(x).any_event_type_of(args...);
            } else {
                return std::forward<decltype(x)>(x).and_any_event_type_of(args...);
            }
        };
        switch (arity) {
        case 1:
            return call(types[0]);
        case 2:
            return call(types[0], std::string_view(types[1]));
        case 3:
            return call(types[0], types[1], types[2].c_str());
        default:
            return call(std::span<const std::string>(types));
        }
    });
}

// all_tags_of (on an empty item) or and_all_tags_of, with one to three arguments or a runtime list; an
// empty tag is refused, so the program's empty texts become "t".
template <typename B>
State tags_step(B& b, bool move, Program& in, Model& m) {
    const std::uint8_t arity = in.byte() % 4;
    std::vector<std::string> tags = in.texts(arity == 0 ? 1 : arity);
    if (arity != 0) {
        tags.resize(arity);
    }
    for (std::string& tag : tags) {
        if (tag.empty()) {
            tag = "t";
        }
    }
    m.add_tags(tags);
    return step(b, move, [&](auto&& x) -> State {
        const auto call = [&](auto&&... args) -> State {
            if constexpr (std::is_same_v<B, EmptyFilterItemBuilder>) {
                return std::forward<decltype(x)>(x).all_tags_of(args...);
            } else {
                return std::forward<decltype(x)>(x).and_all_tags_of(args...);
            }
        };
        switch (arity) {
        case 1:
            return call(tags[0]);
        case 2:
            return call(tags[0], std::string_view(tags[1]));
        case 3:
            return call(tags[0], tags[1], tags[2]);
        default:
            return call(std::span<const std::string>(tags));
        }
    });
}

enum class PredicateStep { any, all, and_any, and_all };

// One of the predicate steps, with one to three arguments or a runtime list.
template <PredicateStep S, typename B>
State predicates_step(B& b, bool move, Program& in, Model& m) {
    const std::uint8_t arity = in.byte() % 4;
    std::vector<FilterPredicate> predicates = in.predicates(arity == 0 ? 1 : arity);
    if (arity != 0) {
        predicates.resize(arity, P("", ""));
    }
    m.add_predicates(predicates, S == PredicateStep::all || S == PredicateStep::and_all);
    return step(b, move, [&](auto&& x) -> State {
        const auto call = [&](auto&&... args) -> State {
            if constexpr (S == PredicateStep::any) {
                return std::forward<decltype(x)>(x).any_predicate_of(args...);
            } else if constexpr (S == PredicateStep::all) {
                return std::forward<decltype(x)>(x).all_predicates_of(args...);
            } else if constexpr (S == PredicateStep::and_any) {
                return std::forward<decltype(x)>(x).and_any_predicate_of(args...);
            } else {
                return std::forward<decltype(x)>(x).and_all_predicates_of(args...);
            }
        };
        switch (arity) {
        case 1:
            return call(predicates[0]);
        case 2:
            return call(predicates[0], predicates[1]);
        case 3:
            return call(predicates[0], predicates[1], predicates[2]);
        default:
            return call(std::span<const FilterPredicate>(predicates));
        }
    });
}

template <typename B>
State bound_step(B& b, bool move, Program& in, Model& m, std::uint8_t which) {
    switch (which % 3) {
    case 0: {
        const TimePoint t = in.time();
        m.from = t;
        return step(b, move, [&](auto&& x) { return std::forward<decltype(x)>(x).occurred_from(t); });
    }
    case 1: {
        const TimePoint t = in.time();
        m.until = t;
        return step(b, move, [&](auto&& x) { return std::forward<decltype(x)>(x).occurred_until(t); });
    }
    default: {
        const SequenceNumber n = in.u64() >> (in.byte() % 64);
        m.sequence = n;
        return step(b, move,
                    [&](auto&& x) { return std::forward<decltype(x)>(x).with_sequence_number_higher_than(n); });
    }
    }
}

template <typename B>
State finalize_step(B& b, bool move) {
    return step(b, move, [](auto&& x) { return State(std::forward<decltype(x)>(x).finalize()); });
}

// Runs `in` through the builder (steps on temporaries when `move`), alongside the model.
Filter build(Program in, bool move, Model& m) {
    State state = FilterBuilder();
    std::vector<State> kept; // the builders the copying run stepped from, checked unchanged at the end
    std::vector<Filter> kept_filters;
    while (!std::holds_alternative<Filter>(state)) {
        const bool last = in.done();
        const std::uint8_t op = in.byte();
        if (!move && !std::holds_alternative<FilterBuilder>(state) &&
            !std::holds_alternative<EmptyFilterItemBuilder>(state) && kept.size() < 8) {
            kept.push_back(state);
            kept_filters.push_back(std::visit(
                [](const auto& b) -> Filter {
                    if constexpr (requires { b.finalize(); }) {
                        return b.finalize();
                    } else {
                        return Filter();
                    }
                },
                state));
        }
        State next = std::visit(
            [&](auto& b) -> State {
                using B = std::remove_cvref_t<decltype(b)>;
                if constexpr (std::is_same_v<B, FilterBuilder>) {
                    switch (last ? 1 : op % 5) {
                    case 0:
                        return State(b.matching());
                    case 1:
                        m.has_current = false;
                        return State(b.matching_any_event());
                    default:
                        return bound_step(b, move, in, m, static_cast<std::uint8_t>(op % 5 - 2));
                    }
                } else if constexpr (std::is_same_v<B, EmptyFilterItemBuilder>) {
                    if (last) { // complete the item with a list the Go sanitising empties, then finalize
                        const std::vector<std::string> nothing{""};
                        m.add_types(nothing);
                        return State(std::move(b).any_event_type_of(std::span<const std::string>(nothing)));
                    }
                    switch (op % 4) {
                    case 0:
                        return types_step(b, move, in, m);
                    case 1:
                        return predicates_step<PredicateStep::any>(b, move, in, m);
                    case 2:
                        return predicates_step<PredicateStep::all>(b, move, in, m);
                    default:
                        return tags_step(b, move, in, m);
                    }
                } else if constexpr (std::is_same_v<B, FilterItemBuilderLackingPredicates> ||
                                     std::is_same_v<B, FilterItemBuilderLackingEventTypes> ||
                                     std::is_same_v<B, CompletedFilterItemBuilder>) {
                    if (last) {
                        return finalize_step(b, move);
                    }
                    switch (op % 7) {
                    case 0:
                        return finalize_step(b, move);
                    case 1:
                    case 2:
                        m.next_item();
                        return step(b, move, [](auto&& x) { return std::forward<decltype(x)>(x).or_matching(); });
                    case 3:
                    case 4:
                        if constexpr (std::is_same_v<B, FilterItemBuilderLackingPredicates>) {
                            if (op % 7 == 4) {
                                return predicates_step<PredicateStep::and_all>(b, move, in, m);
                            }
                            return predicates_step<PredicateStep::and_any>(b, move, in, m);
                        } else if constexpr (std::is_same_v<B, FilterItemBuilderLackingEventTypes>) {
                            if (op % 7 == 4) {
                                return tags_step(b, move, in, m);
                            }
                            return types_step(b, move, in, m);
                        } else {
                            if (op % 7 == 3) {
                                return tags_step(b, move, in, m);
                            }
                            m.next_item();
                            return step(b, move, [](auto&& x) { return std::forward<decltype(x)>(x).or_matching(); });
                        }
                    default: // the three bounds, by the op's higher digits
                        return bound_step(b, move, in, m, static_cast<std::uint8_t>(op / 7));
                    }
                } else if constexpr (std::is_same_v<B, CompletedFilterItemBuilderWithOccurredFrom>) {
                    if (!last && op % 2 == 0) {
                        const TimePoint t = in.time();
                        m.until = t;
                        return step(b, move,
                                    [&](auto&& x) { return std::forward<decltype(x)>(x).and_occurred_until(t); });
                    }
                    return finalize_step(b, move);
                } else if constexpr (std::is_same_v<B, Filter>) {
                    return State(b);
                } else {
                    return finalize_step(b, move);
                }
            },
            state);
        state = std::move(next);
    }
    for (std::size_t i = 0; i < kept.size(); ++i) {
        const Filter again = std::visit(
            [](const auto& b) -> Filter {
                if constexpr (requires { b.finalize(); }) {
                    return b.finalize();
                } else {
                    return Filter();
                }
            },
            kept[i]);
        require(again == kept_filters[i], "a step on a builder in a variable leaves it as it was");
    }
    return std::get<Filter>(std::move(state));
}

// --- the engine's view of a filter --------------------------------------------------------------------

bool storable(std::string_view s) {
    return s.find('\0') == std::string_view::npos && eventstore::detail::json::is_valid_utf8(s);
}

bool all_storable(const Filter& f) {
    for (const FilterItem& item : f.items()) {
        if (item.empty()) {
            continue; // dropped from the clause
        }
        for (const std::string& t : item.event_types()) {
            if (!storable(t)) {
                return false;
            }
        }
        for (const FilterPredicate& p : item.predicates()) {
            if (!storable(p.key()) || !storable(p.val())) {
                return false;
            }
        }
        for (const std::string& tag : item.tags()) {
            if (!storable(tag)) {
                return false;
            }
        }
    }
    return true;
}

// The filter with "Q" before every name and value: the same order, equalities and validity.
Filter prefixed(const Filter& f) {
    const auto q = [](const std::string& s) { return "Q" + s; };
    std::optional<CompletedFilterItemBuilder> builder;
    for (const FilterItem& item : f.items()) {
        std::vector<std::string> types;
        for (const std::string& t : item.event_types()) {
            types.push_back(q(t));
        }
        std::vector<FilterPredicate> predicates;
        for (const FilterPredicate& p : item.predicates()) {
            predicates.emplace_back(q(p.key()), q(p.val()));
        }
        std::vector<std::string> tags;
        for (const std::string& t : item.tags()) {
            tags.push_back(q(t));
        }
        // An empty runtime list is refused; one holding only names the Go sanitising drops is not, and
        // leaves the dimension empty, as the item had it.
        if (types.empty()) {
            types.emplace_back();
        }
        const bool no_predicates = predicates.empty();
        if (no_predicates) {
            predicates.emplace_back("", "");
        }
        EmptyFilterItemBuilder empty = builder ? std::move(*builder).or_matching() : build_event_filter().matching();
        if (no_predicates) {
            auto with_types = std::move(empty).any_event_type_of(types);
            builder.emplace(item.all_predicates_must_match() ? std::move(with_types).and_all_predicates_of(predicates)
                                                             : std::move(with_types).and_any_predicate_of(predicates));
        } else if (item.all_predicates_must_match()) {
            builder.emplace(std::move(empty).all_predicates_of(predicates).and_any_event_type_of(types));
        } else {
            builder.emplace(std::move(empty).any_predicate_of(predicates).and_any_event_type_of(types));
        }
        if (!tags.empty()) {
            builder.emplace(std::move(*builder).and_all_tags_of(tags));
        }
    }
    if (!builder) {
        return f;
    }
    require(!f.occurred_from() || !f.sequence_number_higher_than(), "time and sequence bounds exclude each other");
    if (f.occurred_from()) {
        if (f.occurred_until()) {
            return std::move(*builder)
                .occurred_from(*f.occurred_from())
                .and_occurred_until(*f.occurred_until())
                .finalize();
        }
        return std::move(*builder).occurred_from(*f.occurred_from()).finalize();
    }
    if (f.occurred_until()) {
        return std::move(*builder).occurred_until(*f.occurred_until()).finalize();
    }
    return std::move(*builder).with_sequence_number_higher_than(f.sequence_number_higher_than()).finalize();
}

// $n placeholders in `sql`, in order.
std::vector<int> placeholders(const std::string& sql) {
    std::vector<int> all;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        if (sql[i] == '$' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
            int n = 0;
            while (i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
                n = n * 10 + (sql[++i] - '0');
            }
            all.push_back(n);
        }
    }
    return all;
}

void check_clause(const Filter& f, int first_param) {
    const bool valid = all_storable(f);
    pg::FilterClause clause;
    try {
        clause = pg::filter_clause(f, first_param);
    } catch (const Error& e) {
        require(e.code() == Errc::invalid_filter, "the clause fails only as invalid_filter", e.what());
        require(!valid || std::string_view(e.what()).find("bind parameters") != std::string_view::npos,
                "a filter of storable names and values has a clause", e.what());
        return;
    }
    require(valid, "a filter holding NUL or invalid UTF-8 is refused", f.serialize());
    std::vector<int> found = placeholders(clause.sql);
    require(found.size() == clause.params.size(), "one placeholder per parameter", clause.sql);
    std::sort(found.begin(), found.end());
    for (std::size_t i = 0; i < found.size(); ++i) {
        require(found[i] == first_param + static_cast<int>(i), "placeholders numbered from the first", clause.sql);
    }
    require(clause.generic == pg::generic_plan_safe(f), "generic as generic_plan_safe says");
    const bool has_items =
        std::any_of(f.items().begin(), f.items().end(), [](const FilterItem& item) { return !item.empty(); });
    require(clause.has_items == has_items, "has_items when an item is not empty");

    const pg::FilterClause other = pg::filter_clause(prefixed(f), first_param);
    require(other.sql == clause.sql, "the clause's text depends only on the filter's structure",
            clause.sql + "\n  vs " + other.sql);
    require(other.params.size() == clause.params.size(), "as many parameters for the same structure");
}

// The string members of a payload that matches `item`, or false when no payload can (all of two
// different values for one key).
bool matching_members(const FilterItem& item, std::size_t pick, std::vector<std::pair<std::string, std::string>>& out) {
    const auto& predicates = item.predicates();
    if (predicates.empty()) {
        return true;
    }
    if (!item.all_predicates_must_match()) {
        const FilterPredicate& p = predicates[pick % predicates.size()];
        out.emplace_back(p.key(), p.val());
        return true;
    }
    for (const FilterPredicate& p : predicates) {
        for (const auto& [key, value] : out) {
            if (key == p.key() && value != p.val()) {
                return false;
            }
        }
        out.emplace_back(p.key(), p.val());
    }
    return true;
}

void check_locks(const Filter& f, Program& in) {
    std::vector<std::uint64_t> reader_keys;
    pg::add_filter_keys(f, reader_keys);
    require(!reader_keys.empty(), "every filter has a key");
    const std::set<std::uint64_t> filter_keys(reader_keys.begin(), reader_keys.end());

    // An event that matches an item (any event, for a filter without non-empty items) writes under at
    // least one of the filter's keys: the lock protocol's premise.
    std::vector<std::uint64_t> writer_keys;
    bool writes = false;
    const bool unconstrained =
        std::none_of(f.items().begin(), f.items().end(), [](const FilterItem& item) { return !item.empty(); });
    if (unconstrained) {
        std::vector<std::uint64_t> keys;
        pg::add_event_keys("AnyType", {}, {}, keys);
        require(std::any_of(keys.begin(), keys.end(), [&](std::uint64_t k) { return filter_keys.count(k) != 0; }),
                "any event writes under the key of a filter that matches everything");
    }
    for (const FilterItem& item : f.items()) {
        if (item.empty()) {
            continue;
        }
        const std::size_t pick = in.byte();
        std::vector<std::pair<std::string, std::string>> members;
        if (!matching_members(item, pick, members)) {
            continue;
        }
        members.emplace_back("Other", "member"); // payloads may hold more
        const std::string type =
            item.event_types().empty() ? std::string("AnyType") : item.event_types()[pick % item.event_types().size()];
        // The event carries the item's tags, and maybe more.
        std::vector<std::string> tags = item.tags();
        tags.emplace_back("other:tag");
        std::vector<std::uint64_t> keys;
        pg::add_event_keys(type, members, tags, keys);
        require(std::any_of(keys.begin(), keys.end(), [&](std::uint64_t k) { return filter_keys.count(k) != 0; }),
                "an event matching an item writes under one of the filter's keys", f.serialize());
        if (!writes || in.byte() % 2 == 0) {
            writer_keys = keys;
            writes = true;
        }
    }
    if (in.byte() % 4 == 0) {
        writer_keys.clear(); // a read
    }

    const std::uint32_t stripe = in.byte();
    const std::vector<pg::LockRequest> plan = pg::plan_locks(reader_keys, writer_keys, stripe);
    // The plan, planned again: exclusive on the writer's stripe of each writer key, shared on every
    // stripe of each reader key unless exclusive already; or, when that is too many, every stripe of
    // the global key, exclusive when the call writes.
    std::map<std::int64_t, bool> expected;
    for (const std::uint64_t k : writer_keys) {
        expected[static_cast<std::int64_t>(k | (stripe % pg::lock_stripes))] = true;
    }
    for (const std::uint64_t k : reader_keys) {
        for (std::uint64_t s = 0; s < pg::lock_stripes; ++s) {
            expected.emplace(static_cast<std::int64_t>(k | s), false);
        }
    }
    if (expected.size() > pg::max_advisory_locks) {
        expected.clear();
        for (std::uint64_t s = 0; s < pg::lock_stripes; ++s) {
            expected.emplace(static_cast<std::int64_t>(pg::global_key() | s), !writer_keys.empty());
        }
    }
    require(plan.size() == expected.size(), "the lock plan's size");
    auto it = expected.begin();
    for (const pg::LockRequest& r : plan) {
        require(r.key == it->first && r.exclusive == it->second, "the lock plan's requests, in key order");
        ++it;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    // Two programs: bytes 1..split and split..size.
    const std::size_t split = 1 + (size - 1) * data[0] / 256;
    Filter filters[2];
    for (int which = 0; which < 2; ++which) {
        const std::uint8_t* begin = which == 0 ? data + 1 : data + split;
        const std::size_t length = which == 0 ? split - 1 : size - split;
        Model moving_model;
        Model copying_model;
        const Filter moved = build(Program(begin, length), true, moving_model);
        const Filter copied = build(Program(begin, length), false, copying_model);
        require(moved == copied, "steps on temporaries and on variables build the same filter",
                moved.serialize() + " / " + copied.serialize());
        require_model(moved, moving_model);
        filters[which] = moved;

        const std::string hash = moved.hash();
        require(hash.size() == 71 && hash.rfind("sha256:", 0) == 0, "a hash is sha256: and 64 hex digits");
        if (!moved.occurred_from() && !moved.occurred_until()) {
            const auto reopened = moved.reopen_for_sequence_filtering();
            require(std::holds_alternative<SequenceFilteringCapable>(reopened), "no time bounds: reopenable");
            const Filter next =
                std::get<SequenceFilteringCapable>(reopened).with_sequence_number_higher_than(7).finalize();
            require(next.items() == moved.items() && next.sequence_number_higher_than() == 7,
                    "a reopened filter keeps its items");
        } else {
            require(std::holds_alternative<SequenceFilteringIncompatible>(moved.reopen_for_sequence_filtering()),
                    "time bounds: not reopenable");
        }
        Program rest(begin, length);
        check_clause(moved, 1 + data[0] % 40);
        check_locks(moved, rest);
    }
    const bool equal = filters[0] == filters[1];
    require(equal == (filters[0].serialize() == filters[1].serialize()), "serialisation is injective",
            filters[0].serialize() + " / " + filters[1].serialize());
    require(equal == (filters[0].hash() == filters[1].hash()), "equal hashes for equal filters only");
    return 0;
}
