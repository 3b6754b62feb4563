#pragma once
// voxgate's configuration: one struct per component, defaults in the member
// initializers. The loader (src/config/) fills them from the JSON file, then the
// VOXGATE_* environment, then command-line flags, and validates every value with an
// error that names the key path. Components receive their own struct, never JSON.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace voxgate {

struct ServerConfig {
    std::string listen_host = "0.0.0.0";
    std::uint16_t listen_port = 8080;
    unsigned threads = 0;  // 0 = std::thread::hardware_concurrency()
};

// A host and port to listen on ("HOST:PORT" in the config, IPv6 as "[::1]:9090").
struct ListenAddress {
    std::string host;
    std::uint16_t port = 0;
};

// /metrics (README "Metrics"). Without `listen` it is served on the client port; with it,
// only on that address, by a thread of its own, and the client port answers 404.
struct MetricsConfig {
    std::optional<ListenAddress> listen;
    std::string bearer_token_env;   // variable holding the token scrapers must send
    std::string bearer_token_file;  // or a file whose trimmed content is the token
    std::string bearer_token;       // resolved at load time; empty = no token needed; never logged
};

struct TlsConfig {
    std::string cert_file;  // PEM certificate chain
    std::string key_file;   // PEM private key
    bool enabled() const { return !cert_file.empty() && !key_file.empty(); }
};

// Limits for everything a client can grow (docs/style.md: one place, like uWS's WebSocketBehavior).
struct LimitsConfig {
    std::size_t max_message_bytes = 256 * 1024;       // inbound WebSocket message; over it -> close 1009
    std::size_t send_queue_bytes = 1024 * 1024;       // bytes queued for one client; high-water mark
    std::size_t max_http_header_bytes = 8 * 1024;     // over it -> 431
    std::size_t max_http_body_bytes = 64 * 1024;      // over it -> 413
    std::chrono::seconds idle_timeout{60};            // no frame (not even a pong) for this long -> close
    std::chrono::seconds ping_interval{20};           // ping a connection silent for this long
    // Client events; over it -> error, then 1008. An audio client streaming 20 ms chunks
    // sends 50 per second of appends alone, so the default leaves room for that and more.
    double max_events_per_second = 100;
    std::size_t max_connections = 100000;             // TCP connections, all kinds; over it -> closed at accept
    // Everything one conversation stores (items with all their fields and a fixed cost per
    // item and content part, instructions, tools); past it the oldest items are evicted.
    std::size_t max_conversation_bytes = 2 * 1024 * 1024;
    // Text + tool arguments of one response; past it the response ends `incomplete`.
    std::size_t max_response_bytes = 128 * 1024;
    std::size_t max_connections_per_ip = 1000;        // per client address; 0 = off
    std::size_t max_handshakes_per_second_per_ip = 50;  // new connections per address per second; 0 = off
    std::chrono::seconds handshake_timeout{10};       // accept -> TLS -> HTTP request -> upgrade
    std::chrono::seconds slow_client_timeout{30};     // queued bytes and no write progress -> 1008
    std::chrono::seconds message_timeout{30};         // a started WebSocket message must complete -> 1008
    std::size_t max_pings_per_second = 10;            // client pings; over it -> 1008; 0 = off
    std::size_t max_requests_per_connection = 1000;   // HTTP keep-alive requests; 0 = unlimited
    // Resumes of an unknown (or another key's) session id per client address per minute;
    // past it the handshake gets 429 (guessing ids is hopeless; this keeps it also costly).
    std::size_t max_failed_resumes_per_minute_per_ip = 20;  // 0 = off
    // Audio a session's input buffer may hold before a commit (input_audio_buffer.append past
    // it -> input_audio_buffer_full, the audio is dropped). 60 s of 24 kHz PCM16 is 2.9 MB.
    std::chrono::seconds max_input_audio_seconds{60};
};

struct WebSocketConfig {
    bool permessage_deflate = false;  // zlib state costs hundreds of KB per connection
};

struct ShutdownConfig {
    // After SIGTERM /readyz says 503 at once, but listeners keep accepting this long so a
    // load balancer can notice before connections are refused.
    std::chrono::seconds readiness_grace{5};
    std::chrono::seconds drain_seconds{10};  // then in-flight responses get this long
};

struct LogConfig {
    std::string level = "info";   // trace | debug | info | warn | error | critical | off
    std::string format = "text";  // text | json
};

struct SessionsConfig {
    std::chrono::seconds resume_ttl{300};
    std::size_t max_history_chars = 32000;
    bool barge_in = true;
    std::string default_model = "gpt-4o-mini";  // model a session starts with when ?model= is absent
    std::string instructions;                   // default system prompt
    std::optional<int> max_output_tokens;       // default per-response cap
    // Conversations in the registry, live and detached (resumable) together. When full, the
    // oldest detached one is evicted; when none is detached, a new session is refused.
    std::size_t max_stored = 100000;
};

// Client authentication (README "Authentication").
struct AuthConfig {
    std::string mode = "none";                 // none | api_keys
    std::string keys_file;                     // JSON keys file for api_keys; reloaded on SIGHUP
    std::vector<std::string> allowed_origins;  // browser Origins allowed to connect; empty = any
    // auth.mode none on a non-loopback listen address while a real provider has a key is
    // refused at start-up unless this is set: it would be an open relay to the key.
    bool allow_unauthenticated = false;
    // Ephemeral client secrets (POST /v1/realtime/client_secrets, README "Client secrets"):
    // how long one lives at most, and how many may be stored at once across all keys.
    std::chrono::seconds client_secret_ttl{600};
    std::size_t max_client_secrets = 10000;
    bool enabled() const { return mode == "api_keys"; }
};

// The browser console at GET / and /console (README "Try it in a browser").
struct ConsoleConfig {
    bool enabled = true;
};

struct ProviderTimeouts {
    std::chrono::milliseconds connect{3000};
    std::chrono::milliseconds first_token{15000};
    std::chrono::milliseconds idle{15000};
    std::chrono::milliseconds total{120000};
};

// Per provider, per shard (src/upstream/resilience/circuit_breaker.hpp): open after
// `consecutive_failures` provider faults in a row, or when over `failure_rate` of at least
// `min_requests` attempts within `window` failed; refuse (fail fast to the next provider of
// the route) for `cooldown`, then let one probe through.
struct CircuitBreakerConfig {
    bool enabled = true;
    int consecutive_failures = 5;
    double failure_rate = 0.5;  // 0 turns the rate rule off
    int min_requests = 20;
    std::chrono::milliseconds window{10000};
    std::chrono::milliseconds cooldown{10000};
};

// Per provider, per shard (Envoy retry_budget): retries in flight <= max(min_retries,
// fraction x active requests to that provider).
struct RetryBudgetConfig {
    double fraction = 0.2;
    std::size_t min_retries = 3;
};

// The retries and circuit breaker of a speech service of kind openai (speech_to_text,
// text_to_speech), per worker thread: the providers' keys, read by the same functions.
struct SpeechResilienceConfig {
    int max_retries = 2;  // transient failures; text_to_speech only before its first audio byte
    CircuitBreakerConfig circuit_breaker;
    RetryBudgetConfig retry_budget;
};

// The options of one provider kind, beside the keys every HTTP kind shares. Each kind's
// file reads its own (src/upstream/provider_kinds.hpp); another kind's key is a config error.
struct OpenAiOptions {};  // the shared keys are all it takes
struct AnthropicOptions {
    std::string version = "2023-06-01";  // anthropic_version
    int default_max_tokens = 1024;       // Anthropic requires max_tokens
};
// The demo provider answers in-process, with no HTTP: none of the shared keys apply.
struct DemoOptions {
    double tokens_per_second = 20;                     // demo_tokens_per_second
    std::chrono::milliseconds first_token_delay{300};  // demo_first_token_delay_ms
};
using ProviderOptions = std::variant<OpenAiOptions, AnthropicOptions, DemoOptions>;

struct ProviderConfig {
    std::string name;                // key in "providers"
    std::string kind;                // a registered kind: openai | anthropic | demo
    ProviderOptions options;         // the kind's own; the loader sets the kind's alternative
    // Shared by the kinds that call HTTP:
    std::string base_url;            // e.g. https://api.openai.com/v1
    std::string api_key_env;         // name of the environment variable holding the key
    std::string api_key_file;        // file whose trimmed content is the key (alternative to api_key_env)
    std::string api_key;             // resolved at load time from api_key_env or api_key_file; never logged
    std::string model;               // upstream model; empty = pass the client's model through
    std::string ca_file;             // PEM bundle to trust instead of the system store
    int max_retries = 2;             // before the first token only
    CircuitBreakerConfig circuit_breaker;
    RetryBudgetConfig retry_budget;
    // Per shard: requests sent and still waiting for the response head; past it a response
    // goes to the next provider of its route or fails with upstream_overloaded.
    std::size_t max_pending_requests = 256;
    ProviderTimeouts timeouts;
    std::vector<std::pair<std::string, std::string>> headers;  // extra request headers

    // The kind's options, or the defaults when a hand-built config holds another kind's.
    template <class Options>
    const Options& options_or_defaults() const {
        static const Options defaults;
        const Options* own = std::get_if<Options>(&options);
        return own != nullptr ? *own : defaults;
    }

    // A provider that names an api_key_env whose variable is unset cannot be used.
    bool usable() const { return api_key_env.empty() || !api_key.empty(); }
};

// Speech-to-text for committed input audio (README "Voice input"). `pocketsphinx` recognises
// locally (Debian pocketsphinx-en-us, offline, no key); `none` turns transcription off, and a
// committed utterance then gets conversation.item.input_audio_transcription.failed.
// `openai` posts each utterance to an OpenAI-compatible /audio/transcriptions endpoint.
// Each kind reads only its own keys: another kind's key is a config error.
struct SpeechToTextConfig {
    std::string kind = "pocketsphinx";  // pocketsphinx | openai | none
    // pocketsphinx
    std::string model_dir = "/usr/share/pocketsphinx/model/en-us";  // holds en-us/, en-us.lm.bin, cmudict-en-us.dict
    // openai
    std::string base_url = "https://api.openai.com/v1";
    std::string api_key_env;   // variable holding the key (none: no Authorization header, e.g. whisper.cpp)
    std::string api_key_file;  // or a file whose trimmed content is the key
    std::string api_key;       // resolved at load time; never logged
    std::string model = "whisper-1";
    std::string language;      // ISO-639-1 hint, e.g. "en"; empty = let the server detect it
    std::string ca_file;
    std::chrono::milliseconds timeout{30000};  // one utterance, all its attempts
    SpeechResilienceConfig resilience;
    // pocketsphinx: utterances queued or being recognised, gateway-wide; openai: requests in
    // flight per shard. Past it a transcription fails at once with `transcription_busy`
    // instead of waiting behind a growing queue.
    std::size_t max_pending = 32;
};

// Text-to-speech for spoken replies (docs/operations.md "Voice output"). `espeak` speaks
// locally (Debian espeak-ng, offline, no key) on the compute pool; `openai` posts each
// sentence to an OpenAI-compatible /audio/speech endpoint; `none` turns spoken replies off.
// Each kind reads only its own keys: another kind's key is a config error.
struct TextToSpeechConfig {
    std::string kind = "espeak";  // espeak | openai | none
    // The voice when the session names none or one this provider does not have (espeak);
    // the loader sets the kind's default ("en-us" / "alloy") when the file names none.
    std::string voice = "en-us";
    // espeak
    int rate_wpm = 175;     // speaking rate, words per minute (espeak-ng 80..450)
    std::string data_dir;   // espeak-ng-data (or the directory holding it); "" = the library's own
    // openai
    std::string base_url = "https://api.openai.com/v1";
    std::string api_key_env;   // variable holding the key (none: no Authorization header)
    std::string api_key_file;  // or a file whose trimmed content is the key
    std::string api_key;       // resolved at load time; never logged
    std::string model = "gpt-4o-mini-tts";
    std::string ca_file;
    std::chrono::milliseconds timeout{30000};  // one sentence, request to last audio byte, all its attempts
    SpeechResilienceConfig resilience;
    // espeak: syntheses queued or running, gateway-wide; openai: requests in flight per
    // shard. Past it a synthesis fails at once with `speech_busy`.
    std::size_t max_pending = 32;
    // A reply is spoken in pieces cut at sentence ends, or at a word after this many
    // characters when a sentence runs longer (sentence pipelining: the first piece is
    // synthesised while the model still writes the rest).
    std::size_t max_piece_chars = 200;
};

// The compute pool: threads for CPU-heavy work (speech recognition) that must never run
// on a shard thread. Results are posted back to the session's shard.
struct ComputeConfig {
    unsigned threads = 1;
};

// Phone calls: Twilio Media Streams at /v1/twilio (README "Phone calls (Twilio)").
// Off unless enabled. With an auth token every upgrade must carry a valid
// X-Twilio-Signature over public_url + the request target; without one the endpoint
// takes voxgate's own auth (auth.mode), and a warning says it runs unsigned.
struct TwilioConfig {
    bool enabled = false;
    // The URL Twilio connects to, up to (not including) /v1/twilio, e.g.
    // "wss://voice.example.com" or "wss://example.com/voxgate" behind a proxy that strips
    // the prefix: the signature covers the URL as Twilio saw it, not as the gateway does.
    std::string public_url;
    std::string auth_token_env;   // variable holding the account's auth token
    std::string auth_token_file;  // or a file whose trimmed content is the token
    std::string auth_token;       // resolved at load time; empty = unsigned; never logged
    bool verifies_signatures() const { return !auth_token.empty(); }
};

struct Config {
    ServerConfig server;
    TlsConfig tls;
    MetricsConfig metrics;
    LimitsConfig limits;
    WebSocketConfig websocket;
    ShutdownConfig shutdown;
    LogConfig log;
    SessionsConfig sessions;
    AuthConfig auth;
    SpeechToTextConfig speech_to_text;
    TextToSpeechConfig text_to_speech;
    ComputeConfig compute;
    ConsoleConfig console;
    TwilioConfig twilio;
    std::vector<ProviderConfig> providers;
    // client-visible model name (or "*") -> ordered provider names (fallback order)
    std::map<std::string, std::vector<std::string>> routes;
};

}  // namespace voxgate
