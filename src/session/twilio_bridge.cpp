#include "session/twilio_bridge.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "audio/base64.hpp"
#include "metrics/shard_metrics.hpp"
#include "protocol/session_settings.hpp"

namespace voxgate::session {

namespace twilio = protocol::twilio;
using protocol::Json;
using protocol::ClientEventBody;

namespace {

constexpr std::uint16_t close_normal = 1000;
constexpr std::uint16_t close_policy = 1008;
constexpr std::uint16_t close_unsupported_data = 1003;
constexpr std::uint16_t close_internal_error = 1011;  // RFC 6455 7.4.1: binary where only text is accepted

bool is_voice_name(std::string_view voice) {
    return !voice.empty() && voice.size() <= TwilioBridge::max_voice_length &&
           std::all_of(voice.begin(), voice.end(), [](unsigned char c) {
               return std::isalnum(c) != 0 || c == '_' || c == '-' || c == '.';
           });
}

}  // namespace

TwilioBridge::TwilioBridge(ClientLink& twilio, executor_type executor, SessionFactory make_session,
                           metrics::ShardMetrics* metrics)
    : twilio_(twilio), executor_(std::move(executor)), make_session_(std::move(make_session)), metrics_(metrics) {}

TwilioBridge::~TwilioBridge() {
    closed_ = true;
    if (session_) session_->client_gone();
}

void TwilioBridge::on_text(std::string_view message) {
    if (closed_) return;
    auto decoded = twilio::decode(message);
    if (decoded.error) {
        if (session_ && decoded.error->code == protocol::codes::unknown_event_type) {
            spdlog::debug("twilio: ignoring {}", decoded.error->message);
            return;
        }
        return hang_up(close_policy, "invalid Twilio message: " + decoded.error->message);
    }
    auto& inbound = *decoded.message;
    if (!session_) {
        if (std::holds_alternative<twilio::Connected>(inbound) && !connected_seen_) {
            connected_seen_ = true;
            return;
        }
        if (auto* start = std::get_if<twilio::Start>(&inbound)) return start_call(*start);
        return hang_up(close_policy, "expected the 'start' message first");
    }
    if (auto* media = std::get_if<twilio::Media>(&inbound)) return forward_media(*media);
    if (auto* mark = std::get_if<twilio::Mark>(&inbound)) return on_mark(*mark);
    if (auto* dtmf = std::get_if<twilio::Dtmf>(&inbound)) return forward_digit(*dtmf);
    if (std::holds_alternative<twilio::Stop>(inbound)) return hang_up(close_normal, "stream stopped");
    hang_up(close_policy, std::holds_alternative<twilio::Start>(inbound) ? "'start' came twice"
                                                                          : "'connected' after 'start'");
}

void TwilioBridge::on_binary(std::string_view) {
    if (!closed_) hang_up(close_unsupported_data, "Twilio Media Streams sends text frames only");
}

void TwilioBridge::start_call(twilio::Start& start) {
    const auto& format = start.media_format;
    if (format.encoding != "audio/x-mulaw" || format.sample_rate != 8000 || format.channels != 1)
        return hang_up(close_policy, "start.mediaFormat: only audio/x-mulaw, 8000 Hz, 1 channel is supported");
    std::string model(start.parameter("model").value_or(""));
    if (model.size() > protocol::max_model_name_length)
        return hang_up(close_policy, "customParameters.model: longer than 256 characters");
    auto voice = start.parameter("voice");
    if (voice && !is_voice_name(*voice))
        return hang_up(close_policy, "customParameters.voice: expected up to 64 letters, digits, '_', '-' or '.'");
    auto instructions = start.parameter("instructions");
    if (instructions && instructions->size() > max_instructions_bytes)
        return hang_up(close_policy, "customParameters.instructions: longer than 64 KiB");

    std::string refusal;
    session_ = make_session_(*this, std::move(model), refusal);
    if (!session_) return hang_up(close_policy, refusal.empty() ? "no session for this call" : refusal);
    stream_sid_ = std::move(start.stream_sid);
    if (metrics_) metrics_->twilio_streams.inc();
    spdlog::debug("twilio: stream {} of call {} started", stream_sid_, start.call_sid);
    session_->open();
    // A call never resumes, so its new conversation is ready at once.
    if (!session_ready_) return hang_up(close_internal_error, "the call's session could not start");

    // Telephone audio both ways, turns found by server VAD (a response starts when the
    // caller stops speaking); spoken replies unless this gateway cannot speak (then the
    // call still hears and answers, in text nobody hears: the log says why).
    protocol::SessionPatch patch;
    patch.audio = {{"input", {{"format", {{"type", "audio/pcmu"}}}, {"turn_detection", {{"type", "server_vad"}}}}},
                   {"output", {{"format", {{"type", "audio/pcmu"}}}}}};
    if (voice) patch.audio["output"]["voice"] = std::string(*voice);
    if (instructions) patch.instructions = std::string(*instructions);
    if (session_->speaks())
        patch.output = protocol::OutputModality::audio;
    else
        spdlog::warn("twilio: stream {}: text_to_speech.kind is none, the caller will hear nothing", stream_sid_);
    to_session(protocol::SessionUpdate{std::move(patch)});
}

void TwilioBridge::forward_media(const twilio::Media& media) {
    if (media.track != "inbound") return;  // both_tracks also echoes what we play
    protocol::AudioAppend append;
    append.audio.reserve(audio::base64_decoded_size(media.payload.size()));
    if (!audio::base64_decode(media.payload, append.audio)) {
        spdlog::warn("twilio: stream {}: a media payload is not base64; dropped", stream_sid_);
        return;
    }
    to_session(std::move(append));
}

void TwilioBridge::forward_digit(const twilio::Dtmf& dtmf) {
    // A key press becomes a user turn the model reads with the next response.
    protocol::ItemCreate create;
    create.item.type = protocol::ItemType::message;
    create.item.role = protocol::Role::user;
    create.item.content.push_back({protocol::ContentType::input_text, "DTMF: " + dtmf.digit});
    to_session(std::move(create));
}

void TwilioBridge::on_mark(const twilio::Mark& mark) {
    // Twilio echoes marks in the order sent; one we do not hold was flushed by a clear.
    auto it = std::find_if(marks_.begin(), marks_.end(), [&](const PendingMark& m) { return m.name == mark.name; });
    if (it == marks_.end()) return;
    if (it->item_id == playing_item_) heard_ms_ = it->end_ms;
    marks_.erase(marks_.begin(), it + 1);
}

void TwilioBridge::output_audio_delta(const protocol::OutputRef& ref, std::size_t, std::span<const std::uint8_t> bytes) {
    if (closed_ || bytes.empty()) return;
    if (ref.item_id != playing_item_) {
        playing_item_.assign(ref.item_id);
        sent_bytes_ = 0;
        heard_ms_ = 0;
    }
    payload_.clear();
    audio::base64_encode(bytes, payload_);
    to_twilio(twilio::encode_media(stream_sid_, payload_));
    sent_bytes_ += static_cast<std::int64_t>(bytes.size());
    if (marks_.size() >= max_outstanding_marks) {
        unmarked_audio_ = true;
        if (metrics_) metrics_->twilio_marks_skipped.inc();
        return;
    }
    const std::int64_t end_ms = sent_bytes_ / 8;  // mu-law at 8 kHz: 8 bytes per ms
    PendingMark mark{playing_item_ + ":" + std::to_string(end_ms), playing_item_, end_ms};
    to_twilio(twilio::encode_mark(stream_sid_, mark.name));
    marks_.push_back(std::move(mark));
    unmarked_audio_ = false;
}

void TwilioBridge::speech_started(std::int64_t, std::string_view) {
    if (closed_ || (marks_.empty() && !unmarked_audio_)) return;  // nothing is playing
    // Barge-in (wire-protocols 4.4): Twilio drops what it buffered, and the assistant item
    // is cut to what the caller heard, so the model's history matches the call.
    to_twilio(twilio::encode_clear(stream_sid_));
    marks_.clear();  // the echoes a clear provokes match nothing now
    unmarked_audio_ = false;
    protocol::ItemTruncate truncate;
    truncate.item_id = playing_item_;
    truncate.audio_end_ms = heard_ms_;
    // Posted: this runs inside the engine's own event, which must not be re-entered.
    asio::post(executor_, [weak = weak_from_this(), truncate = std::move(truncate)]() mutable {
        if (auto self = weak.lock()) self->to_session(std::move(truncate));
    });
}

void TwilioBridge::error(const protocol::ProtocolError& error) {
    // The session's error texts name fields and codes, never a key.
    spdlog::warn("twilio: stream {}: session error {}: {}", stream_sid_, error.code, error.message.substr(0, 200));
}

void TwilioBridge::to_twilio(std::string frame) {
    if (!closed_) twilio_.send_text(std::make_shared<const std::string>(std::move(frame)));
}

void TwilioBridge::to_session(ClientEventBody command) {
    if (!session_ || closed_) return;
    protocol::ClientEvent event{{}, std::move(command)};
    session_->handle(event);
}

void TwilioBridge::hang_up(std::uint16_t code, std::string_view reason) {
    if (closed_) return;
    if (code != close_normal) spdlog::info("twilio: closing stream {}: {}", stream_sid_, reason);
    closed_ = true;
    twilio_.close(code, reason);
}

void TwilioBridge::close(std::uint16_t code, std::string_view reason) { hang_up(code, reason); }

void TwilioBridge::on_send_queue_high() {
    if (session_) session_->pause_output();
}

void TwilioBridge::on_send_queue_low() {
    if (session_) session_->resume_output();
}

void TwilioBridge::on_closed() {
    closed_ = true;
    if (session_) session_->client_gone();
}

std::string TwilioBridge::log_id() const { return session_ ? session_->log_id() : std::string(); }

void TwilioBridge::on_shutdown() {
    if (session_) session_->shut_down_gracefully();
}

}  // namespace voxgate::session
