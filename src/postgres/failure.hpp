#ifndef EVENTSTORE_SRC_POSTGRES_FAILURE_HPP
#define EVENTSTORE_SRC_POSTGRES_FAILURE_HPP

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <eventstore/error.hpp>

namespace eventstore::postgres::detail {

// Why a database call failed, decided once where it failed. Everything downstream (the Error thrown
// to the caller, the hooks' status and error labels, whether a call may be retried or a cleanup may
// reuse the connection) reads this one classification.
enum class FailureKind {
    canceled,          // the Context's stop token ended the call
    deadline_exceeded, // the Context's deadline passed (or the server's statement_timeout fired)
    connection,        // no connection could be opened, or it was lost (SQLSTATE class 08, 57P01-57P05)
    pool_exhausted,    // every pooled connection stayed busy for the pool's acquire timeout
    statement,         // the server refused or failed a statement; the connection is fine
};

// What a failed call may have left behind on the server.
enum class Outcome {
    not_sent,        // nothing reached the server: the call may be made again on another session
    nothing_written, // the server ended the transaction without committing (an error, a cancel it honoured)
    unknown,         // the statements were sent and the session was lost before their outcome came back,
                     // in a transaction that commits when they end: they may have committed
};

// A failed database call: the server's or the driver's message, the SQLSTATE when there is one, its
// kind and its outcome. Internal: operations turn it into an eventstore::Error naming themselves.
class DatabaseFailure : public std::runtime_error {
public:
    DatabaseFailure(const std::string& message, std::string sqlstate, FailureKind kind,
                    Outcome outcome = Outcome::not_sent)
        : std::runtime_error(message), m_sqlstate(std::move(sqlstate)), m_kind(kind), m_outcome(outcome) {}

    // A failure the server reported. Class 08 and the server ending the session (57P01 admin shutdown,
    // 57P02 crash shutdown, 57P03 cannot connect now, 57P04 database dropped, 57P05 idle session
    // timeout) are connection failures, anything else the statement's own.
    [[nodiscard]] static DatabaseFailure from_server(const std::string& message, std::string_view sqlstate,
                                                     Outcome outcome) {
        return DatabaseFailure(message, std::string(sqlstate),
                               ends_session(sqlstate) ? FailureKind::connection : FailureKind::statement, outcome);
    }
    // The Context ended the call: `deadline` tells which way.
    [[nodiscard]] static DatabaseFailure interrupted(bool deadline, const std::string& message = {},
                                                     std::string sqlstate = {}, Outcome outcome = Outcome::not_sent) {
        return DatabaseFailure(
            message.empty() ? std::string(deadline ? "context deadline exceeded" : "context canceled") : message,
            std::move(sqlstate), deadline ? FailureKind::deadline_exceeded : FailureKind::canceled, outcome);
    }
    // Whether a SQLSTATE means the server ended or refused the session itself.
    [[nodiscard]] static bool ends_session(std::string_view sqlstate) noexcept {
        if (sqlstate.size() != 5) {
            return false;
        }
        // Compared character by character: g++ 12 misreads a short string compare here at -O2 under
        // -fsanitize=thread as a maybe-uninitialized read.
        const bool class_08 = sqlstate[0] == '0' && sqlstate[1] == '8';
        const bool class_57p0 = sqlstate[0] == '5' && sqlstate[1] == '7' && sqlstate[2] == 'P' && sqlstate[3] == '0' &&
                                sqlstate[4] >= '1' && sqlstate[4] <= '5';
        return class_08 || class_57p0;
    }

    [[nodiscard]] FailureKind kind() const noexcept { return m_kind; }
    [[nodiscard]] Outcome outcome() const noexcept { return m_outcome; }
    [[nodiscard]] const std::string& sqlstate() const noexcept { return m_sqlstate; }
    [[nodiscard]] bool interrupted() const noexcept {
        return m_kind == FailureKind::canceled || m_kind == FailureKind::deadline_exceeded;
    }

    // The sentinel that names this failure, for Error::cause(): in_doubt for a write whose outcome is
    // unknown (`writes`: the call's statements write), else canceled, deadline_exceeded,
    // database_connection_failed or pool_exhausted; none for a statement's own failure.
    [[nodiscard]] std::optional<Errc> cause(bool writes) const noexcept {
        if (writes && m_outcome == Outcome::unknown) {
            return Errc::in_doubt;
        }
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
    [[nodiscard]] Error to_error(Errc operation, bool writes) const {
        std::string detail = what();
        if (m_sqlstate == "42P01") {
            detail += " (a table of the store is missing: run migrate() first, or check the table names and the "
                      "search_path)";
        }
        if (writes && m_outcome == Outcome::unknown) {
            detail += " (the session was lost after the statements were sent: they may have committed; query "
                      "to find out before deciding again)";
        }
        return Error(operation, cause(writes), std::move(detail), m_sqlstate);
    }

private:
    std::string m_sqlstate;
    FailureKind m_kind;
    Outcome m_outcome;
};

} // namespace eventstore::postgres::detail

#endif
