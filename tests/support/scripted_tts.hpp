#pragma once
// A TextToSpeech the test drives by hand: each synthesize() is recorded, and the test
// delivers its audio and its end through the recorded observer, in whatever order and
// timing the case needs (the real providers are tested against espeak-ng and the mock).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "speech/text_to_speech.hpp"

namespace voxgate::test {

class ScriptedTts final : public speech::TextToSpeech {
public:
    struct Log {
        bool cancelled = false;
        bool destroyed = false;
        int pauses = 0;
        int resumes = 0;
    };
    struct Call {
        speech::SynthesisRequest request;
        speech::SynthesisObserver* observer;
        std::shared_ptr<Log> log;
    };

    explicit ScriptedTts(int rate = 24000) : rate_(rate) {}

    int sample_rate() const override { return rate_; }
    std::unique_ptr<speech::SynthesisHandle> synthesize(speech::SynthesisRequest request, executor_type,
                                                        speech::SynthesisObserver& observer) override {
        calls.push_back({std::move(request), &observer, std::make_shared<Log>()});
        return std::make_unique<Handle>(calls.back().log);
    }

    // Delivers `ms` of a constant, non-silent signal for call `i`, then (optionally) its end.
    void speak(std::size_t i, int ms, bool end = true) {
        std::vector<std::int16_t> samples(static_cast<std::size_t>(rate_ / 1000 * ms), 1000);
        calls.at(i).observer->on_audio(samples);
        if (end) calls.at(i).observer->on_done({});
    }
    void fail(std::size_t i, std::string code) { calls.at(i).observer->on_done({std::move(code), "synthesis failed"}); }

    std::vector<Call> calls;

private:
    class Handle final : public speech::SynthesisHandle {
    public:
        explicit Handle(std::shared_ptr<Log> log) : log_(std::move(log)) {}
        ~Handle() override { log_->destroyed = true; }
        void cancel() override { log_->cancelled = true; }
        void pause() override { ++log_->pauses; }
        void resume() override { ++log_->resumes; }

    private:
        std::shared_ptr<Log> log_;
    };
    int rate_;
};

}  // namespace voxgate::test
