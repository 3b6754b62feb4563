// SessionRegistry: the sharded map of conversations. The concurrent test is the one
// the TSan build exists for.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "session/conversation.hpp"
#include "session/session_registry.hpp"

namespace voxgate::session {
namespace {

std::shared_ptr<Conversation> make_conversation(const SessionId& id) {
    auto conversation = std::make_shared<Conversation>();
    conversation->id = id;
    return conversation;
}

TEST(SessionId, RoundTripsThroughItsTextForm) {
    auto id = SessionId::random();
    auto text = id.str();
    EXPECT_EQ(text.size(), 5u + 32u);
    EXPECT_EQ(text.rfind("sess_", 0), 0u);
    auto parsed = SessionId::parse(text);
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, id);
}

TEST(SessionId, RejectsMalformedText) {
    EXPECT_FALSE(SessionId::parse("").has_value());
    EXPECT_FALSE(SessionId::parse("sess_123").has_value());
    EXPECT_FALSE(SessionId::parse("sess_" + std::string(32, 'G')).has_value());
    EXPECT_FALSE(SessionId::parse("abcd_" + std::string(32, 'a')).has_value());
    EXPECT_FALSE(SessionId::parse("sess_" + std::string(32, 'A')).has_value()) << "ids are lower-case";
}

TEST(SessionRegistry, InsertFindErase) {
    SessionRegistry registry(8);
    auto id = SessionId::random();
    auto conversation = make_conversation(id);
    EXPECT_TRUE(registry.insert(id, conversation));
    EXPECT_FALSE(registry.insert(id, make_conversation(id))) << "an existing entry is kept";
    EXPECT_EQ(registry.find(id), conversation);
    EXPECT_EQ(registry.size(), 1u);
    EXPECT_EQ(registry.erase(id), conversation);
    EXPECT_EQ(registry.find(id), nullptr);
    EXPECT_EQ(registry.erase(id), nullptr);
    EXPECT_EQ(registry.size(), 0u);
}

TEST(SessionRegistry, WithVisitsOnlyExistingEntries) {
    SessionRegistry registry;
    auto id = SessionId::random();
    bool visited = false;
    EXPECT_FALSE(registry.with(id, [&](Conversation&) { visited = true; }));
    EXPECT_FALSE(visited);
    registry.insert(id, make_conversation(id));
    EXPECT_TRUE(registry.with(id, [&](Conversation& c) { visited = c.id == id; }));
    EXPECT_TRUE(visited);
}

TEST(SessionRegistry, EraseIfRemovesOnlyMatchingEntries) {
    SessionRegistry registry(4);
    std::vector<SessionId> ids;
    for (int i = 0; i < 100; ++i) {
        ids.push_back(SessionId::random());
        auto conversation = make_conversation(ids.back());
        conversation->model = i % 2 ? "odd" : "even";
        registry.insert(ids.back(), conversation);
    }
    auto removed = registry.erase_if([](const Conversation& c) { return c.model == "odd"; });
    EXPECT_EQ(removed, 50u);
    EXPECT_EQ(registry.size(), 50u);
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(registry.find(ids[i]) != nullptr, i % 2 == 0);
    }
}

TEST(SessionRegistry, ConcurrentInsertFindEraseFromSeveralThreads) {
    SessionRegistry registry(16);
    constexpr int threads = 4;
    constexpr int per_thread = 5000;
    std::atomic<int> found{0};
    std::atomic<int> erased{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            std::vector<SessionId> mine;
            for (int i = 0; i < per_thread; ++i) {
                auto id = SessionId::random();
                ASSERT_TRUE(registry.insert(id, make_conversation(id)));
                mine.push_back(id);
                // Interleave look-ups, visits and erasures with the other threads' inserts.
                if (auto c = registry.find(mine[i / 2]); c && c->id == mine[i / 2]) ++found;
                registry.with(mine[i / 2], [](Conversation& c) { c.model = "touched"; });
                if (i % 3 == 0 && registry.erase(mine[i])) ++erased;
            }
            for (std::size_t i = 0; i < mine.size(); ++i) {
                if (i % 3 != 0) {
                    EXPECT_NE(registry.find(mine[i]), nullptr);
                }
            }
        });
    }
    for (auto& worker : workers) worker.join();
    EXPECT_EQ(erased.load(), threads * ((per_thread + 2) / 3));
    EXPECT_EQ(registry.size(), static_cast<std::size_t>(threads * per_thread - erased.load()));
    EXPECT_GT(found.load(), 0);
}

}  // namespace
}  // namespace voxgate::session
