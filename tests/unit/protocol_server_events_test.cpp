// Server event encoding: exact field order of docs/wire-protocols.md 1.7/1.8, JSON escaping of
// what a model sends (quotes, control characters, invalid UTF-8), and the DOM-free delta
// frames matching what a JSON DOM would write.
#include "protocol/server_events.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>
#include <string>

#include "protocol/ids.hpp"

namespace voxgate::protocol {
namespace {

// Replaces the generated event_id so whole frames can be compared.
std::string with_fixed_id(std::string frame) {
    auto at = frame.find("\"event_id\":\"event_");
    if (at == std::string::npos) return frame;
    auto start = at + 12;
    auto end = frame.find('"', start);
    return frame.replace(start, end - start, "E");
}

std::string escaped(std::string_view text) {
    std::string out;
    append_json_escaped(out, text);
    return out;
}

TEST(ProtocolServerEvents, ErrorEventMatchesTheDocumentedShape) {
    ProtocolError error = invalid_request(codes::item_not_found, "item 'x' does not exist", "item_id");
    error.event_id = "evt_9";
    EXPECT_EQ(with_fixed_id(error_event(error)),
              R"({"type":"error","event_id":"E","error":{"type":"invalid_request_error","code":"item_not_found",)"
              R"("message":"item 'x' does not exist","param":"item_id","event_id":"evt_9"}})");
    ProtocolError bare;
    bare.type = "server_error";
    bare.message = "m";
    EXPECT_EQ(with_fixed_id(error_event(bare)),
              R"({"type":"error","event_id":"E","error":{"type":"server_error","code":null,"message":"m",)"
              R"("param":null,"event_id":null}})");
}

TEST(ProtocolServerEvents, ItemEvents) {
    Item item;
    item.id = "item_1";
    item.content.push_back({ContentType::input_text, "hi"});
    EXPECT_EQ(with_fixed_id(conversation_item_added(item, std::nullopt)),
              R"({"type":"conversation.item.added","event_id":"E","item":{"id":"item_1","object":"realtime.item",)"
              R"("type":"message","status":"completed","role":"user","content":[{"type":"input_text","text":"hi"}]},)"
              R"("previous_item_id":null})");
    EXPECT_TRUE(conversation_item_done(item, "item_0").starts_with(R"({"type":"conversation.item.done","event_id")"));
    EXPECT_NE(conversation_item_done(item, "item_0").find(R"("previous_item_id":"item_0")"), std::string::npos);
    EXPECT_EQ(with_fixed_id(conversation_item_deleted("item_1")),
              R"({"type":"conversation.item.deleted","event_id":"E","item_id":"item_1"})");
    EXPECT_EQ(with_fixed_id(conversation_item_truncated("item_1", 0, 640)),
              R"({"type":"conversation.item.truncated","event_id":"E","item_id":"item_1","content_index":0,"audio_end_ms":640})");

    Item call;
    call.id = "item_2";
    call.type = ItemType::function_call;
    call.status = ItemStatus::in_progress;
    call.call_id = "c";
    call.name = "f";
    EXPECT_EQ(with_fixed_id(conversation_item_retrieved(call)),
              R"({"type":"conversation.item.retrieved","event_id":"E","item":{"id":"item_2","object":"realtime.item",)"
              R"("type":"function_call","status":"in_progress","call_id":"c","name":"f","arguments":""}})");
}

TEST(ProtocolServerEvents, ResponseItemEventsCarryTheirIds) {
    OutputRef ref{"resp_1", "item_1", 2};
    EXPECT_EQ(with_fixed_id(content_part_added(ref, 0, "")),
              R"({"type":"response.content_part.added","event_id":"E","response_id":"resp_1","item_id":"item_1",)"
              R"("output_index":2,"content_index":0,"part":{"type":"text","text":""}})");
    EXPECT_EQ(with_fixed_id(output_text_done(ref, 0, "all")),
              R"({"type":"response.output_text.done","event_id":"E","response_id":"resp_1","item_id":"item_1",)"
              R"("output_index":2,"content_index":0,"text":"all"})");
    EXPECT_EQ(with_fixed_id(function_call_arguments_done(ref, "c", "f", "{}")),
              R"({"type":"response.function_call_arguments.done","event_id":"E","response_id":"resp_1",)"
              R"("item_id":"item_1","output_index":2,"call_id":"c","name":"f","arguments":"{}"})");
}

TEST(ProtocolServerEvents, TextDeltaFrameEqualsTheDomEncoding) {
    OutputRef ref{"resp_1", "item_\"odd\"", 0};
    auto encoder = DeltaEncoder::output_text(ref, 0);
    for (std::string delta : {"Hello", " \"quoted\" \\ back", "line\nbreak\ttab\x01", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",
                              "</script>"}) {
        SCOPED_TRACE(delta);
        std::string frame = encoder.encode(delta);
        OrderedJson dom;
        dom["type"] = "response.output_text.delta";
        dom["event_id"] = "E";
        dom["response_id"] = ref.response_id;
        dom["item_id"] = ref.item_id;
        dom["output_index"] = 0;
        dom["content_index"] = 0;
        dom["delta"] = delta;
        EXPECT_EQ(with_fixed_id(frame), to_text(dom));
        EXPECT_EQ(Json::parse(frame)["delta"], delta);
    }
    auto args = DeltaEncoder::function_call_arguments(ref, "call_1");
    EXPECT_EQ(with_fixed_id(args.encode("{\"a\":")),
              R"({"type":"response.function_call_arguments.delta","event_id":"E","response_id":"resp_1",)"
              R"("item_id":"item_\"odd\"","output_index":0,"call_id":"call_1","delta":"{\"a\":"})");
}

TEST(ProtocolServerEvents, EscapingReplacesInvalidUtf8) {
    EXPECT_EQ(escaped("a\"b\\c"), R"(a\"b\\c)");
    EXPECT_EQ(escaped(std::string("\x00\x1f\b\f\r", 5)), R"(\u0000\u001f\b\f\r)");
    EXPECT_EQ(escaped("\xC3\xA9"), "\xC3\xA9");
    const std::string fffd = "\xEF\xBF\xBD";
    EXPECT_EQ(escaped("a\xFF" "b"), "a" + fffd + "b");
    EXPECT_EQ(escaped("\xC3"), fffd);                        // truncated sequence
    EXPECT_EQ(escaped("\xC0\xAF"), fffd + fffd);             // overlong
    EXPECT_EQ(escaped("\xED\xA0\x80"), fffd + fffd + fffd);  // UTF-16 surrogate
    EXPECT_EQ(escaped("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // past U+10FFFF
    // Whatever the bytes, the frame is valid JSON.
    auto frame = DeltaEncoder::output_text({"r", "i", 0}, 0).encode("\xFF\xFE ok \xE2\x82");
    EXPECT_EQ(Json::parse(frame)["delta"], fffd + fffd + " ok " + fffd + fffd);
    // The DOM path does not throw either.
    OrderedJson bad = {{"t", std::string("\xFF")}};
    EXPECT_EQ(to_text(bad), R"({"t":")" + fffd + R"("})");
    Json bad_unordered = {{"t", std::string("\xC3")}};
    EXPECT_EQ(to_text(bad_unordered), R"({"t":")" + fffd + R"("})");
}

TEST(ProtocolServerEvents, Utf8Helpers) {
    const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
    EXPECT_EQ(utf8_length(text), 5u);
    EXPECT_EQ(utf8_prefix_bytes(text, 0), 0u);
    EXPECT_EQ(utf8_prefix_bytes(text, 2), 3u);
    EXPECT_EQ(utf8_prefix_bytes(text, 4), 10u);
    EXPECT_EQ(utf8_prefix_bytes(text, 9), text.size());
}

TEST(ProtocolServerEvents, IdsAreUniqueAndPrefixed) {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        EXPECT_TRUE(seen.insert(new_event_id()).second);
        EXPECT_TRUE(seen.insert(new_item_id()).second);
    }
    EXPECT_TRUE(new_response_id().starts_with("resp_"));
    EXPECT_TRUE(new_call_id().starts_with("call_"));
    EXPECT_EQ(new_item_id().size(), 5u + 20u);
}

TEST(ProtocolServerEvents, IdsAreRandomInEveryDigit) {
    // Counter-based ids keep their leading digits for millions of draws; random ones take
    // many values in every position (each of the 16 digits, 256 draws: all but certain).
    std::vector<std::set<char>> digits(20);
    for (int i = 0; i < 256; ++i) {
        const std::string id = new_item_id();
        for (std::size_t d = 0; d < 20; ++d) digits[d].insert(id[5 + d]);
    }
    for (std::size_t d = 0; d < 20; ++d) EXPECT_GE(digits[d].size(), 8u) << "digit " << d;
}

}  // namespace
}  // namespace voxgate::protocol
