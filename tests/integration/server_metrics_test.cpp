// /metrics as an operator exposes it (issue 8, "Client authentication"): on its own
// metrics.listen address so the client port has none, behind metrics.bearer_token_env,
// and collected off the shard threads. Real loopback sockets against a real Runtime.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <atomic>
#include <future>
#include <thread>

#include "metrics/collector.hpp"
#include "server/metrics_service.hpp"
#include "support/test_gateway.hpp"

namespace voxgate::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* prometheus_type = "text/plain; version=0.0.4; charset=utf-8";

Config with_metrics_listen(Config config = test_config()) {
    config.metrics.listen = ListenAddress{"127.0.0.1", 0};
    return config;
}

std::uint16_t metrics_port(TestGateway& gateway) {
    auto endpoint = gateway.runtime().metrics_endpoint();
    EXPECT_TRUE(endpoint.has_value());
    return endpoint ? endpoint->port() : 0;
}

TEST(ServerMetrics, OnTheClientPortByDefault) {
    TestGateway gateway;
    EXPECT_FALSE(gateway.runtime().metrics_endpoint().has_value());
    auto result = http_get(gateway.port(), "/metrics");
    EXPECT_EQ(result.status, 200);
    EXPECT_EQ(result.headers["content-type"], prometheus_type);
    EXPECT_TRUE(metric_value(result.body, "process_open_fds").has_value());
    // HEAD: the headers of a scrape, no body.
    auto raw = http_raw(gateway.port(), "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(raw.rfind("HTTP/1.1 200", 0), 0u) << raw;
    EXPECT_EQ(raw.find("voxgate_"), std::string::npos) << raw;
}

TEST(ServerMetrics, MetricsListenServesThereAndTheClientPortAnswers404) {
    TestGateway gateway(with_metrics_listen());
    const auto port = metrics_port(gateway);
    ASSERT_NE(port, 0);
    ASSERT_NE(port, gateway.port());

    http_get(gateway.port(), "/healthz");
    auto scrape = http_get(port, "/metrics");
    EXPECT_EQ(scrape.status, 200);
    EXPECT_EQ(scrape.headers["content-type"], prometheus_type);
    EXPECT_GE(metric_value(scrape.body, "voxgate_http_requests_total", "{code=\"200\",path=\"/healthz\"}").value_or(0),
              1);
    EXPECT_EQ(http_get(port, "/healthz").status, 200);
    EXPECT_EQ(http_get(port, "/v1/realtime").status, 404);
    EXPECT_EQ(http_get(port, "/metrics", "POST").status, 405);

    auto on_client_port = http_get(gateway.port(), "/metrics");
    EXPECT_EQ(on_client_port.status, 404);
    EXPECT_EQ(on_client_port.body.find("voxgate_"), std::string::npos);
    // Nothing else of the client port moved.
    EXPECT_EQ(http_get(gateway.port(), "/readyz").status, 200);
}

TEST(ServerMetrics, ABearerTokenIsRequiredOnEitherPortWhenConfigured) {
    for (bool separate : {false, true}) {
        SCOPED_TRACE(separate ? "metrics.listen" : "client port");
        Config config = separate ? with_metrics_listen() : test_config();
        config.metrics.bearer_token = "scrape-token-1234567890";
        TestGateway gateway(config);
        const auto port = separate ? metrics_port(gateway) : gateway.port();

        auto missing = http_get(port, "/metrics");
        EXPECT_EQ(missing.status, 401);
        EXPECT_EQ(missing.headers["www-authenticate"], "Bearer");
        EXPECT_EQ(missing.body.find("voxgate_connections"), std::string::npos);
        EXPECT_EQ(missing.body.find("scrape-token"), std::string::npos);

        auto wrong = http_get(port, "/metrics", "GET", {{"Authorization", "Bearer scrape-token-1234567891"}});
        EXPECT_EQ(wrong.status, 401);
        EXPECT_EQ(http_get(port, "/metrics", "GET", {{"Authorization", "Basic scrape-token-1234567890"}}).status, 401);
        EXPECT_EQ(http_get(port, "/metrics", "GET", {{"Authorization", "Bearer scrape-token-12345678"}}).status, 401);

        auto right = http_get(port, "/metrics", "GET", {{"Authorization", "bearer  scrape-token-1234567890 "}});
        EXPECT_EQ(right.status, 200);
        EXPECT_TRUE(metric_value(right.body, "voxgate_connections_active").has_value());
        // The probes stay open: a kubelet sends no token.
        EXPECT_EQ(http_get(gateway.port(), "/healthz").status, 200);
    }
}

TEST(ServerMetrics, AKeepAliveConnectionGetsTheScrapeThenItsNextAnswerInOrder) {
    TestGateway gateway;
    auto raw = http_raw(gateway.port(),
                        "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto metrics_at = raw.find("voxgate_connections_active");
    const auto ok_at = raw.find("\r\n\r\nok\n");
    ASSERT_NE(metrics_at, std::string::npos) << raw.substr(0, 300);
    ASSERT_NE(ok_at, std::string::npos) << raw.substr(raw.size() > 300 ? raw.size() - 300 : 0);
    EXPECT_LT(metrics_at, ok_at);
}

// A scrape that throws (on the metrics thread) is a 500 for that request only: counted,
// the connection's shard keeps serving, and the metrics thread answers the next scrape.
TEST(ServerMetrics, AScrapeThatThrowsIs500AndIsCountedAndTheNextOneWorks) {
    std::atomic<bool> fail{true};
    Config config = test_config();
    config.server.threads = 1;
    config.log.level = "off";  // the barrier logs the failure at error level
    TestGateway gateway(config, true, [&](server::Runtime& runtime) {
        auto& context = runtime.context();
        std::vector<const metrics::ShardMetrics*> shards{&runtime.shards().front()->metrics()};
        context.collector = std::make_unique<metrics::Collector>(shards, std::vector<std::string>{}, [&]() -> std::size_t {
            if (fail) throw std::runtime_error("collector bug");
            return 0;
        });
    });
    auto failed = http_get(gateway.port(), "/metrics");
    EXPECT_EQ(failed.status, 500);
    EXPECT_NE(failed.body.find("internal_error"), std::string::npos) << failed.body;
    EXPECT_EQ(http_get(gateway.port(), "/healthz").status, 200);
    fail = false;
    auto next = http_get(gateway.port(), "/metrics");
    EXPECT_EQ(next.status, 200);
    EXPECT_EQ(metric_value(next.body, "voxgate_internal_errors_total"), 1);
    EXPECT_EQ(metric_value(next.body, "voxgate_http_requests_total", "{code=\"500\",path=\"/metrics\"}"), 1);
}

TEST(ServerMetrics, MetricsListenOnABusyPortFailsStartWithTheKeyNamed) {
    TestGateway first(with_metrics_listen());
    const auto busy = metrics_port(first);
    Config config = test_config();
    config.metrics.listen = ListenAddress{"127.0.0.1", busy};
    try {
        TestGateway second(config);
        FAIL() << "a second gateway bound metrics.listen on a busy port";
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("metrics.listen"), std::string::npos) << e.what();
    }
}

// The collector runs on the metrics thread, never on the thread that asked: a scrape is
// O(open fds) of /proc reading that would otherwise stall every client of that shard.
TEST(MetricsService, CollectsOnItsOwnThreadAndAnswersOnTheCallersExecutor) {
    std::promise<std::thread::id> collected_on;
    metrics::Collector collector({}, {}, [&] {
        collected_on.set_value(std::this_thread::get_id());
        return std::size_t{7};
    });
    server::MetricsService service([&] { return collector.scrape(); }, MetricsConfig{});
    service.start();

    asio::io_context caller;
    std::thread::id answered_on;
    std::optional<std::string> text;
    std::atomic<bool> answered{false};
    service.async_scrape(caller.get_executor(), [&](std::optional<std::string> result) {
        answered_on = std::this_thread::get_id();
        text = std::move(result);
        answered = true;
    });
    auto work = asio::make_work_guard(caller);
    std::thread caller_thread([&] { caller.run(); });
    const auto caller_id = caller_thread.get_id();
    EXPECT_TRUE(eventually([&] { return answered.load(); }));
    work.reset();
    caller.stop();
    caller_thread.join();
    service.stop();

    auto future = collected_on.get_future();
    ASSERT_EQ(future.wait_for(0s), std::future_status::ready);
    const auto collector_id = future.get();
    EXPECT_NE(collector_id, caller_id);
    EXPECT_NE(collector_id, std::this_thread::get_id());
    EXPECT_EQ(answered_on, caller_id);
    ASSERT_TRUE(text.has_value());
    EXPECT_EQ(metric_value(*text, "voxgate_sessions_active"), 7);
}

}  // namespace
}  // namespace voxgate::test
