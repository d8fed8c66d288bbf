#include "devsupport/pg_session.hpp"

#include <cstdlib>
#include <utility>

namespace eventstore::devsupport {

namespace {

std::string trimmed(const char* message) {
    std::string s = message != nullptr ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

// Enough of a statement to recognise it in a failure message.
std::string abbreviated(std::string_view sql) {
    constexpr std::size_t limit = 200;
    return sql.size() <= limit ? std::string(sql) : std::string(sql.substr(0, limit)) + "...";
}

void ignore_notice(void* /*arg*/, const char* /*message*/) {}

} // namespace

PgError::PgError(const std::string& message, std::string sqlstate)
    : std::runtime_error(message), m_sqlstate(std::move(sqlstate)) {}

PgResult::PgResult(PGresult* result) noexcept : m_result(result) {}

int PgResult::rows() const noexcept { return PQntuples(m_result.get()); }
int PgResult::columns() const noexcept { return PQnfields(m_result.get()); }

void PgResult::check_position(int row, int column) const {
    if (row < 0 || row >= rows() || column < 0 || column >= columns()) {
        throw std::out_of_range("PgResult: no field (" + std::to_string(row) + ", " + std::to_string(column) +
                                ") in a result of " + std::to_string(rows()) + " rows and " +
                                std::to_string(columns()) + " columns");
    }
}

bool PgResult::is_null(int row, int column) const {
    check_position(row, column);
    return PQgetisnull(m_result.get(), row, column) != 0;
}

std::string PgResult::value(int row, int column) const {
    check_position(row, column);
    return {PQgetvalue(m_result.get(), row, column),
            static_cast<std::size_t>(PQgetlength(m_result.get(), row, column))};
}

PgValue PgResult::field(int row, int column) const {
    return is_null(row, column) ? std::nullopt : PgValue(value(row, column));
}

std::uint64_t PgResult::affected() const { return std::strtoull(PQcmdTuples(m_result.get()), nullptr, 10); }

PgRows PgResult::all() const {
    PgRows out;
    out.reserve(static_cast<std::size_t>(rows()));
    for (int r = 0; r < rows(); ++r) {
        PgRow row;
        row.reserve(static_cast<std::size_t>(columns()));
        for (int c = 0; c < columns(); ++c) {
            row.push_back(field(r, c));
        }
        out.push_back(std::move(row));
    }
    return out;
}

PgSession::PgSession(const std::string& conninfo) : m_conn(PQconnectdb(conninfo.c_str())) {
    if (!m_conn) {
        throw PgError("PgSession: out of memory", "");
    }
    if (PQstatus(m_conn.get()) != CONNECTION_OK) {
        throw PgError("PgSession: cannot connect (" + conninfo + "): " + trimmed(PQerrorMessage(m_conn.get())), "");
    }
    // Keep "... does not exist, skipping" and the like out of test and benchmark output.
    PQsetNoticeProcessor(m_conn.get(), &ignore_notice, nullptr);
}

PgResult PgSession::checked(PGresult* raw, std::string_view statement) {
    PgResult result(raw);
    if (raw == nullptr) {
        throw PgError("PgSession: " + trimmed(PQerrorMessage(m_conn.get())) + " in: " + abbreviated(statement), "");
    }
    const ExecStatusType status = PQresultStatus(raw);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY) {
        return result;
    }
    const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
    std::string sqlstate = state != nullptr ? state : "";
    std::string message = trimmed(PQresultErrorMessage(raw));
    if (message.empty()) {
        message = std::string("PgSession: ") + PQresStatus(status);
    }
    if (!sqlstate.empty()) {
        message += " (SQLSTATE " + sqlstate + ")";
    }
    throw PgError(message + " in: " + abbreviated(statement), std::move(sqlstate));
}

PgResult PgSession::exec(std::string_view sql) {
    const std::string text(sql);
    return checked(PQexec(m_conn.get(), text.c_str()), sql);
}

PgResult PgSession::exec(std::string_view sql, const std::vector<PgValue>& params) {
    const std::string text(sql);
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const PgValue& p : params) {
        values.push_back(p ? p->c_str() : nullptr);
    }
    return checked(PQexecParams(m_conn.get(), text.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                                nullptr, nullptr, 0),
                   sql);
}

void PgSession::prepare(const std::string& name, std::string_view sql, const std::vector<Oid>& types) {
    const std::string text(sql);
    (void)checked(PQprepare(m_conn.get(), name.c_str(), text.c_str(), static_cast<int>(types.size()), types.data()),
                  sql);
}

PgResult PgSession::exec_prepared(const std::string& name, const std::vector<std::string>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const std::string& p : params) {
        values.push_back(p.c_str());
    }
    return checked(
        PQexecPrepared(m_conn.get(), name.c_str(), static_cast<int>(values.size()), values.data(), nullptr, nullptr, 0),
        "EXECUTE " + name);
}

PgValue PgSession::scalar(std::string_view sql) {
    const PgResult result = exec(sql);
    if (result.rows() == 0 || result.columns() == 0) {
        throw PgError("PgSession::scalar: no value from: " + abbreviated(sql), "");
    }
    return result.field(0, 0);
}

} // namespace eventstore::devsupport
