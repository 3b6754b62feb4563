#pragma once
// One WebSocket client connection: the read loop, the bounded send queue, keepalive
// pings, idle timeout and the close handshake. Plain and TLS connections share this
// template (NextLayer = tcp_socket or TlsSocket); the protocol logic
// lives in the ClientHandler it drives.
//
// Idle memory is a budget (docs/design.md, "Memory per idle session"): an idle connection
// holds no message buffer (it waits with a 1-byte read_some), no timer (the shard's
// IdleSweeper does pings and timeouts), and no copy of the upgrade request.
//
// Frames queued together leave together: frames handed over while a WriteBatch is open,
// or queued while a write is in flight, go out corked in one write (CorkedStream).
#include <memory>
#include <string>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "server/connection_admission.hpp"
#include "server/corked_stream.hpp"
#include "server/gateway_context.hpp"
#include "server/http_routes.hpp"
#include "server/idle_sweeper.hpp"
#include "session/client_link.hpp"
#include "voxgate/write_batch.hpp"

namespace voxgate::server {

namespace websocket = boost::beast::websocket;

template <class NextLayer>
class WsConnection final : public IdleTracked,
                           public session::ClientLink,
                           public WriteBatch::Writer,
                           public std::enable_shared_from_this<WsConnection<NextLayer>> {
public:
    // `slot` counts the connection; the handshake must complete by `handshake_deadline`.
    WsConnection(NextLayer&& stream, ConnectionSlot slot, clock::time_point handshake_deadline, Shard& shard);
    ~WsConnection() override;

    // Completes the handshake for `upgrade` (already routed to info.endpoint and admitted);
    // `info` goes to the protocol handler once the connection is open.
    void run(HttpRequest upgrade, UpgradeInfo info);

    // session::ClientLink
    void send_text(std::shared_ptr<const std::string> frame) override;
    void close(std::uint16_t code, std::string_view reason) override;
    std::size_t queued_bytes() const override { return queued_bytes_; }

    // IdleTracked
    void on_idle_check(clock::time_point now) override;
    void on_shutdown() override;
    std::string describe() const override;
    void fail_internal() override;

    // WriteBatch::Writer
    void flush_batch() noexcept override;

private:
    void on_accept(std::unique_ptr<HttpRequest> upgrade, std::unique_ptr<UpgradeInfo> info, error_code ec);
    void read_next_message();
    void on_first_byte(error_code ec, std::size_t bytes);
    void on_message_rest(error_code ec, std::size_t bytes);
    void deliver(std::string_view message);
    // Writes every queued frame: a lone one straight through, several corked into one write.
    void write_next();
    void write_held(std::size_t index);
    void on_frame_held(std::size_t index, error_code ec, std::size_t bytes);
    // The write of frames [send_head_, batch_end_) completed; counts them by frame.
    void on_write(error_code ec, std::size_t bytes);
    void start_close();
    void on_close(error_code ec);
    void abort();
    void finish(error_code ec);
    void touch();
    void on_control_frame(websocket::frame_type kind);
    // Asks the sweeper to visit this connection on every sweep while one of its deadlines
    // runs (handshake, write progress, message completion, close grace), and to treat it as
    // idle otherwise.
    void update_watch();
    bool has_running_deadline() const;
    // Closes for a limit: counts `reason`, gives up on unsent frames and tells the session
    // at once (its upstream transfer is cancelled), then sends the close frame.
    void close_for(metrics::ConnectionClose reason, std::uint16_t code, std::string_view text);
    void drop_unsent_frames();

    websocket::stream<CorkedStream<NextLayer>> ws_;
    ConnectionSlot slot_;
    Shard& shard_;
    std::shared_ptr<session::ClientHandler> handler_;
    std::unique_ptr<boost::beast::flat_buffer> message_;  // exists only while a message is being read
    // The send queue: a vector with a moving head instead of std::deque, whose empty
    // state already allocates ~600 B in libstdc++.
    std::vector<std::shared_ptr<const std::string>> send_queue_;
    std::size_t send_head_ = 0;
    std::size_t batch_end_ = 0;  // while writing_: frames [send_head_, batch_end_) are in the write
    std::size_t queued_bytes_ = 0;
    std::string close_reason_;
    clock::time_point close_started_{};
    clock::time_point handshake_deadline_;
    clock::time_point write_progress_at_{};  // last completed write (or start of the first)
    clock::time_point message_started_at_{};  // first byte of the message being read
    clock::time_point ping_window_start_{};
    std::uint32_t pings_in_window_ = 0;
    std::uint16_t close_code_ = 0;
    char first_byte_ = 0;
    bool open_ = false;            // handshake done, not finished
    bool writing_ = false;
    bool batch_joined_ = false;  // frames wait for the open WriteBatch to close
    bool ping_outstanding_ = false;
    bool close_requested_ = false;
    bool close_sent_ = false;
    bool closed_for_limit_ = false;  // counted under its limit's reason already
    bool backpressure_ = false;
    bool finished_ = false;
};

}  // namespace voxgate::server
