// The demo provider's canned reply: deterministic, quotes the user, and streams as
// word-sized tokens that concatenate back to the exact text.
#include "upstream/providers/demo_script.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace voxgate::upstream {
namespace {

std::string concatenated(const std::vector<std::string>& tokens) {
    std::string text;
    for (const std::string& token : tokens) text += token;
    return text;
}

TEST(DemoScript, ReplyQuotesTheUserAndPointsToARealModel) {
    const std::string reply = demo_reply("Hello there");
    EXPECT_EQ(reply,
              "This is voxgate's built-in demo provider, not a real model. You said: \"Hello there\". "
              "To talk to a real model, set OPENAI_API_KEY (or ANTHROPIC_API_KEY) before starting voxgate "
              "and route your model to that provider in the config.");
    EXPECT_EQ(demo_reply("Hello there"), reply);  // deterministic
}

TEST(DemoScript, EmptyInputGetsItsOwnSentence) {
    const std::string reply = demo_reply(" \n\t ");
    EXPECT_NE(reply.find("I did not receive any text from you."), std::string::npos);
    EXPECT_EQ(reply.find("You said"), std::string::npos);
}

TEST(DemoScript, QuoteIsOneLineAndBounded) {
    EXPECT_NE(demo_reply("  line one\n\nline\ttwo \r\n").find("You said: \"line one line two\"."), std::string::npos);
    // 200 two-byte characters: cut at 120 bytes on a character boundary, then "...".
    std::string long_text;
    for (int i = 0; i < 200; ++i) long_text += "\xC3\xA9";
    const std::string reply = demo_reply(long_text);
    std::string expected_quote;
    for (int i = 0; i < 60; ++i) expected_quote += "\xC3\xA9";
    EXPECT_NE(reply.find("You said: \"" + expected_quote + "...\"."), std::string::npos) << reply;
    std::string odd_cut(119, 'a');
    odd_cut += "\xE2\x82\xAC tail";  // a 3-byte character straddles byte 120
    EXPECT_NE(demo_reply(odd_cut).find("\"" + std::string(119, 'a') + "...\""), std::string::npos);
}

TEST(DemoScript, TokensCarryTheirLeadingWhitespace) {
    EXPECT_EQ(split_into_tokens("Hi there,  friend!"), (std::vector<std::string>{"Hi", " there,", "  friend!"}));
    EXPECT_EQ(split_into_tokens("  lead and trail  "), (std::vector<std::string>{"  lead", " and", " trail  "}));
    EXPECT_EQ(split_into_tokens("   "), (std::vector<std::string>{"   "}));
    EXPECT_TRUE(split_into_tokens("").empty());
}

TEST(DemoScript, ReplyTokensReproduceTheReply) {
    for (const char* input : {"", "Hello", "What's the weather like in Paris today?", "multi\nline\ninput"}) {
        const std::vector<std::string> tokens = demo_reply_tokens(input);
        EXPECT_GT(tokens.size(), 20u);
        EXPECT_EQ(concatenated(tokens), demo_reply(input)) << input;
        for (const std::string& token : tokens) EXPECT_FALSE(token.empty());
    }
}

}  // namespace
}  // namespace voxgate::upstream
