#include "support/ws_client.hpp"

#include <sys/socket.h>

#include <stdexcept>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace voxgate::test {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;

namespace {

asio::io_context& client_context() {
    // One per thread: reads run it only until their own operation completes.
    thread_local asio::io_context ioc;
    return ioc;
}

template <class NextLayer>
class BasicWsClient final : public WsClient {
public:
    template <class... Args>
    explicit BasicWsClient(Args&&... args) : ws_(std::forward<Args>(args)...) {}

    websocket::stream<NextLayer>& ws() { return ws_; }

    void handshake(const WsOptions& options) {
        read_timeout_ = options.read_timeout;
        ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
            if (kind == websocket::frame_type::ping) ++pings_;
        });
        ws_.set_option(websocket::stream_base::decorator([headers = options.headers](websocket::request_type& req) {
            for (auto& [name, value] : headers) req.set(name, value);
        }));
        websocket::response_type response;
        ws_.handshake(response, "127.0.0.1", options.target);
        subprotocol_ = std::string(response[beast::http::field::sec_websocket_protocol]);
    }

    void send_text(const std::string& text) override {
        ws_.text(true);
        ws_.write(asio::buffer(text));
    }
    void send_binary(const std::string& bytes) override {
        ws_.binary(true);
        ws_.write(asio::buffer(bytes));
    }
    std::optional<std::string> read() override {
        if (error_) return std::nullopt;
        // Asio's blocking reads ignore SO_RCVTIMEO (they poll again), so the read runs
        // asynchronously on this thread's context for at most read_timeout_.
        beast::flat_buffer buffer;
        bool done = false;
        ws_.async_read(buffer, [&](error_code ec, std::size_t) {
            error_ = ec;
            done = true;
        });
        auto& ioc = client_context();
        ioc.restart();
        ioc.run_for(read_timeout_);
        if (!done) {
            error_code ignored;
            beast::get_lowest_layer(ws_).close(ignored);
            ioc.restart();
            while (!done) ioc.run_one();
            error_ = asio::error::timed_out;
        }
        if (error_) return std::nullopt;
        return beast::buffers_to_string(buffer.data());
    }
    void close(std::uint16_t code) override {
        error_code ignored;
        ws_.close(websocket::close_reason(static_cast<websocket::close_code>(code)), ignored);
    }
    bool ping() override {
        error_code ec;
        ws_.ping({}, ec);
        return !ec;
    }
    bool send_fragment(const std::string& text, bool fin) override {
        error_code ec;
        ws_.text(true);
        ws_.write_some(fin, asio::buffer(text), ec);
        return !ec;
    }
    void drop() override {
        error_code ignored;
        beast::get_lowest_layer(ws_).close(ignored);
    }
    int pings_received() const override { return pings_; }
    websocket::close_reason close_reason() const override { return ws_.reason(); }
    error_code error() const override { return error_; }
    std::string selected_subprotocol() const override { return subprotocol_; }

private:
    websocket::stream<NextLayer> ws_;
    error_code error_;
    int pings_ = 0;
    std::string subprotocol_;
    std::chrono::milliseconds read_timeout_{5000};
};

// Opens `socket` and sets SO_RCVBUF before connecting (the window is negotiated at connect).
void open_with_receive_buffer(tcp::socket& socket, int receive_buffer_bytes) {
    socket.open(tcp::v4());
    if (receive_buffer_bytes > 0) socket.set_option(asio::socket_base::receive_buffer_size(receive_buffer_bytes));
}

void set_read_timeout(int fd, std::chrono::milliseconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

}  // namespace

std::unique_ptr<WsClient> WsClient::connect(std::uint16_t port, const WsOptions& options) {
    tcp::endpoint endpoint{asio::ip::make_address("127.0.0.1"), port};
    if (!options.tls) {
        auto client = std::make_unique<BasicWsClient<tcp::socket>>(client_context());
        auto& socket = client->ws().next_layer();
        open_with_receive_buffer(socket, options.receive_buffer_bytes);
        socket.connect(endpoint);
        set_read_timeout(socket.native_handle(), options.read_timeout);
        client->handshake(options);
        return client;
    }
    // One TLS context per client keeps tests independent of each other's trust settings.
    auto tls = std::make_shared<ssl::context>(ssl::context::tls_client);
    if (!options.ca_file.empty()) {
        tls->load_verify_file(options.ca_file);
        tls->set_verify_mode(ssl::verify_peer);
    } else {
        tls->set_verify_mode(ssl::verify_none);
    }
    static thread_local std::vector<std::shared_ptr<ssl::context>> keep_alive;  // outlives the streams
    keep_alive.push_back(tls);
    auto client = std::make_unique<BasicWsClient<beast::ssl_stream<tcp::socket>>>(client_context(), *tls);
    auto& stream = client->ws().next_layer();
    open_with_receive_buffer(beast::get_lowest_layer(stream), options.receive_buffer_bytes);
    beast::get_lowest_layer(stream).connect(endpoint);
    set_read_timeout(beast::get_lowest_layer(stream).native_handle(), options.read_timeout);
    if (!options.ca_file.empty()) stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    stream.handshake(ssl::stream_base::client);
    client->handshake(options);
    return client;
}

nlohmann::json WsClient::read_json() {
    auto message = read();
    if (!message) throw std::runtime_error("no message: " + error().message());
    return nlohmann::json::parse(*message);
}

nlohmann::json WsClient::read_until(const std::string& type, std::vector<nlohmann::json>* skipped) {
    for (;;) {
        auto event = read_json();
        if (event.value("type", "") == type) return event;
        if (skipped) skipped->push_back(std::move(event));
    }
}

}  // namespace voxgate::test
