// The pure audio layer: G.711, base64, WAV, resampling and the voice activity detector,
// the detector on real speech made by espeak-ng.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "audio/audio_format.hpp"
#include "audio/base64.hpp"
#include "audio/g711.hpp"
#include "audio/resampler.hpp"
#include "audio/voice_activity_detector.hpp"
#include "audio/wav.hpp"
#include "support/speech.hpp"

namespace voxgate::audio {
namespace {

std::vector<std::int16_t> tone(int rate, double hz, int ms, double amplitude = 8000) {
    std::vector<std::int16_t> out(static_cast<std::size_t>(rate) * ms / 1000);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<std::int16_t>(amplitude * std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / rate));
    return out;
}

// The frequency of a pure tone, from its zero crossings.
double measured_frequency(const std::vector<std::int16_t>& samples, int rate) {
    return zero_crossing_rate(samples) * rate / 2;
}

TEST(G711, DecodesTheStandardsReferenceCodes) {
    EXPECT_EQ(ulaw_to_linear(0xFF), 0);
    EXPECT_EQ(ulaw_to_linear(0x80), 32124);
    EXPECT_EQ(ulaw_to_linear(0x00), -32124);
    EXPECT_EQ(alaw_to_linear(0xD5), 8);
    EXPECT_EQ(alaw_to_linear(0x55), -8);
    EXPECT_EQ(alaw_to_linear(0xAA), 32256);
    EXPECT_EQ(alaw_to_linear(0x2A), -32256);
}

TEST(G711, EveryCodeSurvivesDecodeThenEncode) {
    for (int code = 0; code < 256; ++code) {
        auto c = static_cast<std::uint8_t>(code);
        EXPECT_EQ(ulaw_to_linear(linear_to_ulaw(ulaw_to_linear(c))), ulaw_to_linear(c)) << code;
        EXPECT_EQ(linear_to_alaw(alaw_to_linear(c)), c) << code;
    }
}

TEST(G711, QuantizationErrorStaysWithinTheSegmentStep) {
    for (int value = -32768; value <= 32767; value += 7) {
        auto sample = static_cast<std::int16_t>(value);
        int magnitude = std::abs(value);
        // Each segment doubles the step; the error is at most half a step (plus clipping at the top).
        int allowed = std::max(16, magnitude / 16) + (magnitude > 32000 ? 700 : 0);
        EXPECT_LE(std::abs(ulaw_to_linear(linear_to_ulaw(sample)) - value), allowed) << value;
        EXPECT_LE(std::abs(alaw_to_linear(linear_to_alaw(sample)) - value), allowed) << value;
    }
}

TEST(G711, BulkCodecsMatchTheSampleFunctions) {
    auto samples = tone(8000, 440, 20);
    std::vector<std::uint8_t> codes;
    encode_ulaw(samples, codes);
    std::vector<std::int16_t> decoded;
    decode_ulaw(codes, decoded);
    ASSERT_EQ(decoded.size(), samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) EXPECT_EQ(decoded[i], ulaw_to_linear(linear_to_ulaw(samples[i])));
    codes.clear();
    decoded.clear();
    encode_alaw(samples, codes);
    decode_alaw(codes, decoded);
    for (std::size_t i = 0; i < samples.size(); ++i) EXPECT_EQ(decoded[i], alaw_to_linear(linear_to_alaw(samples[i])));
}

TEST(Base64, RoundTripsEveryLengthAndMatchesRfc4648Vectors) {
    std::string out;
    auto encode = [&](std::string_view text) {
        out.clear();
        base64_encode({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, out);
        return out;
    };
    EXPECT_EQ(encode(""), "");
    EXPECT_EQ(encode("f"), "Zg==");
    EXPECT_EQ(encode("fo"), "Zm8=");
    EXPECT_EQ(encode("foo"), "Zm9v");
    EXPECT_EQ(encode("foobar"), "Zm9vYmFy");
    std::vector<std::uint8_t> bytes;
    for (int n = 0; n < 300; ++n) {
        std::vector<std::uint8_t> original(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) original[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i * 37 + n);
        out.clear();
        base64_encode(original, out);
        bytes.clear();
        ASSERT_TRUE(base64_decode(out, bytes)) << n;
        EXPECT_EQ(bytes, original) << n;
    }
}

TEST(Base64, RefusesWhatIsNotBase64AndLeavesTheOutputAlone) {
    std::vector<std::uint8_t> bytes{1, 2};
    for (std::string_view bad : {"Zg=", "Zm9v!mFy", "Zg==Zm8=", "=Zm8", "Z===", "Zm 9v", "Zm9v\n"}) {
        EXPECT_FALSE(base64_decode(bad, bytes)) << bad;
        EXPECT_EQ(bytes, (std::vector<std::uint8_t>{1, 2})) << bad;
    }
}

TEST(Wav, EncodesAndDecodesPcm16Mono) {
    auto samples = tone(16000, 300, 50);
    auto wav = encode_wav(samples, 16000);
    EXPECT_EQ(wav.size(), 44 + samples.size() * 2);
    auto decoded = decode_wav(wav);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->sample_rate, 16000);
    EXPECT_EQ(decoded->samples, samples);
    EXPECT_FALSE(decode_wav("RIFF....WAVEjunk"));
    EXPECT_FALSE(decode_wav(wav.substr(0, 20)));
}

TEST(AudioFormat, KnowsTheProtocolsThreeFormats) {
    EXPECT_EQ(format_from_mime("audio/pcm"), pcm24k);
    EXPECT_EQ(format_from_mime("audio/pcmu"), pcmu8k);
    EXPECT_EQ(format_from_mime("audio/pcma"), pcma8k);
    EXPECT_FALSE(format_from_mime("audio/opus"));
    EXPECT_EQ(pcm24k.bytes_per_second(), 48000u);
    EXPECT_EQ(pcmu8k.bytes_per_second(), 8000u);
    EXPECT_EQ(pcma8k.mime_type(), "audio/pcma");
}

TEST(Resampler, ChunkedOutputHasTheRightLengthAndKeepsTheTone) {
    for (auto [from, to] : {std::pair{8000, 24000}, {24000, 8000}, {24000, 16000}, {22050, 24000}}) {
        auto input = tone(from, 440, 1000);
        Resampler resampler(from, to);
        std::vector<std::int16_t> output;
        std::size_t chunk = static_cast<std::size_t>(from) / 50;  // 20 ms
        for (std::size_t at = 0; at < input.size(); at += chunk)
            resampler.process(std::span(input).subspan(at, std::min(chunk, input.size() - at)), output);
        resampler.flush(output);
        EXPECT_NEAR(static_cast<double>(output.size()), to, to * 0.01) << from << "->" << to;
        EXPECT_NEAR(measured_frequency(output, to), 440, 5) << from << "->" << to;
        EXPECT_EQ(resample(input, from, to).size(), output.size()) << from << "->" << to;
    }
}

TEST(Resampler, SameRateIsACopy) {
    auto input = tone(8000, 300, 100);
    std::vector<std::int16_t> output;
    Resampler resampler(8000, 8000);
    resampler.process(input, output);
    resampler.flush(output);
    EXPECT_EQ(output, input);
    EXPECT_THROW(Resampler(0, 8000), std::runtime_error);
}

// Feeds `samples` in 20 ms chunks, as a client streams them, and returns the events.
std::vector<VadEvent> detect(VoiceActivityDetector& vad, const std::vector<std::int16_t>& samples, int rate) {
    std::vector<VadEvent> events;
    std::size_t chunk = static_cast<std::size_t>(rate) / 50;
    for (std::size_t at = 0; at < samples.size(); at += chunk)
        vad.feed(std::span(samples).subspan(at, std::min(chunk, samples.size() - at)), events);
    return events;
}

// The first and last millisecond of `samples` that are clearly not silence.
std::pair<std::int64_t, std::int64_t> voiced_span_ms(const std::vector<std::int16_t>& samples, int rate) {
    std::size_t first = samples.size(), last = 0;
    for (std::size_t i = 0; i < samples.size(); ++i)
        if (std::abs(samples[i]) > 1000) {
            first = std::min(first, i);
            last = i;
        }
    return {static_cast<std::int64_t>(first) * 1000 / rate, static_cast<std::int64_t>(last) * 1000 / rate};
}

TEST(VoiceActivityDetector, FindsRealSpeechBetweenSilencesAtEachRate) {
    auto speech = test::speak("Hello, what is the weather like today?");
    for (int rate : {24000, 16000, 8000}) {
        std::vector<std::int16_t> signal(static_cast<std::size_t>(rate));  // 1 s of silence
        auto words = resample(speech.samples, speech.sample_rate, rate);
        signal.insert(signal.end(), words.begin(), words.end());
        signal.resize(signal.size() + static_cast<std::size_t>(rate) * 3 / 2);  // 1.5 s of silence
        auto [voice_start, voice_end] = voiced_span_ms(signal, rate);

        VadSettings settings{.threshold = 0.5, .prefix_padding_ms = 300, .silence_duration_ms = 500};
        VoiceActivityDetector vad(settings, rate);
        auto events = detect(vad, signal, rate);
        ASSERT_EQ(events.size(), 2u) << rate;
        EXPECT_EQ(events[0].kind, VadEvent::Kind::speech_started);
        EXPECT_EQ(events[1].kind, VadEvent::Kind::speech_stopped);
        // Start: the voice onset minus the padding, within a frame and the onset run.
        EXPECT_NEAR(events[0].audio_ms, voice_start - settings.prefix_padding_ms, 40) << rate;
        // Stop: the end of the voice plus the silence duration, within two frames.
        EXPECT_NEAR(events[1].audio_ms, voice_end + settings.silence_duration_ms, 60) << rate;
        EXPECT_FALSE(vad.in_speech());
    }
}

TEST(VoiceActivityDetector, PausesShorterThanTheSilenceDurationStayOneTurn) {
    constexpr int rate = 22050;
    auto first = test::speak("one two three");
    auto second = test::speak("four five six");
    std::vector<std::int16_t> signal(rate / 2);
    signal.insert(signal.end(), first.samples.begin(), first.samples.end());
    auto first_voice_end = voiced_span_ms(signal, rate).second;
    signal.resize(signal.size() + rate / 10);
    auto second_begins = signal.size();
    signal.insert(signal.end(), second.samples.begin(), second.samples.end());
    std::vector<std::int16_t> tail(signal.begin() + static_cast<std::ptrdiff_t>(second_begins), signal.end());
    auto pause_ms = static_cast<std::int64_t>(second_begins) * 1000 / rate + voiced_span_ms(tail, rate).first - first_voice_end;
    signal.resize(signal.size() + rate);
    ASSERT_GT(pause_ms, 250);  // espeak's own padding plus the 100 ms we added

    VoiceActivityDetector patient({.prefix_padding_ms = 0, .silence_duration_ms = static_cast<int>(pause_ms) + 200}, rate);
    EXPECT_EQ(detect(patient, signal, rate).size(), 2u) << "pause " << pause_ms << " ms";
    VoiceActivityDetector eager({.prefix_padding_ms = 0, .silence_duration_ms = static_cast<int>(pause_ms) - 150}, rate);
    EXPECT_EQ(detect(eager, signal, rate).size(), 4u) << "pause " << pause_ms << " ms";
}

TEST(VoiceActivityDetector, IgnoresQuietNoiseAndShortClicks) {
    std::vector<std::int16_t> noise(24000 * 2);
    std::uint32_t seed = 1;
    for (auto& s : noise) {
        seed = seed * 1664525 + 1013904223;
        s = static_cast<std::int16_t>(static_cast<int>(seed >> 16) % 300 - 150);  // about -50 dBFS
    }
    for (int i = 0; i < 240; ++i) noise[24000 + static_cast<std::size_t>(i)] = 20000;  // a 10 ms click
    VoiceActivityDetector vad({}, 24000);
    EXPECT_TRUE(detect(vad, noise, 24000).empty());
    // A higher threshold ignores what a low one hears.
    auto soft = tone(24000, 200, 1000, 600);  // about -38 dBFS
    std::vector<std::int16_t> signal(24000);
    signal.insert(signal.end(), soft.begin(), soft.end());
    signal.resize(signal.size() + 24000);
    VoiceActivityDetector sensitive({.threshold = 0.2}, 24000), strict({.threshold = 0.8}, 24000);
    EXPECT_EQ(detect(sensitive, signal, 24000).size(), 2u);
    EXPECT_TRUE(detect(strict, signal, 24000).empty());
}

TEST(VoiceActivityDetector, ResetForgetsSpeechButKeepsTheClock) {
    auto speech = test::speak("hello there");
    auto words = resample(speech.samples, speech.sample_rate, 24000);
    VoiceActivityDetector vad({}, 24000);
    std::vector<VadEvent> events;
    vad.feed(words, events);
    ASSERT_TRUE(vad.in_speech());
    auto before = vad.position_ms();
    vad.reset();
    EXPECT_FALSE(vad.in_speech());
    EXPECT_GE(vad.position_ms(), before);
    std::vector<std::int16_t> silence(24000);
    events.clear();
    vad.feed(silence, events);
    EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace voxgate::audio
