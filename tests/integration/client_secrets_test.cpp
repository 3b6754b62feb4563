// Ephemeral client secrets over real loopback HTTP and WebSockets: a TestGateway with
// auth.mode api_keys and a keys file on disk; POST /v1/realtime/client_secrets with a
// key, then real Beast clients that open sessions with the "ek_..." secret in the
// openai-insecure-api-key. subprotocol (as a browser does) or as a Bearer token.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/keys_file.hpp"
#include "support/log_capture.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::string_view key_a = "sk-team-a-0123456789";
constexpr std::string_view key_b = "sk-team-b-9876543210";
const std::string secrets_path = "/v1/realtime/client_secrets";

Config auth_config(const KeysFile& keys) {
    Config config = test_config();
    config.auth.mode = "api_keys";
    config.auth.keys_file = keys.path();
    return config;
}

std::pair<std::string, std::string> bearer(std::string_view key) { return {"Authorization", "Bearer " + std::string(key)}; }
std::pair<std::string, std::string> secret_subprotocol(const std::string& secret) {
    return {"Sec-WebSocket-Protocol", "realtime, openai-insecure-api-key." + secret};
}

json body_of(const HttpResult& result) {
    auto body = json::parse(result.body, nullptr, false);
    return body.is_discarded() ? json{{"not_json", result.body}} : body;
}
std::string error_type(const HttpResult& result) { return body_of(result)["error"].value("type", ""); }
std::string error_message(const HttpResult& result) { return body_of(result)["error"].value("message", ""); }

double metric(std::uint16_t port, const std::string& name, const std::string& labels = "") {
    return metric_value(http_get(port, "/metrics").body, name, labels).value_or(-1);
}

// POSTs for a secret with key_a; the test fails unless it is issued.
json issue(std::uint16_t port, const json& body = json::object(), std::string_view key = key_a) {
    auto result = http_post(port, secrets_path, body.dump(), {bearer(key), {"Content-Type", "application/json"}});
    EXPECT_EQ(result.status, 200) << result.body;
    return body_of(result);
}

std::unique_ptr<WsClient> connect_with(std::uint16_t port, const std::string& secret, const std::string& query = "") {
    return WsClient::connect(port, {.target = "/v1/realtime" + query, .headers = {secret_subprotocol(secret)},
                                    .read_timeout = 30s});
}

const json say_hello = {{"type", "conversation.item.create"},
                        {"item", {{"type", "message"}, {"role", "user"}, {"content", {{{"type", "input_text"}, {"text", "hello"}}}}}}};

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(ClientSecrets, AKeyGetsASecretThatOpensASessionInTheSubprotocol) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    const auto before = unix_now();
    const json secret = issue(gateway.port());
    const std::string value = secret.value("value", "");
    EXPECT_TRUE(value.starts_with("ek_")) << secret.dump();
    EXPECT_EQ(value.size(), 3u + 64u);
    // auth.client_secret_ttl_seconds defaults to 600.
    EXPECT_GE(secret.value("expires_at", 0), before + 599);
    EXPECT_LE(secret.value("expires_at", 0), unix_now() + 600);
    EXPECT_EQ(secret["session"].value("model", ""), "gpt-4o-mini");
    EXPECT_EQ(secret["session"].value("object", ""), "realtime.session");
    EXPECT_FALSE(secret["session"].contains("id"));

    auto ws = connect_with(gateway.port(), value);
    EXPECT_EQ(ws->selected_subprotocol(), "realtime");  // the secret is never echoed
    EXPECT_EQ(ws->read_json()["type"], "session.created");
    ws->send_text(say_hello.dump());
    ws->send_text(R"({"type":"response.create"})");
    EXPECT_EQ(ws->read_until("response.done")["response"]["status"], "completed");
    EXPECT_EQ(metric(gateway.port(), "voxgate_client_secrets_issued_total"), 1);
}

TEST(ClientSecrets, TheAnswerIsNeverCached) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    auto result = http_post(gateway.port(), secrets_path, "", {bearer(key_a)});  // no body: all defaults
    EXPECT_EQ(result.status, 200);
    EXPECT_EQ(result.headers["cache-control"], "no-store");
    EXPECT_EQ(result.headers["content-type"], "application/json");
}

TEST(ClientSecrets, ASecretWorksAsABearerTokenToo) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    const std::string value = issue(gateway.port())["value"];
    auto ws = WsClient::connect(gateway.port(), {.headers = {bearer(value)}});
    EXPECT_EQ(ws->read_json()["type"], "session.created");
}

TEST(ClientSecrets, TheSecretsSessionIsTheKeysSessionForItsLimits) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a, {{"limits", {{"max_sessions", 1}}}})});
    TestGateway gateway(auth_config(keys));
    auto ws = connect_with(gateway.port(), issue(gateway.port())["value"]);
    ASSERT_EQ(ws->read_json()["type"], "session.created");
    // The key's one session slot is taken by the secret's session.
    auto refused = http_upgrade(gateway.port(), "/v1/realtime", {bearer(key_a)});
    EXPECT_EQ(refused.status, 429);
    EXPECT_EQ(error_type(refused), "rate_limit_exceeded");
    // And a second secret of the same key cannot open one either (and is kept for a retry).
    const std::string second = issue(gateway.port())["value"];
    EXPECT_EQ(http_upgrade(gateway.port(), "/v1/realtime", {secret_subprotocol(second)}).status, 429);
    ws->close();
    ASSERT_TRUE(eventually([&] {
        return http_upgrade(gateway.port(), "/v1/realtime", {secret_subprotocol(second)}).status == 101;
    }));
}

TEST(ClientSecrets, TheSecretCarriesTheInitialSessionAndItsModelMustBeTheKeys) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a, {{"models", {"small", "large"}}})});
    TestGateway gateway(auth_config(keys));
    const json secret = issue(gateway.port(), {{"session", {{"type", "realtime"}, {"model", "small"},
                                                            {"instructions", "answer in one word"},
                                                            {"max_output_tokens", 64}}}});
    EXPECT_EQ(secret["session"]["instructions"], "answer in one word");
    EXPECT_EQ(secret["session"]["max_output_tokens"], 64);
    auto ws = connect_with(gateway.port(), secret["value"]);
    const json created = ws->read_json();
    EXPECT_EQ(created["session"]["model"], "small");
    EXPECT_EQ(created["session"]["instructions"], "answer in one word");
    EXPECT_EQ(created["session"]["max_output_tokens"], 64);

    auto refused = http_post(gateway.port(), secrets_path, R"({"session":{"model":"huge"}})", {bearer(key_a)});
    EXPECT_EQ(refused.status, 403);
    EXPECT_EQ(error_type(refused), "model_not_allowed");
}

TEST(ClientSecrets, AudioOutputIsRefusedByAGatewayThatDoesNotSpeak) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    Config config = auth_config(keys);
    config.text_to_speech.kind = "none";
    TestGateway gateway(config);
    auto result = http_post(gateway.port(), secrets_path, R"({"session":{"output_modalities":["audio"]}})", {bearer(key_a)});
    EXPECT_EQ(result.status, 400);
    EXPECT_EQ(body_of(result)["error"]["code"], "unsupported_modality");
    EXPECT_EQ(body_of(result)["error"]["param"], "session.output_modalities");
    // A gateway that speaks grants it.
    TestGateway speaking(auth_config(keys));
    EXPECT_EQ(http_post(speaking.port(), secrets_path, R"({"session":{"output_modalities":["audio"]}})", {bearer(key_a)}).status,
              200);
}

TEST(ClientSecrets, AnInvalidBodyIs400WithTheReason) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    auto post = [&](const std::string& body) { return http_post(gateway.port(), secrets_path, body, {bearer(key_a)}); };

    auto result = post(R"({"session":{"output_modalities":["video"]}})");
    EXPECT_EQ(result.status, 400);
    EXPECT_EQ(body_of(result)["error"]["code"], "invalid_value");
    EXPECT_EQ(body_of(result)["error"]["param"], "session.output_modalities");

    result = post(R"({"session":{"temperature":"hot"}})");
    EXPECT_EQ(result.status, 400);
    EXPECT_EQ(body_of(result)["error"]["code"], "invalid_type");
    EXPECT_EQ(body_of(result)["error"]["param"], "session.temperature");

    result = post(R"({"expires_after":{"anchor":"now","seconds":30}})");
    EXPECT_EQ(result.status, 400);
    EXPECT_EQ(body_of(result)["error"]["param"], "expires_after.anchor");

    result = post(R"({"expires_after":{"anchor":"created_at","seconds":0}})");
    EXPECT_EQ(result.status, 400);
    EXPECT_EQ(body_of(result)["error"]["param"], "expires_after.seconds");

    result = post("not json");
    EXPECT_EQ(result.status, 400);
    EXPECT_EQ(body_of(result)["error"]["code"], "invalid_json");

    result = post(std::string(100, '[') + std::string(100, ']'));
    EXPECT_EQ(result.status, 400);

    result = http_get(gateway.port(), secrets_path, "GET", {bearer(key_a)});
    EXPECT_EQ(result.status, 405);
    EXPECT_EQ(result.headers["allow"], "POST");
    EXPECT_EQ(metric(gateway.port(), "voxgate_client_secrets_issued_total"), 0);
}

TEST(ClientSecrets, NoKeyOrAWrongKeyIs401AndASecretCannotMintAnother) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    auto result = http_post(gateway.port(), secrets_path, "{}");
    EXPECT_EQ(result.status, 401);
    EXPECT_EQ(error_type(result), "invalid_api_key");
    EXPECT_EQ(result.headers["www-authenticate"], "Bearer");

    result = http_post(gateway.port(), secrets_path, "{}", {bearer(key_b)});
    EXPECT_EQ(result.status, 401);
    EXPECT_EQ(error_type(result), "invalid_api_key");
    EXPECT_EQ(result.body.find(key_b), std::string::npos);

    const std::string secret = issue(gateway.port())["value"];
    result = http_post(gateway.port(), secrets_path, "{}", {bearer(secret)});
    EXPECT_EQ(result.status, 401);
    EXPECT_NE(error_message(result).find("cannot issue"), std::string::npos) << result.body;
}

TEST(ClientSecrets, AnUnknownSecretIs401WithAReason) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    auto result = http_upgrade(gateway.port(), "/v1/realtime", {secret_subprotocol("ek_" + std::string(64, 'a'))});
    EXPECT_EQ(result.status, 401);
    EXPECT_EQ(error_type(result), "invalid_api_key");
    EXPECT_NE(error_message(result).find("unknown client secret"), std::string::npos) << result.body;
    EXPECT_EQ(metric(gateway.port(), "voxgate_auth_rejections_total", "{reason=\"client_secret_unknown\"}"), 1);
}

TEST(ClientSecrets, ASecretOpensOneSessionOnly) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    const std::string secret = issue(gateway.port())["value"];
    auto ws = connect_with(gateway.port(), secret);
    ASSERT_EQ(ws->read_json()["type"], "session.created");
    auto again = http_upgrade(gateway.port(), "/v1/realtime", {secret_subprotocol(secret)});
    EXPECT_EQ(again.status, 401);
    EXPECT_NE(error_message(again).find("unknown client secret"), std::string::npos) << again.body;
}

TEST(ClientSecrets, AnExpiredSecretIs401AndExpiresAfterIsCappedByTheTtl) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    Config config = auth_config(keys);
    config.auth.client_secret_ttl = 1s;
    TestGateway gateway(config);
    // Asking for an hour gets the configured second.
    const json secret = issue(gateway.port(), {{"expires_after", {{"anchor", "created_at"}, {"seconds", 3600}}}});
    EXPECT_LE(secret.value("expires_at", 0), unix_now() + 1);
    // expires_at is whole seconds rounded down: past it plus one second the secret is dead.
    const auto dead_at = std::chrono::system_clock::time_point(std::chrono::seconds(secret.value("expires_at", 0) + 1));
    std::this_thread::sleep_until(dead_at + 50ms);
    auto result = http_upgrade(gateway.port(), "/v1/realtime", {secret_subprotocol(secret["value"])});
    EXPECT_EQ(result.status, 401);
    EXPECT_NE(error_message(result).find("expired"), std::string::npos) << result.body;
    EXPECT_EQ(metric(gateway.port(), "voxgate_auth_rejections_total", "{reason=\"client_secret_expired\"}"), 1);
}

TEST(ClientSecrets, ASecretCannotResumeASessionAndIsNotUsedUpTrying) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    TestGateway gateway(auth_config(keys));
    auto owner = WsClient::connect(gateway.port(), {.headers = {bearer(key_a)}});
    const std::string session_id = owner->read_json()["session"]["id"];
    owner->close();

    const std::string secret = issue(gateway.port())["value"];
    auto refused = http_upgrade(gateway.port(), "/v1/realtime?session_id=" + session_id, {secret_subprotocol(secret)});
    EXPECT_EQ(refused.status, 403);
    EXPECT_EQ(error_type(refused), "resume_not_allowed");
    EXPECT_EQ(metric(gateway.port(), "voxgate_auth_rejections_total", "{reason=\"client_secret_resume\"}"), 1);
    // The key itself resumes; the secret still opens a new session.
    auto resumed = WsClient::connect(gateway.port(), {.target = "/v1/realtime?session_id=" + session_id,
                                                      .headers = {bearer(key_a)}});
    EXPECT_EQ(resumed->read_json()["session"]["id"], session_id);
    auto fresh = connect_with(gateway.port(), secret);
    EXPECT_NE(fresh->read_json()["session"]["id"], session_id);
}

TEST(ClientSecrets, StoredSecretsAreBoundedAndAUsedOneFreesItsPlace) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    Config config = auth_config(keys);
    config.auth.max_client_secrets = 2;
    TestGateway gateway(config);
    const std::string first = issue(gateway.port())["value"];
    issue(gateway.port());
    auto full = http_post(gateway.port(), secrets_path, "{}", {bearer(key_a)});
    EXPECT_EQ(full.status, 503);
    EXPECT_EQ(error_type(full), "client_secret_store_full");
    EXPECT_EQ(metric(gateway.port(), "voxgate_client_secrets_store_full_total"), 1);
    auto ws = connect_with(gateway.port(), first);
    ASSERT_EQ(ws->read_json()["type"], "session.created");
    EXPECT_EQ(http_post(gateway.port(), secrets_path, "{}", {bearer(key_a)}).status, 200);
}

TEST(ClientSecrets, ARemovedKeyTakesItsSecretsWithIt) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a), key_entry("team-b", key_b)});
    TestGateway gateway(auth_config(keys));
    const std::string secret = issue(gateway.port())["value"];
    keys.write({key_entry("team-b", key_b)});
    ASSERT_EQ(gateway.runtime().reload_keys(), std::nullopt);
    auto result = http_upgrade(gateway.port(), "/v1/realtime", {secret_subprotocol(secret)});
    EXPECT_EQ(result.status, 401);
}

TEST(ClientSecrets, WithoutClientKeysTheEndpointIs404) {
    TestGateway gateway;  // auth.mode none: there is no key to bind a secret to
    auto result = http_post(gateway.port(), secrets_path, "{}", {bearer(key_a)});
    EXPECT_EQ(result.status, 404);
    EXPECT_NE(error_message(result).find("auth.mode"), std::string::npos) << result.body;
}

TEST(ClientSecrets, NeitherTheKeyNorTheSecretReachesTheLog) {
    KeysFile keys(std::vector<json>{key_entry("team-a", key_a)});
    LogCapture log;
    Config config = auth_config(keys);
    config.log.level = "debug";  // everything the gateway would ever say
    TestGateway gateway(config);
    const std::string secret = issue(gateway.port())["value"];
    {
        auto ws = connect_with(gateway.port(), secret);
        ASSERT_EQ(ws->read_json()["type"], "session.created");
        ws->close();
    }
    EXPECT_EQ(http_upgrade(gateway.port(), "/v1/realtime", {secret_subprotocol(secret)}).status, 401);
    gateway.shutdown();
    const std::string text = log.text();
    ASSERT_NE(text.find("shutdown complete"), std::string::npos) << "the capture saw nothing:\n" << text;
    EXPECT_EQ(text.find(secret), std::string::npos);
    EXPECT_EQ(text.find(secret.substr(3)), std::string::npos);
    EXPECT_EQ(text.find(key_a), std::string::npos);
}

}  // namespace
}  // namespace voxgate::test
