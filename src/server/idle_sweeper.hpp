#pragma once
// One timer per shard that enforces idle timeouts and keepalive pings for all of the
// shard's connections (design.md: per-connection timers cost 250-700 B each; a shard-wide
// sweep over a list ordered by last activity costs two pointers per connection).
#include <chrono>

#include <boost/intrusive/list.hpp>

#include "voxgate/net.hpp"

namespace voxgate::server {

using clock = std::chrono::steady_clock;

// A connection the sweeper watches. touch() on every sign of life moves it to the back
// of the shard's list, so the front always holds the longest-silent connections.
class IdleTracked
    : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
public:
    virtual ~IdleTracked() = default;
    // Called by the sweeper for connections silent for at least the sweeper's threshold.
    virtual void on_idle_check(clock::time_point now) = 0;
    // Called once when the server shuts down.
    virtual void on_shutdown() = 0;

    clock::time_point last_activity() const { return last_activity_; }

protected:
    clock::time_point last_activity_ = clock::now();
};

class IdleSweeper {
public:
    // Connections silent for less than `threshold` are never visited.
    IdleSweeper(asio::io_context& ioc, std::chrono::milliseconds period, std::chrono::milliseconds threshold);

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
    bool stopped_ = false;
};

}  // namespace voxgate::server
