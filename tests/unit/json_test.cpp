#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

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
                                         R"({"a":[[],[[]]]})"s, "{\"a\":\"\x7F\"}"s, nested(512), nested_arrays(511)));

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
        nested(513), nested_arrays(512)));

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
    EXPECT_NE(json::check_object(nested(513)).find("nesting deeper than 512 levels"), std::string::npos);
    EXPECT_EQ(json::check_object(nested(512)), "");
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
