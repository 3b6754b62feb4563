#pragma once
// One HTTP request to a provider, streamed through a CurlMulti (docs/design.md "Upstream").
// A Transfer owns its easy handle, request body and header list, and hands the response
// to a TransferSink as it arrives: the response head (status before any body byte), body
// bytes as they stream, then exactly one completion. It knows nothing of SSE or of any
// provider; the upstream engine composes it with the provider codecs, and owns retries
// and the first-token / idle / total timeouts with its own timers.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "voxgate/net.hpp"

namespace voxgate::upstream {

class CurlMulti;
class TransferState;

// The head of the final (non-1xx) response. Field names are lower-cased.
struct ResponseHeaders {
    std::string content_type;
    std::string retry_after;     // raw: delay in seconds, or an HTTP-date
    std::string retry_after_ms;  // raw: delay in milliseconds (OpenAI/Anthropic extension)
    std::vector<std::pair<std::string, std::string>> fields;  // every field, in arrival order

    // First value of a field (name lower-case), empty if absent.
    std::string_view find(std::string_view name) const noexcept;
    // The server's requested delay: retry-after-ms first, then retry-after (seconds or
    // HTTP-date), as docs/wire-protocols.md 2.3 describes the SDKs doing. Not clamped: that is policy.
    std::optional<std::chrono::milliseconds> retry_delay() const;
};

// Receives one transfer's response. Every call happens on the CurlMulti's thread, and the
// views are valid only during the call. From inside any of these the sink may pause,
// resume, cancel or destroy its Transfer, and start or cancel others.
class TransferSink {
public:
    virtual ~TransferSink() = default;
    // Once, before any body byte. An HTTP error status (429, 5xx...) arrives here; its
    // error body then streams through on_body like any other body.
    virtual void on_response_start(int status, const ResponseHeaders& headers) = 0;
    // Body bytes in order, split anywhere. Never called while the transfer is paused.
    virtual void on_body(std::string_view bytes) = 0;
    // Exactly once at the end, unless cancelled first. `ec` is a transport failure (DNS,
    // connect, TLS, reset, truncated body); a complete HTTP error response is no failure.
    virtual void on_complete(error_code ec) = 0;
};

struct TransferRequest {
    std::string url;
    std::string method = "POST";  // "POST" (and other body methods) send `body`; "GET" does not
    std::string body;
    // Sent as given, e.g. {"content-type", "application/json"}, {"authorization", "Bearer ..."}.
    // Values may hold secrets: Transfer never logs them.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string ca_file;  // PEM bundle to trust instead of the system store; empty = system
    std::chrono::milliseconds connect_timeout{3000};
    std::size_t max_response_header_bytes = 64 * 1024;
};

class Transfer {
public:
    Transfer(CurlMulti& multi, TransferSink& sink);
    ~Transfer();  // cancels: no sink call after destruction begins
    Transfer(Transfer&& other) noexcept;
    Transfer& operator=(Transfer&& other) noexcept;
    Transfer(const Transfer&) = delete;
    Transfer& operator=(const Transfer&) = delete;

    // Starts the request; the sink hears of it from the next run of the io_context on.
    // A Transfer runs once. An error here (bad option, already started) means no sink call.
    error_code start(TransferRequest request);

    // Stops at once: the easy handle leaves the multi (right after the running curl call
    // returns, if called from inside a sink callback), the connection is closed unless
    // HTTP/2 can keep it, and the sink hears nothing more. Safe to call repeatedly.
    void cancel() noexcept;

    // Backpressure: no on_body while paused, and curl stops reading the socket, so the
    // server's sending is slowed by TCP flow control. Nothing is dropped.
    void pause();
    // Lifts pause(). Held-back bytes may be delivered to on_body before this returns
    // (or, when called from inside a sink callback, right after that callback's curl call).
    void resume();

    bool running() const noexcept;  // started, not completed, not cancelled
    bool paused() const noexcept;

    // curl's detailed text of the last failure, e.g. "SSL certificate problem: unable to
    // get local issuer certificate"; empty if none. Never contains request headers.
    std::string_view error_detail() const noexcept;
    // The negotiated HTTP version once the response started (CURL_HTTP_VERSION_1_1,
    // CURL_HTTP_VERSION_2_0, ...); 0 before.
    long http_version() const noexcept;

private:
    CurlMulti* multi_;
    TransferSink* sink_;
    std::shared_ptr<TransferState> state_;
};

}  // namespace voxgate::upstream
