#pragma once
// One synthesis's hand-over to its session, shared by both text-to-speech providers.
// Audio made anywhere (a compute thread, a curl callback) is posted to the session's shard
// and handed to the observer there, in order, unless the handle was cancelled or dropped;
// while paused it is held until resume(). The observer is only ever called from tasks
// posted to the shard, never from inside synthesize(), pause(), resume() or cancel().
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "speech/text_to_speech.hpp"
#include "voxgate/net.hpp"

namespace voxgate::metrics {
class Histogram;
}

namespace voxgate::speech {

// What makes the audio, when it can be slowed or stopped (an HTTP transfer). Called on the
// shard only, from the handle's calls.
class SynthesisSource {
public:
    virtual void pause_source() = 0;
    virtual void resume_source() = 0;
    virtual void cancel_source() = 0;  // the source detaches itself and makes no further post

protected:
    ~SynthesisSource() = default;
};

class SynthesisDelivery : public std::enable_shared_from_this<SynthesisDelivery> {
public:
    // `first_byte` (may be null) observes synthesize() -> first audio on the shard.
    SynthesisDelivery(executor_type executor, SynthesisObserver& observer, metrics::Histogram* first_byte);

    // Any thread. The last call for a synthesis is post_done.
    void post_audio(std::vector<std::int16_t> samples);
    void post_done(SynthesisResult result);
    // Any thread: true once the session cancelled or dropped the handle, so a producer can stop early.
    bool abandoned() const noexcept { return abandoned_.load(std::memory_order_relaxed); }

    // Shard only: the handle's calls.
    void cancel() noexcept;
    void pause();
    void resume();
    void attach(SynthesisSource* source) noexcept { source_ = source; }
    void detach() noexcept { source_ = nullptr; }

private:
    void on_audio(std::vector<std::int16_t> samples);
    void on_done(SynthesisResult result);
    void flush();

    const executor_type executor_;
    SynthesisObserver& observer_;
    metrics::Histogram* const first_byte_;
    const std::chrono::steady_clock::time_point started_;
    std::atomic<bool> abandoned_{false};
    // The rest is the shard's.
    SynthesisSource* source_ = nullptr;
    bool paused_ = false;
    bool flush_posted_ = false;
    bool first_audio_seen_ = false;
    bool done_delivered_ = false;
    std::vector<std::vector<std::int16_t>> held_;  // arrived while paused (or before a flush)
    std::optional<SynthesisResult> held_done_;
};

// The handle sessions hold: every call goes to the delivery; destruction cancels.
class DeliveryHandle final : public SynthesisHandle {
public:
    explicit DeliveryHandle(std::shared_ptr<SynthesisDelivery> delivery) : delivery_(std::move(delivery)) {}
    ~DeliveryHandle() override { delivery_->cancel(); }
    void cancel() override { delivery_->cancel(); }
    void pause() override { delivery_->pause(); }
    void resume() override { delivery_->resume(); }

private:
    std::shared_ptr<SynthesisDelivery> delivery_;
};

}  // namespace voxgate::speech
