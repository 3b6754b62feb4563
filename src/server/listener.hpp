#pragma once
// Accepts connections on one shard. Every shard has its own acceptor bound to the
// same port with SO_REUSEPORT, so the kernel spreads connections across shards and a
// connection never changes thread.
#include <memory>

#include "server/idle_sweeper.hpp"
#include "voxgate/net.hpp"

namespace voxgate::server {

class Shard;

class Listener : public std::enable_shared_from_this<Listener> {
public:
    // Binds and listens; throws boost::system::system_error when the address is unusable.
    Listener(Shard& shard, const tcp::endpoint& endpoint);

    void start();
    void stop();  // posts nothing: call on the shard's thread
    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
    Shard& shard() { return shard_; }

private:
    void accept_next();
    void on_accept(error_code ec, tcp_socket socket);
    void admit(tcp_socket socket);
    void back_off(error_code ec);

    Shard& shard_;
    tcp_acceptor acceptor_;
    steady_timer backoff_;  // after EMFILE and friends, instead of spinning
    std::chrono::milliseconds backoff_delay_{0};
    clock::time_point last_accept_warning_{};
    std::uint64_t accept_errors_unlogged_ = 0;
    bool stopped_ = false;
};

}  // namespace voxgate::server
