#ifndef EVENTSTORE_SRC_POSTGRES_LIBPQ_HPP
#define EVENTSTORE_SRC_POSTGRES_LIBPQ_HPP

// libpq's handles as RAII types, and a PGresult as a ResultSource. Only the native connection
// (connection.cpp) includes this: nothing above the session seam sees a libpq type.

#include <cstdlib>
#include <memory>
#include <string>

#include <libpq-fe.h>

#include "postgres/result.hpp"

namespace eventstore::postgres::detail {

// Closes the connection, unless it was borrowed from its owner (an adapter's handle).
struct PGconnDeleter {
    bool owns = true;
    void operator()(PGconn* c) const noexcept {
        if (owns) {
            PQfinish(c);
        }
    }
};
struct PGresultDeleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
struct PGcancelDeleter {
    void operator()(PGcancel* c) const noexcept { PQfreeCancel(c); }
};
using ConnPtr = std::unique_ptr<PGconn, PGconnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, PGresultDeleter>;
// Shared: a cancel request may still be on its way when its session is closed.
using CancelPtr = std::shared_ptr<PGcancel>;

// libpq's message without its trailing newline.
[[nodiscard]] inline std::string trimmed(const char* message) {
    std::string s = message != nullptr ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

// A view of a PGresult it does not own (a streamed row's result, alive for one callback).
class PgResultView : public ResultSource {
public:
    explicit PgResultView(const PGresult* result) noexcept : m_result(result) {}

    [[nodiscard]] std::size_t rows() const noexcept override { return static_cast<std::size_t>(PQntuples(m_result)); }
    [[nodiscard]] Field field(std::size_t row, std::size_t column) const noexcept override {
        const int r = static_cast<int>(row);
        const int c = static_cast<int>(column);
        if (PQgetisnull(m_result, r, c) != 0) {
            return Field();
        }
        return Field(
            std::string_view(PQgetvalue(m_result, r, c), static_cast<std::size_t>(PQgetlength(m_result, r, c))));
    }
    [[nodiscard]] std::uint64_t affected_rows() const noexcept override {
        return std::strtoull(PQcmdTuples(const_cast<PGresult*>(m_result)), nullptr,
                             10); // NOLINT: libpq's API is not const-correct
    }

private:
    const PGresult* m_result;
};

// A PGresult owned for as long as the Result that holds it.
class PgResult final : public PgResultView {
public:
    explicit PgResult(ResultPtr result) noexcept : PgResultView(result.get()), m_owned(std::move(result)) {}

private:
    ResultPtr m_owned;
};

} // namespace eventstore::postgres::detail

#endif
