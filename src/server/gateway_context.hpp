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

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// What the HTTP layer learned about an accepted /v1/realtime upgrade; handed to the
// protocol handler of the new connection, then freed (an idle connection keeps none of it).
struct UpgradeInfo {
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

struct GatewayContext {
    Config config;
    std::optional<asio::ssl::context> tls;  // set when tls.cert_file/key_file are configured
    session::SessionRegistry registry;
    std::unique_ptr<metrics::Collector> collector;
    MetricsService* metrics_service = nullptr;  // owned by the Runtime; null until it starts one
    ClientHandlerFactory make_handler;
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

// Splits "a=1&b=x%20y" into decoded pairs. Malformed escapes are kept literally.
QueryParams parse_query(std::string_view query);
// The first value of `name`; "" when absent.
std::string query_value(const QueryParams& query, std::string_view name);

}  // namespace voxgate::server
