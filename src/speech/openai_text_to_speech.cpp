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

// One synthesis: the HTTP transfer, its deadline, and the delivery its audio goes to.
class OpenAiTextToSpeech::Request final : public upstream::TransferSink, public SynthesisSource {
public:
    Request(OpenAiTextToSpeech& owner, executor_type executor, std::shared_ptr<SynthesisDelivery> delivery)
        : owner_(owner), transfer_(owner.multi_, *this), timer_(executor), delivery_(std::move(delivery)) {
        delivery_->attach(this);
    }
    ~Request() { delivery_->detach(); }

    error_code start(upstream::TransferRequest request, std::chrono::milliseconds timeout) {
        if (auto ec = transfer_.start(std::move(request))) return ec;
        timer_.expires_after(timeout);
        // Cancelled (and so called with an error, which it checks first) before the request is freed.
        timer_.async_wait([this](error_code ec) {
            if (ec || finished_) return;
            transfer_.cancel();
            fail("speech_failed", "the text-to-speech provider did not finish within text_to_speech.timeout_ms");
        });
        return {};
    }

    // TransferSink
    void on_response_start(int status, const upstream::ResponseHeaders&) override { status_ = status; }
    void on_body(std::string_view bytes) override {
        if (finished_) return;
        if (status_ < 200 || status_ > 299) {
            error_body_.append(bytes.substr(0, max_error_bytes - std::min(max_error_bytes, error_body_.size())));
            return;
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
            // curl's detail may name internal hosts: the log has it, the client a generic line.
            spdlog::warn("text-to-speech: request to {}/audio/speech failed: {}", owner_.config_.base_url,
                         upstream::printable_error_text(transfer_.error_detail()));
            return fail("speech_failed", "the text-to-speech provider could not be reached");
        }
        if (status_ < 200 || status_ > 299)
            return fail("speech_failed", "the text-to-speech provider answered HTTP " + std::to_string(status_) +
                                             ": " + speech_error_excerpt(error_body_, owner_.config_.api_key));
        complete({});
    }

    // SynthesisSource: the handle's calls.
    void pause_source() override { transfer_.pause(); }
    void resume_source() override { transfer_.resume(); }
    void cancel_source() override {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        transfer_.cancel();
        owner_.finish(*this);
    }

private:
    static std::int16_t sample_of(unsigned char low, unsigned char high) {
        return static_cast<std::int16_t>(static_cast<std::uint16_t>(low | (high << 8)));
    }
    void fail(std::string code, std::string message) { complete({std::move(code), std::move(message)}); }
    void complete(SynthesisResult result) {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        delivery_->post_done(std::move(result));
        owner_.finish(*this);
    }

    OpenAiTextToSpeech& owner_;
    upstream::Transfer transfer_;
    steady_timer timer_;
    std::shared_ptr<SynthesisDelivery> delivery_;
    int status_ = 0;
    std::string error_body_;
    unsigned char carry_ = 0;
    bool has_carry_ = false;
    bool finished_ = false;
};

OpenAiTextToSpeech::OpenAiTextToSpeech(upstream::CurlMulti& multi, const TextToSpeechConfig& config,
                                       metrics::ShardMetrics* metrics)
    : multi_(multi), config_(config), metrics_(metrics) {}

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

    auto& slot = requests_.emplace_back(std::make_unique<Request>(*this, executor, delivery));
    if (slot->start(std::move(transfer), config_.timeout)) {
        requests_.pop_back();
        delivery->post_done({"speech_failed", "the text-to-speech request could not be started"});
    }
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
