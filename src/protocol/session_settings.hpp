#pragma once
// The session object (docs/wire-protocols.md 1.4): what a session is configured with, how a
// `session.update` changes it, and its GA encoding for session.created/updated.
//
// Field decisions (voxgate answers in text; it hears audio):
// - output_modalities (beta: modalities): ["text"] (the default) or ["audio"] (speech made
//   by the gateway's text_to_speech, with its transcript); the beta's ["text","audio"] is
//   ["audio"]. A gateway with text_to_speech.kind none refuses audio (the session checks).
// - audio.input.format (beta: input_audio_format): the format of input_audio_buffer.append;
//   audio.input.turn_detection (beta: turn_detection): null = manual commits, else
//   server_vad (checked here, used by the session's AudioInput; unset = server_vad).
// - audio.output.{format,voice} (beta: output_audio_format, voice): the format of
//   response.output_audio.delta and the voice asked of text_to_speech.
// - audio.input.{noise_reduction,transcription} and audio.output.speed (beta:
//   input_audio_transcription, input_audio_noise_reduction): accepted, stored and echoed
//   back under their GA names, and inert (transcription always runs with the gateway's
//   speech_to_text). SDKs send these by default; refusing them would
//   break clients for no gain.
// - model: may change; the next response is routed by the new name (routes in config).
// - type: optional (beta clients omit it); "realtime" only, "transcription" is refused.
// - other GA fields (tracing, truncation, include, prompt, parallel_tool_calls, ...) are
//   ignored, as docs/wire-protocols.md advises for fields a server does not know.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audio/audio_format.hpp"
#include "audio/voice_activity_detector.hpp"
#include "protocol/json_fields.hpp"
#include "protocol/json_text.hpp"
#include "protocol/protocol_error.hpp"
#include "voxgate/config.hpp"

namespace voxgate::protocol {

// max_output_tokens: a positive integer, or "inf" (no limit).
struct TokenLimit {
    std::optional<int> tokens;  // nullopt = "inf"
    friend bool operator==(const TokenLimit&, const TokenLimit&) = default;
};

// What a response produces: text deltas, or speech with its transcript.
enum class OutputModality : std::uint8_t { text, audio };

struct SessionSettings {
    std::string instructions;
    OutputModality output = OutputModality::text;
    Json tools = Json::array();  // normalized: [{"type":"function","name",("description"),("parameters")}]
    Json tool_choice = "auto";   // "auto" | "none" | "required" | {"type":"function","name":...}
    std::optional<double> temperature;
    TokenLimit max_output_tokens;
    Json audio;  // null, or {"input":{...},"output":{...}} as the client set it (inert, echoed)

    static SessionSettings from_config(const SessionsConfig& config);
};

// The fields one session.update carries; absent fields leave the setting unchanged.
struct SessionPatch {
    std::optional<std::string> model;
    std::optional<std::string> instructions;  // "" clears
    std::optional<OutputModality> output;
    std::optional<Json> tools;                // [] clears
    std::optional<Json> tool_choice;
    std::optional<std::optional<double>> temperature;  // engaged-and-empty = cleared (null)
    std::optional<TokenLimit> max_output_tokens;
    Json audio = Json::object();  // {"input":{key:value},"output":{key:value}} to merge
};

std::optional<SessionPatch> decode_session_patch(const Json& session, std::optional<ProtocolError>& error);
void apply_patch(SessionSettings& settings, const SessionPatch& patch);  // patch.model is the caller's

// audio.input.turn_detection as the session uses it (docs/wire-protocols.md 1.5).
struct TurnDetection {
    audio::VadSettings vad;
    bool create_response = true;     // a detected turn starts a response
    bool interrupt_response = true;  // speech over an answer cancels it (barge-in)
};
// The input format: audio/pcm 24 kHz until the client sets another.
audio::AudioFormat input_audio_format(const SessionSettings& settings);
// The output format: audio/pcm 24 kHz until the client sets another.
audio::AudioFormat output_audio_format(const SessionSettings& settings);
// audio.output.voice when it is a name; "" = the text_to_speech's default voice.
std::string output_voice(const SessionSettings& settings);
OrderedJson output_modalities_json(OutputModality output);
// nullopt: turn_detection null, the client commits by hand. Unset: server_vad with its
// defaults, as OpenAI's sessions start.
std::optional<TurnDetection> turn_detection(const SessionSettings& settings);

// What the settings cost in a conversation's byte budget (instructions, tools, tool_choice,
// audio as stored). Linear in their size: call it when they change, not per event.
std::size_t stored_bytes(const SessionSettings& settings);

OrderedJson session_json(std::string_view session_id, std::string_view model, const SessionSettings& settings);
// "inf" or the number, as max_output_tokens is written on the wire.
OrderedJson token_limit_json(const TokenLimit& limit);

// Field readers shared by session.update and response.create. Each returns nullopt when
// the field is absent or invalid (then the Fields carry the error).
std::optional<Json> read_tools(Fields& fields, std::string_view key);
std::optional<Json> read_tool_choice(Fields& fields, std::string_view key);
std::optional<TokenLimit> read_token_limit(Fields& fields, std::string_view key);
std::optional<std::optional<double>> read_temperature(Fields& fields, std::string_view key);
std::optional<OutputModality> read_output_modalities(Fields& fields, std::string_view key);
// An instructions field may be "" (clears); only a wrong type is an error.
std::optional<std::string> read_instructions(Fields& fields, std::string_view key);

inline constexpr std::size_t max_tools = 128;
inline constexpr std::size_t max_model_name_length = 256;
inline constexpr int max_output_tokens_limit = 1'000'000;

}  // namespace voxgate::protocol
