// UpstreamEngine against the MockUpstream over real loopback sockets and real curl: routes,
// both provider formats, retries, fallback, timeouts, failures after content, cancel,
// backpressure, TLS and the demo provider. The io_context is run by the test thread.
#include "upstream/upstream_engine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "metrics/shard_metrics.hpp"
#include "support/log_capture.hpp"
#include "support/mock_upstream.hpp"
#include "support/test_tls.hpp"
#include "upstream/providers/demo_script.hpp"

namespace voxgate::upstream {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::default_token;
using test::MockScript;
using test::MockUpstream;

// Runs the io_context until `done` holds; false if the (generous) deadline passed first.
bool run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit = 30s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        io.restart();
        io.run_for(5ms);
        if (io.stopped()) std::this_thread::sleep_for(1ms);  // out of work: wait for the mock
    }
    return true;
}

// Runs the io_context for a while, to give a wrong callback the chance to happen.
void run_for(asio::io_context& io, std::chrono::milliseconds duration) {
    const auto deadline = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(5ms);
        if (io.stopped()) std::this_thread::sleep_for(1ms);
    }
}

std::vector<std::string> default_tokens(int count, int first = 0) {
    std::vector<std::string> tokens;
    for (int i = first; i < first + count; ++i) tokens.push_back(default_token(i));
    return tokens;
}

std::uint64_t count_of(const metrics::StatusCodeCounters& counters, int status) {
    std::uint64_t found = 0;
    counters.for_each_nonzero([&](int code, std::uint64_t value) {
        if (code == status) found = value;
    });
    return found;
}

// Records every callback; anything after on_done counts as a late callback.
class RecordingObserver : public ResponseObserver {
public:
    void on_text_delta(std::string_view text) override {
        note_callback();
        deltas.emplace_back(text);
        if (on_delta) on_delta(deltas.size());
    }
    void on_tool_call_delta(int index, std::string_view call_id, std::string_view name,
                            std::string_view arguments_fragment) override {
        note_callback();
        tool_index = index;
        if (!call_id.empty()) tool_call_id = call_id;
        if (!name.empty()) tool_name = name;
        tool_arguments += arguments_fragment;
    }
    void on_usage(const Usage& value) override {
        note_callback();
        usage = value;
    }
    void on_finish(FinishReason reason) override {
        note_callback();
        finish = reason;
    }
    void on_upstream_first_byte(std::string_view provider) override {
        note_callback();
        first_byte_providers.emplace_back(provider);
    }
    void on_done(const ResponseResult& value) override {
        note_callback();
        result = value;
        if (on_result) on_result();
    }

    bool done() const { return result.has_value(); }
    std::string text() const {
        std::string joined;
        for (const auto& delta : deltas) joined += delta;
        return joined;
    }

    std::vector<std::string> deltas;
    std::optional<ResponseResult> result;
    std::optional<Usage> usage;
    FinishReason finish = FinishReason::none;
    std::vector<std::string> first_byte_providers;
    int tool_index = -1;
    std::string tool_call_id;
    std::string tool_name;
    std::string tool_arguments;
    int callbacks = 0;
    int late_callbacks = 0;  // after on_done
    std::function<void(std::size_t delta_count)> on_delta;
    std::function<void()> on_result;

private:
    void note_callback() {
        ++callbacks;
        if (result) ++late_callbacks;
    }
};

ProviderTimeouts generous_timeouts() {
    ProviderTimeouts timeouts;
    timeouts.connect = 10s;
    timeouts.first_token = 20s;
    timeouts.idle = 20s;
    timeouts.total = 60s;
    return timeouts;
}

ProviderConfig openai_provider(const MockUpstream& mock, std::string name, const MockScript& script = {}) {
    ProviderConfig provider;
    provider.name = std::move(name);
    provider.kind = "openai";
    provider.base_url = mock.base_url() + "/v1";
    provider.api_key = "sk-test-secret-0123456789";
    provider.model = "mock-gpt";
    provider.max_retries = 2;
    provider.timeouts = generous_timeouts();
    provider.headers = {{"x-mock-script", script.header_value()}};
    return provider;
}

ProviderConfig anthropic_provider(const MockUpstream& mock, std::string name, const MockScript& script = {}) {
    ProviderConfig provider = openai_provider(mock, std::move(name), script);
    provider.kind = "anthropic";
    provider.base_url = mock.base_url();
    provider.api_key = "sk-ant-test-secret-0123456789";
    provider.model = "mock-claude";
    return provider;
}

ProviderConfig demo_provider(double tokens_per_second = 500, std::chrono::milliseconds first_delay = 5ms) {
    ProviderConfig provider;
    provider.name = "demo";
    provider.kind = "demo";
    provider.options = DemoOptions{tokens_per_second, first_delay};
    return provider;
}

// Every provider in one "*" route, in the order given.
Config config_with(std::vector<ProviderConfig> providers) {
    Config config;
    std::vector<std::string> names;
    for (const auto& provider : providers) names.push_back(provider.name);
    config.providers = std::move(providers);
    config.routes = {{"*", names}};
    return config;
}

ChatRequest chat(const std::string& user_text = "Hello") {
    ChatRequest request;
    request.instructions = "Be brief.";
    request.messages.push_back({Role::user, user_text, {}, {}});
    return request;
}

// Retries fast enough for tests; the policy's shape is unchanged.
UpstreamEngineOptions fast_retries() {
    UpstreamEngineOptions options;
    options.retry.base_delay = 20ms;
    options.retry.max_delay = 200ms;
    return options;
}

class UpstreamEngineTest : public ::testing::Test {
protected:
    void make_engine(const Config& config, UpstreamEngineOptions options = fast_retries()) {
        engine.reset();
        metrics = std::make_unique<metrics::ShardMetrics>(config.providers.size());
        engine = std::make_unique<UpstreamEngine>(io, config, metrics.get(), options);
    }

    // Starts a response and runs until it is done.
    std::unique_ptr<ResponseHandle> run_response(RecordingObserver& observer, const std::string& client_model = "gpt-test",
                                                 ChatRequest request = chat()) {
        auto handle = engine->start(client_model, std::move(request), observer);
        EXPECT_TRUE(run_until(io, [&] { return observer.done(); })) << "the response never finished";
        return handle;
    }

    metrics::ProviderMetrics& provider_metrics(std::size_t index) { return metrics->providers.at(index); }

    test::LogCapture logs;  // what the engine logged during the test
    asio::io_context io;
    std::unique_ptr<metrics::ShardMetrics> metrics;
    std::unique_ptr<UpstreamEngine> engine;  // declared after io: destroyed before it
};

// ---------------------------------------------------------------------------------------
// Streaming in both formats

TEST_F(UpstreamEngineTest, OpenAiTokensArriveInOrderAndTheRequestCarriesModelAndMessages) {
    MockUpstream mock;
    make_engine(config_with({openai_provider(mock, "openai", {.tokens = 30, .gap_ms = 1})}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.result->finish_reason, FinishReason::stop);
    EXPECT_EQ(observer.result->provider, "openai");
    EXPECT_EQ(observer.deltas, default_tokens(30));
    EXPECT_EQ(observer.finish, FinishReason::stop);
    ASSERT_TRUE(observer.usage);
    EXPECT_EQ(observer.usage->output_tokens, 30);
    EXPECT_EQ(observer.first_byte_providers, std::vector<std::string>{"openai"});
    EXPECT_EQ(observer.late_callbacks, 0);

    const auto requests = mock.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].target, "/v1/chat/completions");
    EXPECT_EQ(requests[0].header("authorization"), "Bearer sk-test-secret-0123456789");
    const json body = json::parse(requests[0].body);
    EXPECT_EQ(body["model"], "mock-gpt");
    EXPECT_EQ(body["stream"], true);
    ASSERT_EQ(body["messages"].size(), 2u);
    EXPECT_EQ(body["messages"][0]["role"], "system");
    EXPECT_EQ(body["messages"][0]["content"], "Be brief.");
    EXPECT_EQ(body["messages"][1]["role"], "user");
    EXPECT_EQ(body["messages"][1]["content"], "Hello");

    EXPECT_EQ(count_of(provider_metrics(0).requests, 200), 1u);
    EXPECT_EQ(provider_metrics(0).first_byte_seconds.snapshot().count, 1u);
    EXPECT_EQ(metrics->upstream_retries.value(), 0u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 0u);
}

TEST_F(UpstreamEngineTest, AnthropicTokensArriveInOrderAndTheRequestCarriesModelAndMessages) {
    MockUpstream mock;
    make_engine(config_with({anthropic_provider(mock, "anthropic", {.tokens = 25, .gap_ms = 1, .split = 7})}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.result->provider, "anthropic");
    EXPECT_EQ(observer.deltas, default_tokens(25));
    EXPECT_EQ(observer.finish, FinishReason::stop);

    const auto requests = mock.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].target, "/v1/messages");
    EXPECT_EQ(requests[0].header("x-api-key"), "sk-ant-test-secret-0123456789");
    EXPECT_FALSE(requests[0].header("anthropic-version").empty());
    const json body = json::parse(requests[0].body);
    EXPECT_EQ(body["model"], "mock-claude");
    EXPECT_EQ(body["system"], "Be brief.");
    ASSERT_EQ(body["messages"].size(), 1u);
    EXPECT_EQ(body["messages"][0]["role"], "user");
    EXPECT_EQ(count_of(provider_metrics(0).requests, 200), 1u);
}

TEST_F(UpstreamEngineTest, ToolCallsStreamThroughToTheObserver) {
    MockUpstream mock;
    make_engine(config_with({openai_provider(mock, "openai", {.tokens = 2, .tool = "get_weather", .args = R"({"city":"Oslo"})"})}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.result->finish_reason, FinishReason::tool_calls);
    EXPECT_EQ(observer.deltas, default_tokens(2));
    EXPECT_EQ(observer.tool_index, 0);
    EXPECT_EQ(observer.tool_name, "get_weather");
    EXPECT_EQ(observer.tool_arguments, R"({"city":"Oslo"})");
}

TEST_F(UpstreamEngineTest, ModelComesFromTheRequestThenTheProviderThenTheClient) {
    MockUpstream mock;
    ProviderConfig without_model = openai_provider(mock, "openai");
    without_model.model.clear();
    make_engine(config_with({without_model}));

    RecordingObserver passed_through;
    run_response(passed_through, "client-model-x");
    ChatRequest explicit_model = chat();
    explicit_model.model = "explicit-model";
    RecordingObserver explicit_observer;
    run_response(explicit_observer, "client-model-x", explicit_model);

    const auto requests = mock.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(json::parse(requests[0].body)["model"], "client-model-x");
    EXPECT_EQ(json::parse(requests[1].body)["model"], "explicit-model");
}

TEST_F(UpstreamEngineTest, ResponsesInARowReuseOneConnection) {
    MockUpstream mock;
    make_engine(config_with({openai_provider(mock, "openai", {.tokens = 20})}));
    for (int round = 0; round < 5; ++round) {
        RecordingObserver observer;
        auto handle = run_response(observer);
        ASSERT_TRUE(observer.result);
        EXPECT_EQ(observer.result->outcome, Outcome::completed);
        handle.reset();  // dropping the handle of a completed response does not cut its connection
        ASSERT_TRUE(run_until(io, [&] { return engine->draining_transfers() == 0; }));
    }
    EXPECT_EQ(mock.accepted_connections(), 1u);
    EXPECT_EQ(mock.request_count(), 5u);
    EXPECT_EQ(engine->active_responses(), 0u);
}

// ---------------------------------------------------------------------------------------
// Retries and fallback

TEST_F(UpstreamEngineTest, RateLimitWithRetryAfterIsRetriedOnce) {
    MockUpstream mock;
    make_engine(config_with(
        {openai_provider(mock, "openai", {.id = "rl", .retry_after = "0.05", .fail_first = 1, .fail_status = 429})}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.deltas, default_tokens(5));
    EXPECT_EQ(mock.request_count(), 2u);
    EXPECT_EQ(metrics->upstream_retries.value(), 1u);
    EXPECT_EQ(count_of(provider_metrics(0).requests, 429), 1u);
    EXPECT_EQ(count_of(provider_metrics(0).requests, 200), 1u);
    EXPECT_EQ(provider_metrics(0).first_byte_seconds.snapshot().count, 1u);  // only the attempt with a body
}

TEST_F(UpstreamEngineTest, ServiceUnavailableTwiceThenSuccess) {
    MockUpstream mock;
    make_engine(config_with({openai_provider(mock, "openai", {.id = "503x2", .fail_first = 2, .fail_status = 503})}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.deltas, default_tokens(5));
    EXPECT_EQ(mock.request_count(), 3u);
    EXPECT_EQ(metrics->upstream_retries.value(), 2u);
    EXPECT_EQ(count_of(provider_metrics(0).requests, 503), 2u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 0u);
}

TEST_F(UpstreamEngineTest, AnthropicOverloaded529IsRetried) {
    MockUpstream mock;
    make_engine(config_with({anthropic_provider(mock, "anthropic", {.id = "529", .fail_first = 1, .fail_status = 529})}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.deltas, default_tokens(5));
    EXPECT_EQ(metrics->upstream_retries.value(), 1u);
    EXPECT_EQ(count_of(provider_metrics(0).requests, 529), 1u);
}

TEST_F(UpstreamEngineTest, ExhaustedRetriesFallBackToTheNextProvider) {
    MockUpstream mock;
    ProviderConfig first = openai_provider(mock, "first", {.id = "down", .fail_first = 100, .fail_status = 503});
    first.max_retries = 1;
    make_engine(config_with({first, anthropic_provider(mock, "second", {.texts = {"from", " second"}})}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.result->provider, "second");
    EXPECT_EQ(observer.text(), "from second");
    EXPECT_EQ(metrics->upstream_retries.value(), 1u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 1u);
    EXPECT_EQ(count_of(provider_metrics(0).requests, 503), 2u);
    EXPECT_EQ(count_of(provider_metrics(1).requests, 200), 1u);
    EXPECT_EQ(observer.first_byte_providers, std::vector<std::string>{"second"});
}

TEST_F(UpstreamEngineTest, WhenEveryProviderFailsTheResponseFailsWithTheProvidersMessage) {
    MockUpstream mock;
    ProviderConfig first = openai_provider(mock, "first", {.status = 503});
    ProviderConfig second = openai_provider(mock, "second", {.status = 500});
    first.max_retries = 1;
    second.max_retries = 0;
    make_engine(config_with({first, second}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_EQ(observer.result->provider, "second");
    EXPECT_EQ(observer.result->error_type, "server_error");
    // The client's text is generic; the provider's words are for the log.
    EXPECT_EQ(observer.result->error_code, "upstream_error");
    EXPECT_EQ(observer.result->error_message, "the model provider failed; try again");
    EXPECT_NE(observer.result->error_detail.find("The server had an error (mock)"), std::string::npos)
        << observer.result->error_detail;
    EXPECT_TRUE(observer.deltas.empty());
    EXPECT_EQ(mock.request_count(), 3u);
    EXPECT_EQ(metrics->upstream_retries.value(), 1u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 1u);
    EXPECT_EQ(observer.late_callbacks, 0);
}

TEST_F(UpstreamEngineTest, BadRequestFailsAtOnceWithoutRetryOrFallback) {
    MockUpstream mock;
    make_engine(config_with({openai_provider(mock, "first", {.status = 400}), openai_provider(mock, "second")}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_EQ(observer.result->provider, "first");
    EXPECT_EQ(observer.result->error_type, "invalid_request_error");
    EXPECT_EQ(observer.result->error_code, "upstream_request_rejected");
    EXPECT_EQ(observer.result->error_message, "the model provider rejected the request");
    EXPECT_NE(observer.result->error_detail.find("Invalid request (mock)"), std::string::npos);
    EXPECT_EQ(mock.request_count(), 1u);
    EXPECT_EQ(metrics->upstream_retries.value(), 0u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 0u);
    EXPECT_EQ(count_of(provider_metrics(0).requests, 400), 1u);
}

// Every form in which a provider's error text may quote what it received.
std::vector<std::string> secret_forms(const std::string& key, const std::string& header_value) {
    return {key,
            key.substr(0, 8) + std::string(24, '*') + key.substr(key.size() - 4),  // OpenAI's masked 401 form
            json(key).dump(),
            header_value,
            json(header_value).dump().substr(1, json(header_value).dump().size() - 2)};  // JSON-escaped, unquoted
}

TEST_F(UpstreamEngineTest, UnauthorizedFallsBackWithoutRetryAndNeverEchoesTheKey) {
    MockUpstream mock;
    const std::string header_value = R"(org/"acme"-proj-0123456789)";
    const MockScript script{.status = 401, .echo_secrets = true};
    ProviderConfig first = openai_provider(mock, "first", script);
    first.headers.emplace_back("x-org-secret", header_value);
    ProviderConfig second = openai_provider(mock, "second", script);
    second.headers.emplace_back("x-org-secret", header_value);
    make_engine(config_with({first, second}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_EQ(observer.result->provider, "second");
    EXPECT_EQ(mock.request_count(), 2u);
    EXPECT_EQ(metrics->upstream_retries.value(), 0u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 1u);
    // The mock really did quote them: the provider's words reached the detail, redacted.
    EXPECT_EQ(mock.requests().at(0).header("x-org-secret"), header_value);
    EXPECT_NE(observer.result->error_detail.find("Incorrect API key provided: [redacted]"), std::string::npos)
        << observer.result->error_detail;
    EXPECT_EQ(observer.result->error_code, "upstream_error");
    EXPECT_EQ(observer.result->error_message, "the model provider failed; try again");
    const std::string logged = logs.text();
    EXPECT_NE(logged.find("[redacted]"), std::string::npos) << logged;
    for (const std::string& form : secret_forms("sk-test-secret-0123456789", header_value)) {
        EXPECT_EQ(observer.result->error_message.find(form), std::string::npos) << form;
        EXPECT_EQ(observer.result->error_detail.find(form), std::string::npos) << form << " in " << observer.result->error_detail;
        EXPECT_EQ(logged.find(form), std::string::npos) << form << " in the log:\n" << logged;
    }
    EXPECT_EQ(logged.find("sk-test-"), std::string::npos) << logged;  // not even the key's prefix
}

TEST_F(UpstreamEngineTest, RefusedConnectionIsRetriedThenFailsAsAConnectError) {
    std::uint16_t closed_port = 0;
    {
        tcp_acceptor probe(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0});
        closed_port = probe.local_endpoint().port();
    }
    MockUpstream unused;
    ProviderConfig provider = openai_provider(unused, "unreachable");
    provider.base_url = "http://127.0.0.1:" + std::to_string(closed_port) + "/v1";
    provider.max_retries = 2;
    make_engine(config_with({provider}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_EQ(observer.result->error_code, "upstream_connect_failed");
    EXPECT_NE(observer.result->error_detail.find("unreachable"), std::string::npos) << observer.result->error_detail;
    EXPECT_EQ(observer.result->error_message, "the model provider failed; try again");
    EXPECT_EQ(metrics->upstream_retries.value(), 2u);
    EXPECT_EQ(count_of(provider_metrics(0).requests, 0), 3u);
}

// A one-request HTTP server that answers 401 quoting the Authorization header it got, the
// way some servers and proxies echo what they received.
class KeyEchoingServer {
public:
    KeyEchoingServer() : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
        thread_ = std::thread([this] { serve_one(); });
    }
    ~KeyEchoingServer() { thread_.join(); }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/v1"; }

private:
    void serve_one() {
        error_code ec;
        tcp::socket socket(io_);
        acceptor_.accept(socket, ec);
        if (ec) return;
        std::string request;
        char buffer[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
            const std::size_t got = socket.read_some(asio::buffer(buffer), ec);
            if (ec) return;
            request.append(buffer, got);
        }
        std::string key;
        if (const auto at = request.find("Bearer "); at != std::string::npos) {
            key = request.substr(at + 7, request.find("\r\n", at) - at - 7);
        }
        const std::string body =
            json{{"error", {{"message", "Incorrect API key provided: " + key}, {"type", "invalid_request_error"}}}}.dump();
        const std::string reply = "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: " +
                                  std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
        asio::write(socket, asio::buffer(reply), ec);
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    std::thread thread_;
};

TEST_F(UpstreamEngineTest, AKeyQuotedInAProvidersErrorIsRedacted) {
    KeyEchoingServer server;
    MockUpstream unused;
    ProviderConfig provider = openai_provider(unused, "echoing");
    provider.base_url = server.base_url();
    make_engine(config_with({provider}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_NE(observer.result->error_detail.find("Incorrect API key provided: [redacted]"), std::string::npos)
        << observer.result->error_detail;
    EXPECT_EQ(observer.result->error_detail.find("sk-test-secret"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// Timeouts

TEST_F(UpstreamEngineTest, StallBeforeTheFirstTokenIsRetriedThenFallsBack) {
    MockUpstream mock;
    ProviderConfig stalling = openai_provider(mock, "stalling", {.stall_after = 0});
    stalling.max_retries = 1;
    stalling.timeouts.first_token = 300ms;
    make_engine(config_with({stalling, openai_provider(mock, "healthy", {.texts = {"ok"}})}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.result->provider, "healthy");
    EXPECT_EQ(observer.text(), "ok");
    EXPECT_EQ(mock.request_count(), 3u);
    EXPECT_EQ(metrics->upstream_retries.value(), 1u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 1u);
    // The stalled attempts are cancelled, so their connections close.
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(1, 10s));
}

TEST_F(UpstreamEngineTest, StallAfterTokensFailsWithTheTokensDeliveredAndNoRetry) {
    MockUpstream mock;
    ProviderConfig provider = openai_provider(mock, "openai", {.tokens = 10, .stall_after = 3});
    provider.timeouts.idle = 1s;
    make_engine(config_with({provider, openai_provider(mock, "never-used")}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_EQ(observer.result->error_code, "upstream_timeout");
    EXPECT_EQ(observer.result->error_type, "timeout");
    EXPECT_EQ(observer.result->provider, "openai");
    EXPECT_EQ(observer.deltas, default_tokens(3));
    EXPECT_EQ(mock.request_count(), 1u);
    EXPECT_EQ(metrics->upstream_retries.value(), 0u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 0u);
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 10s));
}

TEST_F(UpstreamEngineTest, TotalTimeoutEndsTheResponseWithoutRetry) {
    MockUpstream mock;
    ProviderConfig provider = openai_provider(mock, "openai", {.stall_after = 0});
    provider.timeouts.total = 300ms;
    make_engine(config_with({provider, openai_provider(mock, "never-used")}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_EQ(observer.result->error_code, "upstream_timeout");
    EXPECT_EQ(mock.request_count(), 1u);
    EXPECT_EQ(metrics->upstream_retries.value(), 0u);
}

// ---------------------------------------------------------------------------------------
// Failures after content

TEST_F(UpstreamEngineTest, ResetMidStreamFailsAndKeepsThePartialTokens) {
    MockUpstream mock;
    make_engine(config_with({openai_provider(mock, "openai", {.tokens = 10, .reset_after = 4}),
                             openai_provider(mock, "never-used")}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_EQ(observer.result->error_code, "upstream_connection_lost");
    EXPECT_EQ(observer.deltas, default_tokens(4));
    EXPECT_EQ(mock.request_count(), 1u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 0u);
}

TEST_F(UpstreamEngineTest, MalformedChunkAfterTokensFails) {
    MockUpstream mock;
    make_engine(config_with({anthropic_provider(mock, "anthropic", {.tokens = 10, .malformed_after = 2})}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_EQ(observer.result->error_code, "upstream_malformed");
    EXPECT_EQ(observer.deltas, default_tokens(2));
    EXPECT_EQ(mock.request_count(), 1u);
}

TEST_F(UpstreamEngineTest, ResetBeforeAnyTokenIsRetriedThenFallsBack) {
    MockUpstream mock;
    ProviderConfig resetting = openai_provider(mock, "resetting", {.reset_after = 0});
    resetting.max_retries = 1;
    make_engine(config_with({resetting, openai_provider(mock, "healthy")}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.result->provider, "healthy");
    EXPECT_EQ(observer.deltas, default_tokens(5));
    EXPECT_EQ(mock.request_count(), 3u);
    EXPECT_EQ(metrics->upstream_retries.value(), 1u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 1u);
}

// ---------------------------------------------------------------------------------------
// Cancel and backpressure

TEST_F(UpstreamEngineTest, CancelFromInsideADeltaIsTheLastCallbackAndClosesTheConnection) {
    MockUpstream mock;
    make_engine(config_with({openai_provider(mock, "openai", {.tokens = 200, .gap_ms = 5})}));
    RecordingObserver observer;
    std::unique_ptr<ResponseHandle> handle;
    observer.on_delta = [&](std::size_t count) {
        if (count == 3) handle->cancel();
    };
    handle = engine->start("gpt-test", chat(), observer);

    ASSERT_TRUE(run_until(io, [&] { return observer.deltas.size() >= 3; }));
    run_for(io, 300ms);

    EXPECT_EQ(observer.deltas, default_tokens(3));
    EXPECT_FALSE(observer.done());
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 10s));
    handle.reset();
    EXPECT_EQ(engine->active_responses(), 0u);
}

TEST_F(UpstreamEngineTest, DestroyingTheHandleInsideADeltaStopsEverything) {
    MockUpstream mock;
    make_engine(config_with({anthropic_provider(mock, "anthropic", {.tokens = 200, .gap_ms = 2})}));
    RecordingObserver observer;
    std::unique_ptr<ResponseHandle> handle;
    observer.on_delta = [&](std::size_t count) {
        if (count == 5) handle.reset();
    };
    handle = engine->start("gpt-test", chat(), observer);

    ASSERT_TRUE(run_until(io, [&] { return observer.deltas.size() >= 5; }));
    run_for(io, 300ms);

    EXPECT_EQ(observer.deltas.size(), 5u);
    EXPECT_FALSE(observer.done());
    EXPECT_EQ(engine->active_responses(), 0u);
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 10s));
}

TEST_F(UpstreamEngineTest, CancelDuringBackoffStopsTheRetry) {
    MockUpstream mock;
    make_engine(config_with({openai_provider(mock, "openai", {.id = "slow-retry", .retry_after = "1", .fail_first = 1,
                                                              .fail_status = 503})}));
    RecordingObserver observer;
    auto handle = engine->start("gpt-test", chat(), observer);

    ASSERT_TRUE(run_until(io, [&] { return metrics->upstream_retries.value() == 1; }));
    handle->cancel();
    run_for(io, 1500ms);

    EXPECT_EQ(observer.callbacks, 0);
    EXPECT_EQ(mock.request_count(), 1u);
}

TEST_F(UpstreamEngineTest, PausedSlowConsumerGetsEveryTokenInOrderAndIdleDoesNotFire) {
    MockUpstream mock;
    ProviderConfig provider = openai_provider(mock, "openai", {.tokens = 300, .split = 13});
    // Wide enough that a descheduled test thread on a loaded machine is not a stall.
    provider.timeouts.idle = 3s;
    make_engine(config_with({provider}));
    RecordingObserver observer;
    std::unique_ptr<ResponseHandle> handle;
    bool paused = false;
    bool long_pause_done = false;
    observer.on_delta = [&](std::size_t) {
        handle->pause();  // the consumer takes one token at a time
        paused = true;
    };
    handle = engine->start("gpt-test", chat(), observer);

    const bool finished = run_until(io, [&] {
        if (paused) {
            paused = false;
            // Once, stay paused twice the idle timeout: the silence is ours.
            if (observer.deltas.size() >= 100 && !long_pause_done) {
                long_pause_done = true;
                run_for(io, 6s);
            }
            handle->resume();
        }
        return observer.done();
    });

    ASSERT_TRUE(finished);
    EXPECT_EQ(observer.result->outcome, Outcome::completed) << observer.result->error_message;
    EXPECT_EQ(observer.deltas, default_tokens(300));
    EXPECT_EQ(observer.late_callbacks, 0);
}

TEST_F(UpstreamEngineTest, PausedBeforeTheFirstByteWaitsWithoutTimingOut) {
    MockUpstream mock;
    ProviderConfig provider = openai_provider(mock, "openai", {.tokens = 5});
    provider.timeouts.first_token = 2s;
    make_engine(config_with({provider}));
    RecordingObserver observer;
    auto handle = engine->start("gpt-test", chat(), observer);
    handle->pause();

    // The request is out; then stay paused twice the first-token timeout.
    ASSERT_TRUE(run_until(io, [&] { return mock.request_count() == 1; }));
    run_for(io, 4s);
    EXPECT_TRUE(observer.deltas.empty());
    EXPECT_FALSE(observer.done());
    handle->resume();

    ASSERT_TRUE(run_until(io, [&] { return observer.done(); }));
    EXPECT_EQ(observer.result->outcome, Outcome::completed) << observer.result->error_message;
    EXPECT_EQ(observer.deltas, default_tokens(5));
}

TEST_F(UpstreamEngineTest, NoCallbackComesFromInsideStartPauseOrResume) {
    MockUpstream mock;
    make_engine(config_with({openai_provider(mock, "openai", {.tokens = 50, .split = 5})}));
    RecordingObserver observer;
    bool inside_call = false;
    int callbacks_inside = 0;
    observer.on_delta = [&](std::size_t) { callbacks_inside += inside_call ? 1 : 0; };

    inside_call = true;
    auto handle = engine->start("gpt-test", chat(), observer);
    inside_call = false;
    ASSERT_TRUE(run_until(io, [&] {
        inside_call = true;
        handle->pause();
        handle->resume();
        inside_call = false;
        return observer.done();
    }));
    EXPECT_EQ(callbacks_inside, 0);
    EXPECT_EQ(observer.deltas, default_tokens(50));
}

TEST_F(UpstreamEngineTest, DestroyingTheEngineStopsItsResponsesSilently) {
    MockUpstream mock;
    make_engine(config_with({openai_provider(mock, "openai", {.tokens = 200, .gap_ms = 5})}));
    RecordingObserver observer;
    auto handle = engine->start("gpt-test", chat(), observer);
    ASSERT_TRUE(run_until(io, [&] { return observer.deltas.size() >= 2; }));
    const int callbacks = observer.callbacks;

    engine.reset();
    run_for(io, 200ms);
    handle->pause();
    handle->resume();
    handle->cancel();
    handle.reset();

    EXPECT_EQ(observer.callbacks, callbacks);
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 10s));
}

// ---------------------------------------------------------------------------------------
// TLS

TEST_F(UpstreamEngineTest, HttpsWithTheTestCaStreams) {
    const auto& tls = test::test_tls();
    MockUpstream mock({.cert_file = tls.server_cert_file, .key_file = tls.server_key_file});
    ProviderConfig provider = openai_provider(mock, "secure", {.tokens = 8});
    provider.ca_file = tls.ca_file;
    make_engine(config_with({provider}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed) << observer.result->error_message;
    EXPECT_EQ(observer.deltas, default_tokens(8));
}

TEST_F(UpstreamEngineTest, WrongCaFailsWithAClearTlsErrorAndNoRetry) {
    const auto& tls = test::test_tls();
    MockUpstream mock({.cert_file = tls.server_cert_file, .key_file = tls.server_key_file});
    ProviderConfig provider = openai_provider(mock, "secure");
    provider.ca_file = tls.other_ca_file;
    make_engine(config_with({provider}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_EQ(observer.result->error_code, "upstream_tls_error");
    EXPECT_NE(observer.result->error_detail.find("TLS certificate verification failed for provider 'secure'"),
              std::string::npos)
        << observer.result->error_detail;
    // The client learns neither the host, the provider's name nor the configuration hint.
    EXPECT_EQ(observer.result->error_message, "the model provider failed; try again");
    for (const char* internal : {"secure", "127.0.0.1", "ca_file", "sk-test-secret"}) {
        EXPECT_EQ(observer.result->error_message.find(internal), std::string::npos) << internal;
    }
    EXPECT_EQ(logs.text().find("sk-test-secret"), std::string::npos);
    EXPECT_EQ(metrics->upstream_retries.value(), 0u);
    EXPECT_EQ(mock.request_count(), 0u);
    EXPECT_EQ(count_of(provider_metrics(0).requests, 0), 1u);
}

TEST_F(UpstreamEngineTest, WrongCaFallsBackToTheNextProvider) {
    const auto& tls = test::test_tls();
    MockUpstream secure_mock({.cert_file = tls.server_cert_file, .key_file = tls.server_key_file});
    MockUpstream plain_mock;
    ProviderConfig misconfigured = openai_provider(secure_mock, "secure");
    misconfigured.ca_file = tls.other_ca_file;
    make_engine(config_with({misconfigured, openai_provider(plain_mock, "plain", {.texts = {"fallback"}})}));
    RecordingObserver observer;

    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.result->provider, "plain");
    EXPECT_EQ(observer.text(), "fallback");
    EXPECT_EQ(metrics->upstream_retries.value(), 0u);
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 1u);
}

// ---------------------------------------------------------------------------------------
// Routes and the demo provider

std::vector<std::string> names_of(RouteTable::Route route) {
    std::vector<std::string> names;
    for (const RoutedProvider* provider : route) names.push_back(provider->name());
    return names;
}

TEST(RouteTable, ExactModelThenStarSkippingUnusableProvidersAndDemoForEmptyRoutes) {
    MockUpstream mock;
    ProviderConfig keyless = openai_provider(mock, "keyless");
    keyless.api_key_env = "VOXGATE_TEST_KEY_THAT_IS_NOT_SET";
    keyless.api_key.clear();
    Config config;
    config.providers = {openai_provider(mock, "exact"), keyless, anthropic_provider(mock, "star")};
    config.routes = {{"special", {"exact"}}, {"locked", {"keyless"}}, {"*", {"keyless", "star"}}};
    const RouteTable routes(config);

    EXPECT_EQ(names_of(routes.route_for("special")), std::vector<std::string>{"exact"});
    EXPECT_EQ(names_of(routes.route_for("anything-else")), std::vector<std::string>{"star"});
    EXPECT_EQ(names_of(routes.route_for("locked")), std::vector<std::string>{"demo"});
    EXPECT_FALSE(routes.route_for("locked").front()->metrics_index.has_value());  // built in
    EXPECT_EQ(routes.route_for("star").front()->metrics_index, 2u);

    Config without_star = config;
    without_star.routes.erase("*");
    EXPECT_EQ(names_of(RouteTable(without_star).route_for("anything-else")), std::vector<std::string>{"demo"});
}

TEST(RouteTable, EmptyRoutesUseTheConfiguredDemoProviderSettings) {
    Config config;
    ProviderConfig demo = demo_provider(7, 123ms);
    demo.name = "my-demo";
    config.providers = {demo};
    const RouteTable routes(config);

    const RoutedProvider& chosen = *routes.route_for("gpt-4o").front();
    EXPECT_EQ(chosen.name(), "my-demo");
    EXPECT_EQ(chosen.config.options_or_defaults<DemoOptions>().tokens_per_second, 7);
    EXPECT_EQ(chosen.config.options_or_defaults<DemoOptions>().first_token_delay, 123ms);
    EXPECT_EQ(chosen.metrics_index, 0u);
}

TEST_F(UpstreamEngineTest, RoutesPickTheExactModelOrStarAndSkipUnusableProviders) {
    MockUpstream mock;
    ProviderConfig keyless = openai_provider(mock, "keyless", {.texts = {"keyless"}});
    keyless.api_key_env = "VOXGATE_TEST_KEY_THAT_IS_NOT_SET";
    keyless.api_key.clear();
    Config config;
    // The demo provider is in no route: it only serves routes left empty.
    config.providers = {openai_provider(mock, "exact", {.texts = {"exact"}}), keyless,
                        openai_provider(mock, "star", {.texts = {"star"}}), demo_provider()};
    config.routes = {{"special", {"exact"}}, {"locked", {"keyless"}}, {"*", {"keyless", "star"}}};
    make_engine(config);

    RecordingObserver special;
    run_response(special, "special");
    RecordingObserver other;
    run_response(other, "other-model");
    RecordingObserver locked;
    run_response(locked, "locked", chat("Hi demo"));

    EXPECT_EQ(special.text(), "exact");
    EXPECT_EQ(other.text(), "star");
    EXPECT_EQ(other.result->provider, "star");
    ASSERT_TRUE(locked.result);
    EXPECT_EQ(locked.result->provider, "demo");
    EXPECT_EQ(locked.text(), demo_reply("Hi demo"));
    EXPECT_EQ(mock.request_count(), 2u);  // the demo never touches the network
}

TEST_F(UpstreamEngineTest, DemoProviderStreamsTheScriptedReply) {
    make_engine(config_with({demo_provider(1000, 1ms)}));
    RecordingObserver observer;

    run_response(observer, "gpt-test", chat("Hello there"));

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.result->provider, "demo");
    EXPECT_EQ(observer.result->finish_reason, FinishReason::stop);
    EXPECT_EQ(observer.deltas, demo_reply_tokens("Hello there"));
    ASSERT_TRUE(observer.usage);
    EXPECT_EQ(observer.usage->output_tokens, static_cast<std::int64_t>(demo_reply_tokens("Hello there").size()));
    EXPECT_EQ(observer.usage->input_tokens, 4);  // "Be brief." + "Hello there"
    EXPECT_EQ(observer.first_byte_providers, std::vector<std::string>{"demo"});
    EXPECT_EQ(observer.late_callbacks, 0);
}

TEST_F(UpstreamEngineTest, DemoProviderCanBeCancelledAndPaused) {
    make_engine(config_with({demo_provider(200, 1ms)}));
    RecordingObserver observer;
    std::unique_ptr<ResponseHandle> handle;
    observer.on_delta = [&](std::size_t count) {
        if (count == 3) handle->pause();
        if (count == 6) handle->cancel();
    };
    handle = engine->start("gpt-test", chat("Hello there"), observer);

    ASSERT_TRUE(run_until(io, [&] { return observer.deltas.size() >= 3; }));
    run_for(io, 200ms);  // paused: nothing more
    EXPECT_EQ(observer.deltas.size(), 3u);
    handle->resume();
    ASSERT_TRUE(run_until(io, [&] { return observer.deltas.size() >= 6; }));
    run_for(io, 200ms);  // cancelled: nothing more

    const auto expected = demo_reply_tokens("Hello there");
    EXPECT_EQ(observer.deltas, std::vector<std::string>(expected.begin(), expected.begin() + 6));
    EXPECT_FALSE(observer.done());
}

TEST_F(UpstreamEngineTest, DemoAsTheLastFallbackAnswersWhenTheRealProviderIsDown) {
    MockUpstream mock;
    ProviderConfig down = openai_provider(mock, "down", {.status = 503});
    down.max_retries = 0;
    make_engine(config_with({down, demo_provider()}));
    RecordingObserver observer;

    run_response(observer, "gpt-test", chat("Hello there"));

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.result->provider, "demo");
    EXPECT_EQ(observer.text(), demo_reply("Hello there"));
    EXPECT_EQ(metrics->upstream_fallbacks.value(), 1u);
}

// ---------------------------------------------------------------------------------------
// Resilience: circuit breaker, retry budget, admission (upstream/resilience/)

TEST_F(UpstreamEngineTest, CircuitOpensAfterFiveFailuresAndTheNextResponseFailsFastToTheFallback) {
    MockUpstream sick_mock;
    MockUpstream healthy_mock;
    ProviderConfig sick = openai_provider(sick_mock, "sick", {.status = 503});
    sick.max_retries = 0;
    sick.circuit_breaker.cooldown = 60s;  // stays open for the whole test
    make_engine(config_with({sick, openai_provider(healthy_mock, "healthy")}));

    for (int i = 0; i < 5; ++i) {
        RecordingObserver observer;
        run_response(observer);
        ASSERT_TRUE(observer.result);
        EXPECT_EQ(observer.result->provider, "healthy");
    }
    EXPECT_EQ(sick_mock.request_count(), 5u);
    EXPECT_EQ(engine->circuit_state("sick"), resilience::CircuitState::open);
    EXPECT_EQ(provider_metrics(0).circuit_state.value(), 1);
    EXPECT_EQ(provider_metrics(0).circuit_opened.value(), 1u);

    RecordingObserver observer;
    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::completed);
    EXPECT_EQ(observer.result->provider, "healthy");
    EXPECT_EQ(sick_mock.request_count(), 5u);  // the sick provider was not touched
    EXPECT_EQ(healthy_mock.request_count(), 6u);
    EXPECT_EQ(provider_metrics(0).circuit_fast_fails.value(), 1u);
}

TEST_F(UpstreamEngineTest, ClientErrorsDoNotOpenTheCircuit) {
    MockUpstream mock;
    ProviderConfig refusing = openai_provider(mock, "refusing", {.status = 404});
    make_engine(config_with({refusing}));
    for (int i = 0; i < 7; ++i) {
        RecordingObserver observer;
        run_response(observer);
    }
    EXPECT_EQ(mock.request_count(), 7u);
    EXPECT_EQ(engine->circuit_state("refusing"), resilience::CircuitState::closed);
}

TEST_F(UpstreamEngineTest, WithEveryCircuitOpenTheResponseFailsFastWithAGenericError) {
    MockUpstream mock;
    ProviderConfig sick = openai_provider(mock, "sick", {.status = 500});
    sick.max_retries = 0;
    sick.circuit_breaker.consecutive_failures = 2;
    sick.circuit_breaker.cooldown = 60s;
    make_engine(config_with({sick}));
    for (int i = 0; i < 2; ++i) {
        RecordingObserver observer;
        run_response(observer);
    }
    RecordingObserver observer;
    run_response(observer);

    ASSERT_TRUE(observer.result);
    EXPECT_EQ(observer.result->outcome, Outcome::failed);
    EXPECT_EQ(observer.result->error_code, "upstream_unavailable");
    EXPECT_EQ(observer.result->error_message, "the model provider is unavailable; try again later");
    EXPECT_EQ(mock.request_count(), 2u);
}

TEST_F(UpstreamEngineTest, AfterTheCooldownOneProbeGoesThroughAndItsSuccessClosesTheCircuit) {
    MockUpstream sick_mock;
    MockUpstream healthy_mock;
    // The first five requests fail, then the provider is back.
    ProviderConfig sick = openai_provider(sick_mock, "sick", {.id = "outage", .fail_first = 5, .fail_status = 503});
    sick.max_retries = 0;
    sick.circuit_breaker.cooldown = 300ms;
    make_engine(config_with({sick, openai_provider(healthy_mock, "healthy")}));
    for (int i = 0; i < 5; ++i) {
        RecordingObserver observer;
        run_response(observer);
    }
    ASSERT_EQ(engine->circuit_state("sick"), resilience::CircuitState::open);
    const auto opened_at = std::chrono::steady_clock::now();

    // Wait out the cool-down (a condition on the clock, not a guess).
    ASSERT_TRUE(run_until(io, [&] { return std::chrono::steady_clock::now() >= opened_at + 400ms; }));
    RecordingObserver probe;
    run_response(probe);

    ASSERT_TRUE(probe.result);
    EXPECT_EQ(probe.result->outcome, Outcome::completed);
    EXPECT_EQ(probe.result->provider, "sick");
    EXPECT_EQ(sick_mock.request_count(), 6u);
    EXPECT_EQ(engine->circuit_state("sick"), resilience::CircuitState::closed);
    EXPECT_EQ(provider_metrics(0).circuit_state.value(), 0);
}

TEST_F(UpstreamEngineTest, RetryBudgetDeniesRetriesUnderA429StormAcrossManyResponses) {
    MockUpstream mock;
    // Every request is rate limited; a retry waits 3 s (retry-after), so every retry
    // granted during the first wave is still in flight while the others fail.
    ProviderConfig limited = openai_provider(mock, "limited", {.status = 429, .retry_after_ms = "3000"});
    limited.max_retries = 1;
    limited.circuit_breaker.enabled = false;  // the budget alone
    make_engine(config_with({limited}));
    constexpr int kResponses = 30;
    std::vector<RecordingObserver> observers(kResponses);
    std::vector<std::unique_ptr<ResponseHandle>> handles;
    for (auto& observer : observers) handles.push_back(engine->start("gpt-test", chat(), observer));

    ASSERT_TRUE(run_until(io, [&] {
        return std::all_of(observers.begin(), observers.end(), [](const auto& o) { return o.done(); });
    }));

    // Without a budget: 30 x 2 = 60 requests. With it, retries in flight never exceed
    // max(3, 20 % of the 30 active requests) = 6.
    const std::size_t retries = metrics->upstream_retries.value();
    EXPECT_LE(retries, 6u);
    EXPECT_EQ(mock.request_count(), kResponses + retries);
    EXPECT_EQ(provider_metrics(0).retries_denied.value(), kResponses - retries);
    for (const auto& observer : observers) {
        EXPECT_EQ(observer.result->outcome, Outcome::failed);
        EXPECT_EQ(observer.result->error_code, "upstream_rate_limited");
    }
}

TEST_F(UpstreamEngineTest, PastMaxPendingRequestsNewResponsesGoToTheNextProviderAtOnce) {
    MockUpstream slow_mock;
    MockUpstream fast_mock;
    ProviderConfig slow = openai_provider(slow_mock, "slow", {.head_ms = 1500});
    slow.max_pending_requests = 2;
    make_engine(config_with({slow, openai_provider(fast_mock, "fast")}));
    std::vector<RecordingObserver> observers(5);
    std::vector<std::unique_ptr<ResponseHandle>> handles;
    for (auto& observer : observers) handles.push_back(engine->start("gpt-test", chat(), observer));

    ASSERT_TRUE(run_until(io, [&] {
        return std::all_of(observers.begin(), observers.end(), [](const auto& o) { return o.done(); });
    }));

    int served_by_slow = 0;
    for (const auto& observer : observers) {
        EXPECT_EQ(observer.result->outcome, Outcome::completed);
        served_by_slow += observer.result->provider == "slow" ? 1 : 0;
    }
    EXPECT_EQ(served_by_slow, 2);
    EXPECT_EQ(slow_mock.request_count(), 2u);
    EXPECT_EQ(fast_mock.request_count(), 3u);
    EXPECT_EQ(provider_metrics(0).overloaded.value(), 3u);
    EXPECT_EQ(provider_metrics(0).pending_requests.value(), 0);
}

TEST_F(UpstreamEngineTest, PastMaxPendingRequestsWithoutAFallbackTheResponseFailsAsOverloaded) {
    MockUpstream mock;
    ProviderConfig slow = openai_provider(mock, "slow", {.head_ms = 1500});
    slow.max_pending_requests = 1;
    make_engine(config_with({slow}));
    RecordingObserver first;
    RecordingObserver second;
    auto first_handle = engine->start("gpt-test", chat(), first);
    auto second_handle = engine->start("gpt-test", chat(), second);

    ASSERT_TRUE(run_until(io, [&] { return second.done(); }));
    EXPECT_FALSE(first.done());  // still waiting for its head
    EXPECT_EQ(second.result->outcome, Outcome::failed);
    EXPECT_EQ(second.result->error_code, "upstream_overloaded");
    EXPECT_EQ(second.result->error_message, "the model providers are busy; try again shortly");
    ASSERT_TRUE(run_until(io, [&] { return first.done(); }));
    EXPECT_EQ(first.result->outcome, Outcome::completed);
    EXPECT_EQ(mock.request_count(), 1u);
}

}  // namespace
}  // namespace voxgate::upstream
