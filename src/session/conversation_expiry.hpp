#pragma once
// Frees conversations nobody resumed within sessions.resume_ttl: one timer sweeps the
// whole SessionRegistry once a second (run by one shard for the process).
#include <chrono>

#include "session/session_registry.hpp"
#include "voxgate/net.hpp"

namespace voxgate::session {

class ConversationExpiry {
public:
    ConversationExpiry(asio::io_context& ioc, SessionRegistry& registry, std::chrono::seconds ttl);
    void start();
    void stop();

private:
    void arm();

    steady_timer timer_;
    SessionRegistry& registry_;
    std::chrono::seconds ttl_;
    bool stopped_ = false;
};

}  // namespace voxgate::session
