// decode_client_event: each client event of docs/wire-protocols.md 1.6 into its struct, and every
// malformed input into an error with a stable code, the field's path and the event_id.
#include "protocol/client_events.hpp"

#include <gtest/gtest.h>

#include <string>

namespace voxgate::protocol {
namespace {

template <class T>
T body(const DecodeResult& result) {
    const auto* event = std::get_if<ClientEvent>(&result);
    if (!event) {
        ADD_FAILURE() << "decode failed: " << std::get<ProtocolError>(result).message;
        return {};
    }
    const T* typed = std::get_if<T>(&event->body);
    if (!typed) {
        ADD_FAILURE() << "decoded to another event type";
        return {};
    }
    return *typed;
}

ProtocolError error_of(std::string_view text) {
    auto result = decode_client_event(text);
    if (auto* error = std::get_if<ProtocolError>(&result)) return *error;
    ADD_FAILURE() << "expected an error for " << text;
    return {};
}

TEST(ProtocolClientEvents, EventIdIsKept) {
    auto result = decode_client_event(R"({"type":"response.cancel","event_id":"evt_1"})");
    ASSERT_TRUE(std::holds_alternative<ClientEvent>(result));
    EXPECT_EQ(std::get<ClientEvent>(result).event_id, "evt_1");
    EXPECT_EQ(body<ResponseCancel>(result).response_id, "");
}

TEST(ProtocolClientEvents, ItemCreateWithMessage) {
    auto result = decode_client_event(R"({"type":"conversation.item.create","previous_item_id":"root",
        "item":{"id":"mine","type":"message","role":"user","status":"in_progress",
                "content":[{"type":"input_text","text":"a"},{"type":"text","text":"b"}]}})");
    const auto& create = body<ItemCreate>(result);
    EXPECT_EQ(create.previous_item_id, "root");
    EXPECT_EQ(create.item.id, "mine");
    EXPECT_EQ(create.item.role, Role::user);
    EXPECT_EQ(create.item.status, ItemStatus::completed);  // the client does not set status
    ASSERT_EQ(create.item.content.size(), 2u);
    EXPECT_EQ(create.item.content[0].type, ContentType::input_text);
    EXPECT_EQ(create.item.content[1].type, ContentType::text);
    EXPECT_EQ(create.item.text(), "a\nb");
}

TEST(ProtocolClientEvents, ItemCreateWithFunctionItems) {
    const auto& call = body<ItemCreate>(decode_client_event(
        R"({"type":"conversation.item.create","item":{"type":"function_call","call_id":"c","name":"f","arguments":"{}"}})"));
    EXPECT_EQ(call.item.type, ItemType::function_call);
    EXPECT_EQ(call.item.call_id, "c");
    EXPECT_EQ(call.item.name, "f");
    EXPECT_EQ(call.item.arguments, "{}");
    EXPECT_FALSE(call.previous_item_id);
    const auto& output = body<ItemCreate>(decode_client_event(
        R"({"type":"conversation.item.create","item":{"type":"function_call_output","call_id":"c","output":"ok"}})"));
    EXPECT_EQ(output.item.type, ItemType::function_call_output);
    EXPECT_EQ(output.item.output, "ok");
}

TEST(ProtocolClientEvents, AssistantContentMustBeOutputText) {
    auto error = error_of(R"({"type":"conversation.item.create","item":{"type":"message","role":"assistant",
        "content":[{"type":"input_text","text":"x"}]}})");
    EXPECT_EQ(error.code, "invalid_value");
    EXPECT_EQ(error.param, "item.content[0].type");
}

TEST(ProtocolClientEvents, ItemIdIsLimited) {
    auto error = error_of(R"({"type":"conversation.item.create","item":{"id":")" + std::string(65, 'x') +
                          R"(","type":"function_call_output","call_id":"c","output":"o"}})");
    EXPECT_EQ(error.code, "invalid_value");
    EXPECT_EQ(error.param, "item.id");
}

TEST(ProtocolClientEvents, McpItemsAreUnsupported) {
    EXPECT_EQ(error_of(R"({"type":"conversation.item.create","item":{"type":"mcp_call"}})").code,
              "unsupported_item_type");
    EXPECT_EQ(error_of(R"({"type":"conversation.item.create","item":{"type":"bogus"}})").code, "invalid_value");
}

TEST(ProtocolClientEvents, DeleteRetrieveTruncate) {
    EXPECT_EQ(body<ItemDelete>(decode_client_event(R"({"type":"conversation.item.delete","item_id":"i"})")).item_id, "i");
    EXPECT_EQ(body<ItemRetrieve>(decode_client_event(R"({"type":"conversation.item.retrieve","item_id":"i"})")).item_id,
              "i");
    const auto& truncate = body<ItemTruncate>(decode_client_event(
        R"({"type":"conversation.item.truncate","item_id":"i","content_index":0,"audio_end_ms":1200})"));
    EXPECT_EQ(truncate.audio_end_ms, 1200);
    EXPECT_FALSE(truncate.text_end);
    // With text_end, audio_end_ms may be left out.
    const auto& by_text = body<ItemTruncate>(
        decode_client_event(R"({"type":"conversation.item.truncate","item_id":"i","content_index":0,"text_end":3})"));
    EXPECT_EQ(by_text.text_end, 3);
    EXPECT_EQ(error_of(R"({"type":"conversation.item.truncate","item_id":"i","content_index":0})").param,
              "audio_end_ms");
    EXPECT_EQ(error_of(R"({"type":"conversation.item.truncate","item_id":"i","content_index":-1,"audio_end_ms":0})").code,
              "invalid_value");
}

TEST(ProtocolClientEvents, ResponseCreateParameters) {
    const auto& create = body<ResponseCreate>(decode_client_event(R"({"type":"response.create","response":{
        "instructions":"i","temperature":0.7,"max_output_tokens":"inf","conversation":"none",
        "output_modalities":["text"],"metadata":{"k":"v"},"tool_choice":"none",
        "input":[{"type":"item_reference","id":"item_1"},
                 {"type":"message","role":"user","content":[{"type":"input_text","text":"q"}]}]}})"));
    const auto& params = create.response;
    EXPECT_EQ(params.instructions, "i");
    ASSERT_TRUE(params.temperature);
    EXPECT_EQ(*params.temperature, 0.7);
    ASSERT_TRUE(params.max_output_tokens);
    EXPECT_FALSE(params.max_output_tokens->tokens);
    EXPECT_TRUE(params.out_of_band);
    EXPECT_EQ(params.metadata, (Json{{"k", "v"}}));
    EXPECT_EQ(params.tool_choice, Json("none"));
    ASSERT_TRUE(params.input);
    ASSERT_EQ(params.input->size(), 2u);
    EXPECT_EQ(std::get<ItemReference>((*params.input)[0]).id, "item_1");
    EXPECT_EQ(std::get<Item>((*params.input)[1]).text(), "q");

    const auto& bare = body<ResponseCreate>(decode_client_event(R"({"type":"response.create"})"));
    EXPECT_FALSE(bare.response.input);
    EXPECT_FALSE(bare.response.out_of_band);
    // Beta name for the token limit.
    const auto& beta = body<ResponseCreate>(
        decode_client_event(R"({"type":"response.create","response":{"max_response_output_tokens":9}})"));
    EXPECT_EQ(beta.response.max_output_tokens->tokens, 9);
}

TEST(ProtocolClientEvents, ResponseCreateInputErrorsNameTheEntry) {
    auto error = error_of(R"({"type":"response.create","event_id":"e","response":{"input":[
        {"type":"message","role":"user","content":[]},{"type":"message","role":"user"}]}})");
    EXPECT_EQ(error.code, "missing_required_parameter");
    EXPECT_EQ(error.param, "response.input[1].content");
    EXPECT_EQ(error.event_id, "e");
    EXPECT_EQ(error_of(R"({"type":"response.create","response":{"metadata":{"k":1}}})").param, "response.metadata");
}

TEST(ProtocolClientEvents, MalformedInput) {
    struct Case {
        std::string text, code, param, event_id;
    };
    const Case cases[] = {
        {"", "invalid_json", "", ""},
        {"{\"type\":", "invalid_json", "", ""},
        {"\"session.update\"", "invalid_event", "", ""},
        {"null", "invalid_event", "", ""},
        {R"({"type":null,"event_id":"x"})", "missing_required_parameter", "type", "x"},
        {R"({"type":"","event_id":"x"})", "unknown_event_type", "type", "x"},
        {R"({"type":"response.text.delta"})", "unknown_event_type", "type", ""},
        {R"({"type":"transcription_session.update"})", "unsupported_event", "type", ""},
        {R"({"type":"session.update"})", "missing_required_parameter", "session", ""},
        {R"({"type":"session.update","session":[]})", "invalid_type", "session", ""},
        {R"({"type":"conversation.item.create","item":"hi"})", "invalid_type", "item", ""},
        {R"({"type":"conversation.item.create","item":{"type":"message","role":"user","content":["hi"]}})",
         "invalid_type", "item.content[0]", ""},
        {R"({"type":"conversation.item.create","item":{"type":"function_call","call_id":"c","name":"f"}})",
         "missing_required_parameter", "item.arguments", ""},
        {R"({"type":"conversation.item.create","previous_item_id":5,"item":{}})", "invalid_type", "previous_item_id", ""},
        {R"({"type":"response.cancel","response_id":1})", "invalid_type", "response_id", ""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.text);
        auto error = error_of(c.text);
        EXPECT_EQ(error.type, "invalid_request_error");
        EXPECT_EQ(error.code, c.code);
        EXPECT_EQ(error.param, c.param);
        EXPECT_EQ(error.event_id, c.event_id);
        EXPECT_FALSE(error.message.empty());
    }
}

TEST(ProtocolClientEvents, MessagesNameTheField) {
    auto error = error_of(R"({"type":"conversation.item.create","item":{"type":"message","role":"user",
        "content":[{"type":"input_text","text":false}]}})");
    EXPECT_NE(error.message.find("item.content[0].text"), std::string::npos);
    EXPECT_NE(error.message.find("string"), std::string::npos);
}

TEST(ProtocolClientEvents, DeepNestingIsRefusedBeforeParsing) {
    std::string deep = R"({"type":"session.update","session":{"tools":)";
    deep += std::string(100, '[') + std::string(100, ']') + "}}";
    EXPECT_EQ(error_of(deep).code, "invalid_json");
    // Brackets inside strings do not count.
    std::string text = R"({"type":"response.cancel","event_id":")" + std::string(200, '[') + R"("})";
    EXPECT_TRUE(std::holds_alternative<ClientEvent>(decode_client_event(text)));
}

TEST(ProtocolClientEvents, HugeUnknownTypeIsShortenedInTheMessage) {
    auto error = error_of(R"({"type":")" + std::string(5000, 'z') + R"("})");
    EXPECT_EQ(error.code, "unknown_event_type");
    EXPECT_LT(error.message.size(), 200u);
}

TEST(ProtocolClientEvents, OverlongEventIdIsRefused) {
    auto error = error_of(R"({"type":"response.cancel","event_id":")" + std::string(600, 'e') + R"("})");
    EXPECT_EQ(error.code, "invalid_value");
    EXPECT_EQ(error.param, "event_id");
    EXPECT_EQ(error.event_id, "");
}

// The rate limiter's refusal names the event without parsing it (peek_event_id).
TEST(ProtocolClientEvents, PeekEventIdFindsOnlyATopLevelPlainIdNearTheStart) {
    EXPECT_EQ(peek_event_id(R"({"event_id":"e1","type":"response.create"})"), "e1");
    EXPECT_EQ(peek_event_id(R"( { "type" : "x" , "event_id" : "e2" })"), "e2");
    // Not top level, not a key, or an escaped value: no id rather than a wrong one.
    EXPECT_EQ(peek_event_id(R"({"item":{"event_id":"inner"},"type":"x"})"), "");
    EXPECT_EQ(peek_event_id(R"({"type":"event_id","x":1})"), "");
    EXPECT_EQ(peek_event_id(R"({"a":["event_id","x"],"b":1})"), "");
    EXPECT_EQ(peek_event_id(R"({"event_id":"a\"b"})"), "");
    EXPECT_EQ(peek_event_id(R"({"event_id":12})"), "");
    EXPECT_EQ(peek_event_id("not json"), "");
    EXPECT_EQ(peek_event_id(""), "");
    // A value that does not end inside the scanned prefix is not echoed.
    const std::string padding(peek_event_id_scan_bytes, 'x');
    EXPECT_EQ(peek_event_id(R"({"pad":")" + padding + R"(","event_id":"late"})"), "");
    EXPECT_EQ(peek_event_id(R"({"event_id":")" + padding + R"("})"), "");
    // What follows the scanned prefix is never looked at: broken JSON after it is fine.
    EXPECT_EQ(peek_event_id(R"({"event_id":"e3","x":")" + std::string(100000, 'y') + "{{{"), "e3");
}

}  // namespace
}  // namespace voxgate::protocol
