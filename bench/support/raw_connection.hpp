#ifndef EVENTSTORE_BENCH_SUPPORT_RAW_CONNECTION_HPP
#define EVENTSTORE_BENCH_SUPPORT_RAW_CONNECTION_HPP

// A plain libpq connection for the benchmark's floors, the Go library's literal SQL, and the fixture
// tools' own statements: what the library itself must not be used for when it is what is measured.

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <libpq-fe.h>

namespace eventstore::bench_support {

class Result {
public:
    explicit Result(PGresult* r) noexcept : m_r(r) {}
    ~Result() { PQclear(m_r); }
    Result(Result&& other) noexcept : m_r(std::exchange(other.m_r, nullptr)) {}
    Result& operator=(Result&&) = delete;
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;
    [[nodiscard]] int rows() const { return PQntuples(m_r); }
    [[nodiscard]] bool is_null(int row, int col) const { return PQgetisnull(m_r, row, col) != 0; }
    [[nodiscard]] std::string value(int row, int col) const { return PQgetvalue(m_r, row, col); }
    [[nodiscard]] std::uint64_t affected() const { return std::strtoull(PQcmdTuples(m_r), nullptr, 10); }

private:
    PGresult* m_r;
};

class RawConnection {
public:
    explicit RawConnection(const std::string& dsn) : m_conn(PQconnectdb(dsn.c_str())) {
        if (PQstatus(m_conn) != CONNECTION_OK) {
            const std::string message = PQerrorMessage(m_conn);
            PQfinish(m_conn);
            throw std::runtime_error("connection failed: " + message);
        }
    }
    ~RawConnection() { PQfinish(m_conn); }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    // The simple query protocol (PQexec), as the Go library's literal SQL is sent.
    Result exec(const std::string& sql) { return check(PQexec(m_conn, sql.c_str()), sql); }

    void prepare(const std::string& name, const std::string& sql, const std::vector<Oid>& types) {
        (void)check(PQprepare(m_conn, name.c_str(), sql.c_str(), static_cast<int>(types.size()), types.data()), sql);
    }

    // Text parameters, text results.
    Result exec_prepared(const std::string& name, const std::vector<std::string>& values) {
        std::vector<const char*> v;
        v.reserve(values.size());
        for (const std::string& s : values) {
            v.push_back(s.c_str());
        }
        return check(PQexecPrepared(m_conn, name.c_str(), static_cast<int>(v.size()), v.data(), nullptr, nullptr, 0),
                     name);
    }

private:
    Result check(PGresult* r, const std::string& what) {
        Result res(r);
        const ExecStatusType status = PQresultStatus(r);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            const std::string message = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(m_conn);
            throw std::runtime_error(what.substr(0, 160) + ": " + message);
        }
        return res;
    }

    PGconn* m_conn;
};

} // namespace eventstore::bench_support

#endif
