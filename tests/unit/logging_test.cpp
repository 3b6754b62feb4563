// The JSON log line formatter: a message that quotes a peer's bytes (a request path, a
// provider's error) is logged as valid JSON with U+FFFD, never thrown on.
#include "server/logging.hpp"

#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/details/log_msg.h>

namespace voxgate::server {
namespace {

std::string format_json_line(std::string_view message) {
    auto formatter = make_json_line_formatter();
    spdlog::details::log_msg msg("voxgate", spdlog::level::warn, message);
    spdlog::memory_buf_t out;
    formatter->format(msg, out);
    return std::string(out.data(), out.size());
}

TEST(JsonLogLines, InvalidUtf8InAMessageIsReplacedNotThrown) {
    std::string line;
    ASSERT_NO_THROW(line = format_json_line("no route for /\xFF\xC3("));
    ASSERT_EQ(line.back(), '\n');
    const auto parsed = nlohmann::json::parse(line);
    EXPECT_EQ(parsed["level"], "warning");
    EXPECT_EQ(parsed["msg"], "no route for /\xEF\xBF\xBD\xEF\xBF\xBD(");
}

TEST(JsonLogLines, QuotesAndControlCharactersStayInsideTheMessage) {
    const auto parsed = nlohmann::json::parse(format_json_line("a\"b\n{\"level\":\"error\"}"));
    EXPECT_EQ(parsed["msg"], "a\"b\n{\"level\":\"error\"}");
    EXPECT_EQ(parsed.size(), 3u);
}

}  // namespace
}  // namespace voxgate::server
