#pragma once
// Server VAD: finds where speech starts and stops in a stream of PCM16 samples, for
// `turn_detection: {type: "server_vad"}` (docs/wire-protocols.md 1.5).
//
// An energy detector with hysteresis and a zero-crossing rule, on 10 ms frames, rather than
// WebRTC's: Debian's libwebrtc-audio-processing 0.3 exposes its detector only inside the
// whole AudioProcessing module (an echo canceller and gain control built around 10 ms
// frames at 8-48 kHz and a C++ API that changed in every release since), and its likelihood
// has no threshold to map the protocol's `threshold` onto. This one is small, its decisions
// can be traced frame by frame in a test, and `threshold` maps onto a level in dBFS.
//
// - A frame is loud when its RMS level is at least the start level (threshold 0 -> -60 dBFS,
//   0.5 -> -35 dBFS, 1 -> -10 dBFS) and at least 9 dB above the noise floor the detector
//   tracks in quiet frames.
// - Speech starts after `onset_frames` loud frames in a row (a click is not a turn); the
//   reported start is the first of them minus `prefix_padding_ms`, clamped at 0.
// - During speech a frame still counts as voice 6 dB below the start level, or 12 dB below
//   with a high zero-crossing rate (unvoiced consonants: s, f, sh are quiet but busy).
// - Speech stops after `silence_duration_ms` without voice; the reported end is the time of
//   that decision (the end of the audio taken, silence included, as OpenAI reports it).
#include <cstdint>
#include <span>
#include <vector>

namespace voxgate::audio {

struct VadSettings {
    double threshold = 0.5;          // 0..1
    int prefix_padding_ms = 300;
    int silence_duration_ms = 500;
};

struct VadEvent {
    enum class Kind { speech_started, speech_stopped };
    Kind kind;
    std::int64_t audio_ms;  // since the first sample fed
};

class VoiceActivityDetector {
public:
    static constexpr int frame_ms = 10;
    static constexpr int onset_frames = 3;

    VoiceActivityDetector(VadSettings settings, int sample_rate);

    // Appends an event to `events` for each start or stop the samples complete.
    void feed(std::span<const std::int16_t> samples, std::vector<VadEvent>& events);
    // Forgets the current speech and partial frame (input_audio_buffer.clear, a commit);
    // the clock keeps running.
    void reset();

    bool in_speech() const { return in_speech_; }
    std::int64_t position_ms() const;

private:
    void on_frame(std::vector<VadEvent>& events);

    VadSettings settings_;
    int sample_rate_;
    std::size_t frame_samples_;
    double start_level_db_;
    double noise_floor_db_ = -70;
    std::vector<std::int16_t> frame_;
    std::int64_t frames_done_ = 0;
    bool in_speech_ = false;
    int loud_run_ = 0;
    int silent_frames_ = 0;
};

// RMS level of `samples` in dBFS (-100 for digital silence).
double level_dbfs(std::span<const std::int16_t> samples);
// Sign changes per sample, 0..1.
double zero_crossing_rate(std::span<const std::int16_t> samples);

}  // namespace voxgate::audio
