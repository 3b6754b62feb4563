#include "session/session_engine.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>
#include <variant>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "metrics/failure_barrier.hpp"
#include "metrics/shard_metrics.hpp"
#include "protocol/ids.hpp"
#include "protocol/random_bytes.hpp"
#include "protocol/response_stream.hpp"
#include "session/resume_failures.hpp"
#include "session/session_registry.hpp"
#include "speech/speech_to_text.hpp"
#include "speech/text_to_speech.hpp"

namespace voxgate::session {

using protocol::ProtocolError;
namespace codes = protocol::codes;

// One response in flight: the upstream stream it observes, the GA event sequence it
// produces, and the timestamps for metrics. Owned by the session; kept alive after
// on_done until a posted task frees it, because the engine may still be on the stack.
class SessionEngine::ActiveResponse final : public upstream::ResponseObserver,
                                              public protocol::ResponseStreamListener,
                                              public SpeechOutputListener {
public:
    ActiveResponse(SessionEngine& session, protocol::ResponseInfo info, bool in_conversation)
        : session_(session), stream(std::move(info), session.events_, *this), in_conversation(in_conversation) {}

    // upstream::ResponseObserver. These arrive from the engine's curl callbacks, timers and
    // posts, not through the connection: each runs behind the session's barrier.
    void on_text_delta(std::string_view text) override {
        session_.contained("response text delta", [&] {
            if (done || text.empty() || !session_.admit_output(*this, text.size())) return;
            ++deltas;
            if (speech) {
                session_.on_first_delta(*this);
                if (session_.context_.metrics) session_.context_.metrics->tokens_streamed.inc();
                speech->add_text(text);  // spoken, and its transcript sent, as the pieces play
                return;
            }
            stream.text_delta(text);
            session_.on_first_delta(*this);
        });
    }
    void on_tool_call_delta(int index, std::string_view call_id, std::string_view name,
                            std::string_view fragment) override {
        session_.contained("response tool call delta", [&] {
            if (done || !session_.admit_output(*this, call_id.size() + name.size() + fragment.size())) return;
            ++deltas;
            stream.tool_call_delta(index, call_id, name, fragment);
            session_.on_first_delta(*this);
        });
    }
    void on_usage(const upstream::Usage& usage) override {
        session_.contained("response usage", [&] {
            stream.set_usage({usage.input_tokens, usage.output_tokens, usage.total_tokens});
            output_tokens = usage.output_tokens > 0 ? static_cast<std::uint64_t>(usage.output_tokens) : 0;
        });
    }
    void on_finish(upstream::FinishReason reason) override { finish_reason = reason; }
    void on_first_content(Clock::time_point arrived_at) override {
        if (first_content_at == Clock::time_point{}) first_content_at = arrived_at;
    }
    void on_done(const upstream::ResponseResult& result) override {
        session_.contained("response done", [&] {
            if (!done) session_.on_response_done(*this, result);
        });
    }

    // protocol::ResponseStreamListener
    void on_output_item_added(const protocol::Item& item) override { session_.on_output_item_added(*this, item); }
    void on_output_item_done(const protocol::Item& item) override { session_.on_output_item_done(*this, item); }
    void on_text_delta_sent(const protocol::Item& item) override { session_.on_text_delta_sent(*this, item); }
    std::string new_item_id() override { return session_.new_item_id(); }

    // SpeechOutputListener: these arrive from TTS tasks posted to the shard.
    void on_speech_text(std::string_view text) override {
        session_.contained("speech text", [&] { session_.on_speech_text(*this, text); });
    }
    void on_speech_audio(std::span<const std::uint8_t> bytes) override {
        session_.contained("speech audio", [&] { session_.on_speech_audio(*this, bytes); });
    }
    void on_speech_done(const speech::SynthesisResult& result) override {
        session_.contained("speech done", [&] { session_.on_speech_done(*this, result); });
    }

private:
    SessionEngine& session_;

public:
    protocol::ResponseStream stream;
    std::unique_ptr<upstream::ResponseHandle> handle;
    std::unique_ptr<SpeechOutput> speech;  // output_modalities ["audio"]; null for text
    // The model finished; the response ends like this once the speech has been sent.
    std::optional<protocol::ResponseEnd> end_after_speech;
    bool audio_sent = false;
    const bool in_conversation;  // false: out-of-band (conversation "none")
    bool done = false;
    std::size_t output_bytes = 0;  // text + tool call bytes so far, for limits.max_response_bytes
    std::uint64_t deltas = 0;         // streamed deltas: the token count when the provider reports no usage
    std::uint64_t output_tokens = 0;  // from the provider's usage, when it reports one
    upstream::FinishReason finish_reason = upstream::FinishReason::none;
    Clock::time_point started_at{};
    Clock::time_point first_content_at{};  // upstream bytes with the first delta arrived
    Clock::time_point first_delta_at{};
};

namespace {

std::string new_conversation_id() {
    std::string id = "conv_";
    protocol::append_random_hex(id, 16);
    return id;
}

using protocol::shortened;

metrics::ResponseStatus metric_status(protocol::ResponseStatus status) {
    switch (status) {
        case protocol::ResponseStatus::cancelled: return metrics::ResponseStatus::cancelled;
        case protocol::ResponseStatus::incomplete: return metrics::ResponseStatus::incomplete;
        case protocol::ResponseStatus::failed: return metrics::ResponseStatus::failed;
        default: return metrics::ResponseStatus::completed;
    }
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

std::string_view incomplete_reason(upstream::FinishReason reason) {
    if (reason == upstream::FinishReason::length) return "max_output_tokens";
    if (reason == upstream::FinishReason::content_filter) return "content_filter";
    return {};
}

}  // namespace

SessionEngine::SessionEngine(SessionEvents& events, const RealtimeContext& context, SessionParams params)
    : events_(events),
      context_(context),
      params_(std::move(params)),
      key_(std::move(params_.key)),
      peer_address_(params_.peer_address),
      session_lease_(std::move(params_.session_lease)) {}

SessionEngine::~SessionEngine() { shut_down(); }

// ---------------------------------------------------------------------------------------
// Connection lifecycle and ownership

void SessionEngine::open() {
    if (state_ != State::created) return;
    state_ = State::waiting;
    if (params_.model.size() > protocol::max_model_name_length) {
        model_too_long_ = true;  // said after session.created; the session keeps its model
        params_.model.clear();
    }
    const bool resumable = context_.sessions.resume_ttl.count() > 0;
    if (!params_.session_id.empty()) {
        auto id = SessionId::parse(params_.session_id);
        if (id && resumable) {
            ownership_ = std::make_shared<Ownership>(context_.executor, owner(), context_.registry, *id, false,
                                                     context_.now);
            Claim claim = claim_conversation(context_.registry, *id, ownership_, context_.now(),
                                             context_.sessions.resume_ttl, key_name());
            if (claim.outcome != ClaimOutcome::not_found && claim.conversation) {
                conversation_ = std::move(claim.conversation);
                resumed_ = true;
                // On handover, the previous connection lets go first; mark_ready comes by post.
                if (claim.outcome == ClaimOutcome::ready) ownership_->mark_ready();
                return;
            }
            ownership_.reset();
        }
        resume_failed_ = true;
        if (context_.metrics) context_.metrics->resumes_failed.inc();
        if (context_.resume_failures) context_.resume_failures->record_failure(peer_address_, context_.now());
    }
    start_new_conversation();
}

void SessionEngine::start_new_conversation() {
    auto conversation = std::make_shared<Conversation>();
    conversation->key_name = key_name();
    conversation->model = params_.model.empty() ? context_.sessions.default_model : params_.model;
    conversation->settings = params_.settings ? params_.settings
                             : context_.preset ? context_.preset
                                               : std::make_shared<const protocol::SessionSettings>(
                                                     protocol::SessionSettings::from_config(context_.sessions));
    conversation->settings_bytes = protocol::stored_bytes(*conversation->settings);
    const bool erase_on_detach = context_.sessions.resume_ttl.count() <= 0;
    do {
        conversation->id = SessionId::random();
        conversation->conversation_id = new_conversation_id();
        ownership_ = std::make_shared<Ownership>(context_.executor, owner(), context_.registry, conversation->id,
                                                 erase_on_detach, context_.now);
        conversation->owner = ownership_;
    } while (!context_.registry.insert(conversation->id, conversation));
    conversation_ = std::move(conversation);
    ownership_->mark_ready();
}

template <class Body>
void SessionEngine::contained(std::string_view where, Body&& body) noexcept {
    metrics::run_contained(
        context_.metrics ? &context_.metrics->internal_errors : nullptr, where, [this] { return log_id(); },
        std::forward<Body>(body), [this] { close(close_code_internal_error, "internal error"); });
}

void SessionEngine::on_conversation_ready() {
    // Runs from a task the conversation's ownership posts, not from the connection.
    contained("session ready", [this] { start_serving(); });
}

void SessionEngine::start_serving() {
    if (state_ != State::waiting) return;
    state_ = State::open;
    if (resumed_) {
        if (!params_.model.empty()) conversation_->model = params_.model;
        if (context_.metrics) context_.metrics->sessions_resumed.inc();
    }
    session_id_ = conversation_->id.str();
    // session.created is always the first server event (docs/wire-protocols.md 1.7).
    events_.session_created(*conversation_);
    if (resume_failed_) {
        reject({}, codes::session_not_found,
               "session '" + shortened(params_.session_id) + "' was not found or has expired; a new session " +
                   session_id_ + " was started",
               "session_id");
    }
    if (model_too_long_) {
        reject({}, codes::invalid_value,
               "the URL's model must be 1 to " + std::to_string(protocol::max_model_name_length) +
                   " characters; the session uses '" + shortened(conversation_->model) + "'",
               "model");
    }
    params_ = {};  // used up
    if (state_ == State::open) events_.session_ready();
}

void SessionEngine::on_conversation_taken() {
    // Runs before the new connection may touch the conversation: the partial text of a
    // cancelled response lands in the history first.
    contained("session taken over", [this] { hand_over(); });
}

void SessionEngine::hand_over() {
    if (response_) cancel_response({});
    if (state_ != State::closed) {
        reject({}, codes::session_taken_over, "another connection resumed this session", "session_id");
        close(close_code_taken_over, "session taken over by another connection");
    }
    conversation_.reset();
}

void SessionEngine::client_gone() {
    client_gone_ = true;
    shut_down();
}

// The drain deadline passed with this response still streaming: it ends incomplete, so
// the client gets a response.done before the 1001 close (its partial text is kept).
void SessionEngine::shut_down_gracefully() {
    if (!response_ || client_gone_) return;
    if (response_->handle) response_->handle->cancel();
    if (response_->speech) response_->speech->stop();
    protocol::ResponseEnd end;
    end.status = protocol::ResponseStatus::incomplete;
    end.reason = "server_shutting_down";
    finish_response(end);
}

void SessionEngine::shut_down() {
    client_gone_ = true;  // the link may be gone: nothing more is sent
    state_ = State::closed;
    if (response_) cancel_response({});
    retired_.clear();
    if (ownership_) ownership_->abandon();
    ownership_.reset();
    conversation_.reset();
    session_lease_.reset();  // the key's session slot is free as soon as the connection is gone
}

void SessionEngine::close(std::uint16_t code, std::string_view reason) {
    if (state_ == State::closed) return;
    state_ = State::closed;
    if (response_) cancel_response({});
    if (!client_gone_) events_.close(code, reason);
}

void SessionEngine::pause_output() {
    sending_paused_ = true;
    if (response_ && response_->handle) response_->handle->pause();
    if (response_ && response_->speech) response_->speech->pause();
}

void SessionEngine::resume_output() {
    sending_paused_ = false;
    if (response_ && response_->handle) response_->handle->resume();
    if (response_ && response_->speech) response_->speech->resume();
}

void SessionEngine::reject(const std::string& event_id, std::string_view code, std::string message,
                             std::string param) {
    ProtocolError error = protocol::invalid_request(code, std::move(message), std::move(param));
    error.event_id = event_id;
    events_.error(error);
}

// ---------------------------------------------------------------------------------------
// Client events

void SessionEngine::handle(protocol::ClientEvent& event) {
    if (state_ != State::open) return;
    const std::string& id = event.event_id;
    std::visit(
        [&](auto& body) {
            using T = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<T, protocol::SessionUpdate>) update_session(id, body);
            else if constexpr (std::is_same_v<T, protocol::ItemCreate>) create_item(id, body);
            else if constexpr (std::is_same_v<T, protocol::ItemDelete>) delete_item(id, body);
            else if constexpr (std::is_same_v<T, protocol::ItemRetrieve>) retrieve_item(id, body);
            else if constexpr (std::is_same_v<T, protocol::ItemTruncate>) truncate_item(id, body);
            else if constexpr (std::is_same_v<T, protocol::ResponseCreate>) create_response(id, body);
            else if constexpr (std::is_same_v<T, protocol::ResponseCancel>) cancel_response_request(id, body);
            else if constexpr (std::is_same_v<T, protocol::AudioAppend>) append_audio(id, body);
            else if constexpr (std::is_same_v<T, protocol::AudioCommit>) commit_audio(id);
            else if constexpr (std::is_same_v<T, protocol::AudioClear>) clear_audio();
            else if constexpr (std::is_same_v<T, protocol::OutputAudioClear>) clear_output_audio(id);
        },
        event.body);
}

void SessionEngine::update_session(const std::string& event_id, protocol::SessionUpdate& update) {
    if (update.patch.model && key_ && !auth::allows_model(*key_, *update.patch.model)) {
        if (context_.metrics) context_.metrics->auth_rejected(metrics::AuthRejection::model_not_allowed);
        // Nothing of the update applies: the session stays as it was.
        return reject(event_id, codes::model_not_allowed,
                      "key '" + key_->name + "' may not use model '" + shortened(*update.patch.model) + "'",
                      "session.model");
    }
    if (update.patch.output && !admit_output_modality(event_id, *update.patch.output, "session.output_modalities"))
        return;  // nothing of the update applies
    auto settings = std::make_shared<protocol::SessionSettings>(*conversation_->settings);
    protocol::apply_patch(*settings, update.patch);
    const std::size_t settings_bytes = protocol::stored_bytes(*settings);
    if (settings_bytes > context_.limits.max_conversation_bytes) {
        if (context_.metrics) context_.metrics->conversation_too_large.inc();
        return reject(event_id, codes::conversation_too_large,
                      "instructions and tools take " + std::to_string(settings_bytes) +
                          " bytes, more than the conversation may store (" +
                          std::to_string(context_.limits.max_conversation_bytes) + "); the session is unchanged",
                      "session");
    }
    conversation_->settings = std::move(settings);
    conversation_->settings_bytes = settings_bytes;
    if (update.patch.model) conversation_->model = std::move(*update.patch.model);
    // Buffered audio was in the old format or cut by the old detector: it goes with them.
    if (const auto input = update.patch.audio.find("input");
        input != update.patch.audio.end() && (input->contains("format") || input->contains("turn_detection"))) {
        if (voice_) {
            voice_->input.reset();
            voice_->speech_item_id.clear();
        }
    }
    events_.session_updated(*conversation_);
    evict_history();  // larger settings leave less room for items
}

std::string SessionEngine::new_item_id() const {
    std::string id = protocol::new_item_id();
    // Random ids cannot be predicted, but a client may still have picked any id itself.
    while (conversation_ && conversation_->index_of(id)) id = protocol::new_item_id();
    return id;
}

void SessionEngine::evict_history() {
    const std::size_t max_chars = stored_history_factor * context_.sessions.max_history_chars;
    const auto evicted =
        conversation_->evict_oldest(max_chars, context_.limits.max_conversation_bytes, max_stored_items);
    if (context_.metrics) context_.metrics->conversation_items_evicted.inc(evicted.size());
    for (const auto& id : evicted) events_.item_deleted(id);
}

void SessionEngine::create_item(const std::string& event_id, protocol::ItemCreate& create) {
    protocol::Item& item = create.item;
    if (!item.id.empty() && conversation_->index_of(item.id))
        return reject(event_id, codes::duplicate_item_id, "an item with id '" + item.id + "' already exists", "item.id");
    if (create.previous_item_id && *create.previous_item_id != "root" &&
        !conversation_->index_of(*create.previous_item_id))
        return reject(event_id, codes::item_not_found,
                      "previous_item_id '" + shortened(*create.previous_item_id) + "' does not exist",
                      "previous_item_id");
    if (const std::size_t bytes = item.stored_bytes() + 2 * protocol::max_item_id_length;
        bytes + conversation_->settings_bytes > context_.limits.max_conversation_bytes) {
        if (context_.metrics) context_.metrics->conversation_too_large.inc();
        return reject(event_id, codes::conversation_too_large,
                      "the item needs " + std::to_string(bytes) + " bytes; with the session's settings that is more than the conversation may store (" +
                          std::to_string(context_.limits.max_conversation_bytes) + ")",
                      "item");
    }
    // Barge-in: the user speaks (types) over the answer; stop it the way VAD would.
    const bool user_turn = item.type == protocol::ItemType::message && item.role == protocol::Role::user;
    if (user_turn && context_.sessions.barge_in && response_ && response_->in_conversation)
        cancel_response("turn_detected");
    if (item.id.empty()) item.id = new_item_id();
    item.status = protocol::ItemStatus::completed;

    const std::size_t index = conversation_->insert(std::move(item), create.previous_item_id);
    const protocol::Item& added = conversation_->items()[index];
    const auto previous = conversation_->previous_id(index);
    events_.item_added(added, previous);
    events_.item_done(added, previous);
    evict_history();
}

void SessionEngine::delete_item(const std::string& event_id, const protocol::ItemDelete& request) {
    auto index = conversation_->index_of(request.item_id);
    if (!index)
        return reject(event_id, codes::item_not_found, "item '" + shortened(request.item_id) + "' does not exist",
                      "item_id");
    if (conversation_->items()[*index].status == protocol::ItemStatus::in_progress)
        return reject(event_id, codes::item_in_progress,
                      "item '" + request.item_id + "' is still being streamed; cancel the response first", "item_id");
    conversation_->erase(request.item_id);
    events_.item_deleted(request.item_id);
}

void SessionEngine::retrieve_item(const std::string& event_id, const protocol::ItemRetrieve& request) {
    const protocol::Item* item = conversation_->find(request.item_id);
    if (!item)
        return reject(event_id, codes::item_not_found, "item '" + shortened(request.item_id) + "' does not exist",
                      "item_id");
    events_.item_retrieved(*item);
}

// conversation.item.truncate on text (see protocol::ItemTruncate): the kept prefix is
// `text_end` code points when given; otherwise the text whose delta frames voxgate had
// written to the socket when the truncate arrived. Only the item streamed last can still
// have undelivered text; for any other item nothing is cut.
void SessionEngine::truncate_item(const std::string& event_id, const protocol::ItemTruncate& request) {
    const auto index = conversation_->index_of(request.item_id);
    if (!index)
        return reject(event_id, codes::item_not_found, "item '" + shortened(request.item_id) + "' does not exist",
                      "item_id");
    const protocol::Item* item = &conversation_->items()[*index];
    if (item->type != protocol::ItemType::message || item->role != protocol::Role::assistant)
        return reject(event_id, codes::invalid_value, "only assistant message items can be truncated", "item_id");
    if (item->status == protocol::ItemStatus::in_progress)
        return reject(event_id, codes::item_in_progress,
                      "item '" + request.item_id + "' is still being streamed; cancel the response first", "item_id");
    if (static_cast<std::size_t>(request.content_index) >= item->content.size())
        return reject(event_id, codes::invalid_value, "content_index is past the item's content", "content_index");
    const std::string& text = item->content[static_cast<std::size_t>(request.content_index)].text;
    std::size_t keep = text.size();
    if (request.text_end) {
        const auto code_points = static_cast<std::size_t>(*request.text_end);
        if (code_points > protocol::utf8_length(text))
            return reject(event_id, codes::invalid_value, "text_end is past the end of the text", "text_end");
        keep = protocol::utf8_prefix_bytes(text, code_points);
    } else if (item->content[static_cast<std::size_t>(request.content_index)].type == protocol::ContentType::output_audio) {
        // A spoken item: keep what the listener heard by audio_end_ms (known for the item spoken last).
        if (voice_ && voice_->spoken_item_id == request.item_id) {
            if (request.audio_end_ms > voice_->spoken.length_ms())
                return reject(event_id, codes::invalid_value,
                              "audio_end_ms " + std::to_string(request.audio_end_ms) + " is past the end of the item's audio (" +
                                  std::to_string(voice_->spoken.length_ms()) + " ms)",
                              "audio_end_ms");
            keep = voice_->spoken.heard_bytes(text, request.audio_end_ms);
        }
    } else if (auto delivered = delivery_.delivered(request.item_id, events_.bytes_written())) {
        keep = std::min(keep, *delivered);
    }
    conversation_->cut_text(*index, static_cast<std::size_t>(request.content_index), keep);
    events_.item_truncated(request.item_id, request.content_index, request.audio_end_ms);
}

// ---------------------------------------------------------------------------------------
// Responses

void SessionEngine::create_response(const std::string& event_id, protocol::ResponseCreate& request) {
    if (context_.refusing_new_work && context_.refusing_new_work->load(std::memory_order_relaxed)) {
        ProtocolError error;
        error.type = "server_error";
        error.code = codes::server_shutting_down;
        error.message = "the server is shutting down and starts no new responses; reconnect to continue";
        error.event_id = event_id;
        return events_.error(error);
    }
    if (response_)
        return reject(event_id, codes::conversation_already_has_active_response,
                      "conversation already has an active response " + response_->stream.id());
    if (voice_ && voice_->transcriptions_pending > 0 && !request.response.input) {
        if (voice_->deferred_response)
            return reject(event_id, codes::conversation_already_has_active_response,
                          "a response.create already waits for the transcript of the committed audio");
        voice_->deferred_response =
            std::make_unique<protocol::ClientEvent>(protocol::ClientEvent{event_id, std::move(request)});
        return;
    }
    protocol::ResponseParams& params = request.response;
    const protocol::SessionSettings& settings = *conversation_->settings;
    protocol::OutputModality output = params.output.value_or(settings.output);
    if (params.output && !admit_output_modality(event_id, output, "response.output_modalities")) return;
    // A session set to audio before text_to_speech went away (resumed on a gateway restarted
    // without it) is answered in text rather than not at all.
    if (!context_.text_to_speech) output = protocol::OutputModality::text;
    if (!admit_response_for_key(event_id)) return;

    // The model sees either the conversation or, when `input` is given, those items alone.
    std::vector<protocol::Item> input_items;
    if (params.input) {
        for (std::size_t i = 0; i < params.input->size(); ++i) {
            auto& entry = (*params.input)[i];
            if (auto* item = std::get_if<protocol::Item>(&entry)) {
                input_items.push_back(std::move(*item));
                continue;
            }
            const auto& reference = std::get<protocol::ItemReference>(entry);
            const protocol::Item* referenced = conversation_->find(reference.id);
            if (!referenced)
                return reject(event_id, codes::item_not_found,
                              "item '" + shortened(reference.id) + "' does not exist",
                              protocol::indexed("response.input", i) + ".id");
            input_items.push_back(*referenced);
        }
    }
    const std::span<const protocol::Item> history =
        params.input ? std::span<const protocol::Item>(input_items) : std::span<const protocol::Item>(conversation_->items());

    upstream::ChatRequest chat;
    chat.instructions = params.instructions ? std::move(*params.instructions) : settings.instructions;
    chat.messages = chat_history(history, context_.sessions.max_history_chars);
    chat.tools = params.tools ? std::move(*params.tools) : settings.tools;
    if (!chat.tools.empty()) chat.tool_choice = params.tool_choice ? std::move(*params.tool_choice) : settings.tool_choice;
    chat.temperature = params.temperature ? *params.temperature : settings.temperature;
    const protocol::TokenLimit limit = params.max_output_tokens.value_or(settings.max_output_tokens);
    chat.max_output_tokens = limit.tokens;

    retired_.clear();  // not inside an engine callback here: safe to free finished responses
    protocol::ResponseInfo info{protocol::new_response_id(), params.out_of_band ? std::string() : conversation_->conversation_id,
                                limit, std::move(params.metadata), output};
    response_ = std::make_unique<ActiveResponse>(*this, std::move(info), !params.out_of_band);
    ActiveResponse* response = response_.get();
    if (output == protocol::OutputModality::audio)
        response->speech = std::make_unique<SpeechOutput>(*context_.text_to_speech, context_.executor,
                                                          protocol::output_audio_format(settings),
                                                          protocol::output_voice(settings), *response,
                                                          context_.speech_piece_chars);
    response->started_at = context_.now();
    if (context_.metrics) context_.metrics->responses_active.add();
    response->stream.begin();
    send_rate_limits();

    auto handle = context_.responses.start(conversation_->model, std::move(chat), *response);
    if (response->done) return;  // finished inside start(); the handle is dropped here, outside its callbacks
    if (!handle) {
        upstream::ResponseResult failure;
        failure.outcome = upstream::Outcome::failed;
        failure.error_type = "server_error";
        failure.error_code = "no_upstream";
        failure.error_message = "no upstream provider could take the request";
        return on_response_done(*response, failure);
    }
    response->handle = std::move(handle);
    if (sending_paused_) {
        response->handle->pause();
        if (response->speech) response->speech->pause();
    }
}

std::string SessionEngine::key_name() const { return key_ ? key_->name : std::string(); }

bool SessionEngine::admit_response_for_key(const std::string& event_id) {
    if (!key_) return true;
    auto refused = key_->usage->admit_response(key_->limits, context_.now());
    if (!refused) return true;
    const bool tokens = *refused == auth::KeyUsage::Limit::tokens_per_minute;
    if (context_.metrics)
        context_.metrics->rate_limit_hit(tokens ? metrics::KeyLimit::tokens_per_minute
                                                : metrics::KeyLimit::responses_per_minute);
    // Refused before any upstream request: no response.created, nothing is billed.
    ProtocolError error = protocol::invalid_request(
        codes::rate_limit_exceeded,
        tokens ? "key '" + key_->name + "' used its " + std::to_string(key_->limits.tokens_per_minute) +
                     " output tokens per minute (limits.tokens_per_minute); try again later"
               : "key '" + key_->name + "' reached " + std::to_string(key_->limits.responses_per_minute) +
                     " responses per minute (limits.responses_per_minute); try again later");
    error.type = "rate_limit_error";
    error.event_id = event_id;
    events_.error(error);
    send_rate_limits();
    return false;
}

// rate_limits.updated, as OpenAI sends it at the start of each response, for the limits
// the key has.
void SessionEngine::send_rate_limits() {
    if (!key_) return;
    auto limits = key_->usage->rate_limits(key_->limits, context_.now());
    if (!limits.empty()) events_.rate_limits_updated(limits);
}

void SessionEngine::cancel_response_request(const std::string& event_id, const protocol::ResponseCancel& request) {
    if (!response_ || (!request.response_id.empty() && request.response_id != response_->stream.id())) {
        const std::string what = request.response_id.empty() ? "no response" : "response '" + shortened(request.response_id) + "'";
        return reject(event_id, codes::response_cancel_not_active, what + " is not in progress",
                      request.response_id.empty() ? "" : "response_id");
    }
    cancel_response("client_cancelled");
}

// ---------------------------------------------------------------------------------------
// Input audio

SessionEngine::VoiceTurns& SessionEngine::voice() {
    if (!voice_) voice_ = std::make_unique<VoiceTurns>();
    return *voice_;
}

AudioInput& SessionEngine::audio_input() {
    std::unique_ptr<AudioInput>& input = voice().input;
    if (!input) {
        const auto& settings = *conversation_->settings;
        const auto detection = protocol::turn_detection(settings);
        input = std::make_unique<AudioInput>(
            protocol::input_audio_format(settings),
            detection ? std::optional<audio::VadSettings>(detection->vad) : std::nullopt,
            context_.limits.max_input_audio_seconds);
    }
    return *input;
}

void SessionEngine::append_audio(const std::string& event_id, const protocol::AudioAppend& append) {
    AudioInput& input = audio_input();
    std::vector<audio::VadEvent> turns;
    switch (input.append(append.audio, turns)) {
        case AudioInput::Refusal::none:
            if (context_.metrics) context_.metrics->input_audio_ms.inc(append.audio.size() * 1000 / input.format().bytes_per_second());
            break;
        case AudioInput::Refusal::partial_sample:
            return reject(event_id, codes::invalid_audio,
                          "'audio' holds " + std::to_string(append.audio.size()) +
                              " bytes: audio/pcm is 16-bit samples, so an even number of bytes",
                          "audio");
        case AudioInput::Refusal::buffer_full:
            if (context_.metrics) context_.metrics->input_audio_buffer_full.inc();
            return reject(event_id, codes::input_audio_buffer_full,
                          "the input audio buffer holds " + std::to_string(input.buffered_ms()) +
                              " ms; at most " + std::to_string(context_.limits.max_input_audio_seconds.count()) +
                              " s may wait for a commit (limits.max_input_audio_seconds); this audio was dropped",
                          "audio");
    }
    for (const auto& turn : turns) {
        if (state_ != State::open) return;
        if (turn.kind == audio::VadEvent::Kind::speech_started) on_speech_started(turn.audio_ms);
        else on_speech_stopped(turn.audio_ms);
    }
}

void SessionEngine::on_speech_started(std::int64_t audio_start_ms) {
    VoiceTurns& turns = voice();
    turns.speech_item_id = new_item_id();
    events_.speech_started(audio_start_ms, turns.speech_item_id);
    // Barge-in: the user speaks over the answer.
    const auto detection = protocol::turn_detection(*conversation_->settings);
    if (detection && detection->interrupt_response && context_.sessions.barge_in && response_ &&
        response_->in_conversation)
        cancel_response("turn_detected");
}

void SessionEngine::on_speech_stopped(std::int64_t audio_end_ms) {
    VoiceTurns& turns = voice();
    std::string item_id = turns.speech_item_id.empty() ? new_item_id() : std::exchange(turns.speech_item_id, {});
    turns.speech_stopped_at = context_.now();
    events_.speech_stopped(audio_end_ms, item_id);
    const auto detection = protocol::turn_detection(*conversation_->settings);
    commit_utterance(audio_input().take_until(audio_end_ms), std::move(item_id),
                     detection && detection->create_response);
}

void SessionEngine::commit_audio(const std::string& event_id) {
    VoiceTurns& turns = voice();
    const std::int64_t buffered = turns.input ? turns.input->buffered_ms() : 0;
    if (buffered < AudioInput::min_commit_ms)
        return reject(event_id, codes::input_audio_buffer_commit_empty,
                      "the input audio buffer holds " + std::to_string(buffered) + " ms of audio; a commit needs at least " +
                          std::to_string(AudioInput::min_commit_ms) + " ms");
    std::string item_id = turns.speech_item_id.empty() ? new_item_id() : std::exchange(turns.speech_item_id, {});
    commit_utterance(audio_input().take_all(), std::move(item_id), false);
}

void SessionEngine::clear_audio() {
    VoiceTurns& turns = voice();
    if (turns.input) turns.input->clear();
    turns.speech_item_id.clear();
    events_.audio_cleared();
}

void SessionEngine::commit_utterance(std::vector<std::int16_t> samples, std::string item_id, bool respond) {
    if (context_.metrics) context_.metrics->input_audio_committed.inc();
    protocol::Item item;
    item.id = item_id;
    item.type = protocol::ItemType::message;
    item.role = protocol::Role::user;
    item.status = protocol::ItemStatus::completed;
    item.content.push_back({protocol::ContentType::input_audio, {}});  // the transcript comes later
    const std::size_t index = conversation_->insert(std::move(item));
    const auto previous = conversation_->previous_id(index);
    events_.audio_committed(previous, item_id);
    events_.item_added(conversation_->items()[index], previous);
    events_.item_done(conversation_->items()[index], previous);
    evict_history();

    const int sample_rate = audio_input().format().sample_rate;
    if (!context_.speech_to_text) {
        speech::Transcription off{{}, "transcription_unavailable",
                                  "speech-to-text is off (speech_to_text.kind is none): the audio was not transcribed"};
        return on_transcription(item_id, respond, off);
    }
    ++voice().transcriptions_pending;
    // The result comes back by post; the session may be gone by then.
    context_.speech_to_text->transcribe(
        std::move(samples), sample_rate, context_.executor,
        [weak = weak_from_this(), item_id, respond, committed_at = context_.now()](speech::Transcription result) {
            auto self = weak.lock();
            if (!self) return;
            self->contained("transcription", [&] {
                if (auto* metrics = self->context_.metrics)
                    metrics->stt_seconds.observe(seconds_between(committed_at, self->context_.now()));
                --self->voice().transcriptions_pending;
                if (self->state_ == State::open && self->conversation_) self->on_transcription(item_id, respond, result);
            });
        });
}

void SessionEngine::on_transcription(const std::string& item_id, bool respond, speech::Transcription& result) {
    bool item_kept = conversation_->index_of(item_id).has_value();  // false: deleted (or evicted) meanwhile
    if (!result.ok()) {
        if (context_.metrics) context_.metrics->transcriptions_failed.inc();
        ProtocolError error;
        error.type = "server_error";
        error.code = result.error_code;
        error.message = result.error;
        events_.transcription_failed(item_id, 0, error);
        respond = false;  // the model would not hear the turn
    } else {
        if (context_.metrics) context_.metrics->transcriptions_completed.inc();
        item_kept = conversation_->set_transcript(item_id, result.transcript);
        events_.transcription_completed(item_id, 0, result.transcript);
        evict_history();
        // Nothing recognised (noise, a cough): no turn for the model to answer.
        if (result.transcript.empty()) respond = false;
    }
    if (voice().transcriptions_pending > 0) return;
    if (voice().deferred_response) {
        auto deferred = std::move(voice().deferred_response);
        create_response(deferred->event_id, std::get<protocol::ResponseCreate>(deferred->body));
        return;
    }
    if (respond && item_kept && !response_) {
        protocol::ResponseCreate create;
        create_response({}, create);
    }
}

void SessionEngine::clear_output_audio(const std::string& event_id) {
    (void)event_id;  // nothing to refuse: with no reply being spoken there is nothing to clear
    std::string response_id;
    if (response_ && response_->speech) {
        response_id = response_->stream.id();
        cancel_response("client_cancelled");
    }
    events_.output_audio_cleared(response_id);
}

bool SessionEngine::admit_output_modality(const std::string& event_id, protocol::OutputModality output,
                                            std::string param) {
    if (output == protocol::OutputModality::text || context_.text_to_speech) return true;
    reject(event_id, codes::unsupported_modality,
           "this gateway does not speak (text_to_speech.kind is none): '" + param + "' must be [\"text\"]",
           std::move(param));
    return false;
}

void SessionEngine::cancel_response(std::string_view reason) {
    if (!response_) return;
    if (response_->handle) response_->handle->cancel();  // no callback after this
    if (response_->speech) response_->speech->stop();    // the item keeps what was spoken
    protocol::ResponseEnd end;
    end.status = protocol::ResponseStatus::cancelled;
    end.reason = reason;
    finish_response(end);
}

void SessionEngine::on_response_done(ActiveResponse& response, const upstream::ResponseResult& result) {
    if (&response != response_.get()) return;
    const upstream::FinishReason finish =
        result.finish_reason != upstream::FinishReason::none ? result.finish_reason : response.finish_reason;
    protocol::ResponseEnd end;
    switch (result.outcome) {
        case upstream::Outcome::completed:
            end.reason = incomplete_reason(finish);
            end.status = end.reason.empty() ? protocol::ResponseStatus::completed : protocol::ResponseStatus::incomplete;
            break;
        case upstream::Outcome::incomplete:
            end.status = protocol::ResponseStatus::incomplete;
            end.reason = incomplete_reason(finish);
            break;
        case upstream::Outcome::cancelled: end.status = protocol::ResponseStatus::cancelled; break;
        case upstream::Outcome::failed:
            end.status = protocol::ResponseStatus::failed;
            end.error_type = result.error_type.empty() ? "server_error" : result.error_type;
            end.error_code = result.error_code.empty() ? std::string(codes::upstream_error) : result.error_code;
            break;
    }
    // What went wrong goes to the log; the client gets the source's generic message only.
    if (!result.error_detail.empty()) {
        // log_id(): the full session id is the resume credential.
        spdlog::warn("session {}: response {} failed: {}", log_id(), response.stream.id(), result.error_detail);
    }
    // A failure (or a stream cut short with an error) is also told as an `error` event.
    if (end.status == protocol::ResponseStatus::failed || !result.error_message.empty()) {
        ProtocolError error;
        error.type = result.error_type.empty() ? "server_error" : result.error_type;
        error.code = result.error_code.empty() ? std::string(codes::upstream_error) : result.error_code;
        error.message = result.error_message.empty() ? "the upstream model failed" : result.error_message;
        events_.error(error);
    }
    // A spoken reply ends when its last piece has been sent; a failed one stops at once.
    if (response.speech && (end.status == protocol::ResponseStatus::completed ||
                            end.status == protocol::ResponseStatus::incomplete)) {
        response.end_after_speech = end;
        response.speech->finish();  // may call on_speech_done at once (nothing left to say)
        return;
    }
    if (response.speech) response.speech->stop();
    finish_response(end);
}

void SessionEngine::on_speech_text(ActiveResponse& response, std::string_view text) {
    if (&response != response_.get() || response.done) return;
    response.stream.audio_transcript(text);
}

void SessionEngine::on_speech_audio(ActiveResponse& response, std::span<const std::uint8_t> bytes) {
    if (&response != response_.get() || response.done) return;
    response.stream.audio(bytes);
    if (auto* metrics = context_.metrics) {
        metrics->output_audio_ms.inc(bytes.size() * 1000 / response.speech->format().bytes_per_second());
        if (!response.audio_sent && voice_ && voice_->speech_stopped_at != Clock::time_point{})
            metrics->time_to_first_audio_seconds.observe(seconds_between(voice_->speech_stopped_at, context_.now()));
    }
    if (!response.audio_sent && voice_) voice_->speech_stopped_at = {};
    response.audio_sent = true;
}

void SessionEngine::on_speech_done(ActiveResponse& response, const speech::SynthesisResult& result) {
    if (&response != response_.get() || response.done) return;
    if (!result.ok()) {
        if (context_.metrics) context_.metrics->speech_failed.inc();
        if (response.handle) response.handle->cancel();
        ProtocolError error;
        error.type = "server_error";
        error.code = result.error_code;
        error.message = result.error;
        events_.error(error);
        protocol::ResponseEnd end;
        end.status = protocol::ResponseStatus::failed;
        end.error_type = "server_error";
        end.error_code = result.error_code;
        return finish_response(end);
    }
    if (response.end_after_speech) finish_response(*response.end_after_speech);
}

void SessionEngine::finish_response(const protocol::ResponseEnd& end) {
    ActiveResponse& response = *response_;
    response.done = true;
    if (response.speech && end.status != protocol::ResponseStatus::completed) {
        // Cut short: the history keeps what the audio sent can have said, not the whole piece.
        const SpeechOutput& speech = *response.speech;
        response.stream.keep_transcript(speech.timeline().heard_bytes(speech.transcript(), speech.sent_ms()));
    }
    response.stream.end(end);  // closing events; the listener callbacks update the history
    if (response.speech && response.in_conversation) {
        // What truncation by audio_end_ms needs once the response is over.
        VoiceTurns& turns = voice();
        turns.spoken_item_id.clear();
        for (const auto& item : response.stream.output())
            if (item.type == protocol::ItemType::message) turns.spoken_item_id = item.id;
        turns.spoken = response.speech->timeline();
    }
    if (key_) key_->usage->charge_tokens(key_->limits, std::max(response.output_tokens, response.deltas), context_.now());
    if (auto* metrics = context_.metrics) {
        metrics->responses_active.sub();
        metrics->response_done(metric_status(end.status));
        metrics->response_duration_seconds.observe(seconds_between(response.started_at, context_.now()));
    }
    retire_response();
}

// The finished response may be on the engine's call stack (on_done): it is freed from a
// posted task, never here.
void SessionEngine::retire_response() {
    retired_.push_back(std::move(response_));
    if (cleanup_posted_) return;
    auto self = weak_from_this();
    if (self.expired()) return;  // not shared-owned: freed at the next response or at the end
    cleanup_posted_ = true;
    asio::post(context_.executor, [self] {
        if (auto session = self.lock()) {
            session->cleanup_posted_ = false;
            session->retired_.clear();
        }
    });
}

void SessionEngine::on_first_delta(ActiveResponse& response) {
    if (response.first_delta_at != Clock::time_point{}) return;
    response.first_delta_at = context_.now();
    if (auto* metrics = context_.metrics) {
        metrics->response_first_token_seconds.observe(seconds_between(response.started_at, response.first_delta_at));
        if (response.first_content_at != Clock::time_point{})
            metrics->gateway_overhead_seconds.observe(
                seconds_between(response.first_content_at, response.first_delta_at));
    }
}

void SessionEngine::on_output_item_added(ActiveResponse& response, const protocol::Item& item) {
    if (!response.in_conversation || !conversation_) return;
    const std::size_t index = conversation_->insert(item);
    events_.item_added(item, conversation_->previous_id(index));
    if (item.type == protocol::ItemType::message) delivery_.start(item.id);
    evict_history();
}

void SessionEngine::on_text_delta_sent(ActiveResponse& response, const protocol::Item& item) {
    if (context_.metrics) context_.metrics->tokens_streamed.inc();
    if (response.in_conversation && item.id == delivery_.item_id())
        delivery_.record(events_.bytes_queued(), item.content.front().text.size(), events_.bytes_written());
}

void SessionEngine::on_output_item_done(ActiveResponse& response, const protocol::Item& item) {
    if (!response.in_conversation || !conversation_) return;
    auto index = conversation_->replace(item);
    if (!index) return;  // evicted meanwhile
    events_.item_done(item, conversation_->previous_id(*index));
    evict_history();  // the item grew while it streamed
}

// limits.max_response_bytes: a response that would grow past it is cut here. The
// upstream is cancelled (allowed from inside its callback) and the client gets the usual
// closing events with status incomplete, so a prompt reader is never dropped for it.
bool SessionEngine::admit_output(ActiveResponse& response, std::size_t bytes) {
    if (response.output_bytes + bytes <= context_.limits.max_response_bytes) {
        response.output_bytes += bytes;
        return true;
    }
    if (&response != response_.get()) return false;
    if (context_.metrics) context_.metrics->responses_size_limited.inc();
    if (response.handle) response.handle->cancel();
    if (response.speech) response.speech->stop();
    protocol::ResponseEnd end;
    end.status = protocol::ResponseStatus::incomplete;
    end.reason = "max_output_tokens";
    finish_response(end);
    return false;
}

}  // namespace voxgate::session
