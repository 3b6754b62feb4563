#include "speech/openai_speech_to_text.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "audio/wav.hpp"
#include "protocol/random_bytes.hpp"
#include "upstream/curl_multi.hpp"
#include "upstream/provider_codec.hpp"
#include "upstream/resilience/provider_guard.hpp"
#include "upstream/redaction.hpp"
#include "upstream/transfer.hpp"
#include "metrics/shard_metrics.hpp"

namespace voxgate::speech {

MultipartBody transcription_request_body(const std::string& wav, const SpeechToTextConfig& config,
                                         std::string_view boundary) {
    MultipartBody out;
    out.content_type = "multipart/form-data; boundary=" + std::string(boundary);
    auto field = [&](std::string_view name, std::string_view value) {
        out.body += "--";
        out.body += boundary;
        out.body += "\r\nContent-Disposition: form-data; name=\"";
        out.body += name;
        out.body += "\"\r\n\r\n";
        out.body += value;
        out.body += "\r\n";
    };
    out.body.reserve(wav.size() + 512);
    out.body += "--";
    out.body += boundary;
    out.body += "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"audio.wav\"\r\n"
                "Content-Type: audio/wav\r\n\r\n";
    out.body += wav;
    out.body += "\r\n";
    field("model", config.model);
    if (!config.language.empty()) field("language", config.language);
    field("response_format", "json");
    out.body += "--";
    out.body += boundary;
    out.body += "--\r\n";
    return out;
}

std::optional<std::string> transcript_of_reply(std::string_view body) {
    auto reply = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!reply.is_object()) return std::nullopt;
    auto text = reply.find("text");
    if (text == reply.end() || !text->is_string()) return std::nullopt;
    return upstream::printable_error_text(text->get<std::string>(), 64 * 1024);
}

// The message of an utterance refused by the open circuit: what happened and when it ends.
constexpr std::string_view circuit_open_message =
    "the speech-to-text service is unavailable: it failed repeatedly, so its circuit breaker is open and "
    "utterances fail at once until a probe succeeds (speech_to_text.circuit_breaker.cooldown_ms)";

// One transcription: its attempts (each an HTTP transfer), the backoff between them, the
// deadline over all of them, and where the result goes. The timers' handlers capture `this`:
// complete() cancels both before the request is freed by a task posted after their
// cancelled handlers, which test `ec` before touching anything.
class OpenAiSpeechToText::Request final : public upstream::TransferSink {
public:
    Request(OpenAiSpeechToText& owner, executor_type executor, Done done, upstream::TransferRequest request)
        : owner_(owner),
          attempts_(owner.upstream_),
          request_(std::move(request)),
          deadline_timer_(executor),
          backoff_timer_(executor),
          executor_(executor),
          done_(std::move(done)) {}

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
            fail("transcription_failed",
                 "the speech-to-text provider did not answer within speech_to_text.timeout_ms" + retries_note());
        });
        start_attempt();
    }

    void on_response_start(int status, const upstream::ResponseHeaders& headers) override {
        status_ = status;
        attempts_.count(status);
        retry_after_ = upstream::parse_retry_after(headers.retry_after, headers.retry_after_ms);
    }
    void on_body(std::string_view bytes) override {
        attempts_.first_byte();
        if (body_.size() + bytes.size() > max_reply_bytes) {
            transfer_.reset();
            attempts_.failed(/*provider_fault=*/false);
            return fail("transcription_failed", "the speech-to-text provider's reply is larger than 256 KiB");
        }
        body_.append(bytes);
    }
    void on_complete(error_code ec) override {
        if (finished_) return;
        if (ec) {
            attempts_.count(metrics::StatusCodeCounters::transport_error);
            const auto failure = upstream::resilience::classify_transport_failure(ec);
            return attempt_failed(upstream::resilience::is_transient(failure), upstream::resilience::is_transient(failure),
                                  "the speech-to-text provider could not be reached (" +
                                      upstream::printable_error_text(transfer_->error_detail()) + ")");
        }
        if (status_ != 200) {
            std::string detail = upstream::printable_error_text(body_);
            const std::string_view key = owner_.config_.api_key;
            upstream::redact_secrets(detail, std::span(&key, 1));
            return attempt_failed(upstream::is_retryable_status(status_),
                                  upstream::resilience::is_provider_fault(status_, {}, false),
                                  "the speech-to-text provider answered HTTP " + std::to_string(status_) + ": " + detail);
        }
        auto transcript = transcript_of_reply(body_);
        if (!transcript) {
            attempts_.failed(/*provider_fault=*/false);
            return fail("transcription_failed", "the speech-to-text provider's reply has no \"text\"");
        }
        attempts_.succeeded();
        complete({std::move(*transcript), {}, {}});
    }

    Done& done() { return done_; }
    executor_type executor() const { return executor_; }

private:
    void start_attempt() {
        if (!attempts_.admit()) return fail("transcription_unavailable", std::string(circuit_open_message));
        status_ = 0;
        body_.clear();
        retry_after_.reset();
        // Each attempt sends the same request; the last one possible may take it.
        const bool last_chance = attempts_.retries_made() >= owner_.config_.resilience.max_retries;
        transfer_.emplace(owner_.multi_, *this);
        if (transfer_->start(last_chance ? std::move(request_) : request_)) {
            transfer_.reset();
            attempts_.failed(/*provider_fault=*/false);
            fail("transcription_failed", "the speech-to-text request could not be started");
        }
    }

    void attempt_failed(bool transient, bool provider_fault, std::string message) {
        transfer_.reset();
        attempts_.failed(provider_fault);
        const auto decision = attempts_.next_retry(
            {.transient = transient, .server_delay = retry_after_, .time_left = deadline_ - std::chrono::steady_clock::now()});
        if (!decision.retry()) return fail("transcription_failed", message + retries_note());
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

    void fail(std::string code, std::string message) { complete({{}, std::move(code), std::move(message)}); }
    void complete(Transcription result) {
        if (finished_) return;
        finished_ = true;
        attempts_.release();
        deadline_timer_.cancel();
        backoff_timer_.cancel();
        owner_.finish(*this, std::move(result));
    }

    OpenAiSpeechToText& owner_;
    SpeechAttempts attempts_;
    upstream::TransferRequest request_;  // sent again by a retry
    std::optional<upstream::Transfer> transfer_;  // the attempt in flight
    asio::steady_timer deadline_timer_;
    asio::steady_timer backoff_timer_;
    std::chrono::steady_clock::time_point deadline_{};
    executor_type executor_;
    Done done_;
    int status_ = 0;
    std::optional<std::chrono::milliseconds> retry_after_;
    std::string body_;
    bool finished_ = false;
};

OpenAiSpeechToText::OpenAiSpeechToText(upstream::CurlMulti& multi, const SpeechToTextConfig& config,
                                       metrics::ShardMetrics* metrics, upstream::resilience::RetryPolicy backoff)
    : multi_(multi),
      config_(config),
      upstream_("speech_to_text", config.resilience,
                metrics ? &metrics->speech_upstream(metrics::SpeechService::speech_to_text) : nullptr, backoff) {}

OpenAiSpeechToText::~OpenAiSpeechToText() = default;

void OpenAiSpeechToText::transcribe(std::vector<std::int16_t> samples, int sample_rate, executor_type executor,
                                    Done done) {
    auto reply = [&](Transcription result) {
        asio::post(executor, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    };
    if (requests_.size() >= config_.max_pending)
        return reply({{}, "transcription_busy",
                      "speech recognition is busy (speech_to_text.max_pending requests in flight); try again"});
    if (!config_.api_key_env.empty() && config_.api_key.empty())
        return reply({{}, "transcription_unavailable",
                      "speech-to-text is unavailable: the variable named in speech_to_text.api_key_env is not set"});

    // The WAV goes at the input's own rate: transcription servers resample themselves.
    std::string boundary = "voxgate-";
    protocol::append_random_hex(boundary, 12);
    auto body = transcription_request_body(audio::encode_wav(samples, sample_rate), config_, boundary);
    upstream::TransferRequest request;
    request.url = config_.base_url + "/audio/transcriptions";
    request.body = std::move(body.body);
    request.headers = {{"content-type", body.content_type}, {"accept", "application/json"}};
    if (!config_.api_key.empty()) request.headers.emplace_back("authorization", "Bearer " + config_.api_key);
    request.ca_file = config_.ca_file;

    // Every outcome, the first attempt's included, is posted by finish(): never from in here.
    auto& slot = requests_.emplace_back(std::make_unique<Request>(*this, executor, std::move(done), std::move(request)));
    slot->begin(config_.timeout);
}

void OpenAiSpeechToText::finish(Request& request, Transcription result) {
    // Called from the request's own callbacks: answer by post, free the request after.
    auto it = std::find_if(requests_.begin(), requests_.end(), [&](const auto& r) { return r.get() == &request; });
    if (it == requests_.end()) return;
    std::unique_ptr<Request> owned = std::move(*it);
    requests_.erase(it);
    const executor_type executor = owned->executor();
    asio::post(executor, [owned = std::move(owned), result = std::move(result)]() mutable {
        Done done = std::move(owned->done());
        owned.reset();
        done(std::move(result));
    });
}

}  // namespace voxgate::speech
