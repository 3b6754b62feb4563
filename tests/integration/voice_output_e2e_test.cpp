// Spoken replies end to end with the real text-to-speech providers: a real gateway on
// 127.0.0.1, a real WebSocket client asking for output_modalities ["audio"], the reply's
// text from the demo provider, its audio from espeak-ng on the compute pool or from the
// mock's /audio/speech over loopback.
//
// No test asserts timing: waits are generous deadlines, never measurements.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audio/base64.hpp"
#include "support/mock_upstream.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct SpokenReply {
    std::vector<std::int16_t> samples;  // PCM16 24 kHz, all audio deltas joined
    std::string transcript;             // response.output_audio_transcript.done
    json done;                          // response.done
};

// Asks for one spoken response to `text` and collects it.
SpokenReply speak_reply(std::uint16_t port, const json& session, const std::string& text) {
    auto ws = WsClient::connect(port, {.target = "/v1/realtime?model=gpt-voice", .read_timeout = 60s});
    EXPECT_EQ(ws->read_json().value("type", ""), "session.created");
    ws->send_text(json{{"type", "session.update"}, {"session", session}}.dump());
    EXPECT_EQ(ws->read_until("session.updated").value("type", ""), "session.updated");
    ws->send_text(json{{"type", "conversation.item.create"},
                       {"item",
                        {{"type", "message"},
                         {"role", "user"},
                         {"content", {{{"type", "input_text"}, {"text", text}}}}}}}
                      .dump());
    ws->send_text(json{{"type", "response.create"}}.dump());
    SpokenReply reply;
    std::vector<std::uint8_t> bytes;
    for (;;) {
        json event = ws->read_json();
        const std::string type = event.value("type", "");
        if (type == "response.output_audio.delta") {
            std::vector<std::uint8_t> chunk;
            EXPECT_TRUE(audio::base64_decode(event.value("delta", ""), chunk));
            bytes.insert(bytes.end(), chunk.begin(), chunk.end());
        } else if (type == "response.output_audio_transcript.done") {
            reply.transcript = event.value("transcript", "");
        } else if (type == "response.done") {
            reply.done = event;
            break;
        } else if (type.empty() || type == "error") {
            ADD_FAILURE() << event.dump();
            break;
        }
    }
    EXPECT_EQ(bytes.size() % 2, 0u);
    for (std::size_t i = 0; i + 1 < bytes.size(); i += 2)
        reply.samples.push_back(static_cast<std::int16_t>(static_cast<std::uint16_t>(bytes[i] | (bytes[i + 1] << 8))));
    return reply;
}

double rms(const std::vector<std::int16_t>& samples) {
    double sum = 0;
    for (auto s : samples) sum += static_cast<double>(s) * s;
    return samples.empty() ? 0 : std::sqrt(sum / static_cast<double>(samples.size()));
}

TEST(VoiceOutputE2E, TheDefaultGatewaySpeaksTheReplyWithEspeakOffline) {
    TestGateway gateway;  // text_to_speech defaults to espeak: no key, no network
    auto reply = speak_reply(gateway.port(), {{"output_modalities", {"audio"}}}, "Say something.");
    EXPECT_EQ(reply.done["response"].value("status", ""), "completed") << reply.done.dump();
    ASSERT_FALSE(reply.transcript.empty());
    // Speech at 24 kHz (resampled from espeak-ng's 22,050 Hz), as long as the words need:
    // at least ~30 ms per character of the transcript, never minutes.
    const double seconds = static_cast<double>(reply.samples.size()) / 24000;
    EXPECT_GT(seconds, 0.03 * static_cast<double>(reply.transcript.size())) << reply.transcript;
    EXPECT_LT(seconds, 0.5 * static_cast<double>(reply.transcript.size()) + 2) << reply.transcript;
    EXPECT_GT(rms(reply.samples), 300);
    EXPECT_GE(scrape_metric(gateway.port(), "voxgate_tts_first_byte_seconds_count"), 1);
}

TEST(VoiceOutputE2E, AnOpenAiCompatibleSpeechProviderGetsEachPieceAndItsAudioArrivesIntact) {
    MockUpstream mock;
    mock.set_speech({.ms_per_char = 10, .chunk_ms = 40});
    Config config = test_config();
    config.text_to_speech.kind = "openai";
    config.text_to_speech.base_url = mock.base_url() + "/v1";
    config.text_to_speech.voice = "alloy";
    config.text_to_speech.model = "gpt-4o-mini-tts";
    TestGateway gateway(config);
    auto reply = speak_reply(gateway.port(),
                             {{"output_modalities", {"audio"}}, {"audio", {{"output", {{"voice", "coral"}}}}}},
                             "Say something.");
    EXPECT_EQ(reply.done["response"].value("status", ""), "completed") << reply.done.dump();
    const auto requests = mock.speech_requests();
    ASSERT_FALSE(requests.empty());
    // The pieces asked for, in order, are what was spoken; the audio is the mock's, sample for sample.
    std::vector<std::int16_t> expected;
    std::string spoken;
    for (const auto& request : requests) {
        EXPECT_EQ(request.voice, "coral");
        EXPECT_EQ(request.model, "gpt-4o-mini-tts");
        EXPECT_EQ(request.response_format, "pcm");
        const auto piece = mock_speech_samples(request.input.size(), 10);
        expected.insert(expected.end(), piece.begin(), piece.end());
        spoken += (spoken.empty() ? "" : " ") + request.input;
    }
    EXPECT_EQ(spoken, reply.transcript);
    EXPECT_EQ(reply.samples, expected);
}

}  // namespace
}  // namespace voxgate::test
