#include "server/idle_sweeper.hpp"

#include <cassert>
#include <vector>

namespace voxgate::server {

IdleSweeper::IdleSweeper(asio::io_context& ioc, std::chrono::milliseconds period, std::chrono::milliseconds threshold,
                         metrics::Counter& internal_errors)
    : timer_(ioc.get_executor()), period_(period), threshold_(threshold), internal_errors_(internal_errors) {}

void IdleSweeper::track(IdleTracked& connection) {
    connection.unlink();
    connection.watched_ = false;
    connection.last_activity_ = clock::now();
    idle_.push_back(connection);
}

void IdleSweeper::touch(IdleTracked& connection, clock::time_point now) {
    if (!connection.is_linked()) return;  // finished connections stay off the lists
    // The clock is monotonic, so appending `now` keeps the idle list sorted.
    connection.last_activity_ = now;
    if (connection.watched_) return;
    connection.unlink();
    idle_.push_back(connection);
}

void IdleSweeper::watch(IdleTracked& connection) {
    if (!connection.is_linked() || connection.watched_) return;
    connection.unlink();
    connection.watched_ = true;
    watched_.push_back(connection);
}

void IdleSweeper::unwatch(IdleTracked& connection, clock::time_point now) {
    if (!connection.is_linked() || !connection.watched_) return;
    connection.unlink();
    connection.watched_ = false;
    connection.last_activity_ = now;
    idle_.push_back(connection);
}

void IdleSweeper::start() {
    stopped_ = false;
    arm();
}

void IdleSweeper::stop() {
    stopped_ = true;
    timer_.cancel();
}

void IdleSweeper::arm() {
    if (stopped_) return;
    timer_.expires_after(period_);
    timer_.async_wait([this](error_code ec) {
        if (ec || stopped_) return;
        // Connections are contained one by one in sweep(); this catches the sweep's own
        // failure (out of memory collecting the list) so the next sweep is still armed.
        metrics::run_contained(
            &internal_errors_, "idle sweep", [] { return std::string("sweeper"); }, [this] { sweep(clock::now()); },
            [] {});
        arm();
    });
}

void IdleSweeper::check_order() const {
#ifndef NDEBUG
    const IdleTracked* previous = nullptr;
    for (const auto& connection : idle_) {
        assert(!connection.watched_);
        assert(!previous || previous->last_activity_ <= connection.last_activity_);
        previous = &connection;
    }
    for (const auto& connection : watched_) assert(connection.watched_);
#endif
}

void IdleSweeper::sweep(clock::time_point now) {
    check_order();
    // Collect first: on_idle_check may unlink (close), touch or (un)watch connections.
    std::vector<IdleTracked*> due;
    for (auto& connection : watched_) due.push_back(&connection);
    for (auto& connection : idle_) {
        if (now - connection.last_activity_ < threshold_) break;
        due.push_back(&connection);
    }
    for (auto* connection : due)
        if (connection->is_linked())
            connection->contained("idle check", [&] { connection->on_idle_check(now); });
}

void IdleSweeper::shutdown_all() {
    std::vector<IdleTracked*> all;
    for (auto& connection : watched_) all.push_back(&connection);
    for (auto& connection : idle_) all.push_back(&connection);
    for (auto* connection : all)
        if (connection->is_linked()) connection->contained("shutdown", [&] { connection->on_shutdown(); });
}

}  // namespace voxgate::server
