#include "session/twilio_bridge.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "metrics/shard_metrics.hpp"
#include "protocol/json_text.hpp"
#include "protocol/session_settings.hpp"

namespace voxgate::session {

namespace twilio = protocol::twilio;
using protocol::Json;

namespace {

constexpr std::uint16_t close_normal = 1000;
constexpr std::uint16_t close_policy = 1008;
constexpr std::uint16_t close_unsupported_data = 1003;  // RFC 6455 7.4.1: binary where only text is accepted

// Bytes a base64 text decodes to, without decoding it (the payload is passed on as is).
std::int64_t decoded_bytes(std::string_view base64) {
    auto bytes = static_cast<std::int64_t>(base64.size() / 4 * 3);
    if (base64.ends_with("==")) return bytes - 2;
    if (base64.ends_with('=')) return bytes - 1;
    return bytes;
}

bool is_voice_name(std::string_view voice) {
    return !voice.empty() && voice.size() <= TwilioBridge::max_voice_length &&
           std::all_of(voice.begin(), voice.end(), [](unsigned char c) {
               return std::isalnum(c) != 0 || c == '_' || c == '-' || c == '.';
           });
}

// The event types the bridge acts on, as the session's compact JSON writes them: a frame
// without any of these is dropped without being parsed.
constexpr std::string_view audio_delta = "response.output_audio.delta";
constexpr std::string_view speech_started = "input_audio_buffer.speech_started";
constexpr std::string_view error_event = "error";
constexpr std::string_view audio_delta_tag = R"("type":"response.output_audio.delta")";
constexpr std::string_view speech_started_tag = R"("type":"input_audio_buffer.speech_started")";
constexpr std::string_view error_tag = R"("type":"error")";

}  // namespace

TwilioBridge::TwilioBridge(ClientLink& twilio, executor_type executor, SessionFactory make_session,
                           metrics::ShardMetrics* metrics)
    : twilio_(twilio), executor_(std::move(executor)), make_session_(std::move(make_session)), metrics_(metrics) {}

TwilioBridge::~TwilioBridge() = default;

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
    session_->on_open();

    // Telephone audio both ways, turns found by server VAD (a response starts when the
    // caller stops speaking). Output modalities go in a second update: a gateway that
    // cannot speak refuses that one alone and the call still hears and answers in text.
    Json session = {{"type", "realtime"},
                    {"audio",
                     {{"input", {{"format", {{"type", "audio/pcmu"}}}, {"turn_detection", {{"type", "server_vad"}}}}},
                      {"output", {{"format", {{"type", "audio/pcmu"}}}}}}}};
    if (voice) session["audio"]["output"]["voice"] = std::string(*voice);
    if (instructions) session["instructions"] = std::string(*instructions);
    to_session(protocol::to_text(Json{{"type", "session.update"}, {"session", std::move(session)}}));
    to_session(R"({"type":"session.update","session":{"output_modalities":["audio"]}})");
}

void TwilioBridge::forward_media(const twilio::Media& media) {
    if (media.track != "inbound") return;  // both_tracks also echoes what we play
    std::string event;
    event.reserve(media.payload.size() + 48);
    event.append(R"({"type":"input_audio_buffer.append","audio":")");
    protocol::append_json_escaped(event, media.payload);  // base64 needs no escaping; anything else is refused by the session
    event.append("\"}");
    to_session(event);
}

void TwilioBridge::forward_digit(const twilio::Dtmf& dtmf) {
    // A key press becomes a user turn the model reads with the next response.
    Json event = {{"type", "conversation.item.create"},
                  {"item",
                   {{"type", "message"},
                    {"role", "user"},
                    {"content", Json::array({{{"type", "input_text"}, {"text", "DTMF: " + dtmf.digit}}})}}}};
    to_session(protocol::to_text(event));
}

void TwilioBridge::on_mark(const twilio::Mark& mark) {
    // Twilio echoes marks in the order sent; one we do not hold was flushed by a clear.
    auto it = std::find_if(marks_.begin(), marks_.end(), [&](const PendingMark& m) { return m.name == mark.name; });
    if (it == marks_.end()) return;
    if (it->item_id == playing_item_) heard_ms_ = it->end_ms;
    marks_.erase(marks_.begin(), it + 1);
}

void TwilioBridge::send_text(std::shared_ptr<const std::string> frame) {
    if (closed_ || !frame) return;
    const std::string_view text = *frame;
    const bool interesting = text.find(audio_delta_tag) != std::string_view::npos ||
                             text.find(speech_started_tag) != std::string_view::npos ||
                             text.find(error_tag) != std::string_view::npos;
    if (!interesting) return;
    const Json event = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!event.is_object()) return;
    const auto type = event.value("type", std::string());
    if (type == audio_delta) {
        const auto item = event.find("item_id");
        const auto delta = event.find("delta");
        if (item != event.end() && item->is_string() && delta != event.end() && delta->is_string())
            play_audio(item->get_ref<const std::string&>(), delta->get_ref<const std::string&>());
    } else if (type == speech_started) {
        on_caller_speech();
    } else if (type == error_event) {
        // The session's error texts name fields and codes, never a key.
        const Json& error = event.contains("error") ? event["error"] : event;
        spdlog::warn("twilio: stream {}: session error {}: {}", stream_sid_, error.value("code", std::string("?")),
                     error.value("message", std::string()).substr(0, 200));
    }
}

void TwilioBridge::play_audio(std::string_view item_id, std::string_view payload) {
    if (item_id != playing_item_) {
        playing_item_.assign(item_id);
        sent_bytes_ = 0;
        heard_ms_ = 0;
    }
    to_twilio(twilio::encode_media(stream_sid_, payload));
    sent_bytes_ += decoded_bytes(payload);
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

void TwilioBridge::on_caller_speech() {
    if (marks_.empty() && !unmarked_audio_) return;  // nothing is playing
    // Barge-in (wire-protocols 4.4): Twilio drops what it buffered, and the assistant item
    // is cut to what the caller heard, so the model's history matches the call.
    to_twilio(twilio::encode_clear(stream_sid_));
    marks_.clear();  // the echoes a clear provokes match nothing now
    unmarked_audio_ = false;
    Json truncate = {{"type", "conversation.item.truncate"},
                     {"item_id", playing_item_},
                     {"content_index", 0},
                     {"audio_end_ms", heard_ms_}};
    // Posted: this runs inside the session's own send, which must not be re-entered.
    asio::post(executor_, [weak = weak_from_this(), event = protocol::to_text(truncate)] {
        if (auto self = weak.lock()) self->to_session(event);
    });
}

void TwilioBridge::to_twilio(std::string frame) {
    if (!closed_) twilio_.send_text(std::make_shared<const std::string>(std::move(frame)));
}

void TwilioBridge::to_session(std::string_view event) {
    if (session_ && !closed_) session_->on_text(event);
}

void TwilioBridge::hang_up(std::uint16_t code, std::string_view reason) {
    if (closed_) return;
    if (code != close_normal) spdlog::info("twilio: closing stream {}: {}", stream_sid_, reason);
    closed_ = true;
    twilio_.close(code, reason);
}

void TwilioBridge::close(std::uint16_t code, std::string_view reason) { hang_up(code, reason); }

void TwilioBridge::on_send_queue_high() {
    if (session_) session_->on_send_queue_high();
}

void TwilioBridge::on_send_queue_low() {
    if (session_) session_->on_send_queue_low();
}

void TwilioBridge::on_closed() {
    closed_ = true;
    if (session_) session_->on_closed();
}

std::string TwilioBridge::log_id() const { return session_ ? session_->log_id() : std::string(); }

void TwilioBridge::on_shutdown() {
    if (session_) session_->on_shutdown();
}

}  // namespace voxgate::session
