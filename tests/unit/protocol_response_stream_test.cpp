// ResponseStream on its own: the exact GA sequence for text, tool calls, mixed output,
// empty output and every ending; and the listener hooks the session relies on.
#include "protocol/response_stream.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "session/realtime_wire.hpp"

namespace voxgate::protocol {
namespace {

// The stream's events as a Realtime client gets them (RealtimeWire over a recording link),
// and the listener hooks in between.
class Recorder final : public session::ClientLink, public ResponseStreamListener {
public:
    void send_text(std::shared_ptr<const std::string> frame) override {
        events.push_back(Json::parse(*frame));
        frames.push_back(*frame);
    }
    void close(std::uint16_t, std::string_view) override {}
    std::size_t queued_bytes() const override { return 0; }
    void on_output_item_added(const Item& item) override { hooks.push_back("added:" + item.id); }
    void on_output_item_done(const Item& item) override {
        hooks.push_back("done:" + item.id + ":" + std::string(to_string(item.status)));
    }
    void on_text_delta_sent(const Item& item) override { hooks.push_back("text:" + item.content.front().text); }

    std::vector<std::string> types() const {
        std::vector<std::string> out;
        for (const auto& event : events) out.push_back(event["type"]);
        return out;
    }

    std::vector<Json> events;
    std::vector<std::string> frames;
    std::vector<std::string> hooks;
    session::RealtimeWire wire{*this};
};

ResponseInfo info() { return {"resp_t", "conv_t", TokenLimit{}, nullptr}; }

TEST(ProtocolResponseStream, TextResponse) {
    Recorder out;
    ResponseStream stream(info(), out.wire, out);
    stream.begin();
    stream.text_delta("");  // providers send empty role chunks: no event
    stream.text_delta("Hi");
    stream.text_delta(" there");
    stream.set_usage({3, 2, 5});
    stream.end({});
    EXPECT_EQ(out.types(), (std::vector<std::string>{
                               "response.created", "response.output_item.added", "response.content_part.added",
                               "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
                               "response.content_part.done", "response.output_item.done", "response.done"}));
    const std::string item_id = out.events[1]["item"]["id"];
    EXPECT_EQ(out.hooks, (std::vector<std::string>{"added:" + item_id, "text:Hi", "text:Hi there",
                                                   "done:" + item_id + ":completed"}));
    // Field order as docs/wire-protocols.md 1.7 lists the response object.
    EXPECT_NE(out.frames[0].find(
                  R"("response":{"id":"resp_t","object":"realtime.response","conversation_id":"conv_t","status":"in_progress",)"
              R"("status_details":null,"output":[],"output_modalities":["text"],"max_output_tokens":"inf",)"
              R"("metadata":null,"usage":null}})"),
              std::string::npos);
    const Json& done = out.events.back()["response"];
    EXPECT_EQ(done["status"], "completed");
    EXPECT_EQ(done["output"][0]["content"][0]["text"], "Hi there");
    EXPECT_EQ(done["usage"]["total_tokens"], 5);
    EXPECT_TRUE(stream.ended());
    stream.text_delta("late");  // ignored after the end
    EXPECT_EQ(out.events.size(), 9u);
}

// The session hands out output item ids (it skips ids its client already used): the
// stream must take every item id from the listener, text and tool call items alike.
TEST(ProtocolResponseStream, OutputItemIdsComeFromTheListener) {
    class IdsFromListener final : public ResponseStreamListener {
    public:
        void on_output_item_added(const Item& item) override { ids.push_back(item.id); }
        void on_output_item_done(const Item&) override {}
        void on_text_delta_sent(const Item&) override {}
        std::string new_item_id() override { return "item_from_listener_" + std::to_string(ids.size()); }
        std::vector<std::string> ids;
    } out;
    Recorder events;
    ResponseStream stream(info(), events.wire, out);
    stream.begin();
    stream.text_delta("Hi");
    stream.tool_call_delta(0, "call_1", "lookup", "{}");
    stream.end({});
    EXPECT_EQ(out.ids, (std::vector<std::string>{"item_from_listener_0", "item_from_listener_1"}));
}

TEST(ProtocolResponseStream, EmptyResponseHasNoOutput) {
    Recorder out;
    ResponseStream stream(info(), out.wire, out);
    stream.begin();
    stream.end({});
    EXPECT_EQ(out.types(), (std::vector<std::string>{"response.created", "response.done"}));
    EXPECT_EQ(out.events[1]["response"]["output"], Json::array());
    EXPECT_EQ(out.events[1]["response"]["usage"], (Json{{"total_tokens", 0}, {"input_tokens", 0}, {"output_tokens", 0}}));
}

TEST(ProtocolResponseStream, ParallelToolCallsInterleaved) {
    Recorder out;
    ResponseStream stream(info(), out.wire, out);
    stream.begin();
    stream.tool_call_delta(0, "c0", "a", "{\"x\"");
    stream.tool_call_delta(1, "c1", "b", "{");
    stream.tool_call_delta(0, "", "", ":1}");
    stream.tool_call_delta(1, "", "", "}");
    stream.end({});
    EXPECT_EQ(out.types(), (std::vector<std::string>{
                               "response.created", "response.output_item.added",
                               "response.function_call_arguments.delta", "response.output_item.added",
                               "response.function_call_arguments.delta", "response.function_call_arguments.delta",
                               "response.function_call_arguments.delta", "response.function_call_arguments.done",
                               "response.output_item.done", "response.function_call_arguments.done",
                               "response.output_item.done", "response.done"}));
    EXPECT_EQ(out.events[5]["call_id"], "c0");
    EXPECT_EQ(out.events[7]["arguments"], "{\"x\":1}");
    EXPECT_EQ(out.events[7]["output_index"], 0);
    EXPECT_EQ(out.events[9]["arguments"], "{}");
    EXPECT_EQ(out.events[9]["output_index"], 1);
}

TEST(ProtocolResponseStream, EndingsAndStatusDetails) {
    struct Case {
        ResponseEnd end;
        Json details;
        std::string item_status;
    };
    const Case cases[] = {
        {{ResponseStatus::cancelled, "turn_detected", "", ""}, {{"type", "cancelled"}, {"reason", "turn_detected"}},
         "incomplete"},
        {{ResponseStatus::incomplete, "content_filter", "", ""}, {{"type", "incomplete"}, {"reason", "content_filter"}},
         "incomplete"},
        {{ResponseStatus::failed, "", "rate_limit_error", "rate_limited"},
         {{"type", "failed"}, {"error", {{"type", "rate_limit_error"}, {"code", "rate_limited"}}}}, "incomplete"},
        {{ResponseStatus::cancelled, "", "", ""}, {{"type", "cancelled"}}, "incomplete"},
    };
    for (const auto& c : cases) {
        Recorder out;
        ResponseStream stream(info(), out.wire, out);
        stream.begin();
        stream.text_delta("x");
        stream.end(c.end);
        const Json& done = out.events.back()["response"];
        EXPECT_EQ(done["status_details"], c.details);
        EXPECT_EQ(done["output"][0]["status"], c.item_status);
    }
}

TEST(ProtocolResponseStream, OutOfBandHasNullConversationAndEchoesMetadata) {
    Recorder out;
    ResponseStream stream({"resp_o", "", TokenLimit{64}, Json{{"k", "v"}}}, out.wire, out);
    stream.begin();
    const Json& created = out.events[0]["response"];
    EXPECT_TRUE(created["conversation_id"].is_null());
    EXPECT_EQ(created["max_output_tokens"], 64);
    EXPECT_EQ(created["metadata"], (Json{{"k", "v"}}));
}

}  // namespace
}  // namespace voxgate::protocol
