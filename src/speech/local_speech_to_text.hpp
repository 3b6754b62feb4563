#pragma once
// speech_to_text.kind "pocketsphinx": recognition on the compute pool, never on a shard
// thread. Decoders are loaded on first use (start-up and idle memory stay as they were
// for text-only deployments) and reused: at most one per compute thread.
//
// Bounded: at most `max_pending` utterances queued or being recognised gateway-wide; past
// it a commit fails at once with `transcription_busy`.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "speech/pocketsphinx_recognizer.hpp"
#include "speech/speech_to_text.hpp"

namespace voxgate::speech {

class LocalSpeechToText final : public SpeechToText {
public:
    LocalSpeechToText(asio::thread_pool& pool, std::string model_dir, std::size_t max_pending);

    void transcribe(std::vector<std::int16_t> samples, int sample_rate, executor_type executor, Done done) override;

    std::size_t pending() const { return pending_.load(std::memory_order_relaxed); }

private:
    Transcription recognize(const std::vector<std::int16_t>& samples, int sample_rate);  // on a pool thread
    std::unique_ptr<PocketsphinxRecognizer> borrow();
    void give_back(std::unique_ptr<PocketsphinxRecognizer> recognizer);

    asio::thread_pool& pool_;
    const std::string model_dir_;
    const std::size_t max_pending_;
    std::atomic<std::size_t> pending_{0};
    std::mutex idle_mutex_;  // guards idle_ only: never held while recognising
    std::vector<std::unique_ptr<PocketsphinxRecognizer>> idle_;
};

}  // namespace voxgate::speech
