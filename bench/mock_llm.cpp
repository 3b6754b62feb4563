// The benchmark suite's upstream: a lean OpenAI-compatible streaming endpoint that every
// gateway under test (voxgate, the Python and Go peers) and the load generator's direct
// mode call, so all of them see the same model.
//
//   bench_mock_llm [--listen 127.0.0.1:9200] [--tokens 50] [--first-ms 20] [--gap-ms 10]
//                  [--threads 1] [--cert FILE --key FILE]
//
// Any POST answers with Chat Completions SSE (HTTP/1.1, chunked, keep-alive): `tokens`
// content deltas, the first `first-ms` after the request arrived, then one every `gap-ms`
// on a fixed schedule, then a finish chunk and `data: [DONE]`. Each delta's text is
// " s<microseconds>": CLOCK_MONOTONIC when the chunk was handed to the kernel, so a client on
// this machine computes what everything between the mock and itself added as
// (time received - stamp), exactly, with no clock skew.
//
// Unlike tests/support's MockUpstream (scriptable, logs every request, nlohmann per event),
// this one is built to stay out of the measurement: preformatted chunks, one write per
// token, no per-request logging. With --cert/--key it speaks TLS (ALPN offers only
// http/1.1); HTTP/2 is not implemented.
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    unsigned short port = 9200;
    int tokens = 50;
    int first_ms = 20;
    int gap_ms = 10;
    int threads = 1;
    std::string cert;
    std::string key;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "bench_mock_llm: %s\nusage: bench_mock_llm [--listen HOST:PORT] [--tokens N] [--first-ms N] "
                 "[--gap-ms N] [--threads N] [--cert FILE --key FILE]\n",
                 why);
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (i + 1 >= argc) usage("every flag takes a value");
        std::string value = argv[++i];
        auto number = [&] {
            int n = 0;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc() || end != value.data() + value.size() || n < 0) usage("bad number");
            return n;
        };
        if (flag == "--listen") {
            auto colon = value.rfind(':');
            if (colon == std::string::npos) usage("--listen takes HOST:PORT");
            options.host = value.substr(0, colon);
            options.port = static_cast<unsigned short>(std::atoi(value.c_str() + colon + 1));
        } else if (flag == "--tokens") options.tokens = number();
        else if (flag == "--first-ms") options.first_ms = number();
        else if (flag == "--gap-ms") options.gap_ms = number();
        else if (flag == "--threads") options.threads = std::max(1, number());
        else if (flag == "--cert") options.cert = value;
        else if (flag == "--key") options.key = value;
        else usage("unknown flag");
    }
    if (options.cert.empty() != options.key.empty()) usage("--cert and --key go together");
    return options;
}

constexpr std::string_view response_head =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";
constexpr std::string_view delta_prefix =
    R"(data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"bench","choices":[{"index":0,"delta":{"content":" s)";
constexpr std::string_view delta_suffix = R"("},"finish_reason":null}]})"
                                          "\n\n";
constexpr std::string_view finish_event =
    R"(data: {"id":"c","object":"chat.completion.chunk","created":0,"model":"bench","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})"
    "\n\ndata: [DONE]\n\n";

// One HTTP chunk ("<hex size>\r\n<pieces...>\r\n") in `out`, reusing its capacity.
void frame_chunk(std::string& out, std::initializer_list<std::string_view> pieces) {
    std::size_t total = 0;
    for (auto piece : pieces) total += piece.size();
    char size[16];
    auto [end, ec] = std::to_chars(size, size + sizeof size, total, 16);
    (void)ec;
    out.assign(size, end).append("\r\n");
    for (auto piece : pieces) out.append(piece);
    out.append("\r\n");
}

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

template <class Stream>
asio::awaitable<void> serve(Stream stream, const Options& options) {
    boost::beast::flat_buffer buffer;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    std::string chunk;
    chunk.reserve(300);
    for (;;) {
        http::request<http::string_body> request;
        boost::system::error_code ec;
        co_await http::async_read(stream, buffer, request, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        auto start = Clock::now();
        if (request.method() != http::verb::post) {
            static constexpr std::string_view not_found =
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
            co_await asio::async_write(stream, asio::buffer(not_found), asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return;
            continue;
        }
        co_await asio::async_write(stream, asio::buffer(response_head), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        for (int i = 0; i < options.tokens; ++i) {
            timer.expires_at(start + std::chrono::milliseconds(options.first_ms + i * options.gap_ms));
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            char stamp[24];
            auto [end, to_ec] = std::to_chars(stamp, stamp + sizeof stamp, now_us());
            (void)to_ec;
            frame_chunk(chunk, {delta_prefix, std::string_view(stamp, static_cast<std::size_t>(end - stamp)), delta_suffix});
            co_await asio::async_write(stream, asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return;
        }
        frame_chunk(chunk, {finish_event});
        chunk.append("0\r\n\r\n");
        co_await asio::async_write(stream, asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
        if (ec || !request.keep_alive()) co_return;
    }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, asio::ssl::context* tls, const Options& options,
                                  std::vector<std::unique_ptr<asio::io_context>>& contexts) {
    std::size_t next = 0;
    for (;;) {
        auto& io = *contexts[next++ % contexts.size()];
        boost::system::error_code ec;
        tcp::socket socket = co_await acceptor.async_accept(io, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            continue;  // EMFILE and the like: keep serving the connections already open
        }
        socket.set_option(tcp::no_delay(true), ec);
        if (!tls) {
            asio::co_spawn(io, serve(std::move(socket), options), asio::detached);
            continue;
        }
        asio::co_spawn(
            io,
            [](tcp::socket socket, asio::ssl::context& tls, const Options& options) -> asio::awaitable<void> {
                asio::ssl::stream<tcp::socket> stream(std::move(socket), tls);
                boost::system::error_code ec;
                co_await stream.async_handshake(asio::ssl::stream_base::server,
                                                asio::redirect_error(asio::use_awaitable, ec));
                if (!ec) co_await serve(std::move(stream), options);
            }(std::move(socket), *tls, options),
            asio::detached);
    }
}

// ALPN: only http/1.1, so clients that offer h2 fall back to HTTP/1.1.
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                  void*) {
    static const unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, outlen, http11, sizeof http11, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

}  // namespace

int main(int argc, char** argv) {
    auto options = parse(argc, argv);
    std::vector<std::unique_ptr<asio::io_context>> contexts;
    for (int i = 0; i < options.threads; ++i) contexts.push_back(std::make_unique<asio::io_context>(1));
    auto& main_io = *contexts[0];

    std::unique_ptr<asio::ssl::context> tls;
    if (!options.cert.empty()) {
        tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
        tls->use_certificate_chain_file(options.cert);
        tls->use_private_key_file(options.key, asio::ssl::context::pem);
        SSL_CTX_set_alpn_select_cb(tls->native_handle(), select_http11, nullptr);
    }

    tcp::acceptor acceptor(main_io);
    tcp::endpoint endpoint(asio::ip::make_address(options.host), options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(4096);
    asio::co_spawn(main_io, accept_loop(acceptor, tls.get(), options, contexts), asio::detached);

    asio::signal_set signals(main_io, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) {
        for (auto& io : contexts) io->stop();
    });
    std::printf("listening on %s:%u (%s)\n", options.host.c_str(), acceptor.local_endpoint().port(),
                tls ? "https" : "http");
    std::fflush(stdout);

    std::vector<std::thread> threads;
    for (int i = 1; i < options.threads; ++i) threads.emplace_back([&io = *contexts[i]] {
        auto work = asio::make_work_guard(io);
        io.run();
    });
    main_io.run();
    for (auto& io : contexts) io->stop();
    for (auto& thread : threads) thread.join();
}
