// One port serves plain and TLS clients: the gateway detects a TLS ClientHello on the
// first bytes. Real TLS with a test CA generated at test time.
#include <gtest/gtest.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <array>
#include <chrono>
#include <cstdio>

#include "support/test_gateway.hpp"
#include "support/test_tls.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;

Config tls_config() {
    auto config = test_config();
    config.tls.cert_file = test_tls().server_cert_file;
    config.tls.key_file = test_tls().server_key_file;
    return config;
}

// GET over TLS verified against `ca_file`; throws on handshake failure.
int https_get_status(std::uint16_t port, const std::string& target, const std::string& ca_file) {
    asio::io_context ioc;
    ssl::context tls(ssl::context::tls_client);
    tls.load_verify_file(ca_file);
    tls.set_verify_mode(ssl::verify_peer);
    beast::ssl_stream<tcp::socket> stream(ioc, tls);
    stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    beast::get_lowest_layer(stream).connect({asio::ip::make_address("127.0.0.1"), port});
    stream.handshake(ssl::stream_base::client);
    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, "127.0.0.1");
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    return static_cast<int>(response.result_int());
}

TEST(ServerTls, PlainAndTlsHttpOnTheSamePort) {
    TestGateway gateway(tls_config());
    EXPECT_EQ(http_get(gateway.port(), "/healthz").status, 200);
    EXPECT_EQ(https_get_status(gateway.port(), "/healthz", test_tls().ca_file), 200);
    EXPECT_EQ(https_get_status(gateway.port(), "/nope", test_tls().ca_file), 404);
}

TEST(ServerTls, PlainAndTlsWebSocketsOnTheSamePort) {
    TestGateway gateway(tls_config());
    auto plain = WsClient::connect(gateway.port());
    auto secure = WsClient::connect(gateway.port(), {.tls = true, .ca_file = test_tls().ca_file});
    EXPECT_EQ(plain->read_json()["type"], "session.created");
    EXPECT_EQ(secure->read_json()["type"], "session.created");
    auto metrics = http_get(gateway.port(), "/metrics").body;
    EXPECT_EQ(metric_value(metrics, "voxgate_connections_active"), 2);
}

TEST(ServerTls, ClientTrustingAnotherCaRefusesTheCertificate) {
    TestGateway gateway(tls_config());
    EXPECT_THROW(https_get_status(gateway.port(), "/healthz", test_tls().other_ca_file), boost::system::system_error);
    // The failed handshake does not disturb the listener.
    EXPECT_EQ(https_get_status(gateway.port(), "/healthz", test_tls().ca_file), 200);
}

TEST(ServerTls, WithoutTlsConfiguredATlsClientIsRefused) {
    TestGateway gateway;
    EXPECT_THROW(https_get_status(gateway.port(), "/healthz", test_tls().ca_file), boost::system::system_error);
    EXPECT_EQ(http_get(gateway.port(), "/healthz").status, 200);
}

// A TLS client that asks for a close (HTTP/1.0) and then never sends its close_notify nor
// closes: the server sends its own close_notify and cuts the socket after a short linger,
// instead of waiting for the peer forever (one pinned descriptor per such client).
TEST(ServerTls, SilentPeerAfterAnHttp10ResponseIsClosedWithinTheLinger) {
    TestGateway gateway(tls_config());
    asio::io_context ioc;
    ssl::context tls(ssl::context::tls_client);
    tls.load_verify_file(test_tls().ca_file);
    beast::ssl_stream<tcp::socket> stream(ioc, tls);
    beast::get_lowest_layer(stream).connect({asio::ip::make_address("127.0.0.1"), gateway.port()});
    stream.handshake(ssl::stream_base::client);
    http::request<http::empty_body> request{http::verb::get, "/healthz", 10};
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    EXPECT_EQ(response.result_int(), 200u);

    // Read the raw TCP stream (never answering the server's close_notify) until EOF.
    auto& socket = beast::get_lowest_layer(stream);
    timeval limit{15, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    const auto started = std::chrono::steady_clock::now();
    std::array<char, 512> raw{};
    ssize_t got = 1;
    while (got > 0) got = ::recv(socket.native_handle(), raw.data(), raw.size(), 0);
    EXPECT_EQ(got, 0) << "the server did not close the connection within 15 s";
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(15));
}

// Accepted sockets carry TCP keepalive, so a peer that vanished (mobile, NAT) is found by
// the kernel: `ss -o` shows the server-side socket's keepalive timer.
TEST(ServerSockets, AcceptedSocketsHaveTcpKeepalive) {
    TestGateway gateway;
    auto client = WsClient::connect(gateway.port());
    ASSERT_EQ(client->read_json()["type"], "session.created");
    const std::string command =
        "ss -tnoH state established '( sport = :" + std::to_string(gateway.port()) + " )' 2>&1";
    std::string output;
    if (std::FILE* pipe = ::popen(command.c_str(), "r")) {
        std::array<char, 512> line{};
        while (std::fgets(line.data(), line.size(), pipe)) output += line.data();
        ::pclose(pipe);
    }
    EXPECT_NE(output.find("timer:(keepalive"), std::string::npos) << output;
}

}  // namespace
}  // namespace voxgate::test
