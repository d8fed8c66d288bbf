#include "devsupport/sql_names.hpp"

namespace eventstore::devsupport {

std::string quote_identifier(std::string_view name) {
    std::string out = "\"";
    for (const char c : name) {
        if (c == '"') {
            out += '"';
        }
        out += c;
    }
    out += '"';
    return out;
}

std::string quote_table(std::string_view table) {
    const auto dot = table.find('.');
    if (dot == std::string_view::npos) {
        return quote_identifier(table);
    }
    return quote_identifier(table.substr(0, dot)) + "." + quote_identifier(table.substr(dot + 1));
}

} // namespace eventstore::devsupport
