#include "server/listener.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <spdlog/spdlog.h>

#include "metrics/failure_barrier.hpp"
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
        // Out of descriptors or memory: wait a little instead of spinning on the error.
        spdlog::warn("accept failed on shard {}: {}", shard_.index(), ec.message());
        backoff_.expires_after(std::chrono::milliseconds(50));
        backoff_.async_wait([self = shared_from_this()](error_code wait_ec) {
            if (!wait_ec) self->accept_next();
        });
        return;
    }
    // A failure setting up one connection closes only that socket (unwinding destroys it).
    metrics::run_contained(
        &shard_.metrics().internal_errors, "accept", [this] { return "listener shard " + std::to_string(shard_.index()); },
        [&] { serve_connection(std::move(socket), shard_); }, [] {});
    accept_next();
}

}  // namespace voxgate::server
