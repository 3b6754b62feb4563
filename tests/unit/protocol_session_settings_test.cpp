// session.update decoding and merging (docs/wire-protocols.md 1.4) and the GA session object.
#include "protocol/session_settings.hpp"

#include <gtest/gtest.h>

#include "protocol/client_events.hpp"

namespace voxgate::protocol {
namespace {

SessionPatch patch_of(std::string_view session_json_text) {
    std::optional<ProtocolError> error;
    auto patch = decode_session_patch(Json::parse(session_json_text), error);
    if (!patch) {
        ADD_FAILURE() << error->code << ": " << error->message;
        return {};
    }
    return *patch;
}

ProtocolError error_of(std::string_view session_json_text) {
    std::optional<ProtocolError> error;
    auto patch = decode_session_patch(Json::parse(session_json_text), error);
    EXPECT_FALSE(patch);
    return error.value_or(ProtocolError{});
}

TEST(ProtocolSessionSettings, DefaultsComeFromConfig) {
    SessionsConfig config;
    config.instructions = "hello";
    config.max_output_tokens = 50;
    auto settings = SessionSettings::from_config(config);
    auto json = session_json("sess_x", "m", settings);
    EXPECT_EQ(to_text(json),
              R"({"id":"sess_x","object":"realtime.session","type":"realtime","model":"m","instructions":"hello",)"
              R"("output_modalities":["text"],"tools":[],"tool_choice":"auto","max_output_tokens":50})");
}

TEST(ProtocolSessionSettings, PatchChangesOnlyNamedFields) {
    SessionSettings settings;
    settings.instructions = "keep";
    settings.temperature = 0.3;
    apply_patch(settings, patch_of(R"({"type":"realtime","tool_choice":"none"})"));
    EXPECT_EQ(settings.instructions, "keep");
    EXPECT_EQ(settings.temperature, 0.3);
    EXPECT_EQ(settings.tool_choice, "none");
    apply_patch(settings, patch_of(R"({"temperature":null,"instructions":""})"));
    EXPECT_FALSE(settings.temperature);
    EXPECT_EQ(settings.instructions, "");
}

TEST(ProtocolSessionSettings, ToolsAreNormalized) {
    auto patch = patch_of(R"({"tools":[{"type":"function","name":"f","description":"d",
        "parameters":{"type":"object"},"strict":true}]})");
    ASSERT_TRUE(patch.tools);
    EXPECT_EQ(*patch.tools, Json::parse(R"([{"type":"function","name":"f","description":"d","parameters":{"type":"object"}}])"));
    EXPECT_EQ(error_of(R"({"tools":[{"type":"function"}]})").param, "session.tools[0].name");
    EXPECT_EQ(error_of(R"({"tools":[{"type":"function","name":"f","parameters":3}]})").param,
              "session.tools[0].parameters");
    EXPECT_EQ(error_of(R"({"tools":{}})").code, "invalid_type");
}

TEST(ProtocolSessionSettings, ToolChoiceForms) {
    EXPECT_EQ(*patch_of(R"({"tool_choice":{"type":"function","name":"f"}})").tool_choice,
              (Json{{"type", "function"}, {"name", "f"}}));
    EXPECT_EQ(error_of(R"({"tool_choice":"sometimes"})").code, "invalid_value");
    EXPECT_EQ(error_of(R"({"tool_choice":{"type":"function"}})").param, "session.tool_choice.name");
    EXPECT_EQ(error_of(R"({"tool_choice":{"type":"mcp","server_label":"s"}})").code, "unsupported_tool_type");
}

TEST(ProtocolSessionSettings, TokenLimitAndTemperatureRanges) {
    EXPECT_EQ(patch_of(R"({"max_output_tokens":4096})").max_output_tokens->tokens, 4096);
    EXPECT_FALSE(patch_of(R"({"max_output_tokens":"inf"})").max_output_tokens->tokens);
    EXPECT_EQ(patch_of(R"({"max_response_output_tokens":7})").max_output_tokens->tokens, 7);
    EXPECT_EQ(error_of(R"({"max_output_tokens":"lots"})").code, "invalid_value");
    EXPECT_EQ(error_of(R"({"max_output_tokens":1.5})").code, "invalid_value");
    EXPECT_EQ(error_of(R"({"max_output_tokens":true})").code, "invalid_type");
    EXPECT_EQ(error_of(R"({"temperature":3})").code, "invalid_value");
    EXPECT_EQ(error_of(R"({"temperature":"hot"})").code, "invalid_type");
}

TEST(ProtocolSessionSettings, ModalitiesAndSessionType) {
    EXPECT_EQ(patch_of(R"({"output_modalities":["text"],"modalities":["text"]})").output, OutputModality::text);
    EXPECT_EQ(patch_of(R"({"output_modalities":["audio"]})").output, OutputModality::audio);
    // The beta's pair asks for speech with its transcript.
    EXPECT_EQ(patch_of(R"({"modalities":["text","audio"]})").output, OutputModality::audio);
    EXPECT_FALSE(patch_of(R"({"instructions":"x"})").output.has_value());
    SessionSettings settings;
    apply_patch(settings, patch_of(R"({"output_modalities":["audio"]})"));
    EXPECT_EQ(settings.output, OutputModality::audio);
    EXPECT_EQ(session_json("s", "m", settings)["output_modalities"], OrderedJson::array({"audio"}));
    EXPECT_EQ(error_of(R"({"modalities":["text","video"]})").param, "session.modalities");
    EXPECT_EQ(error_of(R"({"output_modalities":[]})").code, "invalid_value");
    EXPECT_EQ(error_of(R"({"output_modalities":["video"]})").code, "invalid_value");
    EXPECT_EQ(error_of(R"({"type":"transcription"})").code, "unsupported_session_type");
    EXPECT_EQ(error_of(R"({"type":"other"})").code, "invalid_value");
    EXPECT_EQ(error_of(R"({"model":""})").param, "session.model");
}

TEST(ProtocolSessionSettings, AudioIsMergedAndEchoed) {
    SessionSettings settings;
    apply_patch(settings, patch_of(R"({"audio":{"output":{"voice":"marin","format":{"type":"audio/pcm","rate":24000}},
        "input":{"turn_detection":{"type":"server_vad"},"unknown_key":1}}})"));
    apply_patch(settings, patch_of(R"({"output_audio_format":"g711_alaw","turn_detection":null})"));
    EXPECT_EQ(settings.audio, Json::parse(R"({"input":{"turn_detection":null},
        "output":{"voice":"marin","format":{"type":"audio/pcma"}}})"));
    auto json = session_json("s", "m", settings);
    EXPECT_EQ(json["audio"]["output"]["voice"], "marin");
    EXPECT_EQ(error_of(R"({"audio":{"input":{"format":{"type":"audio/mp3"}}}})").param, "session.audio.input.format");
    EXPECT_EQ(error_of(R"({"input_audio_format":"mp3"})").param, "session.input_audio_format");
    EXPECT_EQ(error_of(R"({"voice":5})").code, "invalid_type");
}

// The protocol fixes each format's rate: the right one (or none) is taken, any other value
// is a clear error naming the field.
TEST(ProtocolSessionSettings, AudioFormatRateMustBeTheFormatsOwn) {
    SessionSettings settings;
    apply_patch(settings, patch_of(R"({"audio":{"input":{"format":{"type":"audio/pcmu","rate":8000}},
        "output":{"format":{"type":"audio/pcm","rate":24000}}}})"));
    EXPECT_EQ(settings.audio["input"]["format"]["rate"], 8000);
    EXPECT_EQ(settings.audio["output"]["format"]["rate"], 24000);

    const auto wrong_pcm = error_of(R"({"audio":{"input":{"format":{"type":"audio/pcm","rate":16000}}}})");
    EXPECT_EQ(wrong_pcm.code, "invalid_value");
    EXPECT_EQ(wrong_pcm.param, "session.audio.input.format.rate");
    EXPECT_NE(wrong_pcm.message.find("must be 24000 for audio/pcm"), std::string::npos) << wrong_pcm.message;
    const auto wrong_alaw = error_of(R"({"audio":{"output":{"format":{"type":"audio/pcma","rate":24000}}}})");
    EXPECT_EQ(wrong_alaw.param, "session.audio.output.format.rate");
    EXPECT_NE(wrong_alaw.message.find("must be 8000 for audio/pcma"), std::string::npos) << wrong_alaw.message;
    EXPECT_EQ(error_of(R"({"audio":{"input":{"format":{"type":"audio/pcm","rate":"24000"}}}})").param,
              "session.audio.input.format.rate");
}

TEST(ProtocolSessionSettings, UnknownFieldsAreIgnored) {
    SessionSettings settings;
    apply_patch(settings, patch_of(R"({"tracing":"auto","truncation":"auto","include":[],"parallel_tool_calls":true})"));
    EXPECT_TRUE(settings.audio.is_null());
}

}  // namespace
}  // namespace voxgate::protocol
