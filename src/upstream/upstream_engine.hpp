#pragma once
// The upstream engine of one shard (docs/design.md "Upstream", "Providers"): the ResponseSource
// that turns one ChatRequest into one streamed response, composing the RouteTable, the
// provider codecs, SseParser and the libcurl transport. It owns the shard's CurlMulti, so
// all of a shard's provider connections (and their reuse) live here.
//
// Threading: one engine per shard, used only from that shard's io_context thread; no locks.
// Create it on (or before starting) the shard thread and destroy it before the io_context:
//     shard.set_responses(std::make_shared<UpstreamEngine>(shard.io_context(), config, &shard.metrics()));
//
// One response, in order:
//   route = RouteTable::route_for(client_model)          (never empty; demo as the last resort)
//   per provider of the route, per attempt:
//     codec.build_request -> Transfer (POST, headers, ca_file, timeouts.connect)
//     non-2xx head  -> error body (at most max_error_body_bytes) -> codec.classify_error
//     2xx head      -> SseParser -> codec decoder -> the observer (deltas forwarded as views)
//   decoder done    -> on_done(completed; incomplete when the finish reason is `length`)
//
// Retries happen only while no text or tool-call delta has reached the observer
// (resilience::decide_retry, the decision every upstream family shares):
//   retried (same provider, up to max_retries, backoff below):
//     connect / DNS / TLS-handshake failures, except certificate verification failures;
//     HTTP statuses the codec calls retryable (408 409 429 5xx 529; not an exhausted quota);
//     in-stream errors the decoder calls retryable, a connection lost before any content;
//     first-token and idle timeouts.
//   backoff: base_delay x multiplier^n, capped at max_delay, +-jitter; a server's
//     retry-after / retry-after-ms of at most 60 s replaces it. A retry that would end
//     after the total deadline is not made.
//   then the next provider of the route (metric upstream_fallbacks) for every failure but:
//     HTTP 400 and 422, the request itself is at fault and another provider would refuse it
//       too: the response fails at once with the provider's own message;
//     the total timeout: the response's time is up.
//   401/403/404 (key, permission, model name) and TLS verification failures are problems of
//   that provider's configuration: no retry, straight to the next provider.
// After content has streamed nothing is retried: any failure (reset, malformed chunk,
// in-stream error, idle or total timeout) ends the response with Outcome::failed; the
// deltas already delivered stay delivered.
//
// Timeouts per provider (ProviderConfig::timeouts), one steady_timer per response that is
// re-armed lazily (it fires at the earliest deadline and looks again), never per token:
//   connect      curl's connect timeout (a connect failure, retried);
//   first_token  from the attempt's start to its first content delta or finish;
//   idle         the longest silence between body bytes of a 2xx stream;
//   total        from start() across all attempts; each provider's own total counts from start().
// While paused (backpressure), first_token and idle do not run: the silence is ours.
// A timeout before content fails the attempt (retryable, code "upstream_timeout"); after
// content it fails the response with error_code "upstream_timeout".
//
// Errors seen by the observer: error_type/error_code from the provider when it gave them
// ("rate_limit_error", "overloaded_error", ...), else the gateway's: "upstream_timeout",
// "upstream_connect_failed", "upstream_tls_error", "upstream_connection_lost",
// "upstream_malformed", "upstream_error". The gateway's messages never quote a request
// header; a provider's error text that quotes the provider's API key or a configured header
// value (8+ characters) gets it replaced by "[redacted]".
//
// A completed response whose HTTP body has not quite ended (the closing chunk still on its
// way) is reported done at once; its transfer reads the last bytes afterwards (finish_drain)
// so that an HTTP/1.1 connection stays reusable instead of being closed.
//
// Callbacks: never from inside start(), pause() or resume(); none after cancel() or after
// the handle is destroyed, also when that happens inside a callback. The handle may be
// destroyed at any time, from anywhere on the shard thread. Responses still running when
// the engine is destroyed are stopped silently (their handles become inert). A cancel is
// silent, so Outcome::cancelled never reaches on_done.
//
// Metrics (when given): per attempt providers[i].requests{code} (0 = no HTTP status:
// transport failure or timeout before the head); first_byte_seconds per attempt whose
// 2xx body started (attempt start -> first body byte); upstream_retries per retry;
// upstream_fallbacks per switch to the next provider. A local kind (the demo) is not counted.
#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "upstream/curl_multi.hpp"
#include "upstream/resilience/provider_guard.hpp"
#include "upstream/resilience/retry_backoff.hpp"
#include "upstream/resilience/retry_decision.hpp"
#include "upstream/response_source.hpp"
#include "upstream/route_table.hpp"
#include "voxgate/config.hpp"
#include "voxgate/net.hpp"

namespace voxgate::metrics {
struct ShardMetrics;
}

namespace voxgate::upstream {

using RetryPolicy = resilience::RetryPolicy;

struct UpstreamEngineOptions {
    CurlMultiOptions curl;
    RetryPolicy retry;
    std::size_t max_error_body_bytes = 64 * 1024;  // of a non-2xx reply; the rest is dropped
    std::size_t max_event_bytes = 1 << 20;         // one SSE event; larger fails the stream
    // After the stream said it is complete, how long the transfer may take to read the
    // body's last bytes (the closing chunk) so that its HTTP/1.1 connection can be reused.
    std::chrono::milliseconds finish_drain{2000};
};

class UpstreamEngine final : public ResponseSource {
public:
    // `config` is copied (providers and routes); `metrics` may be null and must outlive the
    // engine otherwise; its providers[] must be indexed like config.providers.
    UpstreamEngine(asio::io_context& io, const Config& config, metrics::ShardMetrics* metrics,
                   UpstreamEngineOptions options = {});
    // Stops every response still running (no callbacks), then closes curl's connections.
    // Must run on the shard thread (or after it stopped), before the io_context is destroyed.
    ~UpstreamEngine() override;
    UpstreamEngine(const UpstreamEngine&) = delete;
    UpstreamEngine& operator=(const UpstreamEngine&) = delete;

    // Never returns null. The first callback comes from a later run of the io_context.
    std::unique_ptr<ResponseHandle> start(std::string_view client_model, ChatRequest request,
                                          ResponseObserver& observer) override;

    const RouteTable& routes() const { return routes_; }
    CurlMulti& multi() { return multi_; }
    // Responses started and not yet released (by their handles, or by the drain below).
    std::size_t active_responses() const { return responses_.size(); }
    // Completed responses whose transfers still read their closing bytes.
    std::size_t draining_transfers() const { return draining_.size(); }
    // This shard's circuit breaker state for a provider (closed for an unknown name).
    resilience::CircuitState circuit_state(std::string_view provider) const;

private:
    class Response;
    class Handle;

    resilience::ProviderGuard& guard_for(const RoutedProvider& provider) { return guards_[provider.slot]; }

    asio::io_context& io_;
    metrics::ShardMetrics* metrics_;
    UpstreamEngineOptions options_;
    RouteTable routes_;
    std::vector<resilience::ProviderGuard> guards_;  // indexed by RoutedProvider::slot
    std::unordered_set<Response*> responses_;  // to stop them if the engine goes first
    // Completed responses still reading their closing bytes, kept alive here (see finish_drain).
    std::unordered_map<Response*, std::shared_ptr<Response>> draining_;
    std::minstd_rand jitter_random_;
    CurlMulti multi_;                          // last: destroyed first, after the responses let go
};

}  // namespace voxgate::upstream
