#include "session/realtime_session.hpp"

#include <cstdio>
#include <variant>

namespace voxgate::session {

namespace codes = protocol::codes;

RealtimeSession::RealtimeSession(ClientLink& link, const RealtimeContext& context, SessionParams params)
    : context_(context),
      wire_(link, *this),
      engine_(std::make_shared<SessionEngine>(wire_, context, std::move(params))),
      rate_limiter_(context.limits.max_events_per_second) {}

RealtimeSession::~RealtimeSession() {
    wire_.detach();
    engine_->client_gone();
}

void RealtimeSession::on_open() { engine_->open(); }

void RealtimeSession::on_closed() {
    wire_.detach();
    pending_events_.clear();
    engine_->client_gone();
}

bool RealtimeSession::admit_event(std::string_view message) {
    using Verdict = protocol::EventRateLimiter::Verdict;
    const Verdict verdict = rate_limiter_.on_event(context_.now());
    if (verdict == Verdict::allow) return true;
    // Echo the dropped event's id so the client knows which one was refused, but never
    // parse it: a refusal must cost the same for a 20-byte and a 256 KiB event.
    const std::string event_id = protocol::peek_event_id(message);
    // %g: "more than 5 events per second", not std::to_string's "5.000000".
    char limit[32];
    std::snprintf(limit, sizeof limit, "%g", context_.limits.max_events_per_second);
    engine_->reject(event_id, codes::rate_limit_exceeded,
                    std::string("more than ") + limit + " events per second; event dropped");
    if (verdict == Verdict::close) engine_->close(close_code_policy, "rate limit exceeded");
    return false;
}

void RealtimeSession::on_text(std::string_view message) {
    if (!engine_->serving() && !engine_->waiting()) return;  // not opened yet, or closed
    if (!admit_event(message)) return;
    if (engine_->waiting()) {
        if (pending_events_.size() >= max_pending_events)
            return engine_->close(close_code_policy, "too many events before session.created");
        pending_events_.emplace_back(message);
        return;
    }
    run(message);
}

void RealtimeSession::on_binary(std::string_view message) {
    if (!engine_->serving() && !engine_->waiting()) return;
    (void)message;  // never decoded: the protocol is JSON text only
    if (!admit_event({})) return;
    engine_->reject({}, codes::binary_not_supported,
                    "binary frames are not supported; send JSON events as text frames");
}

void RealtimeSession::run(std::string_view message) {
    auto decoded = protocol::decode_client_event(message);
    if (auto* error = std::get_if<protocol::ProtocolError>(&decoded)) return wire_.error(*error);
    engine_->handle(std::get<protocol::ClientEvent>(decoded));
}

// The engine is ready (session.created and what follows it are sent): the events the
// client sent while it waited run in order.
void RealtimeSession::run_pending() {
    auto pending = std::move(pending_events_);
    pending_events_ = {};
    for (const auto& message : pending) {
        if (!engine_->serving()) break;
        run(message);
    }
}

}  // namespace voxgate::session
