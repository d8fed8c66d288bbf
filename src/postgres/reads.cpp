// query and query_stream: reads that never skip an event (docs/design/gap-free-reads.md).

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "postgres/codec.hpp"
#include "postgres/lock_keys.hpp"
#include "postgres/store_impl.hpp"

namespace eventstore::postgres {

using detail::Operation;
using detail::Param;
using detail::Row;
using detail::Statement;
using detail::Target;

namespace {

// The ORDER BY, bounds and LIMIT that ReadOptions add to a read, as SQL with parameters following
// the filter's.
struct Paging {
    std::string bound;   // " AND e.sequence_number >= $n" (or <= when backwards), or ""
    std::string order;   // " ORDER BY ..."
    std::string limit;   // " LIMIT $n", or ""
    bool generic = true; // whether the statement's plan may still be cached
};

Paging paging(const ReadOptions& options, const detail::FilterClause& clause, std::vector<Param>& params,
              int first_param) {
    Paging p;
    int next = first_param;
    if (options.from > 0) {
        const auto from = static_cast<std::int64_t>(std::min<SequenceNumber>(
            options.from, static_cast<SequenceNumber>(std::numeric_limits<std::int64_t>::max())));
        p.bound =
            std::string(" AND e.sequence_number ") + (options.backwards ? "<= $" : ">= $") + std::to_string(next++);
        params.push_back(detail::int8_param(from));
        // Like the filter's own sequence bound: near the head the primary key is the way in, far from
        // it the items' index, and only the value tells (filter_sql.hpp, generic_plan_safe).
        p.generic = false;
    }
    // A limited read of a boundary may look cheapest as a walk of the primary key that filters row by
    // row until it has enough, which reads the whole table when the boundary's events are old (a
    // 4-event boundary on 2.5M events). A cached plan cannot know how rare the boundary is, and even
    // a custom plan walks backwards from a `from` on estimates. `+ 0` takes that path away: the
    // items' index finds the boundary and its rows are sorted, so the read costs the boundary's size,
    // never the table's. A forward read from a position (a catch-up, paging through a large
    // boundary) is planned with its values and keeps the walk, which is right near the head. A read
    // without items (the whole log) wants exactly the primary-key walk.
    const bool fence = options.limit > 0 && clause.has_items && (options.backwards || p.generic);
    p.order = std::string(" ORDER BY ") + (fence ? "e.sequence_number + 0" : "e.sequence_number") +
              (options.backwards ? " DESC" : "");
    if (options.limit > 0) {
        const auto limit = static_cast<std::int64_t>(
            std::min<std::size_t>(options.limit, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())));
        p.limit = " LIMIT $" + std::to_string(next++);
        params.push_back(detail::int8_param(limit));
    }
    return p;
}

} // namespace

EventStore::Impl::Read EventStore::Impl::prepare_read(const Filter& filter, int first_param) {
    Read read{detail::filter_clause(filter, first_param), {}};
    std::vector<std::uint64_t> keys;
    detail::add_filter_keys(filter, keys);
    // Never more than max_advisory_locks: beyond it the plan is the global key's stripes, shared
    // (plan_locks), which every writer holds one of exclusively.
    read.barrier = detail::lock_statement(detail::plan_locks(std::move(keys), {}, 0));
    // Held past the read, inside a caller's transaction, its shared locks would block writers of the
    // boundary to that transaction's end, and deadlock two that read then append the same boundary.
    read.barrier.call_scoped_locks = true;
    return read;
}

QueryResult EventStore::Impl::query(const Context& ctx, const Filter& filter, const ReadOptions& options) {
    const Target target = read_target(ctx);
    Operation op(m_instruments, ctx, detail::query_kind, target);
    return op.run([&] {
        Read read = prepare_read(filter, 1);
        const int first_param = static_cast<int>(read.clause.params.size()) + 1;
        const Paging page = paging(options, read.clause, read.clause.params, first_param);
        std::vector<Statement> statements;
        statements.reserve(2);
        statements.push_back(std::move(read.barrier));
        statements.push_back(Statement::planned(
            read.clause.generic && page.generic,
            m_schema.select_events() + (page.bound.empty() ? read.clause.sql : "(" + read.clause.sql + ")") +
                page.bound + page.order + page.limit,
            std::move(read.clause.params)));
        op.built(statements.back().sql);
        const auto results = read_on(
            target, op.context(), [&](const std::string& database) { op.served_by(database); },
            [&](detail::Session& session, bool on_replica) {
                // The barrier waits for in-flight writers holding advisory locks, which live on the primary:
                // a replica never sees them (docs/design/gap-free-reads.md, "Eventual reads").
                const std::span<const Statement> all(statements);
                return session.run(op.context(), on_replica ? all.subspan(1) : all);
            });
        op.executed();

        QueryResult out;
        const detail::Result& rows = results.back();
        out.events.reserve(rows.size());
        for (std::size_t i = 0; i < rows.size(); ++i) {
            out.events.push_back(detail::Schema::event(rows[i]));
        }
        if (!out.events.empty()) {
            out.max_sequence_number =
                options.backwards ? out.events.front().sequence_number : out.events.back().sequence_number;
        }
        op.processed();
        op.read_succeeded(out.events.size(), out.max_sequence_number);
        return out;
    });
}

SequenceNumber EventStore::Impl::query_stream(const Context& ctx, const Filter& filter, const ReadOptions& options,
                                              const std::function<void(StorableEvent&&)>& on_event) {
    Operation op(m_instruments, ctx, detail::stream_kind, Target::primary);
    return op.run([&] {
        Read read = prepare_read(filter, 2);
        // Phase 1, under the filter's shared locks: every in-flight writer of a matching event has
        // finished, and later ones will number their events above the newest committed row. So that
        // row's number bounds the stream: every matching event at or below it is already visible.
        const std::vector<Statement> bound{std::move(read.barrier), m_schema.newest_sequence_number()};
        // Phase 2, without locks: read up to the bound, one row at a time. Planned with its values, as
        // a million-row read wants a different plan from a small boundary's.
        std::vector<Param> params;
        params.reserve(3 + read.clause.params.size());
        params.emplace_back(); // the bound, once phase 1 has found it
        for (Param& p : read.clause.params) {
            params.push_back(std::move(p));
        }
        const Paging page = paging(options, read.clause, params, static_cast<int>(params.size()) + 1);
        Statement rows = Statement::per_call(m_schema.select_events() + "(" + read.clause.sql +
                                                 ") AND e.sequence_number <= $1" + page.bound + page.order + page.limit,
                                             std::move(params));
        op.built(rows.sql);
        SequenceNumber last = 0;
        std::size_t count = 0;
        // Retried on another session only when nothing was sent: rows already handed to the
        // callback must not come twice.
        detail::with_session(*m_primary, op.context(), false, [&](detail::Session& session) {
            rows.params.front() = detail::int8_param(session.run(op.context(), bound).back()[0][0].as_int8());
            session.stream(op.context(), rows, [&](const Row& row) {
                StorableEvent e = detail::Schema::event(row);
                // Ascending, the last row is the greatest; descending, the first.
                if (!options.backwards || count == 0) {
                    last = e.sequence_number;
                }
                ++count;
                try {
                    on_event(std::move(e));
                } catch (const std::exception& failure) {
                    op.caller_failed(failure.what());
                    throw;
                } catch (...) {
                    op.caller_failed("an exception not derived from std::exception");
                    throw;
                }
                // Rows already received are handed over without asking the server, so a slow callback
                // would outlive the Context: look between rows too. The stream then ends like a
                // cancelled statement (the session, mid-result, is closed).
                if (op.context().stop_requested() || op.context().deadline_passed()) {
                    throw detail::DatabaseFailure::interrupted(
                        !op.context().stop_requested(),
                        std::string(op.context().stop_requested() ? "context canceled" : "context deadline exceeded") +
                            " after " + std::to_string(count) + " events were delivered",
                        {}, detail::Outcome::nothing_written);
                }
            });
        });
        op.executed();
        op.read_succeeded(count, last);
        return last;
    });
}

} // namespace eventstore::postgres
