// Spoken replies end to end: a real gateway on 127.0.0.1, a real WebSocket client streaming
// real speech (espeak-ng) in 20 ms frames at real-time pace with silence around it, server
// VAD, speech-to-text and text-to-speech either offline (PocketSphinx and espeak-ng on the
// compute pool, the demo model) or against the HTTP mock (/audio/transcriptions,
// /audio/speech), and the reply's audio back as response.output_audio.delta.
//
// No test asserts timing: waits are generous deadlines, never measurements.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "audio/base64.hpp"
#include "audio/pcm16.hpp"
#include "audio/g711.hpp"
#include "audio/resampler.hpp"
#include "support/mock_upstream.hpp"
#include "support/speech.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::vector<std::uint8_t> pcm_bytes(const std::vector<std::int16_t>& samples) {
    std::vector<std::uint8_t> bytes;
    audio::encode_pcm16le(samples, bytes);
    return bytes;
}

// `phrase` spoken by espeak-ng at 24 kHz, with `before_ms` of silence before and `after_ms` after.
std::vector<std::int16_t> spoken(const std::string& phrase, int before_ms, int after_ms) {
    auto speech = speak(phrase);
    std::vector<std::int16_t> samples(static_cast<std::size_t>(24 * before_ms), 0);
    auto voice = audio::resample(speech.samples, speech.sample_rate, 24000);
    samples.insert(samples.end(), voice.begin(), voice.end());
    samples.insert(samples.end(), static_cast<std::size_t>(24 * after_ms), 0);
    return samples;
}

double rms(const std::vector<std::int16_t>& samples) {
    double sum = 0;
    for (auto s : samples) sum += double(s) * s;
    return samples.empty() ? 0 : std::sqrt(sum / double(samples.size()));
}

class SpeakingClient {
public:
    explicit SpeakingClient(std::uint16_t port)
        : ws_(WsClient::connect(port, {.target = "/v1/realtime?model=gpt-voice", .read_timeout = 60s})) {
        EXPECT_EQ(ws_->read_json().value("type", ""), "session.created");
    }
    void send(const json& event) { ws_->send_text(event.dump()); }
    json next_of(const std::string& type, std::vector<json>* skipped = nullptr) { return ws_->read_until(type, skipped); }
    void update(const json& session) {
        send({{"type", "session.update"}, {"session", session}});
        ASSERT_EQ(next_of("session.updated").value("type", ""), "session.updated");
    }
    // Streams PCM16 24 kHz in 20 ms frames, paced like a microphone.
    void stream(const std::vector<std::int16_t>& samples) {
        const auto bytes = pcm_bytes(samples);
        auto next = std::chrono::steady_clock::now();
        for (std::size_t at = 0; at < bytes.size(); at += 960) {
            std::string encoded;
            audio::base64_encode(std::span(bytes).subspan(at, std::min<std::size_t>(960, bytes.size() - at)), encoded);
            send({{"type", "input_audio_buffer.append"}, {"audio", encoded}});
            next += 20ms;
            std::this_thread::sleep_until(next);
        }
    }

private:
    std::unique_ptr<WsClient> ws_;
};

// What a spoken response delivered, read up to its response.done.
struct SpokenReply {
    std::vector<json> events;
    std::vector<std::uint8_t> audio;  // all output_audio deltas, in order
    std::string transcript_deltas;
    json done;
};

SpokenReply read_reply(SpeakingClient& client) {
    SpokenReply reply;
    reply.done = client.next_of("response.done", &reply.events);
    for (const auto& event : reply.events) {
        const std::string type = event.value("type", "");
        if (type == "response.output_audio.delta") {
            EXPECT_TRUE(audio::base64_decode(event.value("delta", ""), reply.audio));
        } else if (type == "response.output_audio_transcript.delta") {
            reply.transcript_deltas += event.value("delta", "");
        }
    }
    return reply;
}

std::vector<std::int16_t> samples_of(const std::vector<std::uint8_t>& pcm) {
    std::vector<std::int16_t> out(pcm.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<std::int16_t>(pcm[2 * i] | (pcm[2 * i + 1] << 8));
    return out;
}

Config offline_config() {
    Config config = test_config();  // the demo model; speech_to_text pocketsphinx, text_to_speech espeak
    config.limits.max_events_per_second = 10000;
    return config;
}

TEST(SpokenTurnE2E, OfflineAQuestionSpokenIsRecognisedAnsweredAndTheAnswerComesBackAsSpeech) {
    Config config = offline_config();
    ASSERT_EQ(config.text_to_speech.kind, "espeak");
    ASSERT_EQ(config.speech_to_text.kind, "pocketsphinx");
    TestGateway gateway(config);
    SpeakingClient client(gateway.port());
    client.update({{"output_modalities", {"audio"}}});
    client.stream(spoken("what is the weather like today", 300, 900));

    json transcribed = client.next_of("conversation.item.input_audio_transcription.completed");
    EXPECT_NE(transcribed.value("transcript", "").find("weather"), std::string::npos) << transcribed.dump();
    SpokenReply reply = read_reply(client);
    EXPECT_EQ(reply.done["response"]["status"], "completed");
    EXPECT_EQ(reply.done["response"]["output_modalities"], json({"audio"}));
    const json& content = reply.done["response"]["output"][0]["content"][0];
    EXPECT_EQ(content["type"], "output_audio");
    EXPECT_FALSE(content.value("transcript", "").empty());
    EXPECT_EQ(reply.transcript_deltas, content["transcript"]);
    // Real speech: about as long as the words take to say, and not silence.
    const auto samples = samples_of(reply.audio);
    const double seconds = double(samples.size()) / 24000;
    const double words = double(std::count(reply.transcript_deltas.begin(), reply.transcript_deltas.end(), ' ') + 1);
    EXPECT_GT(seconds, words * 0.15) << reply.transcript_deltas;
    EXPECT_LT(seconds, words * 1.5) << reply.transcript_deltas;
    EXPECT_GT(rms(samples), 300);
    // The events of a spoken response, in order: transcript before its audio, done events last.
    std::vector<std::string> order;
    for (const auto& event : reply.events) {
        const std::string type = event.value("type", "");
        if (order.empty() || order.back() != type) order.push_back(type);
    }
    const auto first_audio = std::find(order.begin(), order.end(), "response.output_audio.delta");
    const auto first_transcript = std::find(order.begin(), order.end(), "response.output_audio_transcript.delta");
    const auto audio_done = std::find(order.begin(), order.end(), "response.output_audio.done");
    ASSERT_NE(first_audio, order.end());
    EXPECT_LT(first_transcript, first_audio);
    EXPECT_LT(first_audio, audio_done);
    EXPECT_GT(scrape_metric(gateway.port(), "voxgate_output_audio_seconds_total"), 0.1);
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_time_to_first_audio_seconds_count"), 1);
}

// The HTTP providers: STT and TTS at the mock, the model at the mock.
struct MockedVoice {
    MockUpstream mock;
    Config config;
    MockedVoice() {
        config = test_config();
        config.limits.max_events_per_second = 10000;
        ProviderConfig provider;
        provider.name = "mock";
        provider.kind = "openai";
        provider.base_url = mock.base_url() + "/v1";
        provider.api_key = "sk-voice-output-dummy";
        config.providers = {provider};
        config.routes = {{"*", {"mock"}}};
        config.speech_to_text.kind = "openai";
        config.speech_to_text.base_url = mock.base_url() + "/v1";
        config.text_to_speech.kind = "openai";
        config.text_to_speech.base_url = mock.base_url() + "/v1";
        config.text_to_speech.voice = "alloy";
    }
};

// The model's reply, as the mock streams it: four deltas, two sentence ends.
MockScript four_deltas() {
    MockScript script;
    script.texts = {"Hello there, nice to see you.", " The weather is fine today.", " It will rain tomorrow,",
                    " so take an umbrella."};
    script.tokens = 4;
    script.gap_ms = 20;
    return script;
}

void ask_by_text(SpeakingClient& client) {
    client.send({{"type", "conversation.item.create"},
                 {"item", {{"type", "message"}, {"role", "user"}, {"content", {{{"type", "input_text"}, {"text", "Hi"}}}}}}});
    client.send({{"type", "response.create"}});
}

TEST(SpokenTurnE2E, TheFirstSentenceIsSpokenWhileTheModelHasNotFinished) {
    MockedVoice voice;
    MockScript script = four_deltas();
    script.stall_after = 2;  // two deltas, then the model writes nothing more
    voice.config.providers[0].headers = {{"x-mock-script", script.header_value()}};
    TestGateway gateway(voice.config);
    SpeakingClient client(gateway.port());
    client.update({{"output_modalities", {"audio"}}});
    ask_by_text(client);
    std::vector<json> before;
    json audio = client.next_of("response.output_audio.delta", &before);
    for (const auto& event : before) EXPECT_NE(event.value("type", ""), "response.done");
    EXPECT_FALSE(audio.value("delta", "").empty());
    const auto requests = voice.mock.speech_requests();
    ASSERT_GE(requests.size(), 1u);
    EXPECT_EQ(requests[0].input, "Hello there, nice to see you.");
    EXPECT_EQ(requests[0].voice, "alloy");
    client.send({{"type", "response.cancel"}});
    json done = client.next_of("response.done");
    EXPECT_EQ(done["response"]["status"], "cancelled");
}

TEST(SpokenTurnE2E, EverySentenceIsSpokenInOrderAndTheAudioIsExactlyWhatTheProviderSent) {
    MockedVoice voice;
    voice.config.providers[0].headers = {{"x-mock-script", four_deltas().header_value()}};
    // Each piece's audio: 10 ms per character, in 40 ms chunks, at real-time pace.
    MockSpeech speech;
    speech.ms_per_char = 10;
    speech.realtime_factor = 1.0;
    speech.chunk_ms = 40;
    voice.mock.set_speech(speech);
    TestGateway gateway(voice.config);
    SpeakingClient client(gateway.port());
    client.update({{"output_modalities", {"audio"}}});
    ask_by_text(client);
    SpokenReply reply = read_reply(client);
    ASSERT_EQ(reply.done["response"]["status"], "completed") << reply.done.dump();
    const auto requests = voice.mock.speech_requests();
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_EQ(requests[0].input, "Hello there, nice to see you.");
    EXPECT_EQ(requests[1].input, "The weather is fine today.");
    EXPECT_EQ(requests[2].input, "It will rain tomorrow, so take an umbrella.");
    EXPECT_EQ(reply.transcript_deltas,
              "Hello there, nice to see you. The weather is fine today. It will rain tomorrow, so take an umbrella.");
    // All audio in order, piece after piece, sample for sample what the provider sent.
    std::vector<std::int16_t> expected;
    for (const auto& request : requests) {
        auto piece = mock_speech_samples(request.input.size(), 10);
        expected.insert(expected.end(), piece.begin(), piece.end());
    }
    EXPECT_EQ(samples_of(reply.audio), expected);
}

TEST(SpokenTurnE2E, SpeakingOverTheReplyStopsItAndTruncateKeepsWhatWasHeard) {
    MockedVoice voice;
    voice.config.providers[0].headers = {{"x-mock-script", four_deltas().header_value()}};
    MockSpeech speech;
    speech.ms_per_char = 40;  // long pieces, played at real-time pace: there is time to interrupt
    speech.realtime_factor = 1.0;
    speech.chunk_ms = 40;
    voice.mock.set_speech(speech);
    TestGateway gateway(voice.config);
    SpeakingClient client(gateway.port());
    client.update({{"output_modalities", {"audio"}}});
    ask_by_text(client);
    json first = client.next_of("response.output_audio.delta");
    const std::string item_id = first.value("item_id", "");
    // Once the second piece starts, the first one's length (its pace) is known.
    EXPECT_EQ(client.next_of("response.output_audio_transcript.delta").value("delta", ""), " The weather is fine today.");
    // The user starts speaking over the reply: server VAD hears it and barges in.
    std::vector<json> skipped;
    std::thread speaker([&] { client.stream(spoken("stop please", 0, 900)); });
    json done = client.next_of("response.done", &skipped);
    EXPECT_EQ(done["response"]["status"], "cancelled");
    EXPECT_EQ(done["response"]["status_details"]["reason"], "turn_detected");
    bool started_before_done = false;
    for (const auto& event : skipped)
        if (event.value("type", "") == "input_audio_buffer.speech_started") started_before_done = true;
    EXPECT_TRUE(started_before_done);
    // Not every piece was spoken: the history holds only what was.
    const std::string kept = done["response"]["output"][0]["content"][0].value("transcript", "");
    EXPECT_FALSE(kept.empty());
    EXPECT_LT(kept.size(), std::string("Hello there, nice to see you. The weather is fine today. It will rain tomorrow, so take an umbrella.").size());
    speaker.join();
    // The listener heard the first 300 ms: truncate keeps about that much of the transcript.
    client.send({{"type", "conversation.item.truncate"}, {"item_id", item_id}, {"content_index", 0}, {"audio_end_ms", 300}});
    json truncated = client.next_of("conversation.item.truncated");
    EXPECT_EQ(truncated["audio_end_ms"], 300);
    client.send({{"type", "conversation.item.retrieve"}, {"item_id", item_id}});
    const std::string heard = client.next_of("conversation.item.retrieved")["item"]["content"][0].value("transcript", "");
    // 40 ms per character: 300 ms is about 7 characters, cut back to a word.
    EXPECT_EQ(heard, "Hello");
}

}  // namespace
}  // namespace voxgate::test
