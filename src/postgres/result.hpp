#ifndef EVENTSTORE_SRC_POSTGRES_RESULT_HPP
#define EVENTSTORE_SRC_POSTGRES_RESULT_HPP

// What a statement returns, as the engine's operations see it: rows of binary fields and a count of
// affected rows, whatever driver produced them. The session that ran the statement owns the bytes;
// a Row or Field is a view into them and lives no longer than its Result (or, when streaming, than
// the callback it was given to).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <eventstore/storable_event.hpp>

#include "postgres/codec.hpp"

namespace eventstore::postgres::detail {

// One value, in binary format (the native driver asks for it) or text format (a driver that cannot,
// such as libpqxx), or SQL NULL.
class Field {
public:
    Field() = default;
    explicit Field(std::string_view bytes, Format format = Format::binary) noexcept
        : m_bytes(bytes), m_null(false), m_text(format == Format::text) {}

    [[nodiscard]] bool is_null() const noexcept { return m_null; }
    [[nodiscard]] std::string_view bytes() const noexcept { return m_bytes; }

    // Decoders; each throws Error(scanning_db_row_failed) for bytes that are not its type's.
    [[nodiscard]] std::int64_t as_int8() const { return m_text ? decode_int8_text(m_bytes) : decode_int8(m_bytes); }
    [[nodiscard]] bool as_bool() const { return m_text ? decode_bool_text(m_bytes) : decode_bool(m_bytes); }
    [[nodiscard]] TimePoint as_timestamptz() const {
        return m_text ? decode_timestamptz_text(m_bytes) : decode_timestamptz(m_bytes);
    }
    // jsonb's text output is its binary form without the version byte.
    [[nodiscard]] std::string as_jsonb() const { return m_text ? std::string(m_bytes) : decode_jsonb(m_bytes); }
    [[nodiscard]] std::vector<std::string> as_text_array() const {
        return m_text ? decode_text_array_text(m_bytes) : decode_text_array(m_bytes);
    }
    [[nodiscard]] std::string as_uuid() const { return m_text ? decode_uuid_text(m_bytes) : decode_uuid(m_bytes); }
    // text, name and varchar are the same bytes in both formats.
    [[nodiscard]] std::string as_text() const { return std::string(m_bytes); }

private:
    std::string_view m_bytes;
    bool m_null = true;
    bool m_text = false;
};

// Where a Result's fields come from: implemented by each driver over its own result object.
class ResultSource {
public:
    ResultSource() = default;
    ResultSource(const ResultSource&) = delete;
    ResultSource& operator=(const ResultSource&) = delete;
    virtual ~ResultSource() = default;

    [[nodiscard]] virtual std::size_t rows() const noexcept = 0;
    [[nodiscard]] virtual Field field(std::size_t row, std::size_t column) const noexcept = 0;
    // Rows inserted, updated or deleted, from the command tag (0 for other statements).
    [[nodiscard]] virtual std::uint64_t affected_rows() const noexcept = 0;
};

class Row {
public:
    Row(const ResultSource& source, std::size_t row) noexcept : m_source(&source), m_row(row) {}
    [[nodiscard]] Field operator[](std::size_t column) const noexcept { return m_source->field(m_row, column); }

private:
    const ResultSource* m_source;
    std::size_t m_row;
};

// The outcome of one statement. Empty (no rows, nothing affected) when default-constructed.
class Result {
public:
    Result() = default;
    explicit Result(std::unique_ptr<const ResultSource> source) noexcept : m_source(std::move(source)) {}

    [[nodiscard]] std::size_t size() const noexcept { return m_source ? m_source->rows() : 0; }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    [[nodiscard]] Row operator[](std::size_t row) const noexcept { return Row(*m_source, row); }
    [[nodiscard]] std::uint64_t affected_rows() const noexcept { return m_source ? m_source->affected_rows() : 0; }

private:
    std::unique_ptr<const ResultSource> m_source;
};

} // namespace eventstore::postgres::detail

#endif
