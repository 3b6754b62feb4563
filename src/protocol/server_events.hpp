#pragma once
// Server events (docs/wire-protocols.md 1.7) encoded as JSON text. Every event starts with `type`
// and a fresh `event_id`; the other fields follow in the order docs/wire-protocols.md lists them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "protocol/items.hpp"
#include "protocol/json_text.hpp"
#include "protocol/json_writer.hpp"
#include "protocol/protocol_error.hpp"

namespace voxgate::protocol {

std::string error_event(const ProtocolError& error);

std::string session_created(const OrderedJson& session);
std::string session_updated(const OrderedJson& session);

// previous_item_id: the item before this one in the conversation; nullopt = first (null).
std::string conversation_item_added(const Item& item, std::optional<std::string_view> previous_item_id);
std::string conversation_item_done(const Item& item, std::optional<std::string_view> previous_item_id);
std::string conversation_item_deleted(std::string_view item_id);
std::string conversation_item_retrieved(const Item& item);
std::string conversation_item_truncated(std::string_view item_id, std::int64_t content_index, std::int64_t audio_end_ms);

// Input audio (docs/wire-protocols.md 1.5, 1.7). item_id: the user item the audio becomes.
std::string input_audio_buffer_committed(std::optional<std::string_view> previous_item_id, std::string_view item_id);
std::string input_audio_buffer_cleared();
std::string input_audio_buffer_speech_started(std::int64_t audio_start_ms, std::string_view item_id);
std::string input_audio_buffer_speech_stopped(std::int64_t audio_end_ms, std::string_view item_id);
std::string input_audio_transcription_completed(std::string_view item_id, std::size_t content_index,
                                                std::string_view transcript);
std::string input_audio_transcription_failed(std::string_view item_id, std::size_t content_index,
                                             const ProtocolError& error);

// One entry of rate_limits.updated (docs/wire-protocols.md 1.7).
struct RateLimit {
    std::string_view name;  // "requests" | "tokens"
    std::uint64_t limit = 0;
    std::uint64_t remaining = 0;
    double reset_seconds = 0;
};
std::string rate_limits_updated(std::span<const RateLimit> limits);

// Writes {"type":...,"event_id":"event_..." and leaves the object open for the event's fields.
void begin_event(JsonWriter& out, std::string_view type);

// response.created / response.done: `write_response(JsonWriter&)` writes the response object,
// which only the session layer knows how to fill.
template <class WriteResponse>
std::string response_event(std::string_view type, WriteResponse&& write_response) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, type);
    write_response(out.key("response"));
    out.end_object();
    return text;
}
template <class WriteResponse>
std::string response_created(WriteResponse&& write_response) {
    return response_event("response.created", write_response);
}
template <class WriteResponse>
std::string response_done(WriteResponse&& write_response) {
    return response_event("response.done", write_response);
}

// Where an output item sits: the ids every response.* item event repeats.
struct OutputRef {
    std::string_view response_id;
    std::string_view item_id;
    std::size_t output_index = 0;
};

std::string output_item_added(std::string_view response_id, std::size_t output_index, const Item& item);
std::string output_item_done(std::string_view response_id, std::size_t output_index, const Item& item);
// A text part {type:"text", text} or an audio part {type:"audio", transcript}.
enum class PartKind : std::uint8_t { text, audio };
std::string content_part_added(const OutputRef& ref, std::size_t content_index, std::string_view text,
                               PartKind kind = PartKind::text);
std::string content_part_done(const OutputRef& ref, std::size_t content_index, std::string_view text,
                              PartKind kind = PartKind::text);
std::string output_audio_done(const OutputRef& ref, std::size_t content_index);
std::string output_audio_transcript_done(const OutputRef& ref, std::size_t content_index, std::string_view transcript);
// output_audio_buffer.clear honoured: the response's audio stopped.
std::string output_audio_buffer_cleared(std::string_view response_id);
std::string output_text_done(const OutputRef& ref, std::size_t content_index, std::string_view text);
std::string function_call_arguments_done(const OutputRef& ref, std::string_view call_id, std::string_view name,
                                         std::string_view arguments);

// The per-token events (response.output_text.delta, response.function_call_arguments.delta)
// without a JSON DOM: the fixed fields are formatted once per output item, and each
// delta costs one string with the escaped text appended.
class DeltaEncoder {
public:
    DeltaEncoder() = default;
    static DeltaEncoder output_text(const OutputRef& ref, std::size_t content_index);
    static DeltaEncoder function_call_arguments(const OutputRef& ref, std::string_view call_id);
    static DeltaEncoder output_audio(const OutputRef& ref, std::size_t content_index);
    static DeltaEncoder output_audio_transcript(const OutputRef& ref, std::size_t content_index);

    std::string encode(std::string_view delta) const;
    // response.output_audio.delta: `bytes` in the session's output format, base64-encoded
    // straight into the frame.
    std::string encode_base64(std::span<const std::uint8_t> bytes) const;

private:
    DeltaEncoder(std::string_view type, std::string_view fixed_fields);
    std::string head_;  // {"type":"...","event_id":"
    std::string tail_;  // ",<fixed fields>,"delta":"
};

}  // namespace voxgate::protocol
