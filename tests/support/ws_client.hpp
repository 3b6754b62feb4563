#pragma once
// A blocking WebSocket test client (Beast) over plain TCP or TLS to 127.0.0.1.
// Reads time out through SO_RCVTIMEO; a timed-out client is broken and only good for
// failing the test.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>

#include "voxgate/net.hpp"

namespace voxgate::test {

struct WsOptions {
    std::string target = "/v1/realtime";
    std::vector<std::pair<std::string, std::string>> headers;
    bool tls = false;
    std::string ca_file;  // trust anchor for TLS; empty = no verification
    std::chrono::milliseconds read_timeout{5000};
    int receive_buffer_bytes = 0;  // SO_RCVBUF set before connect (a small one makes a slow reader); 0 = default
};

class WsClient {
public:
    // Connects and completes the handshake; throws boost::system::system_error on failure
    // (e.g. the server answered the upgrade with 404).
    static std::unique_ptr<WsClient> connect(std::uint16_t port, const WsOptions& options = {});
    virtual ~WsClient() = default;

    virtual void send_text(const std::string& text) = 0;
    virtual void send_binary(const std::string& bytes) = 0;
    // Next message; nullopt when the connection closed or failed (see error()).
    virtual std::optional<std::string> read() = 0;
    virtual void close(std::uint16_t code = 1000) = 0;
    // Sends a ping frame; false once the connection has failed (never throws).
    virtual bool ping() = 0;
    // Sends one frame of a fragmented text message (fin = its last); false on failure.
    virtual bool send_fragment(const std::string& text, bool fin) = 0;
    // Closes the TCP socket without a close handshake.
    virtual void drop() = 0;
    // Ping frames received so far (Beast answers them with pongs while reading).
    virtual int pings_received() const = 0;
    virtual boost::beast::websocket::close_reason close_reason() const = 0;
    virtual error_code error() const = 0;
    // Subprotocol the server selected in its handshake response ("" if none).
    virtual std::string selected_subprotocol() const = 0;

    // Reads the next message as JSON; throws if there is none.
    nlohmann::json read_json();
    // Reads JSON events until one has this type (returns it); the skipped ones go to `skipped`.
    nlohmann::json read_until(const std::string& type, std::vector<nlohmann::json>* skipped = nullptr);
};

}  // namespace voxgate::test
