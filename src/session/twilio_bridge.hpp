#pragma once
// TwilioBridge: one phone call over Twilio Media Streams (/v1/twilio,
// docs/wire-protocols.md section 4) served by an owned RealtimeSession. It faces the
// WebSocket as the connection's ClientHandler and faces the session as its ClientLink,
// translating at the Realtime JSON level:
//
//   Twilio -> session                         session -> Twilio
//   start   -> session created (model from    response.output_audio.delta -> media (same
//              customParameters), then           base64), then a mark "<item>:<ms>"
//              session.update (pcmu both     input_audio_buffer.speech_started while audio
//              ways, server VAD, audio out,      plays -> clear, and to the session
//              instructions, voice)              conversation.item.truncate at the ms the
//   media   -> input_audio_buffer.append         echoed marks say the caller heard
//   dtmf    -> conversation.item.create      error -> logged (Twilio has no channel for it)
//              (user text "DTMF: <digit>")   everything else -> dropped
//   mark    -> playback position
//   stop    -> the call ends: close 1000
//
// Audio is never decoded: Twilio's mu-law payloads are the session's audio/pcmu, both ways.
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
#include "voxgate/net.hpp"

namespace voxgate::metrics {
struct ShardMetrics;
}

namespace voxgate::session {

class TwilioBridge final : public ClientHandler,
                           private ClientLink,
                           public std::enable_shared_from_this<TwilioBridge> {
public:
    // Creates the call's session on `start`, talking to `link` (the bridge), for `model`
    // ("" = sessions.default_model). Null with `refusal` set when the model may not be used.
    using SessionFactory =
        std::function<std::shared_ptr<ClientHandler>(ClientLink& link, std::string model, std::string& refusal)>;

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

private:
    // ClientLink: the session's events, translated for Twilio
    void send_text(std::shared_ptr<const std::string> frame) override;
    void close(std::uint16_t code, std::string_view reason) override;
    // The session's frames are consumed as they are handed over, so none is ever queued
    // from its point of view (its text-delivery accounting must not see Twilio's bytes).
    std::size_t queued_bytes() const override { return 0; }

    void start_call(protocol::twilio::Start& start);
    void forward_media(const protocol::twilio::Media& media);
    void forward_digit(const protocol::twilio::Dtmf& dtmf);
    void on_mark(const protocol::twilio::Mark& mark);
    void play_audio(std::string_view item_id, std::string_view payload);
    void on_caller_speech();
    void hang_up(std::uint16_t code, std::string_view reason);
    void to_twilio(std::string frame);
    void to_session(std::string_view event);

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
    std::shared_ptr<ClientHandler> session_;  // created on `start`
    std::string stream_sid_;
    bool connected_seen_ = false;
    bool closed_ = false;  // the WebSocket is gone or closing: nothing more is sent
    // Playback: the item whose audio was sent last, its mu-law bytes sent, and what the
    // echoed marks say has been heard of it.
    std::string playing_item_;
    std::int64_t sent_bytes_ = 0;
    std::int64_t heard_ms_ = 0;
    bool unmarked_audio_ = false;  // audio sent after the last mark (the cap was reached)
    std::vector<PendingMark> marks_;  // oldest first; Twilio echoes in order
};

}  // namespace voxgate::session
