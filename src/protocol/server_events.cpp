#include "protocol/server_events.hpp"

#include "audio/base64.hpp"

#include "protocol/ids.hpp"

namespace voxgate::protocol {
namespace {

// Error text fields are null when empty (docs/wire-protocols.md 1.8).
std::optional<std::string_view> empty_as_null(std::string_view text) {
    if (text.empty()) return std::nullopt;
    return text;
}

// An event with nothing after its head.
std::string bare_event(std::string_view type) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, type);
    out.end_object();
    return text;
}

// The error object of `error` and of a failed transcription (docs/wire-protocols.md 1.8).
void write_error(JsonWriter& out, const ProtocolError& error) {
    out.begin_object()
        .field("type", error.type)
        .field("code", empty_as_null(error.code))
        .field("message", error.message)
        .field("param", empty_as_null(error.param))
        .field("event_id", empty_as_null(error.event_id))
        .end_object();
}

void write_ref(JsonWriter& out, const OutputRef& ref) {
    out.field("response_id", ref.response_id).field("item_id", ref.item_id).field("output_index", ref.output_index);
}

std::string item_event(std::string_view type, const Item& item, std::optional<std::string_view> previous_item_id) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, type);
    write_item(out.key("item"), item);
    out.field("previous_item_id", previous_item_id).end_object();
    return text;
}

// An audio part carries its transcript; the GA part type stays "audio" (only item content
// types were renamed, docs/wire-protocols.md 1.9).
std::string content_part_event(std::string_view type, const OutputRef& ref, std::size_t content_index,
                               std::string_view part_text, PartKind kind) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, type);
    write_ref(out, ref);
    out.field("content_index", content_index).key("part").begin_object();
    if (kind == PartKind::audio) out.field("type", "audio").field("transcript", part_text);
    else out.field("type", "text").field("text", part_text);
    out.end_object().end_object();
    return text;
}

std::string output_item_event(std::string_view type, std::string_view response_id, std::size_t output_index,
                              const Item& item) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, type);
    out.field("response_id", response_id).field("output_index", output_index);
    write_item(out.key("item"), item);
    out.end_object();
    return text;
}

// An event of the reference fields, content_index and one more string field.
std::string part_text_event(std::string_view type, const OutputRef& ref, std::size_t content_index,
                            std::string_view name, std::string_view value) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, type);
    write_ref(out, ref);
    out.field("content_index", content_index).field(name, value).end_object();
    return text;
}

}  // namespace

void begin_event(JsonWriter& out, std::string_view type) {
    out.begin_object().field("type", type).key("event_id").string_with(append_event_id);
}

std::string input_audio_buffer_committed(std::optional<std::string_view> previous_item_id, std::string_view item_id) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "input_audio_buffer.committed");
    out.field("previous_item_id", previous_item_id).field("item_id", item_id).end_object();
    return text;
}

std::string input_audio_buffer_cleared() { return bare_event("input_audio_buffer.cleared"); }

std::string input_audio_buffer_speech_started(std::int64_t audio_start_ms, std::string_view item_id) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "input_audio_buffer.speech_started");
    out.field("audio_start_ms", audio_start_ms).field("item_id", item_id).end_object();
    return text;
}

std::string input_audio_buffer_speech_stopped(std::int64_t audio_end_ms, std::string_view item_id) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "input_audio_buffer.speech_stopped");
    out.field("audio_end_ms", audio_end_ms).field("item_id", item_id).end_object();
    return text;
}

std::string input_audio_transcription_completed(std::string_view item_id, std::size_t content_index,
                                                std::string_view transcript) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "conversation.item.input_audio_transcription.completed");
    out.field("item_id", item_id).field("content_index", content_index).field("transcript", transcript).end_object();
    return text;
}

std::string input_audio_transcription_failed(std::string_view item_id, std::size_t content_index,
                                             const ProtocolError& error) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "conversation.item.input_audio_transcription.failed");
    out.field("item_id", item_id).field("content_index", content_index);
    write_error(out.key("error"), error);
    out.end_object();
    return text;
}

std::string error_event(const ProtocolError& error) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "error");
    write_error(out.key("error"), error);
    out.end_object();
    return text;
}

std::string rate_limits_updated(std::span<const RateLimit> limits) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "rate_limits.updated");
    out.key("rate_limits").begin_array();
    for (const auto& limit : limits) {
        out.begin_object().field("name", limit.name).field("limit", limit.limit).field("remaining", limit.remaining);
        out.key("reset_seconds").json(OrderedJson(limit.reset_seconds)).end_object();  // nlohmann's number format
    }
    out.end_array().end_object();
    return text;
}

std::string session_created(const OrderedJson& session) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "session.created");
    out.key("session").json(session).end_object();
    return text;
}

std::string session_updated(const OrderedJson& session) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "session.updated");
    out.key("session").json(session).end_object();
    return text;
}

std::string conversation_item_added(const Item& item, std::optional<std::string_view> previous_item_id) {
    return item_event("conversation.item.added", item, previous_item_id);
}

std::string conversation_item_done(const Item& item, std::optional<std::string_view> previous_item_id) {
    return item_event("conversation.item.done", item, previous_item_id);
}

std::string conversation_item_deleted(std::string_view item_id) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "conversation.item.deleted");
    out.field("item_id", item_id).end_object();
    return text;
}

std::string conversation_item_retrieved(const Item& item) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "conversation.item.retrieved");
    write_item(out.key("item"), item);
    out.end_object();
    return text;
}

std::string conversation_item_truncated(std::string_view item_id, std::int64_t content_index,
                                        std::int64_t audio_end_ms) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "conversation.item.truncated");
    out.field("item_id", item_id).field("content_index", content_index).field("audio_end_ms", audio_end_ms).end_object();
    return text;
}

std::string output_item_added(std::string_view response_id, std::size_t output_index, const Item& item) {
    return output_item_event("response.output_item.added", response_id, output_index, item);
}

std::string output_item_done(std::string_view response_id, std::size_t output_index, const Item& item) {
    return output_item_event("response.output_item.done", response_id, output_index, item);
}

std::string content_part_added(const OutputRef& ref, std::size_t content_index, std::string_view text, PartKind kind) {
    return content_part_event("response.content_part.added", ref, content_index, text, kind);
}

std::string content_part_done(const OutputRef& ref, std::size_t content_index, std::string_view text, PartKind kind) {
    return content_part_event("response.content_part.done", ref, content_index, text, kind);
}

std::string output_audio_done(const OutputRef& ref, std::size_t content_index) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "response.output_audio.done");
    write_ref(out, ref);
    out.field("content_index", content_index).end_object();
    return text;
}

std::string output_audio_transcript_done(const OutputRef& ref, std::size_t content_index, std::string_view transcript) {
    return part_text_event("response.output_audio_transcript.done", ref, content_index, "transcript", transcript);
}

std::string output_audio_buffer_cleared(std::string_view response_id) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "output_audio_buffer.cleared");
    out.field("response_id", response_id).end_object();
    return text;
}

std::string output_text_done(const OutputRef& ref, std::size_t content_index, std::string_view text) {
    return part_text_event("response.output_text.done", ref, content_index, "text", text);
}

std::string function_call_arguments_done(const OutputRef& ref, std::string_view call_id, std::string_view name,
                                         std::string_view arguments) {
    std::string text;
    JsonWriter out(text);
    begin_event(out, "response.function_call_arguments.done");
    write_ref(out, ref);
    out.field("call_id", call_id).field("name", name).field("arguments", arguments).end_object();
    return text;
}

DeltaEncoder::DeltaEncoder(std::string_view type, std::string_view fixed_fields) {
    head_ = "{\"type\":\"";
    head_.append(type);
    head_.append("\",\"event_id\":\"");
    tail_ = "\",";
    tail_.append(fixed_fields);
    tail_.append(",\"delta\":\"");
}

namespace {

// "response_id":...,"item_id":...,"output_index":N,"content_index":N: the fields a delta repeats.
std::string ref_fields(const OutputRef& ref, std::size_t content_index) {
    std::string fields;
    JsonWriter out(fields);
    write_ref(out, ref);
    out.field("content_index", content_index);
    return fields;
}

}  // namespace

DeltaEncoder DeltaEncoder::output_text(const OutputRef& ref, std::size_t content_index) {
    return DeltaEncoder("response.output_text.delta", ref_fields(ref, content_index));
}

DeltaEncoder DeltaEncoder::function_call_arguments(const OutputRef& ref, std::string_view call_id) {
    std::string fields;
    JsonWriter out(fields);
    write_ref(out, ref);
    out.field("call_id", call_id);
    return DeltaEncoder("response.function_call_arguments.delta", fields);
}

DeltaEncoder DeltaEncoder::output_audio(const OutputRef& ref, std::size_t content_index) {
    return DeltaEncoder("response.output_audio.delta", ref_fields(ref, content_index));
}

DeltaEncoder DeltaEncoder::output_audio_transcript(const OutputRef& ref, std::size_t content_index) {
    return DeltaEncoder("response.output_audio_transcript.delta", ref_fields(ref, content_index));
}

std::string DeltaEncoder::encode_base64(std::span<const std::uint8_t> bytes) const {
    std::string frame;
    frame.reserve(head_.size() + 26 + tail_.size() + (bytes.size() + 2) / 3 * 4 + 2);
    frame.append(head_);
    append_event_id(frame);
    frame.append(tail_);
    audio::base64_encode(bytes, frame);  // the base64 alphabet needs no JSON escaping
    frame.append("\"}");
    return frame;
}

std::string DeltaEncoder::encode(std::string_view delta) const {
    std::string frame;
    frame.reserve(head_.size() + 26 + tail_.size() + delta.size() + delta.size() / 8 + 2);
    frame.append(head_);
    append_event_id(frame);
    frame.append(tail_);
    append_json_escaped(frame, delta);
    frame.append("\"}");
    return frame;
}

}  // namespace voxgate::protocol
