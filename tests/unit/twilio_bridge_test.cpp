// TwilioBridge's translation, driven from both sides: Twilio's messages in through the
// ClientHandler face, the engine's typed events in through the SessionEvents face, with a
// recording link standing for the WebSocket and a recording session for the engine.
// (The real session behind it is covered end to end in tests/integration/twilio_test.cpp.)
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <variant>
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

// Stands for the session engine: records the typed commands the bridge gives it.
class RecordingSession final : public SessionControl {
public:
    explicit RecordingSession(SessionEvents& events) : events(events) {}
    void open() override {
        opened = true;
        events.session_ready();
    }
    void handle(protocol::ClientEvent& command) override { commands.push_back(std::move(command.body)); }
    void pause_output() override { backpressure = true; }
    void resume_output() override { backpressure = false; }
    void client_gone() override { closed = true; }
    void shut_down_gracefully() override {}
    std::string log_id() const override { return "sess_test"; }
    bool speaks() const override { return can_speak; }

    template <class T>
    T& command(std::size_t index) {
        EXPECT_LT(index, commands.size());
        EXPECT_TRUE(std::holds_alternative<T>(commands.at(index)));
        return std::get<T>(commands.at(index));
    }

    SessionEvents& events;
    std::vector<protocol::ClientEventBody> commands;
    bool can_speak = true;
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

std::vector<std::uint8_t> silence_bytes() { return std::vector<std::uint8_t>(160, 0xff); }

struct Call {
    boost::asio::io_context io;
    RecordingLink twilio;
    metrics::ShardMetrics metrics{0};
    RecordingSession* session = nullptr;
    std::string model_asked = "(none)";
    std::string refuse_with;
    bool gateway_speaks = true;
    std::shared_ptr<TwilioBridge> bridge = std::make_shared<TwilioBridge>(
        twilio, io.get_executor(),
        [this](SessionEvents& events, std::string model, std::string& refusal) -> std::shared_ptr<SessionControl> {
            model_asked = model;
            if (!refuse_with.empty()) {
                refusal = refuse_with;
                return nullptr;
            }
            auto created = std::make_shared<RecordingSession>(events);
            created->can_speak = gateway_speaks;
            session = created.get();
            return created;
        },
        &metrics);

    // The engine's side: what the session tells the bridge.
    SessionEvents& events() { return bridge->session_events(); }
    void audio(const std::string& item) {
        const auto bytes = silence_bytes();
        events().output_audio_delta(protocol::OutputRef{"resp_1", item, 0}, 0, bytes);
    }

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
    ASSERT_EQ(call.session->commands.size(), 1u) << "one session update configures the call";
    const protocol::SessionPatch& patch = call.session->command<protocol::SessionUpdate>(0).patch;
    EXPECT_EQ(patch.instructions, "You take pizza orders.");
    EXPECT_EQ(patch.audio["input"]["format"]["type"], "audio/pcmu");
    EXPECT_EQ(patch.audio["input"]["turn_detection"]["type"], "server_vad");
    EXPECT_EQ(patch.audio["output"]["format"]["type"], "audio/pcmu");
    EXPECT_EQ(patch.audio["output"]["voice"], "alloy");
    EXPECT_EQ(patch.output, protocol::OutputModality::audio);
    EXPECT_FALSE(patch.audio.dump().find("gold") != std::string::npos) << "unknown parameters are ignored";
    EXPECT_FALSE(patch.model.has_value()) << "the model was chosen when the session was made";
    EXPECT_EQ(call.metrics.twilio_streams.value(), 1u);
    EXPECT_TRUE(call.twilio.frames.empty());
}

TEST(TwilioBridge, WithoutParametersTheGatewayDefaultsStand) {
    Call call;
    call.started();
    EXPECT_EQ(call.model_asked, "");
    const protocol::SessionPatch& patch = call.session->command<protocol::SessionUpdate>(0).patch;
    EXPECT_FALSE(patch.instructions.has_value());
    EXPECT_FALSE(patch.audio["output"].contains("voice"));
}

TEST(TwilioBridge, AGatewayThatCannotSpeakStillHearsTheCall) {
    Call call;
    call.gateway_speaks = false;
    call.started();
    const protocol::SessionPatch& patch = call.session->command<protocol::SessionUpdate>(0).patch;
    EXPECT_FALSE(patch.output.has_value()) << "asking for audio would refuse the whole update";
    EXPECT_EQ(patch.audio["input"]["format"]["type"], "audio/pcmu");
}

TEST(TwilioBridge, CallerAudioIsAppendedAsItsMuLawBytesAndOtherTracksAreNot) {
    Call call;
    call.started();
    call.session->commands.clear();
    call.bridge->on_text(media_message(twenty_ms()));
    call.bridge->on_text(media_message(twenty_ms(), "outbound"));
    ASSERT_EQ(call.session->commands.size(), 1u);
    EXPECT_EQ(call.session->command<protocol::AudioAppend>(0).audio, silence_bytes());
}

TEST(TwilioBridge, AMediaPayloadThatIsNotBase64IsDropped) {
    Call call;
    call.started({{"instructions", "\"}},\"type\":\"x"}});
    EXPECT_EQ(call.session->command<protocol::SessionUpdate>(0).patch.instructions, "\"}},\"type\":\"x");
    call.session->commands.clear();
    call.bridge->on_text(media_message(R"(AAAA","type":"response.create)"));
    EXPECT_TRUE(call.session->commands.empty());
    EXPECT_EQ(call.twilio.close_code, 0) << "one bad frame does not end the call";
    call.bridge->on_text(media_message(twenty_ms()));
    EXPECT_EQ(call.session->commands.size(), 1u);
}

TEST(TwilioBridge, AKeyPressBecomesAUserTextItem) {
    Call call;
    call.started();
    call.session->commands.clear();
    call.bridge->on_text(R"({"event":"dtmf","streamSid":"MZ42","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"5"}})");
    ASSERT_EQ(call.session->commands.size(), 1u);
    const protocol::ItemCreate& create = call.session->command<protocol::ItemCreate>(0);
    EXPECT_EQ(create.item.type, protocol::ItemType::message);
    EXPECT_EQ(create.item.role, protocol::Role::user);
    ASSERT_EQ(create.item.content.size(), 1u);
    EXPECT_EQ(create.item.content[0].type, protocol::ContentType::input_text);
    EXPECT_EQ(create.item.content[0].text, "DTMF: 5");
    EXPECT_FALSE(create.previous_item_id.has_value());
}

TEST(TwilioBridge, SpokenRepliesGoToTwilioAsMediaFollowedByAMark) {
    Call call;
    call.started();
    const protocol::OutputRef ref{"resp_1", "item_9", 0};
    call.events().output_audio_transcript_delta(ref, 0, "Hi");
    call.audio("item_9");
    call.audio("item_9");
    call.events().output_audio_done(ref, 0);
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
    for (int i = 0; i < 3; ++i) call.audio("item_9");
    call.bridge->on_text(mark_message("item_9:20"));  // 20 ms have played
    call.twilio.frames.clear();
    call.session->commands.clear();

    call.events().speech_started(900, "item_10");
    ASSERT_EQ(call.twilio.frames.size(), 1u);
    EXPECT_EQ(call.twilio.frames[0], (json{{"event", "clear"}, {"streamSid", "MZ42"}}));
    EXPECT_TRUE(call.session->commands.empty()) << "the truncate is posted, never given inside the engine's own event";
    call.io.run();
    ASSERT_EQ(call.session->commands.size(), 1u);
    const protocol::ItemTruncate& truncate = call.session->command<protocol::ItemTruncate>(0);
    EXPECT_EQ(truncate.item_id, "item_9");
    EXPECT_EQ(truncate.content_index, 0);
    EXPECT_EQ(truncate.audio_end_ms, 20);
    EXPECT_FALSE(truncate.text_end.has_value());

    // The marks a clear flushes come back; they are stale, and speech now interrupts nothing.
    call.bridge->on_text(mark_message("item_9:40"));
    call.bridge->on_text(mark_message("item_9:60"));
    call.twilio.frames.clear();
    call.events().speech_started(2000, "item_11");
    call.io.restart();
    call.io.run();
    EXPECT_TRUE(call.twilio.frames.empty());
    EXPECT_EQ(call.session->commands.size(), 1u);
}

TEST(TwilioBridge, SpeechWhenNothingPlaysInterruptsNothing) {
    Call call;
    call.started();
    call.audio("item_9");
    call.bridge->on_text(mark_message("item_9:20"));  // all of it played
    call.twilio.frames.clear();
    call.events().speech_started(100, "item_10");
    call.io.run();
    EXPECT_TRUE(call.twilio.frames.empty());
}

TEST(TwilioBridge, OutstandingMarksAreCappedAndTheSkipIsCounted) {
    Call call;
    call.started();
    for (std::size_t i = 0; i < TwilioBridge::max_outstanding_marks + 3; ++i) call.audio("item_9");
    std::size_t marks = 0, media = 0;
    for (const auto& frame : call.twilio.frames) (frame["event"] == "mark" ? marks : media)++;
    EXPECT_EQ(marks, TwilioBridge::max_outstanding_marks);
    EXPECT_EQ(media, TwilioBridge::max_outstanding_marks + 3);
    EXPECT_EQ(call.metrics.twilio_marks_skipped.value(), 3u);
    // Once Twilio confirms playback, marks flow again and carry the true position.
    call.bridge->on_text(mark_message("item_9:20"));
    call.twilio.frames.clear();
    call.audio("item_9");
    ASSERT_EQ(call.twilio.frames.size(), 2u);
    EXPECT_EQ(call.twilio.frames[1]["mark"]["name"],
              "item_9:" + std::to_string((TwilioBridge::max_outstanding_marks + 4) * 20));
}

TEST(TwilioBridge, SessionErrorsAreNotForwardedToTwilio) {
    Call call;
    call.started();
    call.events().error(protocol::invalid_request("invalid_value", "bad", ""));
    EXPECT_TRUE(call.twilio.frames.empty());
    EXPECT_EQ(call.twilio.close_code, 0);
}

TEST(TwilioBridge, TheSessionClosingEndsTheCall) {
    Call call;
    call.started();
    call.events().close(1011, "internal error");
    EXPECT_EQ(call.twilio.close_code, 1011);
    EXPECT_EQ(call.twilio.close_reason, "internal error");
}

TEST(TwilioBridge, StopEndsTheCallAndTheSessionHearsTheClose) {
    Call call;
    call.started();
    call.bridge->on_text(R"({"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA7"},"streamSid":"MZ42"})");
    EXPECT_EQ(call.twilio.close_code, 1000);
    call.bridge->on_closed();  // the transport's close completes
    EXPECT_TRUE(call.session->closed);
    call.audio("item_9");
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
