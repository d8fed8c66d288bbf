// The SOCI adapter: sessions of a soci::connection_pool, or one soci::session, lent to the engine as
// borrowed libpq connections (postgres/connection.hpp, Connection::borrow). SOCI's PostgreSQL backend
// exposes its PGconn, so the engine speaks its own protocol on it (pipelines, binary results) and
// gives it back untouched between calls.

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <soci/connection-pool.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/session.h>

#include <eventstore/error.hpp>
#include <eventstore/postgres/soci.hpp>

#include "postgres/connection.hpp"
#include "postgres/single_use.hpp"
#include "postgres/store_impl.hpp"

namespace eventstore::postgres {

namespace {

using Clock = std::chrono::steady_clock;

// How often a wait for a session looks at the Context.
constexpr auto acquire_slice = std::chrono::milliseconds(10);

// The session's libpq connection, or null when it is not open with the PostgreSQL backend. By name,
// not dynamic_cast: the backend's library does not export its type information.
PGconn* pg_connection(soci::session& sql) {
    soci::details::session_backend* backend = sql.get_backend();
    if (backend == nullptr || backend->get_backend_name() != "postgresql") {
        return nullptr;
    }
    return static_cast<soci::postgresql_session_backend*>(backend)->conn_;
}

// A borrowed connection, and which session of its pool it is.
class SociSession final : public detail::Session {
public:
    SociSession(std::unique_ptr<detail::Connection> connection, std::size_t position)
        : m_connection(std::move(connection)), m_position(position) {}

    std::vector<detail::Result> run(const Context& ctx, std::span<const detail::Statement> statements) override {
        return m_connection->run(ctx, statements);
    }
    void stream(const Context& ctx, const detail::Statement& statement,
                const std::function<void(const detail::Row&)>& on_row) override {
        m_connection->stream(ctx, statement, on_row);
    }
    [[nodiscard]] int backend_pid() const noexcept override { return m_connection->backend_pid(); }
    [[nodiscard]] bool broken() const noexcept override { return m_connection->broken(); }
    [[nodiscard]] bool closed_by_server() noexcept override { return m_connection->broken(); }

    [[nodiscard]] std::size_t position() const noexcept { return m_position; }
    // Gives the connection back to SOCI; false when it is lost or could not be brought back clean.
    [[nodiscard]] bool give_back() noexcept {
        m_connection->give_back_to_owner();
        return !m_connection->broken();
    }

private:
    std::unique_ptr<detail::Connection> m_connection;
    std::size_t m_position;
};

class PoolSource final : public detail::SessionSource {
public:
    explicit PoolSource(soci::connection_pool& pool) : m_pool(pool) {}

    detail::SessionLease acquire(const Context& ctx) override {
        const Clock::time_point limit = detail::handle_wait_limit(ctx);
        std::size_t position = 0;
        for (;;) {
            if (ctx.stop_requested() || Clock::now() >= limit) {
                detail::throw_wait_ended(ctx, "every session of the SOCI pool stayed busy for 30 s");
            }
            const auto slice = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::min<Clock::duration>(acquire_slice, limit - Clock::now()));
            if (m_pool.try_lease(position, static_cast<int>(std::max<long long>(1, slice.count())))) {
                break;
            }
        }
        try {
            soci::session& sql = m_pool.at(position);
            if (take_reconnect(position) ||
                (pg_connection(sql) != nullptr && PQstatus(pg_connection(sql)) != CONNECTION_OK)) {
                sql.reconnect();
            }
            PGconn* conn = pg_connection(sql);
            if (conn == nullptr) {
                throw detail::DatabaseFailure("session " + std::to_string(position) +
                                                  " of the SOCI pool is not open with the PostgreSQL backend: "
                                                  "open every session of the pool before the store uses it",
                                              "08003", detail::FailureKind::connection);
            }
            return {*this, std::make_unique<SociSession>(
                               detail::Connection::borrow(conn, false, statements_of(position)), position)};
        } catch (const soci::soci_error& e) {
            m_pool.give_back(position);
            throw detail::DatabaseFailure(std::string("reconnecting a session of the SOCI pool failed: ") + e.what(),
                                          "08001", detail::FailureKind::connection);
        } catch (...) {
            m_pool.give_back(position);
            throw;
        }
    }

private:
    void give_back(std::unique_ptr<detail::Session> session) noexcept override {
        auto& soci_session = static_cast<SociSession&>(*session);
        const std::size_t position = soci_session.position();
        if (!soci_session.give_back()) {
            const std::lock_guard lock(m_mutex);
            m_reconnect.insert(position);
        }
        session.reset();
        m_pool.give_back(position);
    }

    bool take_reconnect(std::size_t position) {
        const std::lock_guard lock(m_mutex);
        return m_reconnect.erase(position) > 0;
    }

    // The statements the store prepared on the session at `position`, kept from lease to lease.
    std::shared_ptr<detail::PreparedStatements> statements_of(std::size_t position) {
        const std::lock_guard lock(m_mutex);
        auto& statements = m_statements[position];
        if (!statements) {
            statements = std::make_shared<detail::PreparedStatements>();
        }
        return statements;
    }

    soci::connection_pool& m_pool;
    std::mutex m_mutex;
    std::unordered_set<std::size_t> m_reconnect; // sessions given back unusable
    std::unordered_map<std::size_t, std::shared_ptr<detail::PreparedStatements>> m_statements;
};

class SingleSessionSource final : public detail::SessionSource {
public:
    explicit SingleSessionSource(soci::session& session) : m_session(session) {}

    detail::SessionLease acquire(const Context& ctx) override {
        if (!m_use.acquire(ctx, detail::handle_wait_limit(ctx), acquire_slice)) {
            detail::throw_wait_ended(ctx, "the SOCI session stayed busy with other calls of the store for 30 s");
        }
        try {
            PGconn* conn = pg_connection(m_session);
            if (conn == nullptr) {
                throw detail::DatabaseFailure("the SOCI session is not open", "08003", detail::FailureKind::connection);
            }
            return {*this, std::make_unique<SociSession>(detail::Connection::borrow(conn, true, m_statements), 0)};
        } catch (...) {
            m_use.release();
            throw;
        }
    }

private:
    void give_back(std::unique_ptr<detail::Session> session) noexcept override {
        // A lost connection is left for the application to see: reconnecting it here would run its
        // next statements outside the transaction it believes open.
        (void)static_cast<SociSession&>(*session).give_back();
        session.reset();
        m_use.release();
    }

    soci::session& m_session;
    detail::SingleUse m_use;
    std::shared_ptr<detail::PreparedStatements> m_statements = std::make_shared<detail::PreparedStatements>();
};

} // namespace

std::unique_ptr<EventStore> new_event_store_from_soci(soci::connection_pool& pool, const StoreOptions& options) {
    return new_event_store_from_soci_and_replicas(pool, {}, options);
}

std::unique_ptr<EventStore> new_event_store_from_soci(soci::connection_pool& pool, const std::vector<Option>& options) {
    return new_event_store_from_soci(pool, detail::combined(options));
}

std::unique_ptr<EventStore> new_event_store_from_soci(soci::session& session, const StoreOptions& options) {
    if (pg_connection(session) == nullptr) {
        throw Error(Errc::nil_database_connection, "the SOCI session is not open with the PostgreSQL backend");
    }
    return detail::make_store(std::make_shared<SingleSessionSource>(session), "primary", {}, options);
}

std::unique_ptr<EventStore> new_event_store_from_soci(soci::session& session, const std::vector<Option>& options) {
    return new_event_store_from_soci(session, detail::combined(options));
}

std::unique_ptr<EventStore> new_event_store_from_soci_and_replicas(soci::connection_pool& primary,
                                                                   const std::vector<soci::connection_pool*>& replicas,
                                                                   const StoreOptions& options) {
    std::vector<std::shared_ptr<detail::SessionSource>> sources;
    for (std::size_t i = 0; i < replicas.size(); ++i) {
        if (replicas[i] == nullptr) {
            throw Error(Errc::nil_database_connection, "replica " + std::to_string(i) + " is null");
        }
        sources.push_back(std::make_shared<PoolSource>(*replicas[i]));
    }
    return detail::make_store(std::make_shared<PoolSource>(primary), "primary",
                              detail::named_replicas(std::move(sources)), options);
}

std::unique_ptr<EventStore> new_event_store_from_soci_and_replicas(soci::connection_pool& primary,
                                                                   const std::vector<soci::connection_pool*>& replicas,
                                                                   const std::vector<Option>& options) {
    return new_event_store_from_soci_and_replicas(primary, replicas, detail::combined(options));
}

std::unique_ptr<EventStore> new_event_store_from_soci_and_replica(soci::connection_pool& primary,
                                                                  soci::connection_pool* replica,
                                                                  const StoreOptions& options) {
    return new_event_store_from_soci_and_replicas(primary,
                                                  replica != nullptr ? std::vector<soci::connection_pool*>{replica}
                                                                     : std::vector<soci::connection_pool*>{},
                                                  options);
}

std::unique_ptr<EventStore> new_event_store_from_soci_and_replica(soci::connection_pool& primary,
                                                                  soci::connection_pool* replica,
                                                                  const std::vector<Option>& options) {
    return new_event_store_from_soci_and_replica(primary, replica, detail::combined(options));
}

} // namespace eventstore::postgres
