#include "upstream/providers/openai.hpp"

#include <nlohmann/json.hpp>

#include "upstream/provider_kinds.hpp"
#include "upstream/providers/openai_chunk.hpp"

namespace voxgate::upstream {
namespace {

using nlohmann::json;
using codec_json::dump;
using codec_json::int_at;
using codec_json::member;
using codec_json::string_at;

// error.code is a string for OpenAI but a number for some compatible servers.
std::string code_at(const json& obj, const char* key) {
    const json& value = member(obj, key);
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number_integer()) return std::to_string(value.get<long long>());
    return {};
}

std::string without_trailing_slash(std::string_view url) {
    while (!url.empty() && url.back() == '/') url.remove_suffix(1);
    return std::string(url);
}

json message_json(const ChatMessage& message) {
    switch (message.role) {
        case Role::system: return {{"role", "system"}, {"content", message.text}};
        case Role::user: return {{"role", "user"}, {"content", message.text}};
        case Role::tool:
            return {{"role", "tool"}, {"tool_call_id", message.tool_call_id}, {"content", message.text}};
        case Role::assistant: break;
    }
    json out = {{"role", "assistant"}};
    if (message.tool_calls.empty()) {
        out["content"] = message.text;
        return out;
    }
    // An assistant turn that only called tools has content null (§2.1).
    out["content"] = message.text.empty() ? json(nullptr) : json(message.text);
    json calls = json::array();
    for (const ToolCall& call : message.tool_calls) {
        calls.push_back({{"id", call.call_id},
                         {"type", "function"},
                         {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
    }
    out["tool_calls"] = std::move(calls);
    return out;
}

// Realtime {type:"function",name,description,parameters} -> {type:"function",function:{...}}.
json tools_json(const json& realtime_tools) {
    json tools = json::array();
    if (!realtime_tools.is_array()) return tools;
    for (const json& tool : realtime_tools) {
        if (!tool.is_object() || tool.value("type", "function") != "function") continue;
        json function = {{"name", string_at(tool, "name")}};
        if (tool.contains("description")) function["description"] = tool["description"];
        if (tool.contains("parameters")) function["parameters"] = tool["parameters"];
        tools.push_back({{"type", "function"}, {"function", std::move(function)}});
    }
    return tools;
}

json tool_choice_json(const json& choice) {
    if (choice.is_object() && string_at(choice, "type") == "function") {
        return {{"type", "function"}, {"function", {{"name", string_at(choice, "name")}}}};
    }
    return choice;  // "auto" | "none" | "required" go through unchanged
}

FinishReason finish_reason_from(std::string_view reason) {
    if (reason == "stop") return FinishReason::stop;
    if (reason == "length") return FinishReason::length;
    if (reason == "tool_calls" || reason == "function_call") return FinishReason::tool_calls;
    if (reason == "content_filter") return FinishReason::content_filter;
    return FinishReason::other;
}

std::string default_error_type(int http_status) {
    switch (http_status) {
        case 400: case 422: return "invalid_request_error";
        case 401: return "authentication_error";
        case 403: return "permission_error";
        case 404: return "not_found_error";
        case 408: return "timeout";
        case 409: return "conflict_error";
        case 429: return "rate_limit_error";
        default: return http_status >= 500 ? "server_error" : "invalid_request_error";
    }
}

// Error types that describe a passing condition, worth a retry when no output was sent yet.
bool transient_error_type(std::string_view type) {
    return type == "server_error" || type == "rate_limit_error" || type == "overloaded_error" ||
           type == "api_error" || type == "timeout";
}

class OpenAiStreamDecoder final : public StreamDecoder {
public:
    DecodeStatus on_event(const SseEvent& event, StreamSink& sink) override {
        if (event.data == "[DONE]") return finish(sink);  // sentinel, not JSON (§2.2)
        // Nearly every chunk is text, a finish_reason or usage: read without a DOM.
        if (event.type != "error") {
            if (const auto chunk = OpenAiChunkReader::for_this_thread().read(event.data)) return apply(*chunk, sink);
        }
        const json chunk = json::parse(event.data, nullptr, false);
        if (chunk.is_discarded() || !chunk.is_object()) {
            if (event.type == "error") return fail("server_error", "", printable_error_text(event.data), true);
            return malformed("upstream sent a stream chunk that is not a JSON object");
        }
        // openai-node treats a chunk with an `error` key, or an event named error, as an API error.
        if (const auto it = chunk.find("error"); it != chunk.end() && !it->is_null()) return fail_with(*it);
        if (event.type == "error") return fail_with(chunk);

        if (const auto choices = chunk.find("choices"); choices != chunk.end() && choices->is_array()) {
            for (const json& choice : *choices) {
                if (int_at(choice, "index") != 0) continue;  // we never ask for n > 1
                if (!decode_delta(member(choice, "delta"), sink)) {
                    return malformed("upstream sent a tool call index out of range");
                }
                if (const auto reason = string_at(choice, "finish_reason"); !reason.empty()) {
                    finish_reason_ = finish_reason_from(reason);
                }
            }
        }
        // With include_usage, one chunk before [DONE] carries the totals; the others say null.
        if (const auto usage = chunk.find("usage"); usage != chunk.end() && usage->is_object()) {
            usage_ = Usage{int_at(*usage, "prompt_tokens"), int_at(*usage, "completion_tokens"),
                           int_at(*usage, "total_tokens")};
        }
        return DecodeStatus::more;
    }

    DecodeStatus on_end_of_stream(StreamSink& sink) override {
        // Some compatible servers close without [DONE]; a finish_reason means the answer is whole.
        if (finish_reason_ != FinishReason::none) return finish(sink);
        return fail("server_error", "upstream_truncated", "upstream stream ended before the response was complete",
                    /*transient=*/true);
    }

    const UpstreamError& error() const override { return error_; }
    bool saw_content() const override { return saw_content_; }

private:
    DecodeStatus apply(const OpenAiChunkReader::Chunk& chunk, StreamSink& sink) {
        for (std::size_t i = 0; i < chunk.text_count; ++i) {
            saw_content_ = true;
            sink.on_text_delta(chunk.texts[i]);
        }
        if (!chunk.finish_reason.empty()) finish_reason_ = finish_reason_from(chunk.finish_reason);
        if (chunk.usage) usage_ = chunk.usage;
        return DecodeStatus::more;
    }

    // False when a tool call index is out of range (kMaxToolCalls).
    bool decode_delta(const json& delta, StreamSink& sink) {
        // A refusal is text the user should read, so it streams like content.
        for (const char* key : {"content", "refusal"}) {
            if (const auto text = string_at(delta, key); !text.empty()) {
                saw_content_ = true;
                sink.on_text_delta(text);
            }
        }
        const json& calls = member(delta, "tool_calls");
        if (!calls.is_array()) return true;
        std::int64_t position = 0;
        for (const json& call : calls) {
            // Some compatible servers omit the index; the position in the array stands in.
            const std::int64_t index = member(call, "index").is_number_integer() ? int_at(call, "index") : position;
            if (index < 0 || index >= kMaxToolCalls) return false;
            const json& function = member(call, "function");
            saw_content_ = true;
            sink.on_tool_call_delta(static_cast<int>(index), string_at(call, "id"), string_at(function, "name"),
                                    string_at(function, "arguments"));
            ++position;
        }
        return true;
    }

    DecodeStatus finish(StreamSink& sink) {
        if (usage_) sink.on_usage(*usage_);
        sink.on_finish(finish_reason_);
        return DecodeStatus::done;
    }

    DecodeStatus fail_with(const json& error) {
        if (error.is_string()) {
            return fail("server_error", "", printable_error_text(error.get_ref<const std::string&>(), kMaxErrorMessageBytes),
                        true);
        }
        std::string type(string_at(error, "type"));
        if (type.empty()) type = "server_error";
        std::string message = printable_error_text(string_at(error, "message"), kMaxErrorMessageBytes);
        if (message.empty()) message = "upstream reported an error in the stream";
        const bool transient = transient_error_type(type);
        return fail(std::move(type), code_at(error, "code"), std::move(message), transient);
    }

    DecodeStatus malformed(std::string message) {
        return fail("server_error", "upstream_malformed", std::move(message), /*transient=*/false);
    }

    DecodeStatus fail(std::string type, std::string code, std::string message, bool transient) {
        return stream_failure(error_, saw_content_, std::move(type), std::move(code), std::move(message), transient);
    }

    FinishReason finish_reason_ = FinishReason::none;
    std::optional<Usage> usage_;
    UpstreamError error_;
    bool saw_content_ = false;
};

}  // namespace

HttpRequestSpec OpenAiCodec::build_request(const ChatRequest& request, const ProviderConfig& config) const {
    HttpRequestSpec spec;
    spec.url = without_trailing_slash(config.base_url) + "/chat/completions";
    if (!config.api_key.empty()) spec.headers.push_back("Authorization: Bearer " + config.api_key);
    spec.headers.emplace_back("Content-Type: application/json");
    spec.headers.emplace_back("Accept: text/event-stream");
    for (const auto& [name, value] : config.headers) spec.headers.push_back(name + ": " + value);

    json messages = json::array();
    if (!request.instructions.empty()) messages.push_back({{"role", "system"}, {"content", request.instructions}});
    for (const ChatMessage& message : request.messages) messages.push_back(message_json(message));

    json body = {
        {"model", request.model.empty() ? config.model : request.model},
        {"messages", std::move(messages)},
        {"stream", true},
        {"stream_options", {{"include_usage", true}}},
    };
    if (request.max_output_tokens) body["max_completion_tokens"] = *request.max_output_tokens;
    if (request.temperature) body["temperature"] = *request.temperature;
    if (json tools = tools_json(request.tools); !tools.empty()) {
        body["tools"] = std::move(tools);
        // OpenAI rejects tool_choice without tools, so it travels only with them.
        if (!request.tool_choice.is_null()) body["tool_choice"] = tool_choice_json(request.tool_choice);
    }
    spec.body = dump(body);
    return spec;
}

std::unique_ptr<StreamDecoder> OpenAiCodec::make_decoder() const {
    return std::make_unique<OpenAiStreamDecoder>();
}

UpstreamError OpenAiCodec::classify_error(int http_status, std::string_view body, std::string_view retry_after_header,
                                          std::string_view retry_after_ms_header) const {
    UpstreamError error;
    error.http_status = http_status;
    const json doc = json::parse(body, nullptr, false);
    if (doc.is_object()) {
        // OpenAI nests {"error":{...}}; vLLM-style servers put the fields at the top level.
        const auto nested = doc.find("error");
        const json& fields = nested != doc.end() && nested->is_object() ? *nested : doc;
        error.type = string_at(fields, "type");
        error.code = code_at(fields, "code");
        std::string_view message = string_at(fields, "message");
        if (message.empty() && nested != doc.end() && nested->is_string()) message = nested->get_ref<const std::string&>();
        error.message = printable_error_text(message, kMaxErrorMessageBytes);
    }
    if (error.message.empty()) {
        error.message = body.empty() ? "upstream returned HTTP " + std::to_string(http_status) : printable_error_text(body);
    }
    if (error.type.empty()) error.type = default_error_type(http_status);
    // A 429 for an exhausted quota will not clear by waiting (§2.3).
    const bool quota_exhausted = error.code == "insufficient_quota" || error.type == "insufficient_quota";
    error.retryable = is_retryable_status(http_status) && !quota_exhausted;
    if (error.retryable) error.retry_after = parse_retry_after(retry_after_header, retry_after_ms_header);
    return error;
}

std::unique_ptr<ProviderCodec> make_openai_codec() {
    return std::make_unique<OpenAiCodec>();
}

// OpenAI-compatible servers (OpenAI, vLLM, llama.cpp, Ollama, ...) need only the keys every
// HTTP kind shares.
const ProviderKind openai_kind{"openai", {},
                               [](config::JsonSection&, ProviderConfig& provider) { provider.options = OpenAiOptions{}; },
                               make_openai_codec, nullptr};

}  // namespace voxgate::upstream
