#pragma once
// What every shard and connection of one gateway shares: immutable configuration,
// the TLS context, the session registry, the metrics collector and the draining flag.
// Everything here is either immutable after start-up or thread-safe.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "auth/authenticator.hpp"
#include "auth/client_secret_store.hpp"
#include "auth/client_key.hpp"
#include "auth/key_usage.hpp"
#include "metrics/collector.hpp"
#include "server/connection_admission.hpp"
#include "server/http_routes.hpp"
#include "session/client_link.hpp"
#include "session/resume_failures.hpp"
#include "session/session_registry.hpp"
#include "speech/espeak_text_to_speech.hpp"
#include "speech/speech_to_text.hpp"
#include "voxgate/config.hpp"
#include "voxgate/net.hpp"

namespace voxgate::server {

class Shard;
class MetricsService;
struct WsEndpoint;

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// What the HTTP layer learned about an accepted WebSocket upgrade; handed to the
// protocol handler of the new connection, then freed (an idle connection keeps none of it).
struct UpgradeInfo {
    const WsEndpoint* endpoint = nullptr;        // where it was routed (GatewayContext::ws_endpoints)
    QueryParams query;                           // decoded ?name=value pairs of the target
    asio::ip::address peer_address;              // the client's IP as seen by the socket
    std::shared_ptr<const auth::ClientKey> key;  // the authenticated key; null when auth.mode is none
    std::shared_ptr<auth::SessionLease> session_lease;  // the key's session slot, held by the session
    // Set when the client came with an ephemeral client secret: the session it was issued for.
    std::shared_ptr<const auth::SecretGrant> grant;
};

// Creates the protocol handler of a new WebSocket connection on `shard`.
using ClientHandlerFactory = std::function<std::shared_ptr<session::ClientHandler>(
    session::ClientLink& link, Shard& shard, const UpgradeInfo& upgrade)>;

// Why an upgrade was refused before the 101: an ordinary HTTP error with a JSON reason.
struct UpgradeRefusal {
    http::status status;
    std::string_view type;  // error.type of the JSON body
    std::string message;
};

struct GatewayContext;

// What an upgrade must pass before the 101 (auth, origin, capacity). On success it may
// fill `info` (key, lease, grant); on refusal it has counted the reason in `metrics`.
using UpgradeAdmission = std::function<std::optional<UpgradeRefusal>(
    const HttpRequest& request, UpgradeInfo& info, GatewayContext& gateway, metrics::ShardMetrics& metrics)>;

// One WebSocket endpoint: a path, who may connect, and the protocol handler it speaks.
// Registered at the composition root (wiring.cpp) before the shards start; read-only after.
struct WsEndpoint {
    std::string path;                                      // exact match, e.g. "/v1/realtime"
    metrics::HttpPath metrics_path = metrics::HttpPath::other;  // voxgate_http_requests_total{path}
    UpgradeAdmission admit;                                // null: everyone is admitted
    ClientHandlerFactory make_handler;                     // null: the connection gets no handler
};

struct GatewayContext {
    Config config;
    std::optional<asio::ssl::context> tls;  // set when tls.cert_file/key_file are configured
    session::SessionRegistry registry;
    std::unique_ptr<metrics::Collector> collector;
    MetricsService* metrics_service = nullptr;  // owned by the Runtime; null until it starts one
    std::vector<WsEndpoint> ws_endpoints;  // the WebSocket paths served; see find_ws_endpoint
    std::unique_ptr<auth::Authenticator> authenticator;  // set when auth.mode is api_keys
    // Declared before the pool, so destroyed after it: the pool's tasks use it.
    std::unique_ptr<speech::SpeechToText> speech_to_text;  // null: speech_to_text.kind none
    // text_to_speech.kind espeak: what every shard's EspeakTextToSpeech shares; null otherwise.
    std::unique_ptr<speech::EspeakEngine> espeak;
    // The compute pool (compute.threads): CPU-heavy work off the shard threads (recognition, synthesis). The Runtime
    // joins it before the shards go, since its tasks post results to them.
    std::unique_ptr<asio::thread_pool> compute_pool;
    std::unique_ptr<auth::ClientSecretStore> client_secrets;  // set with the authenticator
    std::atomic<bool> draining{false};            // SIGTERM came: /readyz answers 503
    std::atomic<bool> refusing_new_work{false};   // the readiness grace is over: no new sessions or responses
    std::atomic<std::int64_t> websocket_connections{0};  // open WebSockets across shards (drain waits for 0)
    ConnectionAdmission admission;
    // limits.max_failed_resumes_per_minute_per_ip (set by the Runtime).
    std::unique_ptr<session::ResumeFailures> resume_failures;  // every TCP connection: limits.max_connections and per-address limits
};

// The endpoint served at exactly `path`; null when none is.
const WsEndpoint* find_ws_endpoint(const GatewayContext& gateway, std::string_view path);
WsEndpoint* find_ws_endpoint(GatewayContext& gateway, std::string_view path);
// "/v1/realtime, /v1/twilio": the served paths, for a 404 that tells the client where to go.
std::string served_ws_paths(const GatewayContext& gateway);

// Splits "a=1&b=x%20y" into decoded pairs. Malformed escapes are kept literally.
QueryParams parse_query(std::string_view query);
// The first value of `name`; "" when absent.
std::string query_value(const QueryParams& query, std::string_view name);

}  // namespace voxgate::server
