#pragma once
// One HTTP/1.1 connection (plain or TLS): reads requests with size limits, answers the
// plain endpoints with keep-alive, and hands a /v1/realtime upgrade to a WsConnection.
#include <memory>
#include <optional>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>

#include "server/connection_admission.hpp"
#include "server/http_routes.hpp"
#include "server/idle_sweeper.hpp"

namespace voxgate::server {

struct WsEndpoint;

class Shard;

template <class Stream>
class HttpSession final : public IdleTracked, public std::enable_shared_from_this<HttpSession<Stream>> {
public:
    // `buffer` holds bytes already read from the socket (TLS detection); `slot` counts the
    // connection; the first request must be read by `handshake_deadline`.
    HttpSession(Stream&& stream, boost::beast::flat_buffer&& buffer, ConnectionSlot slot,
                clock::time_point handshake_deadline, Shard& shard);

    void run();

    void on_idle_check(clock::time_point now) override;
    void on_shutdown() override;
    std::string describe() const override;
    void fail_internal() override;

private:
    void on_handshake(error_code ec, std::size_t);
    void read_request();
    void on_header(error_code ec, std::size_t bytes);
    void request_arrived();  // a request (or a malformed one) was read: the sweeper learns it
    void on_read(error_code ec, std::size_t bytes);
    void upgrade(HttpRequest request, const WsEndpoint& endpoint);
    void scrape_metrics(HttpRequest request);
    void answer(HttpResponse response, metrics::HttpPath path);  // counts it, then sends it
    void send(HttpResponse response);
    void on_write(bool keep_alive, error_code ec, std::size_t bytes);
    void shutdown();
    void discard_until_eof(std::size_t discarded);
    void close_socket();

    Stream stream_;
    boost::beast::flat_buffer buffer_;
    ConnectionSlot slot_;
    Shard& shard_;
    // Until the first request is read the session is watched by the sweeper and cut at
    // this deadline (limits.handshake_timeout_seconds: slowloris).
    clock::time_point handshake_deadline_;
    std::size_t requests_read_ = 0;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::shared_ptr<HttpResponse> response_;  // the response being written
    bool shutting_down_ = false;
    bool closing_ = false;  // shutdown() started: no further response can be sent
};

// Starts serving an accepted socket counted by `slot`: detects TLS on the first bytes when
// TLS is configured (one port serves both, like Beast's flex server), then runs an HttpSession.
void serve_connection(tcp_socket socket, ConnectionSlot slot, Shard& shard);

}  // namespace voxgate::server
