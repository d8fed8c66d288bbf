#include "postgres/table_name.hpp"

#include <array>
#include <cstdint>

#include <eventstore/error.hpp>

#include "core/json.hpp"

namespace eventstore::postgres::detail {

namespace {

constexpr std::size_t max_identifier_bytes = 63; // NAMEDATALEN - 1

} // namespace

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (char c : name) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
    return out;
}

TableName parse_table_name(std::string_view name) {
    if (name.empty()) {
        throw Error(Errc::empty_events_table_name);
    }
    TableName t;
    const auto dot = name.find('.');
    if (dot != std::string_view::npos) {
        t.schema = std::string(name.substr(0, dot));
        t.table = std::string(name.substr(dot + 1));
        if (t.table.find('.') != std::string::npos) {
            throw Error(Errc::invalid_table_name, "\"" + std::string(name) + "\" has more than one dot");
        }
    } else {
        t.table = std::string(name);
    }
    for (const std::string* part : {&t.schema, &t.table}) {
        if (part == &t.schema && dot == std::string_view::npos) {
            continue;
        }
        if (part->empty()) {
            throw Error(Errc::invalid_table_name, "\"" + std::string(name) + "\" has an empty part");
        }
        if (part->size() > max_identifier_bytes) {
            throw Error(Errc::invalid_table_name,
                        "\"" + *part + "\" is longer than 63 bytes, which PostgreSQL would truncate");
        }
        if (part->find('\0') != std::string::npos || !eventstore::detail::json::is_valid_utf8(*part)) {
            throw Error(Errc::invalid_table_name, "a table name must be valid UTF-8 without NUL bytes");
        }
    }
    return table_name(std::move(t.schema), std::move(t.table));
}

TableName table_name(std::string schema, std::string table) {
    TableName t{std::move(schema), std::move(table), {}};
    t.quoted =
        t.schema.empty() ? quote_identifier(t.table) : quote_identifier(t.schema) + "." + quote_identifier(t.table);
    return t;
}

std::string derived_name(const TableName& table, std::string_view suffix) {
    return fitted_identifier("idx_" + table.table + std::string(suffix));
}

std::string fitted_identifier(std::string name) {
    if (name.size() <= max_identifier_bytes) {
        return name;
    }
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : name) {
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
    std::array<char, 17> hex{};
    for (int i = 15; i >= 0; --i) {
        hex[static_cast<std::size_t>(i)] = "0123456789abcdef"[h & 0xFU];
        h >>= 4;
    }
    std::size_t keep = max_identifier_bytes - 17;
    // Never cut a UTF-8 sequence in half.
    while (keep > 0 && (static_cast<unsigned char>(name[keep]) & 0xC0U) == 0x80U) {
        --keep;
    }
    return name.substr(0, keep) + "_" + std::string(hex.data(), 16);
}

} // namespace eventstore::postgres::detail
