#pragma once
// Real speech for the audio tests: espeak-ng (Debian espeak-ng) speaks a phrase at test
// time in its American English voice (the one the en-us recogniser model hears best); the
// samples come back at espeak's own rate (22,050 Hz).
#include <string>

#include "audio/wav.hpp"

namespace voxgate::test {

// Throws std::runtime_error when espeak-ng is missing or fails.
audio::PcmAudio speak(const std::string& phrase);

}  // namespace voxgate::test
