#ifndef EVENTSTORE_TESTS_SUPPORT_PG_SESSION_HPP
#define EVENTSTORE_TESTS_SUPPORT_PG_SESSION_HPP

// A tiny RAII libpq session for tests: run raw SQL (set-up, checks, holding a transaction or a lock
// open while the code under test runs on another connection). Header-only; link libpq.

#include <cstddef>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <libpq-fe.h>

namespace eventstore::test {

// A failed statement or connection. what() holds the server's message and, for statements, the
// SQLSTATE: "ERROR:  division by zero (SQLSTATE 22012)".
class PgError : public std::runtime_error {
public:
    PgError(const std::string& message, std::string sqlstate)
        : std::runtime_error(message), m_sqlstate(std::move(sqlstate)) {}
    // Five characters, or "" when the failure had none (e.g. the connection could not be opened).
    [[nodiscard]] const std::string& sqlstate() const noexcept { return m_sqlstate; }

private:
    std::string m_sqlstate;
};

class PgSession {
public:
    using Value = std::optional<std::string>; // nullopt is SQL NULL
    using Row = std::vector<Value>;
    using Rows = std::vector<Row>;

    // Connects at once; throws PgError when that fails.
    explicit PgSession(const std::string& conninfo) : m_conn(PQconnectdb(conninfo.c_str())) {
        if (m_conn == nullptr) {
            throw PgError("PgSession: out of memory", "");
        }
        if (PQstatus(m_conn.get()) != CONNECTION_OK) {
            throw PgError("PgSession: cannot connect (" + conninfo + "): " + trimmed(PQerrorMessage(m_conn.get())), "");
        }
        // Keep NOTICEs ("... does not exist, skipping") out of the test output.
        PQsetNoticeProcessor(m_conn.get(), &PgSession::ignore_notice, nullptr);
    }

    // Runs one or more statements (simple query protocol); returns the rows of the last one.
    Rows exec(std::string_view sql) {
        const std::string text(sql);
        return collect(PQexec(m_conn.get(), text.c_str()));
    }

    // Runs one statement with $1, $2, ... bound to `params` (text format; nullopt binds NULL).
    Rows exec(std::string_view sql, const std::vector<Value>& params) {
        const std::string text(sql);
        std::vector<const char*> values;
        values.reserve(params.size());
        for (const auto& p : params) {
            values.push_back(p ? p->c_str() : nullptr);
        }
        return collect(PQexecParams(m_conn.get(), text.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                    nullptr, nullptr, 0));
    }

    // The first column of the first row; throws std::runtime_error when there is no row.
    Value scalar(std::string_view sql) {
        Rows rows = exec(sql);
        if (rows.empty() || rows.front().empty()) {
            throw std::runtime_error("PgSession::scalar: no value from: " + std::string(sql));
        }
        return std::move(rows.front().front());
    }

    // The server process serving this session (for pg_stat_activity / pg_cancel_backend checks).
    [[nodiscard]] int backend_pid() const noexcept { return PQbackendPID(m_conn.get()); }
    [[nodiscard]] PGconn* native() const noexcept { return m_conn.get(); }

private:
    struct ConnDeleter {
        void operator()(PGconn* c) const noexcept { PQfinish(c); }
    };
    struct ResultDeleter {
        void operator()(PGresult* r) const noexcept { PQclear(r); }
    };

    static void ignore_notice(void* /*arg*/, const char* /*message*/) {}

    static std::string trimmed(const char* message) {
        std::string s = message != nullptr ? message : "";
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
            s.pop_back();
        }
        return s;
    }

    Rows collect(PGresult* raw) {
        const std::unique_ptr<PGresult, ResultDeleter> result(raw);
        if (!result) {
            throw PgError("PgSession: " + trimmed(PQerrorMessage(m_conn.get())), "");
        }
        const ExecStatusType status = PQresultStatus(result.get());
        if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && status != PGRES_EMPTY_QUERY) {
            const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
            std::string sqlstate = state != nullptr ? state : "";
            std::string message = trimmed(PQresultErrorMessage(result.get()));
            if (message.empty()) {
                message = std::string("PgSession: ") + PQresStatus(status);
            }
            if (!sqlstate.empty()) {
                message += " (SQLSTATE " + sqlstate + ")";
            }
            throw PgError(message, std::move(sqlstate));
        }
        Rows rows;
        const int n_rows = PQntuples(result.get());
        const int n_cols = PQnfields(result.get());
        rows.reserve(static_cast<std::size_t>(n_rows));
        for (int r = 0; r < n_rows; ++r) {
            Row row;
            row.reserve(static_cast<std::size_t>(n_cols));
            for (int c = 0; c < n_cols; ++c) {
                if (PQgetisnull(result.get(), r, c) != 0) {
                    row.emplace_back(std::nullopt);
                } else {
                    row.emplace_back(std::string(PQgetvalue(result.get(), r, c),
                                                 static_cast<std::size_t>(PQgetlength(result.get(), r, c))));
                }
            }
            rows.push_back(std::move(row));
        }
        return rows;
    }

    std::unique_ptr<PGconn, ConnDeleter> m_conn;
};

} // namespace eventstore::test

#endif
