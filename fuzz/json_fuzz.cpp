// libFuzzer target: the strict JSON reader (src/core/json.hpp) on arbitrary bytes. Besides the
// sanitizers' checks, it asserts what must hold of any verdict:
// - the verdict does not depend on whether members and measures are collected;
// - a refusal names a byte offset within the document (or says it is empty or blank);
// - an accepted document is valid UTF-8 within every limit; its measures are consistent; the prefix
//   before its closing brace is refused, one more space is accepted and one more value refused;
//   wrapped in another object it is accepted with the measures that predicts; and its top-level
//   string members, quoted again by append_quoted, make a document that yields the same members.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/json.hpp"

namespace {

namespace json = eventstore::detail::json;

void require(bool condition, const char* what, std::string_view detail = {}) {
    if (!condition) {
        std::fprintf(stderr, "json_fuzz: invariant broken: %s %.*s\n", what, static_cast<int>(detail.size()),
                     detail.data());
        std::abort();
    }
}

void check_refusal(std::string_view text, const std::string& problem) {
    if (problem == "document is empty" || problem == "document holds only whitespace") {
        return;
    }
    const std::size_t at = problem.rfind(" at byte ");
    require(at != std::string::npos, "a refusal names its byte offset:", problem);
    const unsigned long long offset = std::strtoull(problem.c_str() + at + 9, nullptr, 10);
    require(offset <= text.size(), "a refusal's offset lies within the document:", problem);
}

void check_acceptance(std::string_view text, const json::StringMembers& members, const json::DocumentStats& stats) {
    require(json::is_valid_utf8(text), "an accepted document is valid UTF-8");
    require(stats.depth >= 1 && stats.depth <= json::max_depth, "depth within the limit");
    require(stats.jsonb_size >= 4 && stats.jsonb_size <= json::max_document_size, "binary size within the limit");
    require(stats.jsonb_text_size >= 2 && stats.jsonb_text_size <= json::max_document_size,
            "text size within the limit");
    require(text.size() <= json::max_document_size, "document size within the limit");

    const std::string copy(text);
    const std::size_t close = copy.rfind('}');
    require(close != std::string::npos, "an accepted document ends with '}'");
    require(!json::check_object(copy.substr(0, close)).empty(), "the document without its closing brace is refused");
    require(json::check_object(copy + " ").empty(), "trailing whitespace is accepted");
    require(!json::check_object(copy + "{}").empty(), "a second value is refused");

    if (stats.depth < json::max_depth) {
        json::DocumentStats wrapped;
        require(json::check_object(R"({"w":)" + copy + "}", nullptr, &wrapped).empty(),
                "the wrapped document is accepted");
        require(wrapped.depth == stats.depth + 1, "wrapping adds one level");
        // `{"w": ` and `}` around the text; header, two entries, the key, and at most 3 bytes of
        // alignment around the binary form.
        require(wrapped.jsonb_text_size == stats.jsonb_text_size + 7, "wrapping adds 7 bytes of text");
        require(wrapped.jsonb_size == stats.jsonb_size + 16, "wrapping adds 16 bytes of binary jsonb");
    }

    std::string rebuilt = "{";
    for (const auto& [key, value] : members) {
        require(key.find('\0') == std::string::npos && value.find('\0') == std::string::npos,
                "decoded members hold no NUL");
        require(json::is_valid_utf8(key) && json::is_valid_utf8(value), "decoded members are UTF-8");
        if (rebuilt.size() > 1) {
            rebuilt += ',';
        }
        json::append_quoted(rebuilt, key);
        rebuilt += ':';
        json::append_quoted(rebuilt, value);
    }
    rebuilt += '}';
    json::StringMembers again;
    const std::string problem = json::check_object(rebuilt, &again);
    // Quoting can only lengthen the text, which may then pass the size limit: accepted or too long.
    if (problem.empty()) {
        require(again == members, "quoted members read back as they were");
    } else {
        require(problem.find("longer than") != std::string::npos || problem.find("more than") != std::string::npos,
                "quoted members are a valid document:", problem);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::string plain = json::check_object(text);
    json::StringMembers members;
    json::DocumentStats stats;
    const std::string full = json::check_object(text, &members, &stats);
    require(plain == full, "the verdict does not depend on collecting members:", plain + " / " + full);
    if (full.empty()) {
        check_acceptance(text, members, stats);
    } else {
        check_refusal(text, full);
        require(stats.depth == 0 && stats.jsonb_size == 0, "no measures for a refused document");
    }
    return 0;
}
