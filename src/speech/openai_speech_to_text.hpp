#pragma once
// speech_to_text.kind "openai": each committed utterance is posted as a WAV file to an
// OpenAI-compatible POST {base_url}/audio/transcriptions (OpenAI, Groq, whisper.cpp server,
// faster-whisper servers, vLLM) as multipart/form-data: `file`, `model`, `language`,
// `response_format: json`; the reply's `text` is the transcript.
//
// One per shard, on the shard's CurlMulti (the transport the LLM providers use), so the
// request and its reply stay on the session's thread. Bounded: at most `max_pending`
// requests in flight per shard (transcription_busy past it), a reply body of at most
// max_reply_bytes, and a deadline of `timeout` per utterance, all its attempts included.
//
// Resilience (speech/speech_upstream.hpp): a transient failure (connect error, lost
// connection, 408 409 429 5xx 529) is retried, the whole request again, up to
// speech_to_text.max_retries within the deadline; this shard's circuit breaker for the
// service fails utterances at once with transcription_unavailable while it is open.
#include <cstdint>
#include <list>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "speech/speech_to_text.hpp"
#include "speech/speech_upstream.hpp"
#include "voxgate/config.hpp"
#include "voxgate/net.hpp"

namespace voxgate::upstream {
class CurlMulti;
}
namespace voxgate::metrics {
struct ShardMetrics;
}

namespace voxgate::speech {

// The multipart/form-data body of one transcription request. Pure, for tests.
struct MultipartBody {
    std::string content_type;  // multipart/form-data; boundary=...
    std::string body;
};
MultipartBody transcription_request_body(const std::string& wav, const SpeechToTextConfig& config,
                                         std::string_view boundary);
// The transcript in a reply body ({"text": "..."}), or nullopt when the body is not that.
std::optional<std::string> transcript_of_reply(std::string_view body);

class OpenAiSpeechToText final : public SpeechToText {
public:
    static constexpr std::size_t max_reply_bytes = 256 * 1024;

    // `metrics` may be null; `backoff` is the wait between retries (tests shorten it).
    OpenAiSpeechToText(upstream::CurlMulti& multi, const SpeechToTextConfig& config,
                       metrics::ShardMetrics* metrics = nullptr, upstream::resilience::RetryPolicy backoff = {});
    ~OpenAiSpeechToText() override;

    void transcribe(std::vector<std::int16_t> samples, int sample_rate, executor_type executor, Done done) override;

    std::size_t in_flight() const { return requests_.size(); }
    const SpeechUpstream& upstream() const { return upstream_; }

private:
    class Request;
    void finish(Request& request, Transcription result);

    upstream::CurlMulti& multi_;
    const SpeechToTextConfig& config_;
    SpeechUpstream upstream_;                       // before requests_: they use it until they go
    std::list<std::unique_ptr<Request>> requests_;  // in flight; finished ones are freed by post
};

}  // namespace voxgate::speech
