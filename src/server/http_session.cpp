#include "server/http_session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <spdlog/spdlog.h>

#include "server/gateway_context.hpp"
#include "server/shard.hpp"
#include "server/upgrade_admission.hpp"
#include "server/metrics_service.hpp"
#include "server/tls_socket.hpp"
#include "server/ws_connection.hpp"

namespace voxgate::server {

namespace beast = boost::beast;
using tls_stream = TlsSocket;

namespace {

template <class Stream>
constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

// How long a TLS close waits for the peer's close_notify after sending ours.
constexpr auto tls_close_linger = std::chrono::seconds(2);

// Dead peers (a phone that left the network, a NAT that forgot the flow) are found by the
// kernel even when no timeout of ours runs: first probe after 60 s of silence, then every
// 10 s, given up after 6 unanswered probes.
void enable_tcp_keepalive(tcp_socket& socket) {
    error_code ignored;
    socket.set_option(asio::socket_base::keep_alive(true), ignored);
    const int idle_seconds = 60, interval_seconds = 10, probes = 6;
    const int fd = socket.native_handle();
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_seconds, sizeof idle_seconds);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval_seconds, sizeof interval_seconds);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
}

std::string peer_text(const tcp_socket& socket) {
    error_code ec;
    auto peer = socket.remote_endpoint(ec);
    return ec ? std::string("(closed)") : peer.address().to_string() + ":" + std::to_string(peer.port());
}

// Maps a request that failed to parse to the status the client should see.
http::status status_for_read_error(error_code ec) {
    if (ec == http::error::header_limit) return http::status::request_header_fields_too_large;
    if (ec == http::error::body_limit) return http::status::payload_too_large;
    return http::status::bad_request;
}

}  // namespace

template <class Stream>
HttpSession<Stream>::HttpSession(Stream&& stream, beast::flat_buffer&& buffer, ConnectionSlot slot,
                                 clock::time_point handshake_deadline, Shard& shard)
    : IdleTracked(shard.metrics().internal_errors),
      stream_(std::move(stream)),
      buffer_(std::move(buffer)),
      slot_(std::move(slot)),
      shard_(shard),
      handshake_deadline_(handshake_deadline) {}

template <class Stream>
void HttpSession<Stream>::run() {
    shard_.sweeper().track(*this);
    shard_.sweeper().watch(*this);  // until the first request is in: handshake deadline
    if constexpr (is_tls<Stream>) {
        stream_.async_handshake(buffer_.data(),
                                contained_handler(this->shared_from_this(), &HttpSession::on_handshake));
    } else {
        read_request();
    }
}

template <class Stream>
void HttpSession<Stream>::on_handshake(error_code ec, std::size_t) {
    if (ec) {
        spdlog::debug("TLS handshake failed: {}", ec.message());
        return shutdown();
    }
    buffer_.consume(buffer_.size());  // the TLS stream took the detected bytes at the start
    read_request();
}

template <class Stream>
void HttpSession<Stream>::read_request() {
    const auto& limits = shard_.gateway().config.limits;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(limits.max_http_header_bytes));
    parser_->body_limit(limits.max_http_body_bytes);
    http::async_read_header(stream_, buffer_, *parser_,
                            contained_handler(this->shared_from_this(), &HttpSession::on_header));
}

// A chunked request body is refused before its first chunk is parsed: Beast 1.81's chunk
// parser asserts on some malformed trailers (found by the http_request fuzzer). The one
// endpoint that reads a body (POST /v1/realtime/client_secrets) gets small JSON, which
// every client sends with Content-Length.
template <class Stream>
void HttpSession<Stream>::on_header(error_code ec, std::size_t bytes) {
    if (ec || parser_->is_done()) return on_read(ec, bytes);
    if (parser_->chunked()) {
        request_arrived();
        shard_.metrics().http_request(classify_path(target_path(parser_->get().target())), 411);
        return send(error_response(http::status::length_required, "invalid_request",
                                   "chunked request bodies are not accepted: send Content-Length",
                                   parser_->get().version(), false));
    }
    http::async_read(stream_, buffer_, *parser_, contained_handler(this->shared_from_this(), &HttpSession::on_read));
}

template <class Stream>
void HttpSession<Stream>::on_read(error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
        ec == asio::ssl::error::stream_truncated)
        return shutdown();
    request_arrived();
    if (ec) {
        auto status = status_for_read_error(ec);
        shard_.metrics().http_request(metrics::HttpPath::other, static_cast<int>(status));
        // After a malformed request the stream position is unknown: answer and close.
        return send(error_response(status, "invalid_request", ec.message(), 11, false));
    }
    auto request = parser_->release();
    parser_.reset();
    auto path = target_path(request.target());
    if (beast::websocket::is_upgrade(request)) {
        const auto& gateway = shard_.gateway();
        if (const auto* endpoint = find_ws_endpoint(gateway, path)) return upgrade(std::move(request), *endpoint);
        shard_.metrics().http_request(classify_path(path), 404);
        const auto served = served_ws_paths(gateway);
        return send(error_response(http::status::not_found, "not_found",
                                   served.empty() ? "this server serves no WebSocket endpoint"
                                                  : "WebSocket upgrades are served only at " + served,
                                   request.version(), false));
    }
    auto response = handle_http_request(request, shard_);
    if (!response) return scrape_metrics(std::move(request));
    answer(std::move(*response), classify_path(path));
}

// The scrape runs on the metrics thread; this connection reads nothing more until the text
// comes back (HTTP/1.1 answers in order anyway).
template <class Stream>
void HttpSession<Stream>::scrape_metrics(HttpRequest request) {
    shard_.gateway().metrics_service->async_scrape(
        stream_.get_executor(), [self = this->shared_from_this(), request = std::move(request)](
                                    std::optional<std::string> text) mutable {
            self->contained("metrics reply", [&] {
                if (self->closing_) return;
                self->answer(text ? metrics_response(request, std::move(*text))
                                  : error_response(http::status::internal_server_error, "internal_error",
                                                   "the metrics could not be collected", request.version(), false),
                             metrics::HttpPath::metrics);
            });
        });
}

template <class Stream>
void HttpSession<Stream>::answer(HttpResponse response, metrics::HttpPath path) {
    shard_.metrics().http_request(path, static_cast<int>(response.result_int()));
    const auto max_requests = shard_.gateway().config.limits.max_requests_per_connection;
    if (shutting_down_ || (max_requests > 0 && requests_read_ >= max_requests)) response.keep_alive(false);
    send(std::move(response));
}

template <class Stream>
void HttpSession<Stream>::request_arrived() {
    auto now = clock::now();
    if (requests_read_++ == 0) shard_.sweeper().unwatch(*this, now);  // the handshake phase is over
    shard_.sweeper().touch(*this, now);
}

template <class Stream>
void HttpSession<Stream>::upgrade(HttpRequest request, const WsEndpoint& endpoint) {
    auto& gateway = shard_.gateway();
    auto refuse = [&](std::string_view message) {
        shard_.metrics().http_request(endpoint.metrics_path, 503);
        send(error_response(http::status::service_unavailable, "unavailable", message, request.version(), false));
    };
    if (gateway.refusing_new_work.load(std::memory_order_relaxed)) return refuse("server is shutting down");
    UpgradeInfo info;
    info.endpoint = &endpoint;
    if (target_path(request.target()).size() < request.target().size())
        info.query = parse_query(request.target().substr(target_path(request.target()).size() + 1));
    error_code peer_ec;
    auto peer = beast::get_lowest_layer(stream_).remote_endpoint(peer_ec);
    if (!peer_ec) info.peer_address = peer.address();
    if (auto refusal = endpoint.admit ? endpoint.admit(request, info, gateway, shard_.metrics()) : std::nullopt) {
        shard_.metrics().http_request(endpoint.metrics_path, static_cast<int>(refusal->status));
        // Refused before the upgrade: an ordinary HTTP error, and the connection closes.
        return send(error_response(refusal->status, refusal->type, refusal->message, request.version(), false));
    }
    shard_.metrics().http_request(endpoint.metrics_path, 101);
    IdleTracked::unlink();  // from here the WebSocket connection is tracked instead
    // The WebSocket handshake must finish by the connection's handshake deadline (a later
    // request on a keep-alive connection gets a fresh one).
    auto deadline = requests_read_ == 1 ? handshake_deadline_
                                        : clock::now() + gateway.config.limits.handshake_timeout;
    auto connection = std::make_shared<WsConnection<Stream>>(std::move(stream_), std::move(slot_), deadline, shard_);
    connection->run(std::move(request), std::move(info));
}

template <class Stream>
void HttpSession<Stream>::send(HttpResponse response) {
    bool keep_alive = response.keep_alive();
    response_ = std::make_shared<HttpResponse>(std::move(response));
    http::async_write(stream_, *response_,
                      contained_handler(this->shared_from_this(), &HttpSession::on_write, keep_alive));
}

template <class Stream>
void HttpSession<Stream>::on_write(bool keep_alive, error_code ec, std::size_t) {
    response_.reset();
    if (ec) return shutdown();
    if (!keep_alive || shutting_down_) return shutdown();
    read_request();
}

template <class Stream>
void HttpSession<Stream>::shutdown() {
    closing_ = true;
    if constexpr (is_tls<Stream>) {
        IdleTracked::unlink();
        // Send close_notify, but never wait long for the peer's: async_shutdown reads until
        // the peer answers, and a silent peer would pin this session and its fd forever
        // (nginx and Envoy close after a short linger too). A timer exists only while closing.
        auto linger = std::make_shared<steady_timer>(stream_.get_executor());
        linger->expires_after(tls_close_linger);
        linger->async_wait([self = this->shared_from_this()](error_code ec) {
            if (ec) return;  // the shutdown finished first
            error_code ignored;
            self->stream_.next_layer().close(ignored);  // the pending shutdown ends with operation_aborted
        });
        stream_.async_shutdown([self = this->shared_from_this(), linger](error_code, std::size_t) {
            linger->cancel();
            error_code ignored;
            self->stream_.next_layer().close(ignored);
        });
    } else {
        error_code ignored;
        stream_.shutdown(tcp::socket::shutdown_send, ignored);
        discard_until_eof(0);
    }
}

template <class Stream>
void HttpSession<Stream>::discard_until_eof(std::size_t discarded) {
    // Lingering close: a client may still be sending (say, a body we refused with 413).
    // Closing with unread bytes makes the kernel answer with a RST that can destroy the
    // response still in flight, so read and drop a bounded amount until the client's EOF.
    // The sweeper's idle timeout bounds the wait.
    constexpr std::size_t max_discard = 4 * 1024 * 1024;
    if (discarded > max_discard || !beast::get_lowest_layer(stream_).is_open()) return close_socket();
    thread_local char sink[4096];  // contents are thrown away: one per thread suffices
    beast::get_lowest_layer(stream_).async_read_some(
        asio::buffer(sink), [self = this->shared_from_this(), discarded](error_code ec, std::size_t bytes) {
            if (ec) return self->close_socket();
            self->contained("lingering close", [&] { self->discard_until_eof(discarded + bytes); });
        });
}

template <class Stream>
void HttpSession<Stream>::close_socket() {
    IdleTracked::unlink();
    error_code ignored;
    beast::get_lowest_layer(stream_).close(ignored);  // pending operations end with operation_aborted
}

template <class Stream>
void HttpSession<Stream>::on_idle_check(clock::time_point now) {
    if (watched()) {  // handshake phase: TLS handshake and first request
        if (now < handshake_deadline_) return;
        shard_.metrics().connection_closed(metrics::ConnectionClose::handshake_timeout);
        return close_socket();
    }
    if (now - last_activity() >= shard_.gateway().config.limits.idle_timeout) {
        shard_.metrics().connection_closed(metrics::ConnectionClose::idle_timeout);
        close_socket();
    }
}

template <class Stream>
std::string HttpSession<Stream>::describe() const {
    return std::string(is_tls<Stream> ? "https" : "http") + " peer " + peer_text(beast::get_lowest_layer(stream_));
}

template <class Stream>
void HttpSession<Stream>::fail_internal() {
    if (response_ || closing_ || !beast::get_lowest_layer(stream_).is_open()) {
        // Mid-write or already closing: the client cannot be told cleanly any more, so
        // only this socket is cut.
        IdleTracked::unlink();
        error_code ignored;
        beast::get_lowest_layer(stream_).close(ignored);
        return;
    }
    shard_.metrics().http_request(metrics::HttpPath::other, 500);
    send(error_response(http::status::internal_server_error, "internal_error", "internal error", 11, false));
}

template <class Stream>
void HttpSession<Stream>::on_shutdown() {
    shutting_down_ = true;
    if (!response_) close_socket();  // idle between requests: nothing to finish
}

template class HttpSession<tcp_socket>;
template class HttpSession<tls_stream>;

namespace {

// Reads just enough of a new connection to tell a TLS ClientHello from plain HTTP.
// Tracked by the sweeper so a client that connects and says nothing is cut off.
class TlsDetector final : public IdleTracked, public std::enable_shared_from_this<TlsDetector> {
public:
    TlsDetector(tcp_socket socket, ConnectionSlot slot, clock::time_point handshake_deadline, Shard& shard)
        : IdleTracked(shard.metrics().internal_errors),
          socket_(std::move(socket)),
          slot_(std::move(slot)),
          shard_(shard),
          handshake_deadline_(handshake_deadline) {}

    void run() {
        shard_.sweeper().track(*this);
        shard_.sweeper().watch(*this);
        beast::async_detect_ssl(socket_, buffer_,
                                contained_handler(shared_from_this(), &TlsDetector::on_detect));
    }

    void on_idle_check(clock::time_point now) override {
        if (now < handshake_deadline_) return;
        shard_.metrics().connection_closed(metrics::ConnectionClose::handshake_timeout);
        on_shutdown();
    }
    void on_shutdown() override {
        IdleTracked::unlink();
        error_code ignored;
        socket_.close(ignored);
    }
    std::string describe() const override { return "tls detection peer " + peer_text(socket_); }
    void fail_internal() override { on_shutdown(); }

private:
    void on_detect(error_code ec, bool is_tls) {
        IdleTracked::unlink();
        if (ec) return;  // the client went away before sending anything
        if (is_tls) {
            tls_stream stream(std::move(socket_), *shard_.gateway().tls);
            std::make_shared<HttpSession<tls_stream>>(std::move(stream), std::move(buffer_), std::move(slot_),
                                                      handshake_deadline_, shard_)
                ->run();
        } else {
            std::make_shared<HttpSession<tcp_socket>>(std::move(socket_), std::move(buffer_), std::move(slot_),
                                                      handshake_deadline_, shard_)
                ->run();
        }
    }

    tcp_socket socket_;
    beast::flat_buffer buffer_;
    ConnectionSlot slot_;
    Shard& shard_;
    clock::time_point handshake_deadline_;
};

}  // namespace

void serve_connection(tcp_socket socket, ConnectionSlot slot, Shard& shard) {
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);  // tokens must not wait for Nagle
    enable_tcp_keepalive(socket);
    auto handshake_deadline = clock::now() + shard.gateway().config.limits.handshake_timeout;
    if (shard.gateway().tls) {
        std::make_shared<TlsDetector>(std::move(socket), std::move(slot), handshake_deadline, shard)->run();
    } else {
        std::make_shared<HttpSession<tcp_socket>>(std::move(socket), beast::flat_buffer{}, std::move(slot),
                                                  handshake_deadline, shard)
            ->run();
    }
}

}  // namespace voxgate::server
