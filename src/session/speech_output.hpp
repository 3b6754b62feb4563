#pragma once
// SpeechOutput: the spoken side of one response, independent of the wire dialect. Text
// streams in as the model writes it; a SentenceSplitter cuts it into pieces; each piece is
// synthesised by the TextToSpeech in turn (the first starts as soon as it is complete, the
// others queue behind it, so audio is never reordered); the PCM is resampled and encoded to
// the session's output format and handed to the listener as it comes.
//
// The Realtime adapter turns what it reports into response.output_audio* events; a Twilio
// bridge reads the same audio. Bounded: the text waiting is at most what the response may
// produce (limits.max_response_bytes, enforced by the session); audio is never held here,
// and pause() stops the synthesis while the client's send queue is full.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audio/audio_format.hpp"
#include "audio/resampler.hpp"
#include "speech/sentence_splitter.hpp"
#include "speech/text_to_speech.hpp"
#include "voxgate/net.hpp"

namespace voxgate::session {

class SpeechOutputListener {
public:
    // The piece `text` starts now: its audio follows. Told once per piece, before its audio.
    virtual void on_speech_text(std::string_view text) = 0;
    // Audio in the output format (whole samples), in order.
    virtual void on_speech_audio(std::span<const std::uint8_t> bytes) = 0;
    // Everything fed before finish() has been spoken, or a synthesis failed (result says
    // why; what was not spoken is dropped). Last callback; the output may be destroyed in it.
    virtual void on_speech_done(const speech::SynthesisResult& result) = 0;

protected:
    ~SpeechOutputListener() = default;
};

// Where each spoken piece starts and ends, to map "the listener heard N ms" back to
// transcript text (conversation.item.truncate with audio_end_ms, a Twilio mark, barge-in).
class SpokenTimeline {
public:
    // Speech of a piece whose length is not known yet (it was cut short) is estimated at
    // the pace of the pieces before it, or at this pace (espeak-ng's default 175 words a
    // minute) when there were none.
    static constexpr double default_ms_per_char = 65;

    void start_piece(std::int64_t start_ms, std::size_t transcript_bytes) { pieces_.push_back({start_ms, transcript_bytes}); }
    void end_piece(std::int64_t end_ms) {
        if (!pieces_.empty()) pieces_.back().end_ms = end_ms;
    }
    void set_length(std::int64_t total_ms) { total_ms_ = total_ms; }
    std::int64_t length_ms() const { return total_ms_; }
    // How many bytes of `transcript` were heard by `audio_end_ms`: whole pieces before it,
    // and of the piece playing then the share heard, cut back to a word boundary.
    std::size_t heard_bytes(std::string_view transcript, std::int64_t audio_end_ms) const;

private:
    struct Piece {
        std::int64_t start_ms;
        std::size_t transcript_bytes;  // transcript length before the piece
        std::int64_t end_ms = -1;      // -1: cut short, or still being spoken
    };
    double ms_per_char(std::string_view transcript) const;

    std::vector<Piece> pieces_;
    std::int64_t total_ms_ = 0;
};

class SpeechOutput final : private speech::SynthesisObserver {
public:
    SpeechOutput(speech::TextToSpeech& tts, executor_type executor, audio::AudioFormat format, std::string voice,
                 SpeechOutputListener& listener, std::size_t max_piece_chars);
    ~SpeechOutput();
    SpeechOutput(const SpeechOutput&) = delete;
    SpeechOutput& operator=(const SpeechOutput&) = delete;

    void add_text(std::string_view text);
    void finish();  // no more text: speak the rest, then on_speech_done
    void stop();    // drop everything now; no callback after
    void pause();
    void resume();

    // Audio handed to the listener so far, and the format it is in.
    std::int64_t sent_ms() const;
    const audio::AudioFormat& format() const { return format_; }
    const SpokenTimeline& timeline() const { return timeline_; }
    // The transcript of what was handed over: the pieces whose audio started.
    const std::string& transcript() const { return transcript_; }

private:
    // speech::SynthesisObserver
    void on_audio(std::span<const std::int16_t> samples) override;
    void on_done(const speech::SynthesisResult& result) override;

    void start_next();
    void announce_piece();  // the piece being spoken goes into the transcript and the timeline
    void deliver(std::span<const std::int16_t> samples);  // at the output rate

    speech::TextToSpeech& tts_;
    executor_type executor_;
    audio::AudioFormat format_;
    std::string voice_;
    SpeechOutputListener& listener_;
    speech::SentenceSplitter splitter_;
    std::deque<std::string> queue_;  // pieces waiting for their turn
    std::string speaking_;           // the piece being synthesised
    bool announced_ = false;         // speaking_ was told to the listener
    std::unique_ptr<speech::SynthesisHandle> active_;
    std::unique_ptr<speech::SynthesisHandle> finished_;  // freed at the next end, never inside its own callback
    std::optional<audio::Resampler> resampler_;          // when the TTS rate is not the output rate
    std::vector<std::int16_t> resampled_;
    std::vector<std::uint8_t> encoded_;
    std::uint64_t samples_sent_ = 0;  // at the output rate
    std::string transcript_;
    SpokenTimeline timeline_;
    bool finishing_ = false;
    bool paused_ = false;
    bool stopped_ = false;
};

}  // namespace voxgate::session
