#ifndef EVENTSTORE_SRC_POSTGRES_FAILURE_HPP
#define EVENTSTORE_SRC_POSTGRES_FAILURE_HPP

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <eventstore/error.hpp>

namespace eventstore::postgres::detail {

// Why a database call failed, decided once where it failed. Everything downstream (the Error thrown
// to the caller, the hooks' status and error labels, whether a cleanup may reuse the connection)
// reads this one classification.
enum class FailureKind {
    canceled,          // the Context's stop token ended the call
    deadline_exceeded, // the Context's deadline passed (or the server's statement_timeout fired)
    connection,        // no connection could be opened, or it was lost (SQLSTATE class 08)
    pool_exhausted,    // every pooled connection stayed busy for the pool's acquire timeout
    statement,         // the server refused or failed a statement; the connection is fine
};

// A failed database call: the server's or the driver's message, the SQLSTATE when there is one, and
// its kind. Internal: operations turn it into an eventstore::Error naming themselves.
class DatabaseFailure : public std::runtime_error {
public:
    DatabaseFailure(const std::string& message, std::string sqlstate, FailureKind kind)
        : std::runtime_error(message), m_sqlstate(std::move(sqlstate)), m_kind(kind) {}

    // A failure the server reported: SQLSTATE class 08 is a connection failure, anything else the
    // statement's own.
    [[nodiscard]] static DatabaseFailure from_server(const std::string& message, std::string_view sqlstate) {
        const bool connection = sqlstate.size() >= 2 && sqlstate[0] == '0' && sqlstate[1] == '8';
        return DatabaseFailure(message, std::string(sqlstate),
                               connection ? FailureKind::connection : FailureKind::statement);
    }
    // The Context ended the call: `deadline` tells which way.
    [[nodiscard]] static DatabaseFailure interrupted(bool deadline, const std::string& message = {},
                                                     std::string sqlstate = {}) {
        return DatabaseFailure(
            message.empty() ? std::string(deadline ? "context deadline exceeded" : "context canceled") : message,
            std::move(sqlstate), deadline ? FailureKind::deadline_exceeded : FailureKind::canceled);
    }

    [[nodiscard]] FailureKind kind() const noexcept { return m_kind; }
    [[nodiscard]] const std::string& sqlstate() const noexcept { return m_sqlstate; }
    [[nodiscard]] bool interrupted() const noexcept {
        return m_kind == FailureKind::canceled || m_kind == FailureKind::deadline_exceeded;
    }

    // The sentinel that names this kind, for Error::cause(): canceled, deadline_exceeded,
    // database_connection_failed, pool_exhausted; none for a statement's own failure.
    [[nodiscard]] std::optional<Errc> cause() const noexcept {
        switch (m_kind) {
        case FailureKind::canceled:
            return Errc::canceled;
        case FailureKind::deadline_exceeded:
            return Errc::deadline_exceeded;
        case FailureKind::connection:
            return Errc::database_connection_failed;
        case FailureKind::pool_exhausted:
            return Errc::pool_exhausted;
        case FailureKind::statement:
            break;
        }
        return std::nullopt;
    }

    // The Error the caller sees when `operation` (querying_events_failed, ...) failed this way.
    [[nodiscard]] Error to_error(Errc operation) const { return Error(operation, cause(), what(), m_sqlstate); }

private:
    std::string m_sqlstate;
    FailureKind m_kind;
};

} // namespace eventstore::postgres::detail

#endif
