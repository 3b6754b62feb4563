// Cost of local speech synthesis (text_to_speech.kind espeak): espeak-ng's load time and
// resident memory on the first synthesis, then the time to the first ~100 ms chunk and to
// the whole sentence, per second of speech made, as EspeakSynthesizer runs it on a compute
// thread.
//
//   bench_text_to_speech [runs=7]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "speech/espeak_synthesizer.hpp"

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
    using voxgate::speech::EspeakSynthesizer;
    const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 7;
    const std::string sentence =
        "The weather today is sunny with a light breeze, so a jacket is all you need when you go outside.";
    const EspeakSynthesizer synthesizer({});

    std::size_t samples = 0;
    double first_chunk_ms = -1;
    Clock::time_point start;
    const EspeakSynthesizer::Sink sink = [&](std::span<const std::int16_t> chunk) {
        if (first_chunk_ms < 0) first_chunk_ms = ms_since(start);
        samples += chunk.size();
        return true;
    };

    const long rss_before = resident_kib();
    start = Clock::now();
    synthesizer.speak("Hello.", "en-us", "en-us", sink);  // opens the library, loads data and voice
    const double load_ms = ms_since(start);
    const long rss_loaded = resident_kib();

    std::vector<double> first_ms, total_ms;
    for (int i = 0; i < runs; ++i) {
        samples = 0;
        first_chunk_ms = -1;
        start = Clock::now();
        synthesizer.speak(sentence, "en-us", "en-us", sink);
        total_ms.push_back(ms_since(start));
        first_ms.push_back(first_chunk_ms);
    }
    std::sort(first_ms.begin(), first_ms.end());
    std::sort(total_ms.begin(), total_ms.end());
    const double audio_ms = 1000.0 * static_cast<double>(samples) / EspeakSynthesizer::sample_rate;
    const double p50 = total_ms[total_ms.size() / 2];
    std::printf("{\"bench\":\"text_to_speech\",\"runs\":%d,\"audio_ms\":%.0f,\"load_ms\":%.1f,"
                "\"library_rss_kib\":%ld,\"first_chunk_ms_p50\":%.1f,\"synthesis_ms_p50\":%.1f,"
                "\"synthesis_ms_max\":%.1f,\"real_time_factor_p50\":%.3f}\n",
                runs, audio_ms, load_ms, rss_loaded - rss_before, first_ms[first_ms.size() / 2], p50,
                total_ms.back(), p50 / audio_ms);
    return 0;
}
