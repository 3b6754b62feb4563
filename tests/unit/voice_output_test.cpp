// The output side of voice: cutting a streamed reply into pieces to speak, the dialect-neutral
// SpeechOutput pipeline (order, queueing, pause, stop, failure, resampling, encoding) and
// the timeline that maps "heard until N ms" back to transcript text.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "audio/audio_format.hpp"
#include "session/speech_output.hpp"
#include "speech/sentence_splitter.hpp"
#include "support/scripted_tts.hpp"

namespace voxgate {
namespace {

using speech::SentenceSplitter;

std::vector<std::string> split(std::vector<std::string> deltas, std::size_t max_chars = 200) {
    SentenceSplitter splitter(max_chars);
    std::vector<std::string> out;
    for (const auto& delta : deltas) splitter.feed(delta, out);
    if (auto rest = splitter.flush(); !rest.empty()) out.push_back(rest);
    return out;
}

TEST(SentenceSplitter, CutsAtSentenceEndsFollowedBySpaceAcrossDeltas) {
    EXPECT_EQ(split({"Hello", " there.", " How are", " you? I am", " fine!"}),
              (std::vector<std::string>{"Hello there.", "How are you?", "I am fine!"}));
    // The end is known only when the next character arrives.
    SentenceSplitter splitter;
    std::vector<std::string> out;
    splitter.feed("It costs 3.", out);
    EXPECT_TRUE(out.empty());
    splitter.feed("14 euros. Next", out);
    EXPECT_EQ(out, (std::vector<std::string>{"It costs 3.14 euros."}));
    EXPECT_EQ(splitter.flush(), "Next");
}

TEST(SentenceSplitter, LineBreaksAndEllipsisEndPiecesAndBlankPiecesVanish) {
    EXPECT_EQ(split({"First line\n\n  \nSecond… third"}),
              (std::vector<std::string>{"First line", "Second…", "third"}));
    EXPECT_TRUE(split({"   \n \n"}).empty());
}

TEST(SentenceSplitter, LongRunsAreCutAtTheLastSpaceOrACodePointBoundary) {
    const auto pieces = split({"one two three four five six seven eight nine ten eleven twelve"}, 20);
    ASSERT_GE(pieces.size(), 3u);
    for (const auto& piece : pieces) {
        EXPECT_LE(piece.size(), 21u) << piece;
        EXPECT_NE(piece.front(), ' ');
    }
    std::string joined;
    for (const auto& piece : pieces) joined += (joined.empty() ? "" : " ") + piece;
    EXPECT_EQ(joined, "one two three four five six seven eight nine ten eleven twelve");
    // No space at all: cut, but never inside a UTF-8 sequence.
    std::string umlauts;
    for (int i = 0; i < 30; ++i) umlauts += "ü";
    for (const auto& piece : split({umlauts}, 16)) EXPECT_EQ(piece.size() % 2, 0u) << piece;
}

// ---------------------------------------------------------------------------------------

struct Recorder final : session::SpeechOutputListener {
    void on_speech_text(std::string_view text) override { events.push_back("text:" + std::string(text)); }
    void on_speech_audio(std::span<const std::uint8_t> bytes) override {
        events.push_back("audio");
        audio_bytes += bytes.size();
        last_audio.assign(bytes.begin(), bytes.end());
    }
    void on_speech_done(const speech::SynthesisResult& result) override {
        events.push_back(result.ok() ? "done" : "failed:" + result.error_code);
    }
    std::vector<std::string> events;
    std::size_t audio_bytes = 0;
    std::vector<std::uint8_t> last_audio;
};

class SpeechOutputTest : public ::testing::Test {
protected:
    asio::io_context ioc;
    test::ScriptedTts tts;
    Recorder recorder;
};

TEST_F(SpeechOutputTest, PiecesAreSpokenOneAtATimeInOrderAndTheTranscriptFollowsTheAudio) {
    session::SpeechOutput output(tts, ioc.get_executor(), audio::pcm24k, "alloy", recorder, 200);
    output.add_text("Hello there. How");
    ASSERT_EQ(tts.calls.size(), 1u);  // the first sentence starts at once
    EXPECT_EQ(tts.calls[0].request.text, "Hello there.");
    EXPECT_EQ(tts.calls[0].request.voice, "alloy");
    output.add_text(" are you? Fine");
    EXPECT_EQ(tts.calls.size(), 1u);  // the second waits for the first
    EXPECT_TRUE(recorder.events.empty());  // nothing is said before its audio
    tts.speak(0, 100);
    ASSERT_EQ(tts.calls.size(), 2u);
    EXPECT_EQ(tts.calls[1].request.text, "How are you?");
    output.finish();
    tts.speak(1, 50);
    ASSERT_EQ(tts.calls.size(), 3u);
    EXPECT_EQ(tts.calls[2].request.text, "Fine");
    tts.speak(2, 50);
    EXPECT_EQ(recorder.events, (std::vector<std::string>{"text:Hello there.", "audio", "text: How are you?", "audio",
                                                          "text: Fine", "audio", "done"}));
    EXPECT_EQ(output.transcript(), "Hello there. How are you? Fine");
    EXPECT_EQ(output.sent_ms(), 200);
    EXPECT_EQ(recorder.audio_bytes, 200u * 48);  // PCM16 at 24 kHz: 48 bytes per ms
    // Little-endian samples of the value 1000.
    EXPECT_EQ(recorder.last_audio[0], 1000 & 0xff);
    EXPECT_EQ(recorder.last_audio[1], 1000 >> 8);
}

TEST_F(SpeechOutputTest, FinishWithNothingLeftEndsAtOnce) {
    session::SpeechOutput output(tts, ioc.get_executor(), audio::pcm24k, "", recorder, 200);
    output.finish();
    EXPECT_TRUE(tts.calls.empty());
    EXPECT_EQ(recorder.events, std::vector<std::string>{"done"});
}

TEST_F(SpeechOutputTest, PauseReachesTheSynthesisAndStopCancelsItWithNoMoreCallbacks) {
    session::SpeechOutput output(tts, ioc.get_executor(), audio::pcm24k, "", recorder, 200);
    output.pause();
    output.add_text("One. Two. ");
    ASSERT_EQ(tts.calls.size(), 1u);
    EXPECT_EQ(tts.calls[0].log->pauses, 1);  // started while paused: paused at once
    output.resume();
    EXPECT_EQ(tts.calls[0].log->resumes, 1);
    tts.speak(0, 20, false);
    output.stop();
    EXPECT_TRUE(tts.calls[0].log->cancelled);
    EXPECT_EQ(output.transcript(), "One.");  // only what started playing
    EXPECT_EQ(tts.calls.size(), 1u);         // "Two." is never synthesised
    EXPECT_EQ(recorder.events, (std::vector<std::string>{"text:One.", "audio"}));
}

TEST_F(SpeechOutputTest, AFailedSynthesisEndsTheOutputWithItsError) {
    session::SpeechOutput output(tts, ioc.get_executor(), audio::pcm24k, "", recorder, 200);
    output.add_text("One. Two. ");
    tts.fail(0, "speech_busy");
    EXPECT_EQ(recorder.events, std::vector<std::string>{"failed:speech_busy"});
    EXPECT_EQ(tts.calls.size(), 1u);
    output.add_text("Three. ");
    EXPECT_EQ(tts.calls.size(), 1u);
}

TEST(SpeechOutputFormats, TelephoneOutputIsResampledAndMuLawEncoded) {
    asio::io_context ioc;
    test::ScriptedTts tts(22050);  // espeak-ng's rate
    Recorder recorder;
    session::SpeechOutput output(tts, ioc.get_executor(), audio::pcmu8k, "", recorder, 200);
    output.add_text("Hello. ");
    std::vector<std::int16_t> second(22050, 1000);
    tts.calls[0].observer->on_audio(second);
    tts.calls[0].observer->on_done({});
    output.finish();
    // One second at 8 kHz, one byte per sample, give or take the filter's edges.
    EXPECT_NEAR(static_cast<double>(recorder.audio_bytes), 8000, 80);
    EXPECT_NEAR(static_cast<double>(output.sent_ms()), 1000, 10);
    EXPECT_EQ(recorder.events.back(), "done");
}

TEST(SpokenTimeline, HeardAudioMapsBackToWholePiecesAndAShareOfThePlayingOne) {
    session::SpokenTimeline timeline;
    const std::string transcript = "Hello there. How are you doing today?";
    timeline.start_piece(0, 0);
    timeline.end_piece(1000);
    timeline.start_piece(1000, 13);  // "How are you doing today?" starts at byte 13
    timeline.end_piece(3000);
    timeline.set_length(3000);
    EXPECT_EQ(timeline.heard_bytes(transcript, 0), 0u);
    EXPECT_EQ(transcript.substr(0, timeline.heard_bytes(transcript, 1000)), "Hello there.");
    // Halfway into the second piece: about half its text, cut back to a word.
    const std::string half = transcript.substr(0, timeline.heard_bytes(transcript, 2000));
    EXPECT_EQ(half, "Hello there. How are you");
    EXPECT_EQ(timeline.heard_bytes(transcript, 3000), transcript.size());
}

TEST(SpokenTimeline, APieceCutShortIsMeasuredAtThePaceOfThePiecesBeforeIt) {
    session::SpokenTimeline timeline;
    const std::string transcript = "Hello there. How are you doing today?";  // 12 + 1 + 24 bytes
    timeline.start_piece(0, 0);
    timeline.end_piece(1200);  // 12 characters in 1200 ms: 100 ms each
    timeline.start_piece(1200, 13);
    timeline.set_length(2400);  // stopped 1200 ms into a piece of about 2400
    EXPECT_EQ(transcript.substr(0, timeline.heard_bytes(transcript, 2400)), "Hello there. How are you");
    // Past what was sent nothing more can have been heard.
    EXPECT_EQ(timeline.heard_bytes(transcript, 9000), timeline.heard_bytes(transcript, 2400));
    // With no finished piece, the default pace: 650 ms of 10 characters is all of them.
    session::SpokenTimeline first;
    first.start_piece(0, 0);
    first.set_length(650);
    EXPECT_EQ(first.heard_bytes("Hi, again.", 650), 10u);
    EXPECT_EQ(std::string("Hi, again.").substr(0, first.heard_bytes("Hi, again.", 325)), "Hi,");
}

}  // namespace
}  // namespace voxgate
