#include "support/speech.hpp"

#include <cstdio>
#include <stdexcept>

namespace voxgate::test {

audio::PcmAudio speak(const std::string& phrase) {
    for (char c : phrase)
        if (c == '\'' || c == '\\') throw std::runtime_error("speak: keep quotes out of test phrases");
    std::string command = "espeak-ng --stdout -v en-us -s 160 '" + phrase + "' 2>/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) throw std::runtime_error("speak: cannot run espeak-ng");
    std::string wav;
    char chunk[65536];
    std::size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, pipe)) > 0) wav.append(chunk, got);
    int status = pclose(pipe);
    auto audio = audio::decode_wav(wav);
    if (status != 0 || !audio || audio->samples.empty())
        throw std::runtime_error("speak: espeak-ng produced no audio (is it installed? scripts/install-deps.sh)");
    return std::move(*audio);
}

}  // namespace voxgate::test
