#include "server/ws_connection.hpp"

#include <algorithm>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <spdlog/spdlog.h>

#include "server/exact_allocator.hpp"
#include "server/shard.hpp"
#include "server/tls_socket.hpp"
#include "server/upgrade_admission.hpp"

namespace voxgate::server {

namespace beast = boost::beast;

namespace {

// A closed peer and our own cancellation are normal endings, not failures (docs/style.md).
bool is_normal_ending(error_code ec) {
    return ec == websocket::error::closed || ec == asio::error::operation_aborted || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == beast::errc::not_connected ||
           ec == asio::error::broken_pipe;
}

// The send queue may exceed limits.send_queue_bytes by this factor before the client is
// dropped; see send_text.
constexpr std::size_t hard_limit_factor = 8;

// How long a peer gets to answer our close frame before the socket is cut.
constexpr auto close_grace = std::chrono::seconds(5);

}  // namespace

template <class NextLayer>
WsConnection<NextLayer>::WsConnection(NextLayer&& stream, ConnectionSlot slot, clock::time_point handshake_deadline,
                                      Shard& shard)
    : IdleTracked(shard.metrics().internal_errors),
      ws_(std::move(stream)),
      slot_(std::move(slot)),
      shard_(shard),
      handshake_deadline_(handshake_deadline) {}

template <class NextLayer>
WsConnection<NextLayer>::~WsConnection() {
    // Nothing may throw out of a destructor: the handler's on_closed runs behind the barrier,
    // with nothing left to close if it fails.
    if (open_)
        metrics::run_contained(
            &shard_.metrics().internal_errors, "websocket teardown", [this] { return describe(); },
            [this] { finish({}); }, [] {});
}

template <class NextLayer>
void WsConnection<NextLayer>::run(HttpRequest upgrade, UpgradeInfo info) {
    const auto& config = shard_.gateway().config;
    // Timeouts are the shard sweeper's job (no per-connection timer).
    websocket::stream_base::timeout no_timeouts{};
    no_timeouts.handshake_timeout = websocket::stream_base::none();
    no_timeouts.idle_timeout = websocket::stream_base::none();
    no_timeouts.keep_alive_pings = false;
    ws_.set_option(no_timeouts);
    ws_.read_message_max(config.limits.max_message_bytes);
    ws_.auto_fragment(false);
    if (config.websocket.permessage_deflate) {
        websocket::permessage_deflate deflate;
        deflate.server_enable = true;
        ws_.set_option(deflate);
    }
    // Browser-style Realtime clients offer the "realtime" subprotocol and fail the
    // handshake unless the server selects one (docs/wire-protocols.md 1.1).
    // The key subprotocol (openai-insecure-api-key.<key>) is never echoed: it is a secret.
    const auto offered = offered_subprotocols(upgrade);
    bool select_realtime = std::find(offered.begin(), offered.end(), "realtime") != offered.end();
    ws_.set_option(websocket::stream_base::decorator([select_realtime](websocket::response_type& response) {
        response.set(http::field::server, "voxgate");
        if (select_realtime) response.set(http::field::sec_websocket_protocol, "realtime");
    }));
    // Called from within this connection's own read operation, which holds a shared_ptr to
    // it: `this` outlives every call.
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) { on_control_frame(kind); });
    shard_.sweeper().track(*this);
    update_watch();  // handshaking

    // The upgrade request lives only until the handshake completes, then it is freed.
    auto request = std::make_unique<HttpRequest>(std::move(upgrade));
    auto& request_ref = *request;
    ws_.async_accept(request_ref, [self = this->shared_from_this(), request = std::move(request),
                                   info = std::make_unique<UpgradeInfo>(std::move(info))](error_code ec) mutable {
        self->contained("websocket accept", [&] { self->on_accept(std::move(request), std::move(info), ec); });
    });
}

template <class NextLayer>
void WsConnection<NextLayer>::on_accept(std::unique_ptr<HttpRequest> upgrade, std::unique_ptr<UpgradeInfo> info,
                                        error_code ec) {
    upgrade.reset();
    ws_.set_option(websocket::stream_base::decorator([](websocket::response_type&) {}));
    if (ec) {
        if (!is_normal_ending(ec)) spdlog::debug("websocket handshake failed: {}", ec.message());
        IdleTracked::unlink();
        return;
    }
    auto& gateway = shard_.gateway();
    open_ = true;
    update_watch();
    gateway.websocket_connections.fetch_add(1, std::memory_order_relaxed);
    shard_.metrics().connections_total.inc();
    shard_.metrics().connections_active.add();
    touch();
    if (info->endpoint && info->endpoint->make_handler) handler_ = info->endpoint->make_handler(*this, shard_, *info);
    info.reset();
    read_next_message();
    WriteBatch::Scope batch;  // a resumed session's replay leaves in one write
    if (handler_) handler_->on_open();
}

template <class NextLayer>
void WsConnection<NextLayer>::read_next_message() {
    if (finished_) return;
    // Wait for the next message with a 1-byte read: a pending read into a flat_buffer
    // would allocate its 1.5 KB before the client sends anything.
    // ExactAllocator, not Asio's recycling one: the recycled block left by the handshake
    // is larger than this wait needs, and an idle connection keeps it for its whole idle
    // life (server/exact_allocator.hpp).
    ws_.async_read_some(
        asio::buffer(&first_byte_, 1),
        asio::bind_allocator(ExactAllocator<void>{},
                             contained_handler(this->shared_from_this(), &WsConnection::on_first_byte)));
}

template <class NextLayer>
void WsConnection<NextLayer>::on_first_byte(error_code ec, std::size_t bytes) {
    if (ec) return finish(ec);
    touch();
    if (ws_.is_message_done()) {
        deliver(std::string_view(&first_byte_, bytes));
        return read_next_message();
    }
    message_ = std::make_unique<beast::flat_buffer>();
    message_started_at_ = clock::now();
    update_watch();  // the message must now complete by limits.message_timeout_seconds
    if (bytes) {
        auto space = message_->prepare(1);
        *static_cast<char*>(space.data()) = first_byte_;
        message_->commit(1);
    }
    // async_read continues the message whose first byte we already hold; the
    // read_message_max limit counts the whole message.
    ws_.async_read(*message_, contained_handler(this->shared_from_this(), &WsConnection::on_message_rest));
}

template <class NextLayer>
void WsConnection<NextLayer>::on_message_rest(error_code ec, std::size_t) {
    if (ec) return finish(ec);
    touch();
    auto data = message_->cdata();
    deliver(std::string_view(static_cast<const char*>(data.data()), data.size()));
    message_.reset();  // an idle connection holds no message buffer
    update_watch();
    read_next_message();
}

template <class NextLayer>
void WsConnection<NextLayer>::deliver(std::string_view message) {
    shard_.metrics().ws_messages_received.inc();
    if (!handler_ || close_requested_) return;
    WriteBatch::Scope batch;  // the answers to one client event leave in one write
    if (ws_.got_text()) handler_->on_text(message);
    else handler_->on_binary(message);
}

template <class NextLayer>
void WsConnection<NextLayer>::send_text(std::shared_ptr<const std::string> frame) {
    if (finished_ || close_requested_ || !frame) return;
    const auto limit = shard_.gateway().config.limits.send_queue_bytes;
    queued_bytes_ += frame->size();
    shard_.metrics().ws_send_queue_bytes.add(static_cast<std::int64_t>(frame->size()));
    send_queue_.push_back(std::move(frame));
    if (queued_bytes_ > hard_limit_factor * limit) {
        // Past the high-water mark the producer is paused, so only the session's own bursts
        // land here (the closing events of a response repeat its text several times, and a
        // client that reads promptly must still get them). A queue this far past the mark
        // means a client that does not read: give up on it rather than grow without bound.
        spdlog::debug("websocket client not reading: {} bytes queued, closing with 1008", queued_bytes_);
        close_for(metrics::ConnectionClose::send_queue_overflow,
                  static_cast<std::uint16_t>(websocket::close_code::policy_error), "send queue overflow");
        return;
    }
    if (!backpressure_ && queued_bytes_ > limit) {
        backpressure_ = true;
        shard_.metrics().ws_backpressure.inc();
        if (handler_) handler_->on_send_queue_high();
    }
    if (writing_ || batch_joined_) return;  // the running write or the batch takes it
    if (WriteBatch::open()) {
        batch_joined_ = true;
        WriteBatch::join(this->shared_from_this());
        return;
    }
    write_next();
}

template <class NextLayer>
void WsConnection<NextLayer>::flush_batch() noexcept {
    batch_joined_ = false;
    contained("websocket write", [this] {
        if (finished_ || writing_) return;
        if (send_head_ < send_queue_.size()) return write_next();
        if (close_requested_ && !close_sent_) start_close();  // a close that waited for the batch
    });
}

template <class NextLayer>
void WsConnection<NextLayer>::write_next() {
    if (send_head_ == send_queue_.size()) return;
    if (!writing_) write_progress_at_ = clock::now();  // the write-progress clock starts with the first write
    writing_ = true;
    update_watch();
    ws_.text(true);
    batch_end_ = send_queue_.size();
    if (batch_end_ - send_head_ == 1) {
        ws_.async_write(asio::buffer(*send_queue_[send_head_]),
                        contained_handler(this->shared_from_this(), &WsConnection::on_write));
        return;
    }
    ws_.next_layer().cork();
    write_held(send_head_);
}

template <class NextLayer>
void WsConnection<NextLayer>::write_held(std::size_t index) {
    // Each frame only lands in the cork buffer; Beast allows one write at a time.
    ws_.async_write(asio::buffer(*send_queue_[index]),
                    contained_handler(this->shared_from_this(), &WsConnection::on_frame_held, index));
}

template <class NextLayer>
void WsConnection<NextLayer>::on_frame_held(std::size_t index, error_code ec, std::size_t) {
    if (finished_) return;
    if (ec) {
        writing_ = false;
        return finish(ec);
    }
    if (index + 1 < batch_end_) return write_held(index + 1);
    ws_.next_layer().async_uncork(contained_handler(this->shared_from_this(), &WsConnection::on_write));
}

template <class NextLayer>
void WsConnection<NextLayer>::on_write(error_code ec, std::size_t) {
    writing_ = false;
    if (finished_) return;  // the queue is gone already
    if (ec) return finish(ec);
    write_progress_at_ = clock::now();
    auto& metrics = shard_.metrics();
    std::size_t bytes = 0;
    for (auto i = send_head_; i < batch_end_; ++i) {
        bytes += send_queue_[i]->size();
        send_queue_[i].reset();
    }
    metrics.ws_messages_sent.inc(batch_end_ - send_head_);
    metrics.ws_bytes_sent.inc(bytes);
    metrics.ws_writes.inc();
    queued_bytes_ -= bytes;
    metrics.ws_send_queue_bytes.sub(static_cast<std::int64_t>(bytes));
    send_head_ = batch_end_;
    if (send_head_ == send_queue_.size()) {
        send_queue_.clear();
        send_head_ = 0;
        if (send_queue_.capacity() > 64) send_queue_.shrink_to_fit();  // give a burst's memory back
    }
    if (backpressure_ && queued_bytes_ <= shard_.gateway().config.limits.send_queue_bytes / 2) {
        backpressure_ = false;
        if (handler_) handler_->on_send_queue_low();
    }
    // Resuming may deliver held-back tokens at once, and their batch may already have
    // started the next write: never start a second one beside it.
    if (writing_) return;
    if (send_head_ < send_queue_.size()) return write_next();  // what queued meanwhile, in one write
    update_watch();
    if (close_requested_ && !close_sent_) start_close();
}

template <class NextLayer>
void WsConnection<NextLayer>::close(std::uint16_t code, std::string_view reason) {
    if (finished_ || close_requested_) return;
    close_requested_ = true;
    close_code_ = code;
    // RFC 6455 5.5: a control frame payload is at most 125 bytes, 2 of them the code.
    close_reason_.assign(reason.substr(0, 123));
    close_started_ = clock::now();
    update_watch();  // the close grace runs from now, whatever the peer keeps sending
    if (!writing_ && !batch_joined_) start_close();  // otherwise the queued frames go out first
}

template <class NextLayer>
void WsConnection<NextLayer>::drop_unsent_frames() {
    auto first_unsent = writing_ ? batch_end_ : send_head_;
    for (auto i = first_unsent; i < send_queue_.size(); ++i) {
        queued_bytes_ -= send_queue_[i]->size();
        shard_.metrics().ws_send_queue_bytes.sub(static_cast<std::int64_t>(send_queue_[i]->size()));
    }
    send_queue_.erase(send_queue_.begin() + static_cast<std::ptrdiff_t>(first_unsent), send_queue_.end());
}

template <class NextLayer>
void WsConnection<NextLayer>::close_for(metrics::ConnectionClose reason, std::uint16_t code, std::string_view text) {
    if (finished_ || close_requested_) return;
    shard_.metrics().connection_closed(reason);
    closed_for_limit_ = true;
    drop_unsent_frames();
    // The session learns now that its client is gone: a response streaming to a client
    // that does not read is cancelled at once, not when the socket finally dies. Posted,
    // because the session itself may be the caller (send_text) and must not be shut
    // down under its own feet.
    if (auto handler = std::move(handler_))
        asio::post(shard_.io_context(), [handler = std::move(handler)] { handler->on_closed(); });
    close(code, text);
}

template <class NextLayer>
void WsConnection<NextLayer>::start_close() {
    if (!open_) return abort();
    close_sent_ = true;
    ws_.async_close(websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
                    contained_handler(this->shared_from_this(), &WsConnection::on_close));
}

template <class NextLayer>
void WsConnection<NextLayer>::on_close(error_code ec) {
    // The read loop completes with websocket::error::closed and finishes the connection.
    if (ec && !is_normal_ending(ec)) spdlog::debug("websocket close failed: {}", ec.message());
    if (ec) abort();
}

template <class NextLayer>
void WsConnection<NextLayer>::abort() {
    error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);  // pending operations complete with operation_aborted
}

template <class NextLayer>
void WsConnection<NextLayer>::finish(error_code ec) {
    if (finished_) return;
    finished_ = true;
    IdleTracked::unlink();
    if (ec && !is_normal_ending(ec) && ec != websocket::error::message_too_big)
        spdlog::debug("websocket connection ended: {}", ec.message());
    if (open_) {
        open_ = false;
        shard_.metrics().connections_active.sub();
        shard_.gateway().websocket_connections.fetch_sub(1, std::memory_order_relaxed);
    }
    if (auto handler = std::move(handler_)) handler->on_closed();
    shard_.metrics().ws_send_queue_bytes.sub(static_cast<std::int64_t>(queued_bytes_));
    send_queue_.clear();
    send_head_ = 0;
    queued_bytes_ = 0;
    if (ec != websocket::error::closed) abort();
}

template <class NextLayer>
void WsConnection<NextLayer>::touch() {
    // Only a stamp: the sweeper's lists stay ordered, and a watched (closing, writing,
    // mid-message) connection keeps being visited whatever it sends (review H1).
    shard_.sweeper().touch(*this, clock::now());
}

template <class NextLayer>
void WsConnection<NextLayer>::on_control_frame(websocket::frame_type kind) {
    touch();
    if (kind != websocket::frame_type::ping) return;
    // Each ping costs a pong write: bound them per connection (a flood is closed, not served).
    const auto max_pings = shard_.gateway().config.limits.max_pings_per_second;
    if (max_pings == 0 || close_requested_) return;
    auto now = clock::now();
    if (now - ping_window_start_ >= std::chrono::seconds(1)) {
        ping_window_start_ = now;
        pings_in_window_ = 0;
    }
    if (++pings_in_window_ > max_pings)
        close_for(metrics::ConnectionClose::ping_rate, static_cast<std::uint16_t>(websocket::close_code::policy_error),
                  "ping rate exceeded");
}

template <class NextLayer>
bool WsConnection<NextLayer>::has_running_deadline() const {
    return !open_ || close_requested_ || writing_ || message_ != nullptr;
}

template <class NextLayer>
void WsConnection<NextLayer>::update_watch() {
    if (finished_) return;
    if (has_running_deadline()) shard_.sweeper().watch(*this);
    else shard_.sweeper().unwatch(*this, clock::now());
}

template <class NextLayer>
void WsConnection<NextLayer>::on_idle_check(clock::time_point now) {
    if (finished_) return;
    const auto& limits = shard_.gateway().config.limits;
    constexpr auto policy = static_cast<std::uint16_t>(websocket::close_code::policy_error);
    if (close_requested_) {
        if (now - close_started_ >= close_grace) {
            if (!closed_for_limit_) shard_.metrics().connection_closed(metrics::ConnectionClose::close_timeout);
            abort();
        }
        return;
    }
    if (!open_) {
        if (now >= handshake_deadline_) {
            shard_.metrics().connection_closed(metrics::ConnectionClose::handshake_timeout);
            abort();
        }
        return;
    }
    if (writing_ && now - write_progress_at_ >= limits.slow_client_timeout) {
        // nginx send_timeout: output is waiting and the client took none of it.
        spdlog::debug("websocket client made no write progress for {} s, closing with 1008",
                      limits.slow_client_timeout.count());
        return close_for(metrics::ConnectionClose::slow_client, policy, "slow client");
    }
    if (message_ && now - message_started_at_ >= limits.message_timeout)
        return close_for(metrics::ConnectionClose::message_timeout, policy, "message timeout");
    auto silent = now - last_activity();
    if (silent >= limits.idle_timeout) {
        spdlog::debug("websocket idle for {} s, closing", limits.idle_timeout.count());
        shard_.metrics().connection_closed(metrics::ConnectionClose::idle_timeout);
        close(static_cast<std::uint16_t>(websocket::close_code::going_away), "idle timeout");
        return;
    }
    // Beast allows one ping at a time: the flag clears only when the ping completes.
    if (silent >= limits.ping_interval && !ping_outstanding_) {
        ping_outstanding_ = true;
        ws_.async_ping({}, [self = this->shared_from_this()](error_code ec) {
            self->ping_outstanding_ = false;
            if (ec && !is_normal_ending(ec)) spdlog::debug("websocket ping failed: {}", ec.message());
        });
    }
}

template <class NextLayer>
std::string WsConnection<NextLayer>::describe() const {
    error_code ec;
    auto peer = beast::get_lowest_layer(ws_).remote_endpoint(ec);
    std::string text = "websocket peer " + (ec ? std::string("(closed)") : peer.address().to_string() + ":" +
                                                                         std::to_string(peer.port()));
    if (handler_) {
        auto id = handler_->log_id();
        if (!id.empty()) text.append(" session ").append(id);
    }
    return text;
}

template <class NextLayer>
void WsConnection<NextLayer>::fail_internal() {
    if (finished_ || close_requested_) return abort();  // already ending: cut it now
    // The handler's state is unknown after a throw: nothing more is delivered to it
    // (close_requested_), frames not yet on the wire are dropped, and the client hears
    // 1011 (RFC 6455 7.4.1: the server hit an unexpected condition).
    drop_unsent_frames();
    close(static_cast<std::uint16_t>(websocket::close_code::internal_error), "internal error");
}

template <class NextLayer>
void WsConnection<NextLayer>::on_shutdown() {
    if (handler_ && !close_requested_) handler_->on_shutdown();
    close(static_cast<std::uint16_t>(websocket::close_code::going_away), "server shutting down");
}

template class WsConnection<tcp_socket>;
template class WsConnection<TlsSocket>;

}  // namespace voxgate::server
