#pragma once
// One CMU PocketSphinx decoder (Debian libpocketsphinx-dev + pocketsphinx-en-us): offline,
// keyless recognition of 16 kHz PCM16 speech; the library is opened on first use, not at
// start-up. A decoder is not thread-safe and costs ~0.5 s and ~90 MB to load
// (bench_speech_to_text), so LocalSpeechToText keeps a few and lends one per utterance.
#include <cstdint>
#include <memory>
#include <span>
#include <string>

struct ps_decoder_s;
struct cmd_ln_s;

namespace voxgate::speech {

class PocketsphinxRecognizer {
public:
    static constexpr int sample_rate = 16000;  // what the en-us acoustic model was trained on

    // `model_dir` holds en-us/ (acoustic model), en-us.lm.bin and cmudict-en-us.dict.
    // Throws std::runtime_error naming what is missing.
    explicit PocketsphinxRecognizer(const std::string& model_dir);
    ~PocketsphinxRecognizer();
    PocketsphinxRecognizer(const PocketsphinxRecognizer&) = delete;
    PocketsphinxRecognizer& operator=(const PocketsphinxRecognizer&) = delete;

    // The words heard in `samples` (16 kHz), lower case, "" when none. Throws on a decoder failure.
    std::string recognize(std::span<const std::int16_t> samples);

private:
    cmd_ln_s* config_ = nullptr;
    ps_decoder_s* decoder_ = nullptr;
};

}  // namespace voxgate::speech
