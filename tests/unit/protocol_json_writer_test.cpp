// JsonWriter: separators at every nesting level, escaping and U+FFFD exactly as to_text writes
// them, nullable fields, and numbers at their limits, checked against nlohmann's own output.
#include "protocol/json_writer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace voxgate::protocol {
namespace {

TEST(ProtocolJsonWriter, SeparatesMembersAndElementsAtEveryLevel) {
    std::string text;
    JsonWriter out(text);
    out.begin_object().field("a", 1).key("list").begin_array();
    out.begin_object().end_object().begin_array().end_array().number(2).string("x");
    out.end_array().key("inner").begin_object().field("b", "c").key("n").null().end_object().field("d", 3);
    out.end_object();
    EXPECT_EQ(text, R"({"a":1,"list":[{},[],2,"x"],"inner":{"b":"c","n":null},"d":3})");
    EXPECT_TRUE(Json::accept(text));
}

TEST(ProtocolJsonWriter, StringsAreEscapedLikeToText) {
    const std::string hostile = std::string("q\"b\\s\n\t\x01 \xC3\xA9 bad:\xFF\xC0\x80 end");
    std::string text;
    JsonWriter(text).begin_object().field("s", hostile).end_object();
    OrderedJson expected;
    expected["s"] = hostile;
    EXPECT_EQ(text, to_text(expected));
    EXPECT_TRUE(Json::accept(text));
}

TEST(ProtocolJsonWriter, AbsentOptionalIsNullAndNumbersKeepTheirRange) {
    std::string text;
    JsonWriter out(text);
    out.begin_object()
        .field("none", std::optional<std::string_view>())
        .field("some", std::optional<std::string_view>("v"))
        .field("min", std::numeric_limits<std::int64_t>::min())
        .field("max", std::numeric_limits<std::uint64_t>::max())
        .key("tree")
        .json(OrderedJson{{"k", 0.5}})
        .end_object();
    EXPECT_EQ(text, R"({"none":null,"some":"v","min":-9223372036854775808,"max":18446744073709551615,"tree":{"k":0.5}})");
}

}  // namespace
}  // namespace voxgate::protocol
