#include "server/runtime.hpp"

#include "session/conversation_expiry.hpp"

#include <future>
#include <stdexcept>

#include <boost/asio/post.hpp>

#include "metrics/failure_barrier.hpp"
#include <spdlog/spdlog.h>

namespace voxgate::server {

namespace {

tcp::endpoint listen_endpoint(const ServerConfig& server) {
    error_code ec;
    auto address = asio::ip::make_address(server.listen_host, ec);
    if (ec) throw std::runtime_error("server.listen: not an IP address: " + server.listen_host);
    return {address, server.listen_port};
}

// SO_REUSEPORT lets a second process bind the same port silently. A probe bind without
// it fails with address_in_use when anyone (including another voxgate) holds the port.
void probe_port_is_free(const tcp::endpoint& endpoint) {
    asio::io_context probe_context;
    tcp::acceptor probe(probe_context);
    probe.open(endpoint.protocol());
    probe.set_option(asio::socket_base::reuse_address(true));
    probe.bind(endpoint);  // throws system_error(address_in_use)
}

}  // namespace

Runtime::Runtime(Config config) : context_(std::make_unique<GatewayContext>()) {
    context_->config = std::move(config);
    auto& cfg = context_->config;
    if (cfg.tls.enabled()) {
        auto& tls = context_->tls.emplace(asio::ssl::context::tls_server);
        tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
        // OpenSSL frees a connection's ~33 KB of record buffers while it is idle instead of
        // keeping them for its whole life (TlsSocket adds no buffers of its own).
        SSL_CTX_set_mode(tls.native_handle(), SSL_MODE_RELEASE_BUFFERS);
        error_code ec;
        tls.use_certificate_chain_file(cfg.tls.cert_file, ec);
        if (ec) throw std::runtime_error("tls.cert_file: cannot use " + cfg.tls.cert_file + ": " + ec.message());
        tls.use_private_key_file(cfg.tls.key_file, asio::ssl::context::pem, ec);
        if (ec) throw std::runtime_error("tls.key_file: cannot use " + cfg.tls.key_file + ": " + ec.message());
    }
    context_->resume_failures = std::make_unique<session::ResumeFailures>(cfg.limits.max_failed_resumes_per_minute_per_ip);
    if (cfg.auth.enabled()) {
        context_->authenticator = std::make_unique<auth::Authenticator>(cfg.auth.keys_file);
        context_->client_secrets = std::make_unique<auth::ClientSecretStore>(cfg.auth.max_client_secrets);
    }
    unsigned threads = cfg.server.threads ? cfg.server.threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < threads; ++i) shards_.push_back(std::make_unique<Shard>(i, *context_));

    std::vector<const metrics::ShardMetrics*> shard_metrics;
    for (auto& shard : shards_) shard_metrics.push_back(&shard->metrics());
    std::vector<std::string> provider_names;
    for (auto& provider : cfg.providers) provider_names.push_back(provider.name);
    std::vector<metrics::SpeechService> speech_services;
    if (cfg.speech_to_text.kind == "openai") speech_services.push_back(metrics::SpeechService::speech_to_text);
    if (cfg.text_to_speech.kind == "openai") speech_services.push_back(metrics::SpeechService::text_to_speech);
    context_->collector = std::make_unique<metrics::Collector>(
        std::move(shard_metrics), std::move(provider_names), [ctx = context_.get()] { return ctx->registry.size(); },
        std::move(speech_services));
    // Through the context, so a test that replaces the collector is scraped too.
    metrics_ = std::make_unique<MetricsService>([ctx = context_.get()] { return ctx->collector->scrape(); },
                                                cfg.metrics, &shards_.front()->metrics().internal_errors);
    context_->metrics_service = metrics_.get();
}

std::optional<std::string> Runtime::reload_keys() {
    auto& authenticator = context_->authenticator;
    if (!authenticator) return std::nullopt;
    if (auto error = authenticator->reload()) {
        spdlog::error("keys file not reloaded, the previous keys stay in use: {}", *error);
        return error;
    }
    spdlog::info("keys file {} reloaded: {} keys (new handshakes use them)", context_->config.auth.keys_file,
                 authenticator->key_count());
    return std::nullopt;
}

Runtime::~Runtime() {
    metrics_->stop();
    for (auto& shard : shards_) shard->io_context().stop();
    join();
    // Before the shards are destroyed: a compute task may still post its result to one.
    if (context_->compute_pool) {
        context_->compute_pool->stop();
        context_->compute_pool->join();
    }
}

void Runtime::bind() {
    auto endpoint = listen_endpoint(context_->config.server);
    if (endpoint.port() != 0) probe_port_is_free(endpoint);
    for (auto& shard : shards_) {
        auto listener = std::make_shared<Listener>(*shard, endpoint);
        // Port 0: the first shard picks a port, the others join it.
        if (endpoint.port() == 0) endpoint = listener->local_endpoint();
        listeners_.push_back(std::move(listener));
    }
    bound_ = endpoint;
    metrics_->bind();
}

tcp::endpoint Runtime::local_endpoint() const { return bound_; }

void Runtime::start() {
    metrics_->start();
    for (std::size_t i = 0; i < shards_.size(); ++i) {
        auto* shard = shards_[i].get();
        auto listener = i < listeners_.size() ? listeners_[i] : nullptr;
        threads_.emplace_back([shard, listener] {
            auto& ioc = shard->io_context();
            // Keeps run() alive between connections; released at shutdown.
            auto work = asio::make_work_guard(ioc);
            asio::post(ioc, [shard, listener] {
                shard->sweeper().start();
                if (auto* expiry = shard->conversation_expiry()) expiry->start();
                if (listener) listener->start();
            });
            // The last line of the exception barrier: whatever a handler let escape is
            // logged and counted, and the loop runs on, so a shard thread never dies.
            for (bool stopped = false; !stopped;) {
                stopped = metrics::run_contained(
                    &shard->metrics().internal_errors, "shard event loop",
                    [shard] { return "shard " + std::to_string(shard->index()); }, [&ioc] { ioc.run(); }, [] {});
            }
        });
    }
}

template <class Fn>
void Runtime::run_on_every_shard(Fn fn) {
    std::vector<std::future<void>> done;
    for (auto& shard : shards_) {
        auto promise = std::make_shared<std::promise<void>>();
        done.push_back(promise->get_future());
        asio::post(shard->io_context(), [promise, fn, shard = shard.get()] {
            fn(*shard);
            promise->set_value();
        });
    }
    for (auto& f : done) {
        if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
            spdlog::warn("a shard did not answer the shutdown request within 5 s");
    }
}

std::int64_t Runtime::responses_in_flight() const {
    std::int64_t total = 0;
    for (auto& shard : shards_) total += shard->metrics().responses_active.value();
    return total;
}

void Runtime::shutdown() {
    auto& ctx = *context_;
    if (ctx.draining.exchange(true)) return;
    // Readiness fails first; connections are still accepted and served while load
    // balancers notice (the Kubernetes pattern), then new work is refused.
    spdlog::info("shutting down: /readyz is 503; still accepting for {} s, then draining for up to {} s",
                 ctx.config.shutdown.readiness_grace.count(), ctx.config.shutdown.drain_seconds.count());
    std::this_thread::sleep_for(ctx.config.shutdown.readiness_grace);
    ctx.refusing_new_work.store(true);
    run_on_every_shard([this](Shard& shard) {
        for (auto& listener : listeners_)
            if (&listener->shard() == &shard) listener->stop();
    });

    auto deadline = clock::now() + ctx.config.shutdown.drain_seconds;
    while (responses_in_flight() > 0 && clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (auto left = responses_in_flight(); left > 0)
        spdlog::warn("drain deadline reached with {} responses still streaming", left);

    run_on_every_shard([](Shard& shard) { shard.sweeper().shutdown_all(); });
    // Give close handshakes a moment, then stop whatever is left.
    auto close_deadline = clock::now() + std::chrono::seconds(2);
    while (ctx.websocket_connections.load() > 0 && clock::now() < close_deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    run_on_every_shard([](Shard& shard) {
        shard.sweeper().stop();
        if (auto* expiry = shard.conversation_expiry()) expiry->stop();
    });
    metrics_->stop();
    for (auto& shard : shards_) shard->io_context().stop();
    join();
    spdlog::info("shutdown complete");
}

void Runtime::join() {
    for (auto& thread : threads_)
        if (thread.joinable()) thread.join();
    threads_.clear();
}

}  // namespace voxgate::server
