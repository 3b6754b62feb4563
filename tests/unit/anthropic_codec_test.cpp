// Anthropic Messages codec (docs/wire-protocols.md §3): the exact request it sends, the named-event
// stream it understands, and how it reads error replies.
#include "upstream/providers/anthropic.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace voxgate::upstream {
namespace {

using nlohmann::json;

// Writes every sink callback as one line, so a test can compare the whole sequence.
class RecordingSink final : public StreamSink {
public:
    std::vector<std::string> calls;

    void on_text_delta(std::string_view delta) override { calls.push_back("text " + std::string(delta)); }
    void on_tool_call_delta(int index, std::string_view call_id, std::string_view name,
                            std::string_view arguments_fragment) override {
        calls.push_back("tool " + std::to_string(index) + " id=" + std::string(call_id) + " name=" + std::string(name) +
                        " args=" + std::string(arguments_fragment));
    }
    void on_usage(const Usage& usage) override {
        calls.push_back("usage " + std::to_string(usage.input_tokens) + "/" + std::to_string(usage.output_tokens) + "/" +
                        std::to_string(usage.total_tokens));
    }
    void on_finish(FinishReason reason) override { calls.push_back("finish " + std::to_string(static_cast<int>(reason))); }
};

std::string finish(FinishReason reason) {
    return "finish " + std::to_string(static_cast<int>(reason));
}

struct Decoded {
    DecodeStatus status = DecodeStatus::more;
    RecordingSink sink;
    std::unique_ptr<StreamDecoder> decoder;
};

Decoded decode(std::string_view stream, bool end_of_stream = false) {
    Decoded out;
    out.decoder = AnthropicCodec().make_decoder();
    SseParser parser;
    const std::error_code ec = parser.feed(stream, [&](const SseEvent& event) {
        if (out.status == DecodeStatus::more) out.status = out.decoder->on_event(event, out.sink);
    });
    EXPECT_FALSE(ec);
    if (end_of_stream && out.status == DecodeStatus::more) out.status = out.decoder->on_end_of_stream(out.sink);
    return out;
}

// One SSE event the way Anthropic frames it: the name twice, as `event:` and as "type".
std::string event(std::string_view name, std::string_view data) {
    return "event: " + std::string(name) + "\ndata: " + std::string(data) + "\n\n";
}

ProviderConfig anthropic_config() {
    ProviderConfig config;
    config.name = "anthropic";
    config.kind = "anthropic";
    config.base_url = "https://api.anthropic.com";
    config.api_key = "sk-ant-test";
    config.model = "claude-sonnet-4-5";
    config.options = AnthropicOptions{"2023-06-01", 1024};
    config.headers = {{"anthropic-beta", "feature-x"}};
    return config;
}

json weather_tool() {
    return json::parse(R"({"type":"function","name":"get_weather","description":"Current weather for a city",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}})");
}

// ---------------------------------------------------------------------------------------
// Request

TEST(AnthropicRequest, MultiTurnToolRoundTripBody) {
    ChatRequest request;
    request.model = "claude-haiku-4-5";
    request.instructions = "You are a terse assistant.";
    request.messages = {
        {Role::system, "Answer in English.", {}, ""},
        {Role::user, "What is the weather in Paris and Rome?", {}, ""},
        {Role::assistant, "Let me check.",
         {{"toolu_1", "get_weather", R"({"city":"Paris"})"}, {"toolu_2", "get_weather", "not json"}}, ""},
        {Role::tool, R"({"temp_c":18})", {}, "toolu_1"},
        {Role::tool, R"({"temp_c":24})", {}, "toolu_2"},
        {Role::assistant, "Paris 18, Rome 24.", {}, ""},
        {Role::user, "Thanks.", {}, ""},
        {Role::user, "And Berlin?", {}, ""},
    };
    request.tools = json::array({weather_tool(), json::parse(R"({"type":"function","name":"now"})")});
    request.tool_choice = "required";
    request.temperature = 0.25;

    const HttpRequestSpec spec = AnthropicCodec().build_request(request, anthropic_config());
    EXPECT_EQ(spec.url, "https://api.anthropic.com/v1/messages");
    EXPECT_EQ(spec.headers,
              (std::vector<std::string>{"x-api-key: sk-ant-test", "anthropic-version: 2023-06-01",
                                        "content-type: application/json", "accept: text/event-stream",
                                        "anthropic-beta: feature-x"}));
    const json expected = json::parse(R"({
        "model": "claude-haiku-4-5",
        "max_tokens": 1024,
        "system": "You are a terse assistant.\n\nAnswer in English.",
        "messages": [
            {"role": "user", "content": "What is the weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "{\"temp_c\":18}"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "{\"temp_c\":24}"}]},
            {"role": "assistant", "content": "Paris 18, Rome 24."},
            {"role": "user", "content": [
                {"type": "text", "text": "Thanks."},
                {"type": "text", "text": "And Berlin?"}]}
        ],
        "stream": true,
        "temperature": 0.25,
        "tools": [
            {"name": "get_weather", "description": "Current weather for a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "now", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"}
    })");
    EXPECT_EQ(json::parse(spec.body), expected) << spec.body;
}

TEST(AnthropicRequest, MinimalRequestUsesConfigDefaults) {
    ProviderConfig config = anthropic_config();
    config.base_url = "http://127.0.0.1:9000/v1/";  // already versioned: not doubled
    config.headers.clear();
    ChatRequest request;
    request.messages = {{Role::user, "hi", {}, ""}};
    request.tool_choice = "auto";  // without tools it is not sent

    const HttpRequestSpec spec = AnthropicCodec().build_request(request, config);
    EXPECT_EQ(spec.url, "http://127.0.0.1:9000/v1/messages");
    EXPECT_EQ(json::parse(spec.body), json::parse(R"({"model":"claude-sonnet-4-5","max_tokens":1024,
        "messages":[{"role":"user","content":"hi"}],"stream":true})"));

    request.max_output_tokens = 50;
    EXPECT_EQ(json::parse(AnthropicCodec().build_request(request, config).body)["max_tokens"], 50);
}

TEST(AnthropicRequest, ToolChoiceMapping) {
    ChatRequest request;
    request.model = "m";
    request.tools = json::array({weather_tool()});
    const auto choice_for = [&](json choice) {
        request.tool_choice = std::move(choice);
        const json body = json::parse(AnthropicCodec().build_request(request, anthropic_config()).body);
        return body.contains("tool_choice") ? body["tool_choice"] : json();
    };
    EXPECT_EQ(choice_for("auto"), json::parse(R"({"type":"auto"})"));
    EXPECT_EQ(choice_for("required"), json::parse(R"({"type":"any"})"));
    EXPECT_EQ(choice_for("none"), json::parse(R"({"type":"none"})"));
    EXPECT_EQ(choice_for(json::parse(R"({"type":"function","name":"get_weather"})")),
              json::parse(R"({"type":"tool","name":"get_weather"})"));
    EXPECT_EQ(choice_for(nullptr), json());
}

// ---------------------------------------------------------------------------------------
// Stream

TEST(AnthropicStream, TextResponse) {
    const Decoded out = decode(
        event("message_start",
              R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}})") +
        event("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})") +
        event("ping", R"({"type": "ping"})") +
        event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})") +
        event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}})") +
        event("content_block_stop", R"({"type":"content_block_stop","index":0})") +
        event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}})") +
        event("message_stop", R"({"type":"message_stop"})"));
    EXPECT_EQ(out.status, DecodeStatus::done);
    EXPECT_TRUE(out.decoder->saw_content());
    EXPECT_EQ(out.sink.calls,
              (std::vector<std::string>{"text Hello", "text !", "usage 25/15/40", finish(FinishReason::stop)}));
}

TEST(AnthropicStream, ToolUseBlocksAreNumberedAmongTools) {
    const Decoded out = decode(
        event("message_start", R"({"type":"message_start","message":{"usage":{"input_tokens":300,"cache_read_input_tokens":100,"output_tokens":1}}})") +
        event("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})") +
        event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}})") +
        event("content_block_stop", R"({"type":"content_block_stop","index":0})") +
        event("content_block_start", R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_A","name":"get_weather","input":{}}})") +
        event("content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}})") +
        event("content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}})") +
        event("content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}})") +
        event("content_block_stop", R"({"type":"content_block_stop","index":1})") +
        event("content_block_start", R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_B","name":"now","input":{}}})") +
        event("content_block_stop", R"({"type":"content_block_stop","index":2})") +
        event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":40}})") +
        event("message_stop", R"({"type":"message_stop"})"));
    EXPECT_EQ(out.status, DecodeStatus::done);
    EXPECT_EQ(out.sink.calls, (std::vector<std::string>{
                                  "text Checking.",
                                  "tool 0 id=toolu_A name=get_weather args=",
                                  "tool 0 id= name= args={\"city\": ",
                                  "tool 0 id= name= args=\"Paris\"}",
                                  "tool 1 id=toolu_B name=now args=",
                                  "usage 400/40/440",
                                  finish(FinishReason::tool_calls),
                              }));
}

TEST(AnthropicStream, StopReasonMappingAndCumulativeUsage) {
    const auto run = [](std::string_view stop_reason) {
        return decode(event("message_start", R"({"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}})") +
                      event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":3}})") +
                      event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" + std::string(stop_reason) +
                                                 "\"},\"usage\":{\"output_tokens\":9}}") +
                      event("message_stop", R"({"type":"message_stop"})"))
            .sink.calls;
    };
    EXPECT_EQ(run("end_turn"), (std::vector<std::string>{"usage 5/9/14", finish(FinishReason::stop)}));
    EXPECT_EQ(run("stop_sequence").back(), finish(FinishReason::stop));
    EXPECT_EQ(run("max_tokens").back(), finish(FinishReason::length));
    EXPECT_EQ(run("tool_use").back(), finish(FinishReason::tool_calls));
    EXPECT_EQ(run("refusal").back(), finish(FinishReason::content_filter));
    EXPECT_EQ(run("pause_turn").back(), finish(FinishReason::other));
}

TEST(AnthropicStream, UnknownEventsAndBlocksAreIgnored) {
    const Decoded out = decode(
        event("message_start", R"({"type":"message_start","message":{"usage":{"input_tokens":1,"output_tokens":1}}})") +
        event("brand_new_event", R"({"type":"brand_new_event","stuff":[1]})") +
        event("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})") +
        event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}})") +
        event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{}"}})") +
        event("content_block_stop", R"({"type":"content_block_stop","index":0})"));
    EXPECT_EQ(out.status, DecodeStatus::more);
    EXPECT_TRUE(out.sink.calls.empty());
    EXPECT_FALSE(out.decoder->saw_content());
}

TEST(AnthropicStream, EventNameFallsBackToPayloadType) {
    // A proxy that drops `event:` lines leaves the SSE default "message".
    const Decoded out = decode(
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
        "data: {\"type\":\"message_stop\"}\n\n");
    EXPECT_EQ(out.status, DecodeStatus::done);
    EXPECT_EQ(out.sink.calls.front(), "text hi");
}

TEST(AnthropicStream, OverloadedErrorBeforeContent) {
    const Decoded out = decode(
        event("message_start", R"({"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}})") +
        event("error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));
    ASSERT_EQ(out.status, DecodeStatus::error);
    EXPECT_EQ(out.decoder->error().type, "overloaded_error");
    EXPECT_EQ(out.decoder->error().message, "Overloaded");
    EXPECT_EQ(out.decoder->error().http_status, 0);
    EXPECT_TRUE(out.decoder->error().retryable);
    EXPECT_FALSE(out.decoder->saw_content());
}

TEST(AnthropicStream, OverloadedErrorAfterContent) {
    const Decoded out = decode(
        event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hal"}})") +
        event("error", R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})") +
        event("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"f"}})"));
    ASSERT_EQ(out.status, DecodeStatus::error);
    EXPECT_EQ(out.decoder->error().type, "overloaded_error");
    EXPECT_TRUE(out.decoder->saw_content());
    EXPECT_FALSE(out.decoder->error().retryable);
    EXPECT_EQ(out.sink.calls, (std::vector<std::string>{"text Hal"}));
}

TEST(AnthropicStream, ErrorEventWithPlainTextData) {
    const Decoded out = decode("event: error\ndata: Internal server error\n\n");
    ASSERT_EQ(out.status, DecodeStatus::error);
    EXPECT_EQ(out.decoder->error().type, "api_error");
    EXPECT_EQ(out.decoder->error().message, "Internal server error");
}

TEST(AnthropicStream, TooManyToolCallsIsMalformed) {
    std::string stream;
    for (int i = 0; i <= kMaxToolCalls; ++i) {
        stream += event("content_block_start",
                        "{\"type\":\"content_block_start\",\"index\":" + std::to_string(i) +
                            ",\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":{}}}");
    }
    const Decoded out = decode(stream);
    ASSERT_EQ(out.status, DecodeStatus::error);
    EXPECT_EQ(out.decoder->error().code, "upstream_malformed");
    EXPECT_EQ(out.sink.calls.size(), static_cast<std::size_t>(kMaxToolCalls));
    EXPECT_EQ(out.sink.calls.back(), "tool 127 id=t name=f args=");
}

TEST(AnthropicStream, MalformedJsonIsAnError) {
    const Decoded out = decode(event("content_block_delta", R"({"type":"content_block_delta","index":0,)"));
    ASSERT_EQ(out.status, DecodeStatus::error);
    EXPECT_EQ(out.decoder->error().code, "upstream_malformed");
}

TEST(AnthropicStream, EndOfStreamBeforeMessageStopIsTruncated) {
    const Decoded out = decode(
        event("message_start", R"({"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}})") +
            event("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}})"),
        /*end_of_stream=*/true);
    ASSERT_EQ(out.status, DecodeStatus::error);
    EXPECT_EQ(out.decoder->error().code, "upstream_truncated");
    EXPECT_TRUE(out.sink.calls.empty());
}

// ---------------------------------------------------------------------------------------
// Error replies

TEST(AnthropicErrors, ReadsTypeAndMessage) {
    const AnthropicCodec codec;
    const UpstreamError bad = codec.classify_error(
        400,
        R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_011"})",
        "", "");
    EXPECT_EQ(bad.http_status, 400);
    EXPECT_EQ(bad.type, "invalid_request_error");
    EXPECT_EQ(bad.message, "max_tokens: Field required");
    EXPECT_FALSE(bad.retryable);

    const UpstreamError auth = codec.classify_error(
        401, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})", "5", "");
    EXPECT_EQ(auth.type, "authentication_error");
    EXPECT_FALSE(auth.retryable);
    EXPECT_EQ(auth.retry_after, std::nullopt);
}

TEST(AnthropicErrors, RateLimitAndOverloadAreRetried) {
    const AnthropicCodec codec;
    const UpstreamError limited = codec.classify_error(
        429, R"({"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your rate limit"}})",
        "7", "");
    EXPECT_TRUE(limited.retryable);
    EXPECT_EQ(limited.retry_after, std::chrono::milliseconds(7000));
    EXPECT_EQ(codec.classify_error(429, "", "7", "250").retry_after, std::chrono::milliseconds(250));

    const UpstreamError overloaded =
        codec.classify_error(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", "", "");
    EXPECT_EQ(overloaded.type, "overloaded_error");
    EXPECT_TRUE(overloaded.retryable);
    EXPECT_EQ(overloaded.retry_after, std::nullopt);

    EXPECT_TRUE(codec.classify_error(500, R"({"type":"error","error":{"type":"api_error","message":"Internal"}})", "", "")
                    .retryable);
}

TEST(AnthropicErrors, NonJsonBodyGetsTypeFromStatus) {
    const AnthropicCodec codec;
    const std::string page = "<html>" + std::string(300, '-') + "</html>";
    const UpstreamError gateway = codec.classify_error(503, page, "", "");
    EXPECT_EQ(gateway.type, "api_error");
    EXPECT_TRUE(gateway.retryable);
    EXPECT_EQ(gateway.message, page.substr(0, 200));
    EXPECT_EQ(codec.classify_error(529, "Overloaded", "", "").type, "overloaded_error");
    EXPECT_EQ(codec.classify_error(413, "Request Entity Too Large", "", "").type, "request_too_large");
    EXPECT_FALSE(codec.classify_error(413, "Request Entity Too Large", "", "").retryable);
}

// Request bodies carry conversation text; a broken byte in it must become U+FFFD, not a
// type_error.316 thrown out of the shard (nlohmann's default dump() is strict).
TEST(AnthropicRequest, InvalidUtf8InTheConversationIsReplacedNotThrown) {
    ChatRequest request;
    request.instructions = "be \xFF brief";
    request.messages = {{Role::user, "caf\xC3", {}, ""},
                        {Role::assistant, "ok", {{"toolu_\xFE", "get", "{}"}}, ""},
                        {Role::tool, "out\xFF", {}, "toolu_\xFE"}};
    HttpRequestSpec spec;
    ASSERT_NO_THROW(spec = AnthropicCodec().build_request(request, anthropic_config()));
    const json body = json::parse(spec.body);  // valid JSON, so valid UTF-8
    const std::string fffd = "\xEF\xBF\xBD";
    EXPECT_EQ(body["system"], "be " + fffd + " brief");
    EXPECT_EQ(body["messages"][0]["content"], "caf" + fffd);
    EXPECT_EQ(body["messages"][1]["content"][1]["id"], "toolu_" + fffd);
    EXPECT_EQ(body["messages"][2]["content"][0]["content"], "out" + fffd);
}

}  // namespace
}  // namespace voxgate::upstream
