// Retries and circuit breakers of the HTTP speech services (speech_to_text and
// text_to_speech kind openai) for real: OpenAiSpeechToText and OpenAiTextToSpeech against
// the mock upstream's /audio/transcriptions and /audio/speech over loopback with real curl,
// the mock scripted to fail (503s, refused connections, a reset mid-audio); then the same
// through a running gateway, seen by a WebSocket client and in /metrics.
//
// No test asserts timing: waits are generous deadlines, never measurements.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "audio/base64.hpp"
#include "metrics/shard_metrics.hpp"
#include "speech/openai_speech_to_text.hpp"
#include "speech/openai_text_to_speech.hpp"
#include "support/mock_upstream.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"
#include "upstream/curl_multi.hpp"

namespace voxgate::speech {
namespace {

using namespace std::chrono_literals;
using test::MockSpeech;
using test::MockTranscription;
using test::MockUpstream;
using upstream::resilience::CircuitState;

bool run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        io.restart();
        io.run_for(5ms);
        if (io.stopped()) std::this_thread::sleep_for(1ms);
    }
    return true;
}

void run_for(asio::io_context& io, std::chrono::milliseconds duration) {
    run_until(io, [] { return false; }, duration);
}

// Short, exact waits between retries: the tests wait for outcomes, not for the backoff.
upstream::resilience::RetryPolicy quick_backoff() {
    upstream::resilience::RetryPolicy backoff;
    backoff.base_delay = 20ms;
    backoff.max_delay = 100ms;
    backoff.jitter = 0;
    return backoff;
}

std::uint64_t requests_with(const metrics::ProviderMetrics& metrics, int status) {
    std::uint64_t found = 0;
    metrics.requests.for_each_nonzero([&](int code, std::uint64_t count) {
        if (code == status) found = count;
    });
    return found;
}

// ---------------------------------------------------------------------------------------
// speech_to_text kind openai

class SpeechToTextResilienceTest : public ::testing::Test {
protected:
    SpeechToTextResilienceTest() {
        config_.kind = "openai";
        config_.base_url = mock_.base_url() + "/v1";
        config_.api_key = "sk-stt-resilience-key-0123456789";
        config_.timeout = 10s;
    }
    void make() { stt_ = std::make_unique<OpenAiSpeechToText>(multi_, config_, &metrics_, quick_backoff()); }
    // Transcribes 500 ms of silence at 16 kHz and waits for the result.
    Transcription transcribe() {
        std::optional<Transcription> result;
        stt_->transcribe(std::vector<std::int16_t>(8000, 0), 16000, io_.get_executor(),
                         [&](Transcription done) { result = std::move(done); });
        EXPECT_FALSE(result.has_value());  // never from inside transcribe()
        EXPECT_TRUE(run_until(io_, [&] { return result.has_value(); }));
        return result.value_or(Transcription{});
    }
    const metrics::ProviderMetrics& service_metrics() {
        return metrics_.speech_upstream(metrics::SpeechService::speech_to_text);
    }

    MockUpstream mock_;
    SpeechToTextConfig config_;
    asio::io_context io_;
    upstream::CurlMulti multi_{io_};
    metrics::ShardMetrics metrics_{0};
    std::unique_ptr<OpenAiSpeechToText> stt_;
};

TEST_F(SpeechToTextResilienceTest, A503IsRetriedAndTheRetrySucceeds) {
    mock_.set_transcription({.fail_first = 1, .fail_status = 503});
    make();
    const Transcription result = transcribe();
    EXPECT_TRUE(result.ok()) << result.error;
    EXPECT_EQ(result.transcript, "heard 500 ms at 16000 Hz, model whisper-1, language none");
    EXPECT_EQ(mock_.transcription_request_count(), 2u);  // the whole request again
    EXPECT_EQ(service_metrics().retries.value(), 1u);
    EXPECT_EQ(requests_with(service_metrics(), 503), 1u);
    EXPECT_EQ(requests_with(service_metrics(), 200), 1u);
    EXPECT_EQ(stt_->upstream().circuit_state(), CircuitState::closed);
    EXPECT_EQ(stt_->in_flight(), 0u);
}

TEST_F(SpeechToTextResilienceTest, RetriesStopAtMaxRetriesAndTheErrorSaysHowManyWereMade) {
    mock_.set_transcription({.fail_first = 100, .fail_status = 502});
    config_.resilience.max_retries = 2;
    make();
    const Transcription result = transcribe();
    EXPECT_EQ(result.error_code, "transcription_failed");
    EXPECT_NE(result.error.find("HTTP 502"), std::string::npos) << result.error;
    EXPECT_NE(result.error.find("(after 2 retries)"), std::string::npos) << result.error;
    EXPECT_EQ(mock_.transcription_request_count(), 3u);
    EXPECT_EQ(service_metrics().retries.value(), 2u);
}

TEST_F(SpeechToTextResilienceTest, AClientErrorIsNotRetried) {
    config_.model = "mock-fail";  // the mock answers 401 (and quotes the Authorization header)
    make();
    const Transcription result = transcribe();
    EXPECT_EQ(result.error_code, "transcription_failed");
    EXPECT_NE(result.error.find("HTTP 401"), std::string::npos) << result.error;
    EXPECT_EQ(result.error.find("sk-stt-resilience-key"), std::string::npos) << result.error;
    EXPECT_EQ(mock_.transcription_request_count(), 1u);
    EXPECT_EQ(service_metrics().retries.value(), 0u);
    // A 4xx is no verdict on the service's health.
    EXPECT_EQ(service_metrics().circuit_opened.value(), 0u);
}

TEST_F(SpeechToTextResilienceTest, ARefusedConnectionIsRetriedThenFailsAsUnreachable) {
    config_.base_url = "http://127.0.0.1:9/v1";  // discard port: nothing listens, connect is refused
    make();
    const Transcription result = transcribe();
    EXPECT_EQ(result.error_code, "transcription_failed");
    EXPECT_NE(result.error.find("could not be reached"), std::string::npos) << result.error;
    EXPECT_NE(result.error.find("(after 2 retries)"), std::string::npos) << result.error;
    EXPECT_EQ(requests_with(service_metrics(), 0), 3u);  // no HTTP status, three times
}

TEST_F(SpeechToTextResilienceTest, ARetryThatCouldNotFinishBeforeTimeoutMsIsNotMade) {
    // The server asks for 5 s; the utterance has 2 s in all.
    mock_.set_transcription({.fail_first = 1, .fail_status = 503, .retry_after = "5"});
    config_.timeout = 2s;
    make();
    const Transcription result = transcribe();
    EXPECT_EQ(result.error_code, "transcription_failed");
    EXPECT_NE(result.error.find("HTTP 503"), std::string::npos) << result.error;
    EXPECT_EQ(mock_.transcription_request_count(), 1u);
}

TEST_F(SpeechToTextResilienceTest, TheBreakerOpensFailsFastWithoutTheServiceThenAProbeClosesIt) {
    mock_.set_transcription({.fail_first = 2, .fail_status = 503});
    config_.resilience.max_retries = 0;
    config_.resilience.circuit_breaker.consecutive_failures = 2;
    config_.resilience.circuit_breaker.cooldown = 500ms;
    make();
    EXPECT_EQ(transcribe().error_code, "transcription_failed");
    EXPECT_EQ(stt_->upstream().circuit_state(), CircuitState::closed);
    EXPECT_EQ(transcribe().error_code, "transcription_failed");
    EXPECT_EQ(stt_->upstream().circuit_state(), CircuitState::open);
    EXPECT_EQ(service_metrics().circuit_opened.value(), 1u);
    EXPECT_EQ(service_metrics().circuit_state.value(), 1);

    // Open: the utterance fails at once, and the service is not asked.
    const Transcription refused = transcribe();
    EXPECT_EQ(refused.error_code, "transcription_unavailable");
    EXPECT_NE(refused.error.find("circuit breaker is open"), std::string::npos) << refused.error;
    EXPECT_EQ(mock_.transcription_request_count(), 2u);
    EXPECT_EQ(service_metrics().circuit_fast_fails.value(), 1u);

    // After the cool-down one utterance probes; the service is back, so the circuit closes.
    run_for(io_, 600ms);
    const Transcription probe = transcribe();
    EXPECT_TRUE(probe.ok()) << probe.error;
    EXPECT_EQ(stt_->upstream().circuit_state(), CircuitState::closed);
    EXPECT_EQ(service_metrics().circuit_state.value(), 0);
    EXPECT_TRUE(transcribe().ok());
    EXPECT_EQ(mock_.transcription_request_count(), 4u);
}

// ---------------------------------------------------------------------------------------
// text_to_speech kind openai

class RecordingObserver final : public SynthesisObserver {
public:
    void on_audio(std::span<const std::int16_t> chunk) override {
        ++chunks;
        samples.insert(samples.end(), chunk.begin(), chunk.end());
    }
    void on_done(const SynthesisResult& done) override {
        ++dones;
        result = done;
    }
    int chunks = 0;
    int dones = 0;
    SynthesisResult result;
    std::vector<std::int16_t> samples;
};

class TextToSpeechResilienceTest : public ::testing::Test {
protected:
    TextToSpeechResilienceTest() {
        config_.kind = "openai";
        config_.base_url = mock_.base_url() + "/v1";
        config_.api_key = "sk-tts-resilience-key-0123456789";
        config_.voice = "alloy";
        config_.timeout = 10s;
    }
    void make() { tts_ = std::make_unique<OpenAiTextToSpeech>(multi_, config_, &metrics_, quick_backoff()); }
    // Speaks `text` to `observer` until it is done.
    std::unique_ptr<SynthesisHandle> speak(const std::string& text, RecordingObserver& observer) {
        auto handle = tts_->synthesize({text, ""}, io_.get_executor(), observer);
        EXPECT_EQ(observer.dones, 0);  // never from inside synthesize()
        EXPECT_TRUE(run_until(io_, [&] { return observer.dones > 0; }));
        return handle;
    }
    const metrics::ProviderMetrics& service_metrics() {
        return metrics_.speech_upstream(metrics::SpeechService::text_to_speech);
    }

    MockUpstream mock_;
    TextToSpeechConfig config_;
    asio::io_context io_;
    upstream::CurlMulti multi_{io_};
    metrics::ShardMetrics metrics_{0};
    std::unique_ptr<OpenAiTextToSpeech> tts_;
};

TEST_F(TextToSpeechResilienceTest, A503BeforeTheFirstAudioByteIsRetriedAndTheAudioArrivesIntact) {
    mock_.set_speech({.ms_per_char = 20, .chunk_ms = 100, .fail_first = 1, .fail_status = 503});
    make();
    const std::string text = "Hello there, how are you today?";
    RecordingObserver observer;
    auto handle = speak(text, observer);
    EXPECT_TRUE(observer.result.ok()) << observer.result.error;
    EXPECT_EQ(observer.samples, test::mock_speech_samples(text.size(), 20));  // once, not twice
    EXPECT_EQ(mock_.speech_request_count(), 2u);
    EXPECT_EQ(service_metrics().retries.value(), 1u);
    EXPECT_EQ(requests_with(service_metrics(), 503), 1u);
    EXPECT_EQ(requests_with(service_metrics(), 200), 1u);
    EXPECT_EQ(tts_->in_flight(), 0u);
}

TEST_F(TextToSpeechResilienceTest, AFailureAfterTheAudioStartedIsNeverRetried) {
    // One 100 ms chunk of audio, then the connection is reset.
    mock_.set_speech({.ms_per_char = 50, .realtime_factor = 0.5, .chunk_ms = 100, .reset_after_chunks = 1});
    make();
    RecordingObserver observer;
    auto handle = speak("A reply long enough for several chunks of audio.", observer);
    EXPECT_EQ(observer.result.error_code, "speech_failed");
    EXPECT_NE(observer.result.error.find("after its audio had started"), std::string::npos) << observer.result.error;
    EXPECT_GT(observer.chunks, 0);
    EXPECT_EQ(mock_.speech_request_count(), 1u);  // a retry would have repeated the audio
    EXPECT_EQ(service_metrics().retries.value(), 0u);
    // The service spoke: a cut stream is no reason to open its circuit.
    EXPECT_EQ(service_metrics().circuit_opened.value(), 0u);
}

TEST_F(TextToSpeechResilienceTest, TheBreakerOpensFailsFastWithoutTheServiceThenAProbeClosesIt) {
    mock_.set_speech({.fail_first = 2, .fail_status = 500});
    config_.resilience.max_retries = 0;
    config_.resilience.circuit_breaker.consecutive_failures = 2;
    config_.resilience.circuit_breaker.cooldown = 500ms;
    make();
    RecordingObserver first, second, refused, probe;
    auto a = speak("One.", first);
    auto b = speak("Two.", second);
    EXPECT_EQ(first.result.error_code, "speech_failed");
    EXPECT_NE(second.result.error.find("HTTP 500"), std::string::npos) << second.result.error;
    EXPECT_EQ(tts_->upstream().circuit_state(), CircuitState::open);
    EXPECT_EQ(service_metrics().circuit_opened.value(), 1u);

    auto c = speak("Three.", refused);
    EXPECT_EQ(refused.result.error_code, "speech_unavailable");
    EXPECT_NE(refused.result.error.find("circuit breaker is open"), std::string::npos) << refused.result.error;
    EXPECT_EQ(mock_.speech_request_count(), 2u);  // not asked
    EXPECT_EQ(service_metrics().circuit_fast_fails.value(), 1u);

    run_for(io_, 600ms);
    auto d = speak("Four.", probe);
    EXPECT_TRUE(probe.result.ok()) << probe.result.error;
    EXPECT_GT(probe.samples.size(), 0u);
    EXPECT_EQ(tts_->upstream().circuit_state(), CircuitState::closed);
    EXPECT_EQ(mock_.speech_request_count(), 3u);
}

TEST_F(TextToSpeechResilienceTest, ACancelDuringTheBackoffEndsItSilentlyAndLeavesTheCircuitAlone) {
    mock_.set_speech({.fail_first = 1, .fail_status = 503});
    tts_ = std::make_unique<OpenAiTextToSpeech>(multi_, config_, &metrics_, [] {
        auto slow = quick_backoff();
        slow.base_delay = 2s;  // long enough to cancel in
        slow.max_delay = 2s;
        return slow;
    }());
    RecordingObserver observer;
    auto handle = tts_->synthesize({"Cancel me.", ""}, io_.get_executor(), observer);
    ASSERT_TRUE(run_until(io_, [&] { return service_metrics().retries.value() == 1; }));
    handle.reset();
    EXPECT_EQ(tts_->in_flight(), 0u);
    run_for(io_, 300ms);
    EXPECT_EQ(observer.dones + observer.chunks, 0);
    EXPECT_EQ(mock_.speech_request_count(), 1u);
    EXPECT_EQ(tts_->upstream().circuit_state(), CircuitState::closed);
}

// ---------------------------------------------------------------------------------------
// through a gateway

using nlohmann::json;

TEST(SpeechResilienceE2E, AnUtteranceWhoseTranscriptionGot503IsRetriedAndTheClientSeesOnlyTheTranscript) {
    MockUpstream mock;
    mock.set_transcription({.fail_first = 1, .fail_status = 503});
    Config config = test::test_config();
    config.limits.max_events_per_second = 10000;
    config.speech_to_text.kind = "openai";
    config.speech_to_text.base_url = mock.base_url() + "/v1";
    config.speech_to_text.model = "whisper-test";
    test::TestGateway gateway(config);
    auto ws = test::WsClient::connect(gateway.port(), {.target = "/v1/realtime?model=gpt-voice", .read_timeout = 60s});
    EXPECT_EQ(ws->read_json().value("type", ""), "session.created");
    ws->send_text(json{{"type", "session.update"}, {"session", {{"audio", {{"input", {{"turn_detection", nullptr}}}}}}}}.dump());
    ASSERT_EQ(ws->read_until("session.updated").value("type", ""), "session.updated");
    std::string audio;
    const std::vector<std::uint8_t> silence(24000 * 2 / 2, 0);  // 500 ms of 24 kHz PCM16
    audio::base64_encode(silence, audio);
    ws->send_text(json{{"type", "input_audio_buffer.append"}, {"audio", audio}}.dump());
    ws->send_text(json{{"type", "input_audio_buffer.commit"}}.dump());
    std::vector<json> skipped;
    json transcribed = ws->read_until("conversation.item.input_audio_transcription.completed", &skipped);
    EXPECT_EQ(transcribed.value("transcript", ""), "heard 500 ms at 24000 Hz, model whisper-test, language none");
    for (const auto& event : skipped) EXPECT_NE(event.value("type", ""), "conversation.item.input_audio_transcription.failed");
    EXPECT_EQ(mock.transcription_request_count(), 2u);
    EXPECT_EQ(test::scrape_metric(gateway.port(), "voxgate_speech_retries_total", R"({provider="speech_to_text"})"), 1);
    EXPECT_EQ(test::scrape_metric(gateway.port(), "voxgate_upstream_requests_total",
                                  R"({code="503",provider="speech_to_text"})"),
              1);
    EXPECT_EQ(test::scrape_metric(gateway.port(), "voxgate_upstream_requests_total",
                                  R"({code="200",provider="speech_to_text"})"),
              1);
    EXPECT_EQ(test::scrape_metric(gateway.port(), "voxgate_upstream_circuit_state", R"({provider="speech_to_text"})"), 0);
    // text_to_speech is espeak here: no text_to_speech row in the upstream families.
    EXPECT_EQ(test::scrape_metric(gateway.port(), "voxgate_upstream_circuit_state", R"({provider="text_to_speech"})"), -1);
}

TEST(SpeechResilienceE2E, ASpokenReplyWhoseFirstSpeechRequestGot503StillCompletesWithAudio) {
    MockUpstream mock;
    mock.set_speech({.ms_per_char = 10, .chunk_ms = 40, .fail_first = 1, .fail_status = 503});
    Config config = test::test_config();
    config.text_to_speech.kind = "openai";
    config.text_to_speech.base_url = mock.base_url() + "/v1";
    config.text_to_speech.voice = "alloy";
    test::TestGateway gateway(config);
    auto ws = test::WsClient::connect(gateway.port(), {.target = "/v1/realtime?model=gpt-voice", .read_timeout = 60s});
    EXPECT_EQ(ws->read_json().value("type", ""), "session.created");
    ws->send_text(json{{"type", "session.update"}, {"session", {{"output_modalities", {"audio"}}}}}.dump());
    ASSERT_EQ(ws->read_until("session.updated").value("type", ""), "session.updated");
    ws->send_text(json{{"type", "conversation.item.create"},
                       {"item",
                        {{"type", "message"}, {"role", "user"}, {"content", {{{"type", "input_text"}, {"text", "Hi."}}}}}}}
                      .dump());
    ws->send_text(json{{"type", "response.create"}}.dump());
    std::vector<json> events;
    json done = ws->read_until("response.done", &events);
    EXPECT_EQ(done["response"].value("status", ""), "completed") << done.dump();
    int audio_deltas = 0;
    for (const auto& event : events) {
        EXPECT_NE(event.value("type", ""), "error") << event.dump();
        if (event.value("type", "") == "response.output_audio.delta") ++audio_deltas;
    }
    EXPECT_GT(audio_deltas, 0);
    EXPECT_EQ(test::scrape_metric(gateway.port(), "voxgate_speech_retries_total", R"({provider="text_to_speech"})"), 1);
    EXPECT_EQ(test::scrape_metric(gateway.port(), "voxgate_upstream_requests_total",
                                  R"({code="503",provider="text_to_speech"})"),
              1);
}

}  // namespace
}  // namespace voxgate::speech
