#include "session/speech_output.hpp"

#include <algorithm>
#include <utility>

#include "audio/g711.hpp"
#include "audio/pcm16.hpp"

namespace voxgate::session {

double SpokenTimeline::ms_per_char(std::string_view transcript) const {
    std::int64_t ms = 0;
    std::size_t chars = 0;
    for (std::size_t i = 0; i < pieces_.size(); ++i) {
        if (pieces_[i].end_ms < 0) continue;
        const std::size_t end_bytes = i + 1 < pieces_.size() ? pieces_[i + 1].transcript_bytes : transcript.size();
        ms += pieces_[i].end_ms - pieces_[i].start_ms;
        chars += end_bytes - pieces_[i].transcript_bytes;
    }
    return chars > 0 && ms > 0 ? double(ms) / double(chars) : default_ms_per_char;
}

std::size_t SpokenTimeline::heard_bytes(std::string_view transcript, std::int64_t audio_end_ms) const {
    std::size_t heard = 0;
    for (std::size_t i = 0; i < pieces_.size(); ++i) {
        const Piece& piece = pieces_[i];
        if (audio_end_ms <= piece.start_ms) break;
        const std::size_t end_bytes =
            std::min(i + 1 < pieces_.size() ? pieces_[i + 1].transcript_bytes : transcript.size(), transcript.size());
        const std::size_t chars = end_bytes - std::min(piece.transcript_bytes, end_bytes);
        std::int64_t end_ms = piece.end_ms;
        if (end_ms < 0) {
            // Cut short: as long as the pace says its text takes, and never past what was sent.
            const auto estimate = piece.start_ms + static_cast<std::int64_t>(double(chars) * ms_per_char(transcript));
            end_ms = std::max(estimate, total_ms_);
            audio_end_ms = std::min(audio_end_ms, total_ms_);
        }
        if (audio_end_ms >= end_ms) {
            heard = end_bytes;
            continue;
        }
        // Part of this piece was heard: its share of the text, back to the last space.
        const double share = double(audio_end_ms - piece.start_ms) / double(end_ms - piece.start_ms);
        std::size_t cut = piece.transcript_bytes + static_cast<std::size_t>(share * double(chars));
        cut = std::min(cut, transcript.size());
        while (cut > piece.transcript_bytes && transcript[cut - 1] != ' ') --cut;
        heard = cut;
        break;
    }
    heard = std::min(heard, transcript.size());
    while (heard > 0 && transcript[heard - 1] == ' ') --heard;  // the space between pieces was not heard
    return heard;
}

SpeechOutput::SpeechOutput(speech::TextToSpeech& tts, executor_type executor, audio::AudioFormat format,
                           std::string voice, SpeechOutputListener& listener, std::size_t max_piece_chars)
    : tts_(tts),
      executor_(std::move(executor)),
      format_(format),
      voice_(std::move(voice)),
      listener_(listener),
      splitter_(max_piece_chars) {
    if (tts_.sample_rate() != format_.sample_rate) resampler_.emplace(tts_.sample_rate(), format_.sample_rate);
}

SpeechOutput::~SpeechOutput() { stop(); }

void SpeechOutput::add_text(std::string_view text) {
    if (stopped_ || finishing_) return;
    std::vector<std::string> pieces;
    splitter_.feed(text, pieces);
    for (auto& piece : pieces) queue_.push_back(std::move(piece));
    if (!active_) start_next();
}

void SpeechOutput::finish() {
    if (stopped_ || finishing_) return;
    finishing_ = true;
    if (auto rest = splitter_.flush(); !rest.empty()) queue_.push_back(std::move(rest));
    if (!active_) start_next();
}

void SpeechOutput::stop() {
    stopped_ = true;
    queue_.clear();
    if (!active_) return;
    active_->cancel();
    finished_ = std::move(active_);  // stop() may come from inside one of its callbacks
}

void SpeechOutput::pause() {
    paused_ = true;
    if (active_) active_->pause();
}

void SpeechOutput::resume() {
    paused_ = false;
    if (active_) active_->resume();
}

std::int64_t SpeechOutput::sent_ms() const {
    return static_cast<std::int64_t>(samples_sent_ * 1000 / static_cast<std::uint64_t>(format_.sample_rate));
}

void SpeechOutput::start_next() {
    if (stopped_) return;
    if (queue_.empty()) {
        if (finishing_) {
            stopped_ = true;
            listener_.on_speech_done({});  // may destroy this
        }
        return;
    }
    speaking_ = std::move(queue_.front());
    queue_.pop_front();
    announced_ = false;
    active_ = tts_.synthesize({speaking_, voice_}, executor_, *this);
    if (paused_ && active_) active_->pause();
}

void SpeechOutput::announce_piece() {
    if (announced_) return;
    announced_ = true;
    const std::size_t delta_start = transcript_.size();
    if (!transcript_.empty()) transcript_.push_back(' ');  // the deltas join up to the transcript
    timeline_.start_piece(sent_ms(), transcript_.size());
    transcript_.append(speaking_);
    listener_.on_speech_text(std::string_view(transcript_).substr(delta_start));
}

void SpeechOutput::deliver(std::span<const std::int16_t> samples) {
    if (samples.empty()) return;
    encoded_.clear();
    switch (format_.encoding) {
        case audio::Encoding::pcm16: audio::encode_pcm16le(samples, encoded_); break;
        case audio::Encoding::pcmu: audio::encode_ulaw(samples, encoded_); break;
        case audio::Encoding::pcma: audio::encode_alaw(samples, encoded_); break;
    }
    samples_sent_ += samples.size();
    timeline_.set_length(sent_ms());
    listener_.on_speech_audio(encoded_);
}

void SpeechOutput::on_audio(std::span<const std::int16_t> samples) {
    if (stopped_) return;
    announce_piece();
    if (!resampler_) return deliver(samples);
    resampled_.clear();
    resampler_->process(samples, resampled_);
    deliver(resampled_);
}

void SpeechOutput::on_done(const speech::SynthesisResult& result) {
    if (stopped_) return;
    finished_ = std::move(active_);  // this callback may be running inside it
    if (!result.ok()) {
        stopped_ = true;
        queue_.clear();
        listener_.on_speech_done(result);  // may destroy this
        return;
    }
    announce_piece();  // a piece with no audio (only punctuation) still counts as said
    if (resampler_) {
        resampled_.clear();
        resampler_->flush(resampled_);
        deliver(resampled_);
    }
    if (stopped_) return;
    timeline_.end_piece(sent_ms());
    start_next();
}

}  // namespace voxgate::session
