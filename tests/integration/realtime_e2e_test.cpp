// End-to-end tests of the Realtime protocol as a client sees it: a real gateway on
// 127.0.0.1 (TestGateway, every layer wired), a real WebSocket client, and a MockUpstream
// provider that the gateway reaches over real sockets through curl. Each test tells the
// mock what to stream through a "[mock ...]" directive in the user's text, and reads back
// what the provider was sent from the mock's request log.
//
// No test asserts timing: waits are generous deadlines, never measurements.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/mock_upstream.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace websocket = boost::beast::websocket;

// ---------------------------------------------------------------------------------------
// Given: a gateway whose every model is routed to one mock provider

ProviderConfig mock_provider(const MockUpstream& mock, const std::string& kind) {
    ProviderConfig provider;
    provider.name = "mock";
    provider.kind = kind;
    // OpenAI-compatible base URLs end in /v1; the Anthropic codec appends /v1/messages itself.
    provider.base_url = kind == "openai" ? mock.base_url() + "/v1" : mock.base_url();
    provider.api_key = "sk-e2e-dummy-key";  // resolved directly: no environment variable involved
    provider.max_retries = 1;
    provider.timeouts.connect = 10s;
    provider.timeouts.first_token = 30s;
    provider.timeouts.idle = 30s;
    provider.timeouts.total = 120s;
    return provider;
}

Config gateway_config(const MockUpstream& mock, const std::string& kind = "openai") {
    Config config = test_config();
    config.providers = {mock_provider(mock, kind)};
    config.routes = {{"*", {"mock"}}};
    return config;
}

// One client connection speaking the Realtime protocol. The first event is read at once:
// session.created must come first, before the client says anything.
class RealtimeClient {
public:
    explicit RealtimeClient(std::uint16_t port, const std::string& query = "?model=gpt-e2e",
                            int receive_buffer_bytes = 0)
        : ws_(WsClient::connect(port, {.target = "/v1/realtime" + query,
                                       .read_timeout = 30s,
                                       .receive_buffer_bytes = receive_buffer_bytes})),
          first_event_(ws_->read_json()) {}

    const json& first_event() const { return first_event_; }
    std::string session_id() const { return first_event_["session"].value("id", ""); }

    void send(const json& event) { ws_->send_text(event.dump()); }
    void send_raw(const std::string& text) { ws_->send_text(text); }
    json next() { return ws_->read_json(); }
    json next_of(const std::string& type) { return ws_->read_until(type); }
    // Every event up to and including the first of `type`.
    std::vector<json> read_through(const std::string& type) {
        std::vector<json> events;
        for (;;) {
            events.push_back(ws_->read_json());
            if (events.back().value("type", "") == type) return events;
        }
    }
    WsClient& ws() { return *ws_; }

private:
    std::unique_ptr<WsClient> ws_;
    json first_event_;
};

json user_message(const std::string& text, const std::string& event_id = "") {
    json event = {{"type", "conversation.item.create"},
                  {"item", {{"type", "message"}, {"role", "user"}, {"content", {{{"type", "input_text"}, {"text", text}}}}}}};
    if (!event_id.empty()) event["event_id"] = event_id;
    return event;
}

json response_create(const std::string& event_id = "") {
    json event = {{"type", "response.create"}};
    if (!event_id.empty()) event["event_id"] = event_id;
    return event;
}

json session_update(json session, const std::string& event_id = "") {
    json event = {{"type", "session.update"}, {"session", std::move(session)}};
    if (!event_id.empty()) event["event_id"] = event_id;
    return event;
}

json function_call_output(const std::string& call_id, const std::string& output) {
    return {{"type", "conversation.item.create"},
            {"item", {{"type", "function_call_output"}, {"call_id", call_id}, {"output", output}}}};
}

const json weather_tool = {{"type", "function"},
                           {"name", "get_weather"},
                           {"description", "Current weather in a city"},
                           {"parameters",
                            {{"type", "object"},
                             {"properties", {{"city", {{"type", "string"}}}}},
                             {"required", {"city"}}}}};

std::vector<std::string> types_of(const std::vector<json>& events) {
    std::vector<std::string> types;
    for (const auto& event : events) types.push_back(event.value("type", "?"));
    return types;
}

std::string joined_deltas(const std::vector<json>& events, const std::string& type = "response.output_text.delta") {
    std::string text;
    for (const auto& event : events)
        if (event.value("type", "") == type) text += event["delta"].get<std::string>();
    return text;
}

const json* find_type(const std::vector<json>& events, const std::string& type) {
    for (const auto& event : events)
        if (event.value("type", "") == type) return &event;
    return nullptr;
}

// The user message goes in (added + done), then one response runs to response.done.
// Returns the response's events, response.created .. response.done.
std::vector<json> run_turn(RealtimeClient& client, const std::string& user_text) {
    client.send(user_message(user_text));
    client.read_through("conversation.item.done");
    client.send(response_create());
    return client.read_through("response.done");
}

json request_body(const MockUpstream& mock, std::size_t index) {
    const auto requests = mock.requests();
    if (index >= requests.size()) return json();
    return json::parse(requests[index].body, nullptr, false);
}

// (role, text) of each message of an OpenAI Chat Completions request body.
std::vector<std::pair<std::string, std::string>> openai_messages(const json& body) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!body.is_object() || !body.contains("messages")) return out;
    for (const auto& message : body["messages"]) {
        const json& content = message.contains("content") ? message["content"] : json();
        out.emplace_back(message.value("role", ""), content.is_string() ? content.get<std::string>() : content.dump());
    }
    return out;
}

using Messages = std::vector<std::pair<std::string, std::string>>;

// Reads until the server closes; returns the close code it sent.
std::uint16_t read_until_closed(WsClient& ws) {
    while (ws.read()) {
    }
    return static_cast<std::uint16_t>(ws.close_reason().code);
}

// ---------------------------------------------------------------------------------------
// Session

TEST(RealtimeE2E, SessionCreatedIsTheFirstEventWithTheQueryModelAndTextOutput) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port(), "?model=gpt-e2e-model");

    const json& created = client.first_event();
    EXPECT_EQ(created.value("type", ""), "session.created") << created.dump();
    EXPECT_TRUE(created.value("event_id", "").starts_with("event_")) << created.dump();
    const json& session = created["session"];
    EXPECT_TRUE(session.value("id", "").starts_with("sess_")) << session.dump();
    EXPECT_GT(session.value("id", "").size(), 5u);
    EXPECT_EQ(session.value("model", ""), "gpt-e2e-model");
    EXPECT_EQ(session["output_modalities"], json::array({"text"}));
    EXPECT_EQ(session.value("type", ""), "realtime");
}

TEST(RealtimeE2E, SessionUpdateAnswersWithTheEffectiveSettingsAndTheNextRequestCarriesThem) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());

    client.send(session_update({{"type", "realtime"},
                                {"instructions", "Answer like a pirate."},
                                {"tools", {weather_tool}},
                                {"tool_choice", "required"},
                                {"max_output_tokens", 64}},
                               "evt_update"));
    const json updated = client.next();
    ASSERT_EQ(updated.value("type", ""), "session.updated") << updated.dump();
    const json& session = updated["session"];
    EXPECT_EQ(session.value("id", ""), client.session_id());
    EXPECT_EQ(session.value("instructions", ""), "Answer like a pirate.");
    ASSERT_EQ(session["tools"].size(), 1u) << session.dump();
    EXPECT_EQ(session["tools"][0].value("name", ""), "get_weather");
    EXPECT_EQ(session["tools"][0].value("type", ""), "function");
    EXPECT_EQ(session["tools"][0]["parameters"], weather_tool["parameters"]);
    EXPECT_EQ(session["tool_choice"], "required");
    EXPECT_EQ(session["max_output_tokens"], 64);

    const auto events = run_turn(client, "Hi [mock tokens=2]");
    EXPECT_EQ(events.back()["response"].value("status", ""), "completed") << events.back().dump();

    ASSERT_EQ(mock.request_count(), 1u);
    const json body = request_body(mock, 0);
    const Messages messages = openai_messages(body);
    ASSERT_GE(messages.size(), 2u) << body.dump();
    EXPECT_EQ(messages[0], (std::pair<std::string, std::string>{"system", "Answer like a pirate."}));
    EXPECT_EQ(messages.back(), (std::pair<std::string, std::string>{"user", "Hi [mock tokens=2]"}));
    ASSERT_TRUE(body.contains("tools")) << body.dump();
    ASSERT_EQ(body["tools"].size(), 1u);
    EXPECT_EQ(body["tools"][0]["function"].value("name", ""), "get_weather");
    EXPECT_EQ(body["tools"][0]["function"]["parameters"], weather_tool["parameters"]);
    EXPECT_EQ(body["tool_choice"], "required");
    EXPECT_EQ(body["max_completion_tokens"], 64);
}

// ---------------------------------------------------------------------------------------
// Text turns

TEST(RealtimeE2E, OneTextTurnStreamsTheExactEventSequenceWithLinkedIds) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    const std::vector<std::string> tokens = {"Bon", "jour", ",", "_le", "_monde", "é!"};

    client.send(user_message("Greet me [mock texts=Bon|jour|,|_le|_monde|é!]", "evt_item"));
    const json user_added = client.next();
    const json user_done = client.next();
    ASSERT_EQ(user_added.value("type", ""), "conversation.item.added") << user_added.dump();
    ASSERT_EQ(user_done.value("type", ""), "conversation.item.done") << user_done.dump();
    const std::string user_item_id = user_added["item"].value("id", "");
    EXPECT_FALSE(user_item_id.empty());
    EXPECT_EQ(user_done["item"].value("id", ""), user_item_id);
    EXPECT_EQ(user_added["item"].value("role", ""), "user");
    EXPECT_EQ(user_added["item"]["content"][0].value("text", ""), "Greet me [mock texts=Bon|jour|,|_le|_monde|é!]");
    EXPECT_TRUE(user_added["previous_item_id"].is_null());

    client.send(response_create("evt_response"));
    const auto events = client.read_through("response.done");

    std::vector<std::string> expected = {"response.created", "response.output_item.added", "conversation.item.added",
                                         "response.content_part.added"};
    expected.insert(expected.end(), tokens.size(), "response.output_text.delta");
    for (const char* type : {"response.output_text.done", "response.content_part.done", "response.output_item.done",
                             "conversation.item.done", "response.done"})
        expected.emplace_back(type);
    ASSERT_EQ(types_of(events), expected);

    std::string full_text;
    for (const auto& token : tokens) full_text += token;

    const json& created = events[0]["response"];
    const std::string response_id = created.value("id", "");
    EXPECT_TRUE(response_id.starts_with("resp_")) << created.dump();
    EXPECT_EQ(created.value("status", ""), "in_progress");
    EXPECT_EQ(created["output"], json::array());

    const json& item_added = events[1];
    EXPECT_EQ(item_added.value("response_id", ""), response_id);
    EXPECT_EQ(item_added.value("output_index", -1), 0);
    const std::string item_id = item_added["item"].value("id", "");
    EXPECT_FALSE(item_id.empty());
    EXPECT_NE(item_id, user_item_id);
    EXPECT_EQ(item_added["item"].value("type", ""), "message");
    EXPECT_EQ(item_added["item"].value("role", ""), "assistant");
    EXPECT_EQ(item_added["item"].value("status", ""), "in_progress");
    EXPECT_EQ(item_added["item"]["content"], json::array());

    const json& conversation_added = events[2];
    EXPECT_EQ(conversation_added["item"].value("id", ""), item_id);
    EXPECT_EQ(conversation_added.value("previous_item_id", ""), user_item_id);

    const json& part_added = events[3];
    EXPECT_EQ(part_added.value("response_id", ""), response_id);
    EXPECT_EQ(part_added.value("item_id", ""), item_id);
    EXPECT_EQ(part_added.value("output_index", -1), 0);
    EXPECT_EQ(part_added.value("content_index", -1), 0);
    EXPECT_EQ(part_added["part"], (json{{"type", "text"}, {"text", ""}}));

    for (std::size_t i = 0; i < tokens.size(); ++i) {
        const json& delta = events[4 + i];
        EXPECT_EQ(delta.value("response_id", ""), response_id);
        EXPECT_EQ(delta.value("item_id", ""), item_id);
        EXPECT_EQ(delta.value("output_index", -1), 0);
        EXPECT_EQ(delta.value("content_index", -1), 0);
        EXPECT_EQ(delta.value("delta", ""), tokens[i]) << "delta " << i;
    }

    const std::size_t closing = 4 + tokens.size();
    const json& text_done = events[closing];
    EXPECT_EQ(text_done.value("response_id", ""), response_id);
    EXPECT_EQ(text_done.value("item_id", ""), item_id);
    EXPECT_EQ(text_done.value("output_index", -1), 0);
    EXPECT_EQ(text_done.value("content_index", -1), 0);
    EXPECT_EQ(text_done.value("text", ""), full_text);

    const json& part_done = events[closing + 1];
    EXPECT_EQ(part_done.value("item_id", ""), item_id);
    EXPECT_EQ(part_done.value("content_index", -1), 0);
    EXPECT_EQ(part_done["part"], (json{{"type", "text"}, {"text", full_text}}));

    const json& item_done = events[closing + 2];
    EXPECT_EQ(item_done.value("response_id", ""), response_id);
    EXPECT_EQ(item_done.value("output_index", -1), 0);
    EXPECT_EQ(item_done["item"].value("id", ""), item_id);
    EXPECT_EQ(item_done["item"].value("status", ""), "completed");
    EXPECT_EQ(item_done["item"]["content"], (json::array({{{"type", "output_text"}, {"text", full_text}}})));

    const json& conversation_done = events[closing + 3];
    EXPECT_EQ(conversation_done["item"].value("id", ""), item_id);
    EXPECT_EQ(conversation_done["item"].value("status", ""), "completed");
    EXPECT_EQ(conversation_done.value("previous_item_id", ""), user_item_id);

    const json& done = events[closing + 4]["response"];
    EXPECT_EQ(done.value("id", ""), response_id);
    EXPECT_EQ(done.value("status", ""), "completed");
    EXPECT_TRUE(done["status_details"].is_null()) << done.dump();
    ASSERT_EQ(done["output"].size(), 1u);
    EXPECT_EQ(done["output"][0].value("id", ""), item_id);
    EXPECT_EQ(done["output"][0]["content"][0].value("text", ""), full_text);
    // The mock reports prompt 10, completion = number of deltas.
    EXPECT_EQ(done["usage"].value("input_tokens", -1), 10) << done.dump();
    EXPECT_EQ(done["usage"].value("output_tokens", -1), static_cast<int>(tokens.size()));
    EXPECT_EQ(done["usage"].value("total_tokens", -1), 10 + static_cast<int>(tokens.size()));

    // Every server event carries its own fresh event_id.
    std::set<std::string> event_ids = {user_added.value("event_id", ""), user_done.value("event_id", "")};
    for (const auto& event : events) event_ids.insert(event.value("event_id", ""));
    EXPECT_EQ(event_ids.size(), events.size() + 2);
    EXPECT_FALSE(event_ids.contains(""));
}

TEST(RealtimeE2E, SecondTurnSendsTheWholeHistoryToTheProvider) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());

    const auto first = run_turn(client, "First question [mock texts=One|_answer]");
    ASSERT_EQ(first.back()["response"].value("status", ""), "completed");
    const auto second = run_turn(client, "Second question [mock texts=Two]");
    ASSERT_EQ(second.back()["response"].value("status", ""), "completed");
    EXPECT_EQ(joined_deltas(second), "Two");

    ASSERT_EQ(mock.request_count(), 2u);
    const Messages expected = {{"user", "First question [mock texts=One|_answer]"},
                               {"assistant", "One_answer"},
                               {"user", "Second question [mock texts=Two]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 1)), expected) << request_body(mock, 1).dump();
}

// ---------------------------------------------------------------------------------------
// Cancel and barge-in

TEST(RealtimeE2E, CancelMidStreamKeepsThePartialTextAndClosesTheUpstreamConnection) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());

    client.send(user_message("Count slowly [mock tokens=200 gap_ms=100]"));
    client.read_through("conversation.item.done");
    client.send(response_create());
    auto events = client.read_through("response.output_text.delta");
    client.send({{"type", "response.cancel"}, {"event_id", "evt_cancel"}});
    const auto rest = client.read_through("response.done");
    events.insert(events.end(), rest.begin(), rest.end());

    const json& done = events.back()["response"];
    EXPECT_EQ(done.value("status", ""), "cancelled") << done.dump();
    EXPECT_EQ(done["status_details"].value("type", ""), "cancelled");
    EXPECT_EQ(done["status_details"].value("reason", ""), "client_cancelled");
    const std::string partial = joined_deltas(events);
    ASSERT_FALSE(partial.empty());
    ASSERT_EQ(done["output"].size(), 1u) << done.dump();
    EXPECT_EQ(done["output"][0].value("status", ""), "incomplete");
    EXPECT_EQ(done["output"][0]["content"][0].value("text", ""), partial);
    const json* text_done = find_type(events, "response.output_text.done");
    ASSERT_NE(text_done, nullptr);
    EXPECT_EQ(text_done->value("text", ""), partial);

    // The provider's stream was cut: the mock sees its connection closed long before its
    // 200 tokens x 100 ms would have ended it.
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 15s)) << mock.open_connections() << " still open";

    const auto next = run_turn(client, "And now? [mock tokens=1]");
    ASSERT_EQ(next.back()["response"].value("status", ""), "completed");
    ASSERT_EQ(mock.request_count(), 2u);
    const Messages expected = {{"user", "Count slowly [mock tokens=200 gap_ms=100]"},
                               {"assistant", partial},
                               {"user", "And now? [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 1)), expected);
}

TEST(RealtimeE2E, UserItemDuringAStreamingResponseCancelsItAsTurnDetected) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());

    client.send(user_message("Talk a lot [mock tokens=200 gap_ms=100]"));
    client.read_through("conversation.item.done");
    client.send(response_create());
    client.read_through("response.output_text.delta");

    client.send(user_message("Stop, new question", "evt_barge"));
    const auto events = client.read_through("response.done");
    const json& done = events.back()["response"];
    EXPECT_EQ(done.value("status", ""), "cancelled") << done.dump();
    EXPECT_EQ(done["status_details"].value("reason", ""), "turn_detected");

    // The interrupting item enters the conversation after the cancelled response ended.
    const json added = client.next_of("conversation.item.added");
    EXPECT_EQ(added["item"].value("role", ""), "user");
    EXPECT_EQ(added["item"]["content"][0].value("text", ""), "Stop, new question");
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 15s));
}

TEST(RealtimeE2E, SecondResponseCreateWhileOneIsActiveIsRefusedWithTheEventId) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());

    client.send(user_message("Slow one [mock tokens=200 gap_ms=100]"));
    client.read_through("conversation.item.done");
    client.send(response_create());
    const json created = client.next_of("response.created");
    client.send(response_create("evt_second"));
    std::vector<json> skipped;
    const json error = client.ws().read_until("error", &skipped);
    EXPECT_EQ(error["error"].value("code", ""), "conversation_already_has_active_response") << error.dump();
    EXPECT_EQ(error["error"].value("event_id", ""), "evt_second");
    EXPECT_EQ(find_type(skipped, "response.created"), nullptr) << "a second response was started";

    // The first response is unaffected and can still be cancelled.
    client.send({{"type", "response.cancel"}});
    const json done = client.next_of("response.done");
    EXPECT_EQ(done["response"].value("id", ""), created["response"].value("id", ""));
    EXPECT_EQ(done["response"].value("status", ""), "cancelled");
}

TEST(RealtimeE2E, CancelBeforeTheFirstTokenEndsWithNoOutputAndLeavesNoAssistantTurn) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());

    // The mock notices a closed connection only when it next writes, here after 2 s. Had
    // the gateway let the stream run, the connection would stay open afterwards, idle in
    // curl's pool; a transfer cancelled mid-response cannot go back there.
    client.send(user_message("Think long [mock tokens=3 first_ms=2000]"));
    client.read_through("conversation.item.done");
    client.send(response_create());
    client.next_of("response.created");
    ASSERT_TRUE(eventually([&] { return mock.request_count() == 1; })) << "the provider was never asked";
    client.send({{"type", "response.cancel"}});
    const auto events = client.read_through("response.done");
    EXPECT_EQ(types_of(events), std::vector<std::string>{"response.done"});
    const json& done = events.back()["response"];
    EXPECT_EQ(done.value("status", ""), "cancelled");
    EXPECT_EQ(done["output"], json::array());
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 15s));

    run_turn(client, "Quick one [mock tokens=1]");
    const Messages expected = {{"user", "Think long [mock tokens=3 first_ms=2000]"},
                               {"user", "Quick one [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 1)), expected);
}

TEST(RealtimeE2E, ResponseCancelWithNothingActiveIsAnErrorAndNothingElse) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    client.send({{"type", "response.cancel"}, {"event_id", "evt_idle_cancel"}});
    const json error = client.next();
    EXPECT_EQ(error["error"].value("code", ""), "response_cancel_not_active") << error.dump();
    EXPECT_EQ(error["error"].value("event_id", ""), "evt_idle_cancel");
    EXPECT_EQ(run_turn(client, "Still fine? [mock tokens=1]").back()["response"].value("status", ""), "completed");
}

TEST(RealtimeE2E, ClientDisconnectMidStreamStopsTheUpstreamAndKeepsThePartialTextForResume) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    std::string session_id;
    std::string seen;
    {
        RealtimeClient client(gateway.port());
        session_id = client.session_id();
        client.send(user_message("Long story [mock tokens=200 gap_ms=100]"));
        client.read_through("conversation.item.done");
        client.send(response_create());
        seen = joined_deltas(client.read_through("response.output_text.delta"));
        client.ws().close();
    }
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 15s)) << "the provider stream outlived its client";

    RealtimeClient again(gateway.port(), "?session_id=" + session_id);
    ASSERT_EQ(again.session_id(), session_id);
    run_turn(again, "Where was I? [mock tokens=1]");
    const Messages messages = openai_messages(request_body(mock, 1));
    ASSERT_EQ(messages.size(), 3u) << request_body(mock, 1).dump();
    EXPECT_EQ(messages[1].first, "assistant");
    // The gateway may have streamed a little more than the client read before it left.
    EXPECT_TRUE(messages[1].second.starts_with(seen)) << messages[1].second << " vs " << seen;
    EXPECT_LT(messages[1].second.size(), std::string(" tok199").size() * 200);
}

TEST(RealtimeE2E, TakeoverDuringAStreamingResponseCancelsItAndTheNewConnectionSeesThePartialText) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient first(gateway.port());
    first.send(user_message("Long story [mock tokens=200 gap_ms=100]"));
    first.read_through("conversation.item.done");
    first.send(response_create());
    first.read_through("response.output_text.delta");

    RealtimeClient second(gateway.port(), "?session_id=" + first.session_id());
    ASSERT_EQ(second.session_id(), first.session_id());
    const auto events = first.read_through("response.done");
    EXPECT_EQ(events.back()["response"].value("status", ""), "cancelled") << events.back().dump();
    const std::string partial = events.back()["response"]["output"][0]["content"][0].value("text", "");
    EXPECT_FALSE(partial.empty());
    EXPECT_EQ(first.next()["error"].value("code", ""), "session_taken_over");
    EXPECT_EQ(read_until_closed(first.ws()), 4000);
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 15s));

    run_turn(second, "Go on [mock tokens=1]");
    const Messages expected = {{"user", "Long story [mock tokens=200 gap_ms=100]"},
                               {"assistant", partial},
                               {"user", "Go on [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 1)), expected);
}

TEST(RealtimeE2E, OutOfBandResponseStaysOutOfTheConversation) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    run_turn(client, "Hello [mock texts=Hi]");

    client.send({{"type", "response.create"},
                 {"response", {{"conversation", "none"}, {"instructions", "Classify the topic."},
                               {"metadata", {{"purpose", "classifier"}}}}}});
    const auto events = client.read_through("response.done");
    EXPECT_EQ(find_type(events, "conversation.item.added"), nullptr) << "out-of-band output entered the conversation";
    EXPECT_EQ(find_type(events, "conversation.item.done"), nullptr);
    const json& done = events.back()["response"];
    EXPECT_EQ(done.value("status", ""), "completed");
    EXPECT_TRUE(done["conversation_id"].is_null()) << done.dump();
    EXPECT_EQ(done["metadata"], (json{{"purpose", "classifier"}}));
    const Messages oob = openai_messages(request_body(mock, 1));
    ASSERT_FALSE(oob.empty());
    EXPECT_EQ(oob.front(), (std::pair<std::string, std::string>{"system", "Classify the topic."}));

    run_turn(client, "Again [mock tokens=1]");
    const Messages expected = {{"user", "Hello [mock texts=Hi]"}, {"assistant", "Hi"}, {"user", "Again [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 2)), expected);
}

TEST(RealtimeE2E, ResponseInputReplacesTheConversationForThatResponse) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    client.send(user_message("Kept item [mock tokens=1]"));
    const std::string kept_id = client.next_of("conversation.item.added")["item"].value("id", "");
    client.next_of("conversation.item.done");
    client.send(user_message("Ignored item"));
    client.next_of("conversation.item.done");

    client.send({{"type", "response.create"},
                 {"response",
                  {{"input",
                    {{{"type", "item_reference"}, {"id", kept_id}},
                     {{"type", "message"}, {"role", "user"}, {"content", {{{"type", "input_text"}, {"text", "Extra"}}}}}}}}}});
    const auto events = client.read_through("response.done");
    EXPECT_EQ(events.back()["response"].value("status", ""), "completed") << events.back().dump();
    const Messages expected = {{"user", "Kept item [mock tokens=1]"}, {"user", "Extra"}};
    EXPECT_EQ(openai_messages(request_body(mock, 0)), expected);
}

TEST(RealtimeE2E, DeletedAndTruncatedItemsChangeWhatTheProviderSeesNext) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    const auto first = run_turn(client, "Say something [mock texts=Hello|_there|_friend]");
    const std::string assistant_id = find_type(first, "response.output_item.added")->at("item").value("id", "");

    client.send({{"type", "conversation.item.truncate"}, {"event_id", "evt_trunc"}, {"item_id", assistant_id},
                 {"content_index", 0}, {"audio_end_ms", 0}, {"text_end", 5}});
    const json truncated = client.next();
    EXPECT_EQ(truncated.value("type", ""), "conversation.item.truncated") << truncated.dump();
    EXPECT_EQ(truncated.value("item_id", ""), assistant_id);
    client.send({{"type", "conversation.item.retrieve"}, {"item_id", assistant_id}});
    const json retrieved = client.next();
    EXPECT_EQ(retrieved["item"]["content"][0].value("text", ""), "Hello") << retrieved.dump();

    client.send(user_message("Throwaway"));
    const std::string throwaway_id = client.next_of("conversation.item.added")["item"].value("id", "");
    client.next_of("conversation.item.done");
    client.send({{"type", "conversation.item.delete"}, {"item_id", throwaway_id}});
    const json deleted = client.next();
    EXPECT_EQ(deleted.value("type", ""), "conversation.item.deleted") << deleted.dump();
    EXPECT_EQ(deleted.value("item_id", ""), throwaway_id);

    run_turn(client, "Next [mock tokens=1]");
    const Messages expected = {
        {"user", "Say something [mock texts=Hello|_there|_friend]"}, {"assistant", "Hello"}, {"user", "Next [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 1)), expected);
}

TEST(RealtimeE2E, ModelChangedBySessionUpdateRoutesTheNextRequest) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port(), "?model=first-model");
    run_turn(client, "One [mock tokens=1]");
    client.send(session_update({{"model", "second-model"}}));
    EXPECT_EQ(client.next_of("session.updated")["session"].value("model", ""), "second-model");
    run_turn(client, "Two [mock tokens=1]");
    EXPECT_EQ(request_body(mock, 0).value("model", ""), "first-model");
    EXPECT_EQ(request_body(mock, 1).value("model", ""), "second-model");
}

TEST(RealtimeE2E, MultiByteTextSplitIntoSingleByteChunksArrivesIntact) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    // split=1: every byte of the SSE stream is its own HTTP chunk, so curl hands the gateway
    // UTF-8 characters, JSON strings and event boundaries cut everywhere.
    const auto events = run_turn(client, "Unicode [mock texts=héllo|_wörld|_日本語|_🎉 split=1]");
    EXPECT_EQ(events.back()["response"].value("status", ""), "completed") << events.back().dump();
    EXPECT_EQ(joined_deltas(events), "héllo_wörld_日本語_🎉");
    EXPECT_EQ(find_type(events, "response.output_text.done")->value("text", ""), "héllo_wörld_日本語_🎉");
}

TEST(RealtimeE2E, AnthropicTextTurnCarriesInstructionsAsSystemAndReportsUsage) {
    MockUpstream mock;
    Config config = gateway_config(mock, "anthropic");
    config.sessions.instructions = "Be brief.";
    TestGateway gateway(config);
    RealtimeClient client(gateway.port(), "?model=claude-e2e");
    const auto events = run_turn(client, "Hello [mock texts=Hi|_there]");
    EXPECT_EQ(joined_deltas(events), "Hi_there");
    const json& done = events.back()["response"];
    EXPECT_EQ(done.value("status", ""), "completed") << done.dump();
    EXPECT_EQ(done["usage"].value("input_tokens", -1), 10) << done.dump();
    EXPECT_EQ(done["usage"].value("output_tokens", -1), 2);
    EXPECT_EQ(done["usage"].value("total_tokens", -1), 12);
    const json body = request_body(mock, 0);
    EXPECT_EQ(body.value("system", ""), "Be brief.") << body.dump();
    EXPECT_EQ(body["messages"].size(), 1u);
    EXPECT_EQ(mock.requests()[0].header("x-api-key"), "sk-e2e-dummy-key");
}

TEST(RealtimeE2E, TextThenToolCallInOneResponseBecomesTwoOutputItemsAndOneAssistantTurn) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    client.send(session_update({{"tools", {weather_tool}}}));
    client.next_of("session.updated");

    const auto events = run_turn(client, R"(Weather? [mock texts=Let_me|_check tool=get_weather args={"city":"Oslo"}])");
    const json& done = events.back()["response"];
    ASSERT_EQ(done["output"].size(), 2u) << done.dump();
    EXPECT_EQ(done["output"][0].value("type", ""), "message");
    EXPECT_EQ(done["output"][0]["content"][0].value("text", ""), "Let_me_check");
    EXPECT_EQ(done["output"][1].value("type", ""), "function_call");
    const std::string call_id = done["output"][1].value("call_id", "");
    // The text item is closed before the call's item opens; the call sits at output_index 1.
    std::vector<std::string> order;
    for (const auto& event : events) {
        const std::string type = event.value("type", "");
        if (type.starts_with("response.output_item.")) order.push_back(type + "#" + std::to_string(event.value("output_index", -1)));
    }
    EXPECT_EQ(order, (std::vector<std::string>{"response.output_item.added#0", "response.output_item.done#0",
                                               "response.output_item.added#1", "response.output_item.done#1"}));
    for (const auto& event : events) {
        if (event.value("type", "") == "response.function_call_arguments.delta") {
            EXPECT_EQ(event.value("output_index", -1), 1);
        }
    }

    client.send(function_call_output(call_id, "{\"temp_c\":3}"));
    client.next_of("conversation.item.done");
    client.send(response_create());
    client.read_through("response.done");
    const json body = request_body(mock, 1);
    const json& messages = body["messages"];
    ASSERT_EQ(messages.size(), 3u) << messages.dump();
    EXPECT_EQ(messages[1].value("role", ""), "assistant");
    EXPECT_EQ(messages[1].value("content", ""), "Let_me_check");
    EXPECT_EQ(messages[1]["tool_calls"][0].value("id", ""), call_id);
    EXPECT_EQ(messages[2].value("role", ""), "tool");
}

// ---------------------------------------------------------------------------------------
// Tool calls

struct ToolCallSeen {
    std::string call_id;
    std::string name;
    std::string arguments;
};

// The function call response: its events in order and the call it carried.
ToolCallSeen expect_function_call_response(const std::vector<json>& events, const std::string& expected_arguments) {
    const std::vector<std::string> types = types_of(events);
    std::vector<std::string> expected = {"response.created", "response.output_item.added", "conversation.item.added"};
    const auto deltas =
        static_cast<std::size_t>(std::count(types.begin(), types.end(), "response.function_call_arguments.delta"));
    EXPECT_GE(deltas, 1u);
    expected.insert(expected.end(), deltas, "response.function_call_arguments.delta");
    for (const char* type : {"response.function_call_arguments.done", "response.output_item.done",
                             "conversation.item.done", "response.done"})
        expected.emplace_back(type);
    EXPECT_EQ(types, expected);

    ToolCallSeen seen;
    const json* added = find_type(events, "response.output_item.added");
    const json* done = find_type(events, "response.function_call_arguments.done");
    if (!added || !done) {
        ADD_FAILURE() << "no function call in the response";
        return seen;
    }
    const std::string response_id = events.front()["response"].value("id", "");
    const json& item = (*added)["item"];
    EXPECT_EQ(item.value("type", ""), "function_call") << item.dump();
    EXPECT_EQ(item.value("name", ""), "get_weather");
    EXPECT_EQ(item.value("arguments", "?"), "");
    seen.call_id = item.value("call_id", "");
    EXPECT_FALSE(seen.call_id.empty());
    for (const auto& event : events) {
        if (event.value("type", "") != "response.function_call_arguments.delta") continue;
        EXPECT_EQ(event.value("response_id", ""), response_id);
        EXPECT_EQ(event.value("item_id", ""), item.value("id", ""));
        EXPECT_EQ(event.value("output_index", -1), 0);
        EXPECT_EQ(event.value("call_id", ""), seen.call_id);
    }
    EXPECT_EQ(joined_deltas(events, "response.function_call_arguments.delta"), expected_arguments);
    EXPECT_EQ(done->value("call_id", ""), seen.call_id);
    EXPECT_EQ(done->value("item_id", ""), item.value("id", ""));
    seen.name = done->value("name", "");
    seen.arguments = done->value("arguments", "");
    EXPECT_EQ(seen.name, "get_weather");
    EXPECT_EQ(seen.arguments, expected_arguments);
    const json& response = events.back()["response"];
    EXPECT_EQ(response.value("status", ""), "completed") << response.dump();
    EXPECT_EQ(response["output"][0].value("type", ""), "function_call");
    EXPECT_EQ(response["output"][0].value("arguments", ""), expected_arguments);
    return seen;
}

const std::string weather_arguments = R"({"city":"Paris"})";
const std::string weather_result = R"({"temp_c":21,"sky":"clear"})";
const std::string weather_question = R"(Weather in Paris? [mock tokens=0 tool=get_weather args={"city":"Paris"}])";

TEST(RealtimeE2E, OpenAiToolCallRoundTrip) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock, "openai"));
    RealtimeClient client(gateway.port());
    client.send(session_update({{"tools", {weather_tool}}}));
    client.next_of("session.updated");

    const ToolCallSeen call = expect_function_call_response(run_turn(client, weather_question), weather_arguments);
    EXPECT_EQ(call.call_id, "call_mock_1");  // the provider's id, kept

    client.send(function_call_output(call.call_id, weather_result));
    const json added = client.next_of("conversation.item.added");
    EXPECT_EQ(added["item"].value("type", ""), "function_call_output");
    client.next_of("conversation.item.done");
    client.send(response_create());
    client.read_through("response.done");

    ASSERT_EQ(mock.request_count(), 2u);
    const json body = request_body(mock, 1);
    const json& messages = body["messages"];
    ASSERT_EQ(messages.size(), 3u) << body.dump();
    EXPECT_EQ(messages[0].value("role", ""), "user");
    EXPECT_EQ(messages[1].value("role", ""), "assistant");
    ASSERT_TRUE(messages[1].contains("tool_calls")) << messages[1].dump();
    const json& tool_call = messages[1]["tool_calls"][0];
    EXPECT_EQ(tool_call.value("id", ""), "call_mock_1");
    EXPECT_EQ(tool_call.value("type", ""), "function");
    EXPECT_EQ(tool_call["function"].value("name", ""), "get_weather");
    EXPECT_EQ(tool_call["function"].value("arguments", ""), weather_arguments);
    EXPECT_EQ(messages[2].value("role", ""), "tool");
    EXPECT_EQ(messages[2].value("tool_call_id", ""), "call_mock_1");
    EXPECT_EQ(messages[2].value("content", ""), weather_result);
    EXPECT_EQ(body["tools"][0]["function"].value("name", ""), "get_weather");
}

TEST(RealtimeE2E, AnthropicToolCallRoundTrip) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock, "anthropic"));
    RealtimeClient client(gateway.port(), "?model=claude-e2e");
    client.send(session_update({{"tools", {weather_tool}}}));
    client.next_of("session.updated");

    const ToolCallSeen call = expect_function_call_response(run_turn(client, weather_question), weather_arguments);
    EXPECT_EQ(call.call_id, "toolu_mock_1");

    client.send(function_call_output(call.call_id, weather_result));
    client.next_of("conversation.item.done");
    client.send(response_create());
    const auto second = client.read_through("response.done");
    EXPECT_EQ(second.back()["response"].value("status", ""), "completed") << second.back().dump();

    ASSERT_EQ(mock.request_count(), 2u);
    EXPECT_TRUE(mock.requests()[1].target.ends_with("/v1/messages")) << mock.requests()[1].target;
    const json body = request_body(mock, 1);
    EXPECT_EQ(body.value("model", ""), "claude-e2e");
    EXPECT_EQ(body["tools"][0].value("name", ""), "get_weather") << body.dump();
    EXPECT_EQ(body["tools"][0]["input_schema"], weather_tool["parameters"]);
    const json& messages = body["messages"];
    ASSERT_EQ(messages.size(), 3u) << body.dump();
    EXPECT_EQ(messages[0].value("role", ""), "user");
    EXPECT_EQ(messages[1].value("role", ""), "assistant");
    EXPECT_EQ(messages[2].value("role", ""), "user");
    const json& tool_use = messages[1]["content"].back();
    EXPECT_EQ(tool_use.value("type", ""), "tool_use") << messages[1].dump();
    EXPECT_EQ(tool_use.value("id", ""), "toolu_mock_1");
    EXPECT_EQ(tool_use.value("name", ""), "get_weather");
    EXPECT_EQ(tool_use["input"], json::parse(weather_arguments));
    const json& tool_result = messages[2]["content"].front();
    EXPECT_EQ(tool_result.value("type", ""), "tool_result") << messages[2].dump();
    EXPECT_EQ(tool_result.value("tool_use_id", ""), "toolu_mock_1");
    EXPECT_EQ(tool_result.value("content", ""), weather_result);
}

// ---------------------------------------------------------------------------------------
// Upstream failures

// response.created .. response.done of a failed response: an `error` event, then
// response.done with status failed and the error in status_details. Returns the error.
json expect_failed_response(const std::vector<json>& events) {
    const json* error = find_type(events, "error");
    if (!error) {
        ADD_FAILURE() << "no error event before response.done";
        return json();
    }
    const json& response = events.back()["response"];
    EXPECT_EQ(response.value("status", ""), "failed") << response.dump();
    const json& details = response["status_details"];
    EXPECT_EQ(details.value("type", ""), "failed") << details.dump();
    EXPECT_TRUE(details.contains("error") && details["error"].is_object()) << details.dump();
    EXPECT_EQ(details["error"].value("type", ""), (*error)["error"].value("type", "?"));
    EXPECT_FALSE((*error)["error"].value("message", "").empty());
    EXPECT_EQ(find_type(events, "response.output_text.delta"), nullptr);
    return (*error)["error"];
}

TEST(RealtimeE2E, ServerErrorsUntilRetriesAreExhaustedFailTheResponse) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));  // max_retries 1
    RealtimeClient client(gateway.port());

    const auto events = run_turn(client, "Hello [mock status=500]");
    const json error = expect_failed_response(events);
    EXPECT_EQ(error.value("type", ""), "server_error") << error.dump();
    EXPECT_EQ(mock.request_count(), 2u) << "one attempt and one retry";

    // The session goes on.
    const auto next = run_turn(client, "Again [mock tokens=1]");
    EXPECT_EQ(next.back()["response"].value("status", ""), "completed");
}

// The provider's own words stay in the log: the client gets a stable code and a fixed text.
TEST(RealtimeE2E, BadRequestFailsAtOnceWithAGenericMessage) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());

    const auto events = run_turn(client, "Hello [mock status=400]");
    const json error = expect_failed_response(events);
    EXPECT_EQ(error.value("code", ""), "upstream_request_rejected") << error.dump();
    EXPECT_EQ(error.value("message", "").find("Invalid request (mock)"), std::string::npos) << error.dump();
    EXPECT_EQ(mock.request_count(), 1u) << "a 400 is not retried";
}

TEST(RealtimeE2E, FailureAfterTokensKeepsThePartialTextMarkedIncomplete) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());

    const auto events = run_turn(client, "Hello [mock tokens=5 reset_after=2]");
    EXPECT_NE(find_type(events, "error"), nullptr);
    const json& done = events.back()["response"];
    EXPECT_EQ(done.value("status", ""), "failed") << done.dump();
    EXPECT_TRUE(done["status_details"].contains("error"));
    EXPECT_EQ(joined_deltas(events), "tok0 tok1");
    ASSERT_EQ(done["output"].size(), 1u);
    EXPECT_EQ(done["output"][0].value("status", ""), "incomplete");
    EXPECT_EQ(mock.request_count(), 1u) << "nothing is retried after tokens streamed";

    run_turn(client, "Again [mock tokens=1]");
    const Messages expected = {{"user", "Hello [mock tokens=5 reset_after=2]"}, {"assistant", "tok0 tok1"},
                               {"user", "Again [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 1)), expected);
}

TEST(RealtimeE2E, FirstTokenTimeoutIsRetriedThenFailsWithUpstreamTimeout) {
    MockUpstream mock;
    Config config = gateway_config(mock);
    config.providers[0].timeouts.first_token = std::chrono::milliseconds(300);
    TestGateway gateway(config);
    RealtimeClient client(gateway.port());

    // As in the cancel test: the mock sees the closed connections when it writes after 2 s.
    const auto events = run_turn(client, "Hello [mock tokens=2 first_ms=2000]");
    const json error = expect_failed_response(events);
    EXPECT_EQ(error.value("code", ""), "upstream_timeout") << error.dump();
    EXPECT_EQ(mock.request_count(), 2u);
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 15s));
}

TEST(RealtimeE2E, MalformedChunkAfterTokensFailsTheResponse) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    const auto events = run_turn(client, "Hello [mock tokens=4 malformed_after=1]");
    EXPECT_EQ(events.back()["response"].value("status", ""), "failed") << events.back().dump();
    EXPECT_EQ(joined_deltas(events), "tok0");
    const json* error = find_type(events, "error");
    ASSERT_NE(error, nullptr);
    EXPECT_EQ((*error)["error"].value("code", ""), "upstream_malformed") << error->dump();
}

// ---------------------------------------------------------------------------------------
// Resume and takeover

TEST(RealtimeE2E, ReconnectWithSessionIdResumesTheConversation) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    std::string session_id;
    {
        RealtimeClient first(gateway.port());
        session_id = first.session_id();
        ASSERT_EQ(run_turn(first, "Remember 42 [mock texts=Noted]").back()["response"].value("status", ""),
                  "completed");
        first.ws().close();
    }
    RealtimeClient again(gateway.port(), "?model=gpt-e2e&session_id=" + session_id);
    ASSERT_EQ(again.first_event().value("type", ""), "session.created") << again.first_event().dump();
    EXPECT_EQ(again.session_id(), session_id);

    ASSERT_EQ(run_turn(again, "What number? [mock tokens=1]").back()["response"].value("status", ""), "completed");
    ASSERT_EQ(mock.request_count(), 2u);
    const Messages expected = {
        {"user", "Remember 42 [mock texts=Noted]"}, {"assistant", "Noted"}, {"user", "What number? [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 1)), expected);
}

TEST(RealtimeE2E, ReconnectAfterTheResumeTtlStartsANewSessionAndSaysSo) {
    MockUpstream mock;
    Config config = gateway_config(mock);
    config.sessions.resume_ttl = 1s;
    TestGateway gateway(config);
    std::string session_id;
    {
        RealtimeClient first(gateway.port());
        session_id = first.session_id();
        run_turn(first, "Remember 42 [mock texts=Noted]");
        first.ws().close();
    }
    std::this_thread::sleep_for(2500ms);  // past the TTL and at least one expiry sweep

    RealtimeClient again(gateway.port(), "?session_id=" + session_id);
    ASSERT_EQ(again.first_event().value("type", ""), "session.created");
    EXPECT_NE(again.session_id(), session_id);
    EXPECT_TRUE(again.session_id().starts_with("sess_"));
    const json error = again.next();
    EXPECT_EQ(error.value("type", ""), "error") << error.dump();
    EXPECT_EQ(error["error"].value("code", ""), "session_not_found");
    EXPECT_EQ(error["error"].value("param", ""), "session_id");

    // The new session starts with an empty history.
    run_turn(again, "What number? [mock tokens=1]");
    const Messages expected = {{"user", "What number? [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 1)), expected);
}

TEST(RealtimeE2E, SecondLiveConnectionWithTheSameSessionIdTakesItOver) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient first(gateway.port());
    run_turn(first, "Remember 42 [mock texts=Noted]");

    RealtimeClient second(gateway.port(), "?session_id=" + first.session_id());
    ASSERT_EQ(second.first_event().value("type", ""), "session.created");
    EXPECT_EQ(second.session_id(), first.session_id());

    const json error = first.next();
    EXPECT_EQ(error.value("type", ""), "error") << error.dump();
    EXPECT_EQ(error["error"].value("code", ""), "session_taken_over");
    EXPECT_EQ(read_until_closed(first.ws()), 4000);

    run_turn(second, "What number? [mock tokens=1]");
    const Messages expected = {
        {"user", "Remember 42 [mock texts=Noted]"}, {"assistant", "Noted"}, {"user", "What number? [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 1)), expected);
}

// ---------------------------------------------------------------------------------------
// Bad input: an `error` with a stable code, and the connection stays usable

class RealtimeBadInput : public ::testing::Test {
protected:
    RealtimeBadInput() : gateway(gateway_config(mock)), client(gateway.port()) {}

    // The error that answers `raw`; then checks that a valid event still works.
    json error_for_raw(const std::string& raw) {
        client.send_raw(raw);
        return error_then_still_usable();
    }
    json error_for(const json& event) { return error_for_raw(event.dump()); }

    json error_then_still_usable() {
        const json error = client.next();
        EXPECT_EQ(error.value("type", ""), "error") << error.dump();
        client.send(session_update({{"instructions", "still here"}}, "evt_after"));
        const json updated = client.next();
        EXPECT_EQ(updated.value("type", ""), "session.updated") << updated.dump();
        EXPECT_EQ(updated["session"].value("instructions", ""), "still here");
        return error.contains("error") ? error["error"] : json::object();
    }

    MockUpstream mock;
    TestGateway gateway;
    RealtimeClient client;
};

TEST_F(RealtimeBadInput, InvalidJson) {
    const json error = error_for_raw(R"({"type":"session.update","event_id":"evt_1",)");
    EXPECT_EQ(error.value("code", ""), "invalid_json");
    EXPECT_EQ(error.value("type", ""), "invalid_request_error");
}

TEST_F(RealtimeBadInput, JsonThatIsNotAnObject) {
    EXPECT_EQ(error_for_raw(R"(["session.update"])").value("code", ""), "invalid_event");
    EXPECT_EQ(error_for_raw("42").value("code", ""), "invalid_event");
}

TEST_F(RealtimeBadInput, MissingType) {
    const json error = error_for({{"event_id", "evt_no_type"}, {"session", json::object()}});
    EXPECT_EQ(error.value("code", ""), "missing_required_parameter");
    EXPECT_EQ(error.value("param", ""), "type");
    EXPECT_EQ(error.value("event_id", ""), "evt_no_type");
}

TEST_F(RealtimeBadInput, UnknownType) {
    const json error = error_for({{"type", "conversation.frobnicate"}, {"event_id", "evt_unknown"}});
    EXPECT_EQ(error.value("code", ""), "unknown_event_type");
    EXPECT_EQ(error.value("event_id", ""), "evt_unknown");
    EXPECT_NE(error.value("message", "").find("conversation.frobnicate"), std::string::npos);
}

TEST_F(RealtimeBadInput, WrongFieldTypeNamesTheField) {
    json error = error_for({{"type", "conversation.item.delete"}, {"event_id", "evt_wrong"}, {"item_id", 42}});
    EXPECT_EQ(error.value("code", ""), "invalid_type");
    EXPECT_EQ(error.value("param", ""), "item_id");
    EXPECT_NE(error.value("message", "").find("item_id"), std::string::npos) << error.dump();
    EXPECT_EQ(error.value("event_id", ""), "evt_wrong");

    error = error_for(session_update({{"instructions", 5}}, "evt_nested"));
    EXPECT_EQ(error.value("code", ""), "invalid_type");
    EXPECT_EQ(error.value("param", ""), "session.instructions");
    EXPECT_NE(error.value("message", "").find("session.instructions"), std::string::npos) << error.dump();
    EXPECT_EQ(error.value("event_id", ""), "evt_nested");
}

TEST_F(RealtimeBadInput, UnknownItemIdForDeleteAndRetrieve) {
    for (const char* type : {"conversation.item.delete", "conversation.item.retrieve"}) {
        const json error = error_for({{"type", type}, {"event_id", "evt_missing"}, {"item_id", "item_nope"}});
        EXPECT_EQ(error.value("code", ""), "item_not_found") << type;
        EXPECT_EQ(error.value("param", ""), "item_id") << type;
        EXPECT_EQ(error.value("event_id", ""), "evt_missing") << type;
    }
}

TEST_F(RealtimeBadInput, BinaryFrame) {
    client.ws().send_binary(std::string("\x00\x01\x02\xff", 4));
    const json error = error_then_still_usable();
    EXPECT_EQ(error.value("code", ""), "binary_not_supported");
}

TEST(RealtimeE2E, EventBurstOverTheRateLimitIsRefusedAndPersistingClosesWith1008) {
    MockUpstream mock;
    Config config = gateway_config(mock);
    // One event per 10 s (a burst of 1): however slowly this loaded machine runs the two
    // events below, the second comes long before a new token. Refill over time is the
    // unit tests' job, on a fake clock (RealtimeSessionTest.RateLimitRejectsThenCloses).
    config.limits.max_events_per_second = 0.1;
    TestGateway gateway(config);
    RealtimeClient client(gateway.port());

    client.send(session_update({{"instructions", "x"}}, "evt_0"));
    EXPECT_EQ(client.next().value("type", ""), "session.updated");
    client.send(session_update({{"instructions", "x"}}, "evt_1"));
    const json reply = client.next();
    EXPECT_EQ(reply.value("type", ""), "error") << reply.dump();
    EXPECT_EQ(reply["error"].value("code", ""), "rate_limit_exceeded") << reply.dump();
    EXPECT_EQ(reply["error"].value("event_id", ""), "evt_1") << reply.dump();
    // Was "more than 5.000000 events per second" (std::to_string of a double); fixed in
    // RealtimeSession::admit_event.
    EXPECT_NE(reply["error"].value("message", "").find("more than 0.1 events per second"), std::string::npos)
        << reply.dump();

    // A client that keeps flooding is closed with 1008 (policy violation): more refusals
    // within a second than the burst, or refusals in 3 seconds in a row, whichever comes
    // first; both happen within these events at any speed. Not many more, so that few
    // frames land on a socket the gateway already closed.
    for (int i = 0; i < 30; ++i) {
        try {
            client.send(session_update({{"instructions", "flood"}}));
        } catch (const boost::system::system_error&) {
            break;  // closed under us
        }
    }
    EXPECT_EQ(read_until_closed(client.ws()), 1008);
}

// ---------------------------------------------------------------------------------------
// Many sessions at once

TEST(RealtimeE2E, ConcurrentSessionsNeverSeeEachOthersEvents) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    constexpr int clients = 20;
    std::mutex failures_mutex;
    std::vector<std::string> failures;
    const auto fail = [&](int who, const std::string& what) {
        const std::lock_guard lock(failures_mutex);
        failures.push_back("client " + std::to_string(who) + ": " + what);
    };

    std::vector<std::thread> threads;
    for (int who = 0; who < clients; ++who) {
        threads.emplace_back([&, who] {
            try {
                RealtimeClient client(gateway.port());
                const std::string tag = "c" + std::to_string(who);
                const std::string expected = tag + "a" + tag + "b" + tag + "c" + tag + "d";
                const auto events = run_turn(
                    client, "Client " + tag + " [mock texts=" + tag + "a|" + tag + "b|" + tag + "c|" + tag + "d gap_ms=5]");
                if (joined_deltas(events) != expected) fail(who, "deltas '" + joined_deltas(events) + "'");
                const std::string response_id = events.front()["response"].value("id", "");
                for (const auto& event : events) {
                    if (event.contains("response_id") && event["response_id"] != response_id)
                        fail(who, "foreign event " + event.dump());
                }
                if (events.back()["response"].value("status", "") != "completed")
                    fail(who, "status " + events.back().dump());
            } catch (const std::exception& e) {
                fail(who, e.what());
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures);
    EXPECT_EQ(mock.request_count(), static_cast<std::size_t>(clients));
}

// ---------------------------------------------------------------------------------------
// Metrics

TEST(RealtimeE2E, MetricsCountTheTurn) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    const auto events = run_turn(client, "Count me [mock tokens=3]");
    ASSERT_EQ(events.back()["response"].value("status", ""), "completed");

    std::string exposition;
    EXPECT_TRUE(eventually([&] {
        exposition = http_get(gateway.port(), "/metrics").body;
        return metric_value(exposition, "voxgate_responses_total", "{status=\"completed\"}") == 1.0;
    })) << exposition;
    EXPECT_EQ(metric_value(exposition, "voxgate_tokens_streamed_total"), 3.0);
    EXPECT_EQ(metric_value(exposition, "voxgate_upstream_requests_total", "{code=\"200\",provider=\"mock\"}"), 1.0);
    EXPECT_EQ(metric_value(exposition, "voxgate_response_first_token_seconds_count"), 1.0);
    EXPECT_EQ(metric_value(exposition, "voxgate_gateway_overhead_seconds_count"), 1.0);
    EXPECT_EQ(metric_value(exposition, "voxgate_gateway_overhead_seconds_bucket", "{le=\"+Inf\"}"), 1.0);
}

TEST(RealtimeE2E, EventsProducedTogetherLeaveInOneWrite) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());  // session.created: one message, one write
    client.send(user_message("Hi [mock tokens=8 one_write]"));
    EXPECT_EQ(client.read_through("conversation.item.done").size(), 2u);  // added + done
    const auto counters = [&] {
        const auto exposition = http_get(gateway.port(), "/metrics").body;
        return std::pair{metric_value(exposition, "voxgate_ws_messages_sent_total").value_or(-1),
                         metric_value(exposition, "voxgate_ws_writes_total").value_or(-1)};
    };
    EXPECT_TRUE(eventually([&] { return counters() == std::pair{3.0, 2.0}; })) << counters().first;

    // The whole upstream stream arrives in one read: its eight deltas and the closing
    // events share a write, as the answer to response.create shares one.
    client.send(response_create());
    const auto events = client.read_through("response.done");
    EXPECT_EQ(joined_deltas(events), "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7");
    EXPECT_GE(events.size(), 13u);
    const auto expected_messages = 3.0 + static_cast<double>(events.size());
    EXPECT_TRUE(eventually([&] { return counters().first == expected_messages; })) << counters().first;
    const auto writes = counters().second;
    EXPECT_GE(writes, 3.0);
    EXPECT_LE(writes, 2.0 + 3.0) << "messages " << expected_messages;
}

TEST(RealtimeE2E, MetricsCountCancelledAndFailedResponsesAndUpstreamStatuses) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    run_turn(client, "Bad [mock status=400]");
    client.send(user_message("Slow [mock tokens=100 gap_ms=100]"));
    client.read_through("conversation.item.done");
    client.send(response_create());
    client.read_through("response.output_text.delta");
    client.send({{"type", "response.cancel"}});
    client.read_through("response.done");

    std::string exposition;
    EXPECT_TRUE(eventually([&] {
        exposition = http_get(gateway.port(), "/metrics").body;
        return metric_value(exposition, "voxgate_responses_total", "{status=\"cancelled\"}") == 1.0;
    })) << exposition;
    EXPECT_EQ(metric_value(exposition, "voxgate_responses_total", "{status=\"failed\"}"), 1.0);
    EXPECT_EQ(metric_value(exposition, "voxgate_responses_total", "{status=\"completed\"}"), 0.0);
    EXPECT_EQ(metric_value(exposition, "voxgate_upstream_requests_total", "{code=\"400\",provider=\"mock\"}"), 1.0);
    EXPECT_EQ(metric_value(exposition, "voxgate_upstream_requests_total", "{code=\"200\",provider=\"mock\"}"), 1.0);
}

// ---------------------------------------------------------------------------------------
// Flow control, hand-over timing and shutdown

// Reads one response's events as they come; deltas are checked against the mock's default
// tokens without keeping them. Fails the test if the connection is lost first, or if the
// response has not ended by `deadline` (a stream that trickles must fail, not hang).
struct StreamedResponse {
    int deltas = 0;
    bool in_order = true;
    json done;  // null when the connection was lost first

    std::string status() const { return done.is_object() ? done["response"].value("status", "") : "(no response.done)"; }
};

StreamedResponse read_default_token_response(WsClient& ws, std::chrono::seconds deadline = 120s) {
    StreamedResponse result;
    const auto give_up_at = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        if (std::chrono::steady_clock::now() >= give_up_at) {
            ADD_FAILURE() << "no response.done within " << deadline.count() << " s; " << result.deltas << " deltas read";
            return result;
        }
        auto message = ws.read();
        if (!message) {
            ADD_FAILURE() << "connection lost after " << result.deltas << " deltas: " << ws.error().message()
                          << "; close code " << ws.close_reason().code << " '" << ws.close_reason().reason << "'";
            return result;
        }
        if (message->find("\"response.output_text.delta\"") != std::string::npos) {
            if (json::parse(*message).value("delta", "") != default_token(result.deltas)) result.in_order = false;
            ++result.deltas;
            continue;
        }
        json event = json::parse(*message);
        if (event.value("type", "") == "response.done") {
            result.done = std::move(event);
            return result;
        }
    }
}

// SO_RCVBUF of the clients that stop reading (see the first test below for why not less).
constexpr int slow_reader_receive_buffer = 64 * 1024;

TEST(RealtimeE2E, SlowReaderGetsEveryTokenInOrderWithoutBeingDisconnected) {
    MockUpstream mock;
    Config config = gateway_config(mock);
    config.limits.send_queue_bytes = 512 * 1024;
    config.limits.max_response_bytes = 512 * 1024;  // the whole (about 440 KB) text is wanted
    TestGateway gateway(config);
    // A small receive buffer, set before connect, so the kernel cannot absorb the stream.
    // Not smaller: with a few KiB over loopback (MSS 64 KiB) Linux 6.x can pin the window
    // at one small segment per 200 ms persist probe once the reader resumes, about 10 KB/s,
    // and the 8.5 MB stream then takes a quarter of an hour to arrive.
    RealtimeClient client(gateway.port(), "?model=gpt-e2e", slow_reader_receive_buffer);

    // About 8.5 MB of delta frames while the client does not read: more than the send queue's
    // hard limit (8 x 512 KiB) plus every socket buffer of the connection (tcp_wmem allows
    // 4 MiB, the client's receive buffer is 64 KiB), so the client survives only if the gateway holds the provider back. The
    // response text itself stays small enough for the closing burst (see the next test).
    constexpr int tokens = 50000;
    client.send(user_message("Flood me [mock tokens=" + std::to_string(tokens) + "]"));
    client.read_through("conversation.item.done");
    client.send(response_create());

    // Not reading: the queue crosses its high-water mark and the upstream is paused...
    ASSERT_TRUE(eventually([&] { return scrape_metric(gateway.port(), "voxgate_ws_backpressure_total") >= 1; }, 60s));
    // ...and while paused the queued bytes stay bounded, far below the 8x hard limit.
    double max_queued = 0;
    for (int sample = 0; sample < 20; ++sample) {
        max_queued = std::max(max_queued, scrape_metric(gateway.port(), "voxgate_ws_send_queue_bytes"));
        std::this_thread::sleep_for(50ms);
    }
    EXPECT_GT(max_queued, 0);
    EXPECT_LE(max_queued, 2.0 * static_cast<double>(config.limits.send_queue_bytes));
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_connections_closed_total", "{reason=\"send_queue_overflow\"}"), 0);
    // The provider's stream is held, not finished: tokens are still waiting upstream.
    EXPECT_LT(scrape_metric(gateway.port(), "voxgate_tokens_streamed_total"), tokens);

    // Reading again resumes the provider: every token arrives, in order.
    const StreamedResponse response = read_default_token_response(client.ws());
    EXPECT_EQ(response.deltas, tokens);
    EXPECT_TRUE(response.in_order);
    EXPECT_EQ(response.status(), "completed") << response.done.dump().substr(0, 500);
}

// The hard limit through the real WsConnection: a client that never reads while one burst
// of frames (the closing events of a long response repeat its text) passes 8 x the send
// queue is closed with 1008 "send queue overflow", and other clients are served.
TEST(RealtimeE2E, ClientThatNeverReadsIsClosedWith1008WhenTheQueuePassesTheHardLimit) {
    MockUpstream mock;
    Config config = gateway_config(mock);
    config.limits.send_queue_bytes = 4096;  // hard limit 32 KiB
    TestGateway gateway(config);
    RealtimeClient client(gateway.port(), "?model=gpt-e2e", slow_reader_receive_buffer);

    // About 28 KB of text: the five closing events, each repeating it, are queued in one
    // go (about 140 KB, pause or not), past the hard limit.
    client.send(user_message("Long [mock tokens=4000]"));
    client.read_through("conversation.item.done");
    client.send(response_create());
    ASSERT_TRUE(eventually(
        [&] {
            return scrape_metric(gateway.port(), "voxgate_connections_closed_total",
                                 "{reason=\"send_queue_overflow\"}") >= 1;
        },
        60s));
    EXPECT_EQ(read_until_closed(client.ws()), 1008);
    EXPECT_EQ(std::string(client.ws().close_reason().reason.c_str()), "send queue overflow");
    // Another client is served normally meanwhile and afterwards.
    RealtimeClient other(gateway.port());
    run_turn(other, "Hi [mock tokens=2]");
}

// Regression: the events that close a response each repeat the whole text
// (response.output_text.done, response.content_part.done, response.output_item.done,
// conversation.item.done, response.done) and are queued in one go. They once added up to
// more than the send queue's hard limit and the connection was closed with 1008 although
// the client read promptly. Scaled down: a 64 KiB queue and about 28 KB of text.
TEST(RealtimeE2E, LongResponseEndsWithResponseDoneForAClientThatReadsPromptly) {
    MockUpstream mock;
    Config config = gateway_config(mock);
    config.limits.send_queue_bytes = 64 * 1024;
    TestGateway gateway(config);
    RealtimeClient client(gateway.port());

    constexpr int tokens = 4000;
    client.send(user_message("Long answer [mock tokens=" + std::to_string(tokens) + "]"));
    client.read_through("conversation.item.done");
    client.send(response_create());
    const StreamedResponse response = read_default_token_response(client.ws());
    EXPECT_EQ(response.deltas, tokens);
    EXPECT_EQ(response.status(), "completed") << response.done.dump().substr(0, 500);
}

TEST(RealtimeE2E, EventsSentBeforeSessionCreatedOfATakeoverAreAnsweredAfterIt) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient first(gateway.port());
    run_turn(first, "Remember 42 [mock texts=Noted]");

    // The new connection talks at once, before the old one has let go of the conversation.
    auto second = WsClient::connect(gateway.port(), {.target = "/v1/realtime?session_id=" + first.session_id(),
                                                     .read_timeout = 30s});
    second->send_text(user_message("What number? [mock tokens=1]", "evt_early").dump());
    second->send_text(response_create("evt_early_response").dump());
    const json created = second->read_json();
    EXPECT_EQ(created.value("type", ""), "session.created") << created.dump();
    EXPECT_EQ(created["session"].value("id", ""), first.session_id());
    std::vector<json> events;
    const json done = second->read_until("response.done", &events);
    EXPECT_EQ(done["response"].value("status", ""), "completed") << done.dump();
    EXPECT_EQ(find_type(events, "error"), nullptr) << ::testing::PrintToString(types_of(events));
    const Messages expected = {
        {"user", "Remember 42 [mock texts=Noted]"}, {"assistant", "Noted"}, {"user", "What number? [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(request_body(mock, 1)), expected);
}

TEST(RealtimeE2E, ShutdownLetsTheStreamingResponseFinishThenClosesWith1001) {
    MockUpstream mock;
    Config config = gateway_config(mock);
    config.shutdown.drain_seconds = std::chrono::seconds(30);
    TestGateway gateway(config);
    RealtimeClient client(gateway.port());
    client.send(user_message("Finish this [mock tokens=20 gap_ms=50]"));
    client.read_through("conversation.item.done");
    client.send(response_create());
    auto events = client.read_through("response.output_text.delta");

    std::thread stopper([&] { gateway.shutdown(); });
    const auto rest = client.read_through("response.done");
    events.insert(events.end(), rest.begin(), rest.end());
    EXPECT_EQ(events.back()["response"].value("status", ""), "completed") << events.back().dump();
    std::string all_tokens;
    for (int i = 0; i < 20; ++i) all_tokens += default_token(i);
    EXPECT_EQ(joined_deltas(events), all_tokens);
    EXPECT_EQ(read_until_closed(client.ws()), 1001);
    stopper.join();
}

// During the drain (after the readiness grace) connected clients start no new paid
// responses; the one already streaming is cut at the drain deadline with a response.done.
TEST(RealtimeE2E, DrainRefusesNewResponsesAndEndsTheStreamingOneIncompleteBefore1001) {
    MockUpstream mock;
    Config config = gateway_config(mock);
    config.shutdown.drain_seconds = std::chrono::seconds(2);
    TestGateway gateway(config);
    RealtimeClient streaming(gateway.port());
    RealtimeClient idle(gateway.port());
    streaming.send(user_message("Go on and on [mock tokens=1000 gap_ms=50]"));
    streaming.read_through("conversation.item.done");
    streaming.send(response_create());
    streaming.read_through("response.output_text.delta");

    std::thread stopper([&] { gateway.shutdown(); });
    idle.send(response_create());
    // The request may race the start of the drain: a response that got in before it
    // ends (completed or cut); the first one after it is refused.
    json refused;
    for (int attempt = 0; attempt < 50 && refused.is_null(); ++attempt) {
        const json reply = idle.next();
        if (reply.value("type", "") == "error" && reply["error"].value("code", "") == "server_shutting_down") refused = reply;
        else if (reply.value("type", "") == "response.done") idle.send(response_create());
    }
    ASSERT_FALSE(refused.is_null());
    EXPECT_EQ(refused["error"].value("type", ""), "server_error") << refused.dump();

    const json done = streaming.read_through("response.done").back();
    EXPECT_EQ(done["response"].value("status", ""), "incomplete") << done.dump();
    EXPECT_EQ(done["response"]["status_details"].value("reason", ""), "server_shutting_down") << done.dump();
    EXPECT_EQ(read_until_closed(streaming.ws()), 1001);
    EXPECT_EQ(read_until_closed(idle.ws()), 1001);
    stopper.join();
}

TEST(RealtimeE2E, ItemInsertedAtTheRootAndResponseOverridesReachTheProvider) {
    MockUpstream mock;
    TestGateway gateway(gateway_config(mock));
    RealtimeClient client(gateway.port());
    client.send(user_message("Second in line [mock tokens=1]"));
    const std::string second_id = client.next_of("conversation.item.added")["item"].value("id", "");
    client.next_of("conversation.item.done");
    json system_item = {{"type", "conversation.item.create"},
                        {"previous_item_id", "root"},
                        {"item", {{"type", "message"}, {"role", "system"}, {"content", {{{"type", "input_text"}, {"text", "Context first."}}}}}}};
    client.send(system_item);
    const json added = client.next_of("conversation.item.added");
    EXPECT_TRUE(added["previous_item_id"].is_null()) << added.dump();
    client.next_of("conversation.item.done");

    client.send({{"type", "response.create"}, {"response", {{"max_output_tokens", 7}, {"temperature", 0.5}}}});
    const json done = client.next_of("response.done");
    EXPECT_EQ(done["response"]["max_output_tokens"], 7) << done.dump();
    const json body = request_body(mock, 0);
    EXPECT_EQ(body["max_completion_tokens"], 7) << body.dump();
    EXPECT_EQ(body["temperature"], 0.5);
    const Messages expected = {{"system", "Context first."}, {"user", "Second in line [mock tokens=1]"}};
    EXPECT_EQ(openai_messages(body), expected);
}

// Regression: a history trimmed to sessions.max_history_chars can begin with an assistant
// message, which the Anthropic Messages API refuses ("first message must use the user
// role"); the Anthropic codec drops leading assistant turns (and orphaned tool results).
TEST(RealtimeE2E, AnthropicRequestStartsWithAUserTurnAfterHistoryTrimming) {
    MockUpstream mock;
    Config config = gateway_config(mock, "anthropic");
    config.sessions.max_history_chars = 60;
    TestGateway gateway(config);
    RealtimeClient client(gateway.port(), "?model=claude-e2e");
    run_turn(client, "First question, long enough [mock texts=An_answer_of_some_length]");
    run_turn(client, "Second [mock tokens=1]");

    const json body = request_body(mock, 1);
    ASSERT_TRUE(body.contains("messages")) << body.dump();
    ASSERT_FALSE(body["messages"].empty());
    EXPECT_EQ(body["messages"][0].value("role", ""), "user") << body["messages"].dump();
    EXPECT_EQ(body["messages"].back().value("content", ""), "Second [mock tokens=1]");
}

}  // namespace
}  // namespace voxgate::test
