// The WebSocket transport: upgrade routing, limits, keepalive, idle timeout and
// connection counting, with a real Beast client over loopback.
#include <gtest/gtest.h>

#include <thread>

#include "support/fd_limit.hpp"
#include "support/load_scale.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

namespace websocket = boost::beast::websocket;

double scrape(std::uint16_t port, const std::string& name) {
    return metric_value(http_get(port, "/metrics").body, name).value_or(-1);
}

// Polls /metrics until `name` reaches `expected` or a generous deadline passes.
double wait_for_metric(std::uint16_t port, const std::string& name, double expected) {
    double value = -1;
    for (int i = 0; i < 500; ++i) {
        value = scrape(port, name);
        if (value == expected) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return value;
}

TEST(ServerWebSocket, UpgradeAtRealtimeWithQueryStringSucceeds) {
    TestGateway gateway;
    auto client = WsClient::connect(gateway.port(), {.target = "/v1/realtime?model=gpt-4o-mini"});
    EXPECT_EQ(wait_for_metric(gateway.port(), "voxgate_connections_active", 1), 1);
    client->close();
    EXPECT_EQ(wait_for_metric(gateway.port(), "voxgate_connections_active", 0), 0);
    EXPECT_EQ(scrape(gateway.port(), "voxgate_connections_total"), 1);
}

TEST(ServerWebSocket, UpgradeElsewhereIsRefusedWith404) {
    TestGateway gateway;
    try {
        WsClient::connect(gateway.port(), {.target = "/v1/other"});
        FAIL() << "handshake should have been refused";
    } catch (const boost::system::system_error& e) {
        EXPECT_EQ(e.code(), websocket::error::upgrade_declined) << e.what();
    }
    auto metrics = http_get(gateway.port(), "/metrics").body;
    EXPECT_EQ(metric_value(metrics, "voxgate_http_requests_total", "{code=\"404\",path=\"other\"}"), 1);
}

TEST(ServerWebSocket, RealtimeSubprotocolIsSelectedWhenOffered) {
    TestGateway gateway;
    auto client = WsClient::connect(gateway.port(), {.headers = {{"Sec-WebSocket-Protocol", "realtime, other"}}});
    EXPECT_EQ(client->selected_subprotocol(), "realtime");
}

TEST(ServerWebSocket, OversizeMessageClosesWith1009) {
    auto config = test_config();
    config.limits.max_message_bytes = 4096;
    TestGateway gateway(config);
    auto client = WsClient::connect(gateway.port());
    client->send_text(std::string(8192, 'x'));
    while (client->read()) {
    }
    // The gateway tears the connection down right after its close frame, so the client's
    // close reply may fail (EPIPE); the code it received is what matters.
    EXPECT_EQ(client->close_reason().code, websocket::close_code::too_big);
}

TEST(ServerWebSocket, SilentClientIsClosedAfterIdleTimeout) {
    auto config = test_config();
    config.limits.ping_interval = std::chrono::seconds(1);
    config.limits.idle_timeout = std::chrono::seconds(2);
    TestGateway gateway(config);
    auto client = WsClient::connect(gateway.port(), {.read_timeout = std::chrono::seconds(15)});
    // Not reading means not answering pings: the gateway must give up on us.
    std::this_thread::sleep_for(std::chrono::milliseconds(3500));
    while (client->read()) {
    }
    EXPECT_EQ(client->error(), websocket::error::closed) << client->error().message();
    EXPECT_EQ(client->close_reason().code, websocket::close_code::going_away);
    EXPECT_EQ(std::string(client->close_reason().reason.c_str()), "idle timeout");
}

TEST(ServerWebSocket, PongsKeepAReadingClientAlive) {
    auto config = test_config();
    // A pong has idle_timeout - ping_interval (5 s) to arrive: wide enough for a loaded
    // 2-core machine, while the client stays connected for more than twice the idle timeout.
    config.limits.ping_interval = std::chrono::seconds(1);
    config.limits.idle_timeout = std::chrono::seconds(6);
    TestGateway gateway(config);
    auto client = WsClient::connect(gateway.port(), {.read_timeout = std::chrono::seconds(14)});
    ASSERT_EQ(client->read_json()["type"], "session.created");
    // A blocking read answers pings; the only way out of it is our own read timeout.
    EXPECT_FALSE(client->read().has_value());
    EXPECT_GE(client->pings_received(), 3);
    EXPECT_EQ(client->error(), asio::error::timed_out) << "closed although it answered pings";
}

TEST(ServerWebSocket, TwoThousandConcurrentConnectionsAreCounted) {
    const int connections = load_count(2000, 500);
    // Both ends of every socket live in this process, plus the gateway's own descriptors.
    ASSERT_TRUE(fd_budget_allows(2 * connections + 200));
    TestGateway gateway;
    std::vector<std::unique_ptr<WsClient>> clients;
    clients.reserve(connections);
    for (int i = 0; i < connections; ++i) clients.push_back(WsClient::connect(gateway.port()));
    EXPECT_EQ(wait_for_metric(gateway.port(), "voxgate_connections_active", connections), connections);
    EXPECT_EQ(scrape(gateway.port(), "voxgate_connections_total"), connections);
    for (auto& client : clients) client->close();
    clients.clear();
    EXPECT_EQ(wait_for_metric(gateway.port(), "voxgate_connections_active", 0), 0);
}

TEST(ServerWebSocket, ShutdownClosesWebSocketsWith1001) {
    TestGateway gateway;
    auto client = WsClient::connect(gateway.port());
    std::thread stopper([&] { gateway.shutdown(); });
    while (client->read()) {
    }
    stopper.join();
    EXPECT_EQ(client->close_reason().code, websocket::close_code::going_away);
}

}  // namespace
}  // namespace voxgate::test
