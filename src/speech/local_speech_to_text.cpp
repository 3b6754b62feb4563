#include "speech/local_speech_to_text.hpp"

#include <exception>
#include <utility>

#include <boost/asio/post.hpp>

#include "audio/resampler.hpp"

namespace voxgate::speech {

LocalSpeechToText::LocalSpeechToText(asio::thread_pool& pool, std::string model_dir, std::size_t max_pending)
    : pool_(pool), model_dir_(std::move(model_dir)), max_pending_(max_pending) {}

void LocalSpeechToText::transcribe(std::vector<std::int16_t> samples, int sample_rate, executor_type executor,
                                   Done done) {
    if (pending_.fetch_add(1, std::memory_order_relaxed) >= max_pending_) {
        pending_.fetch_sub(1, std::memory_order_relaxed);
        Transcription busy{{}, "transcription_busy",
                           "speech recognition is busy (speech_to_text.max_pending utterances waiting); try again"};
        asio::post(executor, [done = std::move(done), busy = std::move(busy)]() mutable { done(std::move(busy)); });
        return;
    }
    asio::post(pool_, [this, samples = std::move(samples), sample_rate, executor, done = std::move(done)]() mutable {
        Transcription result = recognize(samples, sample_rate);
        samples = {};
        pending_.fetch_sub(1, std::memory_order_relaxed);
        asio::post(executor, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
    });
}

Transcription LocalSpeechToText::recognize(const std::vector<std::int16_t>& samples, int sample_rate) {
    try {
        auto recognizer = borrow();
        const auto rate = PocketsphinxRecognizer::sample_rate;
        std::string text = sample_rate == rate ? recognizer->recognize(samples)
                                               : recognizer->recognize(audio::resample(samples, sample_rate, rate));
        give_back(std::move(recognizer));
        return {std::move(text), {}, {}};
    } catch (const std::exception& failure) {
        return {{}, "transcription_failed", std::string("local speech recognition failed: ") + failure.what()};
    }
}

std::unique_ptr<PocketsphinxRecognizer> LocalSpeechToText::borrow() {
    {
        std::lock_guard lock(idle_mutex_);
        if (!idle_.empty()) {
            auto recognizer = std::move(idle_.back());
            idle_.pop_back();
            return recognizer;
        }
    }
    // Loaded outside the lock: the first utterance on each compute thread pays for it.
    return std::make_unique<PocketsphinxRecognizer>(model_dir_);
}

void LocalSpeechToText::give_back(std::unique_ptr<PocketsphinxRecognizer> recognizer) {
    std::lock_guard lock(idle_mutex_);
    idle_.push_back(std::move(recognizer));
}

}  // namespace voxgate::speech
