// OpenAI Chat Completions codec (docs/wire-protocols.md §2): the exact request it sends, the stream
// it understands, and how it reads error replies.
#include "upstream/providers/openai.hpp"

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
    std::string text;

    void on_text_delta(std::string_view delta) override {
        text += delta;
        calls.push_back("text " + std::string(delta));
    }
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

// Runs `stream` through an SseParser into a fresh decoder, stopping at done/error like the engine.
Decoded decode(std::string_view stream, bool end_of_stream = false) {
    Decoded out;
    out.decoder = OpenAiCodec().make_decoder();
    SseParser parser;
    const std::error_code ec = parser.feed(stream, [&](const SseEvent& event) {
        if (out.status == DecodeStatus::more) out.status = out.decoder->on_event(event, out.sink);
    });
    EXPECT_FALSE(ec);
    if (end_of_stream && out.status == DecodeStatus::more) out.status = out.decoder->on_end_of_stream(out.sink);
    return out;
}

ProviderConfig openai_config() {
    ProviderConfig config;
    config.name = "openai";
    config.kind = "openai";
    config.base_url = "https://api.openai.com/v1/";
    config.api_key = "sk-test-key";
    config.model = "gpt-4o";
    config.headers = {{"OpenAI-Organization", "org-123"}};
    return config;
}

json weather_tool() {
    return json::parse(R"({"type":"function","name":"get_weather","description":"Current weather for a city",
        "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}})");
}

// A user asks, the model calls a tool, the tool answers, the model replies, the user asks again.
ChatRequest tool_round_trip_request() {
    ChatRequest request;
    request.model = "gpt-4o-mini";
    request.instructions = "You are a terse assistant.";
    request.messages = {
        {Role::user, "What is the weather in Paris?", {}, ""},
        {Role::assistant, "", {{"call_1", "get_weather", R"({"city":"Paris"})"}}, ""},
        {Role::tool, R"({"temp_c":18})", {}, "call_1"},
        {Role::assistant, "It is 18 degrees in Paris.", {}, ""},
        {Role::user, "And in Rome?", {}, ""},
    };
    request.tools = json::array({weather_tool()});
    request.tool_choice = "auto";
    request.max_output_tokens = 200;
    request.temperature = 0.5;
    return request;
}

// ---------------------------------------------------------------------------------------
// Request

TEST(OpenAiRequest, MultiTurnToolRoundTripBody) {
    const HttpRequestSpec spec = OpenAiCodec().build_request(tool_round_trip_request(), openai_config());

    EXPECT_EQ(spec.url, "https://api.openai.com/v1/chat/completions");
    EXPECT_EQ(spec.headers, (std::vector<std::string>{"Authorization: Bearer sk-test-key",
                                                      "Content-Type: application/json", "Accept: text/event-stream",
                                                      "OpenAI-Organization: org-123"}));
    const json expected = json::parse(R"({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\":18}"},
            {"role": "assistant", "content": "It is 18 degrees in Paris."},
            {"role": "user", "content": "And in Rome?"}
        ],
        "stream": true,
        "stream_options": {"include_usage": true},
        "max_completion_tokens": 200,
        "temperature": 0.5,
        "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
        "tool_choice": "auto"
    })");
    EXPECT_EQ(json::parse(spec.body), expected) << spec.body;
}

TEST(OpenAiRequest, MinimalRequestOmitsOptionalFields) {
    ProviderConfig config = openai_config();
    config.api_key.clear();  // a local server without auth
    config.headers.clear();
    config.base_url = "http://127.0.0.1:8000/v1";
    ChatRequest request;  // no model: the provider's configured model is used
    request.messages = {{Role::user, "hi", {}, ""}};
    request.tool_choice = "none";  // without tools it must not be sent

    const HttpRequestSpec spec = OpenAiCodec().build_request(request, config);
    EXPECT_EQ(spec.url, "http://127.0.0.1:8000/v1/chat/completions");
    EXPECT_EQ(spec.headers, (std::vector<std::string>{"Content-Type: application/json", "Accept: text/event-stream"}));
    EXPECT_EQ(json::parse(spec.body), json::parse(R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],
        "stream":true,"stream_options":{"include_usage":true}})"));
}

TEST(OpenAiRequest, ToolChoiceConversions) {
    ChatRequest request;
    request.model = "m";
    request.tools = json::array({json::parse(R"({"type":"function","name":"ping"})")});
    const auto body_for = [&](json choice) {
        request.tool_choice = std::move(choice);
        return json::parse(OpenAiCodec().build_request(request, openai_config()).body);
    };
    EXPECT_EQ(body_for("required")["tool_choice"], "required");
    EXPECT_EQ(body_for(json::parse(R"({"type":"function","name":"ping"})"))["tool_choice"],
              json::parse(R"({"type":"function","function":{"name":"ping"}})"));
    const json body = body_for(nullptr);
    EXPECT_FALSE(body.contains("tool_choice"));
    EXPECT_EQ(body["tools"], json::parse(R"([{"type":"function","function":{"name":"ping"}}])"));
}

// ---------------------------------------------------------------------------------------
// Stream

// Recorded shape (docs/wire-protocols.md §2.2): role chunk, content, finish chunk, usage chunk, [DONE].
constexpr std::string_view kTextStream =
    "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\","
    "\"system_fingerprint\":\"fp_1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null,\"obfuscation\":\"aB3\"}\n\n"
    "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"logprobs\":null,\"finish_reason\":null}],"
    "\"usage\":null,\"obfuscation\":\"x\"}\n\n"
    "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there \\u00e9\"},\"logprobs\":null,\"finish_reason\":null}],"
    "\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-X\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15,"
    "\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
    "data: [DONE]\n\n";

TEST(OpenAiStream, TextDeltasUsageAndFinish) {
    const Decoded out = decode(kTextStream);
    EXPECT_EQ(out.status, DecodeStatus::done);
    EXPECT_TRUE(out.decoder->saw_content());
    EXPECT_EQ(out.sink.calls, (std::vector<std::string>{"text Hello", "text  there \xC3\xA9", "usage 10/5/15",
                                                        finish(FinishReason::stop)}));
}

TEST(OpenAiStream, ToolCallDeltas) {
    const Decoded out = decode(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,"
        "\"id\":\"call_abc\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},"
        "\"finish_reason\":null}],\"usage\":null}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
        "\"{\\\"ci\"}}]},\"finish_reason\":null}],\"usage\":null}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
        "\"ty\\\":\\\"Paris\\\"}\"}}]},\"finish_reason\":null}],\"usage\":null}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_def\",\"type\":"
        "\"function\",\"function\":{\"name\":\"get_time\",\"arguments\":\"{}\"}}]},\"finish_reason\":null}],"
        "\"usage\":null}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}],\"usage\":null}\n\n"
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":20,\"total_tokens\":100}}\n\n"
        "data: [DONE]\n\n");
    EXPECT_EQ(out.status, DecodeStatus::done);
    EXPECT_TRUE(out.decoder->saw_content());
    EXPECT_EQ(out.sink.calls, (std::vector<std::string>{
                                  "tool 0 id=call_abc name=get_weather args=",
                                  "tool 0 id= name= args={\"ci",
                                  "tool 0 id= name= args=ty\":\"Paris\"}",
                                  "tool 1 id=call_def name=get_time args={}",
                                  "usage 80/20/100",
                                  finish(FinishReason::tool_calls),
                              }));
}

TEST(OpenAiStream, FinishReasonMapping) {
    const auto reason_of = [](std::string_view reason) {
        const Decoded out = decode("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"" +
                                   std::string(reason) + "\"}]}\n\ndata: [DONE]\n\n");
        return out.sink.calls.back();
    };
    EXPECT_EQ(reason_of("length"), finish(FinishReason::length));
    EXPECT_EQ(reason_of("content_filter"), finish(FinishReason::content_filter));
    EXPECT_EQ(reason_of("function_call"), finish(FinishReason::tool_calls));
    EXPECT_EQ(reason_of("something_new"), finish(FinishReason::other));
}

TEST(OpenAiStream, DoneWithoutUsageOrFinishReason) {
    const Decoded out = decode("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n");
    EXPECT_EQ(out.status, DecodeStatus::done);
    EXPECT_EQ(out.sink.calls, (std::vector<std::string>{"text a", finish(FinishReason::none)}));
}

TEST(OpenAiStream, IgnoresOtherChoicesAndUnknownFields) {
    const Decoded out = decode(
        "data: {\"future_field\":{\"x\":[1,2]},\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\"}},"
        "{\"index\":0,\"delta\":{\"content\":\"mine\",\"annotations\":[]},\"finish_reason\":null}]}\n\n");
    EXPECT_EQ(out.status, DecodeStatus::more);
    EXPECT_EQ(out.sink.calls, (std::vector<std::string>{"text mine"}));
}

TEST(OpenAiStream, InStreamErrorBeforeContentIsRetryable) {
    const Decoded out = decode(
        "data: {\"error\":{\"message\":\"The server had an error while processing your request.\","
        "\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
    ASSERT_EQ(out.status, DecodeStatus::error);
    EXPECT_EQ(out.decoder->error().type, "server_error");
    EXPECT_EQ(out.decoder->error().message, "The server had an error while processing your request.");
    EXPECT_EQ(out.decoder->error().http_status, 0);
    EXPECT_TRUE(out.decoder->error().retryable);
    EXPECT_TRUE(out.sink.calls.empty());
}

TEST(OpenAiStream, InStreamErrorAfterContentIsNotRetryable) {
    const Decoded out = decode(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Par\"}}]}\n\n"
        "event: error\ndata: {\"message\":\"overloaded\",\"type\":\"server_error\",\"code\":\"overloaded\"}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"is\"}}]}\n\n");
    ASSERT_EQ(out.status, DecodeStatus::error);
    EXPECT_EQ(out.decoder->error().code, "overloaded");
    EXPECT_TRUE(out.decoder->saw_content());
    EXPECT_FALSE(out.decoder->error().retryable);
    EXPECT_EQ(out.sink.calls, (std::vector<std::string>{"text Par"}));  // nothing after the error
}

TEST(OpenAiStream, MalformedJsonIsAnError) {
    for (const std::string_view data : {"{\"choices\":[", "not json", "[1,2]", "\"text\""}) {
        const Decoded out = decode("data: " + std::string(data) + "\n\n");
        ASSERT_EQ(out.status, DecodeStatus::error) << data;
        EXPECT_EQ(out.decoder->error().code, "upstream_malformed");
        EXPECT_FALSE(out.decoder->error().retryable);
    }
}

TEST(OpenAiStream, ErrorEventWithPlainTextData) {
    const Decoded out = decode("event: error\ndata: upstream exploded\n\n");
    ASSERT_EQ(out.status, DecodeStatus::error);
    EXPECT_EQ(out.decoder->error().message, "upstream exploded");
    EXPECT_TRUE(out.decoder->error().retryable);
}

TEST(OpenAiStream, ToolCallIndexDefaultsToPositionAndIsBounded) {
    const Decoded positional = decode(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"f\"}},"
        "{\"id\":\"b\",\"function\":{\"name\":\"g\"}}]}}]}\n\n");
    EXPECT_EQ(positional.sink.calls,
              (std::vector<std::string>{"tool 0 id=a name=f args=", "tool 1 id=b name=g args="}));
    for (const char* index : {"-1", "128", "4294967296"}) {
        const Decoded out = decode("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":" +
                                   std::string(index) + ",\"function\":{\"arguments\":\"x\"}}]}}]}\n\n");
        ASSERT_EQ(out.status, DecodeStatus::error) << index;
        EXPECT_EQ(out.decoder->error().code, "upstream_malformed");
        EXPECT_TRUE(out.sink.calls.empty());
    }
}

TEST(OpenAiStream, EndOfStreamAfterFinishReasonCompletes) {
    const Decoded out =
        decode("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\n",
               /*end_of_stream=*/true);
    EXPECT_EQ(out.status, DecodeStatus::done);
    EXPECT_EQ(out.sink.calls, (std::vector<std::string>{"text ok", finish(FinishReason::stop)}));
}

TEST(OpenAiStream, EndOfStreamMidAnswerIsTruncated) {
    const Decoded out = decode("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n", true);
    ASSERT_EQ(out.status, DecodeStatus::error);
    EXPECT_EQ(out.decoder->error().code, "upstream_truncated");
    EXPECT_FALSE(out.decoder->error().retryable);  // text was already streamed
}

// ---------------------------------------------------------------------------------------
// Error replies

TEST(OpenAiErrors, BadRequestIsNotRetried) {
    const UpstreamError error = OpenAiCodec().classify_error(
        400,
        R"({"error":{"message":"Unrecognized request argument supplied: foo","type":"invalid_request_error","param":null,"code":null}})",
        "", "");
    EXPECT_EQ(error.http_status, 400);
    EXPECT_EQ(error.type, "invalid_request_error");
    EXPECT_EQ(error.code, "");
    EXPECT_EQ(error.message, "Unrecognized request argument supplied: foo");
    EXPECT_FALSE(error.retryable);
    EXPECT_EQ(error.retry_after, std::nullopt);
}

TEST(OpenAiErrors, UnauthorizedIsNotRetried) {
    const UpstreamError error = OpenAiCodec().classify_error(
        401, R"({"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}})",
        "1", "");
    EXPECT_EQ(error.code, "invalid_api_key");
    EXPECT_FALSE(error.retryable);
    EXPECT_EQ(error.retry_after, std::nullopt);
}

TEST(OpenAiErrors, RateLimitHonoursRetryHeaders) {
    const OpenAiCodec codec;
    const std::string body =
        R"({"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}})";
    const UpstreamError seconds = codec.classify_error(429, body, "2", "");
    EXPECT_TRUE(seconds.retryable);
    EXPECT_EQ(seconds.type, "requests");
    EXPECT_EQ(seconds.code, "rate_limit_exceeded");
    EXPECT_EQ(seconds.retry_after, std::chrono::milliseconds(2000));
    // retry-after-ms wins over retry-after; fractions round up.
    EXPECT_EQ(codec.classify_error(429, body, "2", "150.2").retry_after, std::chrono::milliseconds(151));
    EXPECT_EQ(codec.classify_error(429, body, " 0.5 ", "").retry_after, std::chrono::milliseconds(500));
    // An HTTP-date, garbage or a delay over 60 s counts as absent.
    EXPECT_EQ(codec.classify_error(429, body, "Wed, 21 Oct 2015 07:28:00 GMT", "").retry_after, std::nullopt);
    EXPECT_EQ(codec.classify_error(429, body, "120", "").retry_after, std::nullopt);
    EXPECT_EQ(codec.classify_error(429, body, "-1", "").retry_after, std::nullopt);
    EXPECT_EQ(codec.classify_error(429, body, "", "90000").retry_after, std::nullopt);
    EXPECT_EQ(codec.classify_error(429, body, "3", "soon").retry_after, std::chrono::milliseconds(3000));
    EXPECT_EQ(codec.classify_error(429, body, "", "").retry_after, std::nullopt);
}

TEST(OpenAiErrors, QuotaExhaustedIsNotRetried) {
    const UpstreamError error = OpenAiCodec().classify_error(
        429, R"({"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}})",
        "1", "");
    EXPECT_FALSE(error.retryable);
}

TEST(OpenAiErrors, ServerErrorsAreRetried) {
    const OpenAiCodec codec;
    for (const int status : {408, 409, 500, 502, 503, 504, 529}) {
        EXPECT_TRUE(codec.classify_error(status, "", "", "").retryable) << status;
    }
    for (const int status : {400, 401, 403, 404, 413, 422}) {
        EXPECT_FALSE(codec.classify_error(status, "", "", "").retryable) << status;
    }
}

TEST(OpenAiErrors, NonJsonBodyBecomesTruncatedMessage) {
    const std::string html = "<html><body>" + std::string(500, 'x') + "</body></html>";
    const UpstreamError error = OpenAiCodec().classify_error(503, html, "", "");
    EXPECT_EQ(error.type, "server_error");
    EXPECT_TRUE(error.retryable);
    EXPECT_EQ(error.message, html.substr(0, 200));
    EXPECT_EQ(OpenAiCodec().classify_error(502, "", "", "").message, "upstream returned HTTP 502");
}

TEST(OpenAiErrors, TruncationKeepsUtf8Whole) {
    std::string body(199, 'a');
    body += "\xC3\xA9 tail";  // the 2-byte character straddles byte 200
    EXPECT_EQ(OpenAiCodec().classify_error(500, body, "", "").message, std::string(199, 'a'));
}

TEST(OpenAiErrors, MessageIsValidUtf8OnOneLine) {
    // Invalid bytes become '?', control characters spaces: the text goes into logs and JSON.
    EXPECT_EQ(OpenAiCodec().classify_error(502, "bad \xFF\xC3(\r\n end \xC0\xAF \xED\xA0\x80 ok\xE2\x82\xAC", "", "").message,
              "bad ??" "(   end ?? ??? ok\xE2\x82\xAC");  // split: "??(" is a trigraph
    const std::string long_message(5000, 'm');
    EXPECT_EQ(OpenAiCodec().classify_error(400, R"({"error":{"message":")" + long_message + R"("}})", "", "").message,
              long_message.substr(0, kMaxErrorMessageBytes));
}

TEST(OpenAiErrors, CompatibleServerTopLevelError) {
    // vLLM-style body: the fields sit at the top level, code is a number.
    const UpstreamError error = OpenAiCodec().classify_error(
        400, R"({"object":"error","message":"model not found","type":"NotFoundError","param":null,"code":404})", "", "");
    EXPECT_EQ(error.type, "NotFoundError");
    EXPECT_EQ(error.code, "404");
    EXPECT_EQ(error.message, "model not found");
}

// Request bodies carry conversation text; a broken byte in it must become U+FFFD, not a
// type_error.316 thrown out of the shard (nlohmann's default dump() is strict).
TEST(OpenAiRequest, InvalidUtf8InTheConversationIsReplacedNotThrown) {
    ChatRequest request;
    request.instructions = "be \xFF brief";
    request.messages = {{Role::user, "caf\xC3", {}, ""},
                        {Role::assistant, "", {{"call_\xFE", "get\xC0\xAF", "{\"a\":\"\xED\xA0\x80\"}"}}, ""},
                        {Role::tool, "out\xFF", {}, "call_\xFE"}};
    HttpRequestSpec spec;
    ASSERT_NO_THROW(spec = OpenAiCodec().build_request(request, openai_config()));
    const json body = json::parse(spec.body);  // valid JSON, so valid UTF-8
    const std::string fffd = "\xEF\xBF\xBD";
    EXPECT_EQ(body["messages"][0]["content"], "be " + fffd + " brief");
    EXPECT_EQ(body["messages"][1]["content"], "caf" + fffd);
    EXPECT_EQ(body["messages"][2]["tool_calls"][0]["id"], "call_" + fffd);
    EXPECT_EQ(body["messages"][3]["content"], "out" + fffd);
}

}  // namespace
}  // namespace voxgate::upstream
