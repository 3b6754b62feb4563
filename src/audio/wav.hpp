#pragma once
// RIFF/WAVE for PCM16 mono: what a speech-to-text upload carries (openai_stt posts the
// committed utterance as a .wav file) and what espeak-ng writes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace voxgate::audio {

struct PcmAudio {
    int sample_rate = 0;
    std::vector<std::int16_t> samples;
};

// A 44-byte canonical header followed by the samples.
std::string encode_wav(const std::vector<std::int16_t>& samples, int sample_rate);
// PCM16 mono only; nullopt for anything else. A data chunk whose size runs past the end
// (a stream written to a pipe, as `espeak-ng --stdout` does) is read to the end.
std::optional<PcmAudio> decode_wav(std::string_view bytes);

}  // namespace voxgate::audio
