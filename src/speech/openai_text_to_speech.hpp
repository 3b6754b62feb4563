#pragma once
// text_to_speech.kind "openai": each text is posted to an OpenAI-compatible
// POST {base_url}/audio/speech as {model, voice, input, response_format: "pcm"} and the
// reply body (PCM16 LE, 24 kHz mono) is streamed to the session as it arrives.
//
// One per shard, on the shard's CurlMulti (the transport the LLM providers use), so the
// request and its audio stay on the session's thread. pause() pauses the transfer (curl
// stops reading; TCP slows the server), cancel removes it. Bounded: at most
// text_to_speech.max_pending requests in flight per shard (speech_busy past it), a deadline
// of text_to_speech.timeout_ms per request (request to last byte, pauses included), and
// max_error_bytes kept of an error reply. Every other failure (HTTP error, transport,
// deadline, unset key variable) is speech_failed, its message naming the cause
// (docs/protocol.md's error table).
//
// Resilience (speech/speech_upstream.hpp): a transient failure (connect error, lost
// connection, 408 409 429 5xx 529) is retried up to text_to_speech.max_retries within the
// deadline, but only while no audio byte has been delivered: after that a retry would
// repeat audio the listener already has, so the synthesis fails. This shard's circuit
// breaker for the service fails syntheses at once with speech_unavailable while it is open.
#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "speech/speech_upstream.hpp"
#include "speech/text_to_speech.hpp"
#include "voxgate/config.hpp"
#include "voxgate/net.hpp"

namespace voxgate::upstream {
class CurlMulti;
}
namespace voxgate::metrics {
struct ShardMetrics;
}

namespace voxgate::speech {

// The JSON body of one /audio/speech request. Pure, for tests.
std::string speech_request_body(const TextToSpeechConfig& config, std::string_view text, std::string_view voice);
// A short, printable, key-free excerpt of an error reply: its error.message when it is
// OpenAI's error JSON, else the start of the body.
std::string speech_error_excerpt(std::string_view body, std::string_view api_key);

class OpenAiTextToSpeech final : public TextToSpeech {
public:
    static constexpr int pcm_sample_rate = 24000;      // what response_format "pcm" is
    static constexpr std::size_t max_text_bytes = 4096;  // OpenAI's input limit (characters)
    static constexpr std::size_t max_error_bytes = 4096;

    // `metrics` may be null; `backoff` is the wait between retries (tests shorten it).
    OpenAiTextToSpeech(upstream::CurlMulti& multi, const TextToSpeechConfig& config, metrics::ShardMetrics* metrics,
                       upstream::resilience::RetryPolicy backoff = {});
    ~OpenAiTextToSpeech() override;

    int sample_rate() const override { return pcm_sample_rate; }
    std::unique_ptr<SynthesisHandle> synthesize(SynthesisRequest request, executor_type executor,
                                                SynthesisObserver& observer) override;

    std::size_t in_flight() const { return requests_.size(); }
    const SpeechUpstream& upstream() const { return upstream_; }

private:
    class Request;
    void finish(Request& request);  // frees it after the current callback returns

    upstream::CurlMulti& multi_;
    const TextToSpeechConfig& config_;
    metrics::ShardMetrics* metrics_;
    SpeechUpstream upstream_;                       // before requests_: they use it until they go
    std::list<std::unique_ptr<Request>> requests_;  // in flight
};

}  // namespace voxgate::speech
