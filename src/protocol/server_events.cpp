#include "protocol/server_events.hpp"

#include "audio/base64.hpp"

#include "protocol/ids.hpp"

namespace voxgate::protocol {
namespace {

OrderedJson event(std::string_view type) {
    OrderedJson out;
    out["type"] = type;
    out["event_id"] = new_event_id();
    return out;
}

OrderedJson empty_as_null(std::string_view text) {
    if (text.empty()) return nullptr;
    return text;
}

OrderedJson nullable(std::optional<std::string_view> text) {
    if (!text) return nullptr;
    return *text;
}

std::string item_event(std::string_view type, const Item& item, std::optional<std::string_view> previous_item_id) {
    auto out = event(type);
    out["item"] = item_json(item);
    out["previous_item_id"] = nullable(previous_item_id);
    return to_text(out);
}

// The error object of `error` and of a failed transcription (docs/wire-protocols.md 1.8).
OrderedJson error_json(const ProtocolError& error) {
    return {{"type", error.type},
            {"code", empty_as_null(error.code)},
            {"message", error.message},
            {"param", empty_as_null(error.param)},
            {"event_id", empty_as_null(error.event_id)}};
}

void put_ref(OrderedJson& out, const OutputRef& ref) {
    out["response_id"] = ref.response_id;
    out["item_id"] = ref.item_id;
    out["output_index"] = ref.output_index;
}

// An audio part carries its transcript; the GA part type stays "audio" (only item content
// types were renamed, docs/wire-protocols.md 1.9).
std::string content_part_event(std::string_view type, const OutputRef& ref, std::size_t content_index,
                               std::string_view text, PartKind kind) {
    auto out = event(type);
    put_ref(out, ref);
    out["content_index"] = content_index;
    if (kind == PartKind::audio) out["part"] = {{"type", "audio"}, {"transcript", text}};
    else out["part"] = {{"type", "text"}, {"text", text}};
    return to_text(out);
}

std::string output_item_event(std::string_view type, std::string_view response_id, std::size_t output_index,
                              const Item& item) {
    auto out = event(type);
    out["response_id"] = response_id;
    out["output_index"] = output_index;
    out["item"] = item_json(item);
    return to_text(out);
}

}  // namespace

std::string input_audio_buffer_committed(std::optional<std::string_view> previous_item_id, std::string_view item_id) {
    auto out = event("input_audio_buffer.committed");
    out["previous_item_id"] = nullable(previous_item_id);
    out["item_id"] = item_id;
    return to_text(out);
}

std::string input_audio_buffer_cleared() { return to_text(event("input_audio_buffer.cleared")); }

std::string input_audio_buffer_speech_started(std::int64_t audio_start_ms, std::string_view item_id) {
    auto out = event("input_audio_buffer.speech_started");
    out["audio_start_ms"] = audio_start_ms;
    out["item_id"] = item_id;
    return to_text(out);
}

std::string input_audio_buffer_speech_stopped(std::int64_t audio_end_ms, std::string_view item_id) {
    auto out = event("input_audio_buffer.speech_stopped");
    out["audio_end_ms"] = audio_end_ms;
    out["item_id"] = item_id;
    return to_text(out);
}

std::string input_audio_transcription_completed(std::string_view item_id, std::size_t content_index,
                                                std::string_view transcript) {
    auto out = event("conversation.item.input_audio_transcription.completed");
    out["item_id"] = item_id;
    out["content_index"] = content_index;
    out["transcript"] = transcript;
    return to_text(out);
}

std::string input_audio_transcription_failed(std::string_view item_id, std::size_t content_index,
                                             const ProtocolError& error) {
    auto out = event("conversation.item.input_audio_transcription.failed");
    out["item_id"] = item_id;
    out["content_index"] = content_index;
    out["error"] = error_json(error);
    return to_text(out);
}

std::string error_event(const ProtocolError& error) {
    auto out = event("error");
    out["error"] = error_json(error);
    return to_text(out);
}

std::string rate_limits_updated(std::span<const RateLimit> limits) {
    auto out = event("rate_limits.updated");
    auto list = OrderedJson::array();
    for (const auto& limit : limits)
        list.push_back({{"name", limit.name},
                        {"limit", limit.limit},
                        {"remaining", limit.remaining},
                        {"reset_seconds", limit.reset_seconds}});
    out["rate_limits"] = std::move(list);
    return to_text(out);
}

std::string session_created(const OrderedJson& session) {
    auto out = event("session.created");
    out["session"] = session;
    return to_text(out);
}

std::string session_updated(const OrderedJson& session) {
    auto out = event("session.updated");
    out["session"] = session;
    return to_text(out);
}

std::string conversation_item_added(const Item& item, std::optional<std::string_view> previous_item_id) {
    return item_event("conversation.item.added", item, previous_item_id);
}

std::string conversation_item_done(const Item& item, std::optional<std::string_view> previous_item_id) {
    return item_event("conversation.item.done", item, previous_item_id);
}

std::string conversation_item_deleted(std::string_view item_id) {
    auto out = event("conversation.item.deleted");
    out["item_id"] = item_id;
    return to_text(out);
}

std::string conversation_item_retrieved(const Item& item) {
    auto out = event("conversation.item.retrieved");
    out["item"] = item_json(item);
    return to_text(out);
}

std::string conversation_item_truncated(std::string_view item_id, std::int64_t content_index,
                                        std::int64_t audio_end_ms) {
    auto out = event("conversation.item.truncated");
    out["item_id"] = item_id;
    out["content_index"] = content_index;
    out["audio_end_ms"] = audio_end_ms;
    return to_text(out);
}

std::string response_created(const OrderedJson& response) {
    auto out = event("response.created");
    out["response"] = response;
    return to_text(out);
}

std::string response_done(const OrderedJson& response) {
    auto out = event("response.done");
    out["response"] = response;
    return to_text(out);
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
    auto out = event("response.output_audio.done");
    put_ref(out, ref);
    out["content_index"] = content_index;
    return to_text(out);
}

std::string output_audio_transcript_done(const OutputRef& ref, std::size_t content_index, std::string_view transcript) {
    auto out = event("response.output_audio_transcript.done");
    put_ref(out, ref);
    out["content_index"] = content_index;
    out["transcript"] = transcript;
    return to_text(out);
}

std::string output_audio_buffer_cleared(std::string_view response_id) {
    auto out = event("output_audio_buffer.cleared");
    out["response_id"] = response_id;
    return to_text(out);
}

std::string output_text_done(const OutputRef& ref, std::size_t content_index, std::string_view text) {
    auto out = event("response.output_text.done");
    put_ref(out, ref);
    out["content_index"] = content_index;
    out["text"] = text;
    return to_text(out);
}

std::string function_call_arguments_done(const OutputRef& ref, std::string_view call_id, std::string_view name,
                                         std::string_view arguments) {
    auto out = event("response.function_call_arguments.done");
    put_ref(out, ref);
    out["call_id"] = call_id;
    out["name"] = name;
    out["arguments"] = arguments;
    return to_text(out);
}

DeltaEncoder::DeltaEncoder(std::string_view type, const OrderedJson& fixed_fields) {
    head_ = "{\"type\":\"";
    head_.append(type);
    head_.append("\",\"event_id\":\"");
    std::string fields = to_text(fixed_fields);  // {"response_id":...}
    tail_ = "\",";
    tail_.append(fields, 1, fields.size() - 2);
    tail_.append(",\"delta\":\"");
}

DeltaEncoder DeltaEncoder::output_text(const OutputRef& ref, std::size_t content_index) {
    OrderedJson fixed;
    put_ref(fixed, ref);
    fixed["content_index"] = content_index;
    return DeltaEncoder("response.output_text.delta", fixed);
}

DeltaEncoder DeltaEncoder::function_call_arguments(const OutputRef& ref, std::string_view call_id) {
    OrderedJson fixed;
    put_ref(fixed, ref);
    fixed["call_id"] = call_id;
    return DeltaEncoder("response.function_call_arguments.delta", fixed);
}

DeltaEncoder DeltaEncoder::output_audio(const OutputRef& ref, std::size_t content_index) {
    OrderedJson fixed;
    put_ref(fixed, ref);
    fixed["content_index"] = content_index;
    return DeltaEncoder("response.output_audio.delta", fixed);
}

DeltaEncoder DeltaEncoder::output_audio_transcript(const OutputRef& ref, std::size_t content_index) {
    OrderedJson fixed;
    put_ref(fixed, ref);
    fixed["content_index"] = content_index;
    return DeltaEncoder("response.output_audio_transcript.delta", fixed);
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
