// The in-memory store as the model of the PostgreSQL engine: both are driven by the same seeded random
// operations (appends with fresh or stale conditions, retries and misuses of event ids, bad input,
// queries with random filters and read options, decide_and_append, snapshots) and must answer each
// alike. The engine's positions may have gaps, so they are compared through a map from each engine
// position to the memory position of the same event, built as events are appended; documents are
// compared as JSON values, since the engine returns jsonb text.
//
// EVENTSTORE_MODEL_OPS sets the operations per seed (default 500); EVENTSTORE_MODEL_SEED replaces the
// seeds, to replay the one a failure printed. Single-threaded: the point is the semantics, not races.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <eventstore/memory.hpp>

#include "integration/fixture.hpp"

namespace eventstore::test {
namespace {

using Strings = std::vector<std::string>;

// --- vocabularies --------------------------------------------------------------------------------------

const std::array<std::string, 5> type_words{"A", "B", "C", "D", "\xc3\x89v\xc3\xa9nement"};
// Tags a text[] literal must quote, beside plain ones.
const std::array<std::string, 7> tag_words{"t1", "t2", "t3", "NULL", "a,b", "q\"\\{}", "\xc3\xa9"};

// A string and the ways JSON may spell it: the same value for jsonb.
struct Word {
    std::string value;
    Strings spellings;
};
const std::array<Word, 3> key_words{Word{"k1", {R"("k1")", R"("\u006b1")"}}, Word{"k2", {R"("k2")", R"("k\u0032")"}},
                                    Word{"k3", {R"("k3")"}}};
const std::array<Word, 6> value_words{
    Word{"v1", {R"("v1")", R"("\u0076\u0031")"}},
    Word{"v2", {R"("v2")", R"("v\u0032")"}},
    Word{"\xc3\xa9", {"\"\xc3\xa9\"", R"("\u00e9")", R"("\u00E9")"}},
    Word{"a\"b", {R"("a\"b")", R"("a\u0022b")"}},
    Word{"a/b", {R"("a/b")", R"("a\/b")"}},
    Word{"\xf0\x9f\x98\x80", {"\"\xf0\x9f\x98\x80\"", R"("\ud83d\ude00")", R"("\uD83D\uDE00")"}}};
// Values no predicate matches (a predicate matches strings only), each with its spellings.
const std::array<Strings, 5> other_values{Strings{"1", "1.0", "10e-1", "0.1E+1"}, Strings{R"(["v1"])", R"([ "v1" ])"},
                                          Strings{R"({"k1":"v1"})"}, Strings{"null"}, Strings{"true"}};

// A time as seconds and nanoseconds from a base, the nanoseconds straddling microsecond boundaries.
const std::array<std::int64_t, 6> nanos{0, 1, 999, 1'000, 1'500, 999'999};

TimePoint time_at(int second, std::size_t nano) {
    // Before the epoch too: both stores round down, not toward zero.
    const std::chrono::seconds base(second < 0 ? -1 : 1'700'000'000);
    return TimePoint(base + std::chrono::seconds(second) + std::chrono::nanoseconds(nanos[nano]));
}

// --- what the random operations are made of -------------------------------------------------------------

// One payload member: a key and a value (a string of the vocabulary or another value), optionally
// preceded by the same key with another value, which jsonb drops (the last of duplicates wins).
struct Member {
    std::size_t key = 0;
    bool is_string = true;
    std::size_t value = 0;
    std::optional<std::size_t> shadowed; // the string value written first under the same key
};

struct EventSpec {
    std::string type;
    Strings tags;
    std::vector<Member> members;
    std::string id; // "" for none
    bool metadata = false;
    int second = 0;
    std::size_t nano = 0;
};

struct ItemSpec {
    Strings types;
    std::vector<FilterPredicate> predicates;
    bool all_predicates = false;
    Strings tags;
};

// A position of the log in both stores.
struct Position {
    SequenceNumber memory = 0;
    SequenceNumber engine = 0;
};

struct FilterSpec {
    std::vector<ItemSpec> items;
    std::optional<TimePoint> from;
    std::optional<TimePoint> until;
    std::optional<Position> higher_than;
};

enum class Side { engine, memory };

// The filter of a spec, as one store is to read it (only the sequence bound differs).
template <typename State>
Filter close(State&& state, const FilterSpec& spec, Side side) {
    if (spec.higher_than) {
        const SequenceNumber n = side == Side::engine ? spec.higher_than->engine : spec.higher_than->memory;
        return std::forward<State>(state).with_sequence_number_higher_than(n).finalize();
    }
    if (spec.from && spec.until) {
        return std::forward<State>(state).occurred_from(*spec.from).and_occurred_until(*spec.until).finalize();
    }
    if (spec.from) {
        return std::forward<State>(state).occurred_from(*spec.from).finalize();
    }
    if (spec.until) {
        return std::forward<State>(state).occurred_until(*spec.until).finalize();
    }
    return std::forward<State>(state).finalize();
}

Filter build_items(EmptyFilterItemBuilder builder, const FilterSpec& spec, std::size_t i, Side side) {
    const ItemSpec& item = spec.items[i];
    const auto next = [&](auto state) -> Filter {
        if (i + 1 < spec.items.size()) {
            return build_items(std::move(state).or_matching(), spec, i + 1, side);
        }
        return close(std::move(state), spec, side);
    };
    const auto with_tags = [&](auto state) -> Filter {
        if (!item.tags.empty()) {
            state = std::move(state).and_all_tags_of(std::span<const std::string>(item.tags));
        }
        return next(std::move(state));
    };
    const std::span<const FilterPredicate> predicates(item.predicates);
    if (!item.types.empty()) {
        auto typed = std::move(builder).any_event_type_of(std::span<const std::string>(item.types));
        if (predicates.empty()) {
            return with_tags(std::move(typed));
        }
        return with_tags(item.all_predicates ? std::move(typed).and_all_predicates_of(predicates)
                                             : std::move(typed).and_any_predicate_of(predicates));
    }
    if (!predicates.empty()) {
        return with_tags(item.all_predicates ? std::move(builder).all_predicates_of(predicates)
                                             : std::move(builder).any_predicate_of(predicates));
    }
    return next(std::move(builder).all_tags_of(std::span<const std::string>(item.tags)));
}

Filter build(const FilterSpec& spec, Side side) {
    if (!spec.items.empty()) {
        return build_items(build_event_filter().matching(), spec, 0, side);
    }
    if (spec.higher_than) {
        const SequenceNumber n = side == Side::engine ? spec.higher_than->engine : spec.higher_than->memory;
        return build_event_filter().with_sequence_number_higher_than(n).finalize();
    }
    if (spec.from && spec.until) {
        return build_event_filter().occurred_from(*spec.from).and_occurred_until(*spec.until).finalize();
    }
    if (spec.from) {
        return build_event_filter().occurred_from(*spec.from).finalize();
    }
    if (spec.until) {
        return build_event_filter().occurred_until(*spec.until).finalize();
    }
    return Filter();
}

// For failure messages; invalid UTF-8 (bad input on purpose) shows as U+FFFD.
std::string quoted(const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string describe(const FilterSpec& spec) {
    std::ostringstream out;
    out << "filter{";
    for (std::size_t i = 0; i < spec.items.size(); ++i) {
        const ItemSpec& item = spec.items[i];
        out << (i > 0 ? " OR " : "") << "(";
        for (const std::string& t : item.types) {
            out << "type " << t << " ";
        }
        for (const FilterPredicate& p : item.predicates) {
            out << (item.all_predicates ? "all " : "any ") << quoted(p.key()) << "=" << quoted(p.val()) << " ";
        }
        for (const std::string& t : item.tags) {
            out << "tag " << quoted(t) << " ";
        }
        out << ")";
    }
    if (spec.from) {
        out << " from " << rfc3339_utc(*spec.from);
    }
    if (spec.until) {
        out << " until " << rfc3339_utc(*spec.until);
    }
    if (spec.higher_than) {
        out << " after memory " << spec.higher_than->memory << "/engine " << spec.higher_than->engine;
    }
    return out.str() + "}";
}

std::string describe(const StorableEvent& e) {
    std::string out = e.event_type + " " + e.payload_json;
    for (const std::string& t : e.tags) {
        out += " #" + quoted(t);
    }
    if (!e.id.empty()) {
        out += " id " + e.id;
    }
    return out + " at " + rfc3339_utc(e.occurred_at);
}

std::string describe(std::span<const StorableEvent> events) {
    std::string out = "[";
    for (const StorableEvent& e : events) {
        out += (out.size() > 1 ? "; " : "") + describe(e);
    }
    return out + "]";
}

// What a call did: returned, conflicted or failed (with which codes), and what it returned.
struct Outcome {
    enum class Kind { returned, conflict, failed } kind = Kind::returned;
    Errc code = Errc::concurrency_conflict;
    std::optional<Errc> cause;
    std::string what;
    AppendResult appended;
    QueryResult read;
    std::optional<Snapshot> snapshot;
    std::size_t decided_on = 0; // events decide_and_append's decision read

    [[nodiscard]] std::string text() const {
        switch (kind) {
        case Kind::returned:
            return "returned";
        case Kind::conflict:
            return "ConcurrencyConflict";
        case Kind::failed:
            return "Error " + std::string(name(code)) + (cause ? " <- " + std::string(name(*cause)) : "") + ": " + what;
        }
        return "?";
    }
};

template <typename Body>
Outcome attempt(Body&& body) {
    Outcome o;
    try {
        body(o);
    } catch (const ConcurrencyConflict& e) {
        o.kind = Outcome::Kind::conflict;
        o.code = e.code();
        o.what = e.what();
    } catch (const Error& e) {
        o.kind = Outcome::Kind::failed;
        o.code = e.code();
        o.cause = e.cause();
        o.what = e.what();
    }
    return o;
}

std::size_t env_count(const char* name, std::size_t fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? static_cast<std::size_t>(std::stoull(value)) : fallback;
}

// --- the test --------------------------------------------------------------------------------------------

class MemoryModel : public StoreTest, public ::testing::WithParamInterface<std::uint64_t> {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        m_memory = memory::new_event_store();
    }

    // Runs the seed's operations until the stores disagree (the failure is reported); returns how many ran.
    std::size_t run(std::uint64_t seed, std::size_t ops) {
        m_seed = seed;
        m_rng.seed(seed);
        for (m_op = 0; m_op < ops && !m_diverged; ++m_op) {
            const std::size_t roll = pick(100);
            if (roll < 28) {
                m_kind = "append";
                append_new();
            } else if (roll < 36) {
                m_kind = "retry";
                retry();
            } else if (roll < 42) {
                m_kind = "misuse";
                misuse_id();
            } else if (roll < 46) {
                m_kind = "bad input";
                bad_input();
            } else if (roll < 86) {
                m_kind = "query";
                query();
            } else if (roll < 91) {
                m_kind = "decide";
                decide();
            } else {
                m_kind = "snapshot";
                snapshot();
            }
            if (m_op % 50 == 49) {
                compare_logs();
            }
        }
        compare_logs();
        return m_op;
    }

    // Outcomes seen, by operation: what the run exercised. An already_stored append counts among the
    // returned ones too.
    std::map<std::string, std::size_t> m_tally;

private:
    // --- randomness ----------------------------------------------------------------------------------
    std::size_t pick(std::size_t n) { return static_cast<std::size_t>(m_rng() % n); }
    bool chance(std::size_t percent) { return pick(100) < percent; }
    template <typename T>
    const T& one_of(std::span<const T> values) {
        return values[pick(values.size())];
    }

    Strings some_tags(std::size_t max) {
        Strings tags;
        const std::size_t n = pick(max + 1);
        for (std::size_t i = 0; i < n; ++i) {
            tags.push_back(tag_words[pick(tag_words.size())]);
        }
        return tags;
    }

    std::vector<Member> some_members() {
        std::vector<Member> members;
        const std::size_t n = pick(4);
        for (std::size_t i = 0; i < n; ++i) {
            Member m;
            m.key = pick(key_words.size());
            m.is_string = chance(80);
            m.value = pick(m.is_string ? value_words.size() : other_values.size());
            if (chance(10)) {
                m.shadowed = pick(value_words.size());
            }
            members.push_back(m);
        }
        return members;
    }

    // A payload of the members, spelled at random: the same jsonb value whatever the draw.
    std::string render(const std::vector<Member>& members) {
        std::string out = "{";
        const auto member = [&](std::size_t key, const std::string& value) {
            if (out.size() > 1) {
                out += chance(30) ? "\n\t, " : ",";
            }
            out += one_of(std::span<const std::string>(key_words[key].spellings));
            out += chance(30) ? ": " : ":";
            out += value;
        };
        for (const Member& m : members) {
            if (m.shadowed) {
                member(m.key, one_of(std::span<const std::string>(value_words[*m.shadowed].spellings)));
            }
            member(m.key, m.is_string ? one_of(std::span<const std::string>(value_words[m.value].spellings))
                                      : one_of(std::span<const std::string>(other_values[m.value])));
        }
        return out + "}";
    }

    std::string new_id() {
        std::string id = make_uuid(++m_ids);
        if (chance(20)) {
            std::transform(id.begin(), id.end(), id.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
        }
        return id;
    }

    EventSpec new_event(bool with_id) {
        EventSpec e;
        e.type = type_words[pick(type_words.size())];
        e.tags = some_tags(3);
        e.members = some_members();
        e.id = with_id ? new_id() : "";
        e.metadata = chance(30);
        e.second = static_cast<int>(pick(6)) - 1;
        e.nano = pick(nanos.size());
        return e;
    }

    StorableEvent make(const EventSpec& spec) {
        StorableEvent e;
        e.event_type = spec.type;
        e.occurred_at = time_at(spec.second, spec.nano);
        e.payload_json = render(spec.members);
        e.metadata_json = spec.metadata ? R"({"m":"x"})" : "{}";
        e.tags = spec.tags;
        e.id = spec.id;
        return e;
    }

    Position random_position(bool beyond) {
        const SequenceNumber last = m_engine_at.size() - 1;
        const SequenceNumber p = pick(last + (beyond ? 2 : 1));
        if (p <= last) {
            return {p, m_engine_at[p]};
        }
        return {p, m_engine_at.back() + 1};
    }

    FilterSpec random_filter() {
        FilterSpec spec;
        const std::size_t items = chance(12) ? 0 : 1 + pick(chance(70) ? 1 : 3);
        for (std::size_t i = 0; i < items; ++i) {
            ItemSpec item;
            if (chance(60)) {
                for (std::size_t n = 1 + pick(2); n > 0; --n) {
                    item.types.push_back(type_words[pick(type_words.size())]);
                }
            }
            if (chance(40)) {
                for (std::size_t n = 1 + pick(2); n > 0; --n) {
                    const bool matching = chance(90);
                    item.predicates.push_back(
                        P(key_words[pick(key_words.size())].value,
                          matching ? value_words[pick(value_words.size())].value : std::string("1")));
                }
                item.all_predicates = chance(40);
            }
            if (chance(40) || (item.types.empty() && item.predicates.empty())) {
                item.tags = some_tags(2);
                if (item.tags.empty()) {
                    item.tags.push_back(tag_words[pick(tag_words.size())]);
                }
            }
            spec.items.push_back(std::move(item));
        }
        const std::size_t bounds = pick(100);
        if (bounds < 10 && m_engine_at.size() > 1) {
            spec.higher_than = random_position(false);
            if (spec.higher_than->memory == 0) {
                spec.higher_than.reset(); // 0 is no bound
            }
        } else if (bounds < 30) {
            const auto random_time = [&] { return time_at(static_cast<int>(pick(6)) - 1, pick(nanos.size())); };
            if (chance(70)) {
                spec.from = random_time();
            }
            if (chance(70) || !spec.from) {
                spec.until = random_time();
            }
        }
        return spec;
    }

    // --- comparing -----------------------------------------------------------------------------------

    // Reports a disagreement with the seed and the last operations, and stops the run: the position
    // map may no longer hold.
    void diverged(const std::string& what) {
        std::string recent;
        const std::size_t first = m_trace.size() > 12 ? m_trace.size() - 12 : 0;
        for (std::size_t i = first; i < m_trace.size(); ++i) {
            recent += "  " + m_trace[i] + "\n";
        }
        ADD_FAILURE() << "the stores disagree (seed " << m_seed << ", operation " << m_op << "): " << what
                      << "\nlast operations:\n"
                      << recent;
        m_diverged = true;
    }

    void trace(std::string what) { m_trace.push_back("#" + std::to_string(m_op) + " " + std::move(what)); }

    // Whether the memory position corresponds to the engine's.
    bool same_position(SequenceNumber engine, SequenceNumber memory) const {
        const auto found = m_memory_at.find(engine);
        return found != m_memory_at.end() && found->second == memory;
    }

    static bool same_json(const std::string& a, const std::string& b) {
        return nlohmann::json::parse(a) == nlohmann::json::parse(b);
    }

    // The differences between the same events read from each store, or "".
    std::string event_difference(const StorableEvent& engine, const StorableEvent& memory) const {
        if (!same_position(engine.sequence_number, memory.sequence_number)) {
            return "engine position " + std::to_string(engine.sequence_number) + " is not memory position " +
                   std::to_string(memory.sequence_number);
        }
        if (engine.event_type != memory.event_type || engine.tags != memory.tags || engine.id != memory.id ||
            engine.occurred_at != memory.occurred_at || !same_json(engine.payload_json, memory.payload_json) ||
            !same_json(engine.metadata_json, memory.metadata_json)) {
            return "engine has " + describe(engine) + ", memory " + describe(memory);
        }
        return {};
    }

    bool same_reads(const QueryResult& engine, const QueryResult& memory, const std::string& what) {
        if (!same_position(engine.max_sequence_number, memory.max_sequence_number)) {
            diverged(what + ": max_sequence_number " + std::to_string(engine.max_sequence_number) + " (engine) vs " +
                     std::to_string(memory.max_sequence_number) + " (memory)");
            return false;
        }
        if (engine.events.size() != memory.events.size()) {
            diverged(what + ": " + std::to_string(engine.events.size()) + " events (engine) vs " +
                     std::to_string(memory.events.size()) + " (memory)\n  engine: " + describe(engine.events) +
                     "\n  memory: " + describe(memory.events));
            return false;
        }
        for (std::size_t i = 0; i < engine.events.size(); ++i) {
            if (std::string d = event_difference(engine.events[i], memory.events[i]); !d.empty()) {
                diverged(what + ": event " + std::to_string(i) + ": " + d);
                return false;
            }
        }
        return true;
    }

    bool same_outcome(const Outcome& engine, const Outcome& memory, const std::string& what, const char* step) {
        if (engine.kind != memory.kind ||
            (engine.kind == Outcome::Kind::failed && (engine.code != memory.code || engine.cause != memory.cause))) {
            diverged(what + ": engine " + engine.text() + "; memory " + memory.text());
            return false;
        }
        ++m_tally[m_kind + step + ": " +
                  (engine.kind == Outcome::Kind::failed ? std::string(name(engine.cause.value_or(engine.code)))
                                                        : engine.text())];
        return true;
    }

    // Runs `call` on both stores and compares what they did.
    template <typename Call>
    std::optional<std::pair<Outcome, Outcome>> both(const std::string& what, Call&& call, const char* step = "") {
        Outcome engine = attempt([&](Outcome& o) { call(store(), Side::engine, o); });
        Outcome memory = attempt([&](Outcome& o) { call(*m_memory, Side::memory, o); });
        if (!same_outcome(engine, memory, what, step)) {
            return std::nullopt;
        }
        return std::make_pair(std::move(engine), std::move(memory));
    }

    void compare_logs() {
        if (m_diverged) {
            return;
        }
        const QueryResult engine = store().query(Filter());
        const QueryResult memory = m_memory->query(Filter());
        if (same_reads(engine, memory, "the whole log") && memory.events.size() + 1 != m_engine_at.size()) {
            diverged("the memory store holds " + std::to_string(memory.events.size()) + " events, the map " +
                     std::to_string(m_engine_at.size() - 1));
        }
    }

    // --- operations --------------------------------------------------------------------------------

    struct Expected {
        Position max;
        std::string how;
    };

    // The expected maximum for an append on `spec`: each store's current one (read now, and compared),
    // or a stale or wrong one.
    std::optional<Expected> condition(const FilterSpec& spec) {
        const std::size_t roll = pick(100);
        if (roll < 60) {
            const auto read = both(
                "condition read " + describe(spec),
                [&](EventStore& s, Side side, Outcome& o) { o.read = s.query(build(spec, side)); }, " (its read)");
            if (!read || !same_reads(read->first.read, read->second.read, "condition read " + describe(spec))) {
                return std::nullopt;
            }
            return Expected{{read->second.read.max_sequence_number, read->first.read.max_sequence_number}, "current"};
        }
        if (roll < 90) {
            const Position p = random_position(false);
            return Expected{p, "stale " + std::to_string(p.memory)};
        }
        const Position p = random_position(true);
        return Expected{p, "maybe beyond " + std::to_string(p.memory)};
    }

    // Appends the events (the same on both stores) under the condition, compares, and maps the new
    // positions. Returns whether both stored them as new events.
    bool append(const std::vector<StorableEvent>& events, const std::string& kind) {
        const FilterSpec spec = random_filter();
        const std::optional<Expected> expected = condition(spec);
        if (!expected) {
            return false;
        }
        const std::string what =
            kind + " " + describe(events) + " if " + describe(spec) + " at " + expected->how + " max";
        trace(what);
        const auto outcome = both(what, [&](EventStore& s, Side side, Outcome& o) {
            o.appended =
                s.append(build(spec, side), side == Side::engine ? expected->max.engine : expected->max.memory, events);
        });
        if (!outcome) {
            return false;
        }
        const auto& [engine, memory] = *outcome;
        if (engine.kind != Outcome::Kind::returned) {
            return false;
        }
        if (engine.appended.already_stored != memory.appended.already_stored) {
            diverged(what + ": already_stored " + std::to_string(engine.appended.already_stored) + " (engine) vs " +
                     std::to_string(memory.appended.already_stored) + " (memory)");
            return false;
        }
        if (engine.appended.already_stored) {
            ++m_tally[m_kind + ": already_stored"];
            if (!same_position(engine.appended.last_sequence_number, memory.appended.last_sequence_number)) {
                diverged(what + ": a retry's position " + std::to_string(engine.appended.last_sequence_number) +
                         " (engine) vs " + std::to_string(memory.appended.last_sequence_number) + " (memory)");
            }
            return false;
        }
        return map_new_events(events.size(), engine.appended, memory.appended, what);
    }

    // The stores' newest `n` events are the ones just appended: pairs their positions.
    bool map_new_events(std::size_t n, const AppendResult& engine, const AppendResult& memory,
                        const std::string& what) {
        const ReadOptions newest{0, true, n};
        const QueryResult e = store().query(Context(), Filter(), newest);
        const QueryResult m = m_memory->query(Context(), Filter(), newest);
        const SequenceNumber before = m_engine_at.size() - 1;
        if (e.events.size() != n || m.events.size() != n || m.max_sequence_number != before + n ||
            e.max_sequence_number != engine.last_sequence_number ||
            m.max_sequence_number != memory.last_sequence_number ||
            e.events.back().sequence_number <= m_engine_at.back()) {
            diverged(what + ": the appended events are not the newest (engine last " +
                     std::to_string(engine.last_sequence_number) + ", memory last " +
                     std::to_string(memory.last_sequence_number) + ")");
            return false;
        }
        for (std::size_t i = n; i > 0; --i) {
            m_engine_at.push_back(e.events[i - 1].sequence_number);
            m_memory_at[e.events[i - 1].sequence_number] = m.events[i - 1].sequence_number;
        }
        return same_reads(e, m, what + " (read back)");
    }

    void append_new() {
        const std::size_t n = 1 + pick(3);
        const std::size_t id_mode = pick(100); // none, all, or some of the events with ids
        std::vector<EventSpec> specs;
        std::vector<StorableEvent> events;
        for (std::size_t i = 0; i < n; ++i) {
            const bool with_id = id_mode < 40 ? false : id_mode < 85 ? true : chance(50);
            specs.push_back(new_event(with_id));
            events.push_back(make(specs.back()));
        }
        const bool stored = append(events, "append");
        m_submitted.push_back(Submitted{specs, events});
        if (stored) {
            for (const EventSpec& spec : specs) {
                if (!spec.id.empty()) {
                    m_stored_with_id.push_back(spec);
                }
            }
        }
    }

    // A submitted append again: as it was, rebuilt (same events, other spellings), or part of it.
    void retry() {
        if (m_submitted.empty()) {
            return append_new();
        }
        const Submitted& original = m_submitted[pick(m_submitted.size())];
        std::vector<StorableEvent> events;
        std::string kind = "retry";
        const std::size_t roll = pick(100);
        if (roll < 40) {
            events = original.events;
        } else {
            kind = "rebuilt retry";
            for (EventSpec spec : original.specs) {
                std::shuffle(spec.tags.begin(), spec.tags.end(), m_rng);
                if (!spec.tags.empty() && chance(30)) {
                    spec.tags.push_back(spec.tags.front());
                }
                if (chance(50)) {
                    std::transform(spec.id.begin(), spec.id.end(), spec.id.begin(),
                                   [](char c) { return static_cast<char>(std::toupper(c)); });
                }
                spec.metadata = chance(50);
                spec.second = static_cast<int>(pick(6)) - 1;
                events.push_back(make(spec));
            }
            if (roll >= 80 && events.size() > 1) {
                kind = "partial retry";
                if (chance(50)) {
                    std::reverse(events.begin(), events.end());
                } else {
                    events.erase(events.begin() + static_cast<std::ptrdiff_t>(pick(events.size())));
                }
            }
        }
        (void)append(events, kind);
    }

    // An id stored already, for another event or beside new ones.
    void misuse_id() {
        if (m_stored_with_id.empty()) {
            return append_new();
        }
        EventSpec reused = m_stored_with_id[pick(m_stored_with_id.size())];
        std::vector<StorableEvent> events;
        std::string kind;
        switch (pick(6)) {
        case 0:
            kind = "id reused, other payload";
            reused.members = some_members(); // may by chance be the same value: then a retry
            events.push_back(make(reused));
            break;
        case 1:
            kind = "id reused, other type";
            reused.type = reused.type == "A" ? "B" : "A";
            events.push_back(make(reused));
            break;
        case 2:
            kind = "id reused, other tags";
            reused.tags = some_tags(3);
            events.push_back(make(reused));
            break;
        case 3:
            kind = "stored id beside a new event";
            events.push_back(make(reused));
            events.push_back(make(new_event(chance(50))));
            if (chance(50)) {
                std::reverse(events.begin(), events.end());
            }
            break;
        case 4: {
            // Events of two appends, given together: each id is stored, for that event.
            kind = "stored events of two appends together";
            events.push_back(make(reused));
            events.push_back(make(m_stored_with_id[pick(m_stored_with_id.size())]));
            break;
        }
        default:
            kind = "one id twice in one append";
            events.push_back(make(reused));
            events.push_back(make(reused));
            break;
        }
        (void)append(events, kind);
    }

    void bad_input() {
        StorableEvent good = make(new_event(chance(50)));
        StorableEvent bad = make(new_event(false));
        FilterSpec spec = random_filter();
        std::string kind;
        switch (pick(6)) {
        case 0:
            kind = "empty tag";
            bad.tags.push_back("");
            break;
        case 1:
            kind = "tag with NUL";
            bad.tags.push_back(std::string("t\0u", 3));
            break;
        case 2:
            kind = "tag not UTF-8";
            bad.tags.insert(bad.tags.begin(), "\xc3");
            break;
        case 3:
            kind = "id not a UUID";
            bad.id = make_uuid(1).substr(1);
            break;
        default:
            kind = "filter tag with NUL";
            spec.items.push_back(ItemSpec{{}, {}, false, {std::string("t\0u", 3)}});
            break;
        }
        const std::vector<StorableEvent> events =
            chance(50) ? std::vector<StorableEvent>{good, bad} : std::vector<StorableEvent>{bad};
        const std::string what = kind + ": append " + describe(events) + " if " + describe(spec);
        trace(what);
        (void)both(what,
                   [&](EventStore& s, Side side, Outcome& o) { o.appended = s.append(build(spec, side), 0, events); });
        if (!m_diverged && kind == "filter tag with NUL") {
            (void)both(kind + ": query",
                       [&](EventStore& s, Side side, Outcome& o) { o.read = s.query(build(spec, side)); });
        }
    }

    void query() {
        const FilterSpec spec = random_filter();
        ReadOptions memory_options;
        ReadOptions engine_options;
        if (chance(50)) {
            const Position from = random_position(true);
            memory_options.from = from.memory;
            engine_options.from = from.engine;
        }
        memory_options.backwards = engine_options.backwards = chance(50);
        memory_options.limit = engine_options.limit = chance(50) ? 0 : 1 + pick(4);
        const std::string what = "query " + describe(spec) + " from " + std::to_string(memory_options.from) +
                                 (memory_options.backwards ? " backwards" : "") + " limit " +
                                 std::to_string(memory_options.limit);
        trace(what);
        const auto outcome = both(what, [&](EventStore& s, Side side, Outcome& o) {
            o.read = s.query(Context(), build(spec, side), side == Side::engine ? engine_options : memory_options);
        });
        if (outcome && same_reads(outcome->first.read, outcome->second.read, what) &&
            !outcome->first.read.events.empty()) {
            ++m_tally["query: non-empty"];
        }
    }

    // decide_and_append with a decision drawn before the call, taken or not depending on what it read:
    // both stores decide alike only if they read alike.
    void decide() {
        const FilterSpec spec = random_filter();
        const StorableEvent event = make(new_event(chance(30)));
        const std::size_t skip_when = pick(3);
        const std::string what = "decide_and_append on " + describe(spec) + ": " + describe(event) +
                                 " unless it reads 3k+" + std::to_string(skip_when) + " events";
        trace(what);
        const auto outcome = both(what, [&](EventStore& s, Side side, Outcome& o) {
            o.appended = decide_and_append(s, Context(), build(spec, side), [&](const QueryResult& read) {
                o.decided_on = read.events.size();
                return read.events.size() % 3 == skip_when ? StorableEvents{} : StorableEvents{event};
            });
        });
        if (!outcome) {
            return;
        }
        const auto& [engine, memory] = *outcome;
        if (engine.decided_on != memory.decided_on) {
            diverged(what + ": decided on " + std::to_string(engine.decided_on) + " events (engine) vs " +
                     std::to_string(memory.decided_on) + " (memory)");
            return;
        }
        if (engine.kind != Outcome::Kind::returned) {
            return;
        }
        if (engine.appended.already_stored != memory.appended.already_stored ||
            (engine.appended.last_sequence_number == 0) != (memory.appended.last_sequence_number == 0)) {
            diverged(what + ": engine appended at " + std::to_string(engine.appended.last_sequence_number) +
                     ", memory at " + std::to_string(memory.appended.last_sequence_number));
            return;
        }
        if (engine.appended.already_stored) {
            if (!same_position(engine.appended.last_sequence_number, memory.appended.last_sequence_number)) {
                diverged(what + ": a retry's position differs");
            }
        } else if (engine.appended.last_sequence_number != 0) {
            (void)map_new_events(1, engine.appended, memory.appended, what);
        }
    }

    void snapshot() {
        static const std::array<FilterSpec, 3> keys{
            FilterSpec{}, FilterSpec{{ItemSpec{{"A"}, {}, false, {}}}, {}, {}, {}},
            FilterSpec{{ItemSpec{{}, {P("k1", "v1")}, false, {"t1"}}}, {}, {}, {}}};
        const FilterSpec& key = keys[pick(keys.size())];
        const std::string type = chance(50) ? "P1" : "P2";
        const Filter filter = build(key, Side::memory); // no sequence bound: the same for both
        const std::size_t roll = pick(100);
        if (roll < 45) {
            const SequenceNumber seq = pick(8);
            const std::string data = render(some_members());
            const std::string what =
                "save_snapshot " + type + " " + describe(key) + " at " + std::to_string(seq) + " " + data;
            trace(what);
            (void)both(what, [&](EventStore& s, Side, Outcome&) {
                s.save_snapshot(build_snapshot(type, filter.hash(), seq, data));
            });
        } else if (roll < 85) {
            const std::string what = "load_snapshot " + type + " " + describe(key);
            trace(what);
            const auto outcome =
                both(what, [&](EventStore& s, Side, Outcome& o) { o.snapshot = s.load_snapshot(type, filter); });
            if (!outcome) {
                return;
            }
            const std::optional<Snapshot>& e = outcome->first.snapshot;
            const std::optional<Snapshot>& m = outcome->second.snapshot;
            if (e.has_value() != m.has_value() ||
                (e && (e->projection_type != m->projection_type || e->filter_hash != m->filter_hash ||
                       e->sequence_number != m->sequence_number || !same_json(e->data_json, m->data_json)))) {
                diverged(what + ": engine " + (e ? std::to_string(e->sequence_number) + " " + e->data_json : "none") +
                         ", memory " + (m ? std::to_string(m->sequence_number) + " " + m->data_json : "none"));
            }
        } else {
            const std::string what = "delete_snapshot " + type + " " + describe(key);
            trace(what);
            (void)both(what, [&](EventStore& s, Side, Outcome&) { s.delete_snapshot(type, filter); });
        }
    }

    struct Submitted {
        std::vector<EventSpec> specs;
        std::vector<StorableEvent> events;
    };

    std::unique_ptr<memory::EventStore> m_memory;
    std::mt19937_64 m_rng;
    std::uint64_t m_seed = 0;
    std::size_t m_op = 0;
    std::uint64_t m_ids = 0;
    bool m_diverged = false;
    std::string m_kind; // of the running operation, for the tally
    std::vector<std::string> m_trace;
    // m_engine_at[p] is the engine position of memory position p (m_engine_at[0] = 0), and m_memory_at
    // the other way.
    std::vector<SequenceNumber> m_engine_at{0};
    std::map<SequenceNumber, SequenceNumber> m_memory_at{{0, 0}};
    std::vector<Submitted> m_submitted;
    std::vector<EventSpec> m_stored_with_id;
};

TEST_P(MemoryModel, AgreesWithTheEngine) {
    const std::uint64_t seed = env_count("EVENTSTORE_MODEL_SEED", GetParam());
    const std::size_t ops = env_count("EVENTSTORE_MODEL_OPS", 500);
    const auto start = std::chrono::steady_clock::now();
    const std::size_t done = run(seed, ops);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    std::cout << "seed " << seed << ": " << done << " of " << ops << " operations in " << ms << " ms\n";
    for (const auto& [what, count] : m_tally) {
        std::cout << "  " << what << " " << count << "\n";
    }
}

INSTANTIATE_TEST_SUITE_P(Seeds, MemoryModel, ::testing::Values(1U, 2U, 3U, 4U));

} // namespace
} // namespace eventstore::test
