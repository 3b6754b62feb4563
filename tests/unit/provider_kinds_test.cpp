// The provider-kind registry: every kind is found by its config name, says whether it calls
// HTTP or replies in-process, and owns its keys alone.
#include "upstream/provider_kinds.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string_view>

namespace voxgate::upstream {
namespace {

TEST(ProviderKinds, EachKindIsFoundByNameWithItsWayOfReplying) {
    ASSERT_NE(find_provider_kind("openai"), nullptr);
    EXPECT_NE(find_provider_kind("openai")->make_codec(), nullptr);
    EXPECT_EQ(find_provider_kind("openai")->make_local_reply, nullptr);
    ASSERT_NE(find_provider_kind("anthropic"), nullptr);
    EXPECT_TRUE(find_provider_kind("anthropic")->calls_http());
    EXPECT_EQ(find_provider_kind("anthropic")->make_local_reply, nullptr);
    const ProviderKind* demo = find_provider_kind("demo");
    ASSERT_EQ(demo, &demo_kind);
    EXPECT_FALSE(demo->calls_http());
    EXPECT_NE(demo->make_local_reply, nullptr);
    EXPECT_EQ(find_provider_kind(""), nullptr);
    EXPECT_EQ(find_provider_kind("Demo"), nullptr);
    EXPECT_EQ(provider_kind_names(), "openai, anthropic, demo");
}

TEST(ProviderKinds, NoKeyIsOwnedByTwoKinds) {
    std::set<std::string_view> seen;
    for (const ProviderKind* kind : provider_kinds())
        for (std::string_view key : kind->own_keys) EXPECT_TRUE(seen.insert(key).second) << key;
}

TEST(ProviderKinds, TheDemoKindRepliesInProcessAtItsConfiguredPace) {
    ProviderConfig config;
    config.kind = "demo";
    config.options = DemoOptions{10, std::chrono::milliseconds(50)};  // one token per 100 ms after 50 ms
    ChatRequest request;
    ChatMessage question;
    question.text = "hello there";
    request.messages.push_back(question);
    const auto start = LocalReply::Clock::now();
    auto reply = demo_kind.make_local_reply(request, config, start);
    ASSERT_NE(reply, nullptr);
    EXPECT_EQ(reply->next_due(), start + std::chrono::milliseconds(50));
    EXPECT_FALSE(reply->take_due(start + std::chrono::milliseconds(49)));
    const auto first = reply->take_due(start + std::chrono::milliseconds(50));
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->empty());
    EXPECT_EQ(reply->next_due(), start + std::chrono::milliseconds(150));
    EXPECT_TRUE(answers_locally(config));
    config.kind = "openai";
    EXPECT_FALSE(answers_locally(config));
}

}  // namespace
}  // namespace voxgate::upstream
