// Cost of local speech recognition (speech_to_text.kind pocketsphinx): the decoder's load
// time and resident memory, and the decode time per second of speech, on real speech made
// by espeak-ng (en-us voice) at 24 kHz, resampled as the gateway does.
//
//   bench_speech_to_text [runs=7] [model_dir=/usr/share/pocketsphinx/model/en-us]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "audio/resampler.hpp"
#include "speech/pocketsphinx_recognizer.hpp"
#include "support/speech.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

long resident_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

}  // namespace

int main(int argc, char** argv) {
    const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
    const std::string model_dir = argc > 2 ? argv[2] : "/usr/share/pocketsphinx/model/en-us";

    auto speech = voxgate::test::speak("what is the weather like today, and what should I wear when I go outside");
    const auto at_24k = voxgate::audio::resample(speech.samples, speech.sample_rate, 24000);
    const double audio_ms = 1000.0 * static_cast<double>(at_24k.size()) / 24000;

    const long rss_before = resident_kib();
    const auto load_start = Clock::now();
    voxgate::speech::PocketsphinxRecognizer recognizer(model_dir);
    const double load_ms = ms_since(load_start);
    const long rss_loaded = resident_kib();

    std::vector<double> decode_ms;
    std::string heard;
    for (int i = 0; i < runs; ++i) {
        const auto start = Clock::now();
        // What LocalSpeechToText does per utterance: resample to the model's rate, decode.
        const auto at_16k = voxgate::audio::resample(at_24k, 24000, voxgate::speech::PocketsphinxRecognizer::sample_rate);
        heard = recognizer.recognize(at_16k);
        decode_ms.push_back(ms_since(start));
    }
    std::sort(decode_ms.begin(), decode_ms.end());
    const double p50 = decode_ms[decode_ms.size() / 2];
    std::printf("{\"bench\":\"speech_to_text\",\"runs\":%d,\"audio_ms\":%.0f,\"load_ms\":%.0f,"
                "\"decoder_rss_kib\":%ld,\"decode_ms_p50\":%.0f,\"decode_ms_max\":%.0f,"
                "\"real_time_factor_p50\":%.3f}\n",
                runs, audio_ms, load_ms, rss_loaded - rss_before, p50, decode_ms.back(), p50 / audio_ms);
    std::printf("heard: %s\n", heard.c_str());
    return 0;
}
