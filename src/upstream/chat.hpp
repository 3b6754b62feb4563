#pragma once
// Provider-neutral vocabulary between the session layer and the upstream layer:
// what a provider is asked (ChatRequest) and what comes back while it streams.
// Provider codecs translate these to and from each provider's wire format.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace voxgate::upstream {

enum class Role : std::uint8_t { system, user, assistant, tool };

struct ToolCall {
    std::string call_id;
    std::string name;
    std::string arguments;  // JSON text, as the model produced it
};

struct ChatMessage {
    Role role = Role::user;
    std::string text;                  // system/user/assistant text, or the tool result for Role::tool
    std::vector<ToolCall> tool_calls;  // assistant turns that called tools
    std::string tool_call_id;          // Role::tool: which call this answers
};

struct ChatRequest {
    std::string model;                  // upstream model name (already routed)
    std::string instructions;           // system prompt; empty = none
    std::vector<ChatMessage> messages;  // history, oldest first
    // Realtime-format tools: [{"type":"function","name","description","parameters"}]
    nlohmann::json tools = nlohmann::json::array();
    // Realtime-format tool_choice: "auto" | "none" | "required" | {"type":"function","name":...};
    // null = provider default.
    nlohmann::json tool_choice;
    std::optional<int> max_output_tokens;
    std::optional<double> temperature;
};

struct Usage {
    std::int64_t input_tokens = 0;
    std::int64_t output_tokens = 0;
    std::int64_t total_tokens = 0;
};

// Why the model stopped, mapped from finish_reason / stop_reason.
enum class FinishReason : std::uint8_t { none, stop, length, tool_calls, content_filter, other };

// Receives a decoded stream. Views are valid only during the call.
class StreamSink {
public:
    virtual ~StreamSink() = default;
    virtual void on_text_delta(std::string_view text) = 0;
    // One fragment of a tool call; call_id and name are empty on fragments after the first.
    virtual void on_tool_call_delta(int index, std::string_view call_id, std::string_view name,
                                    std::string_view arguments_fragment) = 0;
    virtual void on_usage(const Usage& usage) = 0;
    virtual void on_finish(FinishReason reason) = 0;
};

}  // namespace voxgate::upstream
