// Twilio Media Streams at /v1/twilio over real loopback WebSockets: the endpoint table
// (what is served where, 404s that say so), X-Twilio-Signature (403 before the upgrade),
// and a call end to end: Twilio's connected/start/media frames carrying real speech as
// mu-law (espeak-ng), server VAD in the session, the utterance at the mock
// /audio/transcriptions, and the model asked with the transcript and the TwiML's
// instructions. The spoken reply (media out) is in tests/pending/ until audio output lands.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "audio/base64.hpp"
#include "audio/g711.hpp"
#include "audio/resampler.hpp"
#include "protocol/twilio/signature.hpp"
#include "support/keys_file.hpp"
#include "support/mock_upstream.hpp"
#include "support/speech.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* public_url = "wss://voice.example.com";
constexpr const char* auth_token = "twilio-test-auth-token-0123456789";

Config twilio_config(bool signed_calls = true) {
    Config config = test_config();
    config.limits.max_events_per_second = 10000;  // the tests stream audio faster than real time
    config.twilio.enabled = true;
    if (signed_calls) {
        config.twilio.public_url = public_url;
        config.twilio.auth_token = auth_token;
    }
    return config;
}

std::string signature_for(const std::string& target) {
    return protocol::twilio::request_signature(auth_token, std::string(public_url) + target);
}

json error_body(const HttpResult& result) { return json::parse(result.body); }

TEST(TwilioEndpoint, UnknownUpgradePathsAreToldWhichPathsAreServed) {
    TestGateway with(twilio_config());
    auto refused = http_upgrade(with.port(), "/v1/phone");
    EXPECT_EQ(refused.status, 404);
    EXPECT_EQ(error_body(refused)["error"]["message"],
              "WebSocket upgrades are served only at /v1/realtime, /v1/twilio");

    TestGateway without(test_config());  // twilio.enabled defaults to false
    EXPECT_EQ(http_upgrade(without.port(), "/v1/twilio").status, 404);
    EXPECT_EQ(error_body(http_upgrade(without.port(), "/v1/twilio"))["error"]["message"],
              "WebSocket upgrades are served only at /v1/realtime");
    EXPECT_EQ(http_get(without.port(), "/v1/twilio").status, 404);
    EXPECT_EQ(http_get(with.port(), "/v1/twilio").status, 426);  // served, but it speaks WebSocket
    EXPECT_EQ(http_upgrade(with.port(), "/v1/realtime").status, 101);  // unchanged
}

TEST(TwilioEndpoint, WithAnAuthTokenOnlySignedUpgradesAreAccepted) {
    TestGateway gateway(twilio_config());
    auto unsigned_call = http_upgrade(gateway.port(), "/v1/twilio");
    EXPECT_EQ(unsigned_call.status, 403);
    EXPECT_EQ(error_body(unsigned_call)["error"]["type"], "invalid_signature");
    EXPECT_NE(error_body(unsigned_call)["error"]["message"].get<std::string>().find("missing X-Twilio-Signature"),
              std::string::npos);

    // Signed for another URL (the query is signed too), or with another token.
    auto wrong_url = http_upgrade(gateway.port(), "/v1/twilio?x=1", {{"X-Twilio-Signature", signature_for("/v1/twilio")}});
    EXPECT_EQ(wrong_url.status, 403);
    const auto message = error_body(wrong_url)["error"]["message"].get<std::string>();
    EXPECT_NE(message.find("does not match wss://voice.example.com/v1/twilio?x=1"), std::string::npos) << message;
    EXPECT_EQ(message.find(auth_token), std::string::npos);
    auto wrong_token = http_upgrade(gateway.port(), "/v1/twilio",
                                    {{"X-Twilio-Signature", protocol::twilio::request_signature(
                                                                "another-token", std::string(public_url) + "/v1/twilio")}});
    EXPECT_EQ(wrong_token.status, 403);
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_auth_rejections_total", "{reason=\"twilio_signature\"}"), 3);

    EXPECT_EQ(http_upgrade(gateway.port(), "/v1/twilio", {{"X-Twilio-Signature", signature_for("/v1/twilio")}}).status,
              101);
    EXPECT_EQ(http_upgrade(gateway.port(), "/v1/twilio?x=1", {{"X-Twilio-Signature", signature_for("/v1/twilio?x=1")}})
                  .status,
              101);
    EXPECT_GE(scrape_metric(gateway.port(), "voxgate_http_requests_total", "{code=\"403\",path=\"/v1/twilio\"}"), 3);
}

TEST(TwilioEndpoint, UnsignedItTakesTheGatewaysOwnAuth) {
    TestGateway open_gateway(twilio_config(false));  // auth.mode none: open, as /v1/realtime is
    EXPECT_EQ(http_upgrade(open_gateway.port(), "/v1/twilio").status, 101);

    const std::string key = "vk-twilio-proxy-key-0123456789";
    KeysFile keys(std::vector<json>{key_entry("phone", key)});
    Config config = twilio_config(false);
    config.auth.mode = "api_keys";
    config.auth.keys_file = keys.path();
    TestGateway keyed(config);
    EXPECT_EQ(http_upgrade(keyed.port(), "/v1/twilio").status, 401);
    EXPECT_EQ(http_upgrade(keyed.port(), "/v1/twilio", {{"Authorization", "Bearer " + key}}).status, 101);
}

// Twilio's side of a call: connected, start, then 20 ms media frames of mu-law.
class TwilioCall {
public:
    TwilioCall(std::uint16_t port, const json& parameters)
        : ws_(WsClient::connect(port, {.target = "/v1/twilio",
                                       .headers = {{"X-Twilio-Signature", signature_for("/v1/twilio")}},
                                       .read_timeout = 60s})) {
        ws_->send_text(R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
        ws_->send_text(json{{"event", "start"},
                            {"sequenceNumber", "1"},
                            {"start",
                             {{"accountSid", "AC0123456789abcdef0123456789abcdef"},
                              {"streamSid", "MZ18ad3ab5a668481ce02b83e7395059f0"},
                              {"callSid", "CA0123456789abcdef0123456789abcdef"},
                              {"tracks", {"inbound"}},
                              {"customParameters", parameters},
                              {"mediaFormat", {{"encoding", "audio/x-mulaw"}, {"sampleRate", 8000}, {"channels", 1}}}}},
                            {"streamSid", "MZ18ad3ab5a668481ce02b83e7395059f0"}}
                           .dump());
    }
    void send_audio(const std::vector<std::uint8_t>& codes) {
        for (std::size_t at = 0; at < codes.size(); at += 160) {
            std::string payload;
            audio::base64_encode(std::span(codes).subspan(at, std::min<std::size_t>(160, codes.size() - at)), payload);
            ++chunk_;
            ws_->send_text(json{{"event", "media"},
                                {"sequenceNumber", std::to_string(chunk_ + 1)},
                                {"media",
                                 {{"track", "inbound"},
                                  {"chunk", std::to_string(chunk_)},
                                  {"timestamp", std::to_string(chunk_ * 20)},
                                  {"payload", payload}}},
                                {"streamSid", "MZ18ad3ab5a668481ce02b83e7395059f0"}}
                               .dump());
        }
    }
    void stop() {
        ws_->send_text(R"({"event":"stop","sequenceNumber":"999","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0",)"
                       R"("stop":{"accountSid":"AC0123456789abcdef0123456789abcdef","callSid":"CA0123456789abcdef0123456789abcdef"}})");
    }
    WsClient& ws() { return *ws_; }

private:
    std::unique_ptr<WsClient> ws_;
    int chunk_ = 0;
};

std::vector<std::uint8_t> ulaw_silence(int ms) { return std::vector<std::uint8_t>(static_cast<std::size_t>(ms) * 8, 0xff); }

std::vector<std::uint8_t> ulaw_speech(const std::string& phrase) {
    auto speech = speak(phrase);
    auto samples = audio::resample(speech.samples, speech.sample_rate, 8000);
    std::vector<std::uint8_t> codes;
    audio::encode_ulaw(samples, codes);
    return codes;
}

// The requests the mock got at a target ending in `suffix`.
std::vector<ReceivedRequest> requests_to(const MockUpstream& mock, const std::string& suffix) {
    std::vector<ReceivedRequest> found;
    for (auto& request : mock.requests())
        if (request.target.ends_with(suffix)) found.push_back(std::move(request));
    return found;
}

TEST(TwilioCallE2E, TheCallersSpeechIsTranscribedAndTheModelAskedWithTheTwimlInstructions) {
    MockUpstream mock;
    Config config = twilio_config();
    config.speech_to_text.kind = "openai";
    config.speech_to_text.base_url = mock.base_url() + "/v1";
    config.speech_to_text.model = "whisper-phone";
    ProviderConfig provider;
    provider.name = "mock";
    provider.kind = "openai";
    provider.base_url = mock.base_url() + "/v1";
    provider.api_key = "sk-twilio-e2e-dummy";
    config.providers = {provider};
    config.routes = {{"*", {"mock"}}};
    TestGateway gateway(config);

    TwilioCall call(gateway.port(), {{"instructions", "You answer the phone for a pizza shop."},
                                     {"model", "gpt-phone"}});
    call.send_audio(ulaw_silence(500));
    call.send_audio(ulaw_speech("i would like to order a pizza"));
    call.send_audio(ulaw_silence(1200));  // long enough for server VAD to end the turn

    ASSERT_TRUE(eventually([&] { return !requests_to(mock, "/chat/completions").empty(); }, 30s))
        << "the model was never asked; requests: " << mock.request_count();
    const auto transcriptions = requests_to(mock, "/audio/transcriptions");
    ASSERT_EQ(transcriptions.size(), 1u);
    const json chat = json::parse(requests_to(mock, "/chat/completions").front().body);
    EXPECT_EQ(chat["model"], "gpt-phone");
    EXPECT_NE(chat["messages"].dump().find("You answer the phone for a pizza shop."), std::string::npos) << chat.dump();
    // The mock's transcript names what it heard: the utterance as one 8 kHz WAV.
    const json& last = chat["messages"].back();
    EXPECT_EQ(last["role"], "user");
    EXPECT_NE(last["content"].dump().find("at 8000 Hz, model whisper-phone"), std::string::npos) << last.dump();
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_twilio_streams_total"), 1);

    // Twilio hangs up: the gateway closes the stream normally.
    call.stop();
    while (call.ws().read()) {
    }
    EXPECT_EQ(call.ws().close_reason().code, 1000);
}

TEST(TwilioCallE2E, AFrameBeforeStartClosesTheStreamWithAReason) {
    TestGateway gateway(twilio_config());
    auto ws = WsClient::connect(gateway.port(), {.target = "/v1/twilio",
                                                 .headers = {{"X-Twilio-Signature", signature_for("/v1/twilio")}}});
    ws->send_text(R"({"event":"media","media":{"track":"inbound","payload":"/w=="},"streamSid":"MZ1"})");
    while (ws->read()) {
    }
    EXPECT_EQ(ws->close_reason().code, 1008);
    EXPECT_EQ(ws->close_reason().reason, "expected the 'start' message first");

    auto binary = WsClient::connect(gateway.port(), {.target = "/v1/twilio",
                                                     .headers = {{"X-Twilio-Signature", signature_for("/v1/twilio")}}});
    binary->send_binary("\xff\xff");
    while (binary->read()) {
    }
    EXPECT_EQ(binary->close_reason().code, 1003);
}

}  // namespace
}  // namespace voxgate::test
