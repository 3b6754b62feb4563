// The input side of voice: input_audio_buffer.* decoding, audio.input.turn_detection
// settings, the session's AudioInput buffer (formats, limits, server VAD turns) and the local
// PocketSphinx recogniser, on real speech made by espeak-ng.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audio/base64.hpp"
#include "audio/pcm16.hpp"
#include "audio/g711.hpp"
#include "audio/resampler.hpp"
#include "protocol/client_events.hpp"
#include "protocol/session_settings.hpp"
#include "session/audio_input.hpp"
#include "speech/pocketsphinx_recognizer.hpp"
#include "support/speech.hpp"

namespace voxgate {
namespace {

using namespace std::chrono_literals;
using audio::VadEvent;
using session::AudioInput;

std::vector<std::uint8_t> pcm_bytes(const std::vector<std::int16_t>& samples) {
    std::vector<std::uint8_t> bytes;
    audio::encode_pcm16le(samples, bytes);
    return bytes;
}

protocol::ProtocolError error_of(const std::string& text) {
    auto decoded = protocol::decode_client_event(text);
    if (auto* error = std::get_if<protocol::ProtocolError>(&decoded)) return *error;
    ADD_FAILURE() << "decoded without error: " << text;
    return {};
}

// ---------------------------------------------------------------------------------------
// input_audio_buffer.* events

TEST(VoiceInputEvents, AppendDecodesBase64AndRefusesAnythingElse) {
    auto decoded = protocol::decode_client_event(R"({"type":"input_audio_buffer.append","event_id":"a","audio":"AAEC/w=="})");
    auto* event = std::get_if<protocol::ClientEvent>(&decoded);
    ASSERT_NE(event, nullptr);
    auto* append = std::get_if<protocol::AudioAppend>(&event->body);
    ASSERT_NE(append, nullptr);
    EXPECT_EQ(append->audio, (std::vector<std::uint8_t>{0x00, 0x01, 0x02, 0xff}));

    auto bad = error_of(R"({"type":"input_audio_buffer.append","event_id":"b","audio":"not base64!"})");
    EXPECT_EQ(bad.code, "invalid_audio");
    EXPECT_EQ(bad.param, "audio");
    EXPECT_EQ(bad.event_id, "b");
    EXPECT_EQ(error_of(R"({"type":"input_audio_buffer.append"})").code, "missing_required_parameter");
    EXPECT_EQ(error_of(R"({"type":"input_audio_buffer.append","audio":5})").code, "invalid_type");
}

TEST(VoiceInputEvents, CommitAndClearAreEvents) {
    auto commit = protocol::decode_client_event(R"({"type":"input_audio_buffer.commit"})");
    ASSERT_TRUE(std::holds_alternative<protocol::ClientEvent>(commit));
    EXPECT_TRUE(std::holds_alternative<protocol::AudioCommit>(std::get<protocol::ClientEvent>(commit).body));
    auto clear = protocol::decode_client_event(R"({"type":"input_audio_buffer.clear"})");
    ASSERT_TRUE(std::holds_alternative<protocol::ClientEvent>(clear));
    EXPECT_TRUE(std::holds_alternative<protocol::AudioClear>(std::get<protocol::ClientEvent>(clear).body));
}

// ---------------------------------------------------------------------------------------
// audio.input.turn_detection and format

protocol::SessionSettings settings_after(const std::string& session_json) {
    std::optional<protocol::ProtocolError> error;
    auto patch = protocol::decode_session_patch(nlohmann::json::parse(session_json), error);
    EXPECT_TRUE(patch.has_value()) << (error ? error->message : "");
    protocol::SessionSettings settings;
    if (patch) protocol::apply_patch(settings, *patch);
    return settings;
}

protocol::ProtocolError patch_error(const std::string& session_json) {
    std::optional<protocol::ProtocolError> error;
    auto patch = protocol::decode_session_patch(nlohmann::json::parse(session_json), error);
    EXPECT_FALSE(patch.has_value());
    return error.value_or(protocol::ProtocolError{});
}

TEST(VoiceInputSettings, TurnDetectionDefaultsToServerVadAndNullMeansManual) {
    protocol::SessionSettings fresh;
    auto detection = protocol::turn_detection(fresh);
    ASSERT_TRUE(detection.has_value());
    EXPECT_TRUE(detection->create_response);
    EXPECT_EQ(detection->vad.silence_duration_ms, audio::VadSettings{}.silence_duration_ms);

    auto manual = settings_after(R"({"audio":{"input":{"turn_detection":null}}})");
    EXPECT_FALSE(protocol::turn_detection(manual).has_value());

    auto tuned = settings_after(
        R"({"audio":{"input":{"turn_detection":{"type":"server_vad","threshold":0.7,"prefix_padding_ms":100,
            "silence_duration_ms":800,"create_response":false,"interrupt_response":false}}}})");
    auto tuned_detection = protocol::turn_detection(tuned);
    ASSERT_TRUE(tuned_detection.has_value());
    EXPECT_DOUBLE_EQ(tuned_detection->vad.threshold, 0.7);
    EXPECT_EQ(tuned_detection->vad.prefix_padding_ms, 100);
    EXPECT_EQ(tuned_detection->vad.silence_duration_ms, 800);
    EXPECT_FALSE(tuned_detection->create_response);
    EXPECT_FALSE(tuned_detection->interrupt_response);

    // The beta's flat field lands in the same place.
    auto beta = settings_after(R"({"turn_detection":{"type":"server_vad","silence_duration_ms":300}})");
    EXPECT_EQ(protocol::turn_detection(beta)->vad.silence_duration_ms, 300);
}

TEST(VoiceInputSettings, BadTurnDetectionNamesTheField) {
    EXPECT_EQ(patch_error(R"({"audio":{"input":{"turn_detection":{"type":"semantic_vad"}}}})").param,
              "session.audio.input.turn_detection.type");
    EXPECT_EQ(patch_error(R"({"audio":{"input":{"turn_detection":{"threshold":2}}}})").param,
              "session.audio.input.turn_detection.threshold");
    EXPECT_EQ(patch_error(R"({"audio":{"input":{"turn_detection":{"silence_duration_ms":-1}}}})").param,
              "session.audio.input.turn_detection.silence_duration_ms");
    EXPECT_EQ(patch_error(R"({"audio":{"input":{"turn_detection":{"create_response":"yes"}}}})").param,
              "session.audio.input.turn_detection.create_response");
    EXPECT_EQ(patch_error(R"({"turn_detection":{"threshold":"high"}})").param, "session.turn_detection.threshold");
}

TEST(VoiceInputSettings, InputFormatFollowsTheSession) {
    EXPECT_EQ(protocol::input_audio_format(protocol::SessionSettings{}), audio::pcm24k);
    EXPECT_EQ(protocol::input_audio_format(settings_after(R"({"audio":{"input":{"format":{"type":"audio/pcmu"}}}})")),
              audio::pcmu8k);
    EXPECT_EQ(protocol::input_audio_format(settings_after(R"({"input_audio_format":"g711_alaw"})")), audio::pcma8k);
}

// ---------------------------------------------------------------------------------------
// AudioInput

TEST(AudioInput, RefusesHalfSamplesAndAudioPastTheCap) {
    AudioInput input(audio::pcm24k, std::nullopt, 1s);
    std::vector<VadEvent> events;
    EXPECT_EQ(input.append(std::vector<std::uint8_t>(3, 0), events), AudioInput::Refusal::partial_sample);
    EXPECT_EQ(input.buffered_ms(), 0);
    // 0.6 s fits, another 0.6 s does not: refused whole, the first stays.
    const std::vector<std::uint8_t> chunk(24000 * 2 * 6 / 10, 0);
    EXPECT_EQ(input.append(chunk, events), AudioInput::Refusal::none);
    EXPECT_EQ(input.append(chunk, events), AudioInput::Refusal::buffer_full);
    EXPECT_EQ(input.buffered_ms(), 600);
    EXPECT_EQ(input.take_all().size(), 24000u * 6 / 10);
    EXPECT_EQ(input.buffered_ms(), 0);
}

TEST(AudioInput, DecodesG711ToLinearSamples) {
    AudioInput input(audio::pcmu8k, std::nullopt, 10s);
    std::vector<std::int16_t> tone;
    for (int i = 0; i < 800; ++i) tone.push_back(static_cast<std::int16_t>(i % 2 ? 8000 : -8000));
    std::vector<std::uint8_t> codes;
    audio::encode_ulaw(tone, codes);
    std::vector<VadEvent> events;
    ASSERT_EQ(input.append(codes, events), AudioInput::Refusal::none);
    EXPECT_EQ(input.buffered_ms(), 100);  // one byte per sample at 8 kHz
    const auto samples = input.take_all();
    ASSERT_EQ(samples.size(), tone.size());
    for (std::size_t i = 0; i < samples.size(); ++i) EXPECT_NEAR(samples[i], tone[i], 300) << i;
}

TEST(AudioInput, ServerVadFindsTheTurnAndKeepsNoSilenceBeforeIt) {
    auto speech = test::speak("Hello, what is the weather like today?");
    auto words = audio::resample(speech.samples, speech.sample_rate, 24000);
    std::vector<std::int16_t> stream(24000 * 2, 0);  // 2 s of silence first
    stream.insert(stream.end(), words.begin(), words.end());
    stream.insert(stream.end(), 24000, 0);  // then 1 s of silence

    audio::VadSettings vad;
    AudioInput input(audio::pcm24k, vad, 60s);
    std::vector<VadEvent> events;
    std::int64_t most_buffered_before_speech = 0;
    for (std::size_t at = 0; at < stream.size(); at += 480) {  // 20 ms chunks, as a client sends
        const std::size_t end = std::min(stream.size(), at + 480);
        std::vector<std::int16_t> chunk(stream.begin() + static_cast<std::ptrdiff_t>(at),
                                        stream.begin() + static_cast<std::ptrdiff_t>(end));
        ASSERT_EQ(input.append(pcm_bytes(chunk), events), AudioInput::Refusal::none);
        if (events.empty()) most_buffered_before_speech = std::max(most_buffered_before_speech, input.buffered_ms());
        if (!events.empty() && events.back().kind == VadEvent::Kind::speech_stopped) break;
    }
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].kind, VadEvent::Kind::speech_started);
    EXPECT_EQ(events[1].kind, VadEvent::Kind::speech_stopped);
    // Two seconds of silence came first, yet only about the prefix padding of it was held.
    EXPECT_LE(most_buffered_before_speech, vad.prefix_padding_ms + 100);
    EXPECT_GE(events[0].audio_ms, 2000 - vad.prefix_padding_ms - 100);

    const auto utterance = input.take_until(events[1].audio_ms);
    const auto utterance_ms = static_cast<std::int64_t>(utterance.size()) * 1000 / 24000;
    EXPECT_NEAR(utterance_ms, events[1].audio_ms - events[0].audio_ms, 30);
    // The words are in it: as long as the phrase, give or take the padding and the silence tail.
    const auto words_ms = static_cast<std::int64_t>(words.size()) * 1000 / 24000;
    EXPECT_GE(utterance_ms, words_ms - 200);
    EXPECT_LE(utterance_ms, words_ms + vad.prefix_padding_ms + vad.silence_duration_ms + 200);
}

// ---------------------------------------------------------------------------------------
// PocketSphinx

TEST(PocketsphinxRecognizer, RecognisesRealSpeech) {
    speech::PocketsphinxRecognizer recognizer("/usr/share/pocketsphinx/model/en-us");
    auto speech = test::speak("what is the weather like today");
    auto samples = audio::resample(speech.samples, speech.sample_rate, speech::PocketsphinxRecognizer::sample_rate);
    const std::string heard = recognizer.recognize(samples);
    // The generic en-us model mishears synthetic speech's short words; "weather" it gets.
    EXPECT_NE(heard.find("weather"), std::string::npos) << "heard: " << heard;
    EXPECT_EQ(recognizer.recognize(std::vector<std::int16_t>(16000, 0)), "");  // silence is no words
}

TEST(PocketsphinxRecognizer, MissingModelIsAClearError) {
    try {
        speech::PocketsphinxRecognizer recognizer("/nonexistent/model");
        FAIL() << "loaded a model from nowhere";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("/nonexistent/model/en-us"), std::string::npos) << error.what();
        EXPECT_NE(std::string(error.what()).find("speech_to_text.model_dir"), std::string::npos) << error.what();
    }
}

}  // namespace
}  // namespace voxgate
