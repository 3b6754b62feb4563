// OpenAiChunkReader: what it reads from the common OpenAI stream chunk, and every shape it
// leaves to the DOM path (nullopt) so that the decoder's answer never changes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "upstream/providers/openai_chunk.hpp"

namespace voxgate::upstream {
namespace {

std::vector<std::string> texts_of(const OpenAiChunkReader::Chunk& chunk) {
    return {chunk.texts.begin(), chunk.texts.begin() + static_cast<std::ptrdiff_t>(chunk.text_count)};
}

TEST(OpenAiChunkReader, ReadsTheTextOfACurrentOpenAiChunk) {
    OpenAiChunkReader reader;
    const auto chunk = reader.read(
        R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt","service_tier":"default",)"
        R"("system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,)"
        R"("finish_reason":null}],"usage":null,"obfuscation":"xyz"})");
    ASSERT_TRUE(chunk.has_value());
    EXPECT_EQ(texts_of(*chunk), std::vector<std::string>{"Hel"});
    EXPECT_TRUE(chunk->finish_reason.empty());
    EXPECT_FALSE(chunk->usage.has_value());
}

TEST(OpenAiChunkReader, UnescapesTheText) {
    OpenAiChunkReader reader;
    const auto chunk = reader.read(R"({"choices":[{"index":0,"delta":{"content":"a\"b\n\u00e9\ud83d\ude00"}}]})");
    ASSERT_TRUE(chunk.has_value());
    EXPECT_EQ(texts_of(*chunk), std::vector<std::string>{"a\"b\n\xC3\xA9\xF0\x9F\x98\x80"});
}

TEST(OpenAiChunkReader, ContentThenRefusalOfIndexZeroOnlyAndTheLastFinishReason) {
    OpenAiChunkReader reader;
    const auto chunk = reader.read(
        R"({"choices":[{"delta":{"refusal":"no","content":"yes"},"finish_reason":"length"},)"
        R"({"index":1,"delta":{"content":"other choice"},"finish_reason":"stop"},)"
        R"({"index":0,"delta":{"content":""},"finish_reason":"stop"}]})");
    ASSERT_TRUE(chunk.has_value());
    EXPECT_EQ(texts_of(*chunk), (std::vector<std::string>{"yes", "no"}));
    EXPECT_EQ(chunk->finish_reason, "stop");
}

TEST(OpenAiChunkReader, ReadsUsageWithNonIntegersAsZero) {
    OpenAiChunkReader reader;
    const auto chunk =
        reader.read(R"({"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3.5,"total_tokens":15}})");
    ASSERT_TRUE(chunk.has_value());
    ASSERT_TRUE(chunk->usage.has_value());
    EXPECT_EQ(chunk->usage->input_tokens, 12);
    EXPECT_EQ(chunk->usage->output_tokens, 0);
    EXPECT_EQ(chunk->usage->total_tokens, 15);
}

TEST(OpenAiChunkReader, ARepeatedKeyKeepsTheLastAsTheDomDoes) {
    OpenAiChunkReader reader;
    const auto chunk = reader.read(
        R"({"choices":[{"delta":{"content":"first"}}],"choices":[{"delta":{"content":"a","content":"b"}}]})");
    ASSERT_TRUE(chunk.has_value());
    EXPECT_EQ(texts_of(*chunk), std::vector<std::string>{"b"});
}

TEST(OpenAiChunkReader, ANonIntegerIndexCountsAsZeroAsInTheDom) {
    OpenAiChunkReader reader;
    const auto chunk = reader.read(R"({"choices":[{"index":"1","delta":{"content":"x"}}]})");
    ASSERT_TRUE(chunk.has_value());
    EXPECT_EQ(texts_of(*chunk), std::vector<std::string>{"x"});
}

TEST(OpenAiChunkReader, NullErrorAndNullToolCallsAreOrdinaryChunks) {
    OpenAiChunkReader reader;
    const auto chunk = reader.read(R"({"error":null,"choices":[{"delta":{"content":"x","tool_calls":null}}]})");
    ASSERT_TRUE(chunk.has_value());
    EXPECT_EQ(texts_of(*chunk), std::vector<std::string>{"x"});
}

TEST(OpenAiChunkReader, LeavesEverythingElseToTheDomPath) {
    OpenAiChunkReader reader;
    for (const std::string data : {
             R"({"error":{"message":"overloaded","type":"server_error"}})",
             R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}}]})",
             R"({"id":"x","choices":[{"delta":{"content":)",        // cut off (the mock's malformed event)
             R"({"choices":[{"delta":{"content":"x"}}]} trailing)",  // bytes after the object
             R"(["not","an","object"])",
             R"({"choices":[1]})",
             R"({"choices":{"index":0}})",
             "{\"choices\":[{\"delta\":{\"content\":\"\xff\"}}]}",  // not UTF-8
             R"({"choices":[{"delta":{"content":"1"}},{"delta":{"content":"2"}},{"delta":{"content":"3"}},)"
             R"({"delta":{"content":"4"}},{"delta":{"content":"5"}}]})",  // more texts than it holds
         }) {
        EXPECT_FALSE(reader.read(data).has_value()) << data;
    }
    std::string large = R"({"choices":[{"delta":{"content":")" + std::string(OpenAiChunkReader::max_chunk_bytes, 'a') + "\"}}]}";
    EXPECT_FALSE(reader.read(large).has_value());
}

TEST(OpenAiChunkReader, AReusedReaderReadsEachChunkOnItsOwn) {
    OpenAiChunkReader reader;
    ASSERT_TRUE(reader.read(R"({"choices":[{"delta":{"content":"a much longer first token"}}]})").has_value());
    EXPECT_FALSE(reader.read("{broken").has_value());
    const auto chunk = reader.read(R"({"choices":[{"delta":{"content":"b"}}]})");
    ASSERT_TRUE(chunk.has_value());
    EXPECT_EQ(texts_of(*chunk), std::vector<std::string>{"b"});
}

}  // namespace
}  // namespace voxgate::upstream
