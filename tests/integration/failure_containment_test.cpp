// Failure containment through the real server: a request or a handler failure ends
// only its own connection; the process, the shard and every other session keep going.
#include <gtest/gtest.h>

#include <new>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "server/gateway_context.hpp"
#include "session/client_link.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

using json = nlohmann::json;

// A live Realtime session answers a session.update with session.updated.
void expect_session_answers(WsClient& client) {
    client.send_text(R"({"type":"session.update","session":{"instructions":"still here"}})");
    auto updated = client.read_until("session.updated");
    EXPECT_EQ(updated.value("type", ""), "session.updated");
}

TEST(FailureContainment, InvalidUtf8InTheTargetGetsA404AndEveryoneElseKeepsWorking) {
    TestGateway gateway;
    auto session = WsClient::connect(gateway.port());
    ASSERT_EQ(session->read_json().value("type", ""), "session.created");

    auto raw = http_raw(gateway.port(), "GET /\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(raw.rfind("HTTP/1.1 404", 0), 0u) << raw;
    auto body = json::parse(raw.substr(raw.find("\r\n\r\n") + 4));
    EXPECT_EQ(body["error"]["type"], "not_found");
    EXPECT_NE(body["error"]["message"].get<std::string>().find("/\xEF\xBF\xBD"), std::string::npos)
        << "the invalid byte is replaced by U+FFFD";

    EXPECT_EQ(http_get(gateway.port(), "/healthz").status, 200);
    expect_session_answers(*session);
}

// A protocol handler that echoes every text message, except two that make it throw the way
// a bug or an exhausted heap would.
class ThrowingHandler final : public session::ClientHandler {
public:
    explicit ThrowingHandler(session::ClientLink& link) : link_(link) {}
    void on_open() override { link_.send_text(std::make_shared<const std::string>("ready")); }
    void on_text(std::string_view message) override {
        if (message == "throw runtime_error") throw std::runtime_error("test handler failure");
        if (message == "throw bad_alloc") throw std::bad_alloc();
        link_.send_text(std::make_shared<const std::string>("echo " + std::string(message)));
    }
    void on_binary(std::string_view) override {}
    void on_send_queue_high() override {}
    void on_send_queue_low() override {}
    void on_closed() override {}

private:
    session::ClientLink& link_;
};

void use_throwing_handlers(server::Runtime& runtime) {
    server::find_ws_endpoint(runtime.context(), server::realtime_path)->make_handler =
        [](session::ClientLink& link, server::Shard&, const server::UpgradeInfo&) {
            return std::make_shared<ThrowingHandler>(link);
        };
}

// One shard, so every connection of the test shares the thread that meets the exception.
Config one_shard_config() {
    auto config = test_config();
    config.server.threads = 1;
    config.log.level = "off";  // the barrier logs each failure at error level
    return config;
}

double internal_errors(std::uint16_t port) {
    return metric_value(http_get(port, "/metrics").body, "voxgate_internal_errors_total").value_or(-1);
}

std::unique_ptr<WsClient> connect_ready(std::uint16_t port) {
    auto client = WsClient::connect(port);
    EXPECT_EQ(client->read().value_or(""), "ready");
    return client;
}

std::uint16_t close_code_after(WsClient& client) {
    while (client.read()) {
    }
    return static_cast<std::uint16_t>(client.close_reason().code);
}

TEST(FailureContainment, AThrowingHandlerClosesOnlyItsConnectionWith1011AndIsCounted) {
    TestGateway gateway(one_shard_config(), true, use_throwing_handlers);
    auto bystander = connect_ready(gateway.port());
    EXPECT_EQ(internal_errors(gateway.port()), 0);

    auto victim = connect_ready(gateway.port());
    victim->send_text("throw runtime_error");
    EXPECT_EQ(close_code_after(*victim), 1011);
    EXPECT_EQ(victim->close_reason().reason, "internal error");
    EXPECT_EQ(internal_errors(gateway.port()), 1);

    bystander->send_text("hello");
    EXPECT_EQ(bystander->read().value_or(""), "echo hello");

    auto starved = connect_ready(gateway.port());
    starved->send_text("throw bad_alloc");
    EXPECT_EQ(close_code_after(*starved), 1011);
    EXPECT_EQ(internal_errors(gateway.port()), 2);

    bystander->send_text("still there?");
    EXPECT_EQ(bystander->read().value_or(""), "echo still there?");
    auto newcomer = connect_ready(gateway.port());
    newcomer->send_text("hi");
    EXPECT_EQ(newcomer->read().value_or(""), "echo hi");
}

}  // namespace
}  // namespace voxgate::test
