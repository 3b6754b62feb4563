#include "server/metrics_listener.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "server/http_routes.hpp"
#include "server/metrics_service.hpp"

namespace voxgate::server {

namespace beast = boost::beast;

namespace {

// One scrape connection: read a request, answer, close.
class MetricsConnection : public std::enable_shared_from_this<MetricsConnection> {
public:
    MetricsConnection(tcp_socket socket, MetricsService& service, std::shared_ptr<MetricsListener> listener)
        : stream_(std::move(socket)), service_(service), listener_(std::move(listener)) {}
    ~MetricsConnection() { listener_->connection_closed(); }

    void run() {
        stream_.expires_after(MetricsListener::request_timeout);
        parser_.header_limit(8 * 1024);
        parser_.body_limit(0);  // no endpoint here takes a body
        http::async_read_header(stream_, buffer_, parser_,
                                [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
    }

private:
    void on_header(error_code ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::operation_aborted || ec == beast::error::timeout)
            return;
        if (ec) return send(error_response(http::status::bad_request, "invalid_request", ec.message(), 11, false));
        const auto& request = parser_.get();
        if (parser_.chunked())
            return send(error_response(http::status::length_required, "invalid_request",
                                       "request bodies are not accepted", request.version(), false));
        auto response = metrics_port_response(request, service_);
        if (!response) {
            auto text = service_.scrape_here();
            response = text ? metrics_response(request, std::move(*text))
                            : error_response(http::status::internal_server_error, "internal_error",
                                             "the metrics could not be collected", request.version(), false);
        }
        response->keep_alive(false);
        send(std::move(*response));
    }

    void send(HttpResponse response) {
        response_ = std::move(response);
        http::async_write(stream_, response_, [self = shared_from_this()](error_code, std::size_t) {
            error_code ignored;
            self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        });
    }

    beast::basic_stream<tcp, executor_type> stream_;
    beast::flat_buffer buffer_;
    http::request_parser<http::string_body> parser_;  // body_limit 0: never a body
    HttpResponse response_;
    MetricsService& service_;
    std::shared_ptr<MetricsListener> listener_;
};

}  // namespace

MetricsListener::MetricsListener(MetricsService& service, const tcp::endpoint& endpoint)
    : service_(service),
      acceptor_(service.io_context().get_executor()),
      backoff_(service.io_context().get_executor()) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
}

void MetricsListener::start() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] { self->accept_next(); });
}

void MetricsListener::accept_next() {
    acceptor_.async_accept([self = shared_from_this()](error_code ec, tcp_socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (ec) {
            // Out of descriptors: wait instead of spinning on the error.
            self->backoff_.expires_after(std::chrono::milliseconds(200));
            self->backoff_.async_wait([self](error_code wait_ec) {
                if (!wait_ec) self->accept_next();
            });
            return;
        }
        if (self->open_ >= max_connections) {
            error_code ignored;
            socket.close(ignored);  // a scraper holding this many connections is broken
        } else {
            ++self->open_;
            std::make_shared<MetricsConnection>(std::move(socket), self->service_, self)->run();
        }
        self->accept_next();
    });
}

}  // namespace voxgate::server
