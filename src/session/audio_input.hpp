#pragma once
// The input audio buffer of one session (input_audio_buffer.*), independent of the wire
// dialect: bytes in the session's format go in and are decoded to PCM16 at the format's own
// rate; server VAD, when on, watches them and says where a turn starts and stops; a commit
// takes the utterance out. The session engine (SessionEngine) turns what it reports into
// events; the Twilio bridge's calls feed it mu-law the same way.
//
// Bounded: the buffer holds at most `max_buffered` of audio (limits.max_input_audio_seconds);
// an append past it is refused whole. With VAD on and nobody speaking, only the last
// prefix_padding_ms (plus the detector's onset) are kept, so silence never fills it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "audio/audio_format.hpp"
#include "audio/voice_activity_detector.hpp"

namespace voxgate::session {

class AudioInput {
public:
    // Why an append was refused (nothing of it was kept).
    enum class Refusal : std::uint8_t { none, partial_sample, buffer_full };
    // Commits shorter than this are refused, as OpenAI's service refuses them.
    static constexpr std::int64_t min_commit_ms = 100;

    AudioInput(audio::AudioFormat format, std::optional<audio::VadSettings> vad, std::chrono::seconds max_buffered);

    // Decodes `bytes` and buffers them; with VAD, appends to `events` the starts and stops
    // they complete. After a speech_stopped the caller takes the utterance with take_until.
    Refusal append(std::span<const std::uint8_t> bytes, std::vector<audio::VadEvent>& events);
    // The whole buffer (a manual commit); the buffer is then empty and VAD starts afresh.
    std::vector<std::int16_t> take_all();
    // The buffered audio up to `audio_ms` on the VAD clock (a detected turn); later audio stays.
    std::vector<std::int16_t> take_until(std::int64_t audio_ms);
    void clear();

    std::int64_t buffered_ms() const;
    const audio::AudioFormat& format() const { return format_; }
    bool detects_turns() const { return vad_.has_value(); }
    bool in_speech() const { return vad_ && vad_->in_speech(); }

private:
    std::size_t samples_for_ms(std::int64_t ms) const;
    void drop_front(std::size_t samples);
    void keep_only_padding();  // VAD on, no speech: silence is not kept

    audio::AudioFormat format_;
    std::optional<audio::VoiceActivityDetector> vad_;
    std::int64_t prefix_padding_ms_ = 0;
    std::size_t max_samples_;
    std::vector<std::int16_t> samples_;  // at format_.sample_rate
    std::int64_t buffer_start_ = 0;      // absolute sample index of samples_[0] (the VAD clock)
};

}  // namespace voxgate::session
