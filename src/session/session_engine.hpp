#pragma once
// SessionEngine: one conversation's session, whatever the client's dialect. It takes
// typed commands (protocol::ClientEvent: session and conversation edits, responses,
// input audio) and tells its client everything through SessionEvents, typed too. It
// keeps the Conversation (claimed from the registry, or resumed), runs the response
// lifecycle (the ResponseSource's stream, limits, barge-in, cancel), the input audio
// pipeline (buffer, server VAD, speech-to-text) and spoken replies (SpeechOutput).
// Dialects are thin adapters over it: RealtimeSession (/v1/realtime: JSON in,
// RealtimeWire out) and TwilioBridge (/v1/twilio).
//
//     auto engine = std::make_shared<session::SessionEngine>(events, shard_context, params);
//     engine->open();  // session_created follows, at once or by post (resume handover)
//
// where shard_context is one RealtimeContext per shard that outlives its sessions.
// Create it with make_shared: finished responses are freed from a task posted to the
// shard's executor, which holds only a weak reference. Shard thread only.
//
// Resume: SessionParams::session_id of a conversation detached less than
// sessions.resume_ttl ago, or still held by another connection (takeover, see
// conversation.hpp), continues it and session_created carries the same id. An unknown or
// expired id starts a new session: session_created (new id) first, then an error with
// code session_not_found.
//
// Close codes it uses: 4000 (session taken over by a newer connection that resumed it),
// 1011 (an internal error in this session).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/client_key.hpp"
#include "auth/key_usage.hpp"
#include "protocol/client_events.hpp"
#include "protocol/response_stream.hpp"
#include "protocol/text_delivery.hpp"
#include "session/audio_input.hpp"
#include "session/session_control.hpp"
#include "session/session_events.hpp"
#include "session/conversation.hpp"
#include "session/speech_output.hpp"
#include "upstream/response_source.hpp"
#include "voxgate/config.hpp"
#include "voxgate/net.hpp"

namespace voxgate::metrics {
struct ShardMetrics;
}
namespace voxgate::speech {
class SpeechToText;
class TextToSpeech;
struct Transcription;
}

namespace voxgate::session {

class SessionRegistry;
class ResumeFailures;

// What every session of one shard shares. Must outlive the sessions.
struct RealtimeContext {
    const SessionsConfig& sessions;
    const LimitsConfig& limits;
    SessionRegistry& registry;
    upstream::ResponseSource& responses;
    executor_type executor;                    // the shard's io_context executor
    metrics::ShardMetrics* metrics = nullptr;  // null: no metrics
    // Default session settings shared by all sessions (copy on update); built from
    // `sessions` per session when null.
    std::shared_ptr<const protocol::SessionSettings> preset = nullptr;
    Clock::time_point (*now)() = &Clock::now;  // rate limit and resume TTL; tests replace it
    // Set when the server drains: response.create is refused (server_shutting_down).
    const std::atomic<bool>* refusing_new_work = nullptr;
    // Failed resumes per client address (limits.max_failed_resumes_per_minute_per_ip); null: not counted.
    ResumeFailures* resume_failures = nullptr;
    // Transcribes committed input audio; null: speech_to_text.kind none (transcription fails).
    speech::SpeechToText* speech_to_text = nullptr;
    // Speaks replies of output_modalities ["audio"]; null: text_to_speech.kind none (audio refused).
    speech::TextToSpeech* text_to_speech = nullptr;
    // A reply is cut into pieces of at most this many characters for speech (sentence ends cut sooner).
    std::size_t speech_piece_chars = 200;
};

// From the accepted upgrade: the URL's query, who the client is and where it connects from.
struct SessionParams {
    std::string model;       // ?model=; "" = sessions.default_model (on resume: keep the session's)
    std::string session_id;  // ?session_id=; "" = start a new session
    std::shared_ptr<const auth::ClientKey> key = nullptr;  // the authenticated key; null: auth.mode none
    asio::ip::address peer_address = {};                   // the client's IP
    std::shared_ptr<auth::SessionLease> session_lease = nullptr;  // the key's session slot; freed with the session
    // A new session's settings (a client secret's session); null = the gateway's defaults.
    std::shared_ptr<const protocol::SessionSettings> settings = nullptr;
};

inline constexpr std::uint16_t close_code_policy = 1008;
inline constexpr std::uint16_t close_code_taken_over = 4000;
inline constexpr std::uint16_t close_code_internal_error = 1011;  // RFC 6455 7.4.1


class SessionEngine final : public SessionControl,
                            private ConversationOwner,
                            public std::enable_shared_from_this<SessionEngine> {
public:
    SessionEngine(SessionEvents& events, const RealtimeContext& context, SessionParams params);
    ~SessionEngine() override;
    SessionEngine(const SessionEngine&) = delete;
    SessionEngine& operator=(const SessionEngine&) = delete;

    // SessionControl
    void open() override;
    void handle(protocol::ClientEvent& command) override;
    void pause_output() override;
    void resume_output() override;
    void client_gone() override;
    void shut_down_gracefully() override;
    // The session id resumes the session, so logs get only a prefix: enough to correlate
    // with the client's report, useless as a credential.
    std::string log_id() const override { return session_id_.substr(0, 13); }
    bool speaks() const override { return context_.text_to_speech != nullptr; }

    // Ends the session: a response in flight is cancelled and the connection closed.
    void close(std::uint16_t code, std::string_view reason);
    // Tells the client its command `event_id` was refused (an `error` event).
    void reject(const std::string& event_id, std::string_view code, std::string message, std::string param = {});

    bool waiting() const { return state_ == State::waiting; }  // opened, the conversation not ready yet
    bool serving() const { return state_ == State::open; }     // ready, not closed
    bool closed() const { return state_ == State::closed; }
    // "sess_..." once the conversation is ready; "" before.
    const std::string& session_id() const { return session_id_; }
    // The key the client authenticated with (null: auth.mode none) and its address.
    const std::shared_ptr<const auth::ClientKey>& key() const { return key_; }
    const asio::ip::address& peer_address() const { return peer_address_; }

    // Items kept per conversation: at most this many, and at most
    // stored_history_factor * sessions.max_history_chars characters (the oldest go first,
    // with a conversation.item.deleted each), so a client cannot grow a history forever.
    static constexpr std::size_t max_stored_items = 1000;
    static constexpr std::size_t stored_history_factor = 2;

private:
    class ActiveResponse;
    enum class State : std::uint8_t { created, waiting, open, closed };

    // ConversationOwner (a private base: only Ownership calls these)
    ConversationOwner& owner() { return *this; }
    void on_conversation_ready() override;
    void on_conversation_taken() override;
    void start_serving();  // on_conversation_ready's work
    void hand_over();      // on_conversation_taken's work

    // Runs `body` behind the exception barrier: a throw closes only this session with 1011.
    template <class Body>
    void contained(std::string_view where, Body&& body) noexcept;

    void start_new_conversation();
    void shut_down();

    void update_session(const std::string& event_id, protocol::SessionUpdate& update);
    void create_item(const std::string& event_id, protocol::ItemCreate& create);
    void delete_item(const std::string& event_id, const protocol::ItemDelete& request);
    void retrieve_item(const std::string& event_id, const protocol::ItemRetrieve& request);
    void truncate_item(const std::string& event_id, const protocol::ItemTruncate& request);
    void create_response(const std::string& event_id, protocol::ResponseCreate& request);
    void cancel_response_request(const std::string& event_id, const protocol::ResponseCancel& request);

    // Input audio (input_audio_buffer.*): the buffer, server VAD turns, transcription.
    AudioInput& audio_input();  // made on first use from the session's settings
    void append_audio(const std::string& event_id, const protocol::AudioAppend& append);
    void commit_audio(const std::string& event_id);
    void clear_audio();
    void on_speech_started(std::int64_t audio_start_ms);
    void on_speech_stopped(std::int64_t audio_end_ms);
    // Adds the user item of an utterance and starts its transcription; `respond`: start a
    // response once the transcript is in (server VAD create_response).
    void commit_utterance(std::vector<std::int16_t> samples, std::string item_id, bool respond);
    void on_transcription(const std::string& item_id, bool respond, speech::Transcription& result);
    void clear_output_audio(const std::string& event_id);
    // False (and the client told) when audio output is asked of a gateway with no text_to_speech.
    bool admit_output_modality(const std::string& event_id, protocol::OutputModality output, std::string param);
    std::string key_name() const;  // "" with auth.mode none
    bool admit_response_for_key(const std::string& event_id);  // per-key limits; false = refused (told)
    void send_rate_limits();

    std::string new_item_id() const;
    void evict_history();
    void cancel_response(std::string_view reason);
    bool admit_output(ActiveResponse& response, std::size_t bytes);  // false: the response was ended
    void finish_response(const protocol::ResponseEnd& end);
    void retire_response();

    // ActiveResponse callbacks
    void on_output_item_added(ActiveResponse& response, const protocol::Item& item);
    void on_output_item_done(ActiveResponse& response, const protocol::Item& item);
    void on_text_delta_sent(ActiveResponse& response, const protocol::Item& item);
    void on_first_delta(ActiveResponse& response);
    void on_response_done(ActiveResponse& response, const upstream::ResponseResult& result);
    void on_speech_text(ActiveResponse& response, std::string_view text);
    void on_speech_audio(ActiveResponse& response, std::span<const std::uint8_t> bytes);
    void on_speech_done(ActiveResponse& response, const speech::SynthesisResult& result);

    SessionEvents& events_;
    const RealtimeContext& context_;
    SessionParams params_;  // model and session_id are used up once the conversation is ready
    // Who this session belongs to, for its whole life (params_ is cleared when ready).
    const std::shared_ptr<const auth::ClientKey> key_;
    const asio::ip::address peer_address_;
    std::shared_ptr<auth::SessionLease> session_lease_;
    State state_ = State::created;
    bool client_gone_ = false;     // the connection is gone: no event may be sent any more
    bool resumed_ = false;
    bool resume_failed_ = false;   // the session_id named no live session: say so after session_created
    bool model_too_long_ = false;  // the model was over protocol::max_model_name_length: ignored
    bool sending_paused_ = false;  // the transport's send queue is past its high-water mark
    bool cleanup_posted_ = false;
    std::shared_ptr<Ownership> ownership_;
    std::shared_ptr<Conversation> conversation_;  // set once ready; dropped when taken over or closed
    std::string session_id_;
    std::unique_ptr<ActiveResponse> response_;
    std::vector<std::unique_ptr<ActiveResponse>> retired_;  // finished; freed from a posted task
    protocol::TextDeliveryLog delivery_;
    // Input audio state, made on the first input_audio_buffer event: a text session pays
    // one pointer for it.
    struct VoiceTurns {
        std::unique_ptr<AudioInput> input;  // null after a format or turn_detection change
        std::string speech_item_id;         // the item the turn being spoken will become
        std::size_t transcriptions_pending = 0;
        // A response.create that came while a transcript was pending runs when it is in, so
        // the model hears what was said. One at most: a second is refused like a second response.
        std::unique_ptr<protocol::ClientEvent> deferred_response;
        // The last turn's end (server VAD), for voxgate_time_to_first_audio_seconds.
        Clock::time_point speech_stopped_at{};
        // The assistant item spoken last and where its pieces start, for truncation by audio_end_ms.
        std::string spoken_item_id;
        SpokenTimeline spoken;
    };
    VoiceTurns& voice();
    std::unique_ptr<VoiceTurns> voice_;
};

}  // namespace voxgate::session
