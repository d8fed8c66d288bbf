// A native session's life: opening it (libpq's asynchronous handshake, every wait of it bounded), and
// noticing, without a round trip, that the server has ended it.

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string_view>

#include <poll.h>

#include "postgres/connection.hpp"

namespace eventstore::postgres::detail {

namespace {

using Clock = std::chrono::steady_clock;

// TCP keepalives, so that a server that vanished from a silent network is noticed within about
// 90 s even by a call without a deadline: a minute idle, then 3 probes 10 s apart. The conninfo
// overrides them (they come before it in the connection parameters).
constexpr std::array<const char*, 4> keepalive_keywords{"keepalives", "keepalives_idle", "keepalives_interval",
                                                        "keepalives_count"};
constexpr std::array<const char*, 4> keepalive_values{"1", "60", "10", "3"};

// The SQLSTATE in a verbose libpq error message ("... FATAL:  53300: sorry, too many clients
// already"), or "" when the failure is libpq's own (no server message).
std::string sqlstate_in(const std::string& message) {
    for (std::size_t at = message.find(":  "); at != std::string::npos; at = message.find(":  ", at + 1)) {
        const std::size_t code = at + 3;
        if (code + 6 > message.size() || message[code + 5] != ':') {
            continue;
        }
        const bool shaped = std::all_of(message.begin() + static_cast<std::ptrdiff_t>(code),
                                        message.begin() + static_cast<std::ptrdiff_t>(code + 5), [](char ch) {
                                            return std::isdigit(static_cast<unsigned char>(ch)) != 0 ||
                                                   std::isupper(static_cast<unsigned char>(ch)) != 0;
                                        });
        if (shaped) {
            return message.substr(code, 5);
        }
    }
    return {};
}

// The handshake's failure: the server's message (first line: verbose messages add a LOCATION line)
// and SQLSTATE, or libpq's with 08001 (could not establish the connection).
DatabaseFailure connect_failure(PGconn* conn) {
    std::string message = trimmed(PQerrorMessage(conn));
    std::string sqlstate = sqlstate_in(message);
    if (const auto newline = message.find('\n'); newline != std::string::npos) {
        message.resize(newline);
    }
    return DatabaseFailure(message, sqlstate.empty() ? "08001" : std::move(sqlstate), FailureKind::connection);
}

// libpq's own connect_timeout from the connection's parameters (0: none). The asynchronous
// handshake does not enforce it, so open() does.
std::chrono::seconds connect_timeout_of(PGconn* conn) {
    std::chrono::seconds timeout{0};
    PQconninfoOption* options = PQconninfo(conn);
    for (const PQconninfoOption* o = options; o != nullptr && o->keyword != nullptr; ++o) {
        if (std::string_view(o->keyword) == "connect_timeout" && o->val != nullptr) {
            timeout = std::chrono::seconds(std::max(0L, std::strtol(o->val, nullptr, 10)));
        }
    }
    PQconninfoFree(options);
    return timeout;
}

} // namespace

std::unique_ptr<Connection> Connection::open(const std::string& conninfo, const Context& ctx, Clock::time_point limit,
                                             bool pooled) {
    if (Interruption why = interruption_of(ctx); why != Interruption::none) {
        throw interrupted(why);
    }
    std::array<const char*, keepalive_keywords.size() + 2> keywords{};
    std::array<const char*, keepalive_values.size() + 2> values{};
    std::copy(keepalive_keywords.begin(), keepalive_keywords.end(), keywords.begin());
    std::copy(keepalive_values.begin(), keepalive_values.end(), values.begin());
    keywords[keepalive_keywords.size()] = "dbname"; // expanded: a connection string or URI
    values[keepalive_values.size()] = conninfo.c_str();
    ConnPtr conn(PQconnectStartParams(keywords.data(), values.data(), 1));
    if (!conn) {
        throw DatabaseFailure("out of memory creating a connection", {}, FailureKind::connection);
    }
    if (PQstatus(conn.get()) == CONNECTION_BAD) {
        throw connect_failure(conn.get());
    }
    auto connection =
        std::make_unique<Connection>(std::move(conn), pooled ? SessionState::per_transaction : SessionState::kept);
    connection->m_pooled = pooled;
    PGconn* c = connection->m_conn.get();
    // Verbose messages carry the server's SQLSTATE, which libpq offers no other way to read for a
    // session that failed to start.
    PQsetErrorVerbosity(c, PQERRORS_VERBOSE);
    const auto started = Clock::now();
    if (const auto timeout = connect_timeout_of(c); timeout.count() > 0) {
        limit = std::min(limit, started + timeout);
    }
    // libpq drives the handshake; we only wait on the socket, so the context can end it.
    for (PostgresPollingStatusType state = PGRES_POLLING_WRITING; state != PGRES_POLLING_OK; state = PQconnectPoll(c)) {
        if (state == PGRES_POLLING_FAILED) {
            throw connect_failure(c);
        }
        pollfd pfd{PQsocket(c), static_cast<short>(state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
        for (;;) {
            if (Interruption why = interruption_of(ctx); why != Interruption::none) {
                throw interrupted(why);
            }
            const auto now = Clock::now();
            if (now >= limit) {
                throw DatabaseFailure(
                    "the server did not complete the connection within " +
                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - started).count()) +
                        " ms (PoolOptions::acquire_timeout, or connect_timeout in the connection string)",
                    "08001", FailureKind::connection);
            }
            auto until = std::min(limit, now + stop_poll_interval);
            if (auto d = ctx.deadline()) {
                until = std::min(until, *d);
            }
            const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1;
            const int n = ::poll(&pfd, 1, static_cast<int>(wait_ms));
            if (n > 0) {
                break;
            }
            if (n < 0 && errno != EINTR) {
                throw DatabaseFailure("poll failed while connecting", "08001", FailureKind::connection);
            }
        }
    }
    PQsetErrorVerbosity(c, PQERRORS_DEFAULT);
    // NOTICEs ("relation ... already exists, skipping") are not errors and must not reach stderr. But
    // a FATAL the server sends between calls, before it closes the session (a terminated backend,
    // idle_session_timeout, a shutdown), arrives as a notice too: it is kept, to say why the session
    // ended.
    PQsetNoticeReceiver(c, &Connection::receive_notice, connection.get());
    if (PQsetnonblocking(c, 1) != 0 || PQenterPipelineMode(c) != 1) {
        throw DatabaseFailure(trimmed(PQerrorMessage(c)), "08001", FailureKind::connection);
    }
    connection->m_cancel = CancelPtr(PQgetCancel(c), PGcancelDeleter());
    connection->m_backend_pid = PQbackendPID(c); // behind a pooler, the pooler's key for this client
    if (!pooled) {
        connection->session_setup(ctx);
    }
    return connection;
}

std::unique_ptr<Connection> Connection::borrow(PGconn* c, bool join, std::shared_ptr<PreparedStatements> statements) {
    if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
        throw DatabaseFailure("the connection is closed or lost: reconnect it", "08003", FailureKind::connection);
    }
    if (PQpipelineStatus(c) != PQ_PIPELINE_OFF || PQisBusy(c) != 0) {
        throw DatabaseFailure("the connection is busy with a statement of its owner's", "55000",
                              FailureKind::statement);
    }
    bool joined = false;
    switch (PQtransactionStatus(c)) {
    case PQTRANS_IDLE:
        break;
    case PQTRANS_INTRANS:
        if (!join) {
            throw DatabaseFailure("a pooled connection was given back inside a transaction: end transactions "
                                  "before giving connections back to their pool",
                                  "25001", FailureKind::statement);
        }
        joined = true;
        break;
    case PQTRANS_INERROR:
        throw DatabaseFailure("the connection's transaction is aborted by an earlier error: roll it back first",
                              "25P02", FailureKind::statement);
    default:
        throw DatabaseFailure("the connection is busy with a statement of its owner's", "55000",
                              FailureKind::statement);
    }
    auto connection = std::make_unique<Connection>(ConnPtr(c, PGconnDeleter{false}), SessionState::per_transaction);
    connection->m_joined = joined;
    connection->m_was_nonblocking = PQisnonblocking(c) == 1;
    // The owner's notice receiver stays: its argument could not be put back.
    if (PQsetnonblocking(c, 1) != 0 || PQenterPipelineMode(c) != 1) {
        throw DatabaseFailure(trimmed(PQerrorMessage(c)), "08000", FailureKind::connection);
    }
    connection->m_cancel = CancelPtr(PQgetCancel(c), PGcancelDeleter());
    connection->m_backend_pid = PQbackendPID(c);
    if (statements && statements->backend_pid != connection->m_backend_pid) {
        statements->reset(connection->m_backend_pid); // another server session: none of them is there
    }
    connection->m_statements = std::move(statements);
    return connection;
}

Connection::~Connection() {
    if (borrowed()) {
        give_back_to_owner();
    }
}

void Connection::give_back_to_owner() noexcept {
    PGconn* c = m_conn.get();
    if (PQstatus(c) != CONNECTION_OK) {
        m_broken = true;
        return;
    }
    // A stream whose consumer threw left its statement running: end it and read what is left.
    if (m_sync_pending) {
        if (m_cancel) {
            std::array<char, 256> errbuf{};
            (void)PQcancel(m_cancel.get(), errbuf.data(), static_cast<int>(errbuf.size()));
        }
        (void)PQsetnonblocking(c, 0);
        while (m_sync_pending && PQstatus(c) == CONNECTION_OK) {
            ResultPtr res(PQgetResult(c));
            if (res && PQresultStatus(res.get()) == PGRES_PIPELINE_SYNC) {
                m_sync_pending = false;
            }
        }
        m_broken = m_sync_pending;
        (void)PQsetnonblocking(c, 1);
    }
    if (!m_joined && PQtransactionStatus(c) != PQTRANS_IDLE) {
        const bool was_broken = m_broken;
        m_broken = false;
        roll_back_own_transaction();
        m_broken = m_broken || was_broken;
    }
    if (PQexitPipelineMode(c) != 1) {
        m_broken = true;
    }
    (void)PQsetnonblocking(c, m_was_nonblocking ? 1 : 0);
}

bool Connection::broken() const noexcept {
    // Inside its owner's transaction (joined), a borrowed connection is where it should be.
    return m_broken || PQstatus(m_conn.get()) != CONNECTION_OK ||
           (!m_joined && PQtransactionStatus(m_conn.get()) != PQTRANS_IDLE);
}

bool Connection::closed_by_server() noexcept {
    // Between calls the server has nothing to say: anything readable is the end of the session (a
    // restart or idle_session_timeout sends a FATAL, then closes). Seen without a round trip.
    pollfd pfd{PQsocket(m_conn.get()), POLLIN, 0};
    if (::poll(&pfd, 1, 0) != 0) {
        m_broken = true;
    }
    return m_broken;
}

void Connection::receive_notice(void* self, const PGresult* notice) {
    auto* connection = static_cast<Connection*>(self);
    const char* severity = PQresultErrorField(notice, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity == nullptr || (std::string_view(severity) != "FATAL" && std::string_view(severity) != "PANIC")) {
        return;
    }
    const char* state = PQresultErrorField(notice, PG_DIAG_SQLSTATE);
    connection->m_fatal_sqlstate = state != nullptr ? state : "";
    connection->m_fatal_message = trimmed(PQresultErrorMessage(notice));
}

void Connection::check_alive() {
    pollfd pfd{PQsocket(m_conn.get()), POLLIN, 0};
    if (::poll(&pfd, 1, 0) == 0) {
        return;
    }
    // Nothing has been sent yet: whatever ended the session, the call may go to another one.
    // Reading and parsing the input hands a FATAL the server sent to receive_notice.
    (void)PQconsumeInput(m_conn.get());
    (void)PQisBusy(m_conn.get());
    // A borrowed connection may have news for its owner (a notification of a LISTEN of theirs):
    // lost only when libpq found it closed.
    if (borrowed() && PQstatus(m_conn.get()) == CONNECTION_OK) {
        return;
    }
    m_broken = true;
    if (!m_fatal_message.empty()) {
        throw DatabaseFailure(m_fatal_message, m_fatal_sqlstate, FailureKind::connection, Outcome::not_sent);
    }
    throw DatabaseFailure("the server closed the session while it was idle", "08006", FailureKind::connection,
                          Outcome::not_sent);
}

} // namespace eventstore::postgres::detail
