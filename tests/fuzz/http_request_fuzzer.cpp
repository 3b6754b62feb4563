// The HTTP path of the main port on arbitrary bytes: Beast's request parser with the
// gateway's header and body limits, then what HttpSession::on_read does with the result:
// a parse error becomes a JSON error response, a WebSocket upgrade at /v1/realtime has
// its query string decoded, any other request goes through the real route handler
// (handle_http_request) of a real, never started, GatewayContext and Shard. Every
// response must serialize and carry a valid UTF-8 body, whatever the request target,
// headers and query string held.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "fuzz_support.hpp"
#include "metrics/collector.hpp"
#include "server/gateway_context.hpp"
#include "server/http_routes.hpp"
#include "server/metrics_service.hpp"
#include "server/shard.hpp"

namespace {

using namespace voxgate;
using namespace voxgate::server;

// One gateway for the whole run, as a shard sees it before its thread starts.
struct Gateway {
    GatewayContext context;
    std::unique_ptr<Shard> shard;
    std::unique_ptr<MetricsService> metrics;  // never started: scrape_here() collects in place

    Gateway() {
        shard = std::make_unique<Shard>(0, context);
        context.collector = std::make_unique<metrics::Collector>(std::vector<const metrics::ShardMetrics*>{&shard->metrics()},
                                                                 std::vector<std::string>{}, [] { return std::size_t{0}; });
        metrics = std::make_unique<MetricsService>([this] { return context.collector->scrape(); }, context.config.metrics);
        context.metrics_service = metrics.get();
    }
};

void check_response(HttpResponse& response) {
    std::ostringstream wire;
    wire << response;
    VOXGATE_FUZZ_CHECK(!wire.str().empty(), "a response that does not serialize");
    VOXGATE_FUZZ_CHECK(voxgate::fuzz::is_valid_utf8(response.body()), response.body());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Gateway gateway;
    const auto& limits = gateway.context.config.limits;
    // The draining flag changes /readyz: let the input decide it.
    gateway.context.draining.store(size % 2 == 1, std::memory_order_relaxed);

    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_http_header_bytes));
    parser.body_limit(limits.max_http_body_bytes);
    // Bytes arrive in pieces over TCP: feed them as the socket would, then say EOF.
    boost::beast::error_code ec;
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    // put() consumes what it can; the unconsumed tail is offered again with the next chunk.
    std::string buffered;
    voxgate::fuzz::for_each_chunk(rest, [&](std::string_view chunk) {
        buffered.append(chunk);
        const std::size_t used = parser.put(boost::asio::buffer(buffered), ec);
        buffered.erase(0, used);
        if (ec == http::error::need_more) ec = {};
        return !ec && !parser.is_done() && !(parser.is_header_done() && parser.chunked());
    });
    if (!ec && parser.is_header_done() && parser.chunked()) {
        // HttpSession::on_header refuses a chunked body before parsing any chunk.
        auto response = error_response(http::status::length_required, "invalid_request",
                                       "chunked request bodies are not accepted: send Content-Length", 11, false);
        check_response(response);
        return 0;
    }
    if (!ec && !parser.is_done()) {
        // EOF before any byte is a peer that went away (Beast's read says end_of_stream).
        if (!parser.got_some()) return 0;
        parser.put_eof(ec);
    }

    if (ec) {
        const auto status = ec == http::error::header_limit ? http::status::request_header_fields_too_large
                            : ec == http::error::body_limit ? http::status::payload_too_large
                                                            : http::status::bad_request;
        auto response = error_response(status, "invalid_request", ec.message(), 11, false);
        check_response(response);
        return 0;
    }
    if (!parser.is_done()) return 0;  // a partial request: the session would wait for more

    const HttpRequest& request = parser.get();
    const auto path = target_path(request.target());
    (void)classify_path(path);
    if (boost::beast::websocket::is_upgrade(request)) {
        if (path == realtime_path && path.size() < request.target().size()) {
            for (const auto& [key, value] : parse_query(request.target().substr(path.size() + 1))) {
                (void)key;
                (void)value;
            }
        }
        return 0;
    }
    auto response = handle_http_request(request, *gateway.shard);
    if (!response) {  // an authorized scrape: HttpSession collects on the metrics thread
        auto text = gateway.metrics->scrape_here();
        VOXGATE_FUZZ_CHECK(text.has_value(), "the scrape threw");
        response = metrics_response(request, std::move(*text));
    }
    check_response(*response);
    return 0;
}
