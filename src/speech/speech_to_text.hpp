#pragma once
// Speech-to-text for committed input audio: a session hands over one utterance and gets its
// transcript back on its own shard, later. Implementations never block the caller; the
// recognition runs elsewhere (the compute pool, or an HTTP request).
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "voxgate/net.hpp"

namespace voxgate::speech {

struct Transcription {
    std::string transcript;  // what was said ("" = nothing recognised)
    std::string error_code;  // "" on success; else a stable code (transcription_busy, ...)
    std::string error;       // human text for the client; never holds secrets
    bool ok() const { return error_code.empty(); }
};

class SpeechToText {
public:
    using Done = std::function<void(Transcription)>;
    virtual ~SpeechToText() = default;
    // Transcribes mono PCM16 `samples` at `sample_rate` and calls `done` from a task posted
    // to `executor` (the session's shard), exactly once.
    virtual void transcribe(std::vector<std::int16_t> samples, int sample_rate, executor_type executor, Done done) = 0;
};

}  // namespace voxgate::speech
