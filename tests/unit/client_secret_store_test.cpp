// ClientSecretStore without sockets: issue, find, consume, expiry and the bound, with the
// clock given by the test.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "auth/client_secret_store.hpp"
#include "console/console_page.hpp"

namespace voxgate::auth {
namespace {

using namespace std::chrono_literals;
using Store = ClientSecretStore;
const Store::Clock::time_point t0 = Store::Clock::time_point(std::chrono::seconds(1'800'000'000));

SecretGrant grant_for(std::string key_name) {
    return {std::move(key_name), "gpt-4o-mini",
            std::make_shared<const protocol::SessionSettings>(protocol::SessionSettings::from_config({}))};
}

TEST(ClientSecretStore, IssuesRandomSecretsThatFindTheirGrant) {
    Store store(10);
    auto a = store.issue(grant_for("team-a"), 60s, t0);
    auto b = store.issue(grant_for("team-b"), 60s, t0);
    ASSERT_TRUE(a && b);
    EXPECT_TRUE(a->value.starts_with("ek_"));
    EXPECT_EQ(a->value.size(), 67u);
    EXPECT_NE(a->value, b->value);
    EXPECT_EQ(a->expires_at, t0 + 60s);
    auto found = store.find(a->value, t0 + 1s);
    EXPECT_EQ(found.state, Store::State::valid);
    ASSERT_TRUE(found.grant);
    EXPECT_EQ(found.grant->key_name, "team-a");
    EXPECT_EQ(store.find(b->value, t0).grant->key_name, "team-b");
}

TEST(ClientSecretStore, UnknownSecretsAndPrefixesAreNotFound) {
    Store store(10);
    auto a = store.issue(grant_for("team-a"), 60s, t0);
    EXPECT_EQ(store.find("ek_" + std::string(64, '0'), t0).state, Store::State::unknown);
    EXPECT_EQ(store.find(a->value.substr(0, 66), t0).state, Store::State::unknown);
    EXPECT_EQ(store.find("", t0).state, Store::State::unknown);
    EXPECT_TRUE(Store::looks_like_secret(a->value));
    EXPECT_FALSE(Store::looks_like_secret("sk-team-a"));
}

TEST(ClientSecretStore, ASecretIsConsumedOnce) {
    Store store(10);
    auto a = store.issue(grant_for("team-a"), 60s, t0);
    EXPECT_TRUE(store.consume(a->value, t0));
    EXPECT_FALSE(store.consume(a->value, t0));
    EXPECT_EQ(store.find(a->value, t0).state, Store::State::unknown);
    EXPECT_EQ(store.stored_count(), 0u);
}

TEST(ClientSecretStore, ExpiresAtItsTtlAndIsThenNeitherValidNorConsumable) {
    Store store(10);
    auto a = store.issue(grant_for("team-a"), 5s, t0);
    EXPECT_EQ(store.find(a->value, t0 + 4s).state, Store::State::valid);
    auto expired = store.find(a->value, t0 + 5s);
    EXPECT_EQ(expired.state, Store::State::expired);
    EXPECT_FALSE(expired.grant);
    EXPECT_FALSE(store.consume(a->value, t0 + 5s));
    EXPECT_EQ(store.find(a->value, t0 + 6s).state, Store::State::expired);  // kept until the next issue
}

TEST(ClientSecretStore, IsBoundedAndExpiredOrUsedSecretsMakeRoom) {
    Store store(2);
    auto short_lived = store.issue(grant_for("a"), 1s, t0);
    auto long_lived = store.issue(grant_for("a"), 60s, t0);
    ASSERT_TRUE(short_lived && long_lived);
    EXPECT_FALSE(store.issue(grant_for("a"), 60s, t0));  // full
    EXPECT_EQ(store.stored_count(), 2u);
    auto after_expiry = store.issue(grant_for("a"), 60s, t0 + 1s);  // the 1 s one is dropped
    ASSERT_TRUE(after_expiry);
    EXPECT_EQ(store.find(short_lived->value, t0 + 1s).state, Store::State::unknown);
    EXPECT_FALSE(store.issue(grant_for("a"), 60s, t0 + 1s));
    EXPECT_TRUE(store.consume(long_lived->value, t0 + 1s));
    EXPECT_TRUE(store.issue(grant_for("a"), 60s, t0 + 1s));
    EXPECT_EQ(store.stored_count(), 2u);
}

// Shards issue and redeem concurrently (TSan checks this test in the sanitizer build).
TEST(ClientSecretStore, ConcurrentIssueAndConsumeUseEachSecretOnce) {
    Store store(100000);
    constexpr int threads = 4, per_thread = 500;
    std::vector<std::vector<std::string>> issued(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) issued[t].push_back(store.issue(grant_for("a"), 60s, t0)->value);
        });
    for (auto& worker : workers) worker.join();
    workers.clear();
    std::atomic<int> consumed{0};
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&] {  // every thread tries every secret: each succeeds once
            for (const auto& list : issued)
                for (const auto& value : list)
                    if (store.consume(value, t0)) consumed.fetch_add(1);
        });
    for (auto& worker : workers) worker.join();
    EXPECT_EQ(consumed.load(), threads * per_thread);
    EXPECT_EQ(store.stored_count(), 0u);
}

TEST(ConsolePage, InlineBlockHashIsTheCspHashOfTheBlock) {
    // The example of the CSP specification's hash-source: sha256 of alert('Hello, world.');
    EXPECT_EQ(console::inline_block_hash("<p><script>alert('Hello, world.');</script>", "<script>", "</script>"),
              "sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng=");
    EXPECT_EQ(console::inline_block_hash("no script", "<script>", "</script>"), "");
    const auto policy = console::content_security_policy();
    EXPECT_NE(policy.find(console::inline_block_hash(console::console_html(), "<script>", "</script>")),
              std::string::npos);
    EXPECT_NE(policy.find(console::inline_block_hash(console::console_html(), "<style>", "</style>")),
              std::string::npos);
}

}  // namespace
}  // namespace voxgate::auth
