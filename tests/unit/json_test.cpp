#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <pthread.h>

#include "core/json.hpp"

namespace {

namespace json = eventstore::detail::json;
using namespace std::string_literals;

std::string nested(int depth) {
    // `depth` objects, each holding the next under "a".
    std::string text;
    for (int i = 1; i < depth; ++i) {
        text += "{\"a\":";
    }
    text += "{}";
    text.append(static_cast<std::size_t>(depth - 1), '}');
    return text;
}

std::string nested_arrays(int array_depth) {
    return "{\"a\":" + std::string(static_cast<std::size_t>(array_depth), '[') +
           std::string(static_cast<std::size_t>(array_depth), ']') + "}";
}

class ValidDocument : public testing::TestWithParam<std::string> {};

TEST_P(ValidDocument, IsAccepted) { EXPECT_EQ(json::check_object(GetParam()), "") << GetParam(); }

INSTANTIATE_TEST_SUITE_P(Json, ValidDocument,
                         testing::Values("{}"s, "{ }"s, " \t\r\n{}\n "s, R"({"a":1})"s, R"({"a":-0})"s, R"({"a":0})"s,
                                         R"({"a":-12.5})"s, R"({"a":0.5e-10})"s, R"({"a":1E+2})"s, R"({"a":1e2})"s,
                                         R"({"a":-1.5e300})"s, R"({"a":123456789012345678901234567890})"s,
                                         R"({"a":[1,2,{"b":null}]})"s, R"({"a":true,"b":false,"c":null})"s,
                                         R"({"":""})"s, R"({"a":"\"\\\/\b\f\n\r\t"})"s,
                                         R"({"a":"\u00e9\uD83D\uDE00\u20AC\uffff"})"s,
                                         "{\"a\":\"Z\xC3\xBCrich \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80\"}"s,
                                         "{\"\xC3\xA9\":\"\xF4\x8F\xBF\xBF\"}"s, R"({"a":{"b":{"c":[]}}})"s,
                                         R"({"a":1,"a":2})"s, R"({ "a" : [ 1 , 2 ] , "b" : { } })"s, R"({"a":[]})"s,
                                         R"({"a":[[],[[]]]})"s, "{\"a\":\"\x7F\"}"s, nested(6000),
                                         nested_arrays(5999)));

class InvalidDocument : public testing::TestWithParam<std::string> {};

TEST_P(InvalidDocument, IsRejectedWithADescription) {
    const std::string problem = json::check_object(GetParam());
    EXPECT_FALSE(problem.empty()) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    Json, InvalidDocument,
    testing::Values(
        // not exactly one object
        ""s, "   "s, "[]"s, "\"x\""s, "1"s, "true"s, "null"s, "{} garbage"s, R"({"a":1} {})"s, R"({"a":1} 2)"s,
        R"({"a":1}})"s, "\xEF\xBB\xBF{}"s, "\v{}"s, "\f{}"s, "{}\0"s,
        // structure
        "{"s, "}"s, R"({"a")"s, R"({"a":)"s, R"({"a":1)"s, R"({"a":1,})"s, "{,}"s, R"({"a" 1})"s, "{a:1}"s, "{'a':1}"s,
        R"({"invalid": json})"s, R"({"a":[1,]})"s, R"({"a":[1 2]})"s, R"({"a":[1)"s, R"({"a":"x""})"s,
        R"({"a":1 "b":2})"s, R"({"a"::1})"s, R"({1:2})"s,
        // numbers
        R"({"a":01})"s, R"({"a":-01})"s, R"({"a":00})"s, R"({"a":1.})"s, R"({"a":.5})"s, R"({"a":-})"s, R"({"a":1e})"s,
        R"({"a":1e+})"s, R"({"a":1.e5})"s, R"({"a":+1})"s, R"({"a":NaN})"s, R"({"a":Infinity})"s, R"({"a":-Infinity})"s,
        R"({"a":0x10})"s, R"({"a":1_000})"s, R"({"a":--1})"s,
        // literals
        R"({"a":tru})"s, R"({"a":True})"s, R"({"a":nul})"s, R"({"a":falsey})"s, R"({"a":undefined})"s,
        // strings and escapes
        R"({"a":"abc})"s, R"({"a":"abc\"})"s, R"({"a":"\x"})"s, R"({"a":"\'"})"s, R"({"a":"\u12"})"s,
        R"({"a":"\u12G4"})"s, R"({"a":"\U0041"})"s, R"({"a":"\uD800"})"s, R"({"a":"\uDBFF"})"s, R"({"a":"\uDC00"})"s,
        R"({"a":"\uD800\u0041"})"s, R"({"a":"\uD800x"})"s, R"({"a":"\uD800\uD800"})"s, R"({"a":"\u0000"})"s,
        R"({"\u0000":"a"})"s, "{\"a\":\"\x01\"}"s, "{\"a\":\"\t\"}"s, "{\"a\":\"line\nbreak\"}"s, "{\"a\":\"x\0y\"}"s,
        "{\"a\":\"\x1F\"}"s,
        // invalid UTF-8
        "{\"a\":\"\xFF\"}"s, "{\"a\":\"\xC0\xAF\"}"s, "{\"a\":\"\xC1\xBF\"}"s, "{\"a\":\"\xE0\x80\xAF\"}"s,
        "{\"a\":\"\xF0\x80\x80\xAF\"}"s, "{\"a\":\"\xED\xA0\x80\"}"s, "{\"a\":\"\xF4\x90\x80\x80\"}"s,
        "{\"a\":\"\xE2\x82\"}"s, "{\"a\":\"\x80\"}"s, "{\"a\":\"\xF8\x88\x80\x80\x80\"}"s, "{\"\xC3\":1}"s,
        "{\xC3\xA9:1}"s, "{\"a\":\"\xE2\x82\xAC\xE2\"}"s,
        // depth
        nested(6001), nested_arrays(6000)));

TEST(JsonCheck, DescribesTheProblemWithItsByteOffset) {
    EXPECT_EQ(json::check_object(R"({"a":1 "b":2})"), "expected ',' or '}' at byte 7");
    EXPECT_EQ(json::check_object(R"({"a":[1 2]})"), "expected ',' or ']' at byte 8");
    EXPECT_EQ(json::check_object("[]"), "top-level value is not an object at byte 0");
    EXPECT_EQ(json::check_object("{} x"), "unexpected data after the object at byte 3");
    EXPECT_EQ(json::check_object(R"({"a":01})"), "leading zero in number at byte 6");
    EXPECT_EQ(json::check_object("{\"a\":\"\xFF\"}"), "invalid UTF-8 at byte 6");
    EXPECT_EQ(json::check_object(R"({"a":1)"), "unexpected end of input at byte 6");
}

TEST(JsonCheck, NulEscapeMentionsPostgresJsonb) {
    const std::string problem = json::check_object(R"({"a":"x\u0000"})");
    EXPECT_NE(problem.find("\\u0000"), std::string::npos) << problem;
    EXPECT_NE(problem.find("PostgreSQL jsonb cannot store it"), std::string::npos) << problem;
    EXPECT_NE(problem.find("at byte 7"), std::string::npos) << problem;
}

TEST(JsonCheck, SurrogateProblemsAreNamed) {
    EXPECT_NE(json::check_object(R"({"a":"\uD800"})").find("surrogate"), std::string::npos);
    EXPECT_NE(json::check_object(R"({"a":"\uDC00"})").find("surrogate"), std::string::npos);
}

TEST(JsonCheck, DepthLimitIsReported) {
    EXPECT_EQ(json::check_object(nested(6001)), "nesting deeper than 6000 levels at byte 30000");
    EXPECT_EQ(json::check_object(nested(6000)), "");
    json::DocumentStats stats;
    ASSERT_EQ(json::check_object(nested_arrays(5999), nullptr, &stats), "");
    EXPECT_EQ(stats.depth, 6000U);
}

// PostgreSQL 15 with its default stack accepts more than 13,000 levels; the reader must take the
// 6,000 it accepts on a small stack too (a thread's, or one with a sanitizer's larger frames).
TEST(JsonCheck, DeepestNestingNeedsLittleStack) {
    struct Work {
        std::string objects = nested(6000);
        std::string arrays = nested_arrays(5999);
        std::string objects_result = "not run";
        std::string arrays_result = "not run";
    } work;
    pthread_attr_t attributes;
    ASSERT_EQ(pthread_attr_init(&attributes), 0);
    ASSERT_EQ(pthread_attr_setstacksize(&attributes, std::size_t{128} * 1024), 0);
    pthread_t thread;
    const auto run = [](void* arg) -> void* {
        auto* w = static_cast<Work*>(arg);
        w->objects_result = json::check_object(w->objects);
        w->arrays_result = json::check_object(w->arrays);
        return nullptr;
    };
    ASSERT_EQ(pthread_create(&thread, &attributes, run, &work), 0);
    ASSERT_EQ(pthread_join(thread, nullptr), 0);
    pthread_attr_destroy(&attributes);
    EXPECT_EQ(work.objects_result, "");
    EXPECT_EQ(work.arrays_result, "");
}

TEST(JsonCheck, ExtremeNestingDoesNotOverflowTheStack) {
    const std::string deep = std::string(200000, '[');
    EXPECT_FALSE(json::check_object("{\"a\":" + deep).empty());
}

TEST(JsonCheck, BigDocuments) {
    std::string many_members = "{";
    for (int i = 0; i < 20000; ++i) {
        if (i > 0) {
            many_members += ',';
        }
        many_members += "\"key" + std::to_string(i) + "\":\"value \\u00e9 \\\" " + std::to_string(i) + "\"";
    }
    many_members += '}';
    EXPECT_EQ(json::check_object(many_members), "");

    std::string long_array = "{\"numbers\":[";
    for (int i = 0; i < 100000; ++i) {
        if (i > 0) {
            long_array += ',';
        }
        long_array += std::to_string(i) + ".25e-3";
    }
    long_array += "]}";
    EXPECT_EQ(json::check_object(long_array), "");

    const std::string long_string = "{\"s\":\"" + std::string(1 << 20, 'x') + "\"}";
    EXPECT_EQ(json::check_object(long_string), "");
}

TEST(JsonMembers, TopLevelStringMembersAreCollectedDecodedInOrderWithDuplicates) {
    json::StringMembers members;
    const std::string text = R"({"a":"x","b":1,"c":{"d":"nested"},"e\n":"l\u00e9\uD83D\uDE00\t\"\\\/","a":"y",)"
                             R"("f":["z"],"g":null,"":"","h":"Z)"
                             "\xC3\xBC"
                             R"(rich"})";
    ASSERT_EQ(json::check_object(text, &members), "");
    const json::StringMembers expected = {
        {"a", "x"}, {"e\n", "l\xC3\xA9\xF0\x9F\x98\x80\t\"\\/"}, {"a", "y"}, {"", ""}, {"h", "Z\xC3\xBCrich"},
    };
    EXPECT_EQ(members, expected);
}

TEST(JsonMembers, NoneForAnEmptyObjectOrNonStringValues) {
    json::StringMembers members;
    ASSERT_EQ(json::check_object("{}", &members), "");
    EXPECT_TRUE(members.empty());
    ASSERT_EQ(json::check_object(R"({"n":1,"o":{"s":"t"},"l":["u"],"b":true})", &members), "");
    EXPECT_TRUE(members.empty());
}

TEST(JsonMembers, InvalidDocumentIsStillReported) {
    json::StringMembers members;
    EXPECT_NE(json::check_object(R"({"a":"x","b":"\u0000"})", &members), "");
    EXPECT_NE(json::check_object(R"({"a":"x"} trailing)", &members), "");
}

TEST(JsonQuote, EscapesQuotesBackslashesAndControlCharacters) {
    std::string out = "prefix:";
    json::append_quoted(out, "plain");
    EXPECT_EQ(out, "prefix:\"plain\"");

    const auto quoted = [](std::string_view s) {
        std::string text;
        json::append_quoted(text, s);
        return text;
    };
    EXPECT_EQ(quoted(""), R"("")");
    EXPECT_EQ(quoted(R"(O'Reilly "Media" \ Inc.)"), R"("O'Reilly \"Media\" \\ Inc.")");
    EXPECT_EQ(quoted("a\nb\rc\td\be\ff"), R"("a\nb\rc\td\be\ff")");
    EXPECT_EQ(quoted("\x01\x1F"), R"("\u0001\u001f")");
    EXPECT_EQ(quoted("\x7F/"), "\"\x7F/\"");
    EXPECT_EQ(quoted("Z\xC3\xBCrich \xF0\x9F\x98\x80"), "\"Z\xC3\xBCrich \xF0\x9F\x98\x80\"");
}

TEST(JsonQuote, RoundTripsThroughTheReader) {
    const std::string original = "q\"b\\s/n\nr\rt\tb\bf\fc\x01\x1F u\xC3\xA9 \xF0\x9F\x98\x80 end";
    std::string document = "{";
    json::append_quoted(document, "k");
    document += ':';
    json::append_quoted(document, original);
    document += '}';
    json::StringMembers members;
    ASSERT_EQ(json::check_object(document, &members), "") << document;
    ASSERT_EQ(members.size(), 1U);
    EXPECT_EQ(members[0].second, original);
}

TEST(JsonUtf8, ValidAndInvalidSequences) {
    EXPECT_TRUE(json::is_valid_utf8(""));
    EXPECT_TRUE(json::is_valid_utf8("ascii"));
    EXPECT_TRUE(json::is_valid_utf8("\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"));
    EXPECT_TRUE(json::is_valid_utf8(std::string_view("a\0b", 3)));
    EXPECT_FALSE(json::is_valid_utf8("\x80"));
    EXPECT_FALSE(json::is_valid_utf8("\xC0\x80"));
    EXPECT_FALSE(json::is_valid_utf8("\xC1\xBF"));
    EXPECT_FALSE(json::is_valid_utf8("\xE0\x9F\xBF"));
    EXPECT_FALSE(json::is_valid_utf8("\xED\xA0\x80"));
    EXPECT_FALSE(json::is_valid_utf8("\xED\xBF\xBF"));
    EXPECT_FALSE(json::is_valid_utf8("\xF0\x8F\xBF\xBF"));
    EXPECT_FALSE(json::is_valid_utf8("\xF4\x90\x80\x80"));
    EXPECT_FALSE(json::is_valid_utf8("\xF5\x80\x80\x80"));
    EXPECT_FALSE(json::is_valid_utf8("\xFE"));
    EXPECT_FALSE(json::is_valid_utf8("\xE2\x82"));
    EXPECT_FALSE(json::is_valid_utf8("\xE2\x82\x41"));
    EXPECT_FALSE(json::is_valid_utf8("ok\xF0\x9F\x98"));
}

} // namespace

// jsonb stores numbers as PostgreSQL numeric; the limits below were measured on PostgreSQL 15 with
// `SELECT '{"a": <n>}'::jsonb`: each accepted value is accepted there, each rejected one fails there
// with "value overflows numeric format".
TEST(JsonNumbers, AcceptsWhatPostgresNumericHolds) {
    for (const char* n : {"1e131071", "0.001e131074", "1e-16383", "123e-16383", "-0.5e-16382", "0e999999",
                          "0e1073741822", "0.0000e131075", "1E+5", "-0", "0.5"}) {
        EXPECT_EQ(json::check_object(std::string(R"({"a":)") + n + "}"), "") << n;
    }
}

TEST(JsonNumbers, RejectsWhatPostgresNumericCannotHold) {
    for (const char* n : {"1e131072", "10e131071", "0.001e131075", "1e-16384", "0e-16384", "0.1e-16383", "1.5e-16384",
                          "0.0e-16383", "1e999999", "0e1073741823", "1e99999999999999999999"}) {
        const std::string problem = json::check_object(std::string(R"({"a":)") + n + "}");
        EXPECT_NE(problem.find("PostgreSQL"), std::string::npos) << n << ": " << problem;
    }
}

namespace {

// The sizes of a document as PostgreSQL 15 stores and returns it: measured with
// `SELECT pg_column_size(d::jsonb) - 4, octet_length(d::jsonb::text)`.
struct MeasuredDocument {
    std::string text;
    std::uint64_t jsonb_size;
    std::uint64_t jsonb_text_size;
    // What the reader may count in excess: 3 bytes for each number or container inside an object
    // (alignment), and duplicate keys.
    std::uint64_t slack = 0;
};

TEST(JsonSizes, AsPostgresStoresAndReturnsTheDocument) {
    const std::vector<MeasuredDocument> documents = {
        {"{}", 4, 2},
        {R"({"a":1})", 24, 8},
        {R"({"a":[1,2]})", 44, 13},
        {R"({"a":[1,"xy",2.5,[],{},true,null,-0.001e-5,123456789]})", 108, 65},
        {R"({"a":"\u0001\n\"\\\/\u00e9\ud83d\ude00\u007f x"})", 27, 31},
        {R"({"a":1e300})", 26, 308},
        {R"({"a":1.50e1})", 24, 11},
        {R"({"a":-0.0})", 22, 10},
        {R"({"a":0e-100})", 24, 109},
        {R"({"a":123.456e-5})", 26, 17},
        {R"({"a":1e-16383})", 26, 16392},
        {R"({"a":99999999})", 26, 15},
        {R"({"a":-12345678.87654321})", 30, 25},
        {R"({"a":[[[1,"abc"],2],"x",[3]]})", 96, 34},
        {R"({"b":1,"a":"xyz"})", 36, 20},
        {R"({"a":{"b":{"c":[1,{"d":"e"},"f"]}},"g":[true,false,null]})", 112, 67, 9},
        {R"({"k":[0.1,0.01,0.001,0.0001,0.00001,10000,100000000,1e63,1e64,1e-64,1e-65]})", 158, 330},
        {R"({"k":[1e256,1e255,1e252,1e-256,1e-257,1e-260,0.0,0.000,1E+2,1.0e-1]})", 156, 1587},
        {R"({"\u00e9":"\u00e9","":"", " ":[ ]})", 38, 29, 3},
        {R"({"a":"x","a":"yy"})", 15, 11, 10},
    };
    for (const MeasuredDocument& d : documents) {
        json::DocumentStats stats;
        ASSERT_EQ(json::check_object(d.text, nullptr, &stats), "") << d.text;
        EXPECT_GE(stats.jsonb_size, d.jsonb_size) << d.text;
        EXPECT_LE(stats.jsonb_size, d.jsonb_size + d.slack) << d.text;
        EXPECT_GE(stats.jsonb_text_size, d.jsonb_text_size) << d.text;
        EXPECT_LE(stats.jsonb_text_size, d.jsonb_text_size + d.slack) << d.text;
    }
}

// The longest string value PostgreSQL 15 stores in a one-member object: the object's binary form
// (4-byte header, two 4-byte entries, the key, the string) reaches jsonb's limit of 268,435,455 bytes.
// One byte more and PostgreSQL refuses it ("total size of jsonb object elements exceeds the maximum of
// 268435455 bytes"), after the upload; the reader refuses it before.
TEST(JsonLimits, LongestStringPostgresStores) {
    constexpr std::size_t longest = 268435442;
    std::string document = R"({"a":")" + std::string(longest, 'x') + R"("})";
    json::DocumentStats stats;
    EXPECT_EQ(json::check_object(document, nullptr, &stats), "");
    EXPECT_EQ(stats.jsonb_size, json::max_document_size);
    document.insert(6, "x");
    EXPECT_EQ(json::check_object(document),
              "document would take more than 268435455 bytes as PostgreSQL jsonb at byte 268435450");
}

TEST(JsonLimits, TextLongerThanTheLimit) {
    std::string document = "{}" + std::string(json::max_document_size - 2, ' ');
    EXPECT_EQ(json::check_object(document), "");
    document += ' ';
    EXPECT_EQ(json::check_object(document), "document is longer than 268435455 bytes at byte 268435455");
}

// PostgreSQL stores {"a":[1e131071, ... 8,999 more]}, 81 kB, and then fails to return it: its text is
// 1.2 GB ("out of memory: Cannot enlarge string buffer"), so every read of that event would fail.
TEST(JsonLimits, NumbersWhoseTextPostgresCouldNotReturn) {
    const auto numbers = [](std::size_t n) {
        std::string document = R"({"a":[)";
        for (std::size_t i = 0; i < n; ++i) {
            document += i == 0 ? "1e131071" : ",1e131071";
        }
        return document + "]}";
    };
    json::DocumentStats stats;
    ASSERT_EQ(json::check_object(numbers(2047), nullptr, &stats), "");
    EXPECT_EQ(stats.jsonb_text_size, 7 + 2047 * 131072 + 2046 * 2 + 2);
    const std::string problem = json::check_object(numbers(2048));
    EXPECT_NE(problem.find("longer than 268435455 bytes as the text PostgreSQL returns for it"), std::string::npos)
        << problem;
}

// Measured with PostgreSQL 15: {"a":[1, ...]} of 16,777,216 elements is stored, one more fails with
// "invalid memory alloc request size 1073741824"; an object of 8,388,608 members (duplicates
// included) is stored, one more fails with "... 1207959552". The counts are checked here with small
// limits, to keep the test fast.
TEST(JsonLimits, ElementsAndMembersOfOneContainer) {
    EXPECT_EQ(json::max_array_elements, 16777216U);
    EXPECT_EQ(json::max_object_members, 8388608U);
    json::Limits limits;
    limits.array_elements = 3;
    limits.object_members = 2;
    EXPECT_EQ(json::check_object(R"({"a":[1,[2,3,4],"x"],"b":{"c":[],"d":{}}})", nullptr, nullptr, limits), "");
    EXPECT_EQ(json::check_object(R"({"a":[1,2,3,4]})", nullptr, nullptr, limits),
              "array of more than 3 elements (PostgreSQL jsonb reads at most that many) at byte 12");
    EXPECT_EQ(json::check_object(R"({"a":{"x":1,"x":2,"x":3}})", nullptr, nullptr, limits),
              "object of more than 2 members (PostgreSQL jsonb reads at most that many) at byte 18");
    EXPECT_EQ(json::check_object(R"({"a":1,"b":2,"c":3})", nullptr, nullptr, limits),
              "object of more than 2 members (PostgreSQL jsonb reads at most that many) at byte 13");
}

TEST(JsonLimits, SmallerLimitsForTests) {
    json::Limits limits;
    limits.depth = 3;
    limits.document_size = 40; // {"a":{"b":[]}} takes 36 bytes as jsonb, {"a":"<27 bytes>"} 40
    EXPECT_EQ(json::check_object(R"({"a":{"b":[]}})", nullptr, nullptr, limits), "");
    EXPECT_EQ(json::check_object(R"({"a":{"b":[[]]}})", nullptr, nullptr, limits),
              "nesting deeper than 3 levels at byte 11");
    EXPECT_EQ(json::check_object(R"({"a":")" + std::string(27, 'x') + R"("})", nullptr, nullptr, limits), "");
    EXPECT_EQ(json::check_object(R"({"a":")" + std::string(28, 'x') + R"("})", nullptr, nullptr, limits),
              "document would take more than 40 bytes as PostgreSQL jsonb at byte 35");
}

} // namespace
