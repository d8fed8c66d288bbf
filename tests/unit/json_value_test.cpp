#include <stdexcept>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "core/json.hpp"
#include "core/json_value.hpp"

namespace {

namespace json = eventstore::detail::json;
using namespace std::string_literals;

using Pair = std::pair<std::string, std::string>;

class SameValue : public testing::TestWithParam<Pair> {};

TEST_P(SameValue, AsJsonbHoldsThem) {
    const auto& [a, b] = GetParam();
    EXPECT_TRUE(json::same_value(a, b)) << a << " vs " << b;
    EXPECT_EQ(json::canonical_text(a), json::canonical_text(b));
}

INSTANTIATE_TEST_SUITE_P(
    JsonValue, SameValue,
    testing::Values(
        // key order and whitespace
        Pair{R"({"a":1,"b":"x"})", R"({ "b" : "x" , "a" : 1 })"}, Pair{" {}\n", "{}"},
        Pair{R"({"a":{"c":[],"b":{}}})", R"({"a":{"b":{},"c":[]}})"},
        // the last of duplicate keys wins
        Pair{R"({"a":1,"a":2})", R"({"a":2})"}, Pair{R"({"a":"x","b":0,"a":"y"})", R"({"b":0,"a":"y"})"},
        Pair{R"({"a":{"k":1},"a":{"k":2}})", R"({"a":{"k":2}})"},
        // numbers by value
        Pair{R"({"n":1})", R"({"n":1.0})"}, Pair{R"({"n":1})", R"({"n":1e0})"}, Pair{R"({"n":1})", R"({"n":10e-1})"},
        Pair{R"({"n":1})", R"({"n":0.1E+1})"}, Pair{R"({"n":-0})", R"({"n":0})"},
        Pair{R"({"n":0.000})", R"({"n":0e5})"}, Pair{R"({"n":-0.0})", R"({"n":0})"},
        Pair{R"({"n":1500})", R"({"n":1.5e3})"}, Pair{R"({"n":0.015})", R"({"n":15e-3})"},
        Pair{R"({"n":-12.50})", R"({"n":-1.25E1})"},
        Pair{R"({"n":123456789012345678901234567890})", R"({"n":1.2345678901234567890123456789e29})"},
        Pair{R"({"n":1e00000000000000000000000002})", R"({"n":100})"},
        // strings by their decoded bytes
        Pair{R"({"s":"\u00e9"})", "{\"s\":\"\xC3\xA9\"}"}, Pair{R"({"s":"\/"})", R"({"s":"/"})"},
        Pair{R"({"s":"\uD83D\uDE00"})", "{\"s\":\"\xF0\x9F\x98\x80\"}"}, Pair{R"({"\u0061":1})", R"({"a":1})"},
        Pair{R"({"s":"\u0009"})", R"({"s":"\t"})"},
        // arrays in order, any value at the top level
        Pair{R"([1,"a",null,true,false])", R"([ 1.0 , "\u0061" , null , true , false ])"}, Pair{"2", "2.00"},
        Pair{R"("x")", R"("\u0078")"}, Pair{"null", " null "}));

class DifferentValue : public testing::TestWithParam<Pair> {};

TEST_P(DifferentValue, AsJsonbHoldsThem) {
    const auto& [a, b] = GetParam();
    EXPECT_FALSE(json::same_value(a, b)) << a << " vs " << b;
}

INSTANTIATE_TEST_SUITE_P(
    JsonValue, DifferentValue,
    testing::Values(Pair{R"({"a":1})", R"({"a":2})"}, Pair{R"({"a":1})", R"({"b":1})"},
                    Pair{R"({"a":1})", R"({"a":1,"b":1})"}, Pair{R"({"a":1,"a":2})", R"({"a":1})"},
                    Pair{R"({"a":1})", R"({"a":"1"})"}, Pair{R"({"a":1})", R"({"a":-1})"},
                    Pair{R"({"a":1})", R"({"a":10})"}, Pair{R"({"a":0.1})", R"({"a":1})"},
                    Pair{R"({"a":1.0000000000000000000001})", R"({"a":1})"}, Pair{R"({"a":[1,2]})", R"({"a":[2,1]})"},
                    Pair{R"({"a":[1]})", R"({"a":1})"}, Pair{R"({"a":null})", R"({"a":false})"},
                    Pair{R"({"a":{}})", R"({"a":[]})"}, Pair{R"({"a":"x"})", R"({"a":"X"})"},
                    Pair{R"({"a":"x"})", R"({"a":"x "})"}, Pair{R"({"a":true})", R"({"a":"true"})"},
                    // composed and decomposed forms of é: jsonb compares bytes, not Unicode equivalence
                    Pair{"{\"a\":\"\xC3\xA9\"}", "{\"a\":\"e\xCC\x81\"}"}));

TEST(JsonValue, CanonicalTextIsCompactSortedAndNormalised) {
    EXPECT_EQ(json::canonical_text(
                  R"( { "b" : [ 1.50 , -0 , 2E3 ] , "a" : "\u0041\n" , "b" : { "z" : null , "y" : true } } )"),
              R"({"a":"A\n","b":{"y":true,"z":null}})");
    EXPECT_EQ(json::canonical_text(R"([0.5,-250,1e-7,100])"), R"([5e-1,-2.5e2,1e-7,1e2])");
    EXPECT_EQ(json::canonical_text(R"({"k":"\"\\\b\f\r\t"})"), R"({"k":"\"\\\b\f\r\t"})");
}

TEST(JsonValue, CanonicalMembersAreSortedWithTheLastOfDuplicates) {
    const json::CanonicalMembers members =
        json::canonical_members(R"({"id":"x","n":1.0,"id":"y","o":{"b":1,"a":2},"e":"\u00e9"})");
    const json::CanonicalMembers expected{
        {"e", "\"\xC3\xA9\""}, {"id", R"("y")"}, {"n", "1"}, {"o", R"({"a":2,"b":1})"}};
    EXPECT_EQ(members, expected);
    EXPECT_TRUE(json::canonical_members("{}").empty());
    EXPECT_TRUE(json::canonical_members(" { } ").empty());
}

TEST(JsonValue, AStringMembersCanonicalTextIsItsValueQuoted) {
    const std::string value = "a \"quoted\" \\ value\twith\x01 control \xE2\x82\xAC";
    std::string document = R"({"k":)";
    json::append_quoted(document, value);
    document += '}';
    std::string quoted;
    json::append_quoted(quoted, value);
    const json::CanonicalMembers members = json::canonical_members(document);
    ASSERT_EQ(members.size(), 1U);
    EXPECT_EQ(members[0].second, quoted);
    // Spelled with other escapes, the value is the same.
    EXPECT_EQ(json::canonical_members(R"({"k":"\u0041"})")[0].second, R"("A")");
}

TEST(JsonValue, DeepNestingNeedsNoRecursion) {
    // Far deeper than check_object accepts, to show the depth costs heap, not stack.
    constexpr std::size_t depth = 50000;
    std::string deep;
    for (std::size_t i = 0; i < depth; ++i) {
        deep += R"({"a":[)";
    }
    for (std::size_t i = 0; i < depth; ++i) {
        deep += "]}";
    }
    EXPECT_EQ(json::canonical_text(deep).size(), deep.size());
    EXPECT_TRUE(json::same_value(deep, " " + deep + " "));
}

class Malformed : public testing::TestWithParam<std::string> {};

TEST_P(Malformed, IsRejected) {
    EXPECT_THROW((void)json::canonical_text(GetParam()), std::invalid_argument) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(JsonValue, Malformed,
                         testing::Values(""s, " "s, "{"s, "}"s, "[1,]"s, R"({"a":1,})"s, R"({"a" 1})"s, R"({a:1})"s,
                                         "{} {}"s, "01"s, "1."s, ".5"s, "1e"s, "1e+"s, "-"s, "+1"s, "tru"s, "nul"s,
                                         R"("abc)"s, R"("\x")"s, R"("\u12")"s, R"("\u0000")"s, R"("\uD800")"s,
                                         R"("\uDC00")"s, R"("\uD800\u0041")"s, "\"a\nb\""s, R"([1 2])"s,
                                         R"({"a":1 "b":2})"s));

TEST(JsonValue, CanonicalMembersNeedAnObject) {
    EXPECT_THROW((void)json::canonical_members("[]"), std::invalid_argument);
    EXPECT_THROW((void)json::canonical_members(R"("x")"), std::invalid_argument);
    EXPECT_THROW((void)json::canonical_members(""), std::invalid_argument);
}

} // namespace
