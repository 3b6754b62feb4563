#include "server/listener.hpp"

#include <sys/socket.h>

#include <algorithm>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <spdlog/spdlog.h>

#include "metrics/failure_barrier.hpp"
#include "server/gateway_context.hpp"
#include "server/http_session.hpp"
#include "server/shard.hpp"

namespace voxgate::server {

namespace beast = boost::beast;

namespace {
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
}

Listener::Listener(Shard& shard, const tcp::endpoint& endpoint)
    : shard_(shard), acceptor_(shard.io_context().get_executor()), backoff_(shard.io_context().get_executor()) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.set_option(reuse_port(true));
    if (endpoint.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Listener::start() { accept_next(); }

void Listener::stop() {
    stopped_ = true;
    backoff_.cancel();
    error_code ignored;
    acceptor_.close(ignored);
}

void Listener::accept_next() {
    if (stopped_) return;
    acceptor_.async_accept(shard_.io_context(),
                           beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
}

void Listener::on_accept(error_code ec, tcp_socket socket) {
    if (stopped_) return;
    if (ec) {
        if (ec == asio::error::operation_aborted) return;
        return back_off(ec);
    }
    backoff_delay_ = std::chrono::milliseconds(0);
    // A failure setting up one connection closes only that socket (unwinding destroys it).
    metrics::run_contained(
        &shard_.metrics().internal_errors, "accept",
        [this] { return "listener shard " + std::to_string(shard_.index()); }, [&] { admit(std::move(socket)); },
        [] {});
    accept_next();
}

void Listener::admit(tcp_socket socket) {
    auto& gateway = shard_.gateway();
    error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) return;  // already reset by the client: nothing to serve
    ConnectionSlot slot;
    auto verdict = gateway.admission.admit(peer.address(), gateway.config.limits, clock::now(),
                                           shard_.metrics().tcp_connections_open, slot);
    if (verdict != Admission::admitted) {
        // Closed at once, before any byte is read: a refused peer costs one accept and one close.
        using metrics::ConnectionClose;
        static constexpr ConnectionClose reason_of[] = {ConnectionClose::max_connections,  // unused: admitted
                                                        ConnectionClose::max_connections,
                                                        ConnectionClose::max_connections_per_ip,
                                                        ConnectionClose::handshake_rate,
                                                        ConnectionClose::peer_table_full};
        shard_.metrics().connection_closed(reason_of[static_cast<std::size_t>(verdict)]);
        error_code ignored;
        socket.close(ignored);
        return;
    }
    serve_connection(std::move(socket), std::move(slot), shard_);
}

void Listener::back_off(error_code ec) {
    // Out of descriptors or memory: wait instead of spinning on the error, longer each time
    // (50 ms up to 1 s), and log at most once per 10 s per shard so a flood cannot turn
    // into a log flood (review L2).
    shard_.metrics().accept_errors.inc();
    backoff_delay_ = std::clamp(backoff_delay_ * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
    auto now = clock::now();
    if (now - last_accept_warning_ >= std::chrono::seconds(10)) {
        spdlog::warn("accept failed on shard {}: {} ({} more failures since the last warning); retrying in {} ms",
                     shard_.index(), ec.message(), accept_errors_unlogged_, backoff_delay_.count());
        last_accept_warning_ = now;
        accept_errors_unlogged_ = 0;
    } else {
        ++accept_errors_unlogged_;
    }
    backoff_.expires_after(backoff_delay_);
    backoff_.async_wait([self = shared_from_this()](error_code wait_ec) {
        if (!wait_ec) self->accept_next();
    });
}

}  // namespace voxgate::server
