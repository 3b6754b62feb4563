#include "upstream/providers/anthropic.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <nlohmann/json.hpp>

#include "config/json_section.hpp"
#include "upstream/provider_kinds.hpp"

namespace voxgate::upstream {
namespace {

using nlohmann::json;
using codec_json::dump;
using codec_json::int_at;
using codec_json::member;
using codec_json::string_at;

std::string messages_url(std::string_view base_url) {
    while (!base_url.empty() && base_url.back() == '/') base_url.remove_suffix(1);
    const bool has_version = base_url.size() >= 3 && base_url.substr(base_url.size() - 3) == "/v1";
    return std::string(base_url) + (has_version ? "/messages" : "/v1/messages");
}

// Messages must alternate user/assistant (§3.1), and our history does not: a tool result
// is a user turn, and two user messages may follow each other. Consecutive blocks of the
// same role therefore go into one turn.
class TurnBuilder {
public:
    void add(std::string_view role, json block) {
        if (turns_.empty() || turns_.back().first != role) turns_.emplace_back(std::string(role), json::array());
        turns_.back().second.push_back(std::move(block));
    }

    json to_json() && {
        drop_leading_non_user_turns();
        json messages = json::array();
        for (auto& [role, blocks] : turns_) {
            // A turn of one text block reads best (and is smallest) as a plain string.
            const bool single_text = blocks.size() == 1 && string_at(blocks[0], "type") == "text";
            json content = single_text ? blocks[0]["text"] : std::move(blocks);
            messages.push_back({{"role", role}, {"content", std::move(content)}});
        }
        return messages;
    }

private:
    // The Messages API requires the first message to be a user turn, but a history trimmed
    // to sessions.max_history_chars may start with the assistant. Leading assistant turns
    // go, and so do tool results at the start, whose tool_use went with them (the API
    // refuses a tool_result without its call).
    void drop_leading_non_user_turns() {
        std::size_t first = 0;
        while (first < turns_.size()) {
            auto& [role, blocks] = turns_[first];
            if (role == "user") {
                auto is_tool_result = [](const json& block) { return string_at(block, "type") == "tool_result"; };
                blocks.erase(std::remove_if(blocks.begin(), blocks.end(), is_tool_result), blocks.end());
                if (!blocks.empty()) break;
            }
            ++first;
        }
        turns_.erase(turns_.begin(), turns_.begin() + static_cast<std::ptrdiff_t>(first));
    }

    std::vector<std::pair<std::string, json>> turns_;
};

// Tool arguments are JSON text in our history but an object in Anthropic's tool_use block.
json arguments_object(const std::string& arguments) {
    json input = json::parse(arguments, nullptr, false);
    return input.is_object() ? input : json::object();
}

json tools_json(const json& realtime_tools) {
    json tools = json::array();
    if (!realtime_tools.is_array()) return tools;
    for (const json& tool : realtime_tools) {
        if (!tool.is_object() || tool.value("type", "function") != "function") continue;
        json converted = {{"name", string_at(tool, "name")}};
        if (tool.contains("description")) converted["description"] = tool["description"];
        // input_schema is required; a tool without parameters takes an empty object.
        const json& parameters = member(tool, "parameters");
        converted["input_schema"] = parameters.is_object() ? parameters : json{{"type", "object"}};
        tools.push_back(std::move(converted));
    }
    return tools;
}

// Realtime tool_choice -> Anthropic's; null when there is no equivalent.
json tool_choice_json(const json& choice) {
    if (choice.is_string()) {
        const auto& mode = choice.get_ref<const std::string&>();
        if (mode == "auto") return {{"type", "auto"}};
        if (mode == "required") return {{"type", "any"}};
        if (mode == "none") return {{"type", "none"}};
        return nullptr;
    }
    if (string_at(choice, "type") == "function") return {{"type", "tool"}, {"name", string_at(choice, "name")}};
    return nullptr;
}

FinishReason finish_reason_from(std::string_view stop_reason) {
    if (stop_reason == "end_turn" || stop_reason == "stop_sequence") return FinishReason::stop;
    if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") return FinishReason::length;
    if (stop_reason == "tool_use") return FinishReason::tool_calls;
    if (stop_reason == "refusal") return FinishReason::content_filter;
    return FinishReason::other;  // pause_turn and anything newer
}

// §3.3: the error type Anthropic uses for each status, for bodies that do not say.
std::string default_error_type(int http_status) {
    switch (http_status) {
        case 401: return "authentication_error";
        case 402: return "billing_error";
        case 403: return "permission_error";
        case 404: return "not_found_error";
        case 413: return "request_too_large";
        case 429: return "rate_limit_error";
        case 504: return "timeout_error";
        case 529: return "overloaded_error";
        default: return http_status >= 500 ? "api_error" : "invalid_request_error";
    }
}

bool transient_error_type(std::string_view type) {
    return type == "overloaded_error" || type == "api_error" || type == "rate_limit_error" ||
           type == "timeout_error";
}

// Anthropic reports input tokens split by cache use; the sum is what OpenAI calls prompt_tokens.
std::int64_t input_tokens_of(const json& usage) {
    return int_at(usage, "input_tokens") + int_at(usage, "cache_creation_input_tokens") +
           int_at(usage, "cache_read_input_tokens");
}

class AnthropicStreamDecoder final : public StreamDecoder {
public:
    DecodeStatus on_event(const SseEvent& event, StreamSink& sink) override {
        if (event.type == "ping") return DecodeStatus::more;
        const json payload = json::parse(event.data, nullptr, false);
        if (payload.is_discarded() || !payload.is_object()) {
            if (event.type == "error") return fail("api_error", "", printable_error_text(event.data), /*transient=*/true);
            return malformed("upstream sent a stream event that is not a JSON object");
        }
        // The event name equals the payload's type (§3.2); a proxy that drops `event:`
        // lines leaves only the latter.
        const std::string_view name = event.type == "message" ? string_at(payload, "type") : event.type;

        if (name == "message_start") {
            const json& usage = member(member(payload, "message"), "usage");
            input_tokens_ = input_tokens_of(usage);
            output_tokens_ = int_at(usage, "output_tokens");
        } else if (name == "content_block_start") {
            if (!start_block(payload, sink)) return malformed("upstream opened more tool calls than allowed");
        } else if (name == "content_block_delta") {
            decode_delta(payload, sink);
        } else if (name == "message_delta") {
            if (const auto reason = string_at(member(payload, "delta"), "stop_reason"); !reason.empty()) {
                finish_reason_ = finish_reason_from(reason);
            }
            // Usage in message_delta is cumulative: the last value wins, never a sum.
            const json& usage = member(payload, "usage");
            if (member(usage, "output_tokens").is_number_integer()) output_tokens_ = int_at(usage, "output_tokens");
            if (member(usage, "input_tokens").is_number_integer()) input_tokens_ = input_tokens_of(usage);
        } else if (name == "message_stop") {
            sink.on_usage(Usage{input_tokens_, output_tokens_, input_tokens_ + output_tokens_});
            sink.on_finish(finish_reason_);
            return DecodeStatus::done;
        } else if (name == "error") {
            const json& error = member(payload, "error");
            std::string type(string_at(error, "type"));
            if (type.empty()) type = "api_error";
            std::string message = printable_error_text(string_at(error, "message"), kMaxErrorMessageBytes);
            if (message.empty()) message = "upstream reported an error in the stream";
            const bool transient = transient_error_type(type);
            return fail(std::move(type), "", std::move(message), transient);
        }
        // content_block_stop, ping and event types newer than this code need nothing.
        return DecodeStatus::more;
    }

    DecodeStatus on_end_of_stream(StreamSink&) override {
        return fail("api_error", "upstream_truncated", "upstream stream ended before message_stop", /*transient=*/true);
    }

    const UpstreamError& error() const override { return error_; }
    bool saw_content() const override { return saw_content_; }

private:
    // False when the stream opens more than kMaxToolCalls tool_use blocks.
    bool start_block(const json& payload, StreamSink& sink) {
        const json& block = member(payload, "content_block");
        const std::string_view type = string_at(block, "type");
        if (type == "text") {
            emit_text(string_at(block, "text"), sink);
        } else if (type == "tool_use") {
            // Tool calls are numbered among tool_use blocks only, the way OpenAI numbers them.
            const int ordinal = static_cast<int>(tool_blocks_.size());
            if (ordinal >= kMaxToolCalls) return false;
            tool_blocks_.emplace_back(int_at(payload, "index"), ordinal);
            saw_content_ = true;
            sink.on_tool_call_delta(ordinal, string_at(block, "id"), string_at(block, "name"), "");
            // The input normally streams as input_json_delta; a non-empty one here is the whole of it.
            if (const json& input = member(block, "input"); input.is_object() && !input.empty()) {
                const std::string arguments = dump(input);
                sink.on_tool_call_delta(ordinal, "", "", arguments);
            }
        }
        // thinking and server-tool blocks are not part of the spoken answer.
        return true;
    }

    void decode_delta(const json& payload, StreamSink& sink) {
        const json& delta = member(payload, "delta");
        const std::string_view type = string_at(delta, "type");
        if (type == "text_delta") {
            emit_text(string_at(delta, "text"), sink);
        } else if (type == "input_json_delta") {
            const std::int64_t block_index = int_at(payload, "index");
            for (const auto& [index, ordinal] : tool_blocks_) {
                if (index != block_index) continue;
                if (const auto fragment = string_at(delta, "partial_json"); !fragment.empty()) {
                    sink.on_tool_call_delta(ordinal, "", "", fragment);
                }
                break;
            }
        }
    }

    void emit_text(std::string_view text, StreamSink& sink) {
        if (text.empty()) return;
        saw_content_ = true;
        sink.on_text_delta(text);
    }

    DecodeStatus malformed(std::string message) {
        return fail("api_error", "upstream_malformed", std::move(message), /*transient=*/false);
    }

    // transient: a passing condition such as overloaded_error (HTTP 529); the caller decides.
    DecodeStatus fail(std::string type, std::string code, std::string message, bool transient) {
        return stream_failure(error_, saw_content_, std::move(type), std::move(code), std::move(message), transient);
    }

    std::int64_t input_tokens_ = 0;
    std::int64_t output_tokens_ = 0;
    FinishReason finish_reason_ = FinishReason::none;
    // (content block index, tool call ordinal) of each tool_use block: at most kMaxToolCalls,
    // whatever block indices the stream claims.
    std::vector<std::pair<std::int64_t, int>> tool_blocks_;
    UpstreamError error_;
    bool saw_content_ = false;
};

}  // namespace

HttpRequestSpec AnthropicCodec::build_request(const ChatRequest& request, const ProviderConfig& config) const {
    HttpRequestSpec spec;
    spec.url = messages_url(config.base_url);
    if (!config.api_key.empty()) spec.headers.push_back("x-api-key: " + config.api_key);
    const AnthropicOptions& options = config.options_or_defaults<AnthropicOptions>();
    spec.headers.push_back("anthropic-version: " + options.version);
    spec.headers.emplace_back("content-type: application/json");
    spec.headers.emplace_back("accept: text/event-stream");
    for (const auto& [name, value] : config.headers) spec.headers.push_back(name + ": " + value);

    // Anthropic has no system role in messages: system turns join the system prompt.
    std::string system = request.instructions;
    TurnBuilder turns;
    for (const ChatMessage& message : request.messages) {
        switch (message.role) {
            case Role::system:
                if (message.text.empty()) break;
                if (!system.empty()) system += "\n\n";
                system += message.text;
                break;
            case Role::user:
                // Empty text blocks are rejected by the API.
                if (!message.text.empty()) turns.add("user", {{"type", "text"}, {"text", message.text}});
                break;
            case Role::assistant:
                if (!message.text.empty()) turns.add("assistant", {{"type", "text"}, {"text", message.text}});
                for (const ToolCall& call : message.tool_calls) {
                    turns.add("assistant", {{"type", "tool_use"},
                                            {"id", call.call_id},
                                            {"name", call.name},
                                            {"input", arguments_object(call.arguments)}});
                }
                break;
            case Role::tool: {
                json result = {{"type", "tool_result"}, {"tool_use_id", message.tool_call_id}};
                if (!message.text.empty()) result["content"] = message.text;
                turns.add("user", std::move(result));
                break;
            }
        }
    }

    json body = {
        {"model", request.model.empty() ? config.model : request.model},
        {"max_tokens", request.max_output_tokens.value_or(options.default_max_tokens)},
        {"messages", std::move(turns).to_json()},
        {"stream", true},
    };
    if (!system.empty()) body["system"] = std::move(system);
    if (request.temperature) body["temperature"] = *request.temperature;
    if (json tools = tools_json(request.tools); !tools.empty()) {
        body["tools"] = std::move(tools);
        if (json choice = tool_choice_json(request.tool_choice); !choice.is_null()) body["tool_choice"] = std::move(choice);
    }
    spec.body = dump(body);
    return spec;
}

std::unique_ptr<StreamDecoder> AnthropicCodec::make_decoder() const {
    return std::make_unique<AnthropicStreamDecoder>();
}

UpstreamError AnthropicCodec::classify_error(int http_status, std::string_view body,
                                             std::string_view retry_after_header,
                                             std::string_view retry_after_ms_header) const {
    UpstreamError error;
    error.http_status = http_status;
    // {"type":"error","error":{"type":"...","message":"..."},"request_id":"req_..."}
    const json doc = json::parse(body, nullptr, false);
    const json& fields = member(doc, "error");
    error.type = string_at(fields, "type");
    error.message = printable_error_text(string_at(fields, "message"), kMaxErrorMessageBytes);
    if (error.message.empty()) {
        error.message = body.empty() ? "upstream returned HTTP " + std::to_string(http_status) : printable_error_text(body);
    }
    if (error.type.empty()) error.type = default_error_type(http_status);
    error.retryable = is_retryable_status(http_status);
    if (error.retryable) error.retry_after = parse_retry_after(retry_after_header, retry_after_ms_header);
    return error;
}

std::unique_ptr<ProviderCodec> make_anthropic_codec() {
    return std::make_unique<AnthropicCodec>();
}

namespace {

constexpr std::array<std::string_view, 2> anthropic_keys{"anthropic_version", "default_max_tokens"};

void read_anthropic_options(config::JsonSection& section, ProviderConfig& provider) {
    AnthropicOptions options;
    section.read_non_empty_string("anthropic_version", options.version);
    section.read_integer("default_max_tokens", options.default_max_tokens, config::int_at_least(1));
    provider.options = std::move(options);
}

}  // namespace

const ProviderKind anthropic_kind{"anthropic", anthropic_keys, read_anthropic_options, make_anthropic_codec, nullptr};

}  // namespace voxgate::upstream
