#pragma once
// espeak-ng (Debian libespeak-ng1 + espeak-ng-data): offline, keyless synthesis of text to
// 22,050 Hz mono PCM16. The library is opened on the first synthesis, not at start-up: it
// pulls in PulseAudio, ALSA, libsndfile and X11 client libraries, which a text-only
// deployment should not load. espeak-ng keeps its state in globals and is not thread-safe,
// so the process has one: every call, from any thread, runs behind one mutex, and the
// first synthesis initialises it with its own `data_dir`.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace voxgate::speech {

class EspeakSynthesizer {
public:
    static constexpr int sample_rate = 22050;  // what espeak-ng's own voices speak at

    struct Options {
        std::string data_dir;  // espeak-ng-data or the directory holding it; "" = the library's own
        int rate_wpm = 175;    // espeakRATE
    };
    // Gets each buffer as espeak-ng makes it (about 100 ms); returns false to stop there.
    using Sink = std::function<bool(std::span<const std::int16_t>)>;

    explicit EspeakSynthesizer(Options options) : options_(std::move(options)) {}

    // Speaks UTF-8 `text` (plain: no SSML, no phoneme codes) in `voice`, or in `fallback`
    // when espeak-ng has no voice of that name (or the name is not a plain voice name).
    // Blocks the calling thread. Throws std::runtime_error naming what is missing when
    // the library, its data or both voices cannot be loaded.
    void speak(std::string_view text, const std::string& voice, const std::string& fallback, const Sink& sink) const;

    // A name espeak-ng may be asked for: letters, digits, '-', '_' and '+' (a variant),
    // at most 40; never a path, so a client's voice cannot point espeak-ng at a file.
    static bool plain_voice_name(std::string_view name);

private:
    Options options_;
};

}  // namespace voxgate::speech
