#pragma once
// /metrics off the shard threads. A scrape walks /proc/self/fd and sums every shard's
// counters: on a shard thread that is O(open fds) of work in front of every client of that
// shard. MetricsService runs it on a thread of its own and hands the text back to the
// caller's executor; with metrics.listen it also serves that address itself
// (MetricsListener), so the client port never exposes /metrics at all.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "auth/client_key.hpp"
#include "metrics/shard_metrics.hpp"
#include "voxgate/config.hpp"
#include "voxgate/net.hpp"

namespace voxgate::server {

class MetricsListener;

class MetricsService {
public:
    // `collect` builds the exposition text (Collector::scrape); it runs on the metrics
    // thread only. A throw from it is counted in `internal_errors` (any thread may add).
    MetricsService(std::function<std::string()> collect, const MetricsConfig& config,
                   metrics::Counter* internal_errors = nullptr);
    ~MetricsService();
    MetricsService(const MetricsService&) = delete;
    MetricsService& operator=(const MetricsService&) = delete;

    // Binds metrics.listen when it is set; throws std::runtime_error naming the key.
    void bind();
    void start();
    void stop();  // joins the thread; every scrape not yet answered is dropped

    // True when /metrics is served on the client port (metrics.listen is unset).
    bool on_client_port() const { return !listener_; }
    // The bound metrics.listen address, when there is one.
    std::optional<tcp::endpoint> listen_endpoint() const;
    // metrics.bearer_token_env: `authorization` (the header's value) must be
    // "Bearer <token>". Compared as SHA-256 digests in constant time.
    bool authorized(std::string_view authorization) const;

    // Collects on the metrics thread, then posts done(text) to `reply_to`; done(nullopt)
    // when collecting threw (the caller answers 500).
    using ScrapeDone = std::function<void(std::optional<std::string>)>;
    void async_scrape(asio::any_io_executor reply_to, ScrapeDone done);
    // The same, on the metrics thread (for MetricsListener).
    std::optional<std::string> scrape_here() const;

    asio::io_context& io_context() { return ioc_; }

private:
    std::function<std::string()> collect_;
    metrics::Counter* internal_errors_;
    std::optional<ListenAddress> listen_;
    std::optional<auth::KeyDigest> token_digest_;
    asio::io_context ioc_{1};
    std::shared_ptr<MetricsListener> listener_;
    std::thread thread_;
};

}  // namespace voxgate::server
