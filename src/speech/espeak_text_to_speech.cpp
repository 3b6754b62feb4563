#include "speech/espeak_text_to_speech.hpp"

#include <exception>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>

#include "metrics/shard_metrics.hpp"
#include "speech/synthesis_delivery.hpp"

namespace voxgate::speech {
namespace {

// About 100 ms per chunk: espeak-ng's buffers are that or smaller, and smaller ones are joined.
constexpr std::size_t chunk_samples = EspeakSynthesizer::sample_rate / 10;

}  // namespace

EspeakEngine::EspeakEngine(asio::thread_pool& pool, const TextToSpeechConfig& config)
    : pool_(pool),
      synthesizer_({.data_dir = config.data_dir, .rate_wpm = config.rate_wpm}),
      default_voice_(config.voice),
      max_pending_(config.max_pending) {}

void EspeakEngine::run(const std::shared_ptr<SynthesisDelivery>& delivery, const SynthesisRequest& request) {
    SynthesisResult result;
    if (!delivery->abandoned()) {  // cancelled while it waited in the queue: nothing to do
        try {
            std::vector<std::int16_t> chunk;
            chunk.reserve(chunk_samples);
            const std::string& voice = request.voice.empty() ? default_voice_ : request.voice;
            synthesizer_.speak(request.text, voice, default_voice_, [&](std::span<const std::int16_t> samples) {
                if (delivery->abandoned()) return false;
                chunk.insert(chunk.end(), samples.begin(), samples.end());
                if (chunk.size() >= chunk_samples) {
                    delivery->post_audio(std::move(chunk));
                    chunk = {};
                    chunk.reserve(chunk_samples);
                }
                return true;
            });
            delivery->post_audio(std::move(chunk));
        } catch (const std::exception& failure) {
            result = {"speech_failed", std::string("local speech synthesis failed: ") + failure.what()};
        }
    }
    pending_.fetch_sub(1, std::memory_order_relaxed);
    delivery->post_done(std::move(result));
}

std::unique_ptr<SynthesisHandle> EspeakTextToSpeech::synthesize(SynthesisRequest request, executor_type executor,
                                                                SynthesisObserver& observer) {
    auto delivery = std::make_shared<SynthesisDelivery>(executor, observer,
                                                        metrics_ ? &metrics_->tts_first_byte_seconds : nullptr);
    auto handle = std::make_unique<DeliveryHandle>(delivery);
    if (request.text.empty() || request.text.size() > EspeakEngine::max_text_bytes) {
        delivery->post_done({"speech_failed", request.text.empty()
                                                  ? "nothing to speak: the text is empty"
                                                  : "the text to speak is longer than 4096 bytes"});
        return handle;
    }
    if (engine_.pending_.fetch_add(1, std::memory_order_relaxed) >= engine_.max_pending_) {
        engine_.pending_.fetch_sub(1, std::memory_order_relaxed);
        if (metrics_) metrics_->tts_busy.inc();
        delivery->post_done({"speech_busy",
                             "speech synthesis is busy (text_to_speech.max_pending syntheses waiting); try again"});
        return handle;
    }
    asio::post(engine_.pool_, [&engine = engine_, delivery = std::move(delivery), request = std::move(request)] {
        engine.run(delivery, request);
    });
    return handle;
}

}  // namespace voxgate::speech
