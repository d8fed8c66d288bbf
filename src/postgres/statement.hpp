#ifndef EVENTSTORE_SRC_POSTGRES_STATEMENT_HPP
#define EVENTSTORE_SRC_POSTGRES_STATEMENT_HPP

// What the engine sends: statements whose every value is a bind parameter. No value is ever spliced
// into SQL text; a statement's text depends only on the shape of what it does.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace eventstore::postgres::detail {

// Type OIDs of the parameters we send (pg_type.dat); stable across PostgreSQL versions.
namespace oid {
inline constexpr std::uint32_t boolean = 16;
inline constexpr std::uint32_t int8 = 20;
inline constexpr std::uint32_t text = 25;
inline constexpr std::uint32_t jsonb = 3802;
inline constexpr std::uint32_t timestamptz = 1184;
inline constexpr std::uint32_t bool_array = 1000;
inline constexpr std::uint32_t int8_array = 1016;
inline constexpr std::uint32_t text_array = 1009;
inline constexpr std::uint32_t jsonb_array = 3807;
inline constexpr std::uint32_t timestamptz_array = 1185;
} // namespace oid

// The most bind parameters one statement may have: the protocol counts them in 16 bits.
inline constexpr std::size_t max_statement_parameters = 65535;

// The wire format of a parameter: PostgreSQL's text input syntax, or its binary send format.
enum class Format : std::uint8_t { text, binary };

// One bind parameter. Built by the encoders in codec.hpp, which know each type's formats.
struct Param {
    std::uint32_t type = 0;
    std::string value;
    Format format = Format::text;
};

// One statement. Results always come back in binary format (codec.hpp decodes them).
struct Statement {
    // Whether the session may keep the statement parsed and planned across calls. Only shapes whose
    // plan does not depend on the parameters' values may be cached (filter_sql.hpp,
    // generic_plan_safe): the others are parsed and planned with their values on every call (the
    // session switches the rest of the transaction to custom plans before the first of them that has
    // parameters, so a pipeline should end with them).
    enum class Plan : std::uint8_t { cached, per_call };

    std::string sql;
    std::vector<Param> params;
    Plan plan = Plan::cached;
    // The transaction-scoped locks it takes guard only the call it belongs to (a read's barrier). Inside
    // a transaction of the caller's, which would hold them to its end, the session takes them in a
    // savepoint it rolls back at the end of the call (Connection::frame).
    bool call_scoped_locks = false;

    // A statement run often with a value-independent plan: parsed once per session.
    [[nodiscard]] static Statement cached(std::string sql, std::vector<Param> params = {}) {
        return Statement{std::move(sql), std::move(params), Plan::cached, false};
    }
    // A statement planned with its values on every call: one-off DDL and transaction control, and
    // reads whose best plan depends on the values.
    [[nodiscard]] static Statement per_call(std::string sql, std::vector<Param> params = {}) {
        return Statement{std::move(sql), std::move(params), Plan::per_call, false};
    }
    [[nodiscard]] static Statement planned(bool cache, std::string sql, std::vector<Param> params) {
        return Statement{std::move(sql), std::move(params), cache ? Plan::cached : Plan::per_call, false};
    }
};

} // namespace eventstore::postgres::detail

#endif
