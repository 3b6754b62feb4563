// The text-to-speech providers for real: EspeakTextToSpeech runs espeak-ng (Debian
// libespeak-ng1) on a compute pool, OpenAiTextToSpeech streams from the mock upstream's
// /audio/speech over loopback with real curl. The shard is an io_context run by the test.
//
// No test asserts timing: waits are generous deadlines, never measurements.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "metrics/shard_metrics.hpp"
#include "speech/espeak_text_to_speech.hpp"
#include "speech/openai_text_to_speech.hpp"
#include "speech/synthesis_delivery.hpp"
#include "server/shard.hpp"
#include "session/realtime_session.hpp"
#include "support/mock_upstream.hpp"
#include "support/test_gateway.hpp"
#include "upstream/curl_multi.hpp"

namespace voxgate::speech {
namespace {

using namespace std::chrono_literals;
using test::MockSpeech;
using test::MockUpstream;

// Runs the io_context until `done` holds; false if the (generous) deadline passed first.
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

// Runs the io_context for a while, to give a wrong callback the chance to happen.
void run_for(asio::io_context& io, std::chrono::milliseconds duration) {
    run_until(io, [] { return false; }, duration);
}

class RecordingObserver final : public SynthesisObserver {
public:
    void on_audio(std::span<const std::int16_t> chunk) override {
        ++chunks;
        samples.insert(samples.end(), chunk.begin(), chunk.end());
        if (after_chunk) after_chunk();
    }
    void on_done(const SynthesisResult& done) override {
        ++dones;
        result = done;
    }

    double seconds(int rate) const { return static_cast<double>(samples.size()) / rate; }
    double rms() const {
        double sum = 0;
        for (auto s : samples) sum += static_cast<double>(s) * s;
        return samples.empty() ? 0 : std::sqrt(sum / static_cast<double>(samples.size()));
    }

    int chunks = 0;
    int dones = 0;
    SynthesisResult result;
    std::vector<std::int16_t> samples;
    std::function<void()> after_chunk;
};

// A long text: minutes of speech, so a test can act while it is being made.
std::string long_text() {
    std::string text;
    while (text.size() + 60 < EspeakEngine::max_text_bytes)
        text += "This sentence is here to make a long reply for the test. ";
    return text;
}

// ---------------------------------------------------------------------------------------
// espeak

class EspeakTextToSpeechTest : public ::testing::Test {
protected:
    explicit EspeakTextToSpeechTest(TextToSpeechConfig config = {}) : config_(std::move(config)) {}
    ~EspeakTextToSpeechTest() override { pool_.join(); }  // its tasks use the engine

    void make(std::size_t max_pending = 32, std::string voice = "en-us") {
        config_.max_pending = max_pending;
        config_.voice = std::move(voice);
        engine_ = std::make_unique<EspeakEngine>(pool_, config_);
        tts_ = std::make_unique<EspeakTextToSpeech>(*engine_, &metrics_);
    }
    std::unique_ptr<SynthesisHandle> speak(const std::string& text, RecordingObserver& observer,
                                           const std::string& voice = "") {
        return tts_->synthesize({text, voice}, io_.get_executor(), observer);
    }
    bool finished(RecordingObserver& observer) {
        return run_until(io_, [&] { return observer.dones > 0; }, 60s);
    }

    TextToSpeechConfig config_;
    asio::io_context io_;
    asio::thread_pool pool_{1};
    metrics::ShardMetrics metrics_{0};
    std::unique_ptr<EspeakEngine> engine_;
    std::unique_ptr<EspeakTextToSpeech> tts_;
};

TEST_F(EspeakTextToSpeechTest, SpeaksTheTextAsChunksOfAudibleSpeechOfAPlausibleLength) {
    make();
    EXPECT_EQ(tts_->sample_rate(), 22050);
    RecordingObserver sentence;
    auto handle = speak("Hello there, this is the gateway speaking its reply to you.", sentence);
    EXPECT_EQ(sentence.chunks + sentence.dones, 0);  // nothing from inside synthesize()
    ASSERT_TRUE(finished(sentence));
    EXPECT_TRUE(sentence.result.ok()) << sentence.result.error;
    EXPECT_EQ(sentence.dones, 1);
    EXPECT_GE(sentence.chunks, 5);  // about 100 ms each, not one block at the end
    // Eleven words at 175 words per minute: about 3.5 s; never a blip, never a minute.
    EXPECT_GT(sentence.seconds(22050), 1.5);
    EXPECT_LT(sentence.seconds(22050), 8.0);
    EXPECT_GT(sentence.rms(), 300);  // speech, not silence

    RecordingObserver word;
    auto second = speak("Yes.", word);
    ASSERT_TRUE(finished(word));
    EXPECT_TRUE(word.result.ok());
    EXPECT_GT(word.samples.size(), 0u);
    EXPECT_LT(word.samples.size() * 3, sentence.samples.size());  // length follows the text
    EXPECT_EQ(metrics_.tts_first_byte_seconds.snapshot().count, 2u);
    EXPECT_EQ(engine_->pending(), 0u);
}

TEST_F(EspeakTextToSpeechTest, RateWpmSetsTheSpeakingRate) {
    const std::string text = "The rate of speech follows the configured words per minute.";
    make();
    RecordingObserver normal;
    auto first = speak(text, normal);
    ASSERT_TRUE(finished(normal));
    config_.rate_wpm = 350;
    make();
    RecordingObserver fast;
    auto second = speak(text, fast);
    ASSERT_TRUE(finished(fast));
    EXPECT_TRUE(fast.result.ok());
    EXPECT_LT(fast.samples.size() * 4, normal.samples.size() * 3);  // twice the rate: well under 3/4 the length
}

TEST_F(EspeakTextToSpeechTest, AVoiceEspeakDoesNotHaveFallsBackToTheDefaultOne) {
    make();
    for (const std::string voice : {"alloy", "../../../etc/passwd", "en-gb"}) {
        RecordingObserver observer;
        auto handle = speak("Testing one two three.", observer, voice);
        ASSERT_TRUE(finished(observer)) << voice;
        EXPECT_TRUE(observer.result.ok()) << voice << ": " << observer.result.error;
        EXPECT_GT(observer.rms(), 300) << voice;
    }
}

TEST_F(EspeakTextToSpeechTest, AMissingDefaultVoiceFailsWithSpeechFailed) {
    make(32, "no-such-voice");
    RecordingObserver observer;
    auto handle = speak("Hello.", observer, "alloy");
    ASSERT_TRUE(finished(observer));
    EXPECT_EQ(observer.result.error_code, "speech_failed");
    EXPECT_NE(observer.result.error.find("no-such-voice"), std::string::npos) << observer.result.error;
    EXPECT_EQ(observer.chunks, 0);
}

TEST_F(EspeakTextToSpeechTest, EmptyOrOverlongTextFailsWithSpeechFailed) {
    make();
    RecordingObserver empty, overlong;
    auto a = speak("", empty);
    auto b = speak(std::string(EspeakEngine::max_text_bytes + 1, 'a'), overlong);
    EXPECT_EQ(empty.dones + overlong.dones, 0);  // posted, not synchronous
    ASSERT_TRUE(finished(empty));
    ASSERT_TRUE(finished(overlong));
    EXPECT_EQ(empty.result.error_code, "speech_failed");
    EXPECT_EQ(overlong.result.error_code, "speech_failed");
    EXPECT_NE(overlong.result.error.find("4096"), std::string::npos);
}

TEST_F(EspeakTextToSpeechTest, CancelStopsTheCallbacksAndTheSynthesis) {
    make();
    RecordingObserver observer;
    std::unique_ptr<SynthesisHandle> handle = speak(long_text(), observer);
    observer.after_chunk = [&] { handle->cancel(); };
    ASSERT_TRUE(run_until(io_, [&] { return observer.chunks > 0; }, 60s));
    // The synthesis stops early (minutes of speech are not made), and nothing more arrives.
    ASSERT_TRUE(run_until(io_, [&] { return engine_->pending() == 0; }, 60s));
    run_for(io_, 200ms);
    EXPECT_EQ(observer.chunks, 1);
    EXPECT_EQ(observer.dones, 0);

    // Dropping the handle cancels as well, also while the synthesis still waits in the queue.
    RecordingObserver running, queued;
    auto first = speak(long_text(), running);
    auto second = speak("Never spoken.", queued);
    second.reset();
    ASSERT_TRUE(run_until(io_, [&] { return running.chunks > 0; }, 60s));
    first.reset();
    ASSERT_TRUE(run_until(io_, [&] { return engine_->pending() == 0; }, 60s));
    run_for(io_, 200ms);
    EXPECT_EQ(queued.chunks + queued.dones, 0);
    EXPECT_EQ(running.dones, 0);

    // espeak-ng speaks normally after a stopped synthesis.
    RecordingObserver after;
    auto third = speak("Still here.", after);
    ASSERT_TRUE(finished(after));
    EXPECT_TRUE(after.result.ok());
    EXPECT_GT(after.rms(), 300);
}

TEST_F(EspeakTextToSpeechTest, PastMaxPendingASynthesisEndsWithSpeechBusy) {
    make(1);
    RecordingObserver running, refused;
    auto first = speak(long_text(), running);
    auto second = speak("Hello.", refused);
    EXPECT_EQ(refused.dones, 0);  // posted, never from inside synthesize()
    ASSERT_TRUE(run_until(io_, [&] { return refused.dones > 0; }));
    EXPECT_EQ(refused.result.error_code, "speech_busy");
    EXPECT_NE(refused.result.error.find("text_to_speech.max_pending"), std::string::npos);
    EXPECT_EQ(refused.chunks, 0);
    EXPECT_EQ(metrics_.tts_busy.value(), 1u);
    first.reset();
    ASSERT_TRUE(run_until(io_, [&] { return engine_->pending() == 0; }, 60s));
    RecordingObserver later;
    auto third = speak("Hello.", later);
    ASSERT_TRUE(finished(later));
    EXPECT_TRUE(later.result.ok());
}

TEST_F(EspeakTextToSpeechTest, PausedAudioIsHeldUntilResume) {
    make();
    RecordingObserver reference;
    auto unpaused = speak("Pause and resume keep every sample in order.", reference);
    ASSERT_TRUE(finished(reference));

    RecordingObserver observer;
    auto handle = speak("Pause and resume keep every sample in order.", observer);
    handle->pause();
    ASSERT_TRUE(run_until(io_, [&] { return engine_->pending() == 0; }, 60s));  // all made, all held
    run_for(io_, 100ms);
    EXPECT_EQ(observer.chunks + observer.dones, 0);
    handle->resume();
    EXPECT_EQ(observer.chunks, 0);  // delivered from a task, not from inside resume()
    ASSERT_TRUE(finished(observer));
    EXPECT_TRUE(observer.result.ok());
    // espeak-ng carries a little state from one synthesis to the next: a few samples differ.
    EXPECT_NEAR(static_cast<double>(observer.samples.size()), static_cast<double>(reference.samples.size()),
                0.01 * static_cast<double>(reference.samples.size()));
    EXPECT_GT(observer.rms(), 300);
}

// The hand-over both providers share: held audio leaves in order, a pause or cancel from
// inside the observer is obeyed at once.
TEST(SynthesisDelivery, HeldChunksLeaveInOrderAndObeyAPauseOrCancelFromInsideTheObserver) {
    asio::io_context io;
    RecordingObserver observer;
    auto delivery = std::make_shared<SynthesisDelivery>(io.get_executor(), observer, nullptr);
    DeliveryHandle handle(delivery);
    handle.pause();
    for (std::int16_t i = 1; i <= 5; ++i) delivery->post_audio({i, i});
    delivery->post_done({});
    run_for(io, 50ms);
    EXPECT_EQ(observer.chunks + observer.dones, 0);
    observer.after_chunk = [&] {
        if (observer.chunks == 2) handle.pause();
    };
    handle.resume();
    run_for(io, 50ms);
    EXPECT_EQ(observer.samples, (std::vector<std::int16_t>{1, 1, 2, 2}));
    EXPECT_EQ(observer.dones, 0);
    observer.after_chunk = [&] {
        if (observer.chunks == 4) handle.cancel();
    };
    handle.resume();
    run_for(io, 50ms);
    EXPECT_EQ(observer.samples, (std::vector<std::int16_t>{1, 1, 2, 2, 3, 3, 4, 4}));
    EXPECT_EQ(observer.dones, 0);  // cancelled: no end either

    RecordingObserver second;
    auto unpaused = std::make_shared<SynthesisDelivery>(io.get_executor(), second, nullptr);
    DeliveryHandle second_handle(unpaused);
    unpaused->post_audio({7});
    unpaused->post_done({"speech_failed", "x"});
    run_for(io, 50ms);
    EXPECT_EQ(second.samples, (std::vector<std::int16_t>{7}));
    EXPECT_EQ(second.result.error_code, "speech_failed");
    EXPECT_EQ(second.dones, 1);
}

// ---------------------------------------------------------------------------------------
// openai

class OpenAiTextToSpeechTest : public ::testing::Test {
protected:
    OpenAiTextToSpeechTest() {
        config_.kind = "openai";
        config_.base_url = mock_.base_url() + "/v1";
        config_.api_key = "sk-test-speech-key-0123456789";
        config_.voice = "alloy";
        config_.timeout = 10s;
    }
    void make() { tts_ = std::make_unique<OpenAiTextToSpeech>(multi_, config_, &metrics_); }
    std::unique_ptr<SynthesisHandle> speak(const std::string& text, RecordingObserver& observer,
                                           const std::string& voice = "") {
        return tts_->synthesize({text, voice}, io_.get_executor(), observer);
    }
    bool finished(RecordingObserver& observer) { return run_until(io_, [&] { return observer.dones > 0; }); }

    MockUpstream mock_;
    TextToSpeechConfig config_;
    asio::io_context io_;
    upstream::CurlMulti multi_{io_};
    metrics::ShardMetrics metrics_{0};
    std::unique_ptr<OpenAiTextToSpeech> tts_;
};

TEST_F(OpenAiTextToSpeechTest, StreamsTheProvidersPcmInChunksWithEverySampleIntact) {
    mock_.set_speech({.ms_per_char = 20, .realtime_factor = 0.2, .chunk_ms = 100});
    make();
    EXPECT_EQ(tts_->sample_rate(), 24000);
    const std::string text = "Hello there, how are you today?";
    RecordingObserver observer;
    auto handle = speak(text, observer);
    ASSERT_TRUE(finished(observer));
    EXPECT_TRUE(observer.result.ok()) << observer.result.error;
    EXPECT_GE(observer.chunks, 4);  // as it arrived, not at the end
    // Every HTTP chunk but the last splits a sample: the carried byte joins the next one.
    EXPECT_EQ(observer.samples, test::mock_speech_samples(text.size(), 20));
    EXPECT_EQ(metrics_.tts_first_byte_seconds.snapshot().count, 1u);

    RecordingObserver coral;
    auto second = speak("Another voice.", coral, "coral");
    ASSERT_TRUE(finished(coral));
    const auto requests = mock_.speech_requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0].input, text);
    EXPECT_EQ(requests[0].voice, "alloy");  // text_to_speech.voice when the session names none
    EXPECT_EQ(requests[0].model, "gpt-4o-mini-tts");
    EXPECT_EQ(requests[0].response_format, "pcm");
    EXPECT_EQ(requests[0].authorization, "Bearer sk-test-speech-key-0123456789");
    EXPECT_EQ(requests[1].voice, "coral");
    EXPECT_EQ(tts_->in_flight(), 0u);
}

TEST_F(OpenAiTextToSpeechTest, PauseStopsTheAudioUntilResumeAndLosesNothing) {
    mock_.set_speech({.ms_per_char = 40, .realtime_factor = 0.5, .chunk_ms = 100});
    make();
    const std::string text = "Pause me after the first chunk, please.";
    RecordingObserver observer;
    std::unique_ptr<SynthesisHandle> handle = speak(text, observer);
    observer.after_chunk = [&] {
        if (observer.chunks == 1) handle->pause();
    };
    ASSERT_TRUE(run_until(io_, [&] { return observer.chunks > 0; }));
    run_for(io_, 400ms);  // the mock would have sent several more chunks by now
    EXPECT_EQ(observer.chunks, 1);
    EXPECT_EQ(observer.dones, 0);
    handle->resume();
    ASSERT_TRUE(finished(observer));
    EXPECT_TRUE(observer.result.ok()) << observer.result.error;
    EXPECT_EQ(observer.samples, test::mock_speech_samples(text.size(), 40));
}

TEST_F(OpenAiTextToSpeechTest, AnHttpErrorEndsWithAClearErrorThatHoldsNoKey) {
    mock_.set_speech({.status = 401});  // the mock quotes the Authorization header back
    make();
    RecordingObserver observer;
    auto handle = speak("Hello.", observer);
    ASSERT_TRUE(finished(observer));
    EXPECT_EQ(observer.result.error_code, "speech_failed");
    EXPECT_NE(observer.result.error.find("HTTP 401"), std::string::npos) << observer.result.error;
    EXPECT_EQ(observer.result.error.find("sk-test-speech-key"), std::string::npos) << observer.result.error;
    EXPECT_EQ(observer.chunks, 0);

    RecordingObserver overloaded;  // per request, from a directive in the text
    auto second = speak("Hello [mock status=503]", overloaded);
    ASSERT_TRUE(finished(overloaded));
    EXPECT_EQ(overloaded.result.error_code, "speech_failed");
    EXPECT_NE(overloaded.result.error.find("HTTP 503: The server is overloaded (mock)"), std::string::npos)
        << overloaded.result.error;
}

TEST_F(OpenAiTextToSpeechTest, AProviderSlowerThanTimeoutMsEndsWithSpeechFailedNamingIt) {
    mock_.set_speech({.first_ms = 5000});
    config_.timeout = 300ms;
    make();
    RecordingObserver observer;
    auto handle = speak("Hello.", observer);
    ASSERT_TRUE(finished(observer));
    EXPECT_EQ(observer.result.error_code, "speech_failed");
    EXPECT_NE(observer.result.error.find("text_to_speech.timeout_ms"), std::string::npos);
    EXPECT_EQ(tts_->in_flight(), 0u);
}

TEST_F(OpenAiTextToSpeechTest, PastMaxPendingASynthesisEndsWithSpeechBusy) {
    mock_.set_speech({.first_ms = 2000});
    config_.max_pending = 1;
    make();
    RecordingObserver slow, refused;
    auto first = speak("Slow.", slow);
    auto second = speak("Refused.", refused);
    EXPECT_EQ(refused.dones, 0);  // posted
    ASSERT_TRUE(run_until(io_, [&] { return refused.dones > 0; }));
    EXPECT_EQ(refused.result.error_code, "speech_busy");
    EXPECT_EQ(metrics_.tts_busy.value(), 1u);
    EXPECT_EQ(tts_->in_flight(), 1u);
    first.reset();  // cancels: the slot is free again
    EXPECT_EQ(tts_->in_flight(), 0u);
    mock_.set_speech({});
    RecordingObserver later;
    auto third = speak("Now.", later);
    ASSERT_TRUE(finished(later));
    EXPECT_TRUE(later.result.ok()) << later.result.error;
    EXPECT_EQ(slow.chunks + slow.dones, 0);
}

TEST_F(OpenAiTextToSpeechTest, CancelRemovesTheTransferAndStopsTheCallbacks) {
    mock_.set_speech({.ms_per_char = 100, .realtime_factor = 1.0, .chunk_ms = 100});
    make();
    RecordingObserver observer;
    std::unique_ptr<SynthesisHandle> handle = speak("A reply of several seconds of audio.", observer);
    observer.after_chunk = [&] { handle->cancel(); };
    ASSERT_TRUE(run_until(io_, [&] { return observer.chunks > 0; }));
    EXPECT_EQ(tts_->in_flight(), 0u);
    // The connection is closed mid-reply, so the provider stops sending.
    EXPECT_TRUE(run_until(io_, [&] { return mock_.open_connections() == 0; }, 10s));
    run_for(io_, 300ms);
    EXPECT_EQ(observer.chunks, 1);
    EXPECT_EQ(observer.dones, 0);
}

TEST_F(OpenAiTextToSpeechTest, AnUnsetKeyVariableEndsWithSpeechFailedNamingIt) {
    config_.api_key_env = "VOXGATE_TEST_UNSET_TTS_KEY";
    config_.api_key.clear();
    make();
    RecordingObserver observer;
    auto handle = speak("Hello.", observer);
    ASSERT_TRUE(finished(observer));
    EXPECT_EQ(observer.result.error_code, "speech_failed");
    EXPECT_NE(observer.result.error.find("text_to_speech.api_key_env"), std::string::npos) << observer.result.error;
    EXPECT_EQ(mock_.request_count(), 0u);
}

// ---------------------------------------------------------------------------------------
// wiring

// A synthesis started and ended on a shard thread of a running gateway.
class ShardSynthesis final : public SynthesisObserver {
public:
    void start(server::Shard& shard, const std::string& text) {
        asio::post(shard.io_context(), [this, &shard, text] {
            handle_ = shard.realtime_context()->text_to_speech->synthesize({text, ""},
                                                                            shard.io_context().get_executor(), *this);
        });
    }
    void on_audio(std::span<const std::int16_t> chunk) override { samples_ += chunk.size(); }
    void on_done(const SynthesisResult& result) override {
        ok_ = result.ok();
        handle_.reset();
        done_ = true;
    }
    bool done() const { return done_.load(); }
    bool ok() const { return ok_; }
    std::size_t samples() const { return samples_; }

private:
    std::unique_ptr<SynthesisHandle> handle_;  // the shard's
    std::size_t samples_ = 0;
    bool ok_ = false;
    std::atomic<bool> done_{false};
};

TEST(TextToSpeechWiring, EveryShardsRealtimeContextHasTheConfiguredTextToSpeech) {
    Config espeak = test::test_config();
    {
        test::TestGateway gateway(espeak);
        std::vector<TextToSpeech*> seen;
        for (auto& shard : gateway.runtime().shards()) {
            TextToSpeech* tts = shard->realtime_context()->text_to_speech;
            ASSERT_NE(tts, nullptr);
            EXPECT_EQ(tts->sample_rate(), 22050);
            for (auto* other : seen) EXPECT_NE(tts, other);  // one per shard: its own metrics
            seen.push_back(tts);
        }
        // espeak-ng on the gateway's compute pool, answering on the shard.
        ShardSynthesis synthesis;
        synthesis.start(*gateway.runtime().shards().front(), "Wired and speaking.");
        ASSERT_TRUE(test::eventually([&] { return synthesis.done(); }, 60s));
        EXPECT_TRUE(synthesis.ok());
        EXPECT_GT(synthesis.samples(), 22050u / 2);
        EXPECT_EQ(test::scrape_metric(gateway.port(), "voxgate_tts_first_byte_seconds_count"), 1);
        EXPECT_EQ(test::scrape_metric(gateway.port(), "voxgate_tts_busy_total"), 0);
    }
    Config openai = test::test_config();
    openai.text_to_speech.kind = "openai";
    {
        test::TestGateway gateway(openai);
        for (auto& shard : gateway.runtime().shards())
            EXPECT_EQ(shard->realtime_context()->text_to_speech->sample_rate(), 24000);
    }
    Config none = test::test_config();
    none.text_to_speech.kind = "none";
    {
        test::TestGateway gateway(none);
        for (auto& shard : gateway.runtime().shards()) EXPECT_EQ(shard->realtime_context()->text_to_speech, nullptr);
    }
}

}  // namespace
}  // namespace voxgate::speech
