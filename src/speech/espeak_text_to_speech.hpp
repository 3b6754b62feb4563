#pragma once
// text_to_speech.kind "espeak": synthesis on the compute pool, never on a shard thread,
// with espeak-ng (EspeakSynthesizer: opened on first use, one per process, serialised).
// Audio reaches the session in chunks of about 100 ms as espeak-ng makes them, so the first
// chunk comes after the first clause, not after the whole text.
//
// Bounded: at most text_to_speech.max_pending syntheses queued or running gateway-wide
// (EspeakEngine); past it a synthesis ends at once with `speech_busy`. A voice espeak-ng
// does not have (a client's "alloy") falls back to text_to_speech.voice, so OpenAI voice
// names work; only when that voice is missing too does a synthesis fail (`speech_failed`).
// While paused, synthesis goes on and its chunks are held: at most one text's audio,
// which max_text_bytes bounds.
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/thread_pool.hpp>

#include "speech/espeak_synthesizer.hpp"
#include "speech/text_to_speech.hpp"
#include "voxgate/config.hpp"

namespace voxgate::metrics {
struct ShardMetrics;
}

namespace voxgate::speech {

class SynthesisDelivery;

// What every shard's EspeakTextToSpeech shares: the compute pool, the one espeak-ng and the
// gateway-wide bound. Outlives the pool's tasks (declared before the pool in the gateway).
class EspeakEngine {
public:
    // A longer text fails with speech_failed (OpenAI's /audio/speech takes 4096 characters too).
    static constexpr std::size_t max_text_bytes = 4096;

    EspeakEngine(asio::thread_pool& pool, const TextToSpeechConfig& config);

    std::size_t pending() const { return pending_.load(std::memory_order_relaxed); }

private:
    friend class EspeakTextToSpeech;
    void run(const std::shared_ptr<SynthesisDelivery>& delivery, const SynthesisRequest& request);  // pool

    asio::thread_pool& pool_;
    const EspeakSynthesizer synthesizer_;
    const std::string default_voice_;
    const std::size_t max_pending_;
    std::atomic<std::size_t> pending_{0};
};

// One per shard, so busy refusals and first-audio latency count in that shard's metrics.
class EspeakTextToSpeech final : public TextToSpeech {
public:
    EspeakTextToSpeech(EspeakEngine& engine, metrics::ShardMetrics* metrics) : engine_(engine), metrics_(metrics) {}

    int sample_rate() const override { return EspeakSynthesizer::sample_rate; }
    std::unique_ptr<SynthesisHandle> synthesize(SynthesisRequest request, executor_type executor,
                                                SynthesisObserver& observer) override;

private:
    EspeakEngine& engine_;
    metrics::ShardMetrics* metrics_;
};

}  // namespace voxgate::speech
