// The session store's bounds through the real server (issue 8, "Resume" and "Limits"):
// failed resumes per client address, and sessions.max_stored with detached conversations
// evicted first. Real loopback WebSockets against a Runtime with the demo provider.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "session/conversation.hpp"
#include "session/session_id.hpp"
#include "support/test_gateway.hpp"
#include "support/ws_client.hpp"

namespace voxgate::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// True once nobody owns the stored conversation `id` (its connection closed and let go).
bool detached(server::Runtime& runtime, const std::string& id) {
    bool owned = true;
    runtime.context().registry.with(*session::SessionId::parse(id),
                                    [&](session::Conversation& c) { owned = c.owner != nullptr; });
    return !owned;
}

std::string error_type(const HttpResult& result) {
    auto body = json::parse(result.body, nullptr, false);
    return body.is_object() ? body["error"].value("type", "") : "(not JSON: " + result.body + ")";
}

// Connects and reads session.created; returns the session id.
struct Session {
    explicit Session(std::uint16_t port, const std::string& query = "")
        : ws(WsClient::connect(port, {.target = "/v1/realtime" + query, .read_timeout = 30s})),
          created(ws->read_json()) {}
    std::string id() const { return created["session"].value("id", ""); }
    std::unique_ptr<WsClient> ws;
    json created;
};

TEST(SessionStore, FailedResumesPerAddressAreLimitedAndOtherClientsAreNot) {
    Config config = test_config();
    config.limits.max_failed_resumes_per_minute_per_ip = 3;
    TestGateway gateway(config);
    const std::string guessed = "?session_id=" + session::SessionId::random().str();

    for (int attempt = 0; attempt < 3; ++attempt) {
        Session guess(gateway.port(), guessed);
        EXPECT_NE(guess.id(), "");
        EXPECT_EQ(guess.ws->read_until("error")["error"]["code"], "session_not_found");
    }
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_sessions_resume_failed_total"), 3);

    // The fourth guess from this address is refused before the upgrade.
    auto refused = http_upgrade(gateway.port(), "/v1/realtime" + guessed);
    EXPECT_EQ(refused.status, 429);
    EXPECT_EQ(error_type(refused), "rate_limit_exceeded");
    EXPECT_NE(refused.body.find("max_failed_resumes_per_minute_per_ip"), std::string::npos) << refused.body;
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_sessions_resume_refused_total"), 1);

    // New sessions (no session_id) from the same address still open, and the store did not grow
    // from the refused attempt.
    Session fresh(gateway.port());
    EXPECT_TRUE(fresh.id().starts_with("sess_"));
    EXPECT_EQ(gateway.runtime().context().resume_failures->tracked(), 1u);
}

TEST(SessionStore, ResumeOfALiveSessionIsNotCountedAsAFailure) {
    Config config = test_config();
    config.limits.max_failed_resumes_per_minute_per_ip = 1;
    TestGateway gateway(config);
    auto first = std::make_unique<Session>(gateway.port());
    const std::string id = first->id();
    for (int i = 0; i < 3; ++i) {
        first->ws->close();
        first = std::make_unique<Session>(gateway.port(), "?session_id=" + id);
        EXPECT_EQ(first->id(), id);
    }
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_sessions_resume_failed_total"), 0);
}

TEST(SessionStore, MaxStoredEvictsTheOldestDetachedConversationFirst) {
    Config config = test_config();
    config.sessions.max_stored = 3;
    config.sessions.resume_ttl = 600s;
    TestGateway gateway(config);
    auto& registry = gateway.runtime().context().registry;

    std::vector<std::string> detached_ids;
    for (int i = 0; i < 2; ++i) {
        Session session(gateway.port());
        detached_ids.push_back(session.id());
        session.ws->close();
        // The sessions may live on different shards: wait for each detach, so that "oldest
        // detached" is the first one whatever the threads' timing.
        ASSERT_TRUE(eventually([&] { return detached(gateway.runtime(), detached_ids.back()); }));
    }
    Session live(gateway.port());
    // All three are stored; detached ones can be resumed until the store needs room.
    ASSERT_TRUE(eventually([&] { return registry.size() == 3; }));

    Session newest(gateway.port());  // the store is full: the oldest detached one makes room
    EXPECT_LE(registry.size(), 3u);
    EXPECT_GE(scrape_metric(gateway.port(), "voxgate_sessions_evicted_total"), 1);
    EXPECT_EQ(registry.find(*session::SessionId::parse(live.id())) != nullptr, true);
    EXPECT_EQ(registry.find(*session::SessionId::parse(newest.id())) != nullptr, true);
    // The oldest detached conversation is gone: resuming it now starts a new session.
    EXPECT_EQ(registry.find(*session::SessionId::parse(detached_ids[0])), nullptr);
}

TEST(SessionStore, MaxStoredLiveSessionsRefuseTheNextWith503AndOthersKeepWorking) {
    Config config = test_config();
    config.sessions.max_stored = 2;
    TestGateway gateway(config);
    Session one(gateway.port());
    Session two(gateway.port());

    auto refused = http_upgrade(gateway.port(), "/v1/realtime");
    EXPECT_EQ(refused.status, 503);
    EXPECT_EQ(error_type(refused), "session_store_full");
    EXPECT_EQ(scrape_metric(gateway.port(), "voxgate_sessions_store_full_total"), 1);

    // A live session is unaffected, and a resume (takeover) of a stored one needs no room.
    one.ws->send_text(R"({"type":"session.update","session":{"instructions":"still here"}})");
    EXPECT_EQ(one.ws->read_until("session.updated")["session"]["instructions"], "still here");
    Session takeover(gateway.port(), "?session_id=" + two.id());
    EXPECT_EQ(takeover.id(), two.id());

    // When a session's client leaves, its detached conversation makes room for the next one.
    const std::string one_id = one.id();
    one.ws->close();
    ASSERT_TRUE(eventually([&] { return detached(gateway.runtime(), one_id); }));
    Session three(gateway.port());
    EXPECT_TRUE(three.id().starts_with("sess_"));
}

}  // namespace
}  // namespace voxgate::test
