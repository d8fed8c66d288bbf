#include "postgres/filter_sql.hpp"

#include <algorithm>
#include <limits>

#include <eventstore/error.hpp>

#include "core/event_check.hpp"
#include "core/json.hpp"
#include "postgres/codec.hpp"

namespace eventstore::postgres::detail {

namespace json = eventstore::detail::json;

namespace {

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

bool generic_plan_safe(const Filter& filter) noexcept {
    const bool has_items =
        std::any_of(filter.items().begin(), filter.items().end(), [](const FilterItem& item) { return !item.empty(); });
    return has_items && !filter.occurred_from() && !filter.occurred_until() &&
           filter.sequence_number_higher_than() == 0;
}

FilterClause filter_clause(const Filter& filter, int first_param) {
    eventstore::detail::check_filter_texts(filter);
    ClauseBuilder b(first_param);
    const bool generic = generic_plan_safe(filter);
    std::vector<std::string> items;
    for (const FilterItem& item : filter.items()) {
        if (item.empty()) {
            continue; // Go drops empty items from the OR
        }
        std::vector<std::string> parts;
        if (!item.event_types().empty()) {
            // With a payload predicate or tags beside it, the type list must not drive the plan: jsonb containment
            // has no real statistics, so even a custom plan ANDs the type index in, reading every entry of
            // common types (3-5 ms instead of 0.1 on 2.5M events). `|| ''` hides the column from the
            // index; the GIN condition leads and the types are a filter on its few rows.
            const bool types_lead = item.predicates().empty() && item.tags().empty();
            parts.push_back(std::string(types_lead ? "e.event_type" : "(e.event_type || '')") + " = ANY(" +
                            b.add(text_array_param(item.event_types(), oid::text_array)) + "::text[])");
        }
        const auto& preds = item.predicates();
        if (!preds.empty()) {
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
        if (!item.tags().empty()) {
            // Array containment, which the tags' GIN index answers; every tag must be present.
            parts.push_back("e.tags @> " + b.add(text_array_param(item.tags(), oid::text_array)) + "::text[]");
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
    // The protocol counts a statement's parameters in 16 bits; a filter that needs more is the
    // caller's to change, told before any database work.
    const std::size_t needed = static_cast<std::size_t>(first_param) - 1 + clause.params.size();
    if (needed > max_statement_parameters) {
        throw Error(Errc::invalid_filter, "the filter needs " + std::to_string(needed) +
                                              " bind parameters and PostgreSQL takes at most " +
                                              std::to_string(max_statement_parameters) +
                                              " in one statement: give it fewer items (an item's event types and "
                                              "any-of predicates take one parameter each)");
    }
    clause.generic = generic;
    clause.has_items = !items.empty();
    return clause;
}

} // namespace eventstore::postgres::detail
