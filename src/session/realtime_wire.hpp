#pragma once
// RealtimeWire: the session engine's events encoded as OpenAI Realtime server events
// (GA names, docs/wire-protocols.md 1.7) and queued on the client's link, one text frame
// per event. Per-token events (text, transcript, audio and argument deltas) are encoded
// without a JSON DOM: each output item's fixed fields are formatted once, when the item
// or part opens, and every delta costs one string.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/server_events.hpp"
#include "session/client_link.hpp"
#include "session/session_events.hpp"

namespace voxgate::session {

class RealtimeWire : public SessionEvents {
public:
    explicit RealtimeWire(ClientLink& link) : link_(link) {}

    // No more frames: the link is gone (or being closed).
    void detach() { detached_ = true; }

    // protocol::ResponseEvents
    void response_created(const protocol::ResponseStream& response) override;
    void output_item_added(std::string_view response_id, std::size_t output_index, const protocol::Item& item) override;
    void content_part_added(const protocol::OutputRef& ref, std::size_t content_index, protocol::PartKind kind) override;
    void output_text_delta(const protocol::OutputRef& ref, std::size_t content_index, std::string_view delta) override;
    void output_audio_transcript_delta(const protocol::OutputRef& ref, std::size_t content_index,
                                       std::string_view delta) override;
    void output_audio_delta(const protocol::OutputRef& ref, std::size_t content_index,
                            std::span<const std::uint8_t> bytes) override;
    void function_call_arguments_delta(const protocol::OutputRef& ref, std::string_view call_id,
                                       std::string_view fragment) override;
    void output_text_done(const protocol::OutputRef& ref, std::size_t content_index, std::string_view text) override;
    void output_audio_done(const protocol::OutputRef& ref, std::size_t content_index) override;
    void output_audio_transcript_done(const protocol::OutputRef& ref, std::size_t content_index,
                                      std::string_view transcript) override;
    void content_part_done(const protocol::OutputRef& ref, std::size_t content_index, std::string_view text,
                           protocol::PartKind kind) override;
    void function_call_arguments_done(const protocol::OutputRef& ref, std::string_view call_id, std::string_view name,
                                      std::string_view arguments) override;
    void output_item_done(std::string_view response_id, std::size_t output_index, const protocol::Item& item) override;
    void response_done(const protocol::ResponseStream& response, const protocol::ResponseEnd& end) override;

    // SessionEvents
    void session_created(const Conversation& conversation) override;
    void session_updated(const Conversation& conversation) override;
    void error(const protocol::ProtocolError& error) override;
    void item_added(const protocol::Item& item, std::optional<std::string_view> previous_item_id) override;
    void item_done(const protocol::Item& item, std::optional<std::string_view> previous_item_id) override;
    void item_deleted(std::string_view item_id) override;
    void item_retrieved(const protocol::Item& item) override;
    void item_truncated(std::string_view item_id, std::int64_t content_index, std::int64_t audio_end_ms) override;
    void audio_committed(std::optional<std::string_view> previous_item_id, std::string_view item_id) override;
    void audio_cleared() override;
    void speech_started(std::int64_t audio_start_ms, std::string_view item_id) override;
    void speech_stopped(std::int64_t audio_end_ms, std::string_view item_id) override;
    void transcription_completed(std::string_view item_id, std::size_t content_index,
                                 std::string_view transcript) override;
    void transcription_failed(std::string_view item_id, std::size_t content_index,
                              const protocol::ProtocolError& error) override;
    void output_audio_cleared(std::string_view response_id) override;
    void rate_limits_updated(std::span<const protocol::RateLimit> limits) override;
    void close(std::uint16_t code, std::string_view reason) override;
    std::uint64_t bytes_queued() const override { return bytes_queued_; }
    std::uint64_t bytes_written() const override { return bytes_queued_ - link_.queued_bytes(); }

private:
    // The delta encoder of one open output item (a call's arguments, or a message's text,
    // transcript or audio), made when it opens and dropped when it closes.
    struct OpenEncoder {
        std::size_t output_index;
        protocol::DeltaEncoder encoder;
    };
    enum class Stream : std::uint8_t { text, transcript, audio, arguments };
    protocol::DeltaEncoder& encoder(Stream stream, const protocol::OutputRef& ref, std::size_t content_index,
                                    std::string_view call_id = {});
    void forget_encoders(std::size_t output_index);
    void send(std::string frame);

    ClientLink& link_;
    bool detached_ = false;
    std::uint64_t bytes_queued_ = 0;  // every byte ever queued on the link
    // At most a message's text (or transcript and audio) and the calls open beside it.
    std::vector<std::pair<Stream, OpenEncoder>> encoders_;
};

}  // namespace voxgate::session
