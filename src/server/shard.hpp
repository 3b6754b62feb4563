#pragma once
// A shard: one thread, one io_context, and everything a connection on it needs
// (design.md, "Threads"). A connection lives its whole life on one shard, so none of
// its state needs a lock.
#include <memory>
#include <thread>

#include "metrics/shard_metrics.hpp"
#include "server/idle_sweeper.hpp"
#include "voxgate/net.hpp"

namespace voxgate::upstream {
class ResponseSource;
}

namespace voxgate::server {

struct GatewayContext;

class Shard {
public:
    Shard(std::size_t index, GatewayContext& gateway);
    ~Shard();

    std::size_t index() const { return index_; }
    asio::io_context& io_context() { return ioc_; }
    GatewayContext& gateway() { return gateway_; }
    metrics::ShardMetrics& metrics() { return metrics_; }
    IdleSweeper& sweeper() { return sweeper_; }
    // The upstream engine of this shard (set by the runtime before connections arrive).
    upstream::ResponseSource* responses() { return responses_.get(); }
    void set_responses(std::shared_ptr<upstream::ResponseSource> source) { responses_ = std::move(source); }

private:
    std::size_t index_;
    GatewayContext& gateway_;
    asio::io_context ioc_{1};  // one thread runs it: let Asio skip its internal locking
    metrics::ShardMetrics metrics_;
    IdleSweeper sweeper_;
    std::shared_ptr<upstream::ResponseSource> responses_;
};

}  // namespace voxgate::server
