#pragma once
// TwilioBridge: one phone call over Twilio Media Streams (/v1/twilio,
// docs/wire-protocols.md section 4) served by the session engine. A thin adapter: it faces
// the WebSocket as the connection's ClientHandler, gives the engine typed commands, and
// takes the engine's typed events (SessionEvents), acting on the few a call needs:
//
//   Twilio -> engine                          engine -> Twilio
//   start   -> a session (model from          output_audio_delta -> media (the mu-law bytes,
//              customParameters), then one       base64), then a mark "<item>:<ms>"
//              SessionUpdate: pcmu both       speech_started while audio plays -> clear, and
//              ways, server VAD, audio out       to the engine an ItemTruncate at the ms the
//              (text when the gateway            echoed marks say the caller heard
//              cannot speak), instructions,   error -> logged (Twilio has no channel for it)
//              voice                          close -> the call ends
//   media   -> AudioAppend (the mu-law bytes) every other event -> dropped
//   dtmf    -> ItemCreate (user text "DTMF: <digit>")
//   mark    -> playback position
//   stop    -> the call ends: close 1000
//
// Audio is never transcoded here: Twilio's mu-law is the session's audio/pcmu, both ways.
// Before `start` only `connected` is accepted; anything else, a malformed message or a
// binary frame (1003) closes the call with a reason. Unknown events after start are
// ignored (Twilio may add some). Outstanding marks are capped (max_outstanding_marks,
// voxgate_twilio_marks_skipped_total when it bites).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/twilio/media_stream.hpp"
#include "session/client_link.hpp"
#include "session/session_control.hpp"
#include "session/session_events.hpp"
#include "voxgate/net.hpp"

namespace voxgate::metrics {
struct ShardMetrics;
}

namespace voxgate::session {

class TwilioBridge final : public ClientHandler,
                           private SessionEvents,
                           public std::enable_shared_from_this<TwilioBridge> {
public:
    // Creates the call's session on `start`, telling `events` (the bridge), for `model`
    // ("" = sessions.default_model). Null with `refusal` set when the model may not be used.
    using SessionFactory = std::function<std::shared_ptr<SessionControl>(SessionEvents& events, std::string model,
                                                                         std::string& refusal)>;

    // Marks sent and not yet echoed; past it audio goes out unmarked (its playback is
    // then known at the next mark) and the skip is counted.
    static constexpr std::size_t max_outstanding_marks = 256;
    // customParameters the bridge reads (all optional); unknown parameters are ignored.
    static constexpr std::size_t max_voice_length = 64;
    static constexpr std::size_t max_instructions_bytes = 64 * 1024;

    TwilioBridge(ClientLink& twilio, executor_type executor, SessionFactory make_session,
                 metrics::ShardMetrics* metrics);
    ~TwilioBridge() override;
    TwilioBridge(const TwilioBridge&) = delete;
    TwilioBridge& operator=(const TwilioBridge&) = delete;

    // ClientHandler: the WebSocket from Twilio
    void on_open() override {}  // the session waits for `start`
    void on_text(std::string_view message) override;
    void on_binary(std::string_view message) override;
    void on_send_queue_high() override;
    void on_send_queue_low() override;
    void on_closed() override;
    std::string log_id() const override;
    void on_shutdown() override;

    // The engine's events as the bridge receives them (tests drive them directly).
    SessionEvents& session_events() { return *this; }

private:
    // SessionEvents: what a call acts on
    void output_audio_delta(const protocol::OutputRef& ref, std::size_t content_index,
                            std::span<const std::uint8_t> bytes) override;
    void speech_started(std::int64_t audio_start_ms, std::string_view item_id) override;
    void error(const protocol::ProtocolError& error) override;
    void close(std::uint16_t code, std::string_view reason) override;
    void session_ready() override { session_ready_ = true; }
    // ... and what it lets go: a phone has no screen for text, items or transcripts.
    void response_created(const protocol::ResponseStream&) override {}
    void output_item_added(std::string_view, std::size_t, const protocol::Item&) override {}
    void content_part_added(const protocol::OutputRef&, std::size_t, protocol::PartKind) override {}
    void output_text_delta(const protocol::OutputRef&, std::size_t, std::string_view) override {}
    void output_audio_transcript_delta(const protocol::OutputRef&, std::size_t, std::string_view) override {}
    void function_call_arguments_delta(const protocol::OutputRef&, std::string_view, std::string_view) override {}
    void output_text_done(const protocol::OutputRef&, std::size_t, std::string_view) override {}
    void output_audio_done(const protocol::OutputRef&, std::size_t) override {}
    void output_audio_transcript_done(const protocol::OutputRef&, std::size_t, std::string_view) override {}
    void content_part_done(const protocol::OutputRef&, std::size_t, std::string_view, protocol::PartKind) override {}
    void function_call_arguments_done(const protocol::OutputRef&, std::string_view, std::string_view,
                                      std::string_view) override {}
    void output_item_done(std::string_view, std::size_t, const protocol::Item&) override {}
    void response_done(const protocol::ResponseStream&, const protocol::ResponseEnd&) override {}
    void session_created(const Conversation&) override {}
    void session_updated(const Conversation&) override {}
    void item_added(const protocol::Item&, std::optional<std::string_view>) override {}
    void item_done(const protocol::Item&, std::optional<std::string_view>) override {}
    void item_deleted(std::string_view) override {}
    void item_retrieved(const protocol::Item&) override {}
    void item_truncated(std::string_view, std::int64_t, std::int64_t) override {}
    void audio_committed(std::optional<std::string_view>, std::string_view) override {}
    void audio_cleared() override {}
    void speech_stopped(std::int64_t, std::string_view) override {}
    void transcription_completed(std::string_view, std::size_t, std::string_view) override {}
    void transcription_failed(std::string_view, std::size_t, const protocol::ProtocolError&) override {}
    void output_audio_cleared(std::string_view) override {}
    void rate_limits_updated(std::span<const protocol::RateLimit>) override {}

    void start_call(protocol::twilio::Start& start);
    void forward_media(const protocol::twilio::Media& media);
    void forward_digit(const protocol::twilio::Dtmf& dtmf);
    void on_mark(const protocol::twilio::Mark& mark);
    void hang_up(std::uint16_t code, std::string_view reason);
    void to_twilio(std::string frame);
    void to_session(protocol::ClientEventBody command);

    // A mark we sent: the audio of `item_id` up to `end_ms` has played when Twilio echoes it.
    struct PendingMark {
        std::string name;
        std::string item_id;
        std::int64_t end_ms = 0;
    };

    ClientLink& twilio_;
    executor_type executor_;
    SessionFactory make_session_;
    metrics::ShardMetrics* metrics_;
    std::shared_ptr<SessionControl> session_;  // created on `start`
    std::string stream_sid_;
    bool connected_seen_ = false;
    bool session_ready_ = false;
    bool closed_ = false;  // the WebSocket is gone or closing: nothing more is sent
    // Playback: the item whose audio was sent last, its mu-law bytes sent, and what the
    // echoed marks say has been heard of it.
    std::string playing_item_;
    std::int64_t sent_bytes_ = 0;
    std::string payload_;  // the base64 of one media message, reused
    std::int64_t heard_ms_ = 0;
    bool unmarked_audio_ = false;  // audio sent after the last mark (the cap was reached)
    std::vector<PendingMark> marks_;  // oldest first; Twilio echoes in order
};

}  // namespace voxgate::session
