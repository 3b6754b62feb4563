#include "audio/voice_activity_detector.hpp"

#include <algorithm>
#include <cmath>

namespace voxgate::audio {

namespace {

constexpr double floor_margin_db = 9;
constexpr double hold_margin_db = 6;
constexpr double busy_hold_margin_db = 12;
constexpr double busy_zero_crossing_rate = 0.25;

}  // namespace

double level_dbfs(std::span<const std::int16_t> samples) {
    if (samples.empty()) return -100;
    double sum = 0;
    for (auto s : samples) sum += static_cast<double>(s) * s;
    double rms = std::sqrt(sum / static_cast<double>(samples.size())) / 32768.0;
    return rms <= 1e-5 ? -100 : 20 * std::log10(rms);
}

double zero_crossing_rate(std::span<const std::int16_t> samples) {
    if (samples.size() < 2) return 0;
    std::size_t crossings = 0;
    for (std::size_t i = 1; i < samples.size(); ++i)
        if ((samples[i - 1] < 0) != (samples[i] < 0)) ++crossings;
    return static_cast<double>(crossings) / static_cast<double>(samples.size() - 1);
}

VoiceActivityDetector::VoiceActivityDetector(VadSettings settings, int sample_rate)
    : settings_(settings),
      sample_rate_(sample_rate),
      frame_samples_(static_cast<std::size_t>(sample_rate / (1000 / frame_ms))),
      start_level_db_(-60 + 50 * std::clamp(settings.threshold, 0.0, 1.0)) {
    frame_.reserve(frame_samples_);
}

std::int64_t VoiceActivityDetector::position_ms() const {
    return frames_done_ * frame_ms + static_cast<std::int64_t>(frame_.size()) * 1000 / sample_rate_;
}

void VoiceActivityDetector::reset() {
    in_speech_ = false;
    loud_run_ = 0;
    silent_frames_ = 0;
    frames_done_ += frame_.empty() ? 0 : 1;  // the partial frame's time still passed
    frame_.clear();
}

void VoiceActivityDetector::feed(std::span<const std::int16_t> samples, std::vector<VadEvent>& events) {
    while (!samples.empty()) {
        std::size_t take = std::min(samples.size(), frame_samples_ - frame_.size());
        frame_.insert(frame_.end(), samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(take));
        samples = samples.subspan(take);
        if (frame_.size() == frame_samples_) {
            on_frame(events);
            frame_.clear();
            ++frames_done_;
        }
    }
}

void VoiceActivityDetector::on_frame(std::vector<VadEvent>& events) {
    double level = level_dbfs(frame_);
    double start_level = std::max(start_level_db_, noise_floor_db_ + floor_margin_db);
    std::int64_t frame_end_ms = (frames_done_ + 1) * frame_ms;
    if (!in_speech_) {
        if (level >= start_level) {
            if (++loud_run_ >= onset_frames) {
                in_speech_ = true;
                silent_frames_ = 0;
                std::int64_t onset_ms = (frames_done_ + 1 - onset_frames) * frame_ms;
                events.push_back({VadEvent::Kind::speech_started, std::max<std::int64_t>(0, onset_ms - settings_.prefix_padding_ms)});
            }
        } else {
            loud_run_ = 0;
            // The floor follows quiet frames: down at once, up slowly (0.5 dB per frame), so a
            // rising background raises the bar but speech cannot drag it up quickly.
            noise_floor_db_ = level < noise_floor_db_ ? level : std::min(level, noise_floor_db_ + 0.5);
        }
        return;
    }
    bool voice = level >= start_level - hold_margin_db ||
                 (level >= start_level - busy_hold_margin_db && zero_crossing_rate(frame_) >= busy_zero_crossing_rate);
    if (voice) {
        silent_frames_ = 0;
        return;
    }
    if (++silent_frames_ * frame_ms >= settings_.silence_duration_ms) {
        in_speech_ = false;
        loud_run_ = 0;
        silent_frames_ = 0;
        events.push_back({VadEvent::Kind::speech_stopped, frame_end_ms});
    }
}

}  // namespace voxgate::audio
