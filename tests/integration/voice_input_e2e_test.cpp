// Voice input end to end: a real gateway on 127.0.0.1, a real WebSocket client streaming
// real speech (espeak-ng) as input_audio_buffer.append events, server VAD or manual commits,
// local PocketSphinx transcription on the compute pool, and the reply from the demo provider.
//
// No test asserts timing: waits are generous deadlines, never measurements.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
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

Config voice_config() {
    Config config = test_config();
    config.limits.max_events_per_second = 10000;  // the tests stream audio faster than real time
    return config;
}

class VoiceClient {
public:
    explicit VoiceClient(std::uint16_t port)
        : ws_(WsClient::connect(port, {.target = "/v1/realtime?model=gpt-voice", .read_timeout = 60s})) {
        EXPECT_EQ(ws_->read_json().value("type", ""), "session.created");
    }
    void send(const json& event) { ws_->send_text(event.dump()); }
    json next() { return ws_->read_json(); }
    json next_of(const std::string& type, std::vector<json>* skipped = nullptr) { return ws_->read_until(type, skipped); }

    void update(const json& session) {
        send({{"type", "session.update"}, {"session", session}});
        ASSERT_EQ(next_of("session.updated").value("type", ""), "session.updated");
    }
    // `bytes` as appends of `chunk` bytes each.
    void append(const std::vector<std::uint8_t>& bytes, std::size_t chunk) {
        for (std::size_t at = 0; at < bytes.size(); at += chunk) {
            std::string encoded;
            audio::base64_encode(std::span(bytes).subspan(at, std::min(chunk, bytes.size() - at)), encoded);
            send({{"type", "input_audio_buffer.append"}, {"audio", encoded}});
        }
    }

private:
    std::unique_ptr<WsClient> ws_;
};

std::vector<std::uint8_t> pcm24k_bytes(const std::vector<std::int16_t>& samples) {
    std::vector<std::uint8_t> bytes;
    audio::encode_pcm16le(samples, bytes);
    return bytes;
}

// "What is the weather like today", spoken, at `rate`, with `silence_ms` of silence after it.
std::vector<std::int16_t> spoken_question(int rate, int silence_ms) {
    auto speech = speak("what is the weather like today");
    auto samples = audio::resample(speech.samples, speech.sample_rate, rate);
    samples.insert(samples.end(), static_cast<std::size_t>(rate / 1000 * silence_ms), 0);
    return samples;
}

TEST(VoiceInputE2E, ManualCommitIsTranscribedAndTheModelAnswersTheTranscript) {
    TestGateway gateway(voice_config());
    VoiceClient client(gateway.port());
    client.update({{"audio", {{"input", {{"turn_detection", nullptr}}}}}});
    client.append(pcm24k_bytes(spoken_question(24000, 200)), 4800);  // 100 ms chunks
    client.send({{"type", "input_audio_buffer.commit"}, {"event_id", "commit-1"}});

    json committed = client.next_of("input_audio_buffer.committed");
    const std::string item_id = committed.value("item_id", "");
    ASSERT_FALSE(item_id.empty());
    json added = client.next_of("conversation.item.added");
    EXPECT_EQ(added["item"]["id"], item_id);
    EXPECT_EQ(added["item"]["role"], "user");
    EXPECT_EQ(added["item"]["content"][0]["type"], "input_audio");
    EXPECT_TRUE(added["item"]["content"][0]["transcript"].is_null());

    json transcribed = client.next_of("conversation.item.input_audio_transcription.completed");
    EXPECT_EQ(transcribed["item_id"], item_id);
    const std::string transcript = transcribed.value("transcript", "");
    EXPECT_NE(transcript.find("weather"), std::string::npos) << transcript;

    // The transcript is now the item's content, as retrieve shows and the model will read.
    client.send({{"type", "conversation.item.retrieve"}, {"item_id", item_id}});
    json retrieved = client.next_of("conversation.item.retrieved");
    EXPECT_EQ(retrieved["item"]["content"][0]["transcript"], transcript);

    client.send({{"type", "response.create"}});
    json done = client.next_of("response.done");
    EXPECT_EQ(done["response"]["status"], "completed");
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_transcriptions_completed_total"), 1);
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_input_audio_committed_total"), 1);
}

TEST(VoiceInputE2E, AResponseRequestedBeforeTheTranscriptWaitsForItSoTheModelHearsTheTurn) {
    MockUpstream mock;
    Config config = voice_config();
    ProviderConfig provider;
    provider.name = "mock";
    provider.kind = "openai";
    provider.base_url = mock.base_url() + "/v1";
    provider.api_key = "sk-voice-e2e-dummy";
    config.providers = {provider};
    config.routes = {{"*", {"mock"}}};
    TestGateway gateway(config);
    VoiceClient client(gateway.port());
    client.update({{"audio", {{"input", {{"turn_detection", nullptr}}}}}});
    client.append(pcm24k_bytes(spoken_question(24000, 200)), 4800);
    // Commit and ask at once: the transcript is still being recognised.
    client.send({{"type", "input_audio_buffer.commit"}});
    client.send({{"type", "response.create"}});
    std::vector<json> before;
    client.next_of("response.created", &before);
    bool transcribed_first = false;
    for (const auto& event : before)
        if (event.value("type", "") == "conversation.item.input_audio_transcription.completed") transcribed_first = true;
    EXPECT_TRUE(transcribed_first) << "response.created came before the transcript";
    EXPECT_EQ(client.next_of("response.done")["response"]["status"], "completed");
    // The provider was asked with the transcript as the user's turn.
    const auto requests = mock.requests();
    ASSERT_EQ(requests.size(), 1u);
    const json sent = json::parse(requests[0].body);
    const json& last = sent["messages"].back();
    EXPECT_EQ(last["role"], "user");
    EXPECT_NE(last["content"].dump().find("weather"), std::string::npos) << sent.dump();
}

TEST(VoiceInputE2E, ServerVadDetectsTheTurnCommitsItAndStartsTheResponse) {
    TestGateway gateway(voice_config());
    VoiceClient client(gateway.port());
    // Default session: server_vad with create_response. Half a second of silence, the
    // question, then silence long enough for the detector to end the turn.
    std::vector<std::int16_t> audio(12000, 0);
    const auto question = spoken_question(24000, 1000);
    audio.insert(audio.end(), question.begin(), question.end());
    client.append(pcm24k_bytes(audio), 4800);

    json started = client.next_of("input_audio_buffer.speech_started");
    EXPECT_GE(started.value("audio_start_ms", -1), 0);
    const std::string item_id = started.value("item_id", "");
    json stopped = client.next_of("input_audio_buffer.speech_stopped");
    EXPECT_GT(stopped.value("audio_end_ms", 0), started.value("audio_start_ms", 0));
    EXPECT_EQ(stopped["item_id"], item_id);
    json committed = client.next_of("input_audio_buffer.committed");
    EXPECT_EQ(committed["item_id"], item_id);
    json transcribed = client.next_of("conversation.item.input_audio_transcription.completed");
    EXPECT_NE(transcribed.value("transcript", "").find("weather"), std::string::npos) << transcribed.dump();
    // create_response: the response starts by itself, after the transcript is in.
    json created = client.next_of("response.created");
    json done = client.next_of("response.done");
    EXPECT_EQ(done["response"]["status"], "completed");
}

TEST(VoiceInputE2E, G711InputIsDecodedAndTranscribed) {
    TestGateway gateway(voice_config());
    VoiceClient client(gateway.port());
    client.update({{"audio", {{"input", {{"format", {{"type", "audio/pcmu"}}}, {"turn_detection", nullptr}}}}}});
    // Telephone audio is band-limited to 4 kHz, which the recogniser hears less well: a
    // phrase it gets reliably through mu-law at 8 kHz.
    auto speech = speak("i would like to order a pizza");
    auto samples = audio::resample(speech.samples, speech.sample_rate, 8000);
    samples.insert(samples.end(), 1600, 0);
    std::vector<std::uint8_t> codes;
    audio::encode_ulaw(samples, codes);
    client.append(codes, 1600);  // 200 ms of telephone audio per append
    client.send({{"type", "input_audio_buffer.commit"}});
    json transcribed = client.next_of("conversation.item.input_audio_transcription.completed");
    const std::string transcript = transcribed.value("transcript", "");
    EXPECT_NE(transcript.find("order"), std::string::npos) << transcript;
}

TEST(VoiceInputE2E, BadAudioGetsClearErrorsAndTheSessionStaysUp) {
    Config config = voice_config();
    config.limits.max_input_audio_seconds = 1s;
    TestGateway gateway(config);
    VoiceClient client(gateway.port());
    client.update({{"audio", {{"input", {{"turn_detection", nullptr}}}}}});

    client.send({{"type", "input_audio_buffer.append"}, {"event_id", "b64"}, {"audio", "%%%"}});
    json error = client.next_of("error");
    EXPECT_EQ(error["error"]["code"], "invalid_audio");
    EXPECT_EQ(error["error"]["event_id"], "b64");

    client.send({{"type", "input_audio_buffer.append"}, {"event_id", "odd"}, {"audio", "AAAA"}});  // 3 bytes
    error = client.next_of("error");
    EXPECT_EQ(error["error"]["code"], "invalid_audio");
    EXPECT_EQ(error["error"]["event_id"], "odd");

    client.send({{"type", "input_audio_buffer.commit"}, {"event_id", "empty"}});
    error = client.next_of("error");
    EXPECT_EQ(error["error"]["code"], "input_audio_buffer_commit_empty");
    EXPECT_EQ(error["error"]["event_id"], "empty");

    client.append(std::vector<std::uint8_t>(24000 * 2, 0), 24000);  // 1 s: exactly the cap
    client.send({{"type", "input_audio_buffer.append"}, {"event_id", "over"}, {"audio", "AAA="}});  // one sample more
    error = client.next_of("error");
    EXPECT_EQ(error["error"]["code"], "input_audio_buffer_full");
    EXPECT_EQ(error["error"]["event_id"], "over");
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_input_audio_buffer_full_total"), 1);

    client.send({{"type", "input_audio_buffer.clear"}});
    EXPECT_EQ(client.next_of("input_audio_buffer.cleared").value("type", ""), "input_audio_buffer.cleared");
    client.send({{"type", "input_audio_buffer.commit"}});
    EXPECT_EQ(client.next_of("error")["error"]["code"], "input_audio_buffer_commit_empty");

    // Still a working session: a text turn gets its answer.
    client.send({{"type", "conversation.item.create"},
                 {"item", {{"type", "message"}, {"role", "user"}, {"content", {{{"type", "input_text"}, {"text", "hi"}}}}}}});
    client.send({{"type", "response.create"}});
    EXPECT_EQ(client.next_of("response.done")["response"]["status"], "completed");
}

TEST(VoiceInputE2E, WithSpeechToTextOffTheCommitGetsATranscriptionFailure) {
    Config config = voice_config();
    config.speech_to_text.kind = "none";
    TestGateway gateway(config);
    VoiceClient client(gateway.port());
    client.update({{"audio", {{"input", {{"turn_detection", nullptr}}}}}});
    client.append(std::vector<std::uint8_t>(24000, 0), 24000);  // 0.5 s
    client.send({{"type", "input_audio_buffer.commit"}});
    json committed = client.next_of("input_audio_buffer.committed");
    json failed = client.next_of("conversation.item.input_audio_transcription.failed");
    EXPECT_EQ(failed["item_id"], committed["item_id"]);
    EXPECT_EQ(failed["error"]["code"], "transcription_unavailable");
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_transcriptions_failed_total"), 1);
}

// speech_to_text.kind openai: the utterance goes to an OpenAI-compatible
// /audio/transcriptions over real HTTP (curl on the shard), as a multipart WAV upload.
Config openai_stt_config(const MockUpstream& mock, const std::string& model) {
    Config config = voice_config();
    config.speech_to_text.kind = "openai";
    config.speech_to_text.base_url = mock.base_url() + "/v1";
    config.speech_to_text.api_key = "sk-stt-secret-key-1234567890";
    config.speech_to_text.model = model;
    config.speech_to_text.language = "en";
    return config;
}

TEST(VoiceInputE2E, OpenAiCompatibleTranscriptionGetsTheUtteranceAsAWavUpload) {
    MockUpstream mock;
    TestGateway gateway(openai_stt_config(mock, "whisper-test"));
    VoiceClient client(gateway.port());
    client.update({{"audio", {{"input", {{"turn_detection", nullptr}}}}}});
    client.append(std::vector<std::uint8_t>(24000 * 2 * 3 / 4, 0), 9600);  // 750 ms of 24 kHz PCM16
    client.send({{"type", "input_audio_buffer.commit"}});
    json transcribed = client.next_of("conversation.item.input_audio_transcription.completed");
    // The mock decoded the uploaded WAV: the whole utterance, at the input's rate.
    EXPECT_EQ(transcribed["transcript"], "heard 750 ms at 24000 Hz, model whisper-test, language en");

    const auto requests = mock.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].target, "/v1/audio/transcriptions");
    EXPECT_EQ(requests[0].header("authorization"), "Bearer sk-stt-secret-key-1234567890");
    EXPECT_NE(requests[0].header("content-type").find("multipart/form-data; boundary="), std::string::npos);
}

TEST(VoiceInputE2E, TranscriptionProviderErrorsReachTheClientWithoutTheKey) {
    MockUpstream mock;
    TestGateway gateway(openai_stt_config(mock, "mock-fail"));
    VoiceClient client(gateway.port());
    client.update({{"audio", {{"input", {{"turn_detection", nullptr}}}}}});
    client.append(std::vector<std::uint8_t>(24000, 0), 24000);
    client.send({{"type", "input_audio_buffer.commit"}});
    json failed = client.next_of("conversation.item.input_audio_transcription.failed");
    const std::string message = failed["error"].value("message", "");
    EXPECT_EQ(failed["error"]["code"], "transcription_failed");
    EXPECT_NE(message.find("HTTP 401"), std::string::npos) << message;
    // The provider quoted the Authorization header; the key itself never reaches the client.
    EXPECT_EQ(message.find("sk-stt-secret-key-1234567890"), std::string::npos) << message;
    // The session is fine: a text turn still works.
    client.send({{"type", "conversation.item.create"},
                 {"item", {{"type", "message"}, {"role", "user"}, {"content", {{{"type", "input_text"}, {"text", "hi"}}}}}}});
    client.send({{"type", "response.create"}});
    EXPECT_EQ(client.next_of("response.done")["response"]["status"], "completed");
}

TEST(VoiceInputE2E, UnreachableTranscriptionProviderFailsTheTranscriptionOnly) {
    Config config = voice_config();
    config.speech_to_text.kind = "openai";
    config.speech_to_text.base_url = "http://127.0.0.1:9/v1";  // discard port: nothing listens
    TestGateway gateway(config);
    VoiceClient client(gateway.port());
    client.update({{"audio", {{"input", {{"turn_detection", nullptr}}}}}});
    client.append(std::vector<std::uint8_t>(24000, 0), 24000);
    client.send({{"type", "input_audio_buffer.commit"}});
    json failed = client.next_of("conversation.item.input_audio_transcription.failed");
    EXPECT_EQ(failed["error"]["code"], "transcription_failed");
    EXPECT_NE(failed["error"].value("message", "").find("could not be reached"), std::string::npos) << failed.dump();
}

}  // namespace
}  // namespace voxgate::test
