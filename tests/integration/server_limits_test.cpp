// Connection bounds and timers through the real server (issue 8, "Limits"): the shard
// sweeper's invariants, the handshake / write-progress / message deadlines, ping floods,
// HTTP keep-alive limits and the connection counts decided at accept.
//
// Every wait is a condition with a generous deadline; no test measures time.
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include "support/mock_upstream.hpp"
#include "support/test_gateway.hpp"
#include "support/test_tls.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

using namespace std::chrono_literals;
namespace websocket = boost::beast::websocket;

double closed_for(std::uint16_t port, const std::string& reason) {
    return scrape_metric(port, "voxgate_connections_closed_total", "{reason=\"" + reason + "\"}");
}

// A raw TCP client: for clients that misbehave below HTTP/WebSocket.
class RawClient {
public:
    explicit RawClient(std::uint16_t port) : socket_(ioc_) {
        socket_.connect({asio::ip::make_address("127.0.0.1"), port});
    }
    // False once the server has closed or reset the connection.
    bool send(const std::string& bytes) {
        error_code ec;
        asio::write(socket_, asio::buffer(bytes), ec);
        return !ec;
    }
    // Waits until the server closes the connection (EOF or reset); bytes read meanwhile
    // are kept in received(). False if it is still open at the deadline.
    bool closed_by_server(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd fd{socket_.native_handle(), POLLIN, 0};
            if (::poll(&fd, 1, 50) <= 0) continue;
            char chunk[4096];
            error_code ec;
            auto n = socket_.read_some(asio::buffer(chunk), ec);
            received_.append(chunk, n);
            if (ec) return true;
        }
        return false;
    }
    const std::string& received() const { return received_; }

private:
    asio::io_context ioc_;
    tcp::socket socket_;
    std::string received_;
};

const std::string upgrade_request =
    "GET /v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// ---------------------------------------------------------------------------------------
// The sweeper

// Review H1: a closing connection that keeps sending frames used to refresh its activity
// and stay where it was in the sweeper's list, so the sweep stopped at it: its own close
// grace never fired and every connection behind it lost its idle timeout and pings.
TEST(ServerLimits, ClosingConnectionThatKeepsSendingIsCutAndDoesNotFreezeTheSweep) {
    auto config = test_config();
    config.server.threads = 1;  // one shard: the two clients share one sweeper
    config.limits.ping_interval = 1s;
    config.limits.idle_timeout = 3s;
    config.limits.max_pings_per_second = 5;
    TestGateway gateway(config);

    // A pings too fast: the server closes it (1008) and waits for its close frame, which
    // never comes, because A never reads; A keeps sending frames.
    auto closing = WsClient::connect(gateway.port());
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(closing->ping());
    ASSERT_TRUE(eventually([&] { return closed_for(gateway.port(), "ping_rate") >= 1; }));

    // B connects after A's close began, so it sits behind A in the list, and goes silent
    // (it does not read, so it answers no ping).
    auto silent = WsClient::connect(gateway.port(), {.read_timeout = 60s});

    // A's close grace still fires although A keeps sending: the server drops it.
    bool a_cut = eventually(
        [&] {
            std::this_thread::sleep_for(200ms);
            return !closing->ping() || !closing->send_fragment("{}", true);
        },
        60s);
    EXPECT_TRUE(a_cut) << "a closing connection that keeps sending stayed open";

    // B still gets its idle timeout.
    while (silent->read()) {
    }
    EXPECT_EQ(silent->close_reason().code, websocket::close_code::going_away) << silent->error().message();
    EXPECT_EQ(std::string(silent->close_reason().reason.c_str()), "idle timeout");
}

// Review M1: a ping parked behind a stalled write must not be followed by a second one
// (Beast allows one at a time; a second overwrote the first and leaked the connection).
// The client never reads, so the server's write and its ping stall, while the client keeps
// sending data frames, which used to clear the "ping outstanding" flag.
TEST(ServerLimits, StalledPingIsNeverFollowedByASecondAndTheConnectionIsFreed) {
    MockUpstream mock;
    auto config = test_config();
    config.server.threads = 1;
    config.limits.ping_interval = 1s;
    config.limits.idle_timeout = 60s;
    config.limits.slow_client_timeout = 120s;
    config.limits.send_queue_bytes = 1024 * 1024;  // hard limit 8 MiB: no overflow close here
    TestGateway gateway(config);
    auto client = WsClient::connect(gateway.port(), {.read_timeout = 30s, .receive_buffer_bytes = 4096});

    // Stall the server's writes: the echo of each item is more than the socket buffers hold.
    const std::string big_item = R"({"type":"conversation.item.create","item":{"type":"message","role":"user",)"
                                 R"("content":[{"type":"input_text","text":")" +
                                 std::string(200000, 'x') + R"("}]}})";
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(client->send_fragment(big_item, true));
    ASSERT_TRUE(eventually([&] { return scrape_metric(gateway.port(), "voxgate_ws_backpressure_total") >= 1; }, 30s));
    // Silent for more than a ping interval (a ping goes out and stalls behind the write),
    // then a data frame, again and again: each used to clear the flag for a second ping.
    for (int i = 0; i < 6; ++i) {
        std::this_thread::sleep_for(1500ms);
        ASSERT_TRUE(client->send_fragment(R"({"type":"bogus"})", true));
    }
    client->drop();
    // Every object of the connection is freed: nothing holds its socket any more.
    EXPECT_TRUE(eventually([&] { return scrape_metric(gateway.port(), "voxgate_tcp_connections_open") == 1; }, 30s))
        << "the connection leaked (the scrape itself is the one open connection)";
}

// ---------------------------------------------------------------------------------------
// Deadlines

TEST(ServerLimits, SlowlorisHandshakeIsCutAtTheHandshakeTimeout) {
    auto config = test_config();
    config.limits.handshake_timeout = 2s;
    config.limits.idle_timeout = 60s;
    config.limits.ping_interval = 20s;
    TestGateway gateway(config);
    RawClient slowloris(gateway.port());
    // One header byte every 200 ms: the request would take about 40 s to complete.
    bool cut = false;
    for (std::size_t i = 0; i < upgrade_request.size() && !cut; ++i) {
        if (!slowloris.send(upgrade_request.substr(i, 1))) cut = true;
        else cut = slowloris.closed_by_server(200ms);
    }
    EXPECT_TRUE(cut) << "the whole request went through: " << slowloris.received();
    EXPECT_EQ(slowloris.received().find("101"), std::string::npos);
    EXPECT_GE(closed_for(gateway.port(), "handshake_timeout"), 1);
}

// With TLS configured every connection first goes through TLS detection, then the TLS
// handshake: a client that connects and says nothing is cut by the same deadline.
TEST(ServerLimits, ConnectionThatSendsNothingIsCutAtTheHandshakeTimeoutWithTls) {
    auto config = test_config();
    config.tls.cert_file = test_tls().server_cert_file;
    config.tls.key_file = test_tls().server_key_file;
    config.limits.handshake_timeout = 1s;
    config.limits.idle_timeout = 60s;
    config.limits.ping_interval = 20s;
    TestGateway gateway(config);
    RawClient silent(gateway.port());
    EXPECT_TRUE(silent.closed_by_server(30s));
    // Half a ClientHello, then silence: cut by the TLS handshake's share of the deadline.
    RawClient half_hello(gateway.port());
    ASSERT_TRUE(half_hello.send(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)));
    EXPECT_TRUE(half_hello.closed_by_server(30s));
    EXPECT_TRUE(eventually([&] { return closed_for(gateway.port(), "handshake_timeout") >= 2; }, 30s));
}

// nginx send_timeout: a client with queued output that takes nothing for
// slow_client_timeout is closed, whatever it sends meanwhile, and its upstream transfer is
// cancelled.
TEST(ServerLimits, ClientThatStopsReadingIsClosedAfterTheSlowClientTimeoutAndItsTransferCancelled) {
    MockUpstream mock;
    auto config = test_config();
    ProviderConfig provider;
    provider.name = "mock";
    provider.kind = "openai";
    provider.base_url = mock.base_url();
    provider.api_key = "test-key";
    config.providers = {provider};
    config.routes = {{"*", {"mock"}}};
    config.limits.slow_client_timeout = 2s;
    config.limits.send_queue_bytes = 64 * 1024;
    config.limits.ping_interval = 1s;
    config.limits.idle_timeout = 60s;
    TestGateway gateway(config);
    auto client = WsClient::connect(gateway.port(), {.read_timeout = 30s, .receive_buffer_bytes = 4096});
    ASSERT_TRUE(client->read().has_value());  // session.created
    client->send_text(
        R"({"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"Go [mock tokens=200000]"}]}})");
    client->send_text(R"({"type":"response.create"})");
    ASSERT_TRUE(eventually([&] { return mock.request_count() >= 1; }, 30s));

    // Never reads; keeps sending pings (which count as activity, not as write progress).
    bool closed = eventually(
        [&] {
            client->ping();
            std::this_thread::sleep_for(200ms);
            return closed_for(gateway.port(), "slow_client") >= 1;
        },
        60s);
    EXPECT_TRUE(closed);
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 30s)) << "the upstream transfer was not cancelled";
    EXPECT_TRUE(eventually([&] { return scrape_metric(gateway.port(), "voxgate_tcp_connections_open") == 1; }, 30s));
}

TEST(ServerLimits, DribbledFragmentedMessageIsClosedWith1008AtTheMessageTimeout) {
    auto config = test_config();
    config.limits.message_timeout = 2s;
    config.limits.ping_interval = 1s;
    config.limits.idle_timeout = 60s;
    TestGateway gateway(config);
    auto client = WsClient::connect(gateway.port(), {.read_timeout = 30s});
    ASSERT_TRUE(client->read().has_value());  // session.created
    ASSERT_TRUE(client->send_fragment(R"({"type":"conversation.item.create",)", false));
    // One byte and a ping every 200 ms: activity, but the message never completes.
    bool closed = eventually(
        [&] {
            std::this_thread::sleep_for(200ms);
            return !client->send_fragment(" ", false) || !client->ping() ||
                   closed_for(gateway.port(), "message_timeout") >= 1;
        },
        60s);
    EXPECT_TRUE(closed);
    while (client->read()) {
    }
    EXPECT_EQ(client->close_reason().code, websocket::close_code::policy_error);
    EXPECT_EQ(std::string(client->close_reason().reason.c_str()), "message timeout");
}

TEST(ServerLimits, PingFloodIsClosedWith1008) {
    auto config = test_config();
    config.limits.max_pings_per_second = 5;
    TestGateway gateway(config);
    auto client = WsClient::connect(gateway.port(), {.read_timeout = 30s});
    for (int i = 0; i < 50 && client->ping(); ++i) {
    }
    while (client->read()) {
    }
    EXPECT_EQ(client->close_reason().code, websocket::close_code::policy_error);
    EXPECT_EQ(std::string(client->close_reason().reason.c_str()), "ping rate exceeded");
    EXPECT_GE(closed_for(gateway.port(), "ping_rate"), 1);
}

// ---------------------------------------------------------------------------------------
// HTTP keep-alive

TEST(ServerLimits, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
    auto config = test_config();
    config.limits.ping_interval = 1s;
    config.limits.idle_timeout = 2s;
    TestGateway gateway(config);
    RawClient client(gateway.port());
    ASSERT_TRUE(client.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(client.closed_by_server(30s));
    EXPECT_NE(client.received().find("200 OK"), std::string::npos) << client.received();
    EXPECT_GE(closed_for(gateway.port(), "idle_timeout"), 1);
}

TEST(ServerLimits, KeepAliveConnectionIsClosedAfterMaxRequests) {
    auto config = test_config();
    config.limits.max_requests_per_connection = 2;
    TestGateway gateway(config);
    RawClient client(gateway.port());
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_TRUE(client.send(request + request + request));
    EXPECT_TRUE(client.closed_by_server(30s));
    const auto& answer = client.received();
    std::size_t responses = 0;
    for (auto at = answer.find("HTTP/1.1 200"); at != std::string::npos; at = answer.find("HTTP/1.1 200", at + 1))
        ++responses;
    EXPECT_EQ(responses, 2u) << answer;
    EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
}

// ---------------------------------------------------------------------------------------
// Connection counts at accept

TEST(ServerLimits, MaxConnectionsCountsEveryTcpConnectionAndRefusesPastIt) {
    auto config = test_config();
    config.limits.max_connections = 3;
    config.limits.handshake_timeout = 60s;  // the refusal must not be a handshake timeout
    config.server.threads = 1;  // one acceptor: connections are accepted in the order they were made
    TestGateway gateway(config);
    // Three connections that never send a byte (not WebSockets): they count.
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < 3; ++i) held.push_back(std::make_unique<RawClient>(gateway.port()));
    RawClient refused(gateway.port());
    EXPECT_TRUE(refused.closed_by_server(5s)) << "a connection past max_connections was kept";
    EXPECT_TRUE(refused.received().empty());

    held.clear();
    ASSERT_TRUE(wait_healthy(gateway.port(), 30s)) << "connections were not released";
    EXPECT_GE(closed_for(gateway.port(), "max_connections"), 1);
    auto client = WsClient::connect(gateway.port());
    EXPECT_TRUE(client->read().has_value());
}

TEST(ServerLimits, ConnectionsPerIpAreCappedAndReleased) {
    auto config = test_config();
    config.limits.max_connections_per_ip = 2;
    TestGateway gateway(config);
    auto first = WsClient::connect(gateway.port());
    auto second = WsClient::connect(gateway.port());
    RawClient third(gateway.port());
    EXPECT_TRUE(third.closed_by_server(30s));
    first->close();
    second->close();
    first.reset();
    second.reset();
    // The scrape itself needs one of the two slots, which the server frees only when it has
    // seen the closes: retry until it gets through (-1 = refused).
    EXPECT_TRUE(eventually([&] { return closed_for(gateway.port(), "max_connections_per_ip") >= 1; }, 30s));
    // The address's entry goes with its last connection (the health check's included).
    EXPECT_TRUE(eventually([&] { return gateway.runtime().context().admission.tracked_peers() == 0; }, 30s));
}

TEST(ServerLimits, HandshakesPerSecondPerIpAreRateLimited) {
    auto config = test_config();
    config.limits.max_handshakes_per_second_per_ip = 1;
    TestGateway gateway(config);
    // Ten connections at once from one address; the bucket holds one.
    int refused = 0;
    for (int i = 0; i < 10; ++i) {
        RawClient client(gateway.port());
        client.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        client.closed_by_server(30s);
        if (client.received().find("200 OK") == std::string::npos) ++refused;
    }
    EXPECT_GE(refused, 1);
    EXPECT_TRUE(eventually([&] { return closed_for(gateway.port(), "handshake_rate") >= 1; }, 30s));
}

}  // namespace
}  // namespace voxgate::test
