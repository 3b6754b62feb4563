// The benchmark suite's upstream: a lean OpenAI-compatible streaming endpoint that every
// gateway under test (voxgate, the Python and Go peers) and the load generator's direct
// mode call, so all of them see the same model; for the spoken scenarios also the
// speech-to-text and text-to-speech endpoints voxgate's `openai` kinds call.
//
//   bench_mock_llm [--listen 127.0.0.1:9200] [--tokens 50] [--first-ms 20] [--gap-ms 10]
//                  [--sentence-tokens 0] [--stt-ms 100] [--transcript TEXT]
//                  [--tts-first-ms 50] [--tts-ms-per-char 10] [--tts-rtf 0.25]
//                  [--tts-chunk-ms 20] [--threads 1] [--cert FILE --key FILE]
//
// Any other POST answers with Chat Completions SSE (HTTP/1.1, chunked, keep-alive): `tokens`
// content deltas, the first `first-ms` after the request arrived, then one every `gap-ms`
// on a fixed schedule, then a finish chunk and `data: [DONE]`. Each delta's text is
// " s<microseconds>": CLOCK_MONOTONIC when the chunk was handed to the kernel, so a client on
// this machine computes what everything between the mock and itself added as
// (time received - stamp), exactly, with no clock skew. With --sentence-tokens N every Nth
// delta ends in ".\n", so a gateway that speaks its replies sentence by sentence can cut the
// first sentence at delta N without waiting for the next one.
//
// POST .../audio/transcriptions (the body, a multipart WAV, is read whole and ignored)
// answers {"text": TRANSCRIPT} `stt-ms` after the request was read.
// POST .../audio/speech ({"input": TEXT, ...}) streams PCM16 mono 24 kHz: a 200 Hz tone,
// `tts-ms-per-char` milliseconds of audio per byte of TEXT, the first `tts-chunk-ms` chunk
// `tts-first-ms` after the request was read, the next ones on a fixed schedule of
// tts-chunk-ms x tts-rtf (rtf 0.25: four times faster than real time).
//
// Unlike tests/support's MockUpstream (scriptable, logs every request, nlohmann per event),
// this one is built to stay out of the measurement: preformatted chunks, one write per
// token, no per-request logging. With --cert/--key it speaks TLS (ALPN offers only
// http/1.1); HTTP/2 is not implemented.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
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
#include <nlohmann/json.hpp>

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
    int sentence_tokens = 0;  // 0: no sentence ends
    int stt_ms = 100;
    std::string transcript = "What is the weather like today?";
    int tts_first_ms = 50;
    int tts_ms_per_char = 10;
    double tts_rtf = 0.25;
    int tts_chunk_ms = 20;
    int threads = 1;
    std::string cert;
    std::string key;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "bench_mock_llm: %s\nusage: bench_mock_llm [--listen HOST:PORT] [--tokens N] [--first-ms N] "
                 "[--gap-ms N] [--sentence-tokens N] [--stt-ms N] [--transcript TEXT] [--tts-first-ms N] "
                 "[--tts-ms-per-char N] [--tts-rtf X] [--tts-chunk-ms N] [--threads N] [--cert FILE --key FILE]\n",
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
        else if (flag == "--sentence-tokens") options.sentence_tokens = number();
        else if (flag == "--stt-ms") options.stt_ms = number();
        else if (flag == "--transcript") options.transcript = value;
        else if (flag == "--tts-first-ms") options.tts_first_ms = number();
        else if (flag == "--tts-ms-per-char") options.tts_ms_per_char = number();
        else if (flag == "--tts-rtf") {
            char* end = nullptr;
            options.tts_rtf = std::strtod(value.c_str(), &end);
            if (end != value.c_str() + value.size() || !(options.tts_rtf > 0 && options.tts_rtf <= 10))
                usage("--tts-rtf takes a number in (0, 10]");
        } else if (flag == "--tts-chunk-ms") {
            options.tts_chunk_ms = number();
            // Whole periods of the 200 Hz tone (5 ms), so consecutive chunks join without a click.
            if (options.tts_chunk_ms < 5 || options.tts_chunk_ms % 5 != 0) usage("--tts-chunk-ms takes a multiple of 5");
        }
        else if (flag == "--threads") options.threads = std::max(1, number());
        else if (flag == "--cert") options.cert = value;
        else if (flag == "--key") options.key = value;
        else usage("unknown flag");
    }
    if (options.cert.empty() != options.key.empty()) usage("--cert and --key go together");
    return options;
}

constexpr int speech_rate = 24000;  // OpenAI's pcm: PCM16 mono 24 kHz

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

// What the mock answers besides the chat stream, made once at start-up.
struct Prepared {
    std::string transcription_response;  // the whole HTTP response
    std::string bad_speech_request;      // the whole HTTP response
    std::string tone_chunk;              // tts-chunk-ms of the 200 Hz tone, PCM16 little-endian
};

Prepared prepare(const Options& options) {
    Prepared prepared;
    const std::string body = nlohmann::json{{"text", options.transcript}}.dump();
    prepared.transcription_response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                                      std::to_string(body.size()) + "\r\n\r\n" + body;
    const std::string error = R"({"error":{"message":"expected a JSON object with a string input"}})";
    prepared.bad_speech_request = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
                                  std::to_string(error.size()) + "\r\n\r\n" + error;
    const int samples = options.tts_chunk_ms * speech_rate / 1000;
    prepared.tone_chunk.resize(static_cast<std::size_t>(samples) * 2);
    for (int i = 0; i < samples; ++i) {
        const auto sample = static_cast<std::int16_t>(8000 * std::sin(2 * M_PI * 200 * i / speech_rate));
        const auto bits = static_cast<std::uint16_t>(sample);
        prepared.tone_chunk[2 * i] = static_cast<char>(bits & 0xff);
        prepared.tone_chunk[2 * i + 1] = static_cast<char>(bits >> 8);
    }
    return prepared;
}

constexpr std::string_view speech_head =
    "HTTP/1.1 200 OK\r\nContent-Type: audio/pcm\r\nTransfer-Encoding: chunked\r\n\r\n";

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// /audio/speech: the tone, as long as the input text asks for, paced from `start`.
template <class Stream>
asio::awaitable<bool> speak(Stream& stream, const std::string& body, Clock::time_point start, const Options& options,
                            const Prepared& prepared, asio::steady_timer& timer, std::string& chunk) {
    boost::system::error_code ec;
    auto request = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    const nlohmann::json* input = nullptr;
    if (request.is_object() && request.contains("input") && request["input"].is_string()) input = &request["input"];
    if (!input) {
        co_await asio::async_write(stream, asio::buffer(prepared.bad_speech_request), asio::redirect_error(asio::use_awaitable, ec));
        co_return !ec;
    }
    const std::size_t total_bytes =
        input->get_ref<const std::string&>().size() * static_cast<std::size_t>(options.tts_ms_per_char) * speech_rate / 1000 * 2;
    const auto chunk_interval = std::chrono::microseconds(static_cast<std::int64_t>(options.tts_chunk_ms * 1000 * options.tts_rtf));
    const auto first_at = start + std::chrono::milliseconds(options.tts_first_ms);
    std::size_t sent = 0;
    for (int i = 0; sent < total_bytes; ++i) {
        timer.expires_at(first_at + chunk_interval * i);
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        const std::size_t bytes = std::min(prepared.tone_chunk.size(), total_bytes - sent);
        frame_chunk(chunk, {std::string_view(prepared.tone_chunk).substr(0, bytes)});
        if (i == 0) chunk.insert(0, speech_head);
        sent += bytes;
        if (sent == total_bytes) chunk.append("0\r\n\r\n");
        co_await asio::async_write(stream, asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return false;
    }
    if (total_bytes == 0) {  // an empty input: an empty body
        chunk.assign(speech_head).append("0\r\n\r\n");
        co_await asio::async_write(stream, asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return !ec;
}

template <class Stream>
asio::awaitable<void> serve(Stream stream, const Options& options, const Prepared& prepared) {
    boost::beast::flat_buffer buffer;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    std::string chunk;
    chunk.reserve(300);
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);  // a transcription upload: minutes of WAV
        boost::system::error_code ec;
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        auto& request = parser.get();
        auto start = Clock::now();
        if (request.method() != http::verb::post) {
            static constexpr std::string_view not_found =
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
            co_await asio::async_write(stream, asio::buffer(not_found), asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return;
            continue;
        }
        const std::string_view target = request.target();
        if (ends_with(target, "/audio/transcriptions")) {
            timer.expires_at(start + std::chrono::milliseconds(options.stt_ms));
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            co_await asio::async_write(stream, asio::buffer(prepared.transcription_response),
                                       asio::redirect_error(asio::use_awaitable, ec));
            if (ec || !request.keep_alive()) co_return;
            continue;
        }
        if (ends_with(target, "/audio/speech")) {
            if (!co_await speak(stream, request.body(), start, options, prepared, timer, chunk) || !request.keep_alive())
                co_return;
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
            const bool sentence_ends = options.sentence_tokens > 0 && (i + 1) % options.sentence_tokens == 0;
            frame_chunk(chunk, {delta_prefix, std::string_view(stamp, static_cast<std::size_t>(end - stamp)),
                                sentence_ends ? std::string_view(R"(.\n)") : std::string_view(), delta_suffix});
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
                                  const Prepared& prepared,
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
            asio::co_spawn(io, serve(std::move(socket), options, prepared), asio::detached);
            continue;
        }
        asio::co_spawn(
            io,
            [](tcp::socket socket, asio::ssl::context& tls, const Options& options,
               const Prepared& prepared) -> asio::awaitable<void> {
                asio::ssl::stream<tcp::socket> stream(std::move(socket), tls);
                boost::system::error_code ec;
                co_await stream.async_handshake(asio::ssl::stream_base::server,
                                                asio::redirect_error(asio::use_awaitable, ec));
                if (!ec) co_await serve(std::move(stream), options, prepared);
            }(std::move(socket), *tls, options, prepared),
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
    const Prepared prepared = prepare(options);
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
    asio::co_spawn(main_io, accept_loop(acceptor, tls.get(), options, prepared, contexts), asio::detached);

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
