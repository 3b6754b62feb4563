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
#include "upstream/redaction.hpp"
#include "upstream/transfer.hpp"

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

// One transcription: the HTTP transfer, its deadline and where the result goes.
class OpenAiSpeechToText::Request final : public upstream::TransferSink {
public:
    Request(OpenAiSpeechToText& owner, executor_type executor, Done done)
        : owner_(owner), transfer_(owner.multi_, *this), timer_(executor), executor_(executor), done_(std::move(done)) {}

    error_code start(upstream::TransferRequest request, std::chrono::milliseconds timeout) {
        timer_.expires_after(timeout);
        timer_.async_wait([this](error_code ec) {
            if (ec || finished_) return;
            transfer_.cancel();
            fail("transcription_failed", "the speech-to-text provider did not answer within speech_to_text.timeout_ms");
        });
        return transfer_.start(std::move(request));
    }

    void on_response_start(int status, const upstream::ResponseHeaders&) override { status_ = status; }
    void on_body(std::string_view bytes) override {
        if (body_.size() + bytes.size() > max_reply_bytes) {
            transfer_.cancel();
            return fail("transcription_failed", "the speech-to-text provider's reply is larger than 256 KiB");
        }
        body_.append(bytes);
    }
    void on_complete(error_code ec) override {
        if (finished_) return;
        if (ec) return fail("transcription_failed", "the speech-to-text provider could not be reached (" +
                                                        upstream::printable_error_text(transfer_.error_detail()) + ")");
        if (status_ != 200) {
            std::string detail = upstream::printable_error_text(body_);
            const std::string_view key = owner_.config_.api_key;
            upstream::redact_secrets(detail, std::span(&key, 1));
            return fail("transcription_failed",
                        "the speech-to-text provider answered HTTP " + std::to_string(status_) + ": " + detail);
        }
        auto transcript = transcript_of_reply(body_);
        if (!transcript) return fail("transcription_failed", "the speech-to-text provider's reply has no \"text\"");
        complete({std::move(*transcript), {}, {}});
    }

    Done& done() { return done_; }
    executor_type executor() const { return executor_; }

private:
    void fail(std::string code, std::string message) { complete({{}, std::move(code), std::move(message)}); }
    void complete(Transcription result) {
        if (finished_) return;
        finished_ = true;
        timer_.cancel();
        owner_.finish(*this, std::move(result));
    }

    OpenAiSpeechToText& owner_;
    upstream::Transfer transfer_;
    asio::steady_timer timer_;
    executor_type executor_;
    Done done_;
    int status_ = 0;
    std::string body_;
    bool finished_ = false;
};

OpenAiSpeechToText::OpenAiSpeechToText(upstream::CurlMulti& multi, const SpeechToTextConfig& config)
    : multi_(multi), config_(config) {}

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

    auto& slot = requests_.emplace_back(std::make_unique<Request>(*this, executor, std::move(done)));
    Request& started = *slot;
    if (auto ec = started.start(std::move(request), config_.timeout)) {
        Done failed = std::move(started.done());
        requests_.pop_back();
        asio::post(executor, [failed = std::move(failed)]() mutable {
            failed({{}, "transcription_failed", "the speech-to-text request could not be started"});
        });
    }
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
