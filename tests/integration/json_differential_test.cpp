// The JSON reader against PostgreSQL's own jsonb input, on generated documents: valid ones of varied
// shapes, then mutations of them (flipped, dropped and inserted bytes, truncations, escapes, surrogates,
// invalid UTF-8, NUL), nesting around the reader's limit and numbers around numeric's. The reader must
// accept a document exactly when PostgreSQL does and its top-level value is an object, except where
// it documents a stricter rule (nesting deeper than json::max_depth); its sizes must never fall below
// PostgreSQL's. The accepted documents then go through the store and must come back as PostgreSQL's
// text for them, which the reader accepts too. Deterministic: the generator's seed is fixed.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/json.hpp"
#include "integration/fixture.hpp"

namespace eventstore::test {
namespace {

namespace json = eventstore::detail::json;

// --- documents ----------------------------------------------------------------------------------------

class Generator {
public:
    explicit Generator(std::uint64_t seed) : m_random(seed) {}

    std::uint64_t below(std::uint64_t n) { return m_random() % n; }
    bool percent(std::uint64_t p) { return below(100) < p; }

    // A valid document of up to `depth` levels, with unique keys in each object.
    std::string document(int depth) { return space() + object(depth) + space(); }

    std::string string_literal() {
        std::string s = "\"";
        const std::uint64_t length = percent(10) ? below(200) : below(12);
        for (std::uint64_t i = 0; i < length; ++i) {
            s += character();
        }
        return s + "\"";
    }

    std::string number() {
        static const std::vector<std::string> edges = {"0",
                                                       "-0",
                                                       "0.0",
                                                       "-0.0",
                                                       "1e131071",
                                                       "1e131072",
                                                       "0.001e131074",
                                                       "9.99e131071",
                                                       "1e-16383",
                                                       "1e-16384",
                                                       "123e-16383",
                                                       "0e-16383",
                                                       "0e-16384",
                                                       "0.5e-16382",
                                                       "1E+5",
                                                       "1e63",
                                                       "1e64",
                                                       "1e-64",
                                                       "1e-65",
                                                       "1.50e1",
                                                       "12345678901234567890.12345678901234567890",
                                                       "-1.7976931348623157e308",
                                                       "4.9e-324",
                                                       "1e999999",
                                                       "0e1073741822",
                                                       "0e1073741823",
                                                       "1e2147483648"};
        if (percent(5)) {
            return edges[below(edges.size())];
        }
        std::string n = percent(30) ? "-" : "";
        n += percent(20) ? "0" : std::to_string(1 + below(9)) + digits(below(percent(5) ? 40 : 6));
        if (percent(40)) {
            n += "." + digits(1 + below(8));
        }
        if (percent(25)) {
            n += percent(50) ? "e" : "E";
            n += percent(30) ? "-" : percent(30) ? "+" : "";
            n += std::to_string(below(400));
        }
        return n;
    }

private:
    std::mt19937_64 m_random;

    std::string digits(std::uint64_t n) {
        std::string d;
        for (std::uint64_t i = 0; i < n; ++i) {
            d += static_cast<char>('0' + below(10));
        }
        return d;
    }

    std::string space() {
        static const std::vector<std::string> spaces = {"", "", "", " ", "\n", "\t", "\r\n  "};
        return spaces[below(spaces.size())];
    }

    std::string hex4(std::uint32_t unit) {
        static constexpr std::string_view hex = "0123456789abcdefABCDEF";
        std::string s = "\\u";
        for (int shift = 12; shift >= 0; shift -= 4) {
            const std::uint32_t digit = (unit >> static_cast<unsigned>(shift)) & 0xFU;
            // Either case for a-f.
            s += digit >= 10 && percent(50) ? hex[digit + 6] : hex[digit];
        }
        return s;
    }

    // One character of a string literal, as written in the document.
    std::string character() {
        switch (below(10)) {
        case 0: {
            static const std::vector<std::string> escapes = {"\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"};
            return escapes[below(escapes.size())];
        }
        case 1: { // \u escapes of the BMP outside the surrogates, control characters included, no \u0000
            std::uint32_t unit = 0;
            do {
                unit = static_cast<std::uint32_t>(percent(30) ? below(0x20) : below(0x10000));
            } while (unit == 0 || (unit >= 0xD800U && unit <= 0xDFFFU));
            return hex4(unit);
        }
        case 2: { // a surrogate pair
            return hex4(static_cast<std::uint32_t>(0xD800U + below(0x400))) +
                   hex4(static_cast<std::uint32_t>(0xDC00U + below(0x400)));
        }
        case 3: { // raw UTF-8 of 2, 3 and 4 bytes, and DEL
            static const std::vector<std::string> raw = {"\xC3\xA9",     "\xE2\x82\xAC",     "\xF0\x9F\x98\x80", "\x7F",
                                                         "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF", "\xC2\x80"};
            return raw[below(raw.size())];
        }
        default: { // printable ASCII but the quote and the backslash
            const auto c = static_cast<char>(0x20 + below(95));
            return std::string(1, c == '"' || c == '\\' ? 'x' : c);
        }
        }
    }

    std::string value(int depth) {
        const std::uint64_t kind = below(depth > 1 ? 9 : 6);
        switch (kind) {
        case 0:
        case 1:
            return string_literal();
        case 2:
        case 3:
            return number();
        case 4:
            return percent(50) ? "true" : percent(50) ? "false" : "null";
        case 5:
            return percent(50) ? "{}" : "[]";
        case 6:
        case 7:
            return object(depth - 1);
        default:
            return array(depth - 1);
        }
    }

    std::string object(int depth) {
        std::string s = "{" + space();
        const std::uint64_t members = below(percent(10) ? 30 : 6);
        for (std::uint64_t i = 0; i < members; ++i) {
            if (i > 0) {
                s += space() + "," + space();
            }
            // Unique decoded keys: the suffix ~<i> ends every key, and digits hold no '~'.
            std::string key = string_literal();
            key.insert(key.size() - 1, "~" + std::to_string(i));
            s += key + space() + ":" + space() + value(depth);
        }
        return s + space() + "}";
    }

    std::string array(int depth) {
        std::string s = "[" + space();
        const std::uint64_t elements = below(8);
        for (std::uint64_t i = 0; i < elements; ++i) {
            if (i > 0) {
                s += space() + "," + space();
            }
            s += value(depth);
        }
        return s + space() + "]";
    }
};

// A mutation of a (usually valid) document.
std::string mutate(Generator& g, std::string doc) {
    static const std::vector<std::string> bytes = {"\"",
                                                   "\\",
                                                   "{",
                                                   "}",
                                                   "[",
                                                   "]",
                                                   ",",
                                                   ":",
                                                   "0",
                                                   "-",
                                                   "e",
                                                   ".",
                                                   " ",
                                                   "\t",
                                                   "\f",
                                                   "\v",
                                                   std::string(1, '\0'),
                                                   "\x01",
                                                   "\x1F",
                                                   "\x7F",
                                                   "\x80",
                                                   "\xBF",
                                                   "\xC0",
                                                   "\xC1",
                                                   "\xC3",
                                                   "\xE0",
                                                   "\xED",
                                                   "\xF0",
                                                   "\xF4",
                                                   "\xF5",
                                                   "\xFF",
                                                   "n",
                                                   "t",
                                                   "u",
                                                   "+",
                                                   "E",
                                                   "/",
                                                   "1"};
    static const std::vector<std::string> inserts = {"\\u0000",
                                                     "\\uD800",
                                                     "\\uDBFF",
                                                     "\\uDC00",
                                                     "\\uDFFF",
                                                     "\\uD800\\uDC00",
                                                     "\\uD800\\u0041",
                                                     "\\uDC00\\uD800",
                                                     "\\u00e9",
                                                     "\\u12",
                                                     "\\x",
                                                     "\\'",
                                                     "\\U0041",
                                                     "\\/",
                                                     "\xED\xA0\x80",
                                                     "\xC0\xAF",
                                                     "\xE0\x80\xAF",
                                                     "\xF0\x80\x80\xAF",
                                                     "\xF4\x90\x80\x80",
                                                     "\xE2\x82",
                                                     "\xEF\xBB\xBF",
                                                     ",",
                                                     ",,",
                                                     ":",
                                                     "\"\":1,",
                                                     "[",
                                                     "]",
                                                     "{",
                                                     "}",
                                                     "\"",
                                                     "1e131072",
                                                     "-",
                                                     "01",
                                                     ".5",
                                                     "1.",
                                                     "true",
                                                     "nul",
                                                     "\xC3\xA9"};
    const auto at = [&] { return static_cast<std::size_t>(g.below(doc.size() + 1)); };
    switch (g.below(7)) {
    case 0: // one byte replaced
        if (!doc.empty()) {
            doc[at() % doc.size()] = bytes[g.below(bytes.size())][0];
        }
        return doc;
    case 1: // a random byte
        if (!doc.empty()) {
            doc[at() % doc.size()] = static_cast<char>(g.below(256));
        }
        return doc;
    case 2: // truncated
        return doc.substr(0, at());
    case 3: // a byte dropped
        if (!doc.empty()) {
            doc.erase(at() % doc.size(), 1);
        }
        return doc;
    case 4: // something inserted, often inside a string
        if (const auto quote = doc.find('"', at()); quote != std::string::npos && g.percent(70)) {
            return doc.insert(quote + 1, inserts[g.below(inserts.size())]);
        }
        return doc.insert(at(), inserts[g.below(inserts.size())]);
    case 5: // a slice repeated
    {
        const std::size_t from = at();
        const std::size_t length = static_cast<std::size_t>(g.below(20));
        return doc.insert(from, doc.substr(from, length));
    }
    default: // two mutations
        return mutate(g, mutate(g, std::move(doc)));
    }
}

std::string nested_objects(int levels) {
    std::string s;
    for (int i = 1; i < levels; ++i) {
        s += R"({"a":)";
    }
    return s + "{}" + std::string(static_cast<std::size_t>(levels - 1), '}');
}

std::string nested_arrays(int levels) { // the object and levels - 1 arrays
    return R"({"a":)" + std::string(static_cast<std::size_t>(levels - 1), '[') +
           std::string(static_cast<std::size_t>(levels - 1), ']') + "}";
}

std::string nested_mixed(int levels) { // objects and arrays in turn
    std::string open;
    std::string close;
    for (int i = 1; i <= levels; ++i) {
        if (i % 2 == 1) {
            open += R"({"k":)";
            close.insert(0, "}");
        } else {
            open += "[1,";
            close.insert(0, "]");
        }
    }
    return open + R"("end")" + close;
}

// The nesting depth of a document PostgreSQL accepted (so valid JSON), the top-level value being 1.
std::size_t depth_of(std::string_view doc) {
    std::size_t depth = 0;
    std::size_t deepest = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < doc.size(); ++i) {
        const char c = doc[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            deepest = std::max(deepest, ++depth);
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return deepest;
}

std::string hex(std::string_view bytes) {
    static constexpr std::string_view digits = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4U];
        out += digits[b & 0xFU];
    }
    return out;
}

// What PostgreSQL made of a document.
struct Verdict {
    bool accepted = false; // a jsonb object
    std::uint64_t jsonb_size = 0;
    std::uint64_t text_size = 0;
    std::string refusal; // otherwise: SQLSTATE and message, or "not an object"
};

// --- the test -------------------------------------------------------------------------------------------

class JsonDifferentialTest : public StoreTest {
protected:
    void SetUp() override {
        StoreTest::SetUp();
        // jsonb's input on the bytes as sent: convert_from checks them as UTF-8 (as the server does for
        // a text or jsonb parameter), then the cast parses them. One subtransaction per document.
        raw().exec(R"sql(
CREATE OR REPLACE FUNCTION json_differential(doc bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  j jsonb;
BEGIN
  j := convert_from(doc, 'UTF8')::jsonb;
  IF jsonb_typeof(j) <> 'object' THEN
    RETURN 'not an object';
  END IF;
  RETURN 'ok ' || (pg_column_size(j) - 4) || ' ' || octet_length(j::text);
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$)sql");
    }

    // PostgreSQL's verdicts, in one round trip per batch.
    std::vector<Verdict> verdicts(const std::vector<std::string>& docs) {
        std::vector<Verdict> all;
        constexpr std::size_t batch = 400;
        for (std::size_t first = 0; first < docs.size(); first += batch) {
            std::string list;
            for (std::size_t i = first; i < std::min(docs.size(), first + batch); ++i) {
                list += list.empty() ? "x" : ",x"; // never an empty element, which string_to_array would drop
                list += hex(docs[i]);
            }
            const PgResult result = raw().exec("SELECT json_differential(decode(substr(h, 2), 'hex')) "
                                               "FROM unnest(string_to_array($1, ',')) WITH ORDINALITY AS t(h, n) "
                                               "ORDER BY n",
                                               {list});
            for (int row = 0; row < result.rows(); ++row) {
                const std::string text = result.value(row, 0);
                Verdict v;
                if (text.rfind("ok ", 0) == 0) {
                    v.accepted = true;
                    const std::size_t space = text.find(' ', 3);
                    v.jsonb_size = std::stoull(text.substr(3, space - 3));
                    v.text_size = std::stoull(text.substr(space + 1));
                } else {
                    v.refusal = text;
                }
                all.push_back(std::move(v));
            }
        }
        return all;
    }

    // Compares the reader with PostgreSQL on every document; returns those both accept.
    std::vector<std::string> compare(const std::vector<std::string>& docs, std::size_t& deeper_than_limit) {
        const std::vector<Verdict> pg = verdicts(docs);
        EXPECT_EQ(pg.size(), docs.size());
        std::vector<std::string> accepted;
        for (std::size_t i = 0; i < std::min(pg.size(), docs.size()); ++i) {
            const std::string& doc = docs[i];
            json::DocumentStats stats;
            const std::string problem = json::check_object(doc, nullptr, &stats);
            const auto shown = [&] {
                return "document " + std::to_string(i) + " (" + std::to_string(doc.size()) +
                       " bytes): " + (doc.size() <= 400 ? doc : doc.substr(0, 400) + "...") +
                       "\n  PostgreSQL: " + (pg[i].accepted ? "accepted" : pg[i].refusal) +
                       "\n  reader: " + (problem.empty() ? "accepted" : problem);
            };
            if (pg[i].accepted && depth_of(doc) > json::max_depth) {
                // The reader's documented rule, stricter than PostgreSQL's stack.
                ++deeper_than_limit;
                EXPECT_NE(problem.find("nesting deeper than"), std::string::npos) << shown();
                continue;
            }
            if (pg[i].accepted != problem.empty()) {
                ADD_FAILURE() << "the reader and PostgreSQL disagree on " << shown();
                continue;
            }
            if (!pg[i].accepted) {
                continue;
            }
            EXPECT_GE(stats.jsonb_size, pg[i].jsonb_size) << shown();
            EXPECT_GE(stats.jsonb_text_size, pg[i].text_size) << shown();
            accepted.push_back(doc);
        }
        return accepted;
    }

    // Appends the documents as payloads and checks what the store returns: PostgreSQL's text for each
    // (the reader accepts it, and predicts its length exactly: it has no duplicate keys).
    void round_trip(const std::vector<std::string>& docs) {
        StorableEvents events;
        for (std::size_t i = 0; i < docs.size(); ++i) {
            events.push_back(
                build_storable_event_with_empty_metadata("Doc", at(static_cast<std::int64_t>(i)), docs[i]));
        }
        constexpr std::size_t batch = 500;
        for (std::size_t first = 0; first < events.size(); first += batch) {
            const std::size_t n = std::min(batch, events.size() - first);
            append_unconditionally(std::span<const StorableEvent>(events.data() + first, n));
        }
        const QueryResult result = store().query(Filter());
        ASSERT_EQ(result.events.size(), docs.size());
        for (std::size_t i = 0; i < docs.size(); ++i) {
            const std::string& returned = result.events[i].payload_json;
            json::DocumentStats original;
            ASSERT_EQ(json::check_object(docs[i], nullptr, &original), "");
            json::DocumentStats stats;
            EXPECT_EQ(json::check_object(returned, nullptr, &stats), "") << returned;
            EXPECT_EQ(stats.jsonb_text_size, returned.size()) << returned;
            EXPECT_GE(original.jsonb_text_size, returned.size()) << docs[i];
        }
    }
};

TEST_F(JsonDifferentialTest, GeneratedAndMutatedDocuments) {
    Generator g(20240611);
    std::vector<std::string> docs;
    std::vector<std::string> valid;
    for (int i = 0; i < 2500; ++i) {
        valid.push_back(g.document(1 + static_cast<int>(g.below(6))));
    }
    docs = valid;
    for (int i = 0; i < 6000; ++i) {
        docs.push_back(mutate(g, valid[g.below(valid.size())]));
    }
    // Scalars and arrays at the top, which PostgreSQL takes and the reader must not.
    for (int i = 0; i < 100; ++i) {
        docs.push_back(i % 3 == 0 ? g.string_literal() : i % 3 == 1 ? g.number() : "[" + g.number() + "]");
    }
    // Numbers around numeric's limits, in arrays and objects.
    for (int i = 0; i < 300; ++i) {
        docs.push_back(R"({"n":)" + g.number() + R"(,"a":[)" + g.number() + "," + g.number() + "]}");
    }
    // Long digit strings.
    for (const std::size_t n : {131071U, 131072U, 131073U}) {
        docs.push_back(R"({"a":)" + std::string(n, '9') + "}");
        docs.push_back(R"({"a":0.)" + std::string(n < 131072 ? 16383 : 16384, '1') + "}");
    }

    std::size_t deeper = 0;
    const std::vector<std::string> accepted = compare(docs, deeper);
    EXPECT_EQ(deeper, 0U);
    // Most valid documents are accepted (a few hold numbers beyond numeric), and the mutations have a mix.
    EXPECT_GT(accepted.size(), 2000U);
    EXPECT_LT(accepted.size(), docs.size() - 3000);
    round_trip(accepted);
}

TEST_F(JsonDifferentialTest, NestingAroundTheLimit) {
    const auto limit = static_cast<int>(json::max_depth);
    std::vector<std::string> docs;
    for (const int levels : {limit - 2, limit - 1, limit, limit + 1, limit + 2, 2 * limit, 12500, 15000, 20000}) {
        docs.push_back(nested_objects(levels));
        docs.push_back(nested_arrays(levels));
        docs.push_back(nested_mixed(levels));
    }
    std::size_t deeper = 0;
    const std::vector<std::string> accepted = compare(docs, deeper);
    // PostgreSQL 15 with its default stack takes every one up to 12,500 levels and none at 15,000.
    EXPECT_EQ(accepted.size(), 9U);
    EXPECT_EQ(deeper, 12U);
    // The deepest documents the reader takes can be stored and read again.
    round_trip(accepted);
}

} // namespace
} // namespace eventstore::test
