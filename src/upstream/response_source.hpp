#pragma once
// The seam between a client session and the upstream engine: a session asks a
// ResponseSource for one streamed model response and observes it. The engine behind
// it handles providers, routes, retries, fallback, timeouts and the demo provider.
// Everything here runs on the calling session's shard thread.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "upstream/chat.hpp"

namespace voxgate::upstream {

enum class Outcome : std::uint8_t { completed, incomplete, failed, cancelled };

struct ResponseResult {
    Outcome outcome = Outcome::completed;
    FinishReason finish_reason = FinishReason::none;
    std::string error_type;     // e.g. "server_error", "rate_limit_error", "timeout"
    std::string error_code;     // stable machine code, e.g. "upstream_timeout"
    std::string error_message;  // for the client: generic human text, never a secret (upstream/public_error.hpp)
    // For the log only, never for a client: what actually went wrong (the provider's words,
    // transport detail), secrets redacted.
    std::string error_detail;
    std::string provider;       // provider that served (or last failed)
};

// Callbacks of one response, in order: any number of deltas/usage, then exactly one on_done.
// No callback arrives after on_done, nor after the handle is cancelled or destroyed.
class ResponseObserver : public StreamSink {
public:
    // First byte of the provider's 2xx response body (for gateway-overhead metrics).
    virtual void on_upstream_first_byte(std::string_view provider) { (void)provider; }
    // Called right before the first text or tool-call delta; `arrived_at` is when the
    // upstream bytes that carry it reached voxgate. The gateway-overhead metric runs from
    // here to the first delta written: first byte would also count the model's own wait
    // behind the preamble every provider sends first (role chunk, message_start).
    virtual void on_first_content(std::chrono::steady_clock::time_point arrived_at) { (void)arrived_at; }
    virtual void on_done(const ResponseResult& result) = 0;
};

class ResponseHandle {
public:
    virtual ~ResponseHandle() = default;  // destroying cancels, with no further callback
    virtual void cancel() = 0;            // stop now; no further callback
    virtual void pause() = 0;             // backpressure: stop reading the upstream
    virtual void resume() = 0;
};

class ResponseSource {
public:
    virtual ~ResponseSource() = default;
    // client_model: the model the client asked for (routes key); request.model may be
    // empty and is filled from the chosen provider's configured model.
    virtual std::unique_ptr<ResponseHandle> start(std::string_view client_model, ChatRequest request,
                                                  ResponseObserver& observer) = 0;
};

}  // namespace voxgate::upstream
