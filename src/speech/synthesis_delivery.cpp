#include "speech/synthesis_delivery.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include <boost/asio/post.hpp>

#include "metrics/shard_metrics.hpp"

namespace voxgate::speech {

SynthesisDelivery::SynthesisDelivery(executor_type executor, SynthesisObserver& observer,
                                     metrics::Histogram* first_byte)
    : executor_(executor), observer_(observer), first_byte_(first_byte), started_(std::chrono::steady_clock::now()) {}

void SynthesisDelivery::post_audio(std::vector<std::int16_t> samples) {
    if (samples.empty()) return;
    asio::post(executor_, [self = shared_from_this(), samples = std::move(samples)]() mutable {
        self->on_audio(std::move(samples));
    });
}

void SynthesisDelivery::post_done(SynthesisResult result) {
    asio::post(executor_, [self = shared_from_this(), result = std::move(result)]() mutable {
        self->on_done(std::move(result));
    });
}

void SynthesisDelivery::cancel() noexcept {
    abandoned_.store(true, std::memory_order_relaxed);
    held_.clear();
    held_done_.reset();
    if (auto* source = std::exchange(source_, nullptr)) source->cancel_source();
}

void SynthesisDelivery::pause() {
    if (abandoned() || paused_) return;
    paused_ = true;
    if (source_) source_->pause_source();
}

void SynthesisDelivery::resume() {
    if (abandoned() || !paused_) return;
    paused_ = false;
    if (source_) source_->resume_source();
    // What was held goes out from a task of its own: never from inside the session's call.
    if ((!held_.empty() || held_done_) && !flush_posted_) {
        flush_posted_ = true;
        asio::post(executor_, [self = shared_from_this()] {
            self->flush_posted_ = false;
            self->flush();
        });
    }
}

void SynthesisDelivery::on_audio(std::vector<std::int16_t> samples) {
    if (abandoned()) return;
    if (!first_audio_seen_) {
        first_audio_seen_ = true;
        if (first_byte_)
            first_byte_->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    }
    // Behind held audio even when resumed: the flush task that delivers it has not run yet.
    if (paused_ || !held_.empty()) {
        held_.push_back(std::move(samples));
        return;
    }
    observer_.on_audio(samples);
}

void SynthesisDelivery::on_done(SynthesisResult result) {
    if (abandoned() || done_delivered_) return;
    if (paused_ || !held_.empty()) {
        held_done_ = std::move(result);
        return;
    }
    done_delivered_ = true;
    observer_.on_done(result);
}

void SynthesisDelivery::flush() {
    // The observer may pause or cancel from inside on_audio: look again after every call.
    // (A cancel clears held_, so the index check below stops the loop.)
    std::size_t next = 0;
    while (!abandoned() && !paused_ && next < held_.size()) {
        auto samples = std::move(held_[next++]);
        observer_.on_audio(samples);
    }
    if (abandoned()) return;
    held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(std::min(next, held_.size())));
    if (paused_ || !held_.empty() || !held_done_) return;
    auto result = std::move(*held_done_);
    held_done_.reset();
    done_delivered_ = true;
    observer_.on_done(result);
}

}  // namespace voxgate::speech
