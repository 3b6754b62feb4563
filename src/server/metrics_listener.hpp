#pragma once
// metrics.listen: a small HTTP/1.1 server on the metrics thread that answers
// GET|HEAD /metrics (and /healthz, for a probe of the address itself), one request per
// connection. It shares nothing with the client port: no shard, no admission slot, no
// client limits; instead it holds at most `max_connections` at once and cuts any request
// that is not read and answered within `request_timeout`.
#include <chrono>
#include <cstddef>
#include <memory>

#include "voxgate/net.hpp"

namespace voxgate::server {

class MetricsService;

class MetricsListener : public std::enable_shared_from_this<MetricsListener> {
public:
    static constexpr std::size_t max_connections = 32;
    static constexpr std::chrono::seconds request_timeout{10};

    // Binds and listens on the service's io_context; throws system_error.
    MetricsListener(MetricsService& service, const tcp::endpoint& endpoint);

    void start();
    tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

    // Called by a connection when it ends.
    void connection_closed() { --open_; }

private:
    void accept_next();

    MetricsService& service_;
    tcp_acceptor acceptor_;
    steady_timer backoff_;
    std::size_t open_ = 0;
};

}  // namespace voxgate::server
