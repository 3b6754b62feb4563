#include "server/metrics_service.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "auth/key_digest.hpp"
#include "metrics/failure_barrier.hpp"
#include "server/http_routes.hpp"
#include "server/metrics_listener.hpp"

namespace voxgate::server {

MetricsService::MetricsService(std::function<std::string()> collect, const MetricsConfig& config,
                               metrics::Counter* internal_errors)
    : collect_(std::move(collect)), internal_errors_(internal_errors), listen_(config.listen) {
    if (!config.bearer_token.empty()) token_digest_ = auth::sha256_of(config.bearer_token);
}

void MetricsService::bind() {
    if (!listen_ || listener_) return;
    const std::string where = "metrics.listen: cannot listen on " + listen_->host + ":" + std::to_string(listen_->port);
    error_code ec;
    auto address = asio::ip::make_address(listen_->host, ec);
    if (ec) throw std::runtime_error(where + ": not an IP address");
    try {
        listener_ = std::make_shared<MetricsListener>(*this, tcp::endpoint(address, listen_->port));
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error(where + ": " + e.code().message());
    }
}

MetricsService::~MetricsService() { stop(); }

void MetricsService::start() {
    if (thread_.joinable()) return;
    if (listener_) listener_->start();
    thread_ = std::thread([this] {
        auto work = asio::make_work_guard(ioc_);
        for (bool stopped = false; !stopped;) {
            stopped = metrics::run_contained(
                nullptr, "metrics event loop", [] { return std::string("metrics thread"); }, [this] { ioc_.run(); },
                [] {});
        }
    });
}

void MetricsService::stop() {
    if (!thread_.joinable()) return;
    ioc_.stop();
    thread_.join();
}

std::optional<tcp::endpoint> MetricsService::listen_endpoint() const {
    if (!listener_) return std::nullopt;
    return listener_->local_endpoint();
}

bool MetricsService::authorized(std::string_view authorization) const {
    if (!token_digest_) return true;
    const auto presented = bearer_credential(authorization);
    // Digests of equal size compared in constant time: neither the token's length nor
    // how much of it matched shows in the timing.
    return !presented.empty() && auth::same_digest(auth::sha256_of(presented), *token_digest_);
}

std::optional<std::string> MetricsService::scrape_here() const {
    std::optional<std::string> text;
    metrics::run_contained(
        internal_errors_, "metrics scrape", [] { return std::string("metrics thread"); },
        [&] { text = collect_(); }, [&] { text.reset(); });
    return text;
}

void MetricsService::async_scrape(asio::any_io_executor reply_to, ScrapeDone done) {
    asio::post(ioc_, [this, reply_to = std::move(reply_to), done = std::move(done)]() mutable {
        auto text = scrape_here();
        asio::post(reply_to, [done = std::move(done), text = std::move(text)]() mutable { done(std::move(text)); });
    });
}

}  // namespace voxgate::server
