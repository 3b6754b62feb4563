// SessionRegistry: the sharded map of conversations. The concurrent test is the one
// the TSan build exists for.
#include <gtest/gtest.h>

#include <array>
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

// sessions.max_stored: detached conversations go, oldest first; live ones never do.
TEST(SessionRegistry, MakeRoomEvictsTheOldestDetachedOnlyAndNeverALiveOne) {
    struct Owner final : ConversationOwner {
        void on_conversation_ready() override {}
        void on_conversation_taken() override {}
    } owner;
    asio::io_context io;
    SessionRegistry registry(4);
    const auto start = Clock::now();
    std::vector<SessionId> ids;
    for (int i = 0; i < 10; ++i) {
        ids.push_back(SessionId::random());
        auto conversation = make_conversation(ids.back());
        if (i % 2 == 0) {
            // Even ones are live (owned); odd ones detached, later ones more recently.
            conversation->owner = std::make_shared<Ownership>(io.get_executor(), owner, registry, ids.back(), false);
        }
        conversation->detached_at = start + std::chrono::seconds(i);
        registry.insert(ids.back(), conversation);
    }
    EXPECT_EQ(registry.make_room(11), 0u) << "below the cap nothing goes";
    EXPECT_EQ(registry.make_room(10), 1u);
    EXPECT_EQ(registry.size(), 9u);
    EXPECT_EQ(registry.find(ids[1]), nullptr) << "the oldest detached one";
    EXPECT_NE(registry.find(ids[0]), nullptr) << "older, but live";
    EXPECT_EQ(registry.make_room(3), 4u) << "all detached go; the live ones stay even over the cap";
    EXPECT_EQ(registry.size(), 5u);
    for (int i = 0; i < 10; i += 2) EXPECT_NE(registry.find(ids[i]), nullptr);
}

TEST(SessionRegistry, ConcurrentInsertFindEraseFromSeveralThreads) {
    SessionRegistry registry(16);
    constexpr int threads = 4;
    constexpr int per_thread = 5000;
    std::atomic<int> found{0};
    std::atomic<int> live_lookups{0};
    std::atomic<int> erased{0};
    std::vector<std::thread> workers;
    // Every id i with i % 3 == 0 is erased right after its insert; all others stay.
    auto stays = [](int i) { return i % 3 != 0; };
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            std::vector<SessionId> mine;
            for (int i = 0; i < per_thread; ++i) {
                auto id = SessionId::random();
                ASSERT_TRUE(registry.insert(id, make_conversation(id)));
                mine.push_back(id);
                // Interleave look-ups, visits and erasures with the other threads' inserts.
                const int older = i / 2;
                if (stays(older)) {
                    ++live_lookups;
                    if (auto c = registry.find(mine[older]); c && c->id == mine[older]) ++found;
                    EXPECT_TRUE(registry.with(mine[older], [](Conversation& c) { c.model = "touched"; }));
                }
                if (!stays(i) && registry.erase(mine[i])) ++erased;
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
    EXPECT_GT(live_lookups.load(), 0);
    EXPECT_EQ(found.load(), live_lookups.load()) << "every lookup of a live id must find it";
}

TEST(SessionId, RandomIdsVaryInEveryBit) {
    // 256 draws from a CSPRNG: each of the 128 bits is 0 in some and 1 in others (a stuck
    // bit has probability 2^-255 per bit). A counter or a short seed would leave most high
    // bits constant.
    std::array<std::uint8_t, 16> any_one{}, all_one;
    all_one.fill(0xff);
    std::set<std::array<std::uint8_t, 16>> seen;
    for (int draw = 0; draw < 256; ++draw) {
        auto id = SessionId::random();
        EXPECT_TRUE(seen.insert(id.bytes).second);
        for (std::size_t i = 0; i < 16; ++i) {
            any_one[i] |= id.bytes[i];
            all_one[i] &= id.bytes[i];
        }
    }
    for (std::size_t i = 0; i < 16; ++i) {
        EXPECT_EQ(any_one[i], 0xff) << "byte " << i;
        EXPECT_EQ(all_one[i], 0x00) << "byte " << i;
    }
}

}  // namespace
}  // namespace voxgate::session
