#pragma once
// RealtimeSession: the OpenAI Realtime protocol (/v1/realtime, GA names, beta names accepted
// on input) over the session engine. A thin adapter: it rate-limits and decodes the
// client's JSON events (protocol::decode_client_event) into the engine's typed commands,
// holds them until the session is ready, and encodes the engine's events back as JSON
// frames (RealtimeWire). Everything a session does lives in SessionEngine.
//
// Created by the server for each /v1/realtime upgrade:
//
//     auto handler = std::make_shared<session::RealtimeSession>(
//         link, shard_context, session::SessionParams{query["model"], query["session_id"], key, peer});
//
// Close codes of its own: 1008 (rate limit persisted; too many events before
// session.created); the engine's (session_engine.hpp) besides.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/event_rate_limiter.hpp"
#include "session/client_link.hpp"
#include "session/realtime_wire.hpp"
#include "session/session_engine.hpp"

namespace voxgate::session {

class RealtimeSession final : public ClientHandler {
public:
    RealtimeSession(ClientLink& link, const RealtimeContext& context, SessionParams params);
    ~RealtimeSession() override;
    RealtimeSession(const RealtimeSession&) = delete;
    RealtimeSession& operator=(const RealtimeSession&) = delete;

    // ClientHandler
    void on_open() override;
    void on_text(std::string_view message) override;
    void on_binary(std::string_view message) override;
    void on_send_queue_high() override { engine_->pause_output(); }
    void on_send_queue_low() override { engine_->resume_output(); }
    void on_closed() override;
    std::string log_id() const override { return engine_->log_id(); }
    void on_shutdown() override { engine_->shut_down_gracefully(); }

    // "sess_..." once the conversation is ready; "" before.
    const std::string& session_id() const { return engine_->session_id(); }
    const std::shared_ptr<const auth::ClientKey>& key() const { return engine_->key(); }
    const asio::ip::address& peer_address() const { return engine_->peer_address(); }

    // Client events held while a resumed session waits for its previous connection to let go.
    static constexpr std::size_t max_pending_events = 32;

private:
    // The wire, told by the engine that the session is ready: the held events run.
    class Wire final : public RealtimeWire {
    public:
        Wire(ClientLink& link, RealtimeSession& session) : RealtimeWire(link), session_(session) {}
        void session_ready() override { session_.run_pending(); }

    private:
        RealtimeSession& session_;
    };

    bool admit_event(std::string_view message);  // rate limit; false = dropped (told)
    void run(std::string_view message);           // decode, then the engine
    void run_pending();

    const RealtimeContext& context_;
    Wire wire_;
    std::shared_ptr<SessionEngine> engine_;
    protocol::EventRateLimiter rate_limiter_;
    std::vector<std::string> pending_events_;
};

}  // namespace voxgate::session
