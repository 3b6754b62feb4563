#pragma once
// Text-to-speech for spoken replies: a session hands over one piece of text (a sentence of
// the reply, cut by the session's SpeechOutput) and gets its audio back on its own shard, in
// chunks as they are made, then one end. Implementations never block the caller; synthesis
// runs elsewhere (the compute pool, or an HTTP request on the shard's CurlMulti).
//
//     auto handle = tts.synthesize({text, voice}, shard_executor, observer);
//     // observer.on_audio(...) zero or more times, then observer.on_done(result) once,
//     // each from a task on shard_executor; nothing after handle->cancel() or its destruction.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "voxgate/net.hpp"

namespace voxgate::speech {

struct SynthesisRequest {
    std::string text;   // plain text, one sentence or a few; never empty
    std::string voice;  // the session's audio.output.voice; "" = the provider's default
};

struct SynthesisResult {
    std::string error_code;  // "" on success; else a stable code (speech_busy, speech_failed, ...)
    std::string error;       // human text for the client; never holds secrets
    bool ok() const { return error_code.empty(); }
};

class SynthesisObserver {
public:
    // Mono PCM16 at the provider's sample_rate(). The span is valid during the call only.
    virtual void on_audio(std::span<const std::int16_t> samples) = 0;
    virtual void on_done(const SynthesisResult& result) = 0;

protected:
    ~SynthesisObserver() = default;
};

class SynthesisHandle {
public:
    virtual ~SynthesisHandle() = default;  // destroying cancels, with no further callback
    virtual void cancel() = 0;             // stop now; no further callback
    // Backpressure from a slow client: stop delivering (an HTTP transfer stops reading; a
    // local synthesis holds its finished chunks) until resume().
    virtual void pause() = 0;
    virtual void resume() = 0;
};

class TextToSpeech {
public:
    virtual ~TextToSpeech() = default;
    // The rate of the PCM16 this provider delivers (espeak-ng 22050, OpenAI pcm 24000).
    virtual int sample_rate() const = 0;
    // Starts one synthesis; callbacks run from tasks posted to `executor` (the session's
    // shard). Never null: a refused request (too many pending) still answers with on_done
    // carrying the error, from a posted task.
    virtual std::unique_ptr<SynthesisHandle> synthesize(SynthesisRequest request, executor_type executor,
                                                        SynthesisObserver& observer) = 0;
};

}  // namespace voxgate::speech
