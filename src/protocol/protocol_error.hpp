#pragma once
// The error a client event can cause (docs/wire-protocols.md 1.8). It is sent back as an `error`
// server event and the connection stays up, unless the client is abusive.
#include <string>
#include <string_view>

namespace voxgate::protocol {

// Stable machine codes for `error.code`. Clients switch on them: never rename one.
namespace codes {
// malformed input
inline constexpr std::string_view invalid_json = "invalid_json";            // not JSON, or nested too deep
inline constexpr std::string_view invalid_event = "invalid_event";          // JSON, but not an object
inline constexpr std::string_view binary_not_supported = "binary_not_supported";  // binary WebSocket frame
inline constexpr std::string_view missing_required_parameter = "missing_required_parameter";
inline constexpr std::string_view invalid_type = "invalid_type";    // a field has the wrong JSON type
inline constexpr std::string_view invalid_value = "invalid_value";  // right type, unacceptable value
inline constexpr std::string_view unknown_event_type = "unknown_event_type";  // not a Realtime client event
// valid Realtime, but not something voxgate does (yet)
inline constexpr std::string_view unsupported_event = "unsupported_event";  // e.g. output_audio_buffer.clear
inline constexpr std::string_view unsupported_modality = "unsupported_modality";  // output_modalities other than ["text"]
inline constexpr std::string_view unsupported_content_type = "unsupported_content_type";  // input_audio, input_image, ...
inline constexpr std::string_view unsupported_item_type = "unsupported_item_type";  // e.g. mcp_call
inline constexpr std::string_view unsupported_tool_type = "unsupported_tool_type";  // tools other than "function"
inline constexpr std::string_view unsupported_session_type = "unsupported_session_type";  // session.type "transcription"
// input audio (input_audio_buffer.*)
inline constexpr std::string_view invalid_audio = "invalid_audio";  // not base64, or not whole samples of the format
inline constexpr std::string_view input_audio_buffer_full = "input_audio_buffer_full";  // limits.max_input_audio_seconds
// OpenAI's code for a commit of an empty buffer or of less than 100 ms of audio
inline constexpr std::string_view input_audio_buffer_commit_empty = "input_audio_buffer_commit_empty";
// conversation state
inline constexpr std::string_view item_not_found = "item_not_found";
inline constexpr std::string_view duplicate_item_id = "duplicate_item_id";
inline constexpr std::string_view item_in_progress = "item_in_progress";  // the item is still being streamed
inline constexpr std::string_view conversation_already_has_active_response = "conversation_already_has_active_response";
inline constexpr std::string_view response_cancel_not_active = "response_cancel_not_active";
inline constexpr std::string_view session_not_found = "session_not_found";  // resume of an unknown/expired id
inline constexpr std::string_view session_taken_over = "session_taken_over";  // another connection resumed it
// the item or settings alone exceed limits.max_conversation_bytes
inline constexpr std::string_view conversation_too_large = "conversation_too_large";
// the server is draining (SIGTERM): no new responses
inline constexpr std::string_view server_shutting_down = "server_shutting_down";
// abuse and authorization
inline constexpr std::string_view rate_limit_exceeded = "rate_limit_exceeded";  // also per-key limits
inline constexpr std::string_view model_not_allowed = "model_not_allowed";  // the client key may not use the model
// upstream, when the provider layer gives no code of its own
inline constexpr std::string_view upstream_error = "upstream_error";
}  // namespace codes

struct ProtocolError {
    std::string type = "invalid_request_error";  // or "server_error", or the provider's error class
    std::string code;
    std::string message;   // human text naming the field
    std::string param;     // the offending field as a dotted path ("item.content[0].text"); "" = null
    std::string event_id;  // the client event that caused it; "" = null
};

inline ProtocolError invalid_request(std::string_view code, std::string message, std::string param = {}) {
    ProtocolError error;
    error.code = code;
    error.message = std::move(message);
    error.param = std::move(param);
    return error;
}

}  // namespace voxgate::protocol
