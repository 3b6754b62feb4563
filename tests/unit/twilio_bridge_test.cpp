// TwilioBridge's translation, driven from both sides: Twilio's messages in through the
// ClientHandler face, the session's events in through the ClientLink face, with a
// recording link standing for the WebSocket and a recording session for RealtimeSession.
// (The real session behind it is covered end to end in tests/integration/twilio_test.cpp.)
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "audio/base64.hpp"
#include "metrics/shard_metrics.hpp"
#include "session/twilio_bridge.hpp"

namespace voxgate::session {
namespace {

using nlohmann::json;

class RecordingLink final : public ClientLink {
public:
    void send_text(std::shared_ptr<const std::string> frame) override { frames.push_back(json::parse(*frame)); }
    void close(std::uint16_t code, std::string_view reason) override {
        close_code = code;
        close_reason = reason;
    }
    std::size_t queued_bytes() const override { return 0; }

    std::vector<json> frames;
    std::uint16_t close_code = 0;
    std::string close_reason;
};

class RecordingSession final : public ClientHandler {
public:
    explicit RecordingSession(ClientLink& link) : link(link) {}
    void on_open() override { opened = true; }
    void on_text(std::string_view message) override { events.push_back(json::parse(message)); }
    void on_binary(std::string_view) override {}
    void on_send_queue_high() override { backpressure = true; }
    void on_send_queue_low() override { backpressure = false; }
    void on_closed() override { closed = true; }
    void emit(const json& event) { link.send_text(std::make_shared<const std::string>(event.dump())); }

    ClientLink& link;
    std::vector<json> events;
    bool opened = false;
    bool closed = false;
    bool backpressure = false;
};

const std::string connected = R"({"event":"connected","protocol":"Call","version":"1.0.0"})";

std::string start_message(const json& parameters = json::object(), const std::string& encoding = "audio/x-mulaw") {
    return json{{"event", "start"},
                {"sequenceNumber", "1"},
                {"start",
                 {{"accountSid", "AC1"},
                  {"streamSid", "MZ42"},
                  {"callSid", "CA7"},
                  {"tracks", {"inbound"}},
                  {"customParameters", parameters},
                  {"mediaFormat", {{"encoding", encoding}, {"sampleRate", 8000}, {"channels", 1}}}}},
                {"streamSid", "MZ42"}}
        .dump();
}

std::string media_message(const std::string& payload, const std::string& track = "inbound") {
    return json{{"event", "media"},
                {"sequenceNumber", "3"},
                {"media", {{"track", track}, {"chunk", "1"}, {"timestamp", "20"}, {"payload", payload}}},
                {"streamSid", "MZ42"}}
        .dump();
}

std::string mark_message(const std::string& name) {
    return json{{"event", "mark"}, {"sequenceNumber", "9"}, {"streamSid", "MZ42"}, {"mark", {{"name", name}}}}.dump();
}

// 20 ms of mu-law silence, base64.
std::string twenty_ms() {
    std::vector<std::uint8_t> codes(160, 0xff);
    std::string out;
    audio::base64_encode(codes, out);
    return out;
}

json audio_delta(const std::string& item, const std::string& payload) {
    return {{"type", "response.output_audio.delta"}, {"event_id", "event_1"}, {"response_id", "resp_1"},
            {"item_id", item}, {"output_index", 0}, {"content_index", 0}, {"delta", payload}};
}

struct Call {
    boost::asio::io_context io;
    RecordingLink twilio;
    metrics::ShardMetrics metrics{0};
    RecordingSession* session = nullptr;
    std::string model_asked = "(none)";
    std::string refuse_with;
    std::shared_ptr<TwilioBridge> bridge = std::make_shared<TwilioBridge>(
        twilio, io.get_executor(),
        [this](ClientLink& link, std::string model, std::string& refusal) -> std::shared_ptr<ClientHandler> {
            model_asked = model;
            if (!refuse_with.empty()) {
                refusal = refuse_with;
                return nullptr;
            }
            auto created = std::make_shared<RecordingSession>(link);
            session = created.get();
            return created;
        },
        &metrics);

    void started(const json& parameters = json::object()) {
        bridge->on_open();
        bridge->on_text(connected);
        bridge->on_text(start_message(parameters));
        ASSERT_NE(session, nullptr);
    }
};

TEST(TwilioBridge, StartOpensTheSessionForTheModelAndConfiguresTelephoneAudio) {
    Call call;
    call.bridge->on_open();
    call.bridge->on_text(connected);
    EXPECT_EQ(call.session, nullptr) << "the session waits for start";
    call.bridge->on_text(start_message({{"model", "gpt-phone"}, {"instructions", "You take pizza orders."},
                                        {"voice", "alloy"}, {"caller_tier", "gold"}}));
    ASSERT_NE(call.session, nullptr);
    EXPECT_EQ(call.model_asked, "gpt-phone");
    EXPECT_TRUE(call.session->opened);
    ASSERT_EQ(call.session->events.size(), 2u);
    const json& update = call.session->events[0];
    EXPECT_EQ(update["type"], "session.update");
    EXPECT_EQ(update["session"]["instructions"], "You take pizza orders.");
    EXPECT_EQ(update["session"]["audio"]["input"]["format"]["type"], "audio/pcmu");
    EXPECT_EQ(update["session"]["audio"]["input"]["turn_detection"]["type"], "server_vad");
    EXPECT_EQ(update["session"]["audio"]["output"]["format"]["type"], "audio/pcmu");
    EXPECT_EQ(update["session"]["audio"]["output"]["voice"], "alloy");
    EXPECT_FALSE(update.dump().find("gold") != std::string::npos) << "unknown parameters are ignored";
    EXPECT_EQ(call.session->events[1], json::parse(R"({"type":"session.update","session":{"output_modalities":["audio"]}})"));
    EXPECT_EQ(call.metrics.twilio_streams.value(), 1u);
    EXPECT_TRUE(call.twilio.frames.empty());
}

TEST(TwilioBridge, WithoutParametersTheGatewayDefaultsStand) {
    Call call;
    call.started();
    EXPECT_EQ(call.model_asked, "");
    EXPECT_FALSE(call.session->events[0]["session"].contains("instructions"));
    EXPECT_FALSE(call.session->events[0]["session"]["audio"]["output"].contains("voice"));
}

TEST(TwilioBridge, CallerAudioIsAppendedAsIsAndOtherTracksAreNot) {
    Call call;
    call.started();
    call.session->events.clear();
    call.bridge->on_text(media_message(twenty_ms()));
    call.bridge->on_text(media_message(twenty_ms(), "outbound"));
    ASSERT_EQ(call.session->events.size(), 1u);
    EXPECT_EQ(call.session->events[0], (json{{"type", "input_audio_buffer.append"}, {"audio", twenty_ms()}}));
}

TEST(TwilioBridge, APayloadCannotSmuggleFieldsIntoTheAppend) {
    Call call;
    call.started({{"instructions", "\"}},\"type\":\"x"}});
    EXPECT_EQ(call.session->events[0]["session"]["instructions"], "\"}},\"type\":\"x");
    call.session->events.clear();
    const std::string hostile = R"(AAAA","type":"response.create)";
    call.bridge->on_text(media_message(hostile));
    ASSERT_EQ(call.session->events.size(), 1u);
    EXPECT_EQ(call.session->events[0], (json{{"type", "input_audio_buffer.append"}, {"audio", hostile}}));
}

TEST(TwilioBridge, AKeyPressBecomesAUserTextItem) {
    Call call;
    call.started();
    call.session->events.clear();
    call.bridge->on_text(R"({"event":"dtmf","streamSid":"MZ42","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"5"}})");
    ASSERT_EQ(call.session->events.size(), 1u);
    const json& create = call.session->events[0];
    EXPECT_EQ(create["type"], "conversation.item.create");
    EXPECT_EQ(create["item"]["role"], "user");
    EXPECT_EQ(create["item"]["content"][0]["type"], "input_text");
    EXPECT_EQ(create["item"]["content"][0]["text"], "DTMF: 5");
}

TEST(TwilioBridge, SpokenRepliesGoToTwilioAsMediaFollowedByAMark) {
    Call call;
    call.started();
    call.session->emit({{"type", "session.created"}, {"session", {{"id", "sess_1"}}}});
    call.session->emit({{"type", "response.output_audio_transcript.delta"}, {"delta", "Hi"}});
    call.session->emit(audio_delta("item_9", twenty_ms()));
    call.session->emit(audio_delta("item_9", twenty_ms()));
    call.session->emit({{"type", "response.output_audio.done"}, {"item_id", "item_9"}});
    call.session->emit({{"type", "response.done"}, {"response", {{"status", "completed"}}}});
    ASSERT_EQ(call.twilio.frames.size(), 4u);
    EXPECT_EQ(call.twilio.frames[0],
              (json{{"event", "media"}, {"streamSid", "MZ42"}, {"media", {{"payload", twenty_ms()}}}}));
    EXPECT_EQ(call.twilio.frames[1], (json{{"event", "mark"}, {"streamSid", "MZ42"}, {"mark", {{"name", "item_9:20"}}}}));
    EXPECT_EQ(call.twilio.frames[2]["event"], "media");
    EXPECT_EQ(call.twilio.frames[3]["mark"]["name"], "item_9:40");
}

TEST(TwilioBridge, BargeInClearsTwilioAndTruncatesToWhatTheCallerHeard) {
    Call call;
    call.started();
    for (int i = 0; i < 3; ++i) call.session->emit(audio_delta("item_9", twenty_ms()));
    call.bridge->on_text(mark_message("item_9:20"));  // 20 ms have played
    call.twilio.frames.clear();
    call.session->events.clear();

    call.session->emit({{"type", "input_audio_buffer.speech_started"}, {"audio_start_ms", 900}, {"item_id", "item_10"}});
    ASSERT_EQ(call.twilio.frames.size(), 1u);
    EXPECT_EQ(call.twilio.frames[0], (json{{"event", "clear"}, {"streamSid", "MZ42"}}));
    EXPECT_TRUE(call.session->events.empty()) << "the truncate is posted, never sent inside the session's own call";
    call.io.run();
    ASSERT_EQ(call.session->events.size(), 1u);
    EXPECT_EQ(call.session->events[0], (json{{"type", "conversation.item.truncate"},
                                             {"item_id", "item_9"},
                                             {"content_index", 0},
                                             {"audio_end_ms", 20}}));

    // The marks a clear flushes come back; they are stale, and speech now interrupts nothing.
    call.bridge->on_text(mark_message("item_9:40"));
    call.bridge->on_text(mark_message("item_9:60"));
    call.twilio.frames.clear();
    call.session->emit({{"type", "input_audio_buffer.speech_started"}, {"audio_start_ms", 2000}});
    call.io.restart();
    call.io.run();
    EXPECT_TRUE(call.twilio.frames.empty());
    EXPECT_EQ(call.session->events.size(), 1u);
}

TEST(TwilioBridge, SpeechWhenNothingPlaysInterruptsNothing) {
    Call call;
    call.started();
    call.session->emit(audio_delta("item_9", twenty_ms()));
    call.bridge->on_text(mark_message("item_9:20"));  // all of it played
    call.twilio.frames.clear();
    call.session->emit({{"type", "input_audio_buffer.speech_started"}, {"audio_start_ms", 100}});
    call.io.run();
    EXPECT_TRUE(call.twilio.frames.empty());
}

TEST(TwilioBridge, OutstandingMarksAreCappedAndTheSkipIsCounted) {
    Call call;
    call.started();
    for (std::size_t i = 0; i < TwilioBridge::max_outstanding_marks + 3; ++i)
        call.session->emit(audio_delta("item_9", twenty_ms()));
    std::size_t marks = 0, media = 0;
    for (const auto& frame : call.twilio.frames) (frame["event"] == "mark" ? marks : media)++;
    EXPECT_EQ(marks, TwilioBridge::max_outstanding_marks);
    EXPECT_EQ(media, TwilioBridge::max_outstanding_marks + 3);
    EXPECT_EQ(call.metrics.twilio_marks_skipped.value(), 3u);
    // Once Twilio confirms playback, marks flow again and carry the true position.
    call.bridge->on_text(mark_message("item_9:20"));
    call.twilio.frames.clear();
    call.session->emit(audio_delta("item_9", twenty_ms()));
    ASSERT_EQ(call.twilio.frames.size(), 2u);
    EXPECT_EQ(call.twilio.frames[1]["mark"]["name"],
              "item_9:" + std::to_string((TwilioBridge::max_outstanding_marks + 4) * 20));
}

TEST(TwilioBridge, SessionErrorsAreNotForwardedToTwilio) {
    Call call;
    call.started();
    call.session->emit({{"type", "error"}, {"error", {{"code", "invalid_value"}, {"message", "bad"}}}});
    EXPECT_TRUE(call.twilio.frames.empty());
    EXPECT_EQ(call.twilio.close_code, 0);
}

TEST(TwilioBridge, StopEndsTheCallAndTheSessionHearsTheClose) {
    Call call;
    call.started();
    call.bridge->on_text(R"({"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA7"},"streamSid":"MZ42"})");
    EXPECT_EQ(call.twilio.close_code, 1000);
    call.bridge->on_closed();  // the transport's close completes
    EXPECT_TRUE(call.session->closed);
    call.session->emit(audio_delta("item_9", twenty_ms()));
    EXPECT_TRUE(call.twilio.frames.empty()) << "nothing is sent after the close";
}

TEST(TwilioBridge, BackpressureReachesTheSession) {
    Call call;
    call.started();
    call.bridge->on_send_queue_high();
    EXPECT_TRUE(call.session->backpressure);
    call.bridge->on_send_queue_low();
    EXPECT_FALSE(call.session->backpressure);
}

TEST(TwilioBridge, UnknownEventsAfterStartAreIgnored) {
    Call call;
    call.started();
    call.bridge->on_text(R"({"event":"future_thing","streamSid":"MZ42"})");
    EXPECT_EQ(call.twilio.close_code, 0);
}

struct Refusal {
    std::string first;     // what Twilio sends first (after connected)
    std::uint16_t code;
    std::string reason_part;
};

TEST(TwilioBridge, ProtocolViolationsCloseWithAReason) {
    const std::vector<Refusal> cases = {
        {media_message(twenty_ms()), 1008, "expected the 'start' message first"},
        {connected, 1008, "expected the 'start' message first"},
        {"{not json", 1008, "invalid Twilio message: message is not JSON"},
        {R"({"event":"future_thing"})", 1008, "unknown Twilio event"},
        {start_message({}, "audio/x-alaw"), 1008, "start.mediaFormat"},
        {start_message({{"voice", "al loy"}}), 1008, "customParameters.voice"},
        {start_message({{"model", std::string(300, 'm')}}), 1008, "customParameters.model"},
        {start_message({{"instructions", std::string(70000, 'i')}}), 1008, "customParameters.instructions"},
    };
    for (const auto& refusal : cases) {
        Call call;
        call.bridge->on_text(connected);
        call.bridge->on_text(refusal.first);
        EXPECT_EQ(call.twilio.close_code, refusal.code) << refusal.first.substr(0, 80);
        EXPECT_NE(call.twilio.close_reason.find(refusal.reason_part), std::string::npos) << call.twilio.close_reason;
        EXPECT_EQ(call.session, nullptr);
    }
}

TEST(TwilioBridge, BinaryFramesCloseWith1003AndAStartTwiceWith1008) {
    Call binary;
    binary.bridge->on_binary("\x01\x02");
    EXPECT_EQ(binary.twilio.close_code, 1003);
    Call twice;
    twice.started();
    twice.bridge->on_text(start_message());
    EXPECT_EQ(twice.twilio.close_code, 1008);
    EXPECT_NE(twice.twilio.close_reason.find("'start' came twice"), std::string::npos);
}

TEST(TwilioBridge, AModelTheKeyMayNotUseEndsTheCall) {
    Call call;
    call.refuse_with = "key 'phone' may not use model 'gpt-x'";
    call.bridge->on_text(connected);
    call.bridge->on_text(start_message({{"model", "gpt-x"}}));
    EXPECT_EQ(call.twilio.close_code, 1008);
    EXPECT_EQ(call.twilio.close_reason, "key 'phone' may not use model 'gpt-x'");
}

}  // namespace
}  // namespace voxgate::session
