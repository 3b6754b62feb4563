#include "speech/openai_text_to_speech.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "metrics/shard_metrics.hpp"
#include "speech/synthesis_delivery.hpp"
#include "upstream/curl_multi.hpp"
#include "upstream/provider_codec.hpp"
#include "upstream/resilience/provider_guard.hpp"
#include "upstream/redaction.hpp"
#include "upstream/transfer.hpp"

namespace voxgate::speech {

std::string speech_request_body(const TextToSpeechConfig& config, std::string_view text, std::string_view voice) {
    return nlohmann::json{{"model", config.model},
                          {"voice", voice.empty() ? std::string_view(config.voice) : voice},
                          {"input", text},
                          {"response_format", "pcm"}}
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string speech_error_excerpt(std::string_view body, std::string_view api_key) {
    std::string excerpt;
    auto reply = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (reply.is_object() && reply.contains("error") && reply["error"].is_object() &&
        reply["error"].contains("message") && reply["error"]["message"].is_string())
        excerpt = upstream::printable_error_text(reply["error"]["message"].get<std::string>());
    else
        excerpt = upstream::printable_error_text(body);
    upstream::redact_secrets(excerpt, std::span(&api_key, 1));
    return excerpt;
}

constexpr std::string_view circuit_open_message =
    "the text-to-speech service is unavailable: it failed repeatedly, so its circuit breaker is open and "
    "speech fails at once until a probe succeeds (text_to_speech.circuit_breaker.cooldown_ms)";

// One synthesis: its attempts (each an HTTP transfer), the backoff between them, the
// deadline over all of them, and the delivery its audio goes to. The timers' handlers
// capture `this`: complete() and cancel_source() cancel both before the request is freed by
// a task posted after their cancelled handlers, which test `ec` before touching anything.
class OpenAiTextToSpeech::Request final : public upstream::TransferSink, public SynthesisSource {
public:
    Request(OpenAiTextToSpeech& owner, executor_type executor, std::shared_ptr<SynthesisDelivery> delivery,
            upstream::TransferRequest request)
        : owner_(owner),
          attempts_(owner.upstream_),
          request_(std::move(request)),
          deadline_timer_(executor),
          backoff_timer_(executor),
          delivery_(std::move(delivery)) {
        delivery_->attach(this);
    }
    ~Request() { delivery_->detach(); }

    void begin(std::chrono::milliseconds timeout) {
        deadline_ = std::chrono::steady_clock::now() + timeout;
        deadline_timer_.expires_at(deadline_);
        deadline_timer_.async_wait([this](error_code ec) {
            if (ec || finished_) return;
            if (transfer_) {
                transfer_.reset();
                attempts_.count(metrics::StatusCodeCounters::transport_error);
                attempts_.failed(/*provider_fault=*/true);  // too slow is the service's fault
            }
            fail("speech_failed",
                 "the text-to-speech provider did not finish within text_to_speech.timeout_ms" + retries_note());
        });
        start_attempt();
    }

    // TransferSink
    void on_response_start(int status, const upstream::ResponseHeaders& headers) override {
        status_ = status;
        attempts_.count(status);
        retry_after_ = upstream::parse_retry_after(headers.retry_after, headers.retry_after_ms);
    }
    void on_body(std::string_view bytes) override {
        if (finished_) return;
        attempts_.first_byte();
        if (status_ < 200 || status_ > 299) {
            error_body_.append(bytes.substr(0, max_error_bytes - std::min(max_error_bytes, error_body_.size())));
            return;
        }
        if (!bytes.empty() && !audio_delivered_) {
            audio_delivered_ = true;
            attempts_.succeeded();  // the service speaks: a later cut is no reason to open its circuit
        }
        // PCM16 little-endian; a sample split between two pieces waits in carry_.
        std::vector<std::int16_t> samples;
        samples.reserve((bytes.size() + 1) / 2);
        std::size_t at = 0;
        if (has_carry_ && !bytes.empty()) {
            samples.push_back(sample_of(carry_, static_cast<unsigned char>(bytes[0])));
            has_carry_ = false;
            at = 1;
        }
        for (; at + 1 < bytes.size(); at += 2)
            samples.push_back(sample_of(static_cast<unsigned char>(bytes[at]), static_cast<unsigned char>(bytes[at + 1])));
        if (at < bytes.size()) {
            carry_ = static_cast<unsigned char>(bytes[at]);
            has_carry_ = true;
        }
        delivery_->post_audio(std::move(samples));
    }
    void on_complete(error_code ec) override {
        if (finished_) return;
        if (ec) {
            attempts_.count(metrics::StatusCodeCounters::transport_error);
            // curl's detail may name internal hosts: the log has it, the client a generic line.
            spdlog::warn("text-to-speech: request to {}/audio/speech failed: {}", owner_.config_.base_url,
                         upstream::printable_error_text(transfer_->error_detail()));
            const bool transient =
                upstream::resilience::is_transient(upstream::resilience::classify_transport_failure(ec));
            return attempt_failed(transient, transient, "the text-to-speech provider could not be reached");
        }
        if (status_ < 200 || status_ > 299)
            return attempt_failed(upstream::is_retryable_status(status_),
                                  upstream::resilience::is_provider_fault(status_, {}, false),
                                  "the text-to-speech provider answered HTTP " + std::to_string(status_) + ": " +
                                      speech_error_excerpt(error_body_, owner_.config_.api_key));
        attempts_.succeeded();
        complete({});
    }

    // SynthesisSource: the handle's calls.
    void pause_source() override {
        paused_ = true;
        if (transfer_) transfer_->pause();
    }
    void resume_source() override {
        paused_ = false;
        if (transfer_) transfer_->resume();
    }
    void cancel_source() override {
        if (finished_) return;
        finished_ = true;
        attempts_.release();  // a cancel is no verdict on the service
        deadline_timer_.cancel();
        backoff_timer_.cancel();
        transfer_.reset();
        owner_.finish(*this);
    }

private:
    static std::int16_t sample_of(unsigned char low, unsigned char high) {
        return static_cast<std::int16_t>(static_cast<std::uint16_t>(low | (high << 8)));
    }

    void start_attempt() {
        if (!attempts_.admit()) return fail("speech_unavailable", std::string(circuit_open_message));
        status_ = 0;
        error_body_.clear();
        retry_after_.reset();
        const bool last_chance = attempts_.retries_made() >= owner_.config_.resilience.max_retries;
        transfer_.emplace(owner_.multi_, *this);
        if (transfer_->start(last_chance ? std::move(request_) : request_)) {
            transfer_.reset();
            attempts_.failed(/*provider_fault=*/false);
            return fail("speech_failed", "the text-to-speech request could not be started");
        }
        if (paused_) transfer_->pause();
    }

    void attempt_failed(bool transient, bool provider_fault, std::string message) {
        transfer_.reset();
        attempts_.failed(provider_fault);
        const auto decision = attempts_.next_retry({.transient = transient,
                                                    .delivered = audio_delivered_,
                                                    .server_delay = retry_after_,
                                                    .time_left = deadline_ - std::chrono::steady_clock::now()});
        if (decision.verdict == upstream::resilience::RetryVerdict::delivered)
            message += " after its audio had started";
        if (!decision.retry()) return fail("speech_failed", message + retries_note());
        backoff_timer_.expires_after(decision.delay);
        backoff_timer_.async_wait([this](error_code ec) {
            if (ec || finished_) return;
            start_attempt();
        });
    }

    std::string retries_note() const {
        const int retries = attempts_.retries_made();
        if (retries == 0) return {};
        return " (after " + std::to_string(retries) + (retries == 1 ? " retry)" : " retries)");
    }

    void fail(std::string code, std::string message) { complete({std::move(code), std::move(message)}); }
    void complete(SynthesisResult result) {
        if (finished_) return;
        finished_ = true;
        attempts_.release();
        deadline_timer_.cancel();
        backoff_timer_.cancel();
        delivery_->post_done(std::move(result));
        owner_.finish(*this);
    }

    OpenAiTextToSpeech& owner_;
    SpeechAttempts attempts_;
    upstream::TransferRequest request_;           // sent again by a retry
    std::optional<upstream::Transfer> transfer_;  // the attempt in flight
    steady_timer deadline_timer_;
    steady_timer backoff_timer_;
    std::chrono::steady_clock::time_point deadline_{};
    std::shared_ptr<SynthesisDelivery> delivery_;
    int status_ = 0;
    std::optional<std::chrono::milliseconds> retry_after_;
    std::string error_body_;
    unsigned char carry_ = 0;
    bool has_carry_ = false;
    bool audio_delivered_ = false;  // a 2xx body byte went to the delivery: never retried after
    bool paused_ = false;
    bool finished_ = false;
};

OpenAiTextToSpeech::OpenAiTextToSpeech(upstream::CurlMulti& multi, const TextToSpeechConfig& config,
                                       metrics::ShardMetrics* metrics, upstream::resilience::RetryPolicy backoff)
    : multi_(multi),
      config_(config),
      metrics_(metrics),
      upstream_("text_to_speech", config.resilience,
                metrics ? &metrics->speech_upstream(metrics::SpeechService::text_to_speech) : nullptr, backoff) {}

OpenAiTextToSpeech::~OpenAiTextToSpeech() = default;

std::unique_ptr<SynthesisHandle> OpenAiTextToSpeech::synthesize(SynthesisRequest request, executor_type executor,
                                                                SynthesisObserver& observer) {
    auto delivery = std::make_shared<SynthesisDelivery>(executor, observer,
                                                        metrics_ ? &metrics_->tts_first_byte_seconds : nullptr);
    auto handle = std::make_unique<DeliveryHandle>(delivery);
    if (request.text.empty() || request.text.size() > max_text_bytes) {
        delivery->post_done({"speech_failed", request.text.empty() ? "nothing to speak: the text is empty"
                                                                   : "the text to speak is longer than 4096 bytes"});
        return handle;
    }
    if (requests_.size() >= config_.max_pending) {
        if (metrics_) metrics_->tts_busy.inc();
        delivery->post_done({"speech_busy",
                             "speech synthesis is busy (text_to_speech.max_pending requests in flight); try again"});
        return handle;
    }
    if (!config_.api_key_env.empty() && config_.api_key.empty()) {
        delivery->post_done({"speech_failed",
                             "text-to-speech is unavailable: the variable named in text_to_speech.api_key_env is not set"});
        return handle;
    }

    upstream::TransferRequest transfer;
    transfer.url = config_.base_url + "/audio/speech";
    transfer.body = speech_request_body(config_, request.text, request.voice);
    transfer.headers = {{"content-type", "application/json"}, {"accept", "audio/pcm"}};
    if (!config_.api_key.empty()) transfer.headers.emplace_back("authorization", "Bearer " + config_.api_key);
    transfer.ca_file = config_.ca_file;

    // Every outcome, the first attempt's included, is posted by the delivery: never from in here.
    auto& slot = requests_.emplace_back(std::make_unique<Request>(*this, executor, delivery, std::move(transfer)));
    slot->begin(config_.timeout);
    return handle;
}

void OpenAiTextToSpeech::finish(Request& request) {
    // Called from the request's own callbacks (or its handle's cancel): it is freed by a
    // posted task, after the running call has returned.
    auto it = std::find_if(requests_.begin(), requests_.end(), [&](const auto& r) { return r.get() == &request; });
    if (it == requests_.end()) return;
    std::unique_ptr<Request> owned = std::move(*it);
    requests_.erase(it);
    asio::post(multi_.context(), [owned = std::move(owned)] {});
}

}  // namespace voxgate::speech
