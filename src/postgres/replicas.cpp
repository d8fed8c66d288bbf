// Eventual reads on replicas (docs/replicas.md): waiting for a replica to replay a WAL position,
// taking failed replicas out of rotation, and the WAL position an append leaves for read-your-writes.

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <string>

#include "core/context_wait.hpp"
#include "postgres/codec.hpp"
#include "postgres/store_impl.hpp"

namespace eventstore::postgres {

namespace {

using Clock = std::chrono::steady_clock;

// How often a read waiting for its replica to replay looks again.
constexpr auto replay_poll = std::chrono::milliseconds(2);

} // namespace

bool EventStore::Impl::replayed(const Context& ctx, const detail::ReplicaSet::Replica& replica) const {
    if (ctx.min_wal_position() == 0) {
        return true;
    }
    // NULL on a server that is not in recovery (a promoted replica): it has every commit it will get.
    const std::array<detail::Statement, 1> check{
        detail::Statement::cached("SELECT coalesce(pg_last_wal_replay_lsn() >= '0/0'::pg_lsn + $1::numeric, true)",
                                  {detail::int8_param(static_cast<std::int64_t>(ctx.min_wal_position()))})};
    Clock::time_point until = Clock::now() + m_replica_max_wait;
    if (const auto deadline = ctx.deadline(); deadline && *deadline < until) {
        until = *deadline;
    }
    return detail::with_session(*replica.source, ctx, true, [&](detail::Session& session) {
        for (;;) {
            if (session.run(ctx, check).front()[0][0].as_bool()) {
                return true;
            }
            const auto now = Clock::now();
            if (now >= until) {
                return false;
            }
            eventstore::detail::sleep_within(
                ctx, std::min(replay_poll, std::chrono::ceil<std::chrono::milliseconds>(until - now)));
        }
    });
}

void EventStore::Impl::replica_failed(const Context& ctx, std::size_t i, const detail::DatabaseFailure& failure) {
    const detail::ReplicaSet::Replica& replica = m_replicas.at(i);
    m_replicas.failed(i, Clock::now(), failure.what());
    count_replica_read(replica.name, "failed");
    if (m_instruments.logging(detail::Instruments::Level::warn)) {
        detail::guarded([&] {
            m_instruments.log(detail::Instruments::Level::warn, ctx, "replica out of rotation",
                              {{"database", replica.name},
                               {"error", failure.what()},
                               {"retry_after_ms", std::to_string(m_replicas.retry_after().count())}});
        });
    }
}

detail::DatabaseFailure EventStore::Impl::no_replica() const {
    const std::string last = m_replicas.last_failure();
    return detail::DatabaseFailure("no replica can serve the eventual read: every one failed or is out of rotation" +
                                       (last.empty() ? std::string() : " (last failure: " + last + ")") +
                                       "; read with strong consistency, or let eventual reads fall back to the primary "
                                       "(StoreOptions::replica_fallback)",
                                   "08006", detail::FailureKind::connection, detail::Outcome::not_sent);
}

void EventStore::Impl::count_replica_read(const std::string& database, std::string_view outcome) const noexcept {
    if (m_instruments.metrics()) {
        detail::guarded([&] {
            m_instruments.increment_counter("eventstore_replica_reads_total",
                                            {{"database", database}, {"outcome", std::string(outcome)}});
        });
    }
}

std::uint64_t EventStore::Impl::wal_position_after_commit(detail::Session& session) noexcept {
    // After the commit, the insert position is past the commit record. Its own short deadline, not
    // the call's: the append has succeeded whatever happens to this.
    static const std::array<detail::Statement, 1> position{
        detail::Statement::cached("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")};
    try {
        return static_cast<std::uint64_t>(
            session.run(Context().with_timeout(std::chrono::seconds(1)), position).front()[0][0].as_int8());
    } catch (...) {
        return std::numeric_limits<std::uint64_t>::max();
    }
}

} // namespace eventstore::postgres
