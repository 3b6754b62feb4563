// The configuration loader: defaults, the shipped file, every class of error, the
// precedence of flags over environment over file, key resolution and the CLI.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <string>
#include <unistd.h>
#include <variant>
#include <vector>

#include "config/cli.hpp"
#include "config/config_loader.hpp"

namespace voxgate::config {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A process environment that tests own: load_config reads only what is set here.
class FakeEnvironment {
public:
    FakeEnvironment() = default;
    FakeEnvironment(std::initializer_list<std::pair<const std::string, std::string>> values) : values_(values) {}

    void set(const std::string& name, const std::string& value) { values_[name] = value; }
    void unset(const std::string& name) { values_.erase(name); }

    // Valid while this object lives and is not modified.
    Environment lookup() const {
        return [this](const char* name) -> const char* {
            const auto it = values_.find(name);
            return it == values_.end() ? nullptr : it->second.c_str();
        };
    }

private:
    std::map<std::string, std::string> values_;
};

// Files a test writes, removed afterwards.
class ScratchDir {
public:
    ScratchDir() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("voxgate-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(path_);
    }
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    std::string write(const std::string& name, const std::string& content) const {
        const auto file = path_ / name;
        std::ofstream(file, std::ios::binary) << content;
        return file.string();
    }
    std::string path_of(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

const FakeEnvironment no_environment;

Config from_json(const std::string& text, const FakeEnvironment& env = no_environment) {
    return config_from_json(text, "test.json", env.lookup());
}

// The message of the ConfigError that loading `text` throws ("" if none is thrown).
std::string error_of(const std::string& text, const FakeEnvironment& env = no_environment) {
    try {
        from_json(text, env);
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "";
}

std::string load_error(const CliOptions& cli, const FakeEnvironment& env) {
    try {
        load_config(cli, env.lookup());
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "";
}

CliOptions parse(std::initializer_list<std::string_view> args) {
    const std::vector<std::string_view> list(args);
    return parse_command_line(std::span<const std::string_view>(list));
}

std::string parse_error(std::initializer_list<std::string_view> args) {
    try {
        parse(args);
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "";
}

const ProviderConfig* find_provider(const Config& config, const std::string& name) {
    for (const auto& provider : config.providers) {
        if (provider.name == name) return &provider;
    }
    return nullptr;
}

// ---------------------------------------------------------------------------------------
// Defaults and the shipped file

TEST(ConfigDefaults, NoFileGivesBuiltInDefaultsWithTheDemoProvider) {
    const Config config = load_config(CliOptions{}, no_environment.lookup());

    EXPECT_EQ(config.server.listen_host, "0.0.0.0");
    EXPECT_EQ(config.server.listen_port, 8080);
    EXPECT_EQ(config.server.threads, 0u);
    EXPECT_EQ(config.log.level, "info");
    EXPECT_EQ(config.log.format, "text");
    ASSERT_EQ(config.providers.size(), 1u);
    EXPECT_EQ(config.providers[0].name, "demo");
    EXPECT_EQ(config.providers[0].kind, "demo");
    EXPECT_EQ(config.routes.at("*"), std::vector<std::string>{"demo"});
    EXPECT_TRUE(unusable_providers(config).empty());
}

TEST(ConfigShippedFile, LoadsWithoutAnyEnvironmentVariable) {
    CliOptions cli;
    cli.config_file = std::string(VOXGATE_SOURCE_DIR) + "/config/voxgate.json";

    const Config config = load_config(cli, no_environment.lookup());

    EXPECT_EQ(config.server.listen_host, "0.0.0.0");
    EXPECT_EQ(config.server.listen_port, 8080);
    ASSERT_EQ(config.providers.size(), 3u);
    const ProviderConfig* openai = find_provider(config, "openai");
    ASSERT_NE(openai, nullptr);
    EXPECT_EQ(openai->kind, "openai");
    EXPECT_EQ(openai->base_url, "https://api.openai.com/v1");
    EXPECT_EQ(openai->api_key_env, "OPENAI_API_KEY");
    EXPECT_EQ(openai->model, "gpt-4o-mini");
    const ProviderConfig* anthropic = find_provider(config, "anthropic");
    ASSERT_NE(anthropic, nullptr);
    EXPECT_EQ(anthropic->kind, "anthropic");
    EXPECT_EQ(anthropic->model, "claude-sonnet-4-20250514");
    ASSERT_NE(find_provider(config, "demo"), nullptr);
    EXPECT_EQ(config.routes.at("*"), (std::vector<std::string>{"openai", "anthropic", "demo"}));
    // No keys in the environment: both real providers are unusable, the load still succeeds.
    EXPECT_EQ(unusable_providers(config), (std::vector<std::string>{"anthropic", "openai"}));
}

TEST(ConfigShippedFile, ResolvesKeysFromTheEnvironment) {
    CliOptions cli;
    cli.config_file = std::string(VOXGATE_SOURCE_DIR) + "/config/voxgate.json";
    cli.listen = "127.0.0.1:8080";  // with a real key and no auth, 0.0.0.0 is refused (ConfigAuth tests)
    const FakeEnvironment env{{"OPENAI_API_KEY", "sk-test-openai"}};

    const Config config = load_config(cli, env.lookup());

    EXPECT_EQ(find_provider(config, "openai")->api_key, "sk-test-openai");
    EXPECT_TRUE(find_provider(config, "openai")->usable());
    EXPECT_EQ(unusable_providers(config), std::vector<std::string>{"anthropic"});
}

TEST(ConfigFile, AcceptsLineAndBlockComments) {
    const Config config = from_json(R"(
        // a line comment
        {
          /* a block comment */
          "limits": { "max_message_bytes": 2048 }  // trailing comment
        })");
    EXPECT_EQ(config.limits.max_message_bytes, 2048u);
}

TEST(ConfigFile, ReadsEverySection) {
    ScratchDir dir;
    const std::string ca = dir.write("ca.pem", "not checked here");
    const std::string cert = dir.write("cert.pem", "cert");
    const std::string key = dir.write("key.pem", "key");
    const Config config = from_json(R"({
        "server": {"listen": "127.0.0.1:9000", "threads": 4},
        "tls": {"cert_file": ")" + cert + R"(", "key_file": ")" + key + R"("},
        "limits": {"max_message_bytes": 4096, "send_queue_bytes": 8192, "max_http_header_bytes": 2048,
                   "max_http_body_bytes": 0, "idle_timeout_seconds": 30, "ping_interval_seconds": 10,
                   "max_events_per_second": 2.5, "max_connections": 7, "max_conversation_bytes": 100000,
                   "max_response_bytes": 4096, "max_connections_per_ip": 0,
                   "max_handshakes_per_second_per_ip": 5, "handshake_timeout_seconds": 3,
                   "slow_client_timeout_seconds": 4, "message_timeout_seconds": 6, "max_pings_per_second": 0,
                   "max_requests_per_connection": 9},
        "websocket": {"permessage_deflate": true},
        "shutdown": {"drain_seconds": 0},
        "log": {"level": "debug", "format": "json"},
        "sessions": {"resume_ttl_seconds": 0, "max_history_chars": 1000, "barge_in": false,
                     "default_model": "m", "instructions": "be brief", "max_output_tokens": 100,
                     "max_stored": 12},
        "providers": {
          "local": {"kind": "openai", "base_url": "http://127.0.0.1:8000/v1/", "model": "llama",
                    "ca_file": ")" + ca + R"(", "max_retries": 0,
                    "timeouts": {"connect_ms": 1, "first_token_ms": 2, "idle_ms": 3, "total_ms": 4},
                    "headers": {"X-Team": "voice", "OpenAI-Organization": "org-1"}},
          "claude": {"kind": "anthropic", "base_url": "https://api.anthropic.com",
                     "anthropic_version": "2024-01-01", "default_max_tokens": 512},
          "canned": {"kind": "demo", "demo_tokens_per_second": 100, "demo_first_token_delay_ms": 0}
        },
        "routes": {"llama": ["local"], "*": ["claude", "local"]}
    })");

    EXPECT_EQ(config.server.listen_host, "127.0.0.1");
    EXPECT_EQ(config.server.listen_port, 9000);
    EXPECT_EQ(config.server.threads, 4u);
    EXPECT_TRUE(config.tls.enabled());
    EXPECT_EQ(config.limits.send_queue_bytes, 8192u);
    EXPECT_EQ(config.limits.max_http_body_bytes, 0u);
    EXPECT_EQ(config.limits.idle_timeout, std::chrono::seconds(30));
    EXPECT_EQ(config.limits.ping_interval, std::chrono::seconds(10));
    EXPECT_DOUBLE_EQ(config.limits.max_events_per_second, 2.5);
    EXPECT_EQ(config.limits.max_connections, 7u);
    EXPECT_EQ(config.limits.max_conversation_bytes, 100000u);
    EXPECT_EQ(config.limits.max_response_bytes, 4096u);
    EXPECT_EQ(config.limits.max_connections_per_ip, 0u);
    EXPECT_EQ(config.limits.max_handshakes_per_second_per_ip, 5u);
    EXPECT_EQ(config.limits.handshake_timeout, std::chrono::seconds(3));
    EXPECT_EQ(config.limits.slow_client_timeout, std::chrono::seconds(4));
    EXPECT_EQ(config.limits.message_timeout, std::chrono::seconds(6));
    EXPECT_EQ(config.limits.max_pings_per_second, 0u);
    EXPECT_EQ(config.limits.max_requests_per_connection, 9u);
    EXPECT_TRUE(config.websocket.permessage_deflate);
    EXPECT_EQ(config.shutdown.drain_seconds, std::chrono::seconds(0));
    EXPECT_EQ(config.log.level, "debug");
    EXPECT_EQ(config.log.format, "json");
    EXPECT_EQ(config.sessions.resume_ttl, std::chrono::seconds(0));
    EXPECT_FALSE(config.sessions.barge_in);
    EXPECT_EQ(config.sessions.default_model, "m");
    EXPECT_EQ(config.sessions.instructions, "be brief");
    EXPECT_EQ(config.sessions.max_output_tokens, 100);
    EXPECT_EQ(config.sessions.max_stored, 12u);

    const ProviderConfig* local = find_provider(config, "local");
    ASSERT_NE(local, nullptr);
    EXPECT_EQ(local->base_url, "http://127.0.0.1:8000/v1");  // trailing slash removed
    EXPECT_EQ(local->ca_file, ca);
    EXPECT_EQ(local->max_retries, 0);
    EXPECT_EQ(local->timeouts.connect, std::chrono::milliseconds(1));
    EXPECT_EQ(local->timeouts.total, std::chrono::milliseconds(4));
    EXPECT_EQ(local->headers.size(), 2u);
    EXPECT_TRUE(local->usable());  // no key configured: a local server that needs none
    const ProviderConfig* claude = find_provider(config, "claude");
    ASSERT_TRUE(std::holds_alternative<AnthropicOptions>(claude->options));
    EXPECT_EQ(std::get<AnthropicOptions>(claude->options).version, "2024-01-01");
    EXPECT_EQ(std::get<AnthropicOptions>(claude->options).default_max_tokens, 512);
    const ProviderConfig* canned = find_provider(config, "canned");
    ASSERT_TRUE(std::holds_alternative<DemoOptions>(canned->options));
    EXPECT_DOUBLE_EQ(std::get<DemoOptions>(canned->options).tokens_per_second, 100);
    EXPECT_EQ(std::get<DemoOptions>(canned->options).first_token_delay, std::chrono::milliseconds(0));
    EXPECT_EQ(config.routes.at("*"), (std::vector<std::string>{"claude", "local"}));
    EXPECT_EQ(config.routes.at("llama"), std::vector<std::string>{"local"});
}

TEST(ConfigFile, SingleProviderWithoutRoutesServesEveryModel) {
    const Config config = from_json(R"({"providers": {"only": {"kind": "demo"}}})");
    EXPECT_EQ(config.routes.at("*"), std::vector<std::string>{"only"});
}

TEST(ConfigFile, AcceptsIpv6Listen) {
    const Config config = from_json(R"({"server": {"listen": "[::1]:8443"}})");
    EXPECT_EQ(config.server.listen_host, "::1");
    EXPECT_EQ(config.server.listen_port, 8443);
}

// ---------------------------------------------------------------------------------------
// Errors name the key, on one line

TEST(ConfigErrors, OutOfRangeUsesTheDocumentedMessage) {
    EXPECT_EQ(error_of(R"({"limits": {"max_message_bytes": 10}})"),
              "config error: limits.max_message_bytes: expected an integer >= 1024");
}

// Found by the config_loader fuzzer: nlohmann throws out_of_range (not parse_error) for a
// number no double can hold, and it escaped the loader as an uncaught exception.
TEST(ConfigErrors, NumberTooLargeForADoubleIsAConfigError) {
    EXPECT_EQ(error_of(R"({"limits": {"max_message_bytes": 1e400}})"),
              "config error: test.json: number overflow parsing '1e400'");
}

TEST(ConfigErrors, UnknownKeyAtTopLevel) {
    EXPECT_EQ(error_of(R"({"limit": {}})"), "config error: limit: unknown key (did you mean limits?)");
    EXPECT_EQ(error_of(R"({"frobnicate": 1})"), "config error: frobnicate: unknown key");
}

TEST(ConfigErrors, UnknownKeyNested) {
    EXPECT_EQ(error_of(R"({"limits": {"max_mesage_bytes": 2048}})"),
              "config error: limits.max_mesage_bytes: unknown key (did you mean max_message_bytes?)");
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "openai", "base_url": "https://x", "timeouts": {"connect": 5}}}})"),
              "config error: providers.p.timeouts.connect: unknown key (did you mean connect_ms?)");
}

TEST(ConfigMetrics, ListenAndTokenFromTheEnvironment) {
    const FakeEnvironment env{{"SCRAPE_TOKEN", "  tok-123  "}};
    Config config = from_json(R"({"metrics": {"listen": "127.0.0.1:9090", "bearer_token_env": "SCRAPE_TOKEN"}})", env);
    ASSERT_TRUE(config.metrics.listen.has_value());
    EXPECT_EQ(config.metrics.listen->host, "127.0.0.1");
    EXPECT_EQ(config.metrics.listen->port, 9090);
    EXPECT_EQ(config.metrics.bearer_token, "tok-123");
    Config defaults = from_json("{}");
    EXPECT_FALSE(defaults.metrics.listen.has_value());
    EXPECT_EQ(defaults.metrics.bearer_token, "");
    EXPECT_EQ(from_json(R"({"metrics": {"listen": "[::1]:9091"}})").metrics.listen->host, "::1");
}

TEST(ConfigMetrics, ErrorsNameTheKeyAndNeverTheToken) {
    EXPECT_EQ(error_of(R"({"metrics": {"listen": "9090"}})"), "config error: metrics.listen: expected HOST:PORT");
    EXPECT_EQ(error_of(R"({"metrics": {"bearer_token_env": "SCRAPE_TOKEN"}})"),
              "config error: metrics.bearer_token_env: $SCRAPE_TOKEN is unset or empty");
    EXPECT_EQ(error_of(R"({"metrics": {"bearer_token_env": "sk-live-abc def"}})"),
              "config error: metrics.bearer_token_env: expected the name of an environment variable (letters, "
              "digits, '_'), not a token");
    const auto pasted = error_of(R"({"metrics": {"bearer_token": "hunter2-token"}})");
    EXPECT_TRUE(pasted.starts_with("config error: metrics.bearer_token: unknown key; tokens never go in the config"))
        << pasted;
    EXPECT_EQ(pasted.find("hunter2"), std::string::npos);
    EXPECT_EQ(error_of(R"({"metrics": {"lisen": "127.0.0.1:1"}})"),
              "config error: metrics.lisen: unknown key (did you mean listen?)");
}

TEST(ConfigMetrics, TokenFromAFile) {
    ScratchDir dir;
    const auto file = dir.write("token", "file-token\n");
    EXPECT_EQ(from_json(R"({"metrics": {"bearer_token_file": ")" + file + R"("}})").metrics.bearer_token, "file-token");
    const auto empty = dir.write("empty", "\n");
    EXPECT_EQ(error_of(R"({"metrics": {"bearer_token_file": ")" + empty + R"("}})"),
              "config error: metrics.bearer_token_file: file \"" + empty + "\" is empty");
}

TEST(ConfigLimits, FailedResumesPerIp) {
    EXPECT_EQ(from_json("{}").limits.max_failed_resumes_per_minute_per_ip, 20u);
    EXPECT_EQ(from_json(R"({"limits": {"max_failed_resumes_per_minute_per_ip": 0}})")
                  .limits.max_failed_resumes_per_minute_per_ip,
              0u);
    EXPECT_NE(error_of(R"({"limits": {"max_failed_resumes_per_minute_per_ip": -1}})").find(
                  "limits.max_failed_resumes_per_minute_per_ip"),
              std::string::npos);
}

// Found by the config_loader fuzzer: an empty key used to give an error that named no key.
TEST(ConfigErrors, EmptyKeyIsNamedInTheError) {
    EXPECT_EQ(error_of(R"({"": {"thReads": 1, "th": 1}})"), "config error: \"\": unknown key");
    EXPECT_EQ(error_of(R"({"limits": {"": 1}})"), "config error: limits.\"\": unknown key");
}

TEST(ConfigErrors, KeyInTheFileIsRefusedWithAHint) {
    const std::string error = error_of(R"({"providers": {"p": {"kind": "demo", "api_key": "sk-secret"}}})");
    EXPECT_TRUE(error.starts_with("config error: providers.p.api_key: unknown key; keys never go in the config file"))
        << error;
    EXPECT_FALSE(contains(error, "sk-secret")) << error;
}

TEST(ConfigErrors, WrongType) {
    EXPECT_EQ(error_of(R"({"limits": {"max_message_bytes": "big"}})"),
              "config error: limits.max_message_bytes: expected an integer >= 1024");
    EXPECT_EQ(error_of(R"({"limits": {"max_message_bytes": 4096.5}})"),
              "config error: limits.max_message_bytes: expected an integer >= 1024");
    EXPECT_EQ(error_of(R"({"websocket": {"permessage_deflate": "yes"}})"),
              "config error: websocket.permessage_deflate: expected true or false");
    EXPECT_EQ(error_of(R"({"sessions": {"instructions": 5}})"),
              "config error: sessions.instructions: expected a string");
    EXPECT_EQ(error_of(R"({"limits": 5})"), "config error: limits: expected an object");
    EXPECT_EQ(error_of(R"([1, 2])"), "config error: test.json: expected a JSON object at the top level");
}

TEST(ConfigErrors, OutOfRange) {
    EXPECT_EQ(error_of(R"({"server": {"threads": 2000}})"),
              "config error: server.threads: expected an integer >= 0 and <= 1024");
    EXPECT_EQ(error_of(R"({"server": {"threads": -1}})"),
              "config error: server.threads: expected an integer >= 0 and <= 1024");
    EXPECT_EQ(error_of(R"({"limits": {"max_events_per_second": 0}})"),
              "config error: limits.max_events_per_second: expected a number > 0");
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "openai", "base_url": "https://x", "max_retries": 11}}})"),
              "config error: providers.p.max_retries: expected an integer >= 0 and <= 10");
    EXPECT_EQ(error_of(R"({"sessions": {"max_output_tokens": 3000000000}})"),
              "config error: sessions.max_output_tokens: expected an integer >= 1 and <= 2147483647");
    EXPECT_EQ(error_of(R"({"limits": {"max_response_bytes": 2000000}})"),
              "config error: limits.max_response_bytes: expected a value <= limits.send_queue_bytes (1048576)");
    EXPECT_EQ(error_of(R"({"limits": {"max_conversation_bytes": 100000, "max_response_bytes": 60000}})"),
              "config error: limits.max_response_bytes: expected a value <= half of limits.max_conversation_bytes (50000)");
    EXPECT_EQ(error_of(R"({"sessions": {"max_stored": 0}})"),
              "config error: sessions.max_stored: expected an integer >= 1");
    EXPECT_EQ(error_of(R"({"limits": {"max_connections": 18446744073709551615}})"),
              "config error: limits.max_connections: expected an integer >= 1 and <= 9223372036854775807");
    EXPECT_EQ(error_of(R"({"limits": {"handshake_timeout_seconds": 0}})"),
              "config error: limits.handshake_timeout_seconds: expected an integer >= 1 and <= 86400");
    EXPECT_EQ(error_of(R"({"limits": {"max_handshakes_per_second_per_ip": -1}})"),
              "config error: limits.max_handshakes_per_second_per_ip: expected an integer >= 0 and <= 1000000");
}

TEST(ConfigErrors, PingMustComeBeforeTheIdleTimeout) {
    EXPECT_EQ(error_of(R"({"limits": {"ping_interval_seconds": 60}})"),
              "config error: limits.ping_interval_seconds: expected a value < limits.idle_timeout_seconds (60)");
    EXPECT_EQ(error_of(R"({"limits": {"idle_timeout_seconds": 20}})"),
              "config error: limits.idle_timeout_seconds: expected a value > limits.ping_interval_seconds (20)");
}

TEST(ConfigErrors, BadEnumValue) {
    EXPECT_EQ(error_of(R"({"log": {"level": "verbose"}})"),
              "config error: log.level: expected one of trace, debug, info, warn, error, critical, off");
    EXPECT_EQ(error_of(R"({"log": {"format": "xml"}})"), "config error: log.format: expected one of text, json");
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "gemini"}}})"),
              "config error: providers.p.kind: expected one of openai, anthropic, demo");
}

TEST(ConfigErrors, ProviderShape) {
    EXPECT_EQ(error_of(R"({"providers": {"p": {"model": "x"}}})"),
              "config error: providers.p.kind: missing; expected one of openai, anthropic, demo");
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "openai"}}})"),
              "config error: providers.p.base_url: missing; required for kind openai");
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "openai", "base_url": "api.openai.com"}}})"),
              "config error: providers.p.base_url: expected a URL starting with http:// or https://");
    EXPECT_EQ(error_of(R"({"providers": {"my provider": {"kind": "demo"}}})"),
              "config error: providers.my provider: expected a provider name of letters, digits, '_' and '-'");
    EXPECT_EQ(error_of(R"({"providers": {}})"), "config error: providers: expected at least one provider");
    // The speech services' provider label in the metrics (metrics::speech_service_label).
    EXPECT_EQ(error_of(R"({"providers": {"text_to_speech": {"kind": "demo"}}})"),
              "config error: providers.text_to_speech: is reserved: the text_to_speech service reports under this "
              "name in the provider metrics; choose another provider name");
    EXPECT_NE(error_of(R"({"providers": {"speech_to_text": {"kind": "demo"}}})").find("is reserved"), std::string::npos);
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "openai", "base_url": "https://x", "headers": {"Bad Name": "v"}}}})"),
              "config error: providers.p.headers.Bad Name: expected an HTTP header name (letters, digits, "
              "!#$%&'*+-.^_`|~)");
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "openai", "base_url": "https://x", "headers": {"X-A": "v\r\nX-B: w"}}}})"),
              "config error: providers.p.headers.X-A: expected a value without line breaks or NUL");
}

// Each kind reads its own keys (upstream/provider_kinds.hpp): another kind's key, or an
// HTTP key on the in-process demo, is named for what it is, not taken for a typo.
TEST(ConfigErrors, EachProviderKindTakesOnlyItsOwnKeys) {
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "openai", "base_url": "https://x", "anthropic_version": "v"}}})"),
              "config error: providers.p.anthropic_version: only for kind \"anthropic\"");
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "anthropic", "base_url": "https://x", "demo_tokens_per_second": 5}}})"),
              "config error: providers.p.demo_tokens_per_second: only for kind \"demo\"");
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "demo", "default_max_tokens": 5}}})"),
              "config error: providers.p.default_max_tokens: only for kind \"anthropic\"");
    for (const std::string key : {"base_url", "api_key_env", "model", "max_retries", "timeouts", "headers"}) {
        EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "demo", ")" + key + R"(": 1}}})"),
                  "config error: providers.p." + key +
                      ": not for kind \"demo\": it answers in-process, with no HTTP and no key")
            << key;
    }
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "demo", "demo_tokens_per_secnd": 5}}})"),
              "config error: providers.p.demo_tokens_per_secnd: unknown key (did you mean demo_tokens_per_second?)");
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": 7}}})"),
              "config error: providers.p.kind: expected one of openai, anthropic, demo");
    // Each kind's options land in its own alternative.
    const Config config = from_json(R"({"providers": {"o": {"kind": "openai", "base_url": "https://x"},
                                                       "d": {"kind": "demo"}},
                                        "routes": {"*": ["o", "d"]}})");
    const auto find = [&](const std::string& name) {
        return *std::find_if(config.providers.begin(), config.providers.end(),
                             [&](const ProviderConfig& p) { return p.name == name; });
    };
    EXPECT_TRUE(std::holds_alternative<OpenAiOptions>(find("o").options));
    ASSERT_TRUE(std::holds_alternative<DemoOptions>(find("d").options));
    EXPECT_DOUBLE_EQ(std::get<DemoOptions>(find("d").options).tokens_per_second, 20);
}

TEST(ConfigErrors, ApiKeyEnvHoldingAKeyIsRefusedWithoutEchoingIt) {
    const std::string error =
        error_of(R"({"providers": {"p": {"kind": "openai", "base_url": "https://x", "api_key_env": "sk-abc123"}}})");
    EXPECT_EQ(error, "config error: providers.p.api_key_env: expected the name of an environment variable "
                     "(letters, digits, '_'), not a key");
}

TEST(ConfigErrors, RouteNamingAnUnknownProvider) {
    EXPECT_EQ(error_of(R"({"providers": {"a": {"kind": "demo"}}, "routes": {"gpt-4o": ["a", "x"]}})"),
              "config error: routes.gpt-4o: unknown provider \"x\"");
    // Without "providers" only the default demo provider exists.
    EXPECT_EQ(error_of(R"({"routes": {"*": ["openai"]}})"), "config error: routes.*: unknown provider \"openai\"");
}

TEST(ConfigErrors, RouteShape) {
    EXPECT_EQ(error_of(R"({"routes": {"*": []}})"),
              "config error: routes.*: expected a non-empty array of provider names");
    EXPECT_EQ(error_of(R"({"routes": {"*": "demo"}})"),
              "config error: routes.*: expected a non-empty array of provider names");
    EXPECT_EQ(error_of(R"({"routes": {"*": ["demo", "demo"]}})"),
              "config error: routes.*: provider \"demo\" listed twice");
    EXPECT_EQ(error_of(R"({"providers": {"a": {"kind": "demo"}, "b": {"kind": "demo"}}})"),
              "config error: routes: missing; with several providers, map client models (or \"*\") to "
              "provider lists");
}

TEST(ConfigErrors, TlsNeedsBothFiles) {
    ScratchDir dir;
    const std::string cert = dir.write("cert.pem", "cert");
    EXPECT_EQ(error_of(R"({"tls": {"cert_file": ")" + cert + R"("}})"),
              "config error: tls.key_file: missing; tls.cert_file and tls.key_file go together");
}

TEST(ConfigErrors, TlsFilesMustBeReadable) {
    ScratchDir dir;
    const std::string cert = dir.write("cert.pem", "cert");
    const std::string missing = dir.path_of("missing.pem");
    EXPECT_EQ(error_of(R"({"tls": {"cert_file": ")" + cert + R"(", "key_file": ")" + missing + R"("}})"),
              "config error: tls.key_file: cannot read \"" + missing + "\": No such file or directory");
    EXPECT_EQ(error_of(R"({"tls": {"cert_file": ")" + dir.path_of("") + R"(", "key_file": ")" + cert + R"("}})"),
              "config error: tls.cert_file: cannot read \"" + dir.path_of("") + "\": is a directory");
}

TEST(ConfigErrors, MissingCaFile) {
    ScratchDir dir;
    const std::string missing = dir.path_of("ca.pem");
    EXPECT_EQ(error_of(R"({"providers": {"p": {"kind": "openai", "base_url": "https://x", "ca_file": ")" +
                       missing + R"("}}})"),
              "config error: providers.p.ca_file: cannot read \"" + missing + "\": No such file or directory");
}

TEST(ConfigErrors, BadListenInTheFile) {
    for (const char* listen : {"8080", ":8080", "localhost:8080", "::1:8080", "[::1]8080", "1.2.3.4:", "1.2.3.4:65536",
                               "1.2.3.4:80x", "[1.2.3.4]:80"}) {
        EXPECT_EQ(error_of(std::string(R"({"server": {"listen": ")") + listen + R"("}})"),
                  "config error: server.listen: expected HOST:PORT")
            << listen;
    }
}

TEST(ConfigErrors, SyntaxErrorNamesTheFileAndPosition) {
    ScratchDir dir;
    const std::string file = dir.write("broken.json", "{\n  \"limits\": {\n    \"max_message_bytes\": 10,,\n  }\n}\n");
    CliOptions cli;
    cli.config_file = file;
    const std::string error = load_error(cli, no_environment);
    EXPECT_TRUE(error.starts_with("config error: " + file + ": parse error at line 3, column")) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST(ConfigErrors, DuplicateKeyIsRefused) {
    EXPECT_EQ(error_of(R"({"limits": {"max_connections": 5, "max_connections": 6}})"),
              "config error: limits.max_connections: key appears twice in test.json");
}

TEST(ConfigErrors, NamedConfigFileMustExist) {
    ScratchDir dir;
    const std::string missing = dir.path_of("nope.json");
    CliOptions cli;
    cli.config_file = missing;
    EXPECT_EQ(load_error(cli, no_environment),
              "config error: --config: cannot read \"" + missing + "\": No such file or directory");
    EXPECT_EQ(load_error(CliOptions{}, FakeEnvironment{{"VOXGATE_CONFIG", missing}}),
              "config error: VOXGATE_CONFIG: cannot read \"" + missing + "\": No such file or directory");
}

// ---------------------------------------------------------------------------------------
// Precedence: flags > environment > file > defaults

TEST(ConfigPrecedence, FlagsOverrideEnvironmentOverrideFile) {
    ScratchDir dir;
    const std::string file = dir.write("voxgate.json", R"({
        "server": {"listen": "127.0.0.1:1000", "threads": 1},
        "log": {"level": "warn", "format": "text"}
    })");
    CliOptions cli;
    cli.config_file = file;
    FakeEnvironment env{{"VOXGATE_LISTEN", "127.0.0.1:2000"},
                        {"VOXGATE_THREADS", "2"},
                        {"VOXGATE_LOG_LEVEL", "error"},
                        {"VOXGATE_LOG_FORMAT", "json"}};

    const Config from_env = load_config(cli, env.lookup());
    EXPECT_EQ(from_env.server.listen_port, 2000);
    EXPECT_EQ(from_env.server.threads, 2u);
    EXPECT_EQ(from_env.log.level, "error");
    EXPECT_EQ(from_env.log.format, "json");

    cli.listen = "[::]:3000";
    cli.threads = "3";
    cli.log_level = "trace";
    cli.log_format = "text";
    const Config from_flags = load_config(cli, env.lookup());
    EXPECT_EQ(from_flags.server.listen_host, "::");
    EXPECT_EQ(from_flags.server.listen_port, 3000);
    EXPECT_EQ(from_flags.server.threads, 3u);
    EXPECT_EQ(from_flags.log.level, "trace");
    EXPECT_EQ(from_flags.log.format, "text");

    const Config from_file = load_config(parse({"--config", file}), no_environment.lookup());
    EXPECT_EQ(from_file.server.listen_port, 1000);
    EXPECT_EQ(from_file.server.threads, 1u);
    EXPECT_EQ(from_file.log.level, "warn");
}

TEST(ConfigPrecedence, EmptyVariableCountsAsUnset) {
    const Config config = load_config(CliOptions{}, FakeEnvironment{{"VOXGATE_THREADS", ""}}.lookup());
    EXPECT_EQ(config.server.threads, 0u);
}

TEST(ConfigPrecedence, ConfigFlagBeatsConfigVariable) {
    ScratchDir dir;
    const std::string from_flag = dir.write("a.json", R"({"server": {"threads": 5}})");
    const std::string from_env = dir.write("b.json", R"({"server": {"threads": 6}})");
    const FakeEnvironment env{{"VOXGATE_CONFIG", from_env}};

    EXPECT_EQ(load_config(CliOptions{}, env.lookup()).server.threads, 6u);
    EXPECT_EQ(load_config(parse({"--config", from_flag}), env.lookup()).server.threads, 5u);
}

TEST(ConfigPrecedence, BadEnvironmentAndFlagValuesNameTheirSource) {
    EXPECT_EQ(load_error(CliOptions{}, FakeEnvironment{{"VOXGATE_THREADS", "many"}}),
              "config error: VOXGATE_THREADS: expected an integer >= 0 and <= 1024");
    EXPECT_EQ(load_error(CliOptions{}, FakeEnvironment{{"VOXGATE_THREADS", "-3"}}),
              "config error: VOXGATE_THREADS: expected an integer >= 0 and <= 1024");
    EXPECT_EQ(load_error(CliOptions{}, FakeEnvironment{{"VOXGATE_LISTEN", "8080"}}),
              "config error: VOXGATE_LISTEN: expected HOST:PORT");
    EXPECT_EQ(load_error(CliOptions{}, FakeEnvironment{{"VOXGATE_LOG_FORMAT", "xml"}}),
              "config error: VOXGATE_LOG_FORMAT: expected one of text, json");
    EXPECT_EQ(load_error(parse({"--listen", "example.com:80"}), no_environment),
              "config error: --listen: expected HOST:PORT");
    EXPECT_EQ(load_error(parse({"--threads=4x"}), no_environment),
              "config error: --threads: expected an integer >= 0 and <= 1024");
    EXPECT_EQ(load_error(parse({"--log-level", "loud"}), no_environment),
              "config error: --log-level: expected one of trace, debug, info, warn, error, critical, off");
}

// ---------------------------------------------------------------------------------------
// Provider keys

TEST(ConfigKeys, ResolvedFromTheInjectedEnvironmentAndNeverDescribed) {
    const FakeEnvironment env{{"MY_KEY", "  sk-live-very-secret\n"}};
    const Config config = from_json(R"({"providers": {
        "p": {"kind": "openai", "base_url": "https://user:pw@llm.example/v1?token=t", "api_key_env": "MY_KEY",
              "model": "m1", "headers": {"X-Secret-Header": "header-secret"}}}})",
                                    env);

    EXPECT_EQ(config.providers[0].api_key, "sk-live-very-secret");
    EXPECT_TRUE(config.providers[0].usable());
    const std::string description = describe_providers(config);
    EXPECT_EQ(description, "p (openai, model m1, https://llm.example/v1, key from $MY_KEY)");
    EXPECT_FALSE(contains(description, "sk-live")) << description;
    EXPECT_FALSE(contains(description, "header-secret")) << description;
    EXPECT_FALSE(contains(description, "pw")) << description;
}

TEST(ConfigKeys, UnsetVariableMakesTheProviderUnusableNotTheConfigInvalid) {
    const Config config = from_json(R"({"providers": {
        "p": {"kind": "anthropic", "base_url": "https://api.anthropic.com", "api_key_env": "MISSING_KEY"},
        "d": {"kind": "demo"}}, "routes": {"*": ["p", "d"]}})");

    EXPECT_EQ(unusable_providers(config), std::vector<std::string>{"p"});
    EXPECT_EQ(describe_providers(config),
              "d (demo, built-in canned replies); p (anthropic, model from client, https://api.anthropic.com, "
              "key from $MISSING_KEY (unset: unusable))");
}

TEST(ConfigKeys, ARouteWhoseEveryProviderLacksItsKeyStopsStartUpNamingTheRouteAndTheVariables) {
    EXPECT_EQ(error_of(R"({"providers": {
        "p": {"kind": "anthropic", "base_url": "https://api.anthropic.com", "api_key_env": "MISSING_KEY"},
        "q": {"kind": "openai", "base_url": "https://api.openai.com/v1", "api_key_env": "OTHER_KEY"}},
        "routes": {"gpt-4o": ["p", "q"]}})"),
              "config error: routes.gpt-4o: no provider of this route can be used: $MISSING_KEY (provider \"p\"), "
              "$OTHER_KEY (provider \"q\") is not set; set the variable, or list \"demo\" in the route to answer "
              "with canned demo replies");
    // With the key set it loads.
    EXPECT_NO_THROW(from_json(R"({"providers": {
        "p": {"kind": "anthropic", "base_url": "https://api.anthropic.com", "api_key_env": "MISSING_KEY"}}})",
                              FakeEnvironment{{"MISSING_KEY", "sk-ant-value"}}));
}

TEST(ConfigKeys, ResilienceKeysAreReadAndValidated) {
    const Config config = from_json(R"({"providers": {"p": {"kind": "openai", "base_url": "https://x/v1",
        "circuit_breaker": {"enabled": false, "consecutive_failures": 3, "failure_rate": 0.25, "min_requests": 7,
                            "window_ms": 5000, "cooldown_ms": 2500},
        "retry_budget": {"fraction": 0.1, "min_retries": 1}, "max_pending_requests": 32}}})");
    const ProviderConfig& p = config.providers.at(0);
    EXPECT_FALSE(p.circuit_breaker.enabled);
    EXPECT_EQ(p.circuit_breaker.consecutive_failures, 3);
    EXPECT_EQ(p.circuit_breaker.failure_rate, 0.25);
    EXPECT_EQ(p.circuit_breaker.min_requests, 7);
    EXPECT_EQ(p.circuit_breaker.window, std::chrono::milliseconds(5000));
    EXPECT_EQ(p.circuit_breaker.cooldown, std::chrono::milliseconds(2500));
    EXPECT_EQ(p.retry_budget.fraction, 0.1);
    EXPECT_EQ(p.retry_budget.min_retries, 1u);
    EXPECT_EQ(p.max_pending_requests, 32u);
    // Defaults.
    const ProviderConfig defaults;
    EXPECT_EQ(defaults.circuit_breaker.consecutive_failures, 5);
    EXPECT_EQ(defaults.circuit_breaker.cooldown, std::chrono::seconds(10));
    EXPECT_EQ(defaults.retry_budget.fraction, 0.2);
    EXPECT_EQ(defaults.retry_budget.min_retries, 3u);
    EXPECT_EQ(defaults.max_pending_requests, 256u);

    const std::string provider = R"({"providers": {"p": {"kind": "openai", "base_url": "https://x/v1", )";
    EXPECT_EQ(error_of(provider + R"("retry_budget": {"fraction": 1.5}}}})"),
              "config error: providers.p.retry_budget.fraction: expected a number >= 0 and <= 1");
    EXPECT_EQ(error_of(provider + R"("max_pending_requests": 0}}})"),
              "config error: providers.p.max_pending_requests: expected an integer >= 1 and <= 1000000");
    EXPECT_EQ(error_of(provider + R"("circuit_breaker": {"cooldown": 5}}}})"),
              "config error: providers.p.circuit_breaker.cooldown: unknown key (did you mean cooldown_ms?)");
}

TEST(ConfigKeys, ReadFromAKeyFileAndTrimmed) {
    ScratchDir dir;
    const std::string key_file = dir.write("key", "sk-from-file-secret\n");
    const Config config = from_json(R"({"providers": {"p": {"kind": "openai", "base_url": "https://x",
        "api_key_file": ")" + key_file + R"("}}})");

    EXPECT_EQ(config.providers[0].api_key, "sk-from-file-secret");
    EXPECT_TRUE(config.providers[0].usable());
    EXPECT_FALSE(contains(describe_providers(config), "sk-from-file")) << describe_providers(config);
}

TEST(ConfigKeys, KeyFileErrorsNameTheKeyButNotItsContent) {
    ScratchDir dir;
    const std::string empty = dir.write("empty", "  \n");
    const std::string missing = dir.path_of("missing");
    const auto provider_with = [](const std::string& fields) {
        return R"({"providers": {"p": {"kind": "openai", "base_url": "https://x", )" + fields + "}}}";
    };
    EXPECT_EQ(error_of(provider_with(R"("api_key_file": ")" + empty + "\"")),
              "config error: providers.p.api_key_file: file \"" + empty + "\" is empty");
    EXPECT_EQ(error_of(provider_with(R"("api_key_file": ")" + missing + "\"")),
              "config error: providers.p.api_key_file: cannot read \"" + missing + "\": No such file or directory");
    EXPECT_EQ(error_of(provider_with(R"("api_key_file": ")" + empty + R"(", "api_key_env": "K")")),
              "config error: providers.p.api_key_file: set either api_key_env or api_key_file, not both");
}

// ---------------------------------------------------------------------------------------
// Command line

TEST(CommandLine, NoArgumentsRuns) {
    const CliOptions options = parse({});
    EXPECT_EQ(options.action, CliAction::run);
    EXPECT_FALSE(options.config_file);
    EXPECT_FALSE(options.listen);
}

TEST(CommandLine, HelpAndVersionAreActionsForMain) {
    EXPECT_EQ(parse({"--help"}).action, CliAction::help);
    EXPECT_EQ(parse({"-h"}).action, CliAction::help);
    EXPECT_EQ(parse({"--version"}).action, CliAction::version);
    EXPECT_EQ(parse({"--version", "--help"}).action, CliAction::help);
    EXPECT_EQ(version_text(), std::string("voxgate ") + VOXGATE_VERSION);
    const std::string usage = usage_text();
    for (const char* word : {"--config", "--listen", "--threads", "--log-level", "--log-format", "--version",
                             "--help", "VOXGATE_CONFIG", "VOXGATE_LISTEN", "VOXGATE_THREADS", "VOXGATE_LOG_LEVEL",
                             "VOXGATE_LOG_FORMAT"}) {
        EXPECT_TRUE(contains(usage, word)) << word;
    }
}

TEST(CommandLine, AcceptsSeparateAndInlineValues) {
    const CliOptions options = parse({"--config", "a.json", "--listen=[::1]:8080", "--threads=4", "--log-level",
                                      "debug", "--log-format=json"});
    EXPECT_EQ(options.action, CliAction::run);
    EXPECT_EQ(options.config_file, "a.json");
    EXPECT_EQ(options.listen, "[::1]:8080");
    EXPECT_EQ(options.threads, "4");
    EXPECT_EQ(options.log_level, "debug");
    EXPECT_EQ(options.log_format, "json");
}

TEST(CommandLine, InlineFormFeedsTheLoader) {
    const Config config = load_config(parse({"--listen=[::1]:9999", "--threads=8"}), no_environment.lookup());
    EXPECT_EQ(config.server.listen_host, "::1");
    EXPECT_EQ(config.server.listen_port, 9999);
    EXPECT_EQ(config.server.threads, 8u);
}

TEST(CommandLine, ArgvFormSkipsTheProgramName) {
    const char* argv[] = {"voxgate", "--threads", "2"};
    EXPECT_EQ(parse_command_line(3, argv).threads, "2");
}

TEST(CommandLine, Errors) {
    EXPECT_EQ(parse_error({"--port", "80"}), "config error: --port: unknown flag (see --help)");
    EXPECT_EQ(parse_error({"--api-key=sk-x"}), "config error: --api-key: unknown flag (see --help)");
    EXPECT_EQ(parse_error({"--listen"}), "config error: --listen: missing value");
    EXPECT_EQ(parse_error({"--listen", "--threads", "2"}), "config error: --listen: missing value");
    EXPECT_EQ(parse_error({"--threads="}), "config error: --threads: missing value");
    EXPECT_EQ(parse_error({"--help=yes"}), "config error: --help: takes no value");
    EXPECT_EQ(parse_error({"voxgate.json"}), "config error: voxgate.json: unexpected argument (see --help)");
}

TEST(ConfigVoice, SpeechToTextComputeAndTheAudioBufferLimit) {
    auto config = from_json(
        R"({"speech_to_text": {"kind": "pocketsphinx", "model_dir": "/models", "max_pending": 4},
            "compute": {"threads": 3}, "limits": {"max_input_audio_seconds": 30}})");
    EXPECT_EQ(config.speech_to_text.kind, "pocketsphinx");
    EXPECT_EQ(config.speech_to_text.model_dir, "/models");
    EXPECT_EQ(config.speech_to_text.max_pending, 4u);
    EXPECT_EQ(config.compute.threads, 3u);
    EXPECT_EQ(config.limits.max_input_audio_seconds, std::chrono::seconds(30));
    // Defaults: local recognition, one compute thread, a minute of buffered audio.
    auto defaults = from_json("{}");
    EXPECT_EQ(defaults.speech_to_text.kind, "pocketsphinx");
    EXPECT_EQ(defaults.compute.threads, 1u);
    EXPECT_EQ(defaults.limits.max_input_audio_seconds, std::chrono::seconds(60));
}

TEST(ConfigVoice, OpenAiSpeechToTextReadsItsOwnKeysAndTheKeyFromTheEnvironment) {
    FakeEnvironment env;
    env.set("STT_KEY", "sk-stt-from-env");
    auto config = from_json(R"({"speech_to_text": {"kind": "openai", "base_url": "http://127.0.0.1:8000/v1/",
        "api_key_env": "STT_KEY", "model": "whisper-large-v3", "language": "en", "timeout_ms": 5000}})", env);
    EXPECT_EQ(config.speech_to_text.base_url, "http://127.0.0.1:8000/v1");  // trailing slash dropped
    EXPECT_EQ(config.speech_to_text.api_key, "sk-stt-from-env");
    EXPECT_EQ(config.speech_to_text.model, "whisper-large-v3");
    EXPECT_EQ(config.speech_to_text.language, "en");
    EXPECT_EQ(config.speech_to_text.timeout, std::chrono::milliseconds(5000));
    // Another kind's keys are refused, not ignored.
    EXPECT_NE(error_of(R"({"speech_to_text": {"kind": "pocketsphinx", "base_url": "http://x"}})")
                  .find("speech_to_text.base_url: only for speech_to_text.kind \"openai\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"speech_to_text": {"kind": "openai", "model_dir": "/m"}})")
                  .find("speech_to_text.model_dir: only for speech_to_text.kind \"pocketsphinx\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"speech_to_text": {"kind": "openai", "base_url": "ftp://x"}})").find("speech_to_text.base_url"),
              std::string::npos);
    // A pasted key in api_key_env is refused without being echoed.
    const std::string pasted = error_of(R"({"speech_to_text": {"kind": "openai", "api_key_env": "sk-live-abc def"}})");
    EXPECT_NE(pasted.find("speech_to_text.api_key_env"), std::string::npos);
    EXPECT_EQ(pasted.find("sk-live"), std::string::npos);
}

TEST(ConfigVoice, ErrorsNameTheKey) {
    EXPECT_NE(error_of(R"({"speech_to_text": {"kind": "whisper"}})").find("speech_to_text.kind"), std::string::npos);
    EXPECT_NE(error_of(R"({"speech_to_text": {"max_pending": 0}})").find("speech_to_text.max_pending"), std::string::npos);
    EXPECT_NE(error_of(R"({"speech_to_text": {"language": "en"}})").find("speech_to_text.language"), std::string::npos);
    EXPECT_NE(error_of(R"({"compute": {"threads": 0}})").find("compute.threads"), std::string::npos);
    EXPECT_NE(error_of(R"({"limits": {"max_input_audio_seconds": 0}})").find("limits.max_input_audio_seconds"),
              std::string::npos);
}

// max_retries, circuit_breaker and retry_budget of speech_to_text / text_to_speech kind openai:
// the providers' keys, ranges and readers.
TEST(ConfigVoice, OpenAiSpeechServicesReadRetriesCircuitBreakerAndRetryBudget) {
    for (const std::string section : {"speech_to_text", "text_to_speech"}) {
        SCOPED_TRACE(section);
        auto config = from_json(R"({")" + section + R"(": {"kind": "openai", "max_retries": 4,
            "circuit_breaker": {"enabled": false, "consecutive_failures": 3, "failure_rate": 0.25,
                                "min_requests": 7, "window_ms": 5000, "cooldown_ms": 2500},
            "retry_budget": {"fraction": 0.1, "min_retries": 1}}})");
        const SpeechResilienceConfig& read =
            section == "speech_to_text" ? config.speech_to_text.resilience : config.text_to_speech.resilience;
        EXPECT_EQ(read.max_retries, 4);
        EXPECT_FALSE(read.circuit_breaker.enabled);
        EXPECT_EQ(read.circuit_breaker.consecutive_failures, 3);
        EXPECT_EQ(read.circuit_breaker.failure_rate, 0.25);
        EXPECT_EQ(read.circuit_breaker.min_requests, 7);
        EXPECT_EQ(read.circuit_breaker.window, std::chrono::milliseconds(5000));
        EXPECT_EQ(read.circuit_breaker.cooldown, std::chrono::milliseconds(2500));
        EXPECT_EQ(read.retry_budget.fraction, 0.1);
        EXPECT_EQ(read.retry_budget.min_retries, 1u);

        // Defaults: the providers' (2 retries; 5 faults in a row, 10 s cool-down; 20 %, min 3).
        auto defaults = from_json(R"({")" + section + R"(": {"kind": "openai"}})");
        const SpeechResilienceConfig& plain =
            section == "speech_to_text" ? defaults.speech_to_text.resilience : defaults.text_to_speech.resilience;
        EXPECT_EQ(plain.max_retries, 2);
        EXPECT_TRUE(plain.circuit_breaker.enabled);
        EXPECT_EQ(plain.circuit_breaker.consecutive_failures, 5);
        EXPECT_EQ(plain.circuit_breaker.cooldown, std::chrono::seconds(10));
        EXPECT_EQ(plain.retry_budget.fraction, 0.2);
        EXPECT_EQ(plain.retry_budget.min_retries, 3u);
        auto none = from_json(R"({")" + section + R"(": {"kind": "openai", "max_retries": 0}})");
        EXPECT_EQ((section == "speech_to_text" ? none.speech_to_text.resilience : none.text_to_speech.resilience)
                      .max_retries,
                  0);

        // Bad values name the key.
        const std::string openai = R"({")" + section + R"(": {"kind": "openai", )";
        EXPECT_EQ(error_of(openai + R"("max_retries": 11}})"),
                  "config error: " + section + ".max_retries: expected an integer >= 0 and <= 10");
        EXPECT_EQ(error_of(openai + R"("max_retries": -1}})"),
                  "config error: " + section + ".max_retries: expected an integer >= 0 and <= 10");
        EXPECT_EQ(error_of(openai + R"("circuit_breaker": {"consecutive_failures": 0}}})"),
                  "config error: " + section +
                      ".circuit_breaker.consecutive_failures: expected an integer >= 1 and <= 1000");
        EXPECT_EQ(error_of(openai + R"("circuit_breaker": {"cooldown": 5}}})"),
                  "config error: " + section + ".circuit_breaker.cooldown: unknown key (did you mean cooldown_ms?)");
        EXPECT_EQ(error_of(openai + R"("retry_budget": {"fraction": 1.5}}})"),
                  "config error: " + section + ".retry_budget.fraction: expected a number >= 0 and <= 1");
        EXPECT_NE(error_of(openai + R"("circuit_breaker": true}})").find(section + ".circuit_breaker"),
                  std::string::npos);
    }
    // Another kind's use of them is an error, like every kind-specific key.
    for (const std::string key : {"max_retries", "circuit_breaker", "retry_budget"}) {
        const std::string value = key == "max_retries" ? "1" : "{}";
        for (const std::string kind : {"pocketsphinx", "none"})
            EXPECT_EQ(error_of(R"({"speech_to_text": {"kind": ")" + kind + R"(", ")" + key + R"(": )" + value + "}}"),
                      "config error: speech_to_text." + key + ": only for speech_to_text.kind \"openai\"");
        for (const std::string kind : {"espeak", "none"})
            EXPECT_EQ(error_of(R"({"text_to_speech": {"kind": ")" + kind + R"(", ")" + key + R"(": )" + value + "}}"),
                      "config error: text_to_speech." + key + ": only for text_to_speech.kind \"openai\"");
    }
}

TEST(ConfigVoice, TextToSpeechDefaultsToLocalEspeakWithItsVoice) {
    auto defaults = from_json("{}");
    EXPECT_EQ(defaults.text_to_speech.kind, "espeak");
    EXPECT_EQ(defaults.text_to_speech.voice, "en-us");
    EXPECT_EQ(defaults.text_to_speech.rate_wpm, 175);
    EXPECT_EQ(defaults.text_to_speech.data_dir, "");
    EXPECT_EQ(defaults.text_to_speech.max_pending, 32u);
    EXPECT_EQ(defaults.text_to_speech.max_piece_chars, 200u);
    auto config = from_json(R"({"text_to_speech": {"kind": "espeak", "voice": "en-gb", "rate_wpm": 200,
        "data_dir": "/opt/espeak-ng-data", "max_pending": 3, "max_piece_chars": 80}})");
    EXPECT_EQ(config.text_to_speech.max_piece_chars, 80u);
    EXPECT_NE(error_of(R"({"text_to_speech": {"max_piece_chars": 5}})").find("text_to_speech.max_piece_chars"),
              std::string::npos);
    EXPECT_EQ(config.text_to_speech.voice, "en-gb");
    EXPECT_EQ(config.text_to_speech.rate_wpm, 200);
    EXPECT_EQ(config.text_to_speech.data_dir, "/opt/espeak-ng-data");
    EXPECT_EQ(config.text_to_speech.max_pending, 3u);
    EXPECT_EQ(from_json(R"({"text_to_speech": {"kind": "none"}})").text_to_speech.kind, "none");
}

TEST(ConfigVoice, OpenAiTextToSpeechReadsItsOwnKeysAndTheKeyFromTheEnvironment) {
    FakeEnvironment env;
    env.set("TTS_KEY", "sk-tts-from-env");
    auto config = from_json(R"({"text_to_speech": {"kind": "openai", "base_url": "http://127.0.0.1:8000/v1/",
        "api_key_env": "TTS_KEY", "model": "tts-1", "timeout_ms": 5000, "max_pending": 7}})", env);
    EXPECT_EQ(config.text_to_speech.base_url, "http://127.0.0.1:8000/v1");  // trailing slash dropped
    EXPECT_EQ(config.text_to_speech.api_key, "sk-tts-from-env");
    EXPECT_EQ(config.text_to_speech.model, "tts-1");
    EXPECT_EQ(config.text_to_speech.voice, "alloy");  // the openai kind's default voice
    EXPECT_EQ(config.text_to_speech.timeout, std::chrono::milliseconds(5000));
    EXPECT_EQ(config.text_to_speech.max_pending, 7u);
    auto defaults = from_json(R"({"text_to_speech": {"kind": "openai", "voice": "coral"}})");
    EXPECT_EQ(defaults.text_to_speech.model, "gpt-4o-mini-tts");
    EXPECT_EQ(defaults.text_to_speech.voice, "coral");
    EXPECT_EQ(defaults.text_to_speech.base_url, "https://api.openai.com/v1");
    EXPECT_EQ(defaults.text_to_speech.api_key, "");
    // Another kind's keys are refused, not ignored.
    EXPECT_NE(error_of(R"({"text_to_speech": {"kind": "espeak", "model": "tts-1"}})")
                  .find("text_to_speech.model: only for text_to_speech.kind \"openai\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"text_to_speech": {"api_key_env": "TTS_KEY"}})")
                  .find("text_to_speech.api_key_env: only for text_to_speech.kind \"openai\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"text_to_speech": {"kind": "openai", "rate_wpm": 150}})")
                  .find("text_to_speech.rate_wpm: only for text_to_speech.kind \"espeak\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"text_to_speech": {"kind": "none", "data_dir": "/d"}})")
                  .find("text_to_speech.data_dir: only for text_to_speech.kind \"espeak\""),
              std::string::npos);
    EXPECT_NE(error_of(R"({"text_to_speech": {"kind": "openai", "base_url": "ftp://x"}})").find("text_to_speech.base_url"),
              std::string::npos);
    // A pasted key in api_key_env is refused without being echoed.
    const std::string pasted = error_of(R"({"text_to_speech": {"kind": "openai", "api_key_env": "sk-live-abc def"}})");
    EXPECT_NE(pasted.find("text_to_speech.api_key_env"), std::string::npos);
    EXPECT_EQ(pasted.find("sk-live"), std::string::npos);
    EXPECT_NE(error_of(R"({"text_to_speech": {"kind": "openai", "api_key_env": "A", "api_key_file": "/k"}})")
                  .find("text_to_speech.api_key_file"),
              std::string::npos);
}

TEST(ConfigVoice, TextToSpeechErrorsNameTheKey) {
    EXPECT_NE(error_of(R"({"text_to_speech": {"kind": "piper"}})").find("text_to_speech.kind"), std::string::npos);
    EXPECT_NE(error_of(R"({"text_to_speech": {"max_pending": 0}})").find("text_to_speech.max_pending"), std::string::npos);
    EXPECT_NE(error_of(R"({"text_to_speech": {"voice": ""}})").find("text_to_speech.voice"), std::string::npos);
    EXPECT_NE(error_of(R"({"text_to_speech": {"rate_wpm": 20}})").find("text_to_speech.rate_wpm"), std::string::npos);
    EXPECT_NE(error_of(R"({"text_to_speech": {"kind": "openai", "timeout_ms": 5}})").find("text_to_speech.timeout_ms"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"text_to_speech": {"speed": 1}})").find("text_to_speech.speed"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Client secrets and the browser console

TEST(ConfigClientSecrets, DefaultsAndValuesAreRead) {
    const Config defaults = from_json("{}");
    EXPECT_EQ(defaults.auth.client_secret_ttl, std::chrono::seconds(600));
    EXPECT_EQ(defaults.auth.max_client_secrets, 10000u);
    EXPECT_TRUE(defaults.console.enabled);
    const Config set = from_json(
        R"({"auth":{"client_secret_ttl_seconds":60,"max_client_secrets":5},"console":{"enabled":false}})");
    EXPECT_EQ(set.auth.client_secret_ttl, std::chrono::seconds(60));
    EXPECT_EQ(set.auth.max_client_secrets, 5u);
    EXPECT_FALSE(set.console.enabled);
}

TEST(ConfigClientSecrets, BadValuesNameTheirKey) {
    EXPECT_NE(error_of(R"({"auth":{"client_secret_ttl_seconds":0}})").find("auth.client_secret_ttl_seconds"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"auth":{"client_secret_ttl_seconds":7201}})").find("auth.client_secret_ttl_seconds"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"auth":{"max_client_secrets":0}})").find("auth.max_client_secrets"), std::string::npos);
    EXPECT_NE(error_of(R"({"console":{"enabled":"yes"}})").find("console.enabled"), std::string::npos);
    EXPECT_NE(error_of(R"({"console":{"enable":true}})").find("console.enable"), std::string::npos);
}

TEST(ConfigTwilio, OffByDefaultAndSignedWithATokenFromTheEnvironment) {
    EXPECT_FALSE(from_json("{}").twilio.enabled);
    EXPECT_FALSE(from_json("{}").twilio.verifies_signatures());
    const FakeEnvironment env{{"TWILIO_AUTH_TOKEN", "twilio-secret-token\n"}};
    const auto twilio = from_json(R"({"twilio": {"enabled": true, "public_url": "wss://voice.example.com/",
                                                "auth_token_env": "TWILIO_AUTH_TOKEN"}})",
                                  env)
                            .twilio;
    EXPECT_TRUE(twilio.enabled);
    EXPECT_EQ(twilio.public_url, "wss://voice.example.com");  // trailing slash dropped: /v1/twilio is appended
    EXPECT_EQ(twilio.auth_token, "twilio-secret-token");
    EXPECT_TRUE(twilio.verifies_signatures());
}

TEST(ConfigTwilio, TokenFromAFile) {
    ScratchDir dir;
    const auto file = dir.write("twilio", "file-token\n");
    EXPECT_EQ(from_json(R"({"twilio": {"public_url": "wss://h", "auth_token_file": ")" + file + R"("}})")
                  .twilio.auth_token,
              "file-token");
}

TEST(ConfigTwilio, BadValuesNameTheirKeyAndNeverTheToken) {
    EXPECT_EQ(error_of(R"({"twilio": {"public_url": "wss://h", "auth_token_env": "TWILIO_AUTH_TOKEN"}})"),
              "config error: twilio.auth_token_env: $TWILIO_AUTH_TOKEN is unset or empty");
    const FakeEnvironment env{{"TWILIO_AUTH_TOKEN", "tok"}};
    EXPECT_EQ(error_of(R"({"twilio": {"auth_token_env": "TWILIO_AUTH_TOKEN"}})", env),
              "config error: twilio.public_url: missing; required with an auth token: the signature covers the URL "
              "Twilio connects to");
    EXPECT_EQ(error_of(R"({"twilio": {"public_url": "https://h"}})"),
              "config error: twilio.public_url: expected a wss:// URL (ws:// for local tests)");
    EXPECT_EQ(error_of(R"({"twilio": {"public_url": "wss://h/x?a=1"}})"),
              "config error: twilio.public_url: expected no query or fragment: /v1/twilio is appended");
    EXPECT_EQ(error_of(R"({"twilio": {"public_url": "wss://h", "auth_token_env": "A", "auth_token_file": "/f"}})"),
              "config error: twilio.auth_token_file: set either auth_token_env or auth_token_file, not both");
    const auto pasted = error_of(R"({"twilio": {"auth_token": "hunter2-token"}})");
    EXPECT_TRUE(pasted.starts_with("config error: twilio.auth_token: unknown key; the token never goes in the config"))
        << pasted;
    EXPECT_EQ(pasted.find("hunter2"), std::string::npos);
    EXPECT_EQ(error_of(R"({"twilio": {"enable": true}})"),
              "config error: twilio.enable: unknown key (did you mean enabled?)");
}

}  // namespace
}  // namespace voxgate::config
