#pragma once
// The gateway process: N shards (thread + io_context each), their listeners on one
// port, and the graceful shutdown sequence (docs/design.md, "Threads" and "Operations").
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/gateway_context.hpp"
#include "server/listener.hpp"
#include "server/metrics_service.hpp"
#include "server/shard.hpp"

namespace voxgate::server {

class Runtime {
public:
    // Builds the shards and the TLS context. Throws std::runtime_error with a
    // one-line message when a TLS file cannot be used.
    explicit Runtime(Config config);
    ~Runtime();

    GatewayContext& context() { return *context_; }
    std::vector<std::unique_ptr<Shard>>& shards() { return shards_; }

    // Binds every shard's acceptor. Throws boost::system::system_error (e.g.
    // address_in_use) when the port cannot be had.
    void bind();
    tcp::endpoint local_endpoint() const;
    // metrics.listen once bound; nullopt when /metrics is on the client port.
    std::optional<tcp::endpoint> metrics_endpoint() const { return metrics_->listen_endpoint(); }
    void start();  // runs the shard threads and the metrics thread

    // SIGHUP: reads auth.keys_file again (no-op with auth.mode none). Live connections and
    // sessions are untouched; new handshakes use the new keys. A bad file keeps the old
    // keys; its reason is logged and returned.
    std::optional<std::string> reload_keys();

    // Graceful stop (README "Operations"): /readyz 503 while still accepting for
    // shutdown.readiness_grace, then refuse new sessions and responses, let streaming
    // responses finish within shutdown.drain_seconds, end the rest incomplete, close
    // WebSockets with 1001, stop the threads. Blocks the caller (the signal thread).
    void shutdown();
    void join();

private:
    std::int64_t responses_in_flight() const;
    template <class Fn>
    void run_on_every_shard(Fn fn);  // runs fn(shard) on each shard's thread and waits

    std::unique_ptr<GatewayContext> context_;
    std::vector<std::unique_ptr<Shard>> shards_;
    std::vector<std::shared_ptr<Listener>> listeners_;
    std::vector<std::thread> threads_;
    tcp::endpoint bound_;
    // Declared after the shards: it posts scrape results into their io_contexts, so it
    // stops (and is destroyed) before them.
    std::unique_ptr<MetricsService> metrics_;
};

}  // namespace voxgate::server
