#include "session/audio_input.hpp"

#include <algorithm>

#include "audio/g711.hpp"

namespace voxgate::session {

AudioInput::AudioInput(audio::AudioFormat format, std::optional<audio::VadSettings> vad,
                       std::chrono::seconds max_buffered)
    : format_(format),
      max_samples_(static_cast<std::size_t>(max_buffered.count()) * static_cast<std::size_t>(format.sample_rate)) {
    if (vad) {
        vad_.emplace(*vad, format.sample_rate);
        prefix_padding_ms_ = vad->prefix_padding_ms;
    }
}

AudioInput::Refusal AudioInput::append(std::span<const std::uint8_t> bytes, std::vector<audio::VadEvent>& events) {
    const std::size_t count = bytes.size() / static_cast<std::size_t>(format_.bytes_per_sample());
    if (format_.encoding == audio::Encoding::pcm16 && bytes.size() % 2 != 0) return Refusal::partial_sample;
    if (samples_.size() + count > max_samples_) return Refusal::buffer_full;
    const std::size_t first_new = samples_.size();
    switch (format_.encoding) {
        case audio::Encoding::pcm16:
            samples_.resize(first_new + count);
            for (std::size_t i = 0; i < count; ++i)
                samples_[first_new + i] = static_cast<std::int16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
            break;
        case audio::Encoding::pcmu: audio::decode_ulaw(bytes, samples_); break;
        case audio::Encoding::pcma: audio::decode_alaw(bytes, samples_); break;
    }
    if (!vad_) return Refusal::none;
    const std::size_t first_event = events.size();
    vad_->feed(std::span(samples_).subspan(first_new), events);
    for (std::size_t i = first_event; i < events.size(); ++i) {
        // The turn starts at the reported start (padding included): what came before is silence.
        if (events[i].kind != audio::VadEvent::Kind::speech_started) continue;
        const auto start = static_cast<std::int64_t>(samples_for_ms(events[i].audio_ms));
        if (start > buffer_start_) drop_front(static_cast<std::size_t>(start - buffer_start_));
    }
    if (!vad_->in_speech() && (events.size() == first_event || events.back().kind != audio::VadEvent::Kind::speech_stopped))
        keep_only_padding();
    return Refusal::none;
}

std::vector<std::int16_t> AudioInput::take_all() {
    std::vector<std::int16_t> taken = std::move(samples_);
    buffer_start_ += static_cast<std::int64_t>(taken.size());
    samples_ = {};
    if (vad_) vad_->reset();
    return taken;
}

std::vector<std::int16_t> AudioInput::take_until(std::int64_t audio_ms) {
    const auto end = static_cast<std::int64_t>(samples_for_ms(audio_ms));
    const auto count = static_cast<std::size_t>(std::clamp<std::int64_t>(end - buffer_start_, 0,
                                                                         static_cast<std::int64_t>(samples_.size())));
    std::vector<std::int16_t> taken(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(count));
    drop_front(count);
    if (vad_ && !vad_->in_speech()) keep_only_padding();
    return taken;
}

void AudioInput::clear() {
    buffer_start_ += static_cast<std::int64_t>(samples_.size());
    samples_.clear();
    if (vad_) vad_->reset();
}

std::int64_t AudioInput::buffered_ms() const {
    return static_cast<std::int64_t>(samples_.size()) * 1000 / format_.sample_rate;
}

std::size_t AudioInput::samples_for_ms(std::int64_t ms) const {
    return static_cast<std::size_t>(std::max<std::int64_t>(ms, 0) * format_.sample_rate / 1000);
}

void AudioInput::drop_front(std::size_t samples) {
    samples = std::min(samples, samples_.size());
    samples_.erase(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(samples));
    buffer_start_ += static_cast<std::int64_t>(samples);
}

void AudioInput::keep_only_padding() {
    // The detector needs onset_frames of loud audio before it reports a start it dates back
    // by prefix_padding_ms, so that much (and a frame more) must still be here when it does.
    const std::int64_t keep_ms =
        prefix_padding_ms_ + (audio::VoiceActivityDetector::onset_frames + 1) * audio::VoiceActivityDetector::frame_ms;
    const std::size_t keep = samples_for_ms(keep_ms);
    if (samples_.size() > keep) drop_front(samples_.size() - keep);
}

}  // namespace voxgate::session
