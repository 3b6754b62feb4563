#include "config/config_loader.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "auth/key_digest.hpp"
#include "config/cli.hpp"
#include "config/json_section.hpp"
#include "upstream/provider_kinds.hpp"

namespace voxgate::config {

namespace {

using nlohmann::json;

// Text from the environment or a flag: decimal digits, optionally a leading '-', nothing else.
std::int64_t integer_from_text(std::string_view text, const IntRange& range, std::string_view where) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error == std::errc::invalid_argument || end != text.data() + text.size()) {
        throw ConfigError(where, expected_integer(range, false));
    }
    if (error == std::errc::result_out_of_range) {
        throw ConfigError(where, expected_integer(range, !text.starts_with('-')));
    }
    return checked_integer(value, range, where);
}

constexpr std::array<std::string_view, 3> speech_to_text_kinds{"pocketsphinx", "openai", "none"};
constexpr std::array<std::string_view, 3> text_to_speech_kinds{"espeak", "openai", "none"};
constexpr std::array<std::string_view, 7> log_levels{"trace", "debug", "info", "warn",
                                                     "error", "critical", "off"};
constexpr std::array<std::string_view, 2> log_formats{"text", "json"};

// "HOST:PORT" with HOST an IPv4 literal, or "[IPv6]:PORT". The listener binds to an
// address, so host names are refused here rather than failing later at bind time.
ListenAddress parse_listen(std::string_view text, std::string_view where) {
    const auto fail = [&]() -> void { throw ConfigError(where, "expected HOST:PORT"); };
    std::string_view host;
    std::string_view port_text;
    bool ipv6 = false;
    if (text.starts_with('[')) {
        const auto close = text.find("]:");
        if (close == std::string_view::npos) fail();
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
        ipv6 = true;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) fail();
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    const std::string host_string(host);
    in6_addr address{};  // large enough for either family; only the verdict matters
    if (host.empty() || ::inet_pton(ipv6 ? AF_INET6 : AF_INET, host_string.c_str(), &address) != 1) fail();

    unsigned port = 0;
    const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() ||
        port > 65535) {
        fail();
    }
    return {host_string, static_cast<std::uint16_t>(port)};
}

void parse_listen(std::string_view text, ServerConfig& server, std::string_view where) {
    auto address = parse_listen(text, where);
    server.listen_host = std::move(address.host);
    server.listen_port = address.port;
}

// ---------------------------------------------------------------------------------------
// Files

struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};
using FileHandle = std::unique_ptr<std::FILE, FileCloser>;

std::string cannot_read(const std::string& path, std::string_view reason) {
    return "cannot read " + in_quotes(path) + ": " + std::string(reason);
}

FileHandle open_for_reading(const std::string& path, std::string_view where) {
    std::error_code ignored;
    // fopen() accepts a directory on Linux; only the first read would fail, less clearly.
    if (std::filesystem::is_directory(path, ignored)) throw ConfigError(where, cannot_read(path, "is a directory"));
    FileHandle file(std::fopen(path.c_str(), "rb"));
    if (!file) throw ConfigError(where, cannot_read(path, std::strerror(errno)));
    return file;
}

// Files that other components read later (certificates, CA bundles): fail at start-up,
// naming the key, rather than at the first TLS handshake.
void require_readable_file(const std::string& path, std::string_view where) { open_for_reading(path, where); }

// Reads a small file (config, key) whole; the size limit keeps a wrong path such as a
// device or a huge log from being slurped.
std::string read_small_file(const std::string& path, std::size_t max_bytes, std::string_view where) {
    const FileHandle file = open_for_reading(path, where);
    std::string content;
    char chunk[4096];
    std::size_t got = 0;
    while ((got = std::fread(chunk, 1, sizeof chunk, file.get())) > 0) {
        content.append(chunk, got);
        if (content.size() > max_bytes) {
            throw ConfigError(where, "file " + in_quotes(path) + " is larger than " + std::to_string(max_bytes) +
                                         " bytes");
        }
    }
    if (std::ferror(file.get()) != 0) throw ConfigError(where, cannot_read(path, std::strerror(errno)));
    return content;
}

constexpr std::size_t max_config_file_bytes = 1024 * 1024;
constexpr std::size_t max_key_file_bytes = 64 * 1024;

std::string_view trimmed(std::string_view text) {
    constexpr std::string_view space = " \t\r\n\f\v";
    const auto first = text.find_first_not_of(space);
    if (first == std::string_view::npos) return {};
    return text.substr(first, text.find_last_not_of(space) - first + 1);
}


// ---------------------------------------------------------------------------------------
// Parsing the document

// Duplicate keys are legal JSON that nlohmann resolves silently (the last wins); in a
// config file they are a pasted block overriding another, so they are refused.
json parse_document(std::string_view text, std::string_view origin) {
    struct Frame {
        bool is_object = false;
        std::set<std::string> keys;
        std::string current_key;
    };
    std::vector<Frame> frames;
    std::optional<std::string> duplicate_path;

    json::parser_callback_t track_duplicates = [&](int, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start: frames.push_back(Frame{true, {}, {}}); break;
            case json::parse_event_t::array_start: frames.push_back(Frame{false, {}, {}}); break;
            case json::parse_event_t::object_end:
            case json::parse_event_t::array_end: frames.pop_back(); break;
            case json::parse_event_t::key: {
                Frame& frame = frames.back();
                frame.current_key = parsed.get<std::string>();
                if (!frame.keys.insert(frame.current_key).second && !duplicate_path) {
                    std::string path;
                    for (const Frame& enclosing : frames) {
                        if (enclosing.is_object) path = join_path(path, enclosing.current_key);
                    }
                    duplicate_path = path;
                }
                break;
            }
            case json::parse_event_t::value: break;
        }
        return true;
    };

    json document;
    try {
        document = json::parse(text, track_duplicates, /*allow_exceptions=*/true, /*ignore_comments=*/true);
    } catch (const json::exception& error) {
        // Not only parse_error: a number too large for a double ("1e400") is out_of_range.406,
        // found by tests/fuzz/config_loader_fuzzer.cpp.
        // nlohmann's message: "[json.exception.parse_error.101] parse error at line L, column C: ..."
        std::string_view message = error.what();
        if (const auto bracket = message.find("] "); message.starts_with("[json.exception.") &&
                                                       bracket != std::string_view::npos) {
            message.remove_prefix(bracket + 2);
        }
        throw ConfigError(origin, message);
    }
    if (duplicate_path) throw ConfigError(*duplicate_path, "key appears twice in " + std::string(origin));
    if (!document.is_object()) throw ConfigError(origin, "expected a JSON object at the top level");
    return document;
}

void read_server(JsonSection section, ServerConfig& server) {
    if (const json* listen = section.find("listen")) {
        if (!listen->is_string()) throw ConfigError(section.path_of("listen"), "expected HOST:PORT");
        parse_listen(listen->get_ref<const std::string&>(), server, section.path_of("listen"));
    }
    section.read_integer("threads", server.threads, between(0, 1024));
    section.reject_unknown_keys();
}

void read_tls(JsonSection section, TlsConfig& tls) {
    section.read_string("cert_file", tls.cert_file);
    section.read_string("key_file", tls.key_file);
    section.reject_unknown_keys();
    if (tls.cert_file.empty() != tls.key_file.empty()) {
        const char* missing = tls.cert_file.empty() ? "cert_file" : "key_file";
        throw ConfigError(section.path_of(missing), "missing; tls.cert_file and tls.key_file go together");
    }
    if (!tls.enabled()) return;
    require_readable_file(tls.cert_file, section.path_of("cert_file"));
    require_readable_file(tls.key_file, section.path_of("key_file"));
}

void read_limits(JsonSection section, LimitsConfig& limits) {
    section.read_integer("max_message_bytes", limits.max_message_bytes, at_least(1024));
    section.read_integer("send_queue_bytes", limits.send_queue_bytes, at_least(4096));
    section.read_integer("max_http_header_bytes", limits.max_http_header_bytes, at_least(1024));
    section.read_integer("max_http_body_bytes", limits.max_http_body_bytes, at_least(0));
    const bool idle_given = section.find("idle_timeout_seconds") != nullptr;
    const bool ping_given = section.find("ping_interval_seconds") != nullptr;
    section.read_duration("idle_timeout_seconds", limits.idle_timeout, between(1, max_seconds));
    section.read_duration("ping_interval_seconds", limits.ping_interval, between(1, max_seconds));
    section.read_positive_number("max_events_per_second", limits.max_events_per_second);
    section.read_integer("max_connections", limits.max_connections, at_least(1));
    section.read_integer("max_conversation_bytes", limits.max_conversation_bytes, at_least(64 * 1024));
    const bool response_bytes_given = section.find("max_response_bytes") != nullptr;
    section.read_integer("max_response_bytes", limits.max_response_bytes, at_least(1024));
    section.read_integer("max_connections_per_ip", limits.max_connections_per_ip, at_least(0));
    section.read_integer("max_handshakes_per_second_per_ip", limits.max_handshakes_per_second_per_ip,
                         between(0, 1000000));
    section.read_duration("handshake_timeout_seconds", limits.handshake_timeout, between(1, max_seconds));
    section.read_duration("slow_client_timeout_seconds", limits.slow_client_timeout, between(1, max_seconds));
    section.read_duration("message_timeout_seconds", limits.message_timeout, between(1, max_seconds));
    section.read_integer("max_pings_per_second", limits.max_pings_per_second, between(0, 1000000));
    section.read_integer("max_requests_per_connection", limits.max_requests_per_connection, at_least(0));
    section.read_integer("max_failed_resumes_per_minute_per_ip", limits.max_failed_resumes_per_minute_per_ip,
                         between(0, 1000000));
    section.read_duration("max_input_audio_seconds", limits.max_input_audio_seconds, between(1, 3600));
    section.reject_unknown_keys();

    // Left out: the default shrinks to fit a small send queue or conversation budget.
    if (!response_bytes_given)
        limits.max_response_bytes = std::min({limits.max_response_bytes, limits.send_queue_bytes,
                                              limits.max_conversation_bytes / 2});

    // The final events of a response repeat its whole text several times; keeping it below
    // the send queue keeps a prompt reader clear of the queue's hard limit.
    if (limits.max_response_bytes > limits.send_queue_bytes)
        throw ConfigError(section.path_of("max_response_bytes"),
                          "expected a value <= limits.send_queue_bytes (" + std::to_string(limits.send_queue_bytes) + ")");
    // The assistant item of a response must fit in its conversation.
    if (limits.max_response_bytes > limits.max_conversation_bytes / 2)
        throw ConfigError(section.path_of("max_response_bytes"),
                          "expected a value <= half of limits.max_conversation_bytes (" +
                              std::to_string(limits.max_conversation_bytes / 2) + ")");

    // A ping must go out before the idle timeout closes a quiet but healthy connection.
    if (limits.ping_interval >= limits.idle_timeout) {
        if (ping_given || !idle_given) {
            throw ConfigError(section.path_of("ping_interval_seconds"),
                              "expected a value < limits.idle_timeout_seconds (" +
                                  std::to_string(limits.idle_timeout.count()) + ")");
        }
        throw ConfigError(section.path_of("idle_timeout_seconds"),
                          "expected a value > limits.ping_interval_seconds (" +
                              std::to_string(limits.ping_interval.count()) + ")");
    }
}

void read_compute(JsonSection section, ComputeConfig& compute) {
    section.read_integer("threads", compute.threads, between(1, 256));
    section.reject_unknown_keys();
}

void read_websocket(JsonSection section, WebSocketConfig& websocket) {
    section.read_bool("permessage_deflate", websocket.permessage_deflate);
    section.reject_unknown_keys();
}

void read_shutdown(JsonSection section, ShutdownConfig& shutdown) {
    section.read_duration("readiness_grace_seconds", shutdown.readiness_grace, between(0, max_seconds));
    section.read_duration("drain_seconds", shutdown.drain_seconds, between(0, max_seconds));
    section.reject_unknown_keys();
}

void read_log(JsonSection section, LogConfig& log) {
    section.read_choice("level", log.level, log_levels);
    section.read_choice("format", log.format, log_formats);
    section.reject_unknown_keys();
}

void read_sessions(JsonSection section, SessionsConfig& sessions) {
    section.read_duration("resume_ttl_seconds", sessions.resume_ttl, between(0, max_seconds));
    section.read_integer("max_history_chars", sessions.max_history_chars, at_least(1000));
    section.read_bool("barge_in", sessions.barge_in);
    section.read_non_empty_string("default_model", sessions.default_model);
    section.read_string("instructions", sessions.instructions);
    if (const json* value = section.find("max_output_tokens")) {
        sessions.max_output_tokens =
            static_cast<int>(integer_from_json(*value, int_at_least(1), section.path_of("max_output_tokens")));
    }
    section.read_integer("max_stored", sessions.max_stored, at_least(1));
    section.reject_unknown_keys();
}

constexpr std::array<std::string_view, 2> auth_modes{"none", "api_keys"};

void read_string_list(JsonSection& section, std::string_view key, std::vector<std::string>& out) {
    const json* value = section.find(key);
    if (value == nullptr) return;
    const std::string where = section.path_of(key);
    if (!value->is_array()) throw ConfigError(where, "expected an array of non-empty strings");
    out.clear();
    for (const json& entry : *value) {
        if (!entry.is_string() || entry.get_ref<const std::string&>().empty())
            throw ConfigError(where, "expected an array of non-empty strings");
        out.push_back(entry.get<std::string>());
    }
}

void read_auth(JsonSection section, AuthConfig& auth) {
    section.read_choice("mode", auth.mode, auth_modes);
    section.read_non_empty_string("keys_file", auth.keys_file);
    read_string_list(section, "allowed_origins", auth.allowed_origins);
    section.read_bool("allow_unauthenticated", auth.allow_unauthenticated);
    // OpenAI's service allows 10 s to 2 h; 1 s is allowed here so tests need not wait.
    section.read_duration("client_secret_ttl_seconds", auth.client_secret_ttl, between(1, 7200));
    section.read_integer("max_client_secrets", auth.max_client_secrets, between(1, 1'000'000));
    section.reject_unknown_keys();
    if (auth.enabled() && auth.keys_file.empty())
        throw ConfigError(section.path_of("keys_file"), "missing; required when auth.mode is api_keys");
    // Checked now so that a bad file stops start-up instead of refusing every client.
    if (auth.enabled()) load_keys_file(auth.keys_file);
}

void read_console(JsonSection section, ConsoleConfig& console) {
    section.read_bool("enabled", console.enabled);
    section.reject_unknown_keys();
}

bool is_loopback_host(const std::string& host) {
    in_addr v4{};
    if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// Without client authentication, a gateway reachable from other machines lets anyone
// spend the operator's provider keys. Demo-only and loopback set-ups are not at risk.
void refuse_open_relay(const Config& config) {
    if (config.auth.enabled() || config.auth.allow_unauthenticated || is_loopback_host(config.server.listen_host))
        return;
    for (const auto& provider : config.providers) {
        if (provider.api_key.empty()) continue;
        throw ConfigError("auth.mode", "is \"none\" while server.listen (" + config.server.listen_host +
                                           ") is not a loopback address and provider " + in_quotes(provider.name) +
                                           " has an API key: anyone reaching the port would spend it. Set auth.mode "
                                           "to api_keys, listen on 127.0.0.1, or set "
                                           "auth.allow_unauthenticated: true");
    }
}

bool is_provider_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) != 0 || c == '_' || c == '-';
    });
}

bool is_env_var_name(std::string_view name) {
    return !name.empty() && std::isdigit(static_cast<unsigned char>(name.front())) == 0 &&
           std::all_of(name.begin(), name.end(),
                       [](unsigned char c) { return std::isalnum(c) != 0 || c == '_'; });
}

// RFC 9110 section 5.6.2: a field name is a token.
bool is_header_name(std::string_view name) {
    constexpr std::string_view token_symbols = "!#$%&'*+-.^_`|~";
    return !name.empty() && std::all_of(name.begin(), name.end(), [&](unsigned char c) {
        return std::isalnum(c) != 0 || token_symbols.find(static_cast<char>(c)) != std::string_view::npos;
    });
}

bool is_http_url(std::string_view url) {
    for (std::string_view scheme : {"http://", "https://"}) {
        if (url.starts_with(scheme)) {
            const std::string_view rest = url.substr(scheme.size());
            return !rest.empty() && rest.front() != '/' &&
                   std::none_of(url.begin(), url.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; });
        }
    }
    return false;
}

void read_timeouts(JsonSection section, ProviderTimeouts& timeouts) {
    const IntRange range = between(1, max_milliseconds);
    section.read_duration("connect_ms", timeouts.connect, range);
    section.read_duration("first_token_ms", timeouts.first_token, range);
    section.read_duration("idle_ms", timeouts.idle, range);
    section.read_duration("total_ms", timeouts.total, range);
    section.reject_unknown_keys();
}

void read_circuit_breaker(JsonSection section, CircuitBreakerConfig& breaker) {
    section.read_bool("enabled", breaker.enabled);
    section.read_integer("consecutive_failures", breaker.consecutive_failures, between(1, 1000));
    section.read_fraction("failure_rate", breaker.failure_rate);
    section.read_integer("min_requests", breaker.min_requests, between(1, 100000));
    section.read_duration("window_ms", breaker.window, between(100, max_milliseconds));
    section.read_duration("cooldown_ms", breaker.cooldown, between(1, max_milliseconds));
    section.reject_unknown_keys();
}

void read_retry_budget(JsonSection section, RetryBudgetConfig& budget) {
    section.read_fraction("fraction", budget.fraction);
    section.read_integer("min_retries", budget.min_retries, between(0, 100000));
    section.reject_unknown_keys();
}

void read_headers(const JsonSection& section, std::vector<std::pair<std::string, std::string>>& headers) {
    // Every key of this object is a header name: none is "unknown".
    for (const auto& [name, value] : section.object().items()) {
        const std::string where = section.path_of(name);
        if (!is_header_name(name)) {
            throw ConfigError(where, "expected an HTTP header name (letters, digits, !#$%&'*+-.^_`|~)");
        }
        if (!value.is_string()) throw ConfigError(where, "expected a string");
        const auto& text = value.get_ref<const std::string&>();
        // A line break would let the value inject further headers into the request.
        if (text.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
            throw ConfigError(where, "expected a value without line breaks or NUL");
        }
        headers.emplace_back(name, text);
    }
}

// The key never appears in an error: only the variable's or file's name does.
// `env_key` and `file_key` name the two keys in errors (api_key_env/api_key_file for providers).
void resolve_secret(const std::string& key_env, const std::string& key_file, std::string& key,
                    const std::string& path, const Environment& env, std::string_view env_key = "api_key_env",
                    std::string_view file_key = "api_key_file") {
    if (!key_env.empty() && !key_file.empty()) {
        throw ConfigError(join_path(path, file_key),
                          "set either " + std::string(env_key) + " or " + std::string(file_key) + ", not both");
    }
    if (!key_env.empty()) {
        // Unset or empty leaves the provider unusable, not the config invalid: the shipped
        // config has to start on a machine without keys (demo fallback, README).
        if (const char* value = env(key_env.c_str())) key = trimmed(value);
    } else if (!key_file.empty()) {
        const std::string where = join_path(path, file_key);
        key = trimmed(read_small_file(key_file, max_key_file_bytes, where));
        if (key.empty()) {
            throw ConfigError(where, "file " + in_quotes(key_file) + " is empty");
        }
    }
}

void resolve_api_key(ProviderConfig& provider, const std::string& path, const Environment& env) {
    resolve_secret(provider.api_key_env, provider.api_key_file, provider.api_key, path, env);
}

// `api_key_env` of a provider or a speech endpoint: the name of a variable. Never echo the
// value: a pasted key is the usual mistake here.
void read_key_env(JsonSection& section, std::string& key_env) {
    const json* value = section.find("api_key_env");
    if (!value) return;
    if (!value->is_string() || !is_env_var_name(value->get_ref<const std::string&>()))
        throw ConfigError(section.path_of("api_key_env"),
                          "expected the name of an environment variable (letters, digits, '_'), not a key");
    key_env = value->get<std::string>();
}

// A `base_url` request paths are appended to ("/chat/completions", "/audio/speech"): http(s),
// and one slash between them, not two.
void check_http_base_url(JsonSection& section, std::string& url) {
    if (!is_http_url(url)) throw ConfigError(section.path_of("base_url"), "expected a URL starting with http:// or https://");
    while (url.ends_with('/')) url.pop_back();
}

// max_retries, circuit_breaker and retry_budget of a speech service: the providers' keys,
// ranges and readers.
void read_speech_resilience(JsonSection& section, SpeechResilienceConfig& resilience) {
    section.read_integer("max_retries", resilience.max_retries, between(0, 10));
    if (auto breaker = section.section("circuit_breaker")) read_circuit_breaker(*breaker, resilience.circuit_breaker);
    if (auto budget = section.section("retry_budget")) read_retry_budget(*budget, resilience.retry_budget);
}

void read_speech_to_text(JsonSection section, SpeechToTextConfig& speech, const Environment& env) {
    section.read_choice("kind", speech.kind, speech_to_text_kinds);
    section.read_integer("max_pending", speech.max_pending, between(1, 100000));
    // Each kind's own keys; the other kinds' keys are refused, not silently ignored.
    constexpr std::array<std::string_view, 10> openai_keys{"base_url",   "api_key_env",     "api_key_file",
                                                           "model",      "language",        "ca_file",
                                                           "timeout_ms", "max_retries",     "circuit_breaker",
                                                           "retry_budget"};
    for (auto key : openai_keys)
        if (speech.kind != "openai" && section.find(key))
            throw ConfigError(section.path_of(key), "only for speech_to_text.kind \"openai\"");
    if (speech.kind != "pocketsphinx" && section.find("model_dir"))
        throw ConfigError(section.path_of("model_dir"), "only for speech_to_text.kind \"pocketsphinx\"");
    section.read_string("model_dir", speech.model_dir);
    section.read_non_empty_string("base_url", speech.base_url);
    read_key_env(section, speech.api_key_env);
    section.read_non_empty_string("api_key_file", speech.api_key_file);
    section.read_non_empty_string("model", speech.model);
    section.read_string("language", speech.language);
    section.read_non_empty_string("ca_file", speech.ca_file);
    section.read_duration("timeout_ms", speech.timeout, between(100, max_milliseconds));
    read_speech_resilience(section, speech.resilience);
    section.reject_unknown_keys();
    if (speech.kind != "openai") return;
    check_http_base_url(section, speech.base_url);
    resolve_secret(speech.api_key_env, speech.api_key_file, speech.api_key, section.path(), env);
}

// The auth token signs every upgrade; a token variable that is named but unset stops
// start-up rather than leaving the phone endpoint silently unsigned.
void read_twilio(JsonSection section, TwilioConfig& twilio, const Environment& env) {
    section.read_bool("enabled", twilio.enabled);
    section.read_non_empty_string("public_url", twilio.public_url);
    if (const json* token_env = section.find("auth_token_env")) {
        if (!token_env->is_string() || !is_env_var_name(token_env->get_ref<const std::string&>()))
            throw ConfigError(section.path_of("auth_token_env"),
                              "expected the name of an environment variable (letters, digits, '_'), not a token");
        twilio.auth_token_env = token_env->get<std::string>();
    }
    section.read_non_empty_string("auth_token_file", twilio.auth_token_file);
    if (section.find("auth_token") != nullptr)
        throw ConfigError(section.path_of("auth_token"), "unknown key; the token never goes in the config file: name "
                                                         "an environment variable in auth_token_env or a file in "
                                                         "auth_token_file");
    section.reject_unknown_keys();
    const std::string& url = twilio.public_url;
    if (!url.empty()) {
        if (!url.starts_with("wss://") && !url.starts_with("ws://"))
            throw ConfigError(section.path_of("public_url"), "expected a wss:// URL (ws:// for local tests)");
        if (url.find_first_of("?#") != std::string::npos)
            throw ConfigError(section.path_of("public_url"), "expected no query or fragment: /v1/twilio is appended");
        while (twilio.public_url.ends_with('/')) twilio.public_url.pop_back();
    }
    resolve_secret(twilio.auth_token_env, twilio.auth_token_file, twilio.auth_token, section.path(), env,
                   "auth_token_env", "auth_token_file");
    if (!twilio.auth_token_env.empty() && twilio.auth_token.empty())
        throw ConfigError(section.path_of("auth_token_env"), "$" + twilio.auth_token_env + " is unset or empty");
    if (twilio.verifies_signatures() && twilio.public_url.empty())
        throw ConfigError(section.path_of("public_url"),
                          "missing; required with an auth token: the signature covers the URL Twilio connects to");
}

void read_text_to_speech(JsonSection section, TextToSpeechConfig& speech, const Environment& env) {
    section.read_choice("kind", speech.kind, text_to_speech_kinds);
    section.read_integer("max_pending", speech.max_pending, between(1, 100000));
    section.read_integer("max_piece_chars", speech.max_piece_chars, between(16, 4000));
    if (speech.kind == "openai") speech.voice = "alloy";
    section.read_non_empty_string("voice", speech.voice);
    // Each kind's own keys; the other kinds' keys are refused, not silently ignored.
    constexpr std::array<std::string_view, 9> openai_keys{"base_url",   "api_key_env", "api_key_file",
                                                          "model",      "ca_file",     "timeout_ms",
                                                          "max_retries", "circuit_breaker", "retry_budget"};
    for (auto key : openai_keys)
        if (speech.kind != "openai" && section.find(key))
            throw ConfigError(section.path_of(key), "only for text_to_speech.kind \"openai\"");
    for (auto key : {std::string_view("rate_wpm"), std::string_view("data_dir")})
        if (speech.kind != "espeak" && section.find(key))
            throw ConfigError(section.path_of(key), "only for text_to_speech.kind \"espeak\"");
    section.read_integer("rate_wpm", speech.rate_wpm, between(80, 450));
    section.read_non_empty_string("data_dir", speech.data_dir);
    section.read_non_empty_string("base_url", speech.base_url);
    read_key_env(section, speech.api_key_env);
    section.read_non_empty_string("api_key_file", speech.api_key_file);
    section.read_non_empty_string("model", speech.model);
    section.read_non_empty_string("ca_file", speech.ca_file);
    section.read_duration("timeout_ms", speech.timeout, between(100, max_milliseconds));
    read_speech_resilience(section, speech.resilience);
    section.reject_unknown_keys();
    if (speech.kind != "openai") return;
    check_http_base_url(section, speech.base_url);
    resolve_secret(speech.api_key_env, speech.api_key_file, speech.api_key, section.path(), env);
}

// Like a provider key: the token comes from a variable or a file, never from the config
// itself, and an error names the variable or file, never the value.
void read_metrics(JsonSection section, MetricsConfig& metrics, const Environment& env) {
    if (const json* listen = section.find("listen")) {
        if (!listen->is_string()) throw ConfigError(section.path_of("listen"), "expected HOST:PORT");
        metrics.listen = parse_listen(listen->get_ref<const std::string&>(), section.path_of("listen"));
    }
    if (const json* token_env = section.find("bearer_token_env")) {
        if (!token_env->is_string() || !is_env_var_name(token_env->get_ref<const std::string&>()))
            throw ConfigError(section.path_of("bearer_token_env"),
                              "expected the name of an environment variable (letters, digits, '_'), not a token");
        metrics.bearer_token_env = token_env->get<std::string>();
    }
    section.read_non_empty_string("bearer_token_file", metrics.bearer_token_file);
    if (section.find("token") != nullptr || section.find("bearer_token") != nullptr)
        throw ConfigError(section.path_of(section.find("token") ? "token" : "bearer_token"),
                          "unknown key; tokens never go in the config file: name an environment variable in "
                          "bearer_token_env or a file in bearer_token_file");
    section.reject_unknown_keys();
    if (!metrics.bearer_token_env.empty() && !metrics.bearer_token_file.empty())
        throw ConfigError(section.path_of("bearer_token_file"), "set either bearer_token_env or bearer_token_file, not both");
    // Unlike a provider key, an unset token is an error: starting with /metrics open
    // because a secret was mistyped would be the surprise.
    if (!metrics.bearer_token_env.empty()) {
        const char* value = env(metrics.bearer_token_env.c_str());
        metrics.bearer_token = value ? std::string(trimmed(value)) : std::string();
        if (metrics.bearer_token.empty())
            throw ConfigError(section.path_of("bearer_token_env"),
                              "$" + metrics.bearer_token_env + " is unset or empty");
    } else if (!metrics.bearer_token_file.empty()) {
        const std::string where = section.path_of("bearer_token_file");
        metrics.bearer_token = trimmed(read_small_file(metrics.bearer_token_file, max_key_file_bytes, where));
        if (metrics.bearer_token.empty())
            throw ConfigError(where, "file " + in_quotes(metrics.bearer_token_file) + " is empty");
    }
}

// The keys every kind that calls HTTP shares; a local kind (the demo) takes none of them.
constexpr std::array<std::string_view, 11> http_provider_keys{
    "base_url",        "api_key_env",  "api_key_file", "model",   "ca_file",
    "max_retries",     "timeouts",     "circuit_breaker", "retry_budget", "headers",
    "max_pending_requests"};

void read_http_provider_keys(JsonSection& section, ProviderConfig& provider, const Environment& env) {
    section.read_string("base_url", provider.base_url);
    read_key_env(section, provider.api_key_env);
    section.read_non_empty_string("api_key_file", provider.api_key_file);
    section.read_string("model", provider.model);
    section.read_non_empty_string("ca_file", provider.ca_file);
    section.read_integer("max_retries", provider.max_retries, between(0, 10));
    if (auto timeouts = section.section("timeouts")) read_timeouts(*timeouts, provider.timeouts);
    if (auto breaker = section.section("circuit_breaker")) read_circuit_breaker(*breaker, provider.circuit_breaker);
    if (auto budget = section.section("retry_budget")) read_retry_budget(*budget, provider.retry_budget);
    section.read_integer("max_pending_requests", provider.max_pending_requests, between(1, 1000000));
    if (auto headers = section.section("headers")) read_headers(*headers, provider.headers);
    if (provider.base_url.empty()) {
        throw ConfigError(section.path_of("base_url"), "missing; required for kind " + provider.kind);
    }
    check_http_base_url(section, provider.base_url);
    if (!provider.ca_file.empty()) require_readable_file(provider.ca_file, section.path_of("ca_file"));
    resolve_api_key(provider, section.path(), env);
}

// The shared keys, then the kind's own (read by the kind's file); a key of another kind,
// or an HTTP key on a local kind, is named as such rather than as a typo.
ProviderConfig read_provider(const std::string& name, const json& value, const Environment& env) {
    JsonSection section(value, join_path("providers", name));
    if (!is_provider_name(name)) {
        throw ConfigError(section.path(), "expected a provider name of letters, digits, '_' and '-'");
    }
    // The speech services' rows in the upstream metric families carry these names as their
    // provider label (metrics::speech_service_label): a provider named so would share them.
    if (name == "speech_to_text" || name == "text_to_speech") {
        throw ConfigError(section.path(), "is reserved: the " + name +
                                              " service reports under this name in the provider metrics; "
                                              "choose another provider name");
    }
    ProviderConfig provider;
    provider.name = name;

    const json* kind_value = section.find("kind");
    const std::string expected_kinds = "expected one of " + upstream::provider_kind_names();
    if (kind_value == nullptr) throw ConfigError(section.path_of("kind"), "missing; " + expected_kinds);
    const upstream::ProviderKind* kind =
        kind_value->is_string() ? upstream::find_provider_kind(kind_value->get_ref<const std::string&>()) : nullptr;
    if (kind == nullptr) throw ConfigError(section.path_of("kind"), expected_kinds);
    provider.kind = std::string(kind->name);

    for (const upstream::ProviderKind* other : upstream::provider_kinds()) {
        if (other == kind) continue;
        for (std::string_view key : other->own_keys)
            if (section.find(key) != nullptr)
                throw ConfigError(section.path_of(key), "only for kind \"" + std::string(other->name) + "\"");
    }
    if (kind->calls_http()) {
        read_http_provider_keys(section, provider, env);
    } else {
        for (std::string_view key : http_provider_keys)
            if (section.find(key) != nullptr)
                throw ConfigError(section.path_of(key), "not for kind \"" + provider.kind +
                                                            "\": it answers in-process, with no HTTP and no key");
    }
    kind->read_options(section, provider);
    section.reject_unknown_keys();
    return provider;
}

// Every key of "providers" is a provider name. nlohmann keeps object keys sorted, so the
// vector is in name order; fallback order lives in the route lists, not here.
void read_providers(const JsonSection& section, std::vector<ProviderConfig>& providers, const Environment& env) {
    if (section.object().empty()) throw ConfigError(section.path(), "expected at least one provider");
    providers.clear();
    for (const auto& [name, value] : section.object().items()) {
        providers.push_back(read_provider(name, value, env));
    }
}

void read_routes(const JsonSection& section, const std::vector<ProviderConfig>& providers,
                 std::map<std::string, std::vector<std::string>>& routes) {
    if (section.object().empty()) throw ConfigError(section.path(), "expected at least one route");
    routes.clear();
    for (const auto& [model, value] : section.object().items()) {
        const std::string where = section.path_of(model);
        if (model.empty()) throw ConfigError(section.path(), "expected non-empty model names (or \"*\")");
        if (!value.is_array() || value.empty()) {
            throw ConfigError(where, "expected a non-empty array of provider names");
        }
        std::vector<std::string> names;
        for (const json& entry : value) {
            if (!entry.is_string()) throw ConfigError(where, "expected a non-empty array of provider names");
            const auto& name = entry.get_ref<const std::string&>();
            const bool defined = std::any_of(providers.begin(), providers.end(),
                                             [&](const ProviderConfig& p) { return p.name == name; });
            if (!defined) throw ConfigError(where, "unknown provider " + in_quotes(name));
            if (std::find(names.begin(), names.end(), name) != names.end()) {
                throw ConfigError(where, "provider " + in_quotes(name) + " listed twice");
            }
            names.push_back(name);
        }
        routes.emplace(model, std::move(names));
    }
}

// No silent demo (issue 8): a route whose every provider lacks its key would otherwise be
// answered with the demo provider's canned text, so a mistyped secret in production serves
// real users demo replies. That stops start-up, naming the route and the variables, unless
// the route lists a demo provider itself (the shipped config does, last: a first run with
// no keys works and says DEMO MODE).
void require_a_usable_provider_per_route(const Config& config) {
    for (const auto& [model, names] : config.routes) {
        std::string missing;
        bool usable = false;
        for (const std::string& name : names) {
            const auto provider = std::find_if(config.providers.begin(), config.providers.end(),
                                               [&](const ProviderConfig& p) { return p.name == name; });
            if (provider == config.providers.end()) continue;
            if (provider->usable()) {
                usable = true;
                break;
            }
            if (!missing.empty()) missing += ", ";
            missing += "$" + provider->api_key_env + " (provider " + in_quotes(name) + ")";
        }
        if (!usable) {
            throw ConfigError(join_path("routes", model),
                              "no provider of this route can be used: " + missing +
                                  " is not set; set the variable, or list \"demo\" in the route to answer with "
                                  "canned demo replies");
        }
    }
}

// Without a "providers" key a first run still answers: the built-in demo provider
// serves every model (docs/design.md, "Providers").
void set_default_providers(Config& config) {
    config.providers = {upstream::builtin_demo_provider()};
    config.routes = {{"*", {config.providers.front().name}}};
}

// ---------------------------------------------------------------------------------------
// Environment and flags

// The value a setting takes from the environment or the flags, with its source's name.
struct Override {
    std::string value;
    std::string source;  // "--listen" or "VOXGATE_LISTEN"
};

// Flags beat the environment; an empty variable counts as unset (compose files and
// Kubernetes manifests often define variables as empty).
std::optional<Override> winning_override(const std::optional<std::string>& flag_value, std::string_view flag,
                                         const char* variable, const Environment& env) {
    if (flag_value) return Override{*flag_value, std::string(flag)};
    const char* value = env(variable);
    if (value != nullptr && *value != '\0') return Override{value, variable};
    return std::nullopt;
}

void apply_overrides(Config& config, const CliOptions& cli, const Environment& env) {
    if (auto listen = winning_override(cli.listen, "--listen", "VOXGATE_LISTEN", env)) {
        parse_listen(listen->value, config.server, listen->source);
    }
    if (auto threads = winning_override(cli.threads, "--threads", "VOXGATE_THREADS", env)) {
        config.server.threads = static_cast<unsigned>(integer_from_text(threads->value, between(0, 1024),
                                                                        threads->source));
    }
    if (auto level = winning_override(cli.log_level, "--log-level", "VOXGATE_LOG_LEVEL", env)) {
        config.log.level = checked_choice(level->value, log_levels, level->source);
    }
    if (auto format = winning_override(cli.log_format, "--log-format", "VOXGATE_LOG_FORMAT", env)) {
        config.log.format = checked_choice(format->value, log_formats, format->source);
    }
}

// Userinfo ("user:secret@") and the query may carry credentials; the log gets neither.
std::string url_for_log(std::string_view url) {
    url = url.substr(0, url.find_first_of("?#"));
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) return std::string(url);
    const auto authority_begin = scheme_end + 3;
    const auto authority_end = std::min(url.find('/', authority_begin), url.size());
    const auto at = url.rfind('@', authority_end - 1);
    if (at == std::string_view::npos || at < authority_begin) return std::string(url);
    return std::string(url.substr(0, authority_begin)) + std::string(url.substr(at + 1));
}

}  // namespace

ConfigError::ConfigError(std::string_view where, std::string_view problem)
    : std::runtime_error("config error: " + one_line(where) + ": " + one_line(problem)), where_(where) {}

Environment process_environment() {
    return [](const char* name) -> const char* { return std::getenv(name); };
}

Config config_from_json(std::string_view json_text, std::string_view origin, const Environment& env) {
    const json document = parse_document(json_text, origin);
    JsonSection root(document, "");
    Config config;
    if (auto section = root.section("server")) read_server(*section, config.server);
    if (auto section = root.section("tls")) read_tls(*section, config.tls);
    if (auto section = root.section("metrics")) read_metrics(*section, config.metrics, env);
    if (auto section = root.section("limits")) read_limits(*section, config.limits);
    if (auto section = root.section("websocket")) read_websocket(*section, config.websocket);
    if (auto section = root.section("shutdown")) read_shutdown(*section, config.shutdown);
    if (auto section = root.section("log")) read_log(*section, config.log);
    if (auto section = root.section("sessions")) read_sessions(*section, config.sessions);
    if (auto section = root.section("auth")) read_auth(*section, config.auth);
    if (auto section = root.section("speech_to_text")) read_speech_to_text(*section, config.speech_to_text, env);
    if (auto section = root.section("text_to_speech")) read_text_to_speech(*section, config.text_to_speech, env);
    if (auto section = root.section("compute")) read_compute(*section, config.compute);
    if (auto section = root.section("console")) read_console(*section, config.console);
    if (auto section = root.section("twilio")) read_twilio(*section, config.twilio, env);

    const json* providers = root.find("providers");
    const json* routes = root.find("routes");
    root.reject_unknown_keys();

    if (providers == nullptr) {
        set_default_providers(config);
    } else {
        read_providers(JsonSection(*providers, "providers"), config.providers, env);
        if (routes == nullptr && config.providers.size() == 1) {
            config.routes = {{"*", {config.providers.front().name}}};
        } else if (routes == nullptr) {
            throw ConfigError("routes", "missing; with several providers, map client models (or \"*\") "
                                        "to provider lists");
        }
    }
    if (routes != nullptr) read_routes(JsonSection(*routes, "routes"), config.providers, config.routes);
    require_a_usable_provider_per_route(config);
    return config;
}

Config load_config(const CliOptions& cli, const Environment& env) {
    Config config;
    if (auto file = winning_override(cli.config_file, "--config", "VOXGATE_CONFIG", env)) {
        const std::string text = read_small_file(file->value, max_config_file_bytes, file->source);
        config = config_from_json(text, file->value, env);
    } else {
        config = config_from_json("{}", "(built-in defaults)", env);
    }
    apply_overrides(config, cli, env);
    refuse_open_relay(config);
    return config;
}

namespace {

void read_key_limits(JsonSection section, auth::KeyLimits& limits) {
    section.read_integer("max_sessions", limits.max_sessions, at_least(0));
    section.read_integer("responses_per_minute", limits.responses_per_minute, at_least(0));
    section.read_integer("tokens_per_minute", limits.tokens_per_minute, at_least(0));
    section.reject_unknown_keys();
}

auth::ClientKey read_client_key(JsonSection section) {
    auth::ClientKey key;
    if (section.find("name") == nullptr) throw ConfigError(section.path_of("name"), "missing");
    section.read_non_empty_string("name", key.name);
    if (!is_provider_name(key.name))
        throw ConfigError(section.path_of("name"), "expected a name of letters, digits, '_' and '-'");
    const json* hash = section.find("sha256");
    // Never echo the value: it may be the key itself, pasted instead of its hash.
    if (hash == nullptr) throw ConfigError(section.path_of("sha256"), "missing; the output of voxgate hash-key");
    auto digest = hash->is_string() ? auth::digest_from_hex(hash->get_ref<const std::string&>()) : std::nullopt;
    if (!digest)
        throw ConfigError(section.path_of("sha256"),
                          "expected 64 hex digits, the SHA-256 of the key (voxgate hash-key prints it)");
    key.sha256 = *digest;
    key.models = {"*"};
    read_string_list(section, "models", key.models);
    if (key.models.empty()) throw ConfigError(section.path_of("models"), "expected at least one model (or \"*\")");
    if (auto limits = section.section("limits")) read_key_limits(*limits, key.limits);
    section.reject_unknown_keys();
    return key;
}

}  // namespace

std::vector<auth::ClientKey> keys_from_json(std::string_view json_text, std::string_view origin) {
    const json document = parse_document(json_text, origin);
    JsonSection root(document, "");
    const json* list = root.find("keys");
    root.reject_unknown_keys();
    if (list == nullptr || !list->is_array()) throw ConfigError("keys", "expected an array of keys");
    std::vector<auth::ClientKey> keys;
    for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string path = "keys[" + std::to_string(i) + "]";
        auth::ClientKey key = read_client_key(JsonSection((*list)[i], path));
        for (std::size_t j = 0; j < keys.size(); ++j) {
            const std::string other = "keys[" + std::to_string(j) + "]";
            if (keys[j].name == key.name)
                throw ConfigError(path + ".name", "duplicate name " + in_quotes(key.name) + " (also " + other + ")");
            if (auth::same_digest(keys[j].sha256, key.sha256))
                throw ConfigError(path + ".sha256", "the same key as " + other);
        }
        keys.push_back(std::move(key));
    }
    return keys;
}

std::vector<auth::ClientKey> load_keys_file(const std::string& path) {
    const std::string text = read_small_file(path, max_config_file_bytes, "auth.keys_file");
    try {
        return keys_from_json(text, path);
    } catch (const ConfigError& error) {
        // "config error: keys[1].sha256: ..." becomes "config error: auth.keys_file: FILE: keys[1].sha256: ..."
        std::string_view detail = error.what();
        detail.remove_prefix(std::string_view("config error: ").size());
        if (error.where() == path) throw ConfigError("auth.keys_file", detail);  // a syntax error names the file
        throw ConfigError("auth.keys_file", path + ": " + std::string(detail));
    }
}

std::vector<std::string> unusable_providers(const Config& config) {
    std::vector<std::string> names;
    for (const auto& provider : config.providers) {
        if (!provider.usable()) names.push_back(provider.name);
    }
    return names;
}

std::string describe_providers(const Config& config) {
    std::string text;
    for (const auto& provider : config.providers) {
        if (!text.empty()) text += "; ";
        text += provider.name + " (" + provider.kind;
        if (upstream::answers_locally(provider)) {
            text += ", built-in canned replies)";
            continue;
        }
        text += ", model " + (provider.model.empty() ? std::string("from client") : provider.model);
        text += ", " + url_for_log(provider.base_url);
        if (!provider.api_key_env.empty()) {
            text += ", key from $" + provider.api_key_env;
            if (!provider.usable()) text += " (unset: unusable)";
        } else if (!provider.api_key_file.empty()) {
            text += ", key from file " + provider.api_key_file;
        } else {
            text += ", no key";
        }
        text += ")";
    }
    return text;
}

}  // namespace voxgate::config
