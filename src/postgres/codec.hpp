#ifndef EVENTSTORE_SRC_POSTGRES_CODEC_HPP
#define EVENTSTORE_SRC_POSTGRES_CODEC_HPP

// Values to parameters and result bytes to values, in PostgreSQL's binary formats (no text escaping
// of payloads on the way in, no parsing of numbers and times on the way out).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <eventstore/storable_event.hpp>

#include "postgres/statement.hpp"

namespace eventstore::postgres::detail {

[[nodiscard]] Param int8_param(std::int64_t value);
[[nodiscard]] Param text_param(std::string value);
[[nodiscard]] Param timestamptz_param(TimePoint t);
// A text[] or jsonb[] (`array_type`) in the text array syntax, every element quoted.
[[nodiscard]] Param text_array_param(std::span<const std::string> values, std::uint32_t array_type);
[[nodiscard]] Param int8_array_param(std::span<const std::int64_t> values);
[[nodiscard]] Param bool_array_param(const std::vector<bool>& values);

// The columns of events to insert, as binary arrays in event order.
struct EventColumns {
    Param event_types;
    Param occurred_at;
    Param payloads;
    Param metadata;
    Param tags; // text[]: each event's tags as a text[] literal, NULL for none
    Param ids;  // text[]: each event's id, NULL for none
};
[[nodiscard]] EventColumns event_columns(std::span<const StorableEvent> events);

// Binary result decoders. A value of the wrong size throws Error(scanning_db_row_failed).
[[nodiscard]] std::int64_t decode_int8(std::string_view bytes);
[[nodiscard]] bool decode_bool(std::string_view bytes);
// Times beyond what TimePoint holds (1677-09-21 to 2262-04-11), including +/-infinity, are clamped
// to TimePoint::min() and TimePoint::max().
[[nodiscard]] TimePoint decode_timestamptz(std::string_view bytes);
// A one-dimensional text[] without NULL elements (an empty array gives an empty vector).
[[nodiscard]] std::vector<std::string> decode_text_array(std::string_view bytes);
// A uuid in its lowercase text form.
[[nodiscard]] std::string decode_uuid(std::string_view bytes);
// jsonb in binary is a version byte followed by the text.
[[nodiscard]] std::string decode_jsonb(std::string_view bytes);

// Text result decoders: PostgreSQL's output functions, for a driver whose results come as text
// (libpqxx). Each reads what the server writes and throws Error(scanning_db_row_failed) otherwise.
[[nodiscard]] std::int64_t decode_int8_text(std::string_view text);
[[nodiscard]] bool decode_bool_text(std::string_view text);
// The ISO DateStyle: "2026-11-30 06:43:06.123456+00", offsets like "+05:45" or "-03:30", " BC" years,
// "infinity"; clamped like the binary decoder. The session's TimeZone does not matter (the offset is
// in the text); its DateStyle must be ISO.
[[nodiscard]] TimePoint decode_timestamptz_text(std::string_view text);
// A one-dimensional text[] in the array output syntax ({a,"b c","q\"uote"}); NULL elements refused.
[[nodiscard]] std::vector<std::string> decode_text_array_text(std::string_view text);
// A uuid as text (lowercase, as uuid_out writes it).
[[nodiscard]] std::string decode_uuid_text(std::string_view text);

// For drivers that send parameters as untyped text (libpqxx 6.4; text_params.cpp): the parameter in
// PostgreSQL's text input syntax (binary ones rewritten: arrays with every element quoted, times in
// UTC), the SQL name of a parameter type we send ("" for another), and the statement with each
// placeholder cast to its parameter's type ("$1" -> "($1::bigint[])"), outside quoted literals and
// identifiers, so the server types them as the native driver's typed parameters would be.
[[nodiscard]] std::string param_text(const Param& param);
[[nodiscard]] std::string_view type_name(std::uint32_t type);
[[nodiscard]] std::string typed_placeholders(std::string_view sql, std::span<const Param> params);

// Microseconds since PostgreSQL's epoch (2000-01-01 UTC), sub-microsecond parts truncated towards
// the past: the value a timestamptz parameter carries.
[[nodiscard]] std::int64_t to_postgres_micros(TimePoint t);

// Microseconds between the Unix and PostgreSQL epochs.
inline constexpr std::int64_t postgres_epoch_offset_us = 946'684'800'000'000LL;

} // namespace eventstore::postgres::detail

#endif
