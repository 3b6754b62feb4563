#pragma once
// One timer per shard that enforces idle timeouts and keepalive pings for all of the
// shard's connections (design.md: per-connection timers cost 250-700 B each; a shard-wide
// sweep over a list ordered by last activity costs two pointers per connection).
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <boost/intrusive/list.hpp>

#include "metrics/failure_barrier.hpp"
#include "voxgate/net.hpp"

namespace voxgate::server {

using clock = std::chrono::steady_clock;

// A connection the sweeper watches. touch() on every sign of life moves it to the back
// of the shard's list, so the front always holds the longest-silent connections.
//
// Every connection type is one, so this is also where a connection meets the exception
// barrier: contained() runs an entry from the event loop and, if it throws, ends only this
// connection (fail_internal) and counts it in voxgate_internal_errors_total.
class IdleTracked
    : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
public:
    explicit IdleTracked(metrics::Counter& internal_errors) : internal_errors_(internal_errors) {}
    virtual ~IdleTracked() = default;
    // Called by the sweeper for connections silent for at least the sweeper's threshold.
    virtual void on_idle_check(clock::time_point now) = 0;
    // Called once when the server shuts down.
    virtual void on_shutdown() = 0;

    // Names the connection in logs (peer address, session id); never a secret.
    virtual std::string describe() const = 0;
    // Ends this connection after an internal error: close 1011 for a WebSocket, a 500 (or
    // a plain close mid-response) for HTTP. Other connections are not touched.
    virtual void fail_internal() = 0;

    // Runs `body` behind the exception barrier (metrics/failure_barrier.hpp).
    template <class Body>
    void contained(std::string_view where, Body&& body) noexcept {
        metrics::run_contained(
            &internal_errors_, where, [this] { return describe(); }, std::forward<Body>(body),
            [this] { fail_internal(); });
    }

    clock::time_point last_activity() const { return last_activity_; }

protected:
    clock::time_point last_activity_ = clock::now();

private:
    metrics::Counter& internal_errors_;
};

// A completion handler that calls (self->*member)(bound..., results...) behind self's
// barrier. Holds `self` like beast::bind_front_handler does, so the pending operation
// keeps the connection alive.
template <class Connection, class Member, class... Bound>
auto contained_handler(std::shared_ptr<Connection> self, Member member, Bound... bound) {
    return [self = std::move(self), member, bound...](auto&&... results) mutable {
        auto* connection = self.get();
        connection->contained("event handler", [&] { (connection->*member)(bound..., results...); });
    };
}

class IdleSweeper {
public:
    // Connections silent for less than `threshold` are never visited.
    IdleSweeper(asio::io_context& ioc, std::chrono::milliseconds period, std::chrono::milliseconds threshold,
                metrics::Counter& internal_errors);

    void track(IdleTracked& connection);                // appends as most recently active
    void touch(IdleTracked& connection, clock::time_point now);
    void start();
    void stop();
    // Tells every tracked connection the server is going away.
    void shutdown_all();
    std::size_t size() const { return list_.size(); }

private:
    void arm();
    void sweep();

    using List = boost::intrusive::list<IdleTracked, boost::intrusive::constant_time_size<false>>;
    List list_;
    steady_timer timer_;
    std::chrono::milliseconds period_;
    std::chrono::milliseconds threshold_;
    metrics::Counter& internal_errors_;
    bool stopped_ = false;
};

}  // namespace voxgate::server
