// RealtimeSession driven by hand: a fake ClientLink records every frame the session
// sends, a fake ResponseSource records each ChatRequest and lets the test play the
// upstream's part (deltas, tool calls, usage, done). Each test is one conversation:
// given ..., when the client sends ..., then it receives exactly ....
#include "session/realtime_session.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "metrics/shard_metrics.hpp"
#include "session/session_registry.hpp"
#include "support/scripted_tts.hpp"

namespace voxgate::session {
namespace {

using Json = nlohmann::json;
using upstream::Role;

// ---------------------------------------------------------------------------------------
// Fakes

class FakeLink final : public ClientLink {
public:
    void send_text(std::shared_ptr<const std::string> frame) override {
        if (closed) return;  // like the transport: nothing goes out after close
        frames.push_back(*frame);
    }
    void close(std::uint16_t code, std::string_view reason) override {
        if (closed) return;
        closed = true;
        close_code = code;
        close_reason = reason;
    }
    // Frames before `written` have left the queue; with auto_write every frame leaves at once.
    std::size_t queued_bytes() const override {
        if (auto_write) return 0;
        std::size_t queued = 0;
        for (std::size_t i = written; i < frames.size(); ++i) queued += frames[i].size();
        return queued;
    }

    // Frames received since the last call, parsed.
    std::vector<Json> take() {
        std::vector<Json> out;
        for (; seen < frames.size(); ++seen) out.push_back(Json::parse(frames[seen]));
        return out;
    }

    std::vector<std::string> frames;
    std::size_t seen = 0;
    bool auto_write = true;
    std::size_t written = 0;
    bool closed = false;
    std::uint16_t close_code = 0;
    std::string close_reason;
};

struct HandleLog {
    bool cancelled = false;
    bool destroyed = false;
    int pauses = 0;
    int resumes = 0;
};

class FakeHandle final : public upstream::ResponseHandle {
public:
    explicit FakeHandle(std::shared_ptr<HandleLog> log) : log_(std::move(log)) {}
    ~FakeHandle() override { log_->destroyed = true; }
    void cancel() override { log_->cancelled = true; }
    void pause() override { ++log_->pauses; }
    void resume() override { ++log_->resumes; }

private:
    std::shared_ptr<HandleLog> log_;
};

class FakeSource final : public upstream::ResponseSource {
public:
    struct Call {
        std::string model;
        upstream::ChatRequest request;
        upstream::ResponseObserver* observer;
        std::shared_ptr<HandleLog> log;
    };

    std::unique_ptr<upstream::ResponseHandle> start(std::string_view client_model, upstream::ChatRequest request,
                                                    upstream::ResponseObserver& observer) override {
        calls.push_back({std::string(client_model), std::move(request), &observer, std::make_shared<HandleLog>()});
        if (fail_at_once) {
            upstream::ResponseResult result;
            result.outcome = upstream::Outcome::failed;
            result.error_type = "invalid_request_error";
            result.error_code = "no_route";
            result.error_message = "no route for model";
            observer.on_done(result);
        }
        return std::make_unique<FakeHandle>(calls.back().log);
    }

    upstream::ResponseObserver& last() { return *calls.back().observer; }
    void done(upstream::Outcome outcome = upstream::Outcome::completed,
              upstream::FinishReason reason = upstream::FinishReason::stop) {
        upstream::ResponseResult result;
        result.outcome = outcome;
        result.finish_reason = reason;
        last().on_finish(reason);
        last().on_done(result);
    }

    std::vector<Call> calls;
    bool fail_at_once = false;
};

Clock::time_point fake_now = Clock::time_point{} + std::chrono::hours(1000);
Clock::time_point fake_clock() { return fake_now; }

std::vector<std::string> types(const std::vector<Json>& events) {
    std::vector<std::string> out;
    for (const auto& event : events) out.push_back(event["type"].get<std::string>());
    return out;
}

Json user_message(std::string text, std::string event_id = "") {
    Json event = {{"type", "conversation.item.create"},
                  {"item", {{"type", "message"}, {"role", "user"}, {"content", {{{"type", "input_text"}, {"text", text}}}}}}};
    if (!event_id.empty()) event["event_id"] = event_id;
    return event;
}

// ---------------------------------------------------------------------------------------
// Fixture

class RealtimeSessionTest : public ::testing::Test {
protected:
    struct Client {
        FakeLink link;
        std::shared_ptr<RealtimeSession> session;

        void send(const Json& event) { session->on_text(event.dump()); }
        void send_raw(std::string_view text) { session->on_text(text); }
        void close() { session->on_closed(); }
    };

    RealtimeSessionTest() { fake_now = Clock::time_point{} + std::chrono::hours(1000); }

    RealtimeContext& context() {
        if (!context_)
            context_ = std::make_unique<RealtimeContext>(RealtimeContext{
                sessions, limits, registry, source, ioc.get_executor(), &metrics, nullptr, &fake_clock});
        return *context_;
    }

    std::unique_ptr<Client> connect(SessionParams params = {}) {
        auto client = std::make_unique<Client>();
        client->session = std::make_shared<RealtimeSession>(client->link, context(), std::move(params));
        client->session->on_open();
        return client;
    }

    // Connects and swallows session.created.
    std::unique_ptr<Client> open() {
        auto client = connect();
        auto events = client->link.take();
        EXPECT_EQ(types(events), std::vector<std::string>{"session.created"});
        return client;
    }

    // Adds a user message and swallows its conversation.item.added/done; returns its id.
    std::string add_user(Client& client, std::string text) {
        client.send(user_message(std::move(text)));
        auto events = client.link.take();
        EXPECT_EQ(types(events), (std::vector<std::string>{"conversation.item.added", "conversation.item.done"}));
        return events.empty() ? "" : events[0]["item"]["id"].get<std::string>();
    }

    // Runs a whole response with one text reply; returns the id of the assistant item.
    std::string respond(Client& client, std::string text) {
        client.send({{"type", "response.create"}});
        source.last().on_text_delta(text);
        source.done();
        for (const auto& event : client.link.take())
            if (event["type"] == "conversation.item.added") return event["item"]["id"];
        ADD_FAILURE() << "no assistant item";
        return {};
    }

    SessionsConfig sessions;
    LimitsConfig limits;
    SessionRegistry registry{4};
    FakeSource source;
    test::ScriptedTts tts;
    asio::io_context ioc;
    metrics::ShardMetrics metrics{0};
    std::unique_ptr<RealtimeContext> context_;
};

// ---------------------------------------------------------------------------------------
// session.created / session.update

TEST_F(RealtimeSessionTest, SessionCreatedIsTheFirstEventAndDescribesTheSession) {
    sessions.instructions = "Be brief.";
    auto client = connect();
    auto events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    const Json& created = events[0];
    EXPECT_EQ(created["type"], "session.created");
    EXPECT_TRUE(created["event_id"].get<std::string>().starts_with("event_"));
    const Json& session = created["session"];
    EXPECT_TRUE(session["id"].get<std::string>().starts_with("sess_"));
    EXPECT_EQ(session["id"], client->session->session_id());
    EXPECT_EQ(session["object"], "realtime.session");
    EXPECT_EQ(session["type"], "realtime");
    EXPECT_EQ(session["model"], "gpt-4o-mini");
    EXPECT_EQ(session["instructions"], "Be brief.");
    EXPECT_EQ(session["output_modalities"], Json::array({"text"}));
    EXPECT_EQ(session["tools"], Json::array());
    EXPECT_EQ(session["tool_choice"], "auto");
    EXPECT_EQ(session["max_output_tokens"], "inf");
    EXPECT_FALSE(session.contains("temperature"));
    EXPECT_EQ(registry.size(), 1u);
    // The wire text keeps the documented field order.
    EXPECT_TRUE(client->link.frames[0].starts_with(R"({"type":"session.created","event_id":"event_)"));
}

TEST_F(RealtimeSessionTest, ModelComesFromTheQueryAndTokenLimitFromConfig) {
    sessions.max_output_tokens = 256;
    auto client = connect({"my-model", ""});
    auto session = client->link.take().at(0)["session"];
    EXPECT_EQ(session["model"], "my-model");
    EXPECT_EQ(session["max_output_tokens"], 256);
}

TEST_F(RealtimeSessionTest, SessionUpdateChangesSettingsUsedByTheNextResponse) {
    auto client = open();
    Json tools = Json::array({{{"type", "function"},
                               {"name", "get_weather"},
                               {"description", "Weather for a city"},
                               {"parameters", {{"type", "object"}}}}});
    client->send({{"type", "session.update"},
                  {"event_id", "evt_1"},
                  {"session",
                   {{"type", "realtime"},
                    {"model", "other-model"},
                    {"instructions", "Speak like a pirate."},
                    {"output_modalities", {"text"}},
                    {"tools", tools},
                    {"tool_choice", "required"},
                    {"temperature", 0.5},
                    {"max_output_tokens", 100}}}});
    auto events = client->link.take();
    ASSERT_EQ(types(events), std::vector<std::string>{"session.updated"});
    const Json& session = events[0]["session"];
    EXPECT_EQ(session["id"], client->session->session_id());
    EXPECT_EQ(session["model"], "other-model");
    EXPECT_EQ(session["instructions"], "Speak like a pirate.");
    EXPECT_EQ(session["tools"], tools);
    EXPECT_EQ(session["tool_choice"], "required");
    EXPECT_EQ(session["temperature"], 0.5);
    EXPECT_EQ(session["max_output_tokens"], 100);

    add_user(*client, "hi");
    client->send({{"type", "response.create"}});
    ASSERT_EQ(source.calls.size(), 1u);
    const auto& call = source.calls[0];
    EXPECT_EQ(call.model, "other-model");
    EXPECT_EQ(call.request.instructions, "Speak like a pirate.");
    EXPECT_EQ(call.request.tools, tools);
    EXPECT_EQ(call.request.tool_choice, "required");
    EXPECT_EQ(call.request.temperature, 0.5);
    EXPECT_EQ(call.request.max_output_tokens, 100);

    // Fields not named stay; "inf" lifts the limit; "" clears the instructions.
    client->send({{"type", "session.update"}, {"session", {{"max_output_tokens", "inf"}, {"instructions", ""}}}});
    const Json updated = client->link.take().back()["session"];
    EXPECT_EQ(updated["max_output_tokens"], "inf");
    EXPECT_EQ(updated["instructions"], "");
    EXPECT_EQ(updated["tool_choice"], "required");
}

TEST_F(RealtimeSessionTest, AudioOutputIsRefusedAndLeavesTheSessionUnchanged) {
    auto client = open();
    client->send({{"type", "session.update"},
                  {"event_id", "evt_audio"},
                  {"session", {{"type", "realtime"}, {"instructions", "x"}, {"output_modalities", {"audio"}}}}});
    auto events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["type"], "error");
    EXPECT_EQ(events[0]["error"]["type"], "invalid_request_error");
    EXPECT_EQ(events[0]["error"]["code"], "unsupported_modality");
    EXPECT_EQ(events[0]["error"]["param"], "session.output_modalities");
    EXPECT_EQ(events[0]["error"]["event_id"], "evt_audio");
    client->send({{"type", "session.update"}, {"session", Json::object()}});
    EXPECT_EQ(client->link.take().at(0)["session"]["instructions"], "");
    EXPECT_FALSE(client->link.closed);
}

TEST_F(RealtimeSessionTest, AudioSettingsAreAcceptedAndEchoedUnderGaNames) {
    auto client = open();
    client->send({{"type", "session.update"},
                  {"session",
                   {{"voice", "alloy"},
                    {"input_audio_format", "g711_ulaw"},
                    {"audio", {{"input", {{"turn_detection", nullptr}}}, {"output", {{"speed", 1.1}}}}}}}});
    auto events = client->link.take();
    ASSERT_EQ(types(events), std::vector<std::string>{"session.updated"});
    const Json& audio = events[0]["session"]["audio"];
    EXPECT_EQ(audio["output"]["voice"], "alloy");
    EXPECT_EQ(audio["output"]["speed"], 1.1);
    EXPECT_EQ(audio["input"]["format"], (Json{{"type", "audio/pcmu"}}));
    EXPECT_TRUE(audio["input"].contains("turn_detection"));
    EXPECT_TRUE(audio["input"]["turn_detection"].is_null());
}

// ---------------------------------------------------------------------------------------
// conversation items

TEST_F(RealtimeSessionTest, CreatedItemIsAddedThenDoneWithServerId) {
    auto client = open();
    client->send(user_message("Hello", "evt_7"));
    auto events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"conversation.item.added", "conversation.item.done"}));
    for (const auto& event : events) {
        const Json& item = event["item"];
        EXPECT_TRUE(item["id"].get<std::string>().starts_with("item_"));
        EXPECT_EQ(item["object"], "realtime.item");
        EXPECT_EQ(item["type"], "message");
        EXPECT_EQ(item["status"], "completed");
        EXPECT_EQ(item["role"], "user");
        EXPECT_EQ(item["content"], (Json::array({{{"type", "input_text"}, {"text", "Hello"}}})));
        EXPECT_TRUE(event["previous_item_id"].is_null());
    }
    EXPECT_EQ(events[0]["item"]["id"], events[1]["item"]["id"]);
    const std::string first = events[0]["item"]["id"];
    client->send(user_message("again"));
    EXPECT_EQ(client->link.take().at(0)["previous_item_id"], first);
}

TEST_F(RealtimeSessionTest, PreviousItemIdPlacesTheItem) {
    auto client = open();
    const std::string a = add_user(*client, "a");
    const std::string c = add_user(*client, "c");
    // Insert after "a", and prepend at "root".
    Json b = user_message("b");
    b["previous_item_id"] = a;
    b["item"]["id"] = "my_b";
    client->send(b);
    EXPECT_EQ(client->link.take().at(0)["previous_item_id"], a);
    Json zero = user_message("zero");
    zero["previous_item_id"] = "root";
    client->send(zero);
    EXPECT_TRUE(client->link.take().at(0)["previous_item_id"].is_null());

    client->send({{"type", "response.create"}});
    const auto& messages = source.calls.at(0).request.messages;
    ASSERT_EQ(messages.size(), 4u);
    EXPECT_EQ(messages[0].text, "zero");
    EXPECT_EQ(messages[1].text, "a");
    EXPECT_EQ(messages[2].text, "b");
    EXPECT_EQ(messages[3].text, "c");
    (void)c;
}

TEST_F(RealtimeSessionTest, UnknownPreviousItemAndDuplicateIdAreErrors) {
    auto client = open();
    Json orphan = user_message("x", "evt_prev");
    orphan["previous_item_id"] = "item_nope";
    client->send(orphan);
    auto error = client->link.take().at(0);
    EXPECT_EQ(error["error"]["code"], "item_not_found");
    EXPECT_EQ(error["error"]["param"], "previous_item_id");
    EXPECT_EQ(error["error"]["event_id"], "evt_prev");

    Json mine = user_message("x");
    mine["item"]["id"] = "same";
    client->send(mine);
    client->link.take();
    mine["event_id"] = "evt_dup";
    client->send(mine);
    error = client->link.take().at(0);
    EXPECT_EQ(error["error"]["code"], "duplicate_item_id");
    EXPECT_EQ(error["error"]["param"], "item.id");
    EXPECT_EQ(error["error"]["event_id"], "evt_dup");
}

TEST_F(RealtimeSessionTest, ItemsCanBeRetrievedAndDeleted) {
    auto client = open();
    const std::string id = add_user(*client, "keep me");
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", id}});
    auto events = client->link.take();
    ASSERT_EQ(types(events), std::vector<std::string>{"conversation.item.retrieved"});
    EXPECT_EQ(events[0]["item"]["content"][0]["text"], "keep me");

    client->send({{"type", "conversation.item.delete"}, {"item_id", id}});
    events = client->link.take();
    ASSERT_EQ(types(events), std::vector<std::string>{"conversation.item.deleted"});
    EXPECT_EQ(events[0]["item_id"], id);

    client->send({{"type", "conversation.item.retrieve"}, {"item_id", id}, {"event_id", "evt_r"}});
    events = client->link.take();
    EXPECT_EQ(events.at(0)["error"]["code"], "item_not_found");
    EXPECT_EQ(events.at(0)["error"]["param"], "item_id");
    EXPECT_EQ(events.at(0)["error"]["event_id"], "evt_r");
    client->send({{"type", "conversation.item.delete"}, {"item_id", id}});
    EXPECT_EQ(client->link.take().at(0)["error"]["code"], "item_not_found");
}

TEST_F(RealtimeSessionTest, SystemAssistantAndFunctionItemsReachTheProvider) {
    auto client = open();
    client->send({{"type", "conversation.item.create"},
                  {"item", {{"type", "message"}, {"role", "system"}, {"content", {{{"type", "input_text"}, {"text", "sys"}}}}}}});
    client->send({{"type", "conversation.item.create"},
                  {"item",
                   {{"type", "message"}, {"role", "assistant"}, {"content", {{{"type", "output_text"}, {"text", "earlier"}}}}}}});
    client->send({{"type", "conversation.item.create"},
                  {"item", {{"type", "function_call"}, {"call_id", "c1"}, {"name", "f"}, {"arguments", "{}"}}}});
    client->send({{"type", "conversation.item.create"},
                  {"item", {{"type", "function_call_output"}, {"call_id", "c1"}, {"output", "42"}}}});
    auto events = client->link.take();
    ASSERT_EQ(events.size(), 8u);
    EXPECT_EQ(events[2]["item"]["content"][0]["type"], "output_text");
    EXPECT_EQ(events[4]["item"]["call_id"], "c1");
    EXPECT_EQ(events[6]["item"]["output"], "42");
    client->send({{"type", "response.create"}});
    const auto& messages = source.calls.at(0).request.messages;
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(messages[0].role, Role::system);
    EXPECT_EQ(messages[1].role, Role::assistant);
    EXPECT_EQ(messages[1].text, "earlier");
    ASSERT_EQ(messages[1].tool_calls.size(), 1u);  // text and call of one turn: one message
    EXPECT_EQ(messages[1].tool_calls[0].call_id, "c1");
    EXPECT_EQ(messages[2].role, Role::tool);
    EXPECT_EQ(messages[2].tool_call_id, "c1");
    EXPECT_EQ(messages[2].text, "42");
}

// ---------------------------------------------------------------------------------------
// responses

TEST_F(RealtimeSessionTest, TextResponseStreamsEveryEventInOrder) {
    auto client = open();
    const std::string user_id = add_user(*client, "Hello");
    client->send({{"type", "response.create"}, {"event_id", "evt_rc"}});
    ASSERT_EQ(source.calls.size(), 1u);
    EXPECT_EQ(source.calls[0].model, "gpt-4o-mini");
    ASSERT_EQ(source.calls[0].request.messages.size(), 1u);
    EXPECT_EQ(source.calls[0].request.messages[0].role, Role::user);
    EXPECT_EQ(source.calls[0].request.messages[0].text, "Hello");
    EXPECT_TRUE(source.calls[0].request.tool_choice.is_null());  // no tools: no tool_choice

    auto events = client->link.take();
    ASSERT_EQ(types(events), std::vector<std::string>{"response.created"});
    const Json created = events[0]["response"];
    const std::string response_id = created["id"];
    EXPECT_TRUE(response_id.starts_with("resp_"));
    EXPECT_EQ(created["object"], "realtime.response");
    EXPECT_EQ(created["status"], "in_progress");
    EXPECT_TRUE(created["status_details"].is_null());
    EXPECT_EQ(created["output"], Json::array());
    EXPECT_TRUE(created["usage"].is_null());
    // The conversation id is echoed to everyone who sees a response: it must not be, or
    // reveal, the resume id.
    const std::string conversation_id = created["conversation_id"];
    EXPECT_TRUE(conversation_id.starts_with("conv_"));
    EXPECT_EQ(conversation_id.size(), 5u + 32u);
    const std::string session_hex = client->session->session_id().substr(5);
    for (std::size_t i = 0; i + 8 <= session_hex.size(); i += 2)
        EXPECT_EQ(conversation_id.find(session_hex.substr(i, 8)), std::string::npos) << "shares 4 bytes at " << i;

    // Each delta goes out the moment it arrives.
    source.last().on_upstream_first_byte("mock");
    source.last().on_first_content(std::chrono::steady_clock::now());
    source.last().on_text_delta("Hel");
    events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"response.output_item.added", "conversation.item.added",
                                                       "response.content_part.added", "response.output_text.delta"}));
    const Json item = events[0]["item"];
    const std::string item_id = item["id"];
    EXPECT_EQ(events[0]["response_id"], response_id);
    EXPECT_EQ(events[0]["output_index"], 0);
    EXPECT_EQ(item["type"], "message");
    EXPECT_EQ(item["role"], "assistant");
    EXPECT_EQ(item["status"], "in_progress");
    EXPECT_EQ(item["content"], Json::array());
    EXPECT_EQ(events[1]["item"], item);
    EXPECT_EQ(events[1]["previous_item_id"], user_id);
    EXPECT_EQ(events[2]["part"], (Json{{"type", "text"}, {"text", ""}}));
    EXPECT_EQ(events[2]["content_index"], 0);
    EXPECT_EQ(events[3]["delta"], "Hel");
    EXPECT_EQ(events[3]["item_id"], item_id);
    EXPECT_EQ(events[3]["response_id"], response_id);
    EXPECT_EQ(events[3]["output_index"], 0);
    EXPECT_EQ(events[3]["content_index"], 0);
    EXPECT_TRUE(client->link.frames.back().starts_with(R"({"type":"response.output_text.delta","event_id":"event_)"));

    source.last().on_text_delta("lo \"world\"\n");
    events = client->link.take();
    ASSERT_EQ(types(events), std::vector<std::string>{"response.output_text.delta"});
    EXPECT_EQ(events[0]["delta"], "lo \"world\"\n");

    source.last().on_usage({12, 3, 15});
    source.done();
    events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"response.output_text.done", "response.content_part.done",
                                                       "response.output_item.done", "conversation.item.done",
                                                       "response.done"}));
    const std::string full = "Hello \"world\"\n";
    EXPECT_EQ(events[0]["text"], full);
    EXPECT_EQ(events[1]["part"], (Json{{"type", "text"}, {"text", full}}));
    EXPECT_EQ(events[2]["item"]["status"], "completed");
    EXPECT_EQ(events[2]["item"]["content"], (Json::array({{{"type", "output_text"}, {"text", full}}})));
    EXPECT_EQ(events[3]["item"], events[2]["item"]);
    EXPECT_EQ(events[3]["previous_item_id"], user_id);
    const Json done = events[4]["response"];
    EXPECT_EQ(done["id"], response_id);
    EXPECT_EQ(done["status"], "completed");
    EXPECT_TRUE(done["status_details"].is_null());
    EXPECT_EQ(done["output"], Json::array({events[2]["item"]}));
    EXPECT_EQ(done["usage"], (Json{{"total_tokens", 15}, {"input_tokens", 12}, {"output_tokens", 3}}));

    // The answer is history now.
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", item_id}});
    EXPECT_EQ(client->link.take().at(0)["item"]["content"][0]["text"], full);
    add_user(*client, "and?");
    client->send({{"type", "response.create"}});
    const auto& messages = source.calls.at(1).request.messages;
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(messages[1].role, Role::assistant);
    EXPECT_EQ(messages[1].text, full);

    EXPECT_EQ(metrics.responses[0].value(), 1u);  // completed
    EXPECT_EQ(metrics.tokens_streamed.value(), 2u);
    EXPECT_EQ(metrics.response_first_token_seconds.snapshot().count, 1u);
    EXPECT_EQ(metrics.gateway_overhead_seconds.snapshot().count, 1u);
    EXPECT_EQ(metrics.responses_active.value(), 1);  // the second one still runs
}

TEST_F(RealtimeSessionTest, ToolCallIsStreamedStoredAndAnsweredInTheNextRequest) {
    auto client = open();
    client->send({{"type", "session.update"},
                  {"session", {{"tools", {{{"type", "function"}, {"name", "get_weather"}, {"parameters", Json::object()}}}}}}});
    client->link.take();
    add_user(*client, "Weather in Paris?");
    client->send({{"type", "response.create"}});
    EXPECT_EQ(source.calls[0].request.tool_choice, "auto");
    client->link.take();

    source.last().on_tool_call_delta(0, "call_abc", "get_weather", "");
    source.last().on_tool_call_delta(0, "", "", "{\"city\":");
    source.last().on_tool_call_delta(0, "", "", "\"Paris\"}");
    source.last().on_usage({20, 5, 25});
    source.done(upstream::Outcome::completed, upstream::FinishReason::tool_calls);
    auto events = client->link.take();
    ASSERT_EQ(types(events),
              (std::vector<std::string>{"response.output_item.added", "conversation.item.added",
                                        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
                                        "response.function_call_arguments.done", "response.output_item.done",
                                        "conversation.item.done", "response.done"}));
    const Json added = events[0]["item"];
    EXPECT_EQ(added["type"], "function_call");
    EXPECT_EQ(added["status"], "in_progress");
    EXPECT_EQ(added["call_id"], "call_abc");
    EXPECT_EQ(added["name"], "get_weather");
    EXPECT_EQ(added["arguments"], "");
    EXPECT_EQ(events[2]["call_id"], "call_abc");
    EXPECT_EQ(events[2]["delta"], "{\"city\":");
    EXPECT_EQ(events[2]["item_id"], added["id"]);
    EXPECT_EQ(events[4]["name"], "get_weather");
    EXPECT_EQ(events[4]["arguments"], "{\"city\":\"Paris\"}");
    EXPECT_EQ(events[5]["item"]["status"], "completed");
    EXPECT_EQ(events[5]["item"]["arguments"], "{\"city\":\"Paris\"}");
    EXPECT_EQ(events[7]["response"]["status"], "completed");

    client->send({{"type", "conversation.item.create"},
                  {"item", {{"type", "function_call_output"}, {"call_id", "call_abc"}, {"output", "{\"temp\":21}"}}}});
    client->send({{"type", "response.create"}});
    ASSERT_EQ(source.calls.size(), 2u);
    const auto& messages = source.calls[1].request.messages;
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(messages[0].role, Role::user);
    EXPECT_EQ(messages[1].role, Role::assistant);
    ASSERT_EQ(messages[1].tool_calls.size(), 1u);
    EXPECT_EQ(messages[1].tool_calls[0].call_id, "call_abc");
    EXPECT_EQ(messages[1].tool_calls[0].name, "get_weather");
    EXPECT_EQ(messages[1].tool_calls[0].arguments, "{\"city\":\"Paris\"}");
    EXPECT_EQ(messages[2].role, Role::tool);
    EXPECT_EQ(messages[2].tool_call_id, "call_abc");
    EXPECT_EQ(messages[2].text, "{\"temp\":21}");
}

TEST_F(RealtimeSessionTest, TextThenToolCallAreTwoOutputItems) {
    auto client = open();
    add_user(*client, "q");
    client->send({{"type", "response.create"}});
    client->link.take();
    source.last().on_text_delta("Let me check.");
    source.last().on_tool_call_delta(0, "", "lookup", "{}");  // no call_id from the provider: one is made up
    source.done(upstream::Outcome::completed, upstream::FinishReason::tool_calls);
    auto events = client->link.take();
    ASSERT_EQ(types(events),
              (std::vector<std::string>{"response.output_item.added", "conversation.item.added",
                                        "response.content_part.added", "response.output_text.delta",
                                        "response.output_text.done", "response.content_part.done",
                                        "response.output_item.done", "conversation.item.done",
                                        "response.output_item.added", "conversation.item.added",
                                        "response.function_call_arguments.delta",
                                        "response.function_call_arguments.done", "response.output_item.done",
                                        "conversation.item.done", "response.done"}));
    EXPECT_EQ(events[8]["output_index"], 1);
    EXPECT_TRUE(events[8]["item"]["call_id"].get<std::string>().starts_with("call_"));
    EXPECT_EQ(events[14]["response"]["output"].size(), 2u);
}

TEST_F(RealtimeSessionTest, SecondResponseCreateWhileOneIsActiveIsAnError) {
    auto client = open();
    client->send({{"type", "response.create"}});
    const std::string active = client->link.take().at(0)["response"]["id"];
    client->send({{"type", "response.create"}, {"event_id", "evt_second"}});
    auto events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["code"], "conversation_already_has_active_response");
    EXPECT_EQ(events[0]["error"]["event_id"], "evt_second");
    EXPECT_NE(events[0]["error"]["message"].get<std::string>().find(active), std::string::npos);
    EXPECT_EQ(source.calls.size(), 1u);
}

TEST_F(RealtimeSessionTest, CancelStopsUpstreamAndKeepsThePartialText) {
    auto client = open();
    add_user(*client, "long story please");
    client->send({{"type", "response.create"}});
    source.last().on_text_delta("Once upon");
    const std::string item_id = client->link.take().at(1)["item"]["id"];
    auto log = source.calls[0].log;

    client->send({{"type", "response.cancel"}, {"event_id", "evt_cancel"}});
    EXPECT_TRUE(log->cancelled);
    auto events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"response.output_text.done", "response.content_part.done",
                                                       "response.output_item.done", "conversation.item.done",
                                                       "response.done"}));
    EXPECT_EQ(events[2]["item"]["status"], "incomplete");
    const Json done = events[4]["response"];
    EXPECT_EQ(done["status"], "cancelled");
    EXPECT_EQ(done["status_details"], (Json{{"type", "cancelled"}, {"reason", "client_cancelled"}}));

    client->send({{"type", "conversation.item.retrieve"}, {"item_id", item_id}});
    const Json item = client->link.take().at(0)["item"];
    EXPECT_EQ(item["status"], "incomplete");
    EXPECT_EQ(item["content"][0]["text"], "Once upon");

    client->send({{"type", "response.cancel"}, {"event_id", "evt_again"}});
    events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["code"], "response_cancel_not_active");
    EXPECT_EQ(events[0]["error"]["event_id"], "evt_again");

    ioc.poll();  // the posted clean-up frees the finished response and its handle
    EXPECT_TRUE(log->destroyed);
    EXPECT_EQ(metrics.responses[1].value(), 1u);  // cancelled
    EXPECT_EQ(metrics.responses_active.value(), 0);
}

TEST_F(RealtimeSessionTest, CancelOfAnotherResponseIdIsAnError) {
    auto client = open();
    client->send({{"type", "response.create"}});
    client->link.take();
    client->send({{"type", "response.cancel"}, {"response_id", "resp_other"}});
    auto events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["code"], "response_cancel_not_active");
    EXPECT_EQ(events[0]["error"]["param"], "response_id");
    EXPECT_FALSE(source.calls[0].log->cancelled);
}

TEST_F(RealtimeSessionTest, NewUserItemInterruptsTheResponse) {
    auto client = open();
    add_user(*client, "tell me everything");
    client->send({{"type", "response.create"}});
    source.last().on_text_delta("Well,");
    client->link.take();

    client->send(user_message("stop, different question"));
    EXPECT_TRUE(source.calls[0].log->cancelled);
    auto events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"response.output_text.done", "response.content_part.done",
                                                       "response.output_item.done", "conversation.item.done",
                                                       "response.done", "conversation.item.added",
                                                       "conversation.item.done"}));
    EXPECT_EQ(events[4]["response"]["status_details"], (Json{{"type", "cancelled"}, {"reason", "turn_detected"}}));
    EXPECT_EQ(events[5]["previous_item_id"], events[3]["item"]["id"]);
}

TEST_F(RealtimeSessionTest, WithoutBargeInTheResponseContinues) {
    sessions.barge_in = false;
    auto client = open();
    client->send({{"type", "response.create"}});
    source.last().on_text_delta("Well,");
    client->link.take();
    client->send(user_message("meanwhile"));
    EXPECT_FALSE(source.calls[0].log->cancelled);
    EXPECT_EQ(types(client->link.take()),
              (std::vector<std::string>{"conversation.item.added", "conversation.item.done"}));
}

TEST_F(RealtimeSessionTest, UpstreamFailureSendsErrorThenFailedResponse) {
    auto client = open();
    add_user(*client, "hi");
    client->send({{"type", "response.create"}});
    source.last().on_text_delta("Partial");
    client->link.take();
    upstream::ResponseResult result;
    result.outcome = upstream::Outcome::failed;
    result.error_type = "server_error";
    result.error_code = "upstream_timeout";
    result.error_message = "the provider stopped sending";
    source.last().on_done(result);
    auto events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"error", "response.output_text.done", "response.content_part.done",
                                                       "response.output_item.done", "conversation.item.done",
                                                       "response.done"}));
    EXPECT_EQ(events[0]["error"]["type"], "server_error");
    EXPECT_EQ(events[0]["error"]["code"], "upstream_timeout");
    EXPECT_EQ(events[0]["error"]["message"], "the provider stopped sending");
    EXPECT_TRUE(events[0]["error"]["event_id"].is_null());
    EXPECT_EQ(events[3]["item"]["status"], "incomplete");
    const Json done = events[5]["response"];
    EXPECT_EQ(done["status"], "failed");
    EXPECT_EQ(done["status_details"],
              (Json{{"type", "failed"}, {"error", {{"type", "server_error"}, {"code", "upstream_timeout"}}}}));
    EXPECT_EQ(metrics.responses[3].value(), 1u);  // failed

    // The session goes on.
    add_user(*client, "again");
    client->send({{"type", "response.create"}});
    EXPECT_EQ(source.calls.size(), 2u);
    EXPECT_EQ(source.calls[1].request.messages.at(1).text, "Partial");
}

TEST_F(RealtimeSessionTest, FailureInsideStartIsReportedAndTheNextResponseWorks) {
    auto client = open();
    source.fail_at_once = true;
    client->send({{"type", "response.create"}});
    auto events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"response.created", "error", "response.done"}));
    EXPECT_EQ(events[1]["error"]["code"], "no_route");
    EXPECT_EQ(events[2]["response"]["status"], "failed");
    ioc.poll();
    source.fail_at_once = false;
    client->send({{"type", "response.create"}});
    EXPECT_EQ(types(client->link.take()), std::vector<std::string>{"response.created"});
}

TEST_F(RealtimeSessionTest, LengthLimitEndsIncomplete) {
    auto client = open();
    client->send({{"type", "response.create"}, {"response", {{"max_output_tokens", 5}}}});
    EXPECT_EQ(source.calls[0].request.max_output_tokens, 5);
    EXPECT_EQ(client->link.take().at(0)["response"]["max_output_tokens"], 5);
    source.last().on_text_delta("abc");
    source.done(upstream::Outcome::completed, upstream::FinishReason::length);
    auto events = client->link.take();
    EXPECT_EQ(events.at(7)["type"], "conversation.item.done");
    EXPECT_EQ(events.at(7)["item"]["status"], "incomplete");
    EXPECT_EQ(events.back()["response"]["status"], "incomplete");
    EXPECT_EQ(events.back()["response"]["status_details"],
              (Json{{"type", "incomplete"}, {"reason", "max_output_tokens"}}));
}

TEST_F(RealtimeSessionTest, ResponseOverridesApplyToOneResponseOnly) {
    auto client = open();
    client->send({{"type", "response.create"},
                  {"response",
                   {{"instructions", "Answer in French."},
                    {"temperature", 0.2},
                    {"tools", {{{"type", "function"}, {"name", "f"}}}},
                    {"tool_choice", {{"type", "function"}, {"name", "f"}}},
                    {"metadata", {{"topic", "x"}}}}}});
    const auto& request = source.calls[0].request;
    EXPECT_EQ(request.instructions, "Answer in French.");
    EXPECT_EQ(request.temperature, 0.2);
    EXPECT_EQ(request.tools.size(), 1u);
    EXPECT_EQ(request.tool_choice, (Json{{"type", "function"}, {"name", "f"}}));
    EXPECT_EQ(client->link.take().at(0)["response"]["metadata"], (Json{{"topic", "x"}}));
    source.done();
    client->link.take();
    client->send({{"type", "response.create"}});
    EXPECT_EQ(source.calls[1].request.instructions, "");
    EXPECT_FALSE(source.calls[1].request.temperature);
}

TEST_F(RealtimeSessionTest, OutOfBandResponseIsNotAddedToTheHistory) {
    auto client = open();
    const std::string id = add_user(*client, "the conversation");
    Json create = Json::parse(R"({"type":"response.create","response":{"conversation":"none","input":[
        {"type":"item_reference","id":"ID"},
        {"type":"message","role":"user","content":[{"type":"input_text","text":"classify it"}]}]}})");
    create["response"]["input"][0]["id"] = id;
    client->send(create);
    const auto& messages = source.calls.at(0).request.messages;
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(messages[0].text, "the conversation");
    EXPECT_EQ(messages[1].text, "classify it");
    EXPECT_TRUE(client->link.take().at(0)["response"]["conversation_id"].is_null());
    source.last().on_text_delta("positive");
    source.done();
    auto events = client->link.take();
    EXPECT_EQ(types(events), (std::vector<std::string>{"response.output_item.added", "response.content_part.added",
                                                       "response.output_text.delta", "response.output_text.done",
                                                       "response.content_part.done", "response.output_item.done",
                                                       "response.done"}));
    // Only the user item is in the conversation.
    client->send({{"type", "response.create"}});
    EXPECT_EQ(source.calls.at(1).request.messages.size(), 1u);
}

TEST_F(RealtimeSessionTest, UnknownItemReferenceFailsBeforeTheResponseStarts) {
    auto client = open();
    client->send_raw(R"({"type":"response.create","event_id":"evt_ref",
        "response":{"conversation":"none","input":[{"type":"item_reference","id":"nope"}]}})");
    auto events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["code"], "item_not_found");
    EXPECT_EQ(events[0]["error"]["param"], "response.input[0].id");
    EXPECT_TRUE(source.calls.empty());
}

TEST_F(RealtimeSessionTest, HistoryIsTrimmedOldestNonSystemFirst) {
    sessions.max_history_chars = 30;
    auto client = open();
    client->send({{"type", "conversation.item.create"},
                  {"item", {{"type", "message"}, {"role", "system"}, {"content", {{{"type", "input_text"}, {"text", "SYSTEM"}}}}}}});
    client->link.take();
    add_user(*client, "first message");   // 13
    add_user(*client, "second msg");      // 10
    add_user(*client, "third msg");       // 9
    client->link.take();
    client->send({{"type", "response.create"}});
    const auto& messages = source.calls.at(0).request.messages;
    // 6 + 10 + 9 = 25 <= 30: the oldest user message went, the system one stayed.
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(messages[0].text, "SYSTEM");
    EXPECT_EQ(messages[1].text, "second msg");
    EXPECT_EQ(messages[2].text, "third msg");
}

TEST_F(RealtimeSessionTest, StoredHistoryIsBoundedAndEvictionsAreAnnounced) {
    sessions.max_history_chars = 10;  // stores at most 20 characters
    auto client = open();
    const std::string first = add_user(*client, "0123456789");
    add_user(*client, "abcdefghij");
    client->send(user_message("KLMNOPQRST"));
    auto events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"conversation.item.added", "conversation.item.done",
                                                       "conversation.item.deleted"}));
    EXPECT_EQ(events[2]["item_id"], first);
    EXPECT_EQ(metrics.conversation_items_evicted.value(), 1u);
}

Json function_call(const std::string& call_id, const std::string& arguments = "{}") {
    return {{"type", "conversation.item.create"},
            {"item", {{"type", "function_call"}, {"call_id", call_id}, {"name", "f"}, {"arguments", arguments}}}};
}

// Empty items cost no characters, but the 1000-item cap still holds.
TEST_F(RealtimeSessionTest, StoredHistoryKeepsAtMostAThousandItems) {
    limits.max_events_per_second = 0;  // no rate limit: the fake clock stands still
    auto client = open();
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < SessionEngine::max_stored_items; ++i) ids.push_back(add_user(*client, ""));
    client->send(user_message(""));
    auto events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"conversation.item.added", "conversation.item.done",
                                                       "conversation.item.deleted"}));
    EXPECT_EQ(events[2]["item_id"], ids.front());
}

// What the character budget does not see (call ids, item ids, empty content parts) still
// counts against limits.max_conversation_bytes.
TEST_F(RealtimeSessionTest, ConversationBytesCountCallIdsAndEveryContentPart) {
    limits.max_events_per_second = 0;  // no rate limit: the fake clock stands still
    limits.max_conversation_bytes = 64 * 1024;
    auto client = open();
    // Function calls with the longest call_id and no arguments: 0 characters each.
    const std::string call_id(protocol::max_call_id_length, 'c');
    client->send(function_call(call_id));
    const std::string first = client->link.take().at(0)["item"]["id"];
    std::size_t evicted = 0;
    for (int i = 0; i < 400 && evicted == 0; ++i) {
        client->send(function_call(call_id));
        for (const auto& event : client->link.take())
            if (event.value("type", std::string()) == "conversation.item.deleted") {
                EXPECT_EQ(event.value("item_id", std::string()), first);
                ++evicted;
            }
    }
    EXPECT_EQ(evicted, 1u) << "function calls with empty arguments must still fill the byte budget";
    EXPECT_LE(registry.find(*SessionId::parse(client->session->session_id()))->stored_bytes(),
              limits.max_conversation_bytes);

    // Empty content parts are not free either: a message of 32 of them costs 32 fixed parts.
    Json parts = Json::array();
    for (std::size_t i = 0; i < protocol::max_content_parts; ++i) parts.push_back({{"type", "input_text"}, {"text", ""}});
    const Json multi = {{"type", "conversation.item.create"},
                        {"item", {{"type", "message"}, {"role", "user"}, {"content", parts}}}};
    client->send(multi);
    auto events = client->link.take();
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events[0]["type"], "conversation.item.added");
    EXPECT_EQ(events[0]["item"]["content"].size(), protocol::max_content_parts);
    EXPECT_EQ(events.back()["type"], "conversation.item.deleted") << "32 empty parts must push older items out";

    // One part more than the cap, and an overlong call_id, are refused outright.
    parts.push_back({{"type", "input_text"}, {"text", ""}});
    client->send({{"type", "conversation.item.create"},
                  {"item", {{"type", "message"}, {"role", "user"}, {"content", parts}}}});
    events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["code"], "invalid_value");
    client->send(function_call(std::string(protocol::max_call_id_length + 1, 'c')));
    events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["param"], "item.call_id");
}

TEST_F(RealtimeSessionTest, ItemOrSettingsTooLargeForTheConversationAreRefused) {
    limits.max_conversation_bytes = 64 * 1024;
    auto client = open();
    const std::string kept = add_user(*client, "keep me");
    client->send(user_message(std::string(70 * 1024, 'x'), "big"));
    auto events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["code"], "conversation_too_large");
    EXPECT_EQ(events[0]["error"]["event_id"], "big");
    client->send({{"type", "session.update"}, {"session", {{"instructions", std::string(70 * 1024, 'i')}}}});
    events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["code"], "conversation_too_large");
    EXPECT_EQ(metrics.conversation_too_large.value(), 2u);

    // Settings that fit but leave no room evict the items instead.
    client->send({{"type", "session.update"}, {"session", {{"instructions", std::string(64 * 1024 - 500, 'i')}}}});
    events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"session.updated"})) << "the only item is the newest: kept";
    client->send(user_message("second"));
    EXPECT_EQ(types(client->link.take()), (std::vector<std::string>{"conversation.item.added", "conversation.item.done",
                                                                    "conversation.item.deleted"}));
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", kept}});
    EXPECT_EQ(client->link.take().at(0)["error"]["code"], "item_not_found");
}

// limits.max_response_bytes ends the response incomplete, cancels the upstream, and the
// client stays connected.
TEST_F(RealtimeSessionTest, ResponseOverMaxResponseBytesEndsIncomplete) {
    limits.max_response_bytes = 1024;
    auto client = open();
    client->send({{"type", "response.create"}});
    source.last().on_text_delta(std::string(1000, 'a'));
    source.last().on_text_delta(std::string(100, 'b'));  // would pass 1024
    source.last().on_text_delta("never sent");
    EXPECT_TRUE(source.calls.back().log->cancelled);
    auto events = client->link.take();
    ASSERT_FALSE(events.empty());
    const Json& done = events.back();
    EXPECT_EQ(done["type"], "response.done");
    EXPECT_EQ(done["response"]["status"], "incomplete");
    EXPECT_EQ(done["response"]["status_details"]["reason"], "max_output_tokens");
    EXPECT_EQ(done["response"]["output"][0]["content"][0]["text"], std::string(1000, 'a'));
    EXPECT_FALSE(client->link.closed);
    EXPECT_EQ(metrics.responses_size_limited.value(), 1u);
    // The session goes on: the next response starts.
    client->send({{"type", "response.create"}});
    EXPECT_EQ(source.calls.size(), 2u);
}

TEST_F(RealtimeSessionTest, OverlongModelInTheUrlIsIgnoredWithAnError) {
    auto client = connect({std::string(300, 'm'), ""});
    auto events = client->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"session.created", "error"}));
    EXPECT_EQ(events[0]["session"]["model"], sessions.default_model);
    EXPECT_EQ(events[1]["error"]["param"], "model");
    EXPECT_LT(events[1]["error"]["message"].get<std::string>().size(), 200u);
}

TEST_F(RealtimeSessionTest, TruncateCutsTheTextTheClientHasNotReceived) {
    auto client = open();
    client->send({{"type", "response.create"}});
    source.last().on_text_delta("Hello ");
    // From here on the client stops reading: the next frames stay in the send queue.
    client->link.auto_write = false;
    client->link.written = client->link.frames.size();
    source.last().on_text_delta("there, ");
    source.last().on_text_delta("friend");
    const std::string item_id = client->link.take().at(1)["item"]["id"];

    client->send({{"type", "conversation.item.truncate"}, {"item_id", item_id}, {"content_index", 0}, {"audio_end_ms", 0}});
    EXPECT_EQ(client->link.take().at(0)["error"]["code"], "item_in_progress");
    client->send({{"type", "response.cancel"}});
    client->link.take();

    client->send({{"type", "conversation.item.truncate"}, {"item_id", item_id}, {"content_index", 0}, {"audio_end_ms", 1500}});
    auto events = client->link.take();
    ASSERT_EQ(types(events), std::vector<std::string>{"conversation.item.truncated"});
    EXPECT_EQ(events[0]["item_id"], item_id);
    EXPECT_EQ(events[0]["content_index"], 0);
    EXPECT_EQ(events[0]["audio_end_ms"], 1500);
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", item_id}});
    EXPECT_EQ(client->link.take().at(0)["item"]["content"][0]["text"], "Hello ");

    // text_end (voxgate extension): an explicit cut in code points.
    client->send({{"type", "conversation.item.truncate"}, {"item_id", item_id}, {"content_index", 0}, {"text_end", 4}});
    client->link.take();
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", item_id}});
    EXPECT_EQ(client->link.take().at(0)["item"]["content"][0]["text"], "Hell");
    client->send({{"type", "conversation.item.truncate"}, {"item_id", item_id}, {"content_index", 0}, {"text_end", 9}});
    EXPECT_EQ(client->link.take().at(0)["error"]["param"], "text_end");
}

TEST_F(RealtimeSessionTest, TruncateOfAFullyWrittenItemKeepsItsText) {
    auto client = open();
    const std::string answer = respond(*client, "all of it");
    client->send({{"type", "conversation.item.truncate"}, {"item_id", answer}, {"content_index", 0}, {"audio_end_ms", 10}});
    client->link.take();
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", answer}});
    EXPECT_EQ(client->link.take().at(0)["item"]["content"][0]["text"], "all of it");
}

TEST_F(RealtimeSessionTest, TruncateRefusesUserItemsAndBadContentIndex) {
    auto client = open();
    const std::string user = add_user(*client, "mine");
    client->send({{"type", "conversation.item.truncate"}, {"item_id", user}, {"content_index", 0}, {"audio_end_ms", 0}});
    auto error = client->link.take().at(0)["error"];
    EXPECT_EQ(error["code"], "invalid_value");
    EXPECT_EQ(error["param"], "item_id");
    const std::string answer = respond(*client, "yours");
    client->send({{"type", "conversation.item.truncate"}, {"item_id", answer}, {"content_index", 3}, {"audio_end_ms", 0}});
    EXPECT_EQ(client->link.take().at(0)["error"]["param"], "content_index");
    client->send({{"type", "conversation.item.truncate"}, {"item_id", "nope"}, {"content_index", 0}, {"audio_end_ms", 0}});
    EXPECT_EQ(client->link.take().at(0)["error"]["code"], "item_not_found");
}

TEST_F(RealtimeSessionTest, SendQueuePressurePausesAndResumesTheUpstream) {
    auto client = open();
    client->send({{"type", "response.create"}});
    auto log = source.calls[0].log;
    client->session->on_send_queue_high();
    EXPECT_EQ(log->pauses, 1);
    client->session->on_send_queue_low();
    EXPECT_EQ(log->resumes, 1);
    // A response started under pressure starts paused.
    source.done();
    client->session->on_send_queue_high();
    client->send({{"type", "response.create"}});
    EXPECT_EQ(source.calls[1].log->pauses, 1);
}

// ---------------------------------------------------------------------------------------
// bad input

struct BadInput {
    std::string text;
    std::string code;
    std::string param;     // "" = null
    std::string event_id;  // "" = null
};

TEST_F(RealtimeSessionTest, BadInputGetsAnErrorAndTheConnectionStays) {
    const std::vector<BadInput> cases = {
        {"{not json", "invalid_json", "", ""},
        {"[1,2]", "invalid_event", "", ""},
        {R"({"event_id":"e1"})", "missing_required_parameter", "type", "e1"},
        {R"({"type":7,"event_id":"e2"})", "invalid_type", "type", "e2"},
        {R"({"type":"session.fly","event_id":"e3"})", "unknown_event_type", "type", "e3"},
        {R"({"type":"input_audio_buffer.append","audio":"AAAA","event_id":"e4"})", "invalid_audio", "audio", "e4"},  // 3 bytes: half a PCM16 sample
        {R"({"type":"conversation.item.create","event_id":"e5"})", "missing_required_parameter", "item", "e5"},
        {R"({"type":"conversation.item.create","event_id":"e6","item":{"type":"message","role":"user","content":[{"type":"input_text","text":5}]}})",
         "invalid_type", "item.content[0].text", "e6"},
        {R"({"type":"conversation.item.create","event_id":"e7","item":{"type":"message","role":"user","content":[{"type":"input_audio","audio":"AA"}]}})",
         "unsupported_content_type", "item.content[0].type", "e7"},
        {R"({"type":"conversation.item.create","event_id":"e8","item":{"type":"message","role":"robot","content":[]}})",
         "invalid_value", "item.role", "e8"},
        {R"({"type":"conversation.item.delete","event_id":"e9","item_id":"item_x"})", "item_not_found", "item_id", "e9"},
        {R"({"type":"conversation.item.delete","event_id":"e10","item_id":3})", "invalid_type", "item_id", "e10"},
        {R"({"type":"session.update","event_id":"e11","session":{"max_output_tokens":0}})", "invalid_value",
         "session.max_output_tokens", "e11"},
        {R"({"type":"session.update","event_id":"e12","session":{"tools":[{"type":"mcp","server_label":"x"}]}})",
         "unsupported_tool_type", "session.tools[0].type", "e12"},
        {R"({"type":"response.create","event_id":"e13","response":{"conversation":"other"}})", "invalid_value",
         "response.conversation", "e13"},
        {R"({"type":"response.create","event_id":"e14","response":{"output_modalities":["audio"]}})",
         "unsupported_modality", "response.output_modalities", "e14"},  // this gateway has no text_to_speech
        {R"({"type":"session.update","event_id":[1]})", "invalid_type", "event_id", ""},
    };
    auto client = open();
    for (const auto& bad : cases) {
        SCOPED_TRACE(bad.text);
        client->send_raw(bad.text);
        auto events = client->link.take();
        ASSERT_EQ(events.size(), 1u);
        const Json& error = events[0]["error"];
        EXPECT_EQ(events[0]["type"], "error");
        EXPECT_TRUE(events[0]["event_id"].get<std::string>().starts_with("event_"));
        EXPECT_EQ(error["type"], "invalid_request_error");
        EXPECT_EQ(error["code"], bad.code);
        EXPECT_FALSE(error["message"].get<std::string>().empty());
        EXPECT_EQ(error["param"], bad.param.empty() ? Json(nullptr) : Json(bad.param));
        EXPECT_EQ(error["event_id"], bad.event_id.empty() ? Json(nullptr) : Json(bad.event_id));
    }
    client->session->on_binary("\x01\x02");
    auto events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["code"], "binary_not_supported");

    EXPECT_FALSE(client->link.closed);
    add_user(*client, "still here");
    EXPECT_TRUE(source.calls.empty());
}

TEST_F(RealtimeSessionTest, RateLimitRejectsThenCloses) {
    limits.max_events_per_second = 2;
    auto client = open();
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", "a"}, {"event_id", "r1"}});
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", "a"}, {"event_id", "r2"}});
    client->link.take();
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", "a"}, {"event_id", "r3"}});
    auto events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["code"], "rate_limit_exceeded");
    EXPECT_EQ(events[0]["error"]["event_id"], "r3");
    EXPECT_FALSE(client->link.closed);

    // Half a second later one token is back.
    fake_now += std::chrono::milliseconds(500);
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", "a"}, {"event_id", "r4"}});
    EXPECT_EQ(client->link.take().at(0)["error"]["code"], "item_not_found");

    // Twice the rate within a second: closed with 1008.
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", "a"}});
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", "a"}});
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", "a"}});
    EXPECT_TRUE(client->link.closed);
    EXPECT_EQ(client->link.close_code, 1008);
}

// A refused event is never parsed (it would cost a full JSON parse per dropped 256 KiB
// event): its id is taken from the first bytes, so even broken JSON gets its id back.
TEST_F(RealtimeSessionTest, RefusedEventIsNotParsedButItsIdIsEchoed) {
    limits.max_events_per_second = 1;
    auto client = open();
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", "a"}});
    client->link.take();
    client->send_raw(R"({"event_id":"big","type":"conversation.item.create","item":")" + std::string(200000, 'x'));
    auto events = client->link.take();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["error"]["code"], "rate_limit_exceeded") << "not invalid_json: the event was not parsed";
    EXPECT_EQ(events[0]["error"]["event_id"], "big");
}

TEST_F(RealtimeSessionTest, RateLimitOverThreeSecondsInARowCloses) {
    limits.max_events_per_second = 1;
    auto client = open();
    auto burst = [&] {
        client->send({{"type", "conversation.item.retrieve"}, {"item_id", "a"}});
        client->send({{"type", "conversation.item.retrieve"}, {"item_id", "a"}});
    };
    burst();  // second 1: one over
    EXPECT_FALSE(client->link.closed);
    fake_now += std::chrono::milliseconds(1100);
    burst();  // second 2
    EXPECT_FALSE(client->link.closed);
    fake_now += std::chrono::milliseconds(1100);
    burst();  // second 3
    EXPECT_TRUE(client->link.closed);
    EXPECT_EQ(client->link.close_code, 1008);
}

// ---------------------------------------------------------------------------------------
// resume, expiry, takeover

TEST_F(RealtimeSessionTest, ReconnectWithinTtlResumesTheConversation) {
    auto first = open();
    const std::string id = first->session->session_id();
    add_user(*first, "remember this");
    first->close();
    EXPECT_EQ(registry.size(), 1u);

    fake_now += std::chrono::seconds(60);
    auto second = connect({"", id});
    auto events = second->link.take();
    ASSERT_EQ(types(events), std::vector<std::string>{"session.created"});
    EXPECT_EQ(events[0]["session"]["id"], id);
    second->send({{"type", "response.create"}});
    ASSERT_EQ(source.calls.size(), 1u);
    ASSERT_EQ(source.calls[0].request.messages.size(), 1u);
    EXPECT_EQ(source.calls[0].request.messages[0].text, "remember this");
    EXPECT_EQ(metrics.sessions_resumed.value(), 1u);
}

TEST_F(RealtimeSessionTest, SettingsAndModelSurviveAResume) {
    auto first = open();
    const std::string id = first->session->session_id();
    first->send({{"type", "session.update"}, {"session", {{"instructions", "kept"}, {"model", "m1"}}}});
    first->close();
    auto same_model = connect({"", id});
    auto session = same_model->link.take().at(0)["session"];
    EXPECT_EQ(session["instructions"], "kept");
    EXPECT_EQ(session["model"], "m1");
    same_model->close();
    auto new_model = connect({"m2", id});
    EXPECT_EQ(new_model->link.take().at(0)["session"]["model"], "m2");
}

TEST_F(RealtimeSessionTest, ReconnectAfterTtlStartsFreshWithAnError) {
    sessions.resume_ttl = std::chrono::seconds(30);
    auto first = open();
    const std::string id = first->session->session_id();
    first->close();
    fake_now += std::chrono::seconds(31);

    auto second = connect({"", id});
    auto events = second->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"session.created", "error"}));
    EXPECT_NE(events[0]["session"]["id"], id);
    EXPECT_EQ(events[1]["error"]["code"], "session_not_found");
    EXPECT_EQ(events[1]["error"]["param"], "session_id");
    EXPECT_EQ(registry.size(), 1u);  // the expired one was erased, the new one is there
    EXPECT_FALSE(registry.find(*SessionId::parse(id)));
}

TEST_F(RealtimeSessionTest, UnknownSessionIdStartsFreshWithAnError) {
    auto client = connect({"", "sess_0123456789abcdef0123456789abcdef"});
    EXPECT_EQ(types(client->link.take()), (std::vector<std::string>{"session.created", "error"}));
    auto garbage = connect({"", "not-an-id"});
    auto events = garbage->link.take();
    EXPECT_EQ(events.at(1)["error"]["code"], "session_not_found");
}

TEST_F(RealtimeSessionTest, TtlSweepErasesOnlyExpiredDetachedConversations) {
    sessions.resume_ttl = std::chrono::seconds(30);
    auto live = open();
    auto gone = open();
    gone->close();
    auto sweep = [&] {
        return registry.erase_if([&](const Conversation& c) { return expired(c, fake_now, sessions.resume_ttl); });
    };
    EXPECT_EQ(sweep(), 0u);
    fake_now += std::chrono::seconds(30);
    EXPECT_EQ(sweep(), 1u);
    EXPECT_EQ(registry.size(), 1u);
    EXPECT_TRUE(registry.find(*SessionId::parse(live->session->session_id())));
}

TEST_F(RealtimeSessionTest, ZeroTtlErasesOnCloseAndNeverResumes) {
    sessions.resume_ttl = std::chrono::seconds(0);
    auto first = open();
    const std::string id = first->session->session_id();
    first->close();
    EXPECT_EQ(registry.size(), 0u);
    auto second = connect({"", id});
    EXPECT_EQ(types(second->link.take()), (std::vector<std::string>{"session.created", "error"}));
}

TEST_F(RealtimeSessionTest, SecondConnectionTakesOverAndTheFirstIsClosed) {
    auto first = open();
    const std::string id = first->session->session_id();
    add_user(*first, "question");
    first->send({{"type", "response.create"}});
    source.last().on_text_delta("half an ans");
    first->link.take();

    auto second = connect({"", id});
    // Nothing happens until the first connection's thread lets go.
    EXPECT_TRUE(second->link.take().empty());
    second->send(user_message("sent early"));  // held until the session is ready

    ioc.poll();
    auto old_events = first->link.take();
    ASSERT_EQ(types(old_events), (std::vector<std::string>{"response.output_text.done", "response.content_part.done",
                                                           "response.output_item.done", "conversation.item.done",
                                                           "response.done", "error"}));
    EXPECT_EQ(old_events[4]["response"]["status"], "cancelled");
    EXPECT_EQ(old_events[5]["error"]["code"], "session_taken_over");
    EXPECT_TRUE(first->link.closed);
    EXPECT_EQ(first->link.close_code, 4000);
    EXPECT_TRUE(source.calls[0].log->cancelled);

    auto events = second->link.take();
    ASSERT_EQ(types(events), (std::vector<std::string>{"session.created", "conversation.item.added",
                                                       "conversation.item.done"}));
    EXPECT_EQ(events[0]["session"]["id"], id);

    // The old connection's close does not detach the conversation from its new owner.
    first->close();
    second->send({{"type", "response.create"}});
    const auto& messages = source.calls.at(1).request.messages;
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(messages[0].text, "question");
    EXPECT_EQ(messages[1].text, "half an ans");
    EXPECT_EQ(messages[2].text, "sent early");
    second->close();
    fake_now += sessions.resume_ttl;
    EXPECT_EQ(registry.erase_if([&](const Conversation& c) { return expired(c, fake_now, sessions.resume_ttl); }), 1u);
}

TEST_F(RealtimeSessionTest, TakeoverChainKeepsItsOrder) {
    auto a = open();
    const std::string id = a->session->session_id();
    add_user(*a, "from a");
    auto b = connect({"", id});  // waits for a
    auto c = connect({"", id});  // waits for b, which waits for a
    EXPECT_TRUE(b->link.take().empty());
    EXPECT_TRUE(c->link.take().empty());
    ioc.poll();
    EXPECT_TRUE(a->link.closed);
    EXPECT_TRUE(b->link.closed);
    auto b_events = b->link.take();
    ASSERT_EQ(types(b_events), std::vector<std::string>{"error"});
    EXPECT_EQ(b_events[0]["error"]["code"], "session_taken_over");
    auto c_events = c->link.take();
    ASSERT_EQ(types(c_events), std::vector<std::string>{"session.created"});
    EXPECT_EQ(c_events[0]["session"]["id"], id);
    c->send({{"type", "response.create"}});
    EXPECT_EQ(source.calls.at(0).request.messages.at(0).text, "from a");
}

TEST_F(RealtimeSessionTest, ConnectionClosedDuringHandoverDetachesOnceReleased) {
    auto a = open();
    const std::string id = a->session->session_id();
    auto b = connect({"", id});
    b->close();  // b goes away before a has let go
    b.reset();
    ioc.poll();
    EXPECT_TRUE(a->link.closed);
    // Nobody owns it now: it can be resumed, and it expires when unclaimed.
    auto c = connect({"", id});
    EXPECT_EQ(c->link.take().at(0)["session"]["id"], id);
}

// The same hand-over with each connection on its own shard thread, as in the server.
TEST_F(RealtimeSessionTest, TakeoverAcrossShardThreads) {
    asio::io_context shard_a, shard_b;
    auto guard_a = asio::make_work_guard(shard_a);
    auto guard_b = asio::make_work_guard(shard_b);
    std::thread thread_a([&] { shard_a.run(); });
    std::thread thread_b([&] { shard_b.run(); });
    RealtimeContext context_a{sessions, limits, registry, source, shard_a.get_executor(), nullptr, nullptr, &Clock::now};
    RealtimeContext context_b{sessions, limits, registry, source, shard_b.get_executor(), nullptr, nullptr, &Clock::now};
    // Runs fn on the shard's thread and waits for it.
    auto on = [](asio::io_context& shard, auto fn) {
        std::promise<void> done;
        asio::post(shard, [&] {
            fn();
            done.set_value();
        });
        done.get_future().wait();
    };

    Client a, b;
    std::string id;
    on(shard_a, [&] {
        a.session = std::make_shared<RealtimeSession>(a.link, context_a, SessionParams{});
        a.session->on_open();
        a.send(user_message("from shard a"));
        id = a.session->session_id();
    });
    on(shard_b, [&] {
        b.session = std::make_shared<RealtimeSession>(b.link, context_b, SessionParams{"", id});
        b.session->on_open();
    });
    bool ready = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!ready && std::chrono::steady_clock::now() < deadline) {
        on(shard_b, [&] { ready = !b.link.frames.empty(); });
        if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(ready);
    bool a_closed = false;
    on(shard_a, [&] { a_closed = a.link.closed; });
    EXPECT_TRUE(a_closed);
    on(shard_b, [&] {
        auto events = b.link.take();
        ASSERT_EQ(types(events), std::vector<std::string>{"session.created"});
        EXPECT_EQ(events[0]["session"]["id"], id);
        b.send({{"type", "response.create"}});
        ASSERT_EQ(source.calls.size(), 1u);
        EXPECT_EQ(source.calls[0].request.messages.at(0).text, "from shard a");
    });
    on(shard_a, [&] {
        a.close();
        a.session.reset();
    });
    on(shard_b, [&] {
        b.close();
        b.session.reset();
    });
    guard_a.reset();
    guard_b.reset();
    thread_a.join();
    thread_b.join();
}

TEST_F(RealtimeSessionTest, ClosingCancelsTheResponseAndKeepsThePartialText) {
    auto first = open();
    const std::string id = first->session->session_id();
    first->send({{"type", "response.create"}});
    source.last().on_text_delta("interrupted");
    auto log = source.calls[0].log;
    first->close();
    EXPECT_TRUE(log->cancelled);
    first.reset();
    EXPECT_TRUE(log->destroyed);
    auto second = connect({"", id});
    second->link.take();
    second->send({{"type", "response.create"}});
    ASSERT_EQ(source.calls.at(1).request.messages.size(), 1u);
    EXPECT_EQ(source.calls[1].request.messages[0].text, "interrupted");
    EXPECT_EQ(metrics.responses_active.value(), 1);
}


// ---------------------------------------------------------------------------------------
// spoken replies (output_modalities ["audio"]); the TTS is driven by hand

class SpokenReplyTest : public RealtimeSessionTest {
protected:
    std::unique_ptr<Client> open_speaking(Json audio = Json::object()) {
        context().text_to_speech = &tts;
        auto client = open();
        Json session = {{"output_modalities", {"audio"}}};
        if (!audio.empty()) session["audio"] = audio;
        client->send({{"type", "session.update"}, {"session", session}});
        auto updated = client->link.take();
        EXPECT_EQ(updated.at(0)["session"]["output_modalities"], Json({"audio"}));
        return client;
    }
    // Streams "Hi there. Bye" from the model: "Hi there." is cut at once, "Bye" at the end.
    void stream_reply(Client& client) {
        client.send({{"type", "response.create"}});
        source.last().on_text_delta("Hi there.");
        source.last().on_text_delta(" Bye");
    }
};

TEST_F(SpokenReplyTest, TranscriptAndAudioStreamAsEachPiecePlaysAndTheResponseEndsAfterTheSpeech) {
    auto client = open_speaking();
    stream_reply(*client);
    EXPECT_EQ(types(client->link.take()), std::vector<std::string>{"response.created"});
    ASSERT_EQ(tts.calls.size(), 1u);
    EXPECT_EQ(tts.calls[0].request.text, "Hi there.");
    tts.speak(0, 100);
    auto events = client->link.take();
    EXPECT_EQ(types(events), (std::vector<std::string>{"response.output_item.added", "conversation.item.added",
                                                        "response.content_part.added",
                                                        "response.output_audio_transcript.delta",
                                                        "response.output_audio.delta"}));
    EXPECT_EQ(events[2]["part"], (Json{{"type", "audio"}, {"transcript", ""}}));
    EXPECT_EQ(events[3]["delta"], "Hi there.");
    EXPECT_EQ(events[4]["delta"].get<std::string>().size(), 100u * 48 * 4 / 3);  // 100 ms of PCM16 24 kHz, base64
    EXPECT_EQ(events[4]["item_id"], events[0]["item"]["id"]);
    source.done();  // the model is done; " Bye" is still to be spoken
    EXPECT_TRUE(client->link.take().empty());
    ASSERT_EQ(tts.calls.size(), 2u);
    EXPECT_EQ(tts.calls[1].request.text, "Bye");
    tts.speak(1, 60);
    events = client->link.take();
    EXPECT_EQ(types(events), (std::vector<std::string>{"response.output_audio_transcript.delta",
                                                        "response.output_audio.delta", "response.output_audio.done",
                                                        "response.output_audio_transcript.done",
                                                        "response.content_part.done", "response.output_item.done",
                                                        "conversation.item.done", "response.done"}));
    EXPECT_EQ(events[0]["delta"], " Bye");
    EXPECT_EQ(events[3]["transcript"], "Hi there. Bye");
    const Json& response = events.back()["response"];
    EXPECT_EQ(response["status"], "completed");
    EXPECT_EQ(response["output_modalities"], Json({"audio"}));
    EXPECT_EQ(response["output"][0]["content"][0], (Json{{"type", "output_audio"}, {"transcript", "Hi there. Bye"}}));
    EXPECT_EQ(metrics.output_audio_ms.value(), 160u);
    // The next request gives the model what it said.
    add_user(*client, "and?");
    client->send({{"type", "response.create"}});
    ASSERT_EQ(source.calls.size(), 2u);
    EXPECT_EQ(source.calls[1].request.messages.at(0).text, "Hi there. Bye");
}

TEST_F(SpokenReplyTest, TelephoneFormatAudioIsMuLawAtEightKilohertz) {
    auto client = open_speaking({{"output", {{"format", {{"type", "audio/pcmu"}}}}}});
    stream_reply(*client);
    tts.speak(0, 100);
    std::size_t bytes = 0;
    for (const auto& event : client->link.take())
        if (event["type"] == "response.output_audio.delta") bytes += event["delta"].get<std::string>().size() / 4 * 3;
    // 100 ms at 8 kHz, one byte a sample (the scripted TTS makes 24 kHz: resampled).
    EXPECT_NEAR(static_cast<double>(bytes), 800, 12);
}

TEST_F(SpokenReplyTest, BargeInStopsTheSpeechAndTheHistoryKeepsOnlyWhatWasSpoken) {
    auto client = open_speaking();
    stream_reply(*client);
    tts.speak(0, 300, false);  // "Hi there." is playing: about half of it was sent
    client->link.take();
    client->send(user_message("wait"));  // the user speaks (types) over the reply
    EXPECT_TRUE(tts.calls[0].log->cancelled);
    EXPECT_EQ(tts.calls.size(), 1u);  // "Bye" never spoken
    ASSERT_EQ(source.calls.size(), 1u);
    EXPECT_TRUE(source.calls[0].log->cancelled);
    client->send({{"type", "response.create"}});
    ASSERT_EQ(source.calls.size(), 2u);
    // 300 ms of a piece estimated at 65 ms a character (SpokenTimeline): "Hi", not "Hi there.".
    EXPECT_EQ(source.calls[1].request.messages.at(0).text, "Hi");
}

TEST_F(SpokenReplyTest, TruncateByAudioEndMsKeepsWhatTheListenerHeard) {
    auto client = open_speaking();
    stream_reply(*client);
    tts.speak(0, 1000);
    source.done();
    tts.speak(1, 1000);
    std::string item_id;
    for (const auto& event : client->link.take())
        if (event["type"] == "conversation.item.done") item_id = event["item"]["id"];
    ASSERT_FALSE(item_id.empty());
    client->send({{"type", "conversation.item.truncate"}, {"event_id", "t1"}, {"item_id", item_id},
                  {"content_index", 0}, {"audio_end_ms", 2500}});
    auto events = client->link.take();
    ASSERT_EQ(types(events), std::vector<std::string>{"error"});
    EXPECT_EQ(events[0]["error"]["param"], "audio_end_ms");
    client->send({{"type", "conversation.item.truncate"}, {"item_id", item_id}, {"content_index", 0}, {"audio_end_ms", 1200}});
    events = client->link.take();
    ASSERT_EQ(types(events), std::vector<std::string>{"conversation.item.truncated"});
    EXPECT_EQ(events[0]["audio_end_ms"], 1200);
    client->send({{"type", "conversation.item.retrieve"}, {"item_id", item_id}});
    EXPECT_EQ(client->link.take().at(0)["item"]["content"][0]["transcript"], "Hi there.");
}

TEST_F(SpokenReplyTest, OutputAudioBufferClearStopsTheSpokenReply) {
    auto client = open_speaking();
    stream_reply(*client);
    tts.speak(0, 40, false);
    client->link.take();
    client->send({{"type", "output_audio_buffer.clear"}});
    auto events = client->link.take();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back()["type"], "output_audio_buffer.cleared");
    EXPECT_EQ(events[events.size() - 2]["type"], "response.done");
    EXPECT_EQ(events[events.size() - 2]["response"]["status"], "cancelled");
    EXPECT_EQ(events.back()["response_id"], events[events.size() - 2]["response"]["id"]);
    EXPECT_TRUE(tts.calls[0].log->cancelled);
}

TEST_F(SpokenReplyTest, AFailedSynthesisFailsTheResponseWithItsErrorAndTheSessionGoesOn) {
    auto client = open_speaking();
    stream_reply(*client);
    client->link.take();  // response.created
    tts.fail(0, "speech_busy");
    auto events = client->link.take();
    ASSERT_GE(events.size(), 2u);
    EXPECT_EQ(events[0]["type"], "error");
    EXPECT_EQ(events[0]["error"]["code"], "speech_busy");
    EXPECT_EQ(events.back()["type"], "response.done");
    EXPECT_EQ(events.back()["response"]["status"], "failed");
    EXPECT_TRUE(source.calls[0].log->cancelled);
    EXPECT_EQ(metrics.speech_failed.value(), 1u);
    stream_reply(*client);
    EXPECT_EQ(source.calls.size(), 2u);
    EXPECT_FALSE(client->link.closed);
}

TEST_F(SpokenReplyTest, ASlowClientPausesTheSynthesis) {
    auto client = open_speaking();
    stream_reply(*client);
    client->session->on_send_queue_high();
    EXPECT_EQ(tts.calls[0].log->pauses, 1);
    client->session->on_send_queue_low();
    EXPECT_EQ(tts.calls[0].log->resumes, 1);
}

TEST_F(SpokenReplyTest, AResponseMayAskForTextInASpeakingSessionAndTheReverse) {
    auto client = open_speaking();
    client->send({{"type", "response.create"}, {"response", {{"output_modalities", {"text"}}}}});
    source.last().on_text_delta("Plain.");
    source.done();
    EXPECT_TRUE(tts.calls.empty());
    auto events = client->link.take();
    EXPECT_EQ(events.back()["response"]["output_modalities"], Json({"text"}));
}

}  // namespace
}  // namespace voxgate::session
