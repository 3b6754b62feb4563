// Failure containment through the real server: a request or a handler failure ends
// only its own connection; the process, the shard and every other session keep going.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

}  // namespace
}  // namespace voxgate::test
