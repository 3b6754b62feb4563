#pragma once
// What a protocol session may do with its client connection, whatever the transport
// (plain or TLS WebSocket today, other transports later). Implemented by the
// WebSocket connection; used from its shard thread only.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace voxgate::session {

class ClientLink {
public:
    virtual ~ClientLink() = default;
    // Queue one text frame. The queue is bounded by limits.send_queue_bytes: past the
    // high-water mark the session is told to slow its producer (on_send_queue_high);
    // a client whose queue passes eight times the limit is closed with 1008 (the session
    // itself may burst past the mark when a response ends); never silently dropped.
    virtual void send_text(std::shared_ptr<const std::string> frame) = 0;
    virtual void close(std::uint16_t code, std::string_view reason) = 0;
    virtual std::size_t queued_bytes() const = 0;
};

// The protocol side of one connection, driven by the transport.
class ClientHandler {
public:
    virtual ~ClientHandler() = default;
    virtual void on_open() = 0;                          // after the WebSocket handshake
    virtual void on_text(std::string_view message) = 0;  // one complete text message
    virtual void on_binary(std::string_view message) = 0;
    virtual void on_send_queue_high() = 0;               // backpressure on
    virtual void on_send_queue_low() = 0;                // backpressure off
    virtual void on_closed() = 0;                        // the connection is gone; no more sends
    // Names the session in logs (e.g. its session id); "" if it has none yet. Never a secret.
    virtual std::string log_id() const { return {}; }
    // The server is about to close the connection (1001, drain deadline): finish what is
    // in flight with a last event. The link can still send.
    virtual void on_shutdown() {}
};

}  // namespace voxgate::session
