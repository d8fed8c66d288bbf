#ifndef EVENTSTORE_DEVSUPPORT_PG_SESSION_HPP
#define EVENTSTORE_DEVSUPPORT_PG_SESSION_HPP

// A plain libpq session for tests, benchmarks and tools: raw SQL for set-up and checks, for holding a
// transaction or a lock open while the code under test runs elsewhere, and for measuring PostgreSQL
// itself. Nothing here goes through the event store, which is what these programs test or measure.

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <libpq-fe.h>

namespace eventstore::devsupport {

// A failed connection or statement. what() holds the server's message and, for a statement, its
// SQLSTATE and text: "ERROR:  division by zero (SQLSTATE 22012) in: SELECT 1 / 0".
class PgError : public std::runtime_error {
public:
    PgError(const std::string& message, std::string sqlstate);
    // Five characters, or "" when the failure had none (e.g. the connection could not be opened).
    [[nodiscard]] const std::string& sqlstate() const noexcept { return m_sqlstate; }

private:
    std::string m_sqlstate;
};

using PgValue = std::optional<std::string>; // nullopt is SQL NULL
using PgRow = std::vector<PgValue>;
using PgRows = std::vector<PgRow>;

// The result of one successful statement, in text format. Reading a field outside the result throws
// std::out_of_range, so that a test expecting a row fails instead of reading garbage.
class PgResult {
public:
    explicit PgResult(PGresult* result) noexcept;
    [[nodiscard]] int rows() const noexcept;
    [[nodiscard]] int columns() const noexcept;
    [[nodiscard]] bool is_null(int row, int column) const;
    // The field's text; "" for NULL.
    [[nodiscard]] std::string value(int row, int column) const;
    // The field's text; nullopt for NULL.
    [[nodiscard]] PgValue field(int row, int column) const;
    // Rows an INSERT, UPDATE or DELETE changed; 0 for other statements.
    [[nodiscard]] std::uint64_t affected() const;
    // Every row, copied out: for comparing whole results and iterating over them.
    [[nodiscard]] PgRows all() const;

private:
    void check_position(int row, int column) const;

    struct Clear {
        void operator()(PGresult* r) const noexcept { PQclear(r); }
    };
    std::unique_ptr<PGresult, Clear> m_result;
};

class PgSession {
public:
    // Connects at once; throws PgError when that fails. NOTICE messages are dropped.
    explicit PgSession(const std::string& conninfo);

    // One or more statements (simple query protocol); the result of the last one.
    PgResult exec(std::string_view sql);
    // One statement with $1, $2, ... bound to `params` as text (nullopt binds NULL).
    PgResult exec(std::string_view sql, const std::vector<PgValue>& params);
    // A named prepared statement (`types` may leave parameter types to the server), then runs of it.
    void prepare(const std::string& name, std::string_view sql, const std::vector<Oid>& types = {});
    PgResult exec_prepared(const std::string& name, const std::vector<std::string>& params);

    // The first field of the first row of `sql`; throws PgError when there is no row.
    PgValue scalar(std::string_view sql);

    // The server process serving this session (for pg_stat_activity and advisory-lock stripes).
    [[nodiscard]] int backend_pid() const noexcept { return PQbackendPID(m_conn.get()); }
    [[nodiscard]] PGconn* native() const noexcept { return m_conn.get(); }

private:
    PgResult checked(PGresult* raw, std::string_view statement);

    struct Finish {
        void operator()(PGconn* c) const noexcept { PQfinish(c); }
    };
    std::unique_ptr<PGconn, Finish> m_conn;
};

} // namespace eventstore::devsupport

#endif
