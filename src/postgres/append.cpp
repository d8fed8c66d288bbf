// append: the conditional insert, correct under concurrent writers (docs/design/append-concurrency.md).

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/event_check.hpp"
#include "core/json.hpp"
#include "core/json_value.hpp"
#include "postgres/codec.hpp"
#include "postgres/lock_keys.hpp"
#include "postgres/store_impl.hpp"

namespace eventstore::postgres {

namespace {

// What one append's events may take together: under PostgreSQL's 1 GB limit on a protocol message,
// with room for the filter's parameters and the statement.
constexpr std::size_t max_append_bytes = 1'000'000'000;

constexpr std::string_view unique_violation = "23505";

// The events' ids, and what the rows stored under them say about a retry.
class IdCheck {
public:
    void add(const StorableEvent& event, std::size_t index) {
        if (event.id.empty()) {
            ++m_without;
            return;
        }
        std::string id = eventstore::detail::normalized_id(event.id);
        for (std::size_t j = 0; j < m_ids.size(); ++j) {
            if (m_ids[j] == id) {
                throw Error(Errc::duplicate_event_id, "events " + std::to_string(m_index[j]) + " and " +
                                                          std::to_string(index) + " of the append have the id " + id);
            }
        }
        m_keys.push_back(detail::event_id_key(id));
        m_ids.push_back(std::move(id));
        m_index.push_back(index);
        m_events.push_back(&event);
    }
    [[nodiscard]] bool any() const noexcept { return !m_ids.empty(); }
    [[nodiscard]] const std::vector<std::string>& normalized() const noexcept { return m_ids; }
    [[nodiscard]] std::span<const std::uint64_t> keys() const noexcept { return m_keys; }

    // Some ids are stored (`stored`: event_id, sequence_number, event_type, payload, tags). A retry
    // of a committed append finds every one of them, each for the same event: its original result.
    // Anything else is a misuse of ids, and nothing was written.
    [[nodiscard]] AppendResult verdict(const detail::Result& stored, std::size_t event_count) const {
        if (m_without > 0 || stored.size() != m_ids.size()) {
            throw Error(Errc::duplicate_event_id,
                        std::to_string(stored.size()) + " of the append's " + std::to_string(event_count) +
                            " events have ids that are stored already, and the others are new: a retry repeats "
                            "every event of the original append with its id");
        }
        AppendResult result;
        result.already_stored = true;
        for (std::size_t r = 0; r < stored.size(); ++r) {
            const std::string id = stored[r][0].as_uuid();
            const std::size_t j = static_cast<std::size_t>(std::find(m_ids.begin(), m_ids.end(), id) - m_ids.begin());
            const StorableEvent& mine = *m_events.at(j);
            std::vector<std::string> stored_tags;
            if (!stored[r][4].is_null()) {
                stored_tags = stored[r][4].as_text_array();
            }
            if (stored[r][2].as_text() != mine.event_type || !same_tags(stored_tags, mine.tags) ||
                !eventstore::detail::json::same_value(stored[r][3].as_jsonb(), mine.payload_json)) {
                throw Error(Errc::duplicate_event_id,
                            "event " + std::to_string(m_index[j]) + " has the id " + id +
                                ", which is stored for a different event (another type, tags or payload)");
            }
            if (j + 1 == m_ids.size()) {
                result.last_sequence_number = static_cast<SequenceNumber>(stored[r][1].as_int8());
            }
        }
        return result;
    }

private:
    static bool same_tags(std::vector<std::string> a, std::vector<std::string> b) {
        std::sort(a.begin(), a.end());
        a.erase(std::unique(a.begin(), a.end()), a.end());
        std::sort(b.begin(), b.end());
        b.erase(std::unique(b.begin(), b.end()), b.end());
        return a == b;
    }

    std::vector<std::string> m_ids;
    std::vector<std::size_t> m_index;
    std::vector<const StorableEvent*> m_events;
    std::vector<std::uint64_t> m_keys;
    std::size_t m_without = 0;
};

} // namespace

using detail::Operation;
using detail::Param;
using detail::Statement;

AppendResult EventStore::Impl::append(const Context& ctx, const Filter& filter, SequenceNumber expected,
                                      std::span<const StorableEvent> events) {
    if (events.empty()) {
        return {};
    }
    Operation op(m_instruments, ctx, detail::append_kind, events, expected);
    return op.run([&] {
        // One statement is one protocol message, which PostgreSQL takes up to 1 GB (checked first: it
        // is cheaper than reading a gigabyte of JSON).
        std::size_t bytes = 0;
        for (const StorableEvent& e : events) {
            bytes += e.event_type.size() + e.payload_json.size() + e.metadata_json.size() + 32;
        }
        if (bytes > max_append_bytes) {
            throw Error(Errc::invalid_payload_json,
                        "the " + std::to_string(events.size()) + " events take " + std::to_string(bytes) +
                            " bytes together, more than one statement can carry (" + std::to_string(max_append_bytes) +
                            "): append them in smaller groups, or with "
                            "import_events, which splits them");
        }
        // Every event is checked before any database work; its payload's string members are the keys
        // it writes under.
        std::vector<std::uint64_t> writer_keys;
        eventstore::detail::json::StringMembers members;
        IdCheck ids;
        for (std::size_t i = 0; i < events.size(); ++i) {
            members.clear();
            eventstore::detail::check_event(events[i], "event " + std::to_string(i) + ": ", &members);
            detail::add_event_keys(events[i].event_type, members, events[i].tags, writer_keys);
            ids.add(events[i], i);
        }
        detail::FilterClause clause = detail::filter_clause(filter, 8);
        std::vector<std::uint64_t> reader_keys;
        detail::add_filter_keys(filter, reader_keys);
        if (expected > static_cast<SequenceNumber>(std::numeric_limits<std::int64_t>::max())) {
            throw op.conflict(events.size(), expected,
                              "expected sequence number " + std::to_string(expected) + " is out of range");
        }

        // The stream's version is the greatest matching sequence number (0 when none), compared with
        // the expected one in the same statement that inserts. An aggregate over every matching row has
        // no fast-start plan, so a generic plan cannot turn it into a backward walk of the primary key
        // that filters row by row (38 ms instead of 0.6 on 2.5M events, for a boundary with no
        // events); `+ 0` keeps the planner's min/max rewrite from doing the same. A filter without
        // items wants exactly that rewrite: the newest row, read backwards from the primary key.
        detail::EventColumns cols = detail::event_columns(events);
        std::vector<Param> params;
        params.reserve(7 + clause.params.size());
        params.push_back(std::move(cols.event_types));
        params.push_back(std::move(cols.occurred_at));
        params.push_back(std::move(cols.payloads));
        params.push_back(std::move(cols.metadata));
        params.push_back(std::move(cols.tags));
        params.push_back(std::move(cols.ids));
        params.push_back(detail::int8_param(static_cast<std::int64_t>(expected)));
        for (Param& p : clause.params) {
            params.push_back(std::move(p));
        }
        // With ids, the insert also requires that none of them is stored: then the statement before it
        // has found them, and decides between a retry and a misuse.
        const std::string not_stored = ids.any() ? " AND NOT EXISTS (SELECT FROM " + m_schema.events().quoted +
                                                       " s WHERE s.event_id = ANY($6::uuid[]))"
                                                 : std::string();
        // With items, `+ 0` keeps the plan off a backward scan of the primary key, and FILTER tells
        // the planner at once that max() has no index shortcut: without it, it planned the condition
        // twice before finding out (a fifth of the statement's planning, which a pool behind a
        // transaction-mode pooler pays on every append).
        Statement insert = Statement::planned(
            clause.generic,
            m_schema.insert_events() + " WHERE (SELECT coalesce(max(" +
                (clause.has_items ? "e.sequence_number + 0) FILTER (WHERE true" : "e.sequence_number") + "), 0) FROM " +
                m_schema.events().quoted + " e WHERE " + clause.sql + ") = $7" + not_stored +
                " ORDER BY u.ord RETURNING sequence_number",
            std::move(params));
        op.built(insert.sql);

        // The locks, the stored ids (when the events have any), the insert: one round trip.
        std::vector<Statement> statements;
        statements.emplace_back();
        if (ids.any()) {
            statements.push_back(
                Statement::cached("SELECT s.event_id, s.sequence_number, s.event_type, s.payload, s.tags FROM " +
                                      m_schema.events().quoted + " s WHERE s.event_id = ANY($1::uuid[])",
                                  {detail::text_array_param(ids.normalized(), detail::oid::text_array)}));
        }
        statements.push_back(std::move(insert));
        std::vector<detail::Result> results;
        std::uint64_t wal_position = 0;
        try {
            results = detail::with_session(*m_primary, op.context(), false, [&](detail::Session& session) {
                // Writers lock their keys' stripe of their backend, readers every stripe of theirs, ids
                // one shared stripe, and a call with too many keys every stripe of the global key
                // (lock_keys.hpp).
                statements.front() = detail::lock_statement(detail::plan_locks(
                    reader_keys, writer_keys, static_cast<std::uint32_t>(session.backend_pid()), ids.keys()));
                std::vector<detail::Result> done = session.run(op.context(), statements);
                // Read-your-writes on replicas: where the WAL is once the commit is in it. A round trip
                // more, for stores with replicas only.
                const bool stored = done.back().size() > 0 || (ids.any() && done[1].size() > 0);
                if (!m_replicas.empty() && stored) {
                    wal_position = wal_position_after_commit(session);
                }
                return done;
            });
        } catch (const detail::DatabaseFailure& failure) {
            // Only a writer outside the lock protocol (an import, the Go library) gets here: the locks
            // make this library's appends of one id take turns.
            if (failure.sqlstate() == unique_violation) {
                throw Error(Errc::duplicate_event_id, "an event id of this append was stored meanwhile by a "
                                                      "writer outside the lock protocol (" +
                                                          std::string(failure.what()) + ")");
            }
            throw;
        }
        op.executed();

        const detail::Result& inserted = results.back();
        if (ids.any() && results[1].size() > 0) {
            AppendResult original = ids.verdict(results[1], events.size());
            original.wal_position = wal_position;
            op.write_succeeded(0);
            return original;
        }
        if (inserted.size() == 0) {
            throw op.conflict(events.size(), expected);
        }
        if (inserted.size() != events.size()) {
            throw Error(Errc::appending_event_failed, "inserted " + std::to_string(inserted.size()) + " of " +
                                                          std::to_string(events.size()) + " events");
        }
        AppendResult result;
        result.wal_position = wal_position;
        for (std::size_t i = 0; i < inserted.size(); ++i) {
            result.last_sequence_number =
                std::max(result.last_sequence_number, static_cast<SequenceNumber>(inserted[i][0].as_int8()));
        }
        op.write_succeeded(events.size());
        return result;
    });
}

} // namespace eventstore::postgres
