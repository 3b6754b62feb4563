// Twilio Media Streams codec: Twilio's messages as the docs show them (wire-protocols.md
// 4.2), the frames we send back (4.3), and clear errors for everything malformed.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "protocol/twilio/media_stream.hpp"

namespace voxgate::protocol::twilio {
namespace {

using nlohmann::json;

template <class T>
T decoded_as(const std::string& text) {
    auto result = decode(text);
    EXPECT_FALSE(result.error) << result.error->message;
    EXPECT_TRUE(result.message && std::holds_alternative<T>(*result.message)) << text;
    return result.message ? std::get<T>(*result.message) : T{};
}

ProtocolError error_of(const std::string& text) {
    auto result = decode(text);
    EXPECT_FALSE(result.message) << text;
    return result.error.value_or(ProtocolError{});
}

TEST(TwilioDecode, Connected) {
    auto connected = decoded_as<Connected>(R"({"event":"connected","protocol":"Call","version":"1.0.0"})");
    EXPECT_EQ(connected.protocol, "Call");
    EXPECT_EQ(connected.version, "1.0.0");
}

TEST(TwilioDecode, StartWithItsSidsTracksFormatAndParameters) {
    const std::string text = R"({"event":"start","sequenceNumber":"1",
        "start":{"accountSid":"AC0123456789abcdef0123456789abcdef","streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0",
                 "callSid":"CA0123456789abcdef0123456789abcdef","tracks":["inbound"],
                 "customParameters":{"instructions":"You are a pizza shop.","voice":"alloy"},
                 "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},
        "streamSid":"MZ18ad3ab5a668481ce02b83e7395059f0"})";
    auto decoded = decode(text);
    EXPECT_EQ(decoded.stream_sid, "MZ18ad3ab5a668481ce02b83e7395059f0");
    auto start = decoded_as<Start>(text);
    EXPECT_EQ(start.stream_sid, "MZ18ad3ab5a668481ce02b83e7395059f0");
    EXPECT_EQ(start.call_sid, "CA0123456789abcdef0123456789abcdef");
    EXPECT_EQ(start.account_sid, "AC0123456789abcdef0123456789abcdef");
    EXPECT_EQ(start.tracks, std::vector<std::string>{"inbound"});
    EXPECT_EQ(start.media_format.encoding, "audio/x-mulaw");
    EXPECT_EQ(start.media_format.sample_rate, 8000);
    EXPECT_EQ(start.media_format.channels, 1);
    EXPECT_EQ(start.parameter("instructions").value_or(""), "You are a pizza shop.");
    EXPECT_EQ(start.parameter("voice").value_or(""), "alloy");
    EXPECT_FALSE(start.parameter("model"));
}

TEST(TwilioDecode, MediaKeepsThePayloadAsBase64AndReadsStringCounters) {
    auto media = decoded_as<Media>(R"({"event":"media","sequenceNumber":"4",
        "media":{"track":"inbound","chunk":"2","timestamp":"5","payload":"/////w=="},"streamSid":"MZ1"})");
    EXPECT_EQ(media.track, "inbound");
    EXPECT_EQ(media.chunk, 2);
    EXPECT_EQ(media.timestamp, 5);
    EXPECT_EQ(media.payload, "/////w==");
    // A JSON integer is read as well (compatible implementations send numbers).
    EXPECT_EQ(decoded_as<Media>(R"({"event":"media","media":{"chunk":7,"payload":"AA=="}})").chunk, 7);
}

TEST(TwilioDecode, MarkDtmfAndStop) {
    EXPECT_EQ(decoded_as<Mark>(R"({"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"item_1:120"}})")
                  .name,
              "item_1:120");
    auto dtmf = decoded_as<Dtmf>(
        R"({"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"5"}})");
    EXPECT_EQ(dtmf.digit, "5");
    EXPECT_EQ(dtmf.track, "inbound_track");
    auto stop = decoded_as<Stop>(
        R"({"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"},"streamSid":"MZ1"})");
    EXPECT_EQ(stop.call_sid, "CA1");
}

TEST(TwilioDecode, MalformedMessagesNameTheProblem) {
    EXPECT_EQ(error_of("not json").code, "invalid_json");
    EXPECT_EQ(error_of("[1,2]").code, "invalid_event");
    EXPECT_EQ(error_of(R"({"streamSid":"MZ1"})").param, "event");
    EXPECT_EQ(error_of(R"({"streamSid":"MZ1"})").code, "missing_required_parameter");
    auto unknown = error_of(R"({"event":"hangup"})");
    EXPECT_EQ(unknown.code, "unknown_event_type");
    EXPECT_NE(unknown.message.find("hangup"), std::string::npos);
    EXPECT_EQ(error_of(R"({"event":"media","media":{"track":"inbound"}})").param, "media.payload");
    EXPECT_EQ(error_of(R"({"event":"media","media":{"payload":5}})").code, "invalid_type");
    auto chunk = error_of(R"({"event":"media","media":{"chunk":"two","payload":"AA=="}})");
    EXPECT_EQ(chunk.code, "invalid_value");
    EXPECT_EQ(chunk.param, "media.chunk");
    EXPECT_EQ(error_of(R"({"event":"media","sequenceNumber":"-1","media":{"payload":"AA=="}})").param,
              "sequenceNumber");
    EXPECT_EQ(error_of(R"({"event":"media"})").param, "media");
    EXPECT_EQ(error_of(R"({"event":"start","start":{"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000}}})")
                  .param,
              "start.streamSid");
    EXPECT_EQ(error_of(R"({"event":"start","start":{"streamSid":"MZ1"}})").param, "start.mediaFormat");
    EXPECT_EQ(error_of(R"({"event":"start","start":{"streamSid":"MZ1","customParameters":{"n":1},
                          "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000}}})")
                  .message,
              "'start.customParameters.n' must be a string");
    EXPECT_EQ(error_of(R"({"event":"dtmf","dtmf":{"digit":""}})").param, "dtmf.digit");
    EXPECT_EQ(error_of(R"({"event":"mark","mark":{}})").param, "mark.name");
    EXPECT_EQ(error_of(std::string(20, '[') + std::string(20, ']')).code, "invalid_json");
}

TEST(TwilioEncode, MediaMarkAndClearAsTwilioExpectsThem) {
    EXPECT_EQ(encode_media("MZ1", "/////w=="), R"({"event":"media","streamSid":"MZ1","media":{"payload":"/////w=="}})");
    EXPECT_EQ(encode_mark("MZ1", "item_1:120"), R"({"event":"mark","streamSid":"MZ1","mark":{"name":"item_1:120"}})");
    EXPECT_EQ(encode_clear("MZ1"), R"({"event":"clear","streamSid":"MZ1"})");
    // Whatever a name holds, the frame stays JSON.
    auto odd = json::parse(encode_mark("MZ\"1", "a\"b\\c"));
    EXPECT_EQ(odd["streamSid"], "MZ\"1");
    EXPECT_EQ(odd["mark"]["name"], "a\"b\\c");
}

}  // namespace
}  // namespace voxgate::protocol::twilio
