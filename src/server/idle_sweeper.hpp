#pragma once
// One timer per shard that enforces every connection deadline of the shard: idle timeouts,
// keepalive pings, the handshake deadline, write progress, message completion and the close
// grace (docs/design.md: per-connection timers cost 250-700 B each; a shard-wide sweep over
// intrusive lists costs two pointers per connection).
//
// Two lists, because one ordered list cannot serve deadlines of different lengths:
//  - `idle_`: connections with nothing pending, ordered by last activity. touch() is the
//    only way to change a connection's activity stamp and it always moves the connection to
//    the back, so the list stays sorted and a sweep stops at the first fresh connection.
//  - `watched_`: connections in a transient state with a deadline of its own (handshaking,
//    writing, mid-message, closing). Every sweep visits all of them, whatever their last
//    activity: a closing connection that keeps sending frames can never hide behind its
//    fresh stamp nor stop the sweep of the connections after it (reliability review H1).
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <boost/intrusive/list.hpp>

#include "metrics/failure_barrier.hpp"
#include "voxgate/net.hpp"

namespace voxgate::server {

using clock = std::chrono::steady_clock;

class IdleSweeper;

// A connection the sweeper watches. Every connection type is one, so this is also where a
// connection meets the exception barrier: contained() runs an entry from the event loop and,
// if it throws, ends only this connection (fail_internal) and counts it in
// voxgate_internal_errors_total.
class IdleTracked
    : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
public:
    explicit IdleTracked(metrics::Counter& internal_errors) : internal_errors_(internal_errors) {}
    virtual ~IdleTracked() = default;
    // Called for idle connections silent for at least the sweeper's threshold, and for
    // watched connections on every sweep.
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
    bool watched() const { return watched_; }

private:
    friend class IdleSweeper;
    clock::time_point last_activity_ = clock::now();
    bool watched_ = false;
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
    // Idle connections silent for less than `threshold` are not visited.
    IdleSweeper(asio::io_context& ioc, std::chrono::milliseconds period, std::chrono::milliseconds threshold,
                metrics::Counter& internal_errors);

    void track(IdleTracked& connection);  // appends to the idle list as most recently active
    // A sign of life: stamps `now` and, for an idle connection, moves it to the back.
    void touch(IdleTracked& connection, clock::time_point now);
    // Moves a tracked connection to the watched list (visited on every sweep).
    void watch(IdleTracked& connection);
    // Back to the idle list; counts as activity at `now` (the transient state just ended).
    void unwatch(IdleTracked& connection, clock::time_point now);
    void start();
    void stop();
    // Tells every tracked connection the server is going away.
    void shutdown_all();
    std::size_t size() const { return idle_.size() + watched_.size(); }
    std::size_t watched_size() const { return watched_.size(); }
    std::chrono::milliseconds period() const { return period_; }

    // Runs one sweep at `now` (the timer calls it with the current time).
    void sweep(clock::time_point now);

private:
    void arm();
    void check_order() const;  // debug builds: the idle list is sorted by last activity

    using List = boost::intrusive::list<IdleTracked, boost::intrusive::constant_time_size<false>>;
    List idle_;
    List watched_;
    steady_timer timer_;
    std::chrono::milliseconds period_;
    std::chrono::milliseconds threshold_;
    metrics::Counter& internal_errors_;
    bool stopped_ = false;
};

}  // namespace voxgate::server
