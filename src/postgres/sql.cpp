#include "postgres/sql.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>

#include <eventstore/error.hpp>

#include "core/json.hpp"

namespace eventstore::postgres::detail {

namespace json = eventstore::detail::json;

namespace {

constexpr std::size_t max_identifier_bytes = 63; // NAMEDATALEN - 1

void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((v >> shift) & 0xFFU));
    }
}

void put_i64(std::string& out, std::int64_t value) {
    const auto v = static_cast<std::uint64_t>(value);
    for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((v >> shift) & 0xFFU));
    }
}

std::uint64_t read_u64(const char* data) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
        v = (v << 8) | static_cast<unsigned char>(data[i]);
    }
    return v;
}

std::int64_t to_postgres_micros(TimePoint t) {
    const auto us = std::chrono::floor<std::chrono::microseconds>(t.time_since_epoch()).count();
    return us - postgres_epoch_offset_us;
}

// One-dimensional binary array header (array_send's format).
std::string array_header(Oid element_type, std::size_t count) {
    std::string out;
    put_u32(out, 1); // dimensions
    put_u32(out, 0); // no NULLs
    put_u32(out, element_type);
    put_u32(out, static_cast<std::uint32_t>(count));
    put_u32(out, 1); // lower bound
    return out;
}

void check_storable_text(std::string_view what, std::string_view s) {
    if (s.find('\0') != std::string_view::npos) {
        throw Error(Errc::invalid_filter, std::string(what) + " contains a NUL byte, which PostgreSQL cannot store");
    }
    if (!json::is_valid_utf8(s)) {
        throw Error(Errc::invalid_filter, std::string(what) + " is not valid UTF-8");
    }
}

std::string predicate_document(const FilterPredicate& p) {
    std::string doc = "{";
    json::append_quoted(doc, p.key());
    doc += ':';
    json::append_quoted(doc, p.val());
    doc += '}';
    return doc;
}

class ClauseBuilder {
public:
    explicit ClauseBuilder(int first_param) : m_next(first_param) {}
    std::string add(Param p) {
        m_params.push_back(std::move(p));
        return "$" + std::to_string(m_next++);
    }
    std::vector<Param> take() { return std::move(m_params); }

private:
    int m_next;
    std::vector<Param> m_params;
};

} // namespace

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
    return out;
}

TableName parse_table_name(std::string_view name) {
    if (name.empty()) {
        throw Error(Errc::empty_events_table_name);
    }
    TableName t;
    const auto dot = name.find('.');
    if (dot != std::string_view::npos) {
        t.schema = std::string(name.substr(0, dot));
        t.table = std::string(name.substr(dot + 1));
        if (t.table.find('.') != std::string::npos) {
            throw Error(Errc::invalid_table_name, "\"" + std::string(name) + "\" has more than one dot");
        }
    } else {
        t.table = std::string(name);
    }
    for (const std::string* part : {&t.schema, &t.table}) {
        if (part == &t.schema && dot == std::string_view::npos) {
            continue;
        }
        if (part->empty()) {
            throw Error(Errc::invalid_table_name, "\"" + std::string(name) + "\" has an empty part");
        }
        if (part->size() > max_identifier_bytes) {
            throw Error(Errc::invalid_table_name,
                        "\"" + *part + "\" is longer than 63 bytes, which PostgreSQL would truncate");
        }
        if (part->find('\0') != std::string::npos || !json::is_valid_utf8(*part)) {
            throw Error(Errc::invalid_table_name, "a table name must be valid UTF-8 without NUL bytes");
        }
    }
    t.quoted =
        t.schema.empty() ? quote_identifier(t.table) : quote_identifier(t.schema) + "." + quote_identifier(t.table);
    return t;
}

std::string derived_name(const TableName& table, std::string_view suffix) {
    std::string name = "idx_" + table.table + std::string(suffix);
    if (name.size() <= max_identifier_bytes) {
        return name;
    }
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : name) {
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
    std::array<char, 17> hex{};
    for (int i = 15; i >= 0; --i) {
        hex[static_cast<std::size_t>(i)] = "0123456789abcdef"[h & 0xFU];
        h >>= 4;
    }
    std::size_t keep = max_identifier_bytes - 17;
    // Never cut a UTF-8 sequence in half.
    while (keep > 0 && (static_cast<unsigned char>(name[keep]) & 0xC0U) == 0x80U) {
        --keep;
    }
    return name.substr(0, keep) + "_" + std::string(hex.data(), 16);
}

bool generic_plan_safe(const Filter& filter) noexcept {
    const bool has_items =
        std::any_of(filter.items().begin(), filter.items().end(), [](const FilterItem& item) { return !item.empty(); });
    return has_items && !filter.occurred_from() && !filter.occurred_until() &&
           filter.sequence_number_higher_than() == 0;
}

FilterClause filter_clause(const Filter& filter, int first_param) {
    ClauseBuilder b(first_param);
    const bool generic = generic_plan_safe(filter);
    std::vector<std::string> items;
    for (const FilterItem& item : filter.items()) {
        if (item.empty()) {
            continue; // Go drops empty items from the OR
        }
        std::vector<std::string> parts;
        if (!item.event_types().empty()) {
            for (const std::string& t : item.event_types()) {
                check_storable_text("an event type", t);
            }
            // With a payload predicate beside it, the type list must not drive the plan: jsonb containment
            // has no real statistics, so even a custom plan ANDs the type index in, reading every entry of
            // common types (pitfall 3: 3-5 ms instead of 0.1). `|| ''` hides the column from the index;
            // the GIN condition leads and the types are a filter on its few rows.
            const bool types_lead = item.predicates().empty();
            parts.push_back(std::string(types_lead ? "e.event_type" : "(e.event_type || '')") + " = ANY(" +
                            b.add(text_array_param(item.event_types(), oid::text_array)) + "::text[])");
        }
        const auto& preds = item.predicates();
        if (!preds.empty()) {
            for (const FilterPredicate& p : preds) {
                check_storable_text("a predicate key", p.key());
                check_storable_text("a predicate value", p.val());
            }
            if (!item.all_predicates_must_match() || preds.size() == 1) {
                std::vector<std::string> docs;
                docs.reserve(preds.size());
                for (const FilterPredicate& p : preds) {
                    docs.push_back(predicate_document(p));
                }
                if (docs.size() == 1) {
                    parts.push_back("e.payload @> " + b.add(text_param(docs.front())) + "::jsonb");
                } else {
                    parts.push_back("e.payload @> ANY(" + b.add(text_array_param(docs, oid::jsonb_array)) +
                                    "::jsonb[])");
                }
            } else {
                // One containment of a merged document lets the GIN index intersect the paths, unless the
                // same key is asked for with two values, which a merged object cannot express.
                std::vector<const FilterPredicate*> sorted;
                sorted.reserve(preds.size());
                for (const FilterPredicate& p : preds) {
                    sorted.push_back(&p);
                }
                std::stable_sort(sorted.begin(), sorted.end(), [](const FilterPredicate* x, const FilterPredicate* y) {
                    return x->key() < y->key();
                });
                bool mergeable = true;
                std::string merged = "{";
                const FilterPredicate* previous = nullptr;
                for (const FilterPredicate* p : sorted) {
                    if (previous != nullptr && previous->key() == p->key()) {
                        if (previous->val() != p->val()) {
                            mergeable = false;
                            break;
                        }
                        continue;
                    }
                    if (previous != nullptr) {
                        merged += ',';
                    }
                    json::append_quoted(merged, p->key());
                    merged += ':';
                    json::append_quoted(merged, p->val());
                    previous = p;
                }
                merged += '}';
                if (mergeable) {
                    parts.push_back("e.payload @> " + b.add(text_param(std::move(merged))) + "::jsonb");
                } else {
                    std::string all;
                    for (const FilterPredicate& p : preds) {
                        all += all.empty() ? "(" : " AND ";
                        all += "e.payload @> " + b.add(text_param(predicate_document(p))) + "::jsonb";
                    }
                    parts.push_back(all + ")");
                }
            }
        }
        std::string item_sql;
        for (const std::string& part : parts) {
            item_sql += item_sql.empty() ? "(" : " AND ";
            item_sql += part;
        }
        items.push_back(item_sql + ")");
    }
    std::vector<std::string> conditions;
    if (!items.empty()) {
        std::string any;
        for (const std::string& item : items) {
            any += any.empty() ? "(" : " OR ";
            any += item;
        }
        conditions.push_back(any + ")");
    }
    if (auto from = filter.occurred_from()) {
        conditions.push_back("e.occurred_at >= " + b.add(timestamptz_param(*from)));
    }
    if (auto until = filter.occurred_until()) {
        conditions.push_back("e.occurred_at <= " + b.add(timestamptz_param(*until)));
    }
    if (const SequenceNumber n = filter.sequence_number_higher_than(); n > 0) {
        const auto bounded = static_cast<std::int64_t>(
            std::min<SequenceNumber>(n, static_cast<SequenceNumber>(std::numeric_limits<std::int64_t>::max())));
        conditions.push_back("e.sequence_number > " + b.add(int8_param(bounded)));
    }
    FilterClause clause;
    for (const std::string& c : conditions) {
        if (!clause.sql.empty()) {
            clause.sql += " AND ";
        }
        clause.sql += c;
    }
    if (clause.sql.empty()) {
        clause.sql = "TRUE";
    }
    clause.params = b.take();
    clause.generic = generic;
    clause.has_items = !items.empty();
    return clause;
}

Param int8_param(std::int64_t value) { return Param{oid::int8, std::to_string(value), false, false}; }

Param text_param(std::string value) { return Param{oid::text, std::move(value), false, false}; }

Param timestamptz_param(TimePoint t) {
    Param p{oid::timestamptz, {}, true, false};
    put_i64(p.value, to_postgres_micros(t));
    return p;
}

Param text_array_param(std::span<const std::string> values, Oid array_type) {
    // Text array literal: every element double-quoted, with backslash and quote escaped.
    std::string literal = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) {
            literal += ',';
        }
        literal += '"';
        for (char c : values[i]) {
            if (c == '"' || c == '\\') {
                literal += '\\';
            }
            literal += c;
        }
        literal += '"';
    }
    literal += '}';
    return Param{array_type, std::move(literal), false, false};
}

Param int8_array_param(std::span<const std::int64_t> values) {
    Param p{oid::int8_array, array_header(oid::int8, values.size()), true, false};
    for (std::int64_t v : values) {
        put_u32(p.value, 8);
        put_i64(p.value, v);
    }
    return p;
}

Param bool_array_param(const std::vector<bool>& values) {
    Param p{oid::bool_array, array_header(oid::boolean, values.size()), true, false};
    for (bool v : values) {
        put_u32(p.value, 1);
        p.value.push_back(v ? '\1' : '\0');
    }
    return p;
}

EventColumns event_columns(std::span<const StorableEvent> events) {
    EventColumns cols{Param{oid::text_array, array_header(oid::text, events.size()), true, false},
                      Param{oid::timestamptz_array, array_header(oid::timestamptz, events.size()), true, false},
                      Param{oid::jsonb_array, array_header(oid::jsonb, events.size()), true, false},
                      Param{oid::jsonb_array, array_header(oid::jsonb, events.size()), true, false}};
    for (const StorableEvent& e : events) {
        put_u32(cols.event_types.value, static_cast<std::uint32_t>(e.event_type.size()));
        cols.event_types.value += e.event_type;
        put_u32(cols.occurred_at.value, 8);
        put_i64(cols.occurred_at.value, to_postgres_micros(e.occurred_at));
        put_u32(cols.payloads.value, static_cast<std::uint32_t>(e.payload_json.size() + 1));
        cols.payloads.value += '\1';
        cols.payloads.value += e.payload_json;
        put_u32(cols.metadata.value, static_cast<std::uint32_t>(e.metadata_json.size() + 1));
        cols.metadata.value += '\1';
        cols.metadata.value += e.metadata_json;
    }
    return cols;
}

std::int64_t decode_int8(const char* data, int length) {
    if (length != 8) {
        throw Error(Errc::scanning_db_row_failed, "unexpected bigint length " + std::to_string(length));
    }
    return static_cast<std::int64_t>(read_u64(data));
}

TimePoint decode_timestamptz(const char* data, int length) {
    if (length != 8) {
        throw Error(Errc::scanning_db_row_failed, "unexpected timestamptz length " + std::to_string(length));
    }
    const auto us = static_cast<std::int64_t>(read_u64(data));
    // system_clock counts nanoseconds in 64 bits (about 1678 to 2262); clamp what lies beyond,
    // including PostgreSQL's +/-infinity.
    constexpr std::int64_t limit_us = std::numeric_limits<std::int64_t>::max() / 1000 - postgres_epoch_offset_us;
    if (us >= limit_us) {
        return TimePoint::max();
    }
    if (us <= -limit_us) {
        return TimePoint::min();
    }
    return TimePoint(
        std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us + postgres_epoch_offset_us)));
}

std::string decode_jsonb(const char* data, int length) {
    if (length < 1 || data[0] != '\1') {
        throw Error(Errc::scanning_db_row_failed, "unexpected jsonb format version");
    }
    return std::string(data + 1, static_cast<std::size_t>(length - 1));
}

} // namespace eventstore::postgres::detail
