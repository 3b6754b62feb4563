#include "session/realtime_wire.hpp"

#include <algorithm>
#include <memory>

#include "protocol/session_settings.hpp"
#include "session/conversation.hpp"

namespace voxgate::session {

namespace {

using protocol::OrderedJson;
using protocol::ResponseStatus;

// The response object as response.created (end null) and response.done carry it.
void write_response(protocol::JsonWriter& out, const protocol::ResponseStream& response, ResponseStatus status,
                    const protocol::ResponseEnd* end) {
    const protocol::ResponseInfo& info = response.info();
    out.begin_object().field("id", info.id).field("object", "realtime.response");
    out.field("conversation_id", info.conversation_id.empty() ? std::nullopt
                                                                : std::optional<std::string_view>(info.conversation_id));
    out.field("status", to_string(status)).key("status_details");
    if (end && (status == ResponseStatus::cancelled || status == ResponseStatus::incomplete ||
                status == ResponseStatus::failed)) {
        out.begin_object().field("type", to_string(status));
        if (!end->reason.empty()) out.field("reason", end->reason);
        if (status == ResponseStatus::failed) {
            out.key("error").begin_object();
            out.field("type", end->error_type.empty() ? std::string_view("server_error") : end->error_type);
            out.field("code", end->error_code.empty() ? std::nullopt : std::optional<std::string_view>(end->error_code));
            out.end_object();
        }
        out.end_object();
    } else {
        out.null();
    }
    out.key("output").begin_array();
    for (const auto& item : response.output()) protocol::write_item(out, item);
    out.end_array();
    out.key("output_modalities").json(protocol::output_modalities_json(info.output));
    out.key("max_output_tokens").json(protocol::token_limit_json(info.max_output_tokens));
    out.key("metadata").json(info.metadata);
    out.key("usage");
    if (end) {
        const protocol::TokenUsage& usage = response.usage();
        out.begin_object()
            .field("total_tokens", usage.total_tokens)
            .field("input_tokens", usage.input_tokens)
            .field("output_tokens", usage.output_tokens)
            .end_object();
    } else {
        out.null();
    }
    out.end_object();
}

OrderedJson session_json(const Conversation& conversation) {
    return protocol::session_json(conversation.id.str(), conversation.model, *conversation.settings);
}

}  // namespace

void RealtimeWire::send(std::string frame) {
    if (detached_) return;
    bytes_queued_ += frame.size();
    link_.send_text(std::make_shared<const std::string>(std::move(frame)));
}

protocol::DeltaEncoder& RealtimeWire::encoder(Stream stream, const protocol::OutputRef& ref,
                                              std::size_t content_index, std::string_view call_id) {
    for (auto& [kind, open] : encoders_)
        if (kind == stream && open.output_index == ref.output_index) return open.encoder;
    auto make = [&] {
        switch (stream) {
            case Stream::text: return protocol::DeltaEncoder::output_text(ref, content_index);
            case Stream::transcript: return protocol::DeltaEncoder::output_audio_transcript(ref, content_index);
            case Stream::audio: return protocol::DeltaEncoder::output_audio(ref, content_index);
            case Stream::arguments: break;
        }
        return protocol::DeltaEncoder::function_call_arguments(ref, call_id);
    };
    encoders_.emplace_back(stream, OpenEncoder{ref.output_index, make()});
    return encoders_.back().second.encoder;
}

void RealtimeWire::forget_encoders(std::size_t output_index) {
    std::erase_if(encoders_, [&](const auto& entry) { return entry.second.output_index == output_index; });
}

// ---------------------------------------------------------------------------------------
// Responses

void RealtimeWire::response_created(const protocol::ResponseStream& response) {
    encoders_.clear();  // one response at a time: nothing of the last one stays open
    send(protocol::response_created(
        [&](protocol::JsonWriter& out) { write_response(out, response, ResponseStatus::in_progress, nullptr); }));
}

void RealtimeWire::output_item_added(std::string_view response_id, std::size_t output_index,
                                     const protocol::Item& item) {
    send(protocol::output_item_added(response_id, output_index, item));
}

void RealtimeWire::content_part_added(const protocol::OutputRef& ref, std::size_t content_index,
                                      protocol::PartKind kind) {
    send(protocol::content_part_added(ref, content_index, "", kind));
}

void RealtimeWire::output_text_delta(const protocol::OutputRef& ref, std::size_t content_index,
                                     std::string_view delta) {
    send(encoder(Stream::text, ref, content_index).encode(delta));
}

void RealtimeWire::output_audio_transcript_delta(const protocol::OutputRef& ref, std::size_t content_index,
                                                 std::string_view delta) {
    send(encoder(Stream::transcript, ref, content_index).encode(delta));
}

void RealtimeWire::output_audio_delta(const protocol::OutputRef& ref, std::size_t content_index,
                                      std::span<const std::uint8_t> bytes) {
    send(encoder(Stream::audio, ref, content_index).encode_base64(bytes));
}

void RealtimeWire::function_call_arguments_delta(const protocol::OutputRef& ref, std::string_view call_id,
                                                 std::string_view fragment) {
    send(encoder(Stream::arguments, ref, 0, call_id).encode(fragment));
}

void RealtimeWire::output_text_done(const protocol::OutputRef& ref, std::size_t content_index, std::string_view text) {
    send(protocol::output_text_done(ref, content_index, text));
}

void RealtimeWire::output_audio_done(const protocol::OutputRef& ref, std::size_t content_index) {
    send(protocol::output_audio_done(ref, content_index));
}

void RealtimeWire::output_audio_transcript_done(const protocol::OutputRef& ref, std::size_t content_index,
                                                std::string_view transcript) {
    send(protocol::output_audio_transcript_done(ref, content_index, transcript));
}

void RealtimeWire::content_part_done(const protocol::OutputRef& ref, std::size_t content_index, std::string_view text,
                                     protocol::PartKind kind) {
    send(protocol::content_part_done(ref, content_index, text, kind));
}

void RealtimeWire::function_call_arguments_done(const protocol::OutputRef& ref, std::string_view call_id,
                                                std::string_view name, std::string_view arguments) {
    send(protocol::function_call_arguments_done(ref, call_id, name, arguments));
}

void RealtimeWire::output_item_done(std::string_view response_id, std::size_t output_index,
                                    const protocol::Item& item) {
    forget_encoders(output_index);
    send(protocol::output_item_done(response_id, output_index, item));
}

void RealtimeWire::response_done(const protocol::ResponseStream& response, const protocol::ResponseEnd& end) {
    encoders_.clear();
    send(protocol::response_done([&](protocol::JsonWriter& out) { write_response(out, response, end.status, &end); }));
}

// ---------------------------------------------------------------------------------------
// Session, conversation and input audio

void RealtimeWire::session_created(const Conversation& conversation) {
    send(protocol::session_created(session_json(conversation)));
}

void RealtimeWire::session_updated(const Conversation& conversation) {
    send(protocol::session_updated(session_json(conversation)));
}

void RealtimeWire::error(const protocol::ProtocolError& error) { send(protocol::error_event(error)); }

void RealtimeWire::item_added(const protocol::Item& item, std::optional<std::string_view> previous_item_id) {
    send(protocol::conversation_item_added(item, previous_item_id));
}

void RealtimeWire::item_done(const protocol::Item& item, std::optional<std::string_view> previous_item_id) {
    send(protocol::conversation_item_done(item, previous_item_id));
}

void RealtimeWire::item_deleted(std::string_view item_id) { send(protocol::conversation_item_deleted(item_id)); }

void RealtimeWire::item_retrieved(const protocol::Item& item) { send(protocol::conversation_item_retrieved(item)); }

void RealtimeWire::item_truncated(std::string_view item_id, std::int64_t content_index, std::int64_t audio_end_ms) {
    send(protocol::conversation_item_truncated(item_id, content_index, audio_end_ms));
}

void RealtimeWire::audio_committed(std::optional<std::string_view> previous_item_id, std::string_view item_id) {
    send(protocol::input_audio_buffer_committed(previous_item_id, item_id));
}

void RealtimeWire::audio_cleared() { send(protocol::input_audio_buffer_cleared()); }

void RealtimeWire::speech_started(std::int64_t audio_start_ms, std::string_view item_id) {
    send(protocol::input_audio_buffer_speech_started(audio_start_ms, item_id));
}

void RealtimeWire::speech_stopped(std::int64_t audio_end_ms, std::string_view item_id) {
    send(protocol::input_audio_buffer_speech_stopped(audio_end_ms, item_id));
}

void RealtimeWire::transcription_completed(std::string_view item_id, std::size_t content_index,
                                           std::string_view transcript) {
    send(protocol::input_audio_transcription_completed(item_id, content_index, transcript));
}

void RealtimeWire::transcription_failed(std::string_view item_id, std::size_t content_index,
                                        const protocol::ProtocolError& error) {
    send(protocol::input_audio_transcription_failed(item_id, content_index, error));
}

void RealtimeWire::output_audio_cleared(std::string_view response_id) {
    send(protocol::output_audio_buffer_cleared(response_id));
}

void RealtimeWire::rate_limits_updated(std::span<const protocol::RateLimit> limits) {
    send(protocol::rate_limits_updated(limits));
}

// Frames that follow (a cancelled response's closing events) are still handed to the
// link, which drops what it can no longer send.
void RealtimeWire::close(std::uint16_t code, std::string_view reason) {
    if (!detached_) link_.close(code, reason);
}

}  // namespace voxgate::session
