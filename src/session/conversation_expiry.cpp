#include "session/conversation_expiry.hpp"

#include "session/conversation.hpp"

namespace voxgate::session {

ConversationExpiry::ConversationExpiry(asio::io_context& ioc, SessionRegistry& registry, std::chrono::seconds ttl)
    : timer_(ioc.get_executor()), registry_(registry), ttl_(ttl) {}

void ConversationExpiry::start() {
    stopped_ = false;
    arm();
}

void ConversationExpiry::stop() {
    stopped_ = true;
    timer_.cancel();
}

void ConversationExpiry::arm() {
    if (stopped_) return;
    timer_.expires_after(std::chrono::seconds(1));
    timer_.async_wait([this](error_code ec) {
        if (ec || stopped_) return;
        auto now = Clock::now();
        registry_.erase_if([&](const Conversation& conversation) { return expired(conversation, now, ttl_); });
        arm();
    });
}

}  // namespace voxgate::session
