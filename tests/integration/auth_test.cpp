// Client authentication, authorization and per-key limits over real loopback WebSockets:
// a TestGateway with auth.mode api_keys and a keys file on disk, real Beast clients, and
// the mock upstream where a test must prove that no upstream request was made.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "auth/key_digest.hpp"
#include "support/keys_file.hpp"
#include "support/mock_upstream.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::string_view key_a = "sk-team-a-0123456789";
constexpr std::string_view key_b = "sk-team-b-9876543210";

Config auth_config(const KeysFile& keys) {
    Config config = test_config();
    config.auth.mode = "api_keys";
    config.auth.keys_file = keys.path();
    return config;
}

std::pair<std::string, std::string> bearer(std::string_view key) { return {"Authorization", "Bearer " + std::string(key)}; }

std::string error_type(const HttpResult& result) {
    auto body = json::parse(result.body, nullptr, false);
    return body.is_object() ? body["error"].value("type", "") : "(not JSON: " + result.body + ")";
}

double metric(std::uint16_t port, const std::string& name, const std::string& labels) {
    return metric_value(http_get(port, "/metrics").body, name, labels).value_or(-1);
}

// One Realtime client: connects with `headers`, reads session.created.
struct Client {
    Client(std::uint16_t port, std::vector<std::pair<std::string, std::string>> headers, const std::string& query = "")
        : ws(WsClient::connect(port, {.target = "/v1/realtime" + query, .headers = std::move(headers),
                                      .read_timeout = 30s})),
          created(ws->read_json()) {}
    std::string session_id() const { return created["session"].value("id", ""); }
    void send(const json& event) { ws->send_text(event.dump()); }
    json next_of(const std::string& type, std::vector<json>* skipped = nullptr) { return ws->read_until(type, skipped); }

    std::unique_ptr<WsClient> ws;
    json created;
};

const json say_hello = {{"type", "conversation.item.create"},
                        {"item", {{"type", "message"}, {"role", "user"}, {"content", {{{"type", "input_text"}, {"text", "hello"}}}}}}};

TEST(Auth, UpgradeWithoutAKeyIs401WithAJsonReasonBeforeTheUpgrade) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    auto result = http_upgrade(gateway.port(), "/v1/realtime");
    EXPECT_EQ(result.status, 401);
    EXPECT_EQ(error_type(result), "invalid_api_key");
    EXPECT_EQ(metric(gateway.port(), "voxgate_auth_rejections_total", "{reason=\"missing_api_key\"}"), 1);
    EXPECT_THROW(WsClient::connect(gateway.port()), boost::system::system_error);
}

TEST(Auth, AWrongKeyIs401AndTheKeyIsNotInTheAnswer) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    auto result = http_upgrade(gateway.port(), "/v1/realtime", {bearer("sk-wrong-guess-42")});
    EXPECT_EQ(result.status, 401);
    EXPECT_EQ(error_type(result), "invalid_api_key");
    EXPECT_EQ(result.body.find("sk-wrong-guess-42"), std::string::npos);
    // The key in the subprotocol is checked the same way.
    result = http_upgrade(gateway.port(), "/v1/realtime", {{"Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key.nope"}});
    EXPECT_EQ(result.status, 401);
    EXPECT_EQ(metric(gateway.port(), "voxgate_auth_rejections_total", "{reason=\"invalid_api_key\"}"), 2);
}

TEST(Auth, BearerKeyOpensASession) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    Client client(gateway.port(), {bearer(key_a)});
    EXPECT_EQ(client.created["type"], "session.created");
    client.send(say_hello);
    EXPECT_EQ(client.next_of("conversation.item.done")["item"]["role"], "user");
}

TEST(Auth, SubprotocolKeyOpensASessionAndOnlyRealtimeIsEchoed) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    const std::string offered = "realtime, openai-insecure-api-key." + std::string(key_a);
    Client browser(gateway.port(), {{"Sec-WebSocket-Protocol", offered}});
    EXPECT_EQ(browser.created["type"], "session.created");
    EXPECT_EQ(browser.ws->selected_subprotocol(), "realtime");
    // Offered alone, the key subprotocol is still never selected.
    auto result = http_upgrade(gateway.port(), "/v1/realtime",
                          {{"Sec-WebSocket-Protocol", "openai-insecure-api-key." + std::string(key_a)}});
    EXPECT_EQ(result.status, 101);
    EXPECT_EQ(result.headers.count("sec-websocket-protocol"), 0u);
}

TEST(Auth, ABrowserOriginOutsideAllowedOriginsIs403) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    auto config = auth_config(keys);
    config.auth.allowed_origins = {"https://app.example"};
    TestGateway gateway(config);
    auto result = http_upgrade(gateway.port(), "/v1/realtime", {bearer(key_a), {"Origin", "https://evil.example"}});
    EXPECT_EQ(result.status, 403);
    EXPECT_EQ(error_type(result), "origin_not_allowed");
    EXPECT_EQ(metric(gateway.port(), "voxgate_auth_rejections_total", "{reason=\"origin_not_allowed\"}"), 1);
    Client allowed(gateway.port(), {bearer(key_a), {"Origin", "https://app.example"}});
    Client no_origin(gateway.port(), {bearer(key_a)});  // not a browser
    EXPECT_EQ(allowed.created["type"], "session.created");
    EXPECT_EQ(no_origin.created["type"], "session.created");
}

TEST(Auth, OriginIsCheckedWithoutApiKeysToo) {
    auto config = test_config();
    config.auth.allowed_origins = {"https://app.example"};
    TestGateway gateway(config);
    EXPECT_EQ(http_upgrade(gateway.port(), "/v1/realtime", {{"Origin", "https://evil.example"}}).status, 403);
    EXPECT_EQ(http_upgrade(gateway.port(), "/v1/realtime", {{"Origin", "https://app.example"}}).status, 101);
}

TEST(Auth, AModelOutsideTheKeysListIsRefusedAtTheHandshakeAndOnSessionUpdate) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a, {{"models", {"gpt-4o-mini", "small"}}})});
    TestGateway gateway(auth_config(keys));
    auto result = http_upgrade(gateway.port(), "/v1/realtime?model=gpt-4o", {bearer(key_a)});
    EXPECT_EQ(result.status, 403);
    EXPECT_EQ(error_type(result), "model_not_allowed");

    Client client(gateway.port(), {bearer(key_a)}, "?model=gpt-4o-mini");
    client.send({{"type", "session.update"}, {"event_id", "evt_1"}, {"session", {{"model", "gpt-4o"}, {"instructions", "x"}}}});
    json error = client.next_of("error");
    EXPECT_EQ(error["error"]["code"], "model_not_allowed");
    EXPECT_EQ(error["error"]["event_id"], "evt_1");
    // The session is still up and unchanged; an allowed model is accepted.
    client.send({{"type", "session.update"}, {"session", {{"model", "small"}}}});
    json updated = client.next_of("session.updated");
    EXPECT_EQ(updated["session"]["model"], "small");
    EXPECT_EQ(updated["session"]["instructions"], "");
    EXPECT_EQ(metric(gateway.port(), "voxgate_auth_rejections_total", "{reason=\"model_not_allowed\"}"), 2);
}

TEST(Auth, MaxSessionsIs429AtTheHandshakeUntilASessionCloses) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a, {{"limits", {{"max_sessions", 1}}}}), key_entry("team-b", key_b)});
    TestGateway gateway(auth_config(keys));
    auto first = std::make_unique<Client>(gateway.port(), std::vector<std::pair<std::string, std::string>>{bearer(key_a)});
    auto result = http_upgrade(gateway.port(), "/v1/realtime", {bearer(key_a)});
    EXPECT_EQ(result.status, 429);
    EXPECT_EQ(error_type(result), "rate_limit_exceeded");
    EXPECT_EQ(metric(gateway.port(), "voxgate_rate_limited_total", "{limit=\"max_sessions\"}"), 1);
    Client other_key(gateway.port(), {bearer(key_b)});  // limits are per key
    EXPECT_EQ(other_key.created["type"], "session.created");

    first->ws->close();
    first.reset();
    int status = 0;
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
        status = http_upgrade(gateway.port(), "/v1/realtime", {bearer(key_a)}).status;
        if (status == 101) break;
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(status, 101);
}

TEST(Auth, ResponsesPerMinuteRefusesBeforeTheUpstreamIsCalledAndReportsRateLimits) {
    MockUpstream mock;
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a, {{"limits", {{"responses_per_minute", 2}}}})});
    auto config = auth_config(keys);
    ProviderConfig provider;
    provider.name = "mock";
    provider.kind = "openai";
    provider.base_url = mock.base_url() + "/v1";
    provider.api_key = "sk-upstream";
    config.providers = {provider};
    config.routes = {{"*", {"mock"}}};
    TestGateway gateway(config);

    Client client(gateway.port(), {bearer(key_a)});
    client.send(say_hello);
    for (int i = 0; i < 2; ++i) {
        client.send({{"type", "response.create"}});
        std::vector<json> events;
        client.next_of("response.done", &events);
        ASSERT_FALSE(events.empty());
        EXPECT_EQ(events.front()["type"], "conversation.item.added") << i;  // from say_hello, on the first turn
        bool reported = false;
        for (const auto& event : events)
            if (event["type"] == "rate_limits.updated") {
                reported = true;
                EXPECT_EQ(event["rate_limits"][0]["name"], "requests");
                EXPECT_EQ(event["rate_limits"][0]["limit"], 2);
                EXPECT_EQ(event["rate_limits"][0]["remaining"], 1 - i);
            }
        EXPECT_TRUE(reported) << i;
        if (i == 0) client.send(say_hello);
    }
    client.send({{"type", "response.create"}, {"event_id", "evt_third"}});
    std::vector<json> skipped;
    json error = client.next_of("error", &skipped);
    EXPECT_EQ(error["error"]["code"], "rate_limit_exceeded");
    EXPECT_EQ(error["error"]["event_id"], "evt_third");
    for (const auto& event : skipped) EXPECT_NE(event["type"], "response.created");
    EXPECT_EQ(client.next_of("rate_limits.updated")["rate_limits"][0]["remaining"], 0);
    EXPECT_EQ(mock.request_count(), 2u);  // the third never reached the provider
    EXPECT_EQ(metric(gateway.port(), "voxgate_rate_limited_total", "{limit=\"responses_per_minute\"}"), 1);
    // The session stays up.
    client.send(say_hello);
    EXPECT_EQ(client.next_of("conversation.item.done")["item"]["role"], "user");
}

TEST(Auth, ASessionCanBeResumedOnlyByTheKeyItWasCreatedUnder) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a), key_entry("team-b", key_b)});
    TestGateway gateway(auth_config(keys));
    auto owner = std::make_unique<Client>(gateway.port(), std::vector<std::pair<std::string, std::string>>{bearer(key_a)});
    const std::string id = owner->session_id();
    owner->send(say_hello);
    const std::string item_id = owner->next_of("conversation.item.done")["item"]["id"];

    // Takeover attempt while the owner is connected: as if the id did not exist.
    Client thief(gateway.port(), {bearer(key_b)}, "?session_id=" + id);
    EXPECT_NE(thief.session_id(), id);
    EXPECT_EQ(thief.next_of("error")["error"]["code"], "session_not_found");
    owner->send({{"type", "session.update"}, {"session", {{"instructions", "still mine"}}}});
    EXPECT_EQ(owner->next_of("session.updated")["session"]["instructions"], "still mine");

    // Detached: another key still cannot resume it, the owner's key can, history intact.
    owner->ws->close();
    owner.reset();
    Client thief_again(gateway.port(), {bearer(key_b)}, "?session_id=" + id);
    EXPECT_EQ(thief_again.next_of("error")["error"]["code"], "session_not_found");
    // Whether the closed connection has let go yet or not, the same key gets it back
    // (resume or hand-over).
    Client back(gateway.port(), {bearer(key_a)}, "?session_id=" + id);
    EXPECT_EQ(back.session_id(), id);
    back.send({{"type", "conversation.item.retrieve"}, {"item_id", item_id}});
    EXPECT_EQ(back.next_of("conversation.item.retrieved")["item"]["id"], item_id);
}

TEST(Auth, ReloadAppliesToNewHandshakesKeepsLiveSessionsAndABadFileKeepsTheOldKeys) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    Client live(gateway.port(), {bearer(key_a)});

    keys.write(std::vector<json>{key_entry("team-b", key_b)});
    EXPECT_EQ(gateway.runtime().reload_keys(), std::nullopt);
    EXPECT_EQ(http_upgrade(gateway.port(), "/v1/realtime", {bearer(key_a)}).status, 401);
    Client b(gateway.port(), {bearer(key_b)});
    EXPECT_EQ(b.created["type"], "session.created");
    live.send(say_hello);  // the session made under the old key keeps working
    EXPECT_EQ(live.next_of("conversation.item.done")["item"]["role"], "user");

    keys.write_text(R"({"keys": [{"name": "team-c", "sha256": "not-hex"}]})");
    auto error = gateway.runtime().reload_keys();
    ASSERT_TRUE(error);
    EXPECT_NE(error->find("keys[0].sha256"), std::string::npos) << *error;
    EXPECT_EQ(http_upgrade(gateway.port(), "/v1/realtime", {bearer(key_b)}).status, 101);
}

TEST(Auth, AuthModeNoneStillAcceptsEveryoneAndSendsNoRateLimits) {
    TestGateway gateway;
    Client client(gateway.port(), {});
    client.send(say_hello);
    client.send({{"type", "response.create"}});
    std::vector<json> events;
    client.next_of("response.done", &events);
    for (const auto& event : events) EXPECT_NE(event["type"], "rate_limits.updated");
}

}  // namespace
}  // namespace voxgate::test
