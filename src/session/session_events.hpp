#pragma once
// SessionEvents: everything the session engine (session_engine.hpp) tells its client, as
// typed events, whatever the client's dialect. Each event is named after the Realtime
// server event it becomes: RealtimeWire (realtime_wire.hpp) encodes every one of them for
// /v1/realtime; the Twilio bridge acts on the few a phone call needs (audio, speech
// started, errors) and lets the rest go. Called on the session's shard thread only.
// Events may still come after the connection is gone (a cancelled response's closing
// events, as the engine tidies up): the adapter drops them.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "protocol/items.hpp"
#include "protocol/protocol_error.hpp"
#include "protocol/response_stream.hpp"
#include "protocol/server_events.hpp"

namespace voxgate::session {

struct Conversation;

class SessionEvents : public protocol::ResponseEvents {
public:
    // The conversation is ready (first event, after a resume too) / its settings changed.
    virtual void session_created(const Conversation& conversation) = 0;
    virtual void session_updated(const Conversation& conversation) = 0;
    // The engine has said what it says on becoming ready: the client's held events may run.
    virtual void session_ready() {}
    virtual void error(const protocol::ProtocolError& error) = 0;

    // Conversation edits. previous_item_id: the item before this one; nullopt = first.
    virtual void item_added(const protocol::Item& item, std::optional<std::string_view> previous_item_id) = 0;
    virtual void item_done(const protocol::Item& item, std::optional<std::string_view> previous_item_id) = 0;
    virtual void item_deleted(std::string_view item_id) = 0;
    virtual void item_retrieved(const protocol::Item& item) = 0;
    virtual void item_truncated(std::string_view item_id, std::int64_t content_index, std::int64_t audio_end_ms) = 0;

    // Input audio. item_id: the user item the audio becomes.
    virtual void audio_committed(std::optional<std::string_view> previous_item_id, std::string_view item_id) = 0;
    virtual void audio_cleared() = 0;
    virtual void speech_started(std::int64_t audio_start_ms, std::string_view item_id) = 0;
    virtual void speech_stopped(std::int64_t audio_end_ms, std::string_view item_id) = 0;
    virtual void transcription_completed(std::string_view item_id, std::size_t content_index,
                                         std::string_view transcript) = 0;
    virtual void transcription_failed(std::string_view item_id, std::size_t content_index,
                                      const protocol::ProtocolError& error) = 0;
    // The spoken reply `response_id` ("" = none was playing) stopped on the client's request.
    virtual void output_audio_cleared(std::string_view response_id) = 0;
    virtual void rate_limits_updated(std::span<const protocol::RateLimit> limits) = 0;

    // The connection: close it; and how far the client has been sent the bytes queued for
    // it, for truncating text to what was delivered (a dialect without text: both 0).
    virtual void close(std::uint16_t code, std::string_view reason) = 0;
    virtual std::uint64_t bytes_queued() const { return 0; }
    virtual std::uint64_t bytes_written() const { return 0; }

protected:
    ~SessionEvents() = default;
};

}  // namespace voxgate::session
