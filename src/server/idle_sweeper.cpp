#include "server/idle_sweeper.hpp"

#include <vector>

namespace voxgate::server {

IdleSweeper::IdleSweeper(asio::io_context& ioc, std::chrono::milliseconds period, std::chrono::milliseconds threshold,
                         metrics::Counter& internal_errors)
    : timer_(ioc.get_executor()), period_(period), threshold_(threshold), internal_errors_(internal_errors) {}

void IdleSweeper::track(IdleTracked& connection) { list_.push_back(connection); }

void IdleSweeper::touch(IdleTracked& connection, clock::time_point) {
    if (!connection.is_linked()) return;  // finished connections stay off the list
    connection.unlink();
    list_.push_back(connection);
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
            &internal_errors_, "idle sweep", [] { return std::string("sweeper"); }, [this] { sweep(); }, [] {});
        arm();
    });
}

void IdleSweeper::sweep() {
    auto now = clock::now();
    // Collect first: on_idle_check may unlink (close) or touch (re-append) connections.
    std::vector<IdleTracked*> stale;
    for (auto& connection : list_) {
        if (now - connection.last_activity() < threshold_) break;
        stale.push_back(&connection);
    }
    for (auto* connection : stale)
        if (connection->is_linked())
            connection->contained("idle check", [&] { connection->on_idle_check(now); });
}

void IdleSweeper::shutdown_all() {
    std::vector<IdleTracked*> all;
    for (auto& connection : list_) all.push_back(&connection);
    for (auto* connection : all)
        if (connection->is_linked()) connection->contained("shutdown", [&] { connection->on_shutdown(); });
}

}  // namespace voxgate::server
