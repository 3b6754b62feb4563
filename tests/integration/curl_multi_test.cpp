// CurlMulti + Transfer against the MockUpstream over real loopback sockets and real curl.
//
// HTTP/2 is not exercised end to end: Beast (the mock's HTTP stack) speaks HTTP/1.1 only,
// and no h2 server is available to the tests. What is checked instead is that curl offers
// "h2" in the TLS ALPN list (CURL_HTTP_VERSION_2TLS is set) and falls back to HTTP/1.1
// when the server selects it, which is the path a real provider without h2 would take.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "metrics/shard_metrics.hpp"
#include "support/fd_limit.hpp"
#include "support/load_scale.hpp"
#include "support/mock_upstream.hpp"
#include "support/test_tls.hpp"
#include "upstream/curl_error.hpp"
#include "upstream/curl_multi.hpp"
#include "upstream/transfer.hpp"

namespace voxgate::upstream {
namespace {

using namespace std::chrono_literals;
using test::decode_mock_stream;
using test::default_token;
using test::MockScript;
using test::MockUpstream;
using nlohmann::json;

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

std::vector<std::string> default_tokens(int count) {
    std::vector<std::string> tokens;
    for (int i = 0; i < count; ++i) tokens.push_back(default_token(i));
    return tokens;
}

class RecordingSink : public TransferSink {
public:
    void on_response_start(int status_code, const ResponseHeaders& response_headers) override {
        ++starts;
        status = status_code;
        headers = response_headers;
    }
    void on_body(std::string_view bytes) override {
        ++body_calls;
        body.append(bytes);
        if (body_hook) body_hook(bytes);
    }
    void on_complete(error_code ec) override {
        ++completions;
        result = ec;
        if (complete_hook) complete_hook();
    }

    bool completed() const { return completions > 0; }
    int callbacks() const { return starts + body_calls + completions; }
    std::vector<std::string> tokens() const { return decode_mock_stream(body).tokens; }

    int starts = 0;
    int body_calls = 0;
    int completions = 0;
    int status = 0;
    ResponseHeaders headers;
    std::string body;
    error_code result;
    std::function<void(std::string_view)> body_hook;
    std::function<void()> complete_hook;
};

json chat_body(const std::string& user_text) {
    return {{"model", "test-model"},
            {"stream", true},
            {"messages", json::array({{{"role", "user"}, {"content", user_text}}})}};
}

TransferRequest request_to(const std::string& url, const MockScript& script, const std::string& user_text = "Hello") {
    TransferRequest request;
    request.url = url;
    request.body = chat_body(user_text).dump();
    request.headers = {{"content-type", "application/json"}, {"x-mock-script", script.header_value()}};
    return request;
}

class CurlMultiTest : public ::testing::Test {
protected:
    asio::io_context io;
    CurlMulti multi{io};
};

// The exception barrier inside libcurl's C callbacks: a sink that throws from on_body
// (as a session's decoder could) fails only its own transfer with internal_error, is
// counted, and a transfer beside it on the same multi streams to the end.
TEST(CurlMultiBarrier, AThrowingSinkFailsOnlyItsTransferAndIsCounted) {
    MockUpstream mock;
    asio::io_context io;
    metrics::Counter internal_errors;
    CurlMulti multi(io, {.internal_errors = &internal_errors});
    RecordingSink throwing, bystander;
    throwing.body_hook = [](std::string_view) { throw std::runtime_error("decoder bug"); };
    Transfer failing(multi, throwing);
    Transfer healthy(multi, bystander);
    ASSERT_FALSE(failing.start(request_to(mock.openai_url(), {.tokens = 20, .gap_ms = 2})));
    ASSERT_FALSE(healthy.start(request_to(mock.openai_url(), {.tokens = 20, .gap_ms = 2})));
    ASSERT_TRUE(run_until(io, [&] { return throwing.completed() && bystander.completed(); }));

    EXPECT_EQ(throwing.result, make_error_code(transfer_errc::internal_error)) << throwing.result.message();
    EXPECT_EQ(throwing.completions, 1);
    EXPECT_EQ(internal_errors.value(), 1u);
    EXPECT_FALSE(bystander.result) << bystander.result.message();
    EXPECT_EQ(bystander.tokens(), default_tokens(20));
}

TEST_F(CurlMultiTest, StreamsEveryTokenInOrderOverHttp) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);

    ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = 50, .gap_ms = 1})));
    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));

    EXPECT_FALSE(sink.result) << sink.result.message();
    EXPECT_EQ(sink.starts, 1);
    EXPECT_EQ(sink.status, 200);
    EXPECT_EQ(sink.headers.content_type, "text/event-stream");
    const auto decoded = decode_mock_stream(sink.body);
    EXPECT_EQ(decoded.tokens, default_tokens(50));
    EXPECT_TRUE(decoded.finished);
    EXPECT_EQ(decoded.finish_reason, "stop");
    EXPECT_FALSE(transfer.running());
    EXPECT_EQ(multi.transfer_count(), 0u);
}

TEST_F(CurlMultiTest, StreamsAnthropicEventsInOrder) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);

    ASSERT_FALSE(transfer.start(request_to(mock.anthropic_url(), {.tokens = 12})));
    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));

    EXPECT_FALSE(sink.result) << sink.result.message();
    EXPECT_EQ(sink.headers.find("request-id"), "req_mock_0");
    const auto decoded = decode_mock_stream(sink.body);
    EXPECT_EQ(decoded.tokens, default_tokens(12));
    EXPECT_TRUE(decoded.finished);
    EXPECT_EQ(decoded.finish_reason, "end_turn");
}

TEST_F(CurlMultiTest, StreamsOverHttpsTrustingTheTestCa) {
    const auto& tls = test::test_tls();
    MockUpstream mock({.cert_file = tls.server_cert_file, .key_file = tls.server_key_file});
    RecordingSink sink;
    Transfer transfer(multi, sink);
    TransferRequest request = request_to(mock.openai_url(), {.tokens = 20});
    request.ca_file = tls.ca_file;

    ASSERT_FALSE(transfer.start(std::move(request)));
    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));

    EXPECT_FALSE(sink.result) << sink.result.message() << ": " << transfer.error_detail();
    EXPECT_EQ(sink.tokens(), default_tokens(20));
    // HTTP/2 is offered in ALPN; the mock picks http/1.1, and curl follows.
    const auto offers = mock.alpn_offers();
    ASSERT_FALSE(offers.empty());
    EXPECT_NE(offers.front().find("h2"), std::string::npos) << offers.front();
    EXPECT_EQ(transfer.http_version(), CURL_HTTP_VERSION_1_1);
}

TEST_F(CurlMultiTest, UntrustedCertificateFailsWithAClearVerificationError) {
    const auto& tls = test::test_tls();
    MockUpstream mock({.cert_file = tls.server_cert_file, .key_file = tls.server_key_file});
    RecordingSink sink;
    Transfer transfer(multi, sink);
    TransferRequest request = request_to(mock.openai_url(), {});
    request.ca_file = tls.other_ca_file;

    ASSERT_FALSE(transfer.start(std::move(request)));
    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));

    EXPECT_TRUE(is_tls_verification_failure(sink.result)) << sink.result.message();
    EXPECT_TRUE(is_connect_failure(sink.result));
    EXPECT_NE(sink.result.message().find("certificate verification failed"), std::string::npos);
    EXPECT_NE(std::string(transfer.error_detail()).find("certificate"), std::string::npos) << transfer.error_detail();
    EXPECT_EQ(sink.starts, 0);
    EXPECT_EQ(mock.request_count(), 0u);
}

TEST(CurlMultiLoad, ThousandConcurrentStreamsOnOneMultiAllCompleteInOrder) {
    const int transfers = test::load_count(1000, 250);
    constexpr int tokens = 10;
    // Both ends of every connection (curl's and the mock's) live in this process.
    ASSERT_TRUE(test::fd_budget_allows(2 * transfers + 200));
    asio::io_context io;
    // Unlimited connections per host: every HTTP/1.1 stream needs its own.
    CurlMulti multi(io, {.max_host_connections = 0});
    MockUpstream mock;
    std::vector<std::unique_ptr<RecordingSink>> sinks;
    std::vector<std::unique_ptr<Transfer>> running;
    for (int i = 0; i < transfers; ++i) {
        sinks.push_back(std::make_unique<RecordingSink>());
        running.push_back(std::make_unique<Transfer>(multi, *sinks.back()));
        ASSERT_FALSE(running.back()->start(request_to(mock.openai_url(), {.tokens = tokens, .gap_ms = 2})));
    }
    int completed = 0;
    for (auto& sink : sinks) sink->complete_hook = [&] { ++completed; };

    ASSERT_TRUE(run_until(io, [&] { return completed == transfers; }, 120s)) << completed << " completed";

    const auto expected = default_tokens(tokens);
    int failures = 0;
    for (const auto& sink : sinks) {
        if (sink->result || sink->status != 200 || sink->tokens() != expected) ++failures;
    }
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(mock.request_count(), static_cast<std::size_t>(transfers));
    // All were started before the io_context ran, so none could reuse another's connection.
    EXPECT_EQ(mock.accepted_connections(), static_cast<std::size_t>(transfers));
    std::printf("peak open connections at the mock: %zu\n", mock.peak_open_connections());
    EXPECT_EQ(multi.transfer_count(), 0u);
}

// This machine's host name when it resolves to loopback only (curl answers "localhost"
// itself, without its resolver); empty otherwise.
std::string loopback_host_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || std::string_view(name) == "localhost") return {};
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* results = nullptr;
    if (::getaddrinfo(name, nullptr, &hints, &results) != 0) return {};
    bool loopback_only = results != nullptr;
    for (const addrinfo* at = results; at != nullptr; at = at->ai_next) {
        if (at->ai_family == AF_INET) {
            const auto* address = reinterpret_cast<const sockaddr_in*>(at->ai_addr);
            loopback_only = loopback_only && (ntohl(address->sin_addr.s_addr) >> 24) == 127;
        } else {
            loopback_only = false;
        }
    }
    ::freeaddrinfo(results);
    return loopback_only ? std::string(name) : std::string{};
}

// A host name goes through curl's threaded resolver, whose wake-up socket curl also asks
// us to watch and then closes: many at once exercise fd numbers being reused between the
// resolver's sockets and the connections.
TEST_F(CurlMultiTest, HostNamesResolveWithoutBlockingAndStreamsComplete) {
    const std::string host = loopback_host_name();
    if (host.empty()) GTEST_SKIP() << "this machine's host name does not resolve to 127.0.0.1 only";
    MockUpstream mock;
    const std::string url = "http://" + host + ":" + std::to_string(mock.port()) + "/v1/chat/completions";
    constexpr int transfers = 40;
    std::vector<std::unique_ptr<RecordingSink>> sinks;
    std::vector<std::unique_ptr<Transfer>> running;
    for (int i = 0; i < transfers; ++i) {
        sinks.push_back(std::make_unique<RecordingSink>());
        running.push_back(std::make_unique<Transfer>(multi, *sinks.back()));
        ASSERT_FALSE(running.back()->start(request_to(url, {.tokens = 5, .gap_ms = 1})));
    }

    ASSERT_TRUE(run_until(io, [&] {
        return std::all_of(sinks.begin(), sinks.end(), [](const auto& sink) { return sink->completed(); });
    }));
    for (const auto& sink : sinks) {
        EXPECT_FALSE(sink->result) << sink->result.message();
        EXPECT_EQ(sink->tokens(), default_tokens(5));
    }
    EXPECT_EQ(multi.watched_socket_count(), 0u);
}

TEST_F(CurlMultiTest, CancelMidStreamStopsCallbacksAndClosesTheConnection) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = 100, .stall_after = 3})));
    ASSERT_TRUE(run_until(io, [&] { return sink.tokens().size() == 3; }));
    ASSERT_EQ(mock.open_connections(), 1u);

    transfer.cancel();
    const int callbacks_at_cancel = sink.callbacks();
    run_for(io, 50ms);

    EXPECT_EQ(sink.callbacks(), callbacks_at_cancel);
    EXPECT_EQ(sink.completions, 0);
    EXPECT_FALSE(transfer.running());
    EXPECT_EQ(multi.transfer_count(), 0u);
    EXPECT_EQ(multi.watched_socket_count(), 0u);
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 10s)) << mock.open_connections() << " still open";
}

TEST_F(CurlMultiTest, CancelFromInsideOnBodyIsTheLastCallback) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    int calls_after_cancel = 0;
    bool cancelled = false;
    sink.body_hook = [&](std::string_view) {
        if (cancelled) ++calls_after_cancel;
        if (!cancelled && sink.tokens().size() >= 3) {
            cancelled = true;
            transfer.cancel();
        }
    };
    sink.complete_hook = [&] { if (cancelled) ++calls_after_cancel; };
    ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = 200, .gap_ms = 2})));

    ASSERT_TRUE(run_until(io, [&] { return cancelled; }));
    run_for(io, 50ms);

    EXPECT_EQ(calls_after_cancel, 0);
    EXPECT_EQ(multi.transfer_count(), 0u);
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 10s)) << mock.open_connections() << " still open";
}

TEST_F(CurlMultiTest, DestroyingTheTransferInsideOnBodyIsSafe) {
    MockUpstream mock;
    RecordingSink sink;
    auto transfer = std::make_unique<Transfer>(multi, sink);
    sink.body_hook = [&](std::string_view) { transfer.reset(); };
    ASSERT_FALSE(transfer->start(request_to(mock.openai_url(), {.tokens = 200, .gap_ms = 2})));

    ASSERT_TRUE(run_until(io, [&] { return transfer == nullptr; }));
    const int callbacks = sink.callbacks();
    run_for(io, 50ms);

    EXPECT_EQ(sink.callbacks(), callbacks);
    EXPECT_EQ(multi.transfer_count(), 0u);
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 10s));
}

TEST_F(CurlMultiTest, DestroyingTheTransferInsideOnCompleteIsSafe) {
    MockUpstream mock;
    RecordingSink sink;
    auto transfer = std::make_unique<Transfer>(multi, sink);
    sink.complete_hook = [&] { transfer.reset(); };
    ASSERT_FALSE(transfer->start(request_to(mock.openai_url(), {.tokens = 3})));

    ASSERT_TRUE(run_until(io, [&] { return transfer == nullptr; }));
    EXPECT_EQ(sink.completions, 1);
    EXPECT_EQ(sink.tokens(), default_tokens(3));
}

// A client reader with a bounded buffer: it pauses the transfer above the high-water
// mark, and a timer drains the buffer and resumes, as a slow WebSocket client would.
TEST_F(CurlMultiTest, PauseAndResumeDeliverEveryTokenWithABoundedBuffer) {
    constexpr std::size_t high_water = 4 * 1024;
    constexpr int tokens = 3000;  // ~600 KB of SSE
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    std::string buffered;  // the reader's own buffer
    std::string delivered;
    std::size_t max_buffered = 0;
    int pauses = 0;
    steady_timer drain_timer(io.get_executor());
    std::function<void()> drain = [&] {
        delivered += buffered;
        buffered.clear();
        transfer.resume();
    };
    sink.body_hook = [&](std::string_view bytes) {
        EXPECT_FALSE(transfer.paused()) << "on_body while paused";
        buffered.append(bytes);
        max_buffered = std::max(max_buffered, buffered.size());
        if (buffered.size() > high_water) {
            ++pauses;
            transfer.pause();
            drain_timer.expires_after(1ms);
            drain_timer.async_wait([&](const error_code& ec) {
                if (!ec) drain();
            });
        }
    };
    ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = tokens})));

    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }, 60s));
    delivered += buffered;

    EXPECT_FALSE(sink.result) << sink.result.message();
    EXPECT_GT(pauses, 10);
    // One write callback carries at most CURL_MAX_WRITE_SIZE bytes past the mark.
    EXPECT_LE(max_buffered, high_water + CURL_MAX_WRITE_SIZE);
    const auto decoded = decode_mock_stream(delivered);
    EXPECT_EQ(decoded.tokens, default_tokens(tokens));
    EXPECT_TRUE(decoded.finished);
}

TEST_F(CurlMultiTest, PauseFromOutsideCallbacksStopsDeliveryUntilResumed) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    bool pause_scheduled = false;
    steady_timer timer(io.get_executor());
    sink.body_hook = [&](std::string_view) {
        EXPECT_FALSE(transfer.paused()) << "on_body while paused";
        if (!pause_scheduled && sink.tokens().size() >= 5) {
            pause_scheduled = true;  // pause from a timer: curl_easy_pause, not a callback return
            timer.expires_after(0ms);
            timer.async_wait([&](const error_code&) { transfer.pause(); });
        }
    };
    ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = 200, .gap_ms = 1})));

    ASSERT_TRUE(run_until(io, [&] { return transfer.paused(); }));
    const int body_calls_when_paused = sink.body_calls;
    run_for(io, 300ms);  // the mock keeps sending meanwhile
    EXPECT_EQ(sink.body_calls, body_calls_when_paused);
    EXPECT_FALSE(sink.completed());

    transfer.resume();
    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));
    EXPECT_FALSE(sink.result) << sink.result.message();
    EXPECT_EQ(sink.tokens(), default_tokens(200));
}

TEST_F(CurlMultiTest, PausedBeforeTheResponseDeliversNothingUntilResumed) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = 30})));
    transfer.pause();  // no connection yet: the write callback will refuse the first chunk

    ASSERT_TRUE(run_until(io, [&] { return sink.starts == 1; }));
    run_for(io, 100ms);  // the mock has sent everything by now
    EXPECT_EQ(sink.body_calls, 0);
    EXPECT_FALSE(sink.completed());

    transfer.resume();
    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));
    EXPECT_FALSE(sink.result) << sink.result.message();
    EXPECT_EQ(sink.tokens(), default_tokens(30));
}

TEST_F(CurlMultiTest, ResumeFromInsideAnotherTransfersCallbackIsDeferredAndDelivers) {
    MockUpstream mock;
    RecordingSink paused_sink;
    RecordingSink other_sink;
    Transfer paused_transfer(multi, paused_sink);
    Transfer other(multi, other_sink);
    bool paused_once = false;
    bool resumed = false;
    paused_sink.body_hook = [&](std::string_view) {
        EXPECT_FALSE(paused_transfer.paused()) << "on_body while paused";
        if (!paused_once) {
            paused_once = true;
            paused_transfer.pause();
            EXPECT_FALSE(other.start(request_to(mock.openai_url(), {.tokens = 20, .gap_ms = 2})));
        }
    };
    other_sink.body_hook = [&](std::string_view) {
        if (!resumed && other_sink.tokens().size() >= 3) {
            resumed = true;
            paused_transfer.resume();  // inside curl's write callback of another transfer
        }
    };
    ASSERT_FALSE(paused_transfer.start(request_to(mock.openai_url(), {.tokens = 20})));

    ASSERT_TRUE(run_until(io, [&] { return paused_sink.completed() && other_sink.completed(); }));
    EXPECT_TRUE(resumed);
    EXPECT_FALSE(paused_sink.result) << paused_sink.result.message();
    EXPECT_EQ(paused_sink.tokens(), default_tokens(20));
    EXPECT_EQ(other_sink.tokens(), default_tokens(20));
}

TEST_F(CurlMultiTest, RateLimitStatusAndRetryHeadersReachTheSinkBeforeTheBody) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    bool head_before_body = true;
    sink.body_hook = [&](std::string_view) { head_before_body = head_before_body && sink.starts == 1; };
    ASSERT_FALSE(transfer.start(
        request_to(mock.openai_url(), {.status = 429, .retry_after = "2", .retry_after_ms = "1500"})));

    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));

    EXPECT_FALSE(sink.result) << "an HTTP error status is not a transport error";
    EXPECT_EQ(sink.status, 429);
    EXPECT_TRUE(head_before_body);
    EXPECT_EQ(sink.headers.retry_after, "2");
    EXPECT_EQ(sink.headers.retry_after_ms, "1500");
    EXPECT_EQ(sink.headers.retry_delay(), std::chrono::milliseconds(1500));
    EXPECT_EQ(sink.headers.content_type, "application/json");
    const json error = json::parse(sink.body);
    EXPECT_EQ(error["error"]["code"], "rate_limit_exceeded");
}

TEST_F(CurlMultiTest, AnthropicOverloadedIs529WithItsErrorJson) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    ASSERT_FALSE(transfer.start(request_to(mock.anthropic_url(), {.status = 529})));

    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));

    EXPECT_EQ(sink.status, 529);
    const json error = json::parse(sink.body);
    EXPECT_EQ(error["type"], "error");
    EXPECT_EQ(error["error"]["type"], "overloaded_error");
    EXPECT_FALSE(sink.headers.retry_delay().has_value());
}

TEST_F(CurlMultiTest, ConnectionResetMidStreamSurfacesAnError) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = 10, .reset_after = 3})));

    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));

    EXPECT_TRUE(sink.result);
    EXPECT_EQ(sink.result.category(), curl_category());
    EXPECT_FALSE(is_connect_failure(sink.result)) << "the request had reached the server";
    EXPECT_EQ(sink.status, 200);
    EXPECT_EQ(sink.tokens(), default_tokens(3));
}

TEST_F(CurlMultiTest, RefusedConnectionIsAConnectFailure) {
    std::uint16_t closed_port = 0;
    {
        tcp_acceptor probe(io.get_executor(), {asio::ip::make_address("127.0.0.1"), 0});
        closed_port = probe.local_endpoint().port();
    }
    RecordingSink sink;
    Transfer transfer(multi, sink);
    TransferRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(closed_port) + "/v1/chat/completions";
    request.body = "{}";
    ASSERT_FALSE(transfer.start(std::move(request)));

    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));

    EXPECT_EQ(sink.result, make_error_code(CURLE_COULDNT_CONNECT)) << sink.result.message();
    EXPECT_TRUE(is_connect_failure(sink.result));
    EXPECT_EQ(sink.starts, 0);
}

TEST_F(CurlMultiTest, SequentialTransfersReuseTheConnection) {
    MockUpstream mock;
    for (int round = 0; round < 3; ++round) {
        RecordingSink sink;
        Transfer transfer(multi, sink);
        ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = 2})));
        ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));
        EXPECT_FALSE(sink.result);
    }
    EXPECT_EQ(mock.accepted_connections(), 1u);
    EXPECT_EQ(mock.request_count(), 3u);
}

TEST_F(CurlMultiTest, TransferStartedFromInsideAnotherTransfersCallbackRuns) {
    MockUpstream mock;
    RecordingSink first_sink;
    RecordingSink second_sink;
    Transfer first(multi, first_sink);
    Transfer second(multi, second_sink);
    first_sink.body_hook = [&](std::string_view) {
        if (!second.running() && !second_sink.completed()) {
            EXPECT_FALSE(second.start(request_to(mock.openai_url(), {.tokens = 4})));
        }
    };
    ASSERT_FALSE(first.start(request_to(mock.openai_url(), {.tokens = 4})));

    ASSERT_TRUE(run_until(io, [&] { return first_sink.completed() && second_sink.completed(); }));
    EXPECT_EQ(first_sink.tokens(), default_tokens(4));
    EXPECT_EQ(second_sink.tokens(), default_tokens(4));
}

TEST(CurlMultiLifetime, DestroyingTheMultiMidStreamEndsWithoutCallbacks) {
    asio::io_context io;
    MockUpstream mock;
    RecordingSink sink;
    auto multi = std::make_unique<CurlMulti>(io);
    Transfer transfer(*multi, sink);
    ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = 100, .stall_after = 2})));
    ASSERT_TRUE(run_until(io, [&] { return sink.tokens().size() == 2; }));
    const int callbacks = sink.callbacks();

    multi.reset();
    run_for(io, 50ms);  // handlers that were already queued must find nothing to do

    EXPECT_EQ(sink.callbacks(), callbacks);
    EXPECT_FALSE(transfer.running());
    transfer.cancel();  // harmless without a multi
    EXPECT_TRUE(mock.wait_for_open_connections_at_most(0, 10s));
}

// The mock's scripting, as the engine and gateway tests rely on it.

TEST_F(CurlMultiTest, MockFailsTheFirstRequestsOfAScriptThenSucceeds) {
    MockUpstream mock;
    const MockScript script{.id = "flaky", .tokens = 2, .retry_after_ms = "10", .fail_first = 2, .fail_status = 503};
    std::vector<int> statuses;
    for (int attempt = 0; attempt < 3; ++attempt) {
        RecordingSink sink;
        Transfer transfer(multi, sink);
        ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), script)));
        ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));
        statuses.push_back(sink.status);
        if (sink.status == 200) EXPECT_EQ(sink.tokens(), default_tokens(2));
        else EXPECT_EQ(sink.headers.retry_after_ms, "10");
    }
    EXPECT_EQ(statuses, (std::vector<int>{503, 503, 200}));
}

TEST_F(CurlMultiTest, MockDirectiveInTheUserMessageScriptsTheReply) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    TransferRequest request = request_to(mock.anthropic_url(), {}, "Say it [mock texts=Hel|lo|,|\xC3\xA9t\xC3\xA9 gap_ms=1]");
    request.headers.pop_back();  // no x-mock-script header: the directive alone decides
    ASSERT_FALSE(transfer.start(std::move(request)));

    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));
    EXPECT_EQ(sink.tokens(), (std::vector<std::string>{"Hel", "lo", ",", "\xC3\xA9t\xC3\xA9"}));
}

TEST_F(CurlMultiTest, MockSplitWritesArriveInSmallPieces) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = 5, .split = 3})));

    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));
    EXPECT_EQ(sink.tokens(), default_tokens(5));
    EXPECT_GT(sink.body_calls, 100) << "3-byte HTTP chunks reach the sink as separate pieces";
}

TEST_F(CurlMultiTest, MockStreamsToolCallsInBothFormats) {
    MockUpstream mock;
    const MockScript script{.tokens = 1, .tool = "get_weather", .args = R"({"city":"Paris","unit":"c"})"};
    for (const std::string& url : {mock.openai_url(), mock.anthropic_url()}) {
        RecordingSink sink;
        Transfer transfer(multi, sink);
        ASSERT_FALSE(transfer.start(request_to(url, script)));
        ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));
        const auto decoded = decode_mock_stream(sink.body);
        EXPECT_EQ(decoded.tool_name, "get_weather") << url;
        EXPECT_EQ(decoded.tool_arguments, R"({"city":"Paris","unit":"c"})") << url;
        EXPECT_TRUE(decoded.finish_reason == "tool_calls" || decoded.finish_reason == "tool_use") << url;
        EXPECT_TRUE(decoded.finished) << url;
    }
}

TEST_F(CurlMultiTest, MockEchoesAndLogsTheExactRequest) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    TransferRequest request = request_to(mock.openai_url(), {.echo = true});
    request.headers.emplace_back("authorization", "Bearer test-key");
    const std::string sent_body = request.body;
    ASSERT_FALSE(transfer.start(std::move(request)));

    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));
    EXPECT_EQ(sink.tokens(), std::vector<std::string>{sent_body});
    const auto requests = mock.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].method, "POST");
    EXPECT_EQ(requests[0].target, "/v1/chat/completions");
    EXPECT_EQ(requests[0].body, sent_body);
    EXPECT_EQ(requests[0].header("authorization"), "Bearer test-key");
    EXPECT_EQ(requests[0].header("content-type"), "application/json");
    EXPECT_EQ(requests[0].header("expect"), "") << "no 100-continue round trip";
}

TEST_F(CurlMultiTest, MockMalformedChunkIsDeliveredAsIs) {
    MockUpstream mock;
    RecordingSink sink;
    Transfer transfer(multi, sink);
    ASSERT_FALSE(transfer.start(request_to(mock.openai_url(), {.tokens = 4, .malformed_after = 2})));

    ASSERT_TRUE(run_until(io, [&] { return sink.completed(); }));
    const auto decoded = decode_mock_stream(sink.body);
    EXPECT_EQ(decoded.malformed_events, 1);
    EXPECT_EQ(decoded.tokens, default_tokens(4));
}

}  // namespace
}  // namespace voxgate::upstream
