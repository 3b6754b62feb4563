// EventRateLimiter (token bucket + persistence rule) and TextDeliveryLog (which text has
// left the send queue), both driven with explicit times and offsets.
#include <gtest/gtest.h>

#include "protocol/event_rate_limiter.hpp"
#include "protocol/text_delivery.hpp"

namespace voxgate::protocol {
namespace {

using Verdict = EventRateLimiter::Verdict;
using std::chrono::milliseconds;

const EventRateLimiter::clock::time_point t0 = EventRateLimiter::clock::time_point{} + std::chrono::hours(1);

TEST(ProtocolRateLimit, BurstThenRefill) {
    EventRateLimiter limiter(10);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(limiter.on_event(t0), Verdict::allow) << i;
    EXPECT_EQ(limiter.on_event(t0), Verdict::reject);
    EXPECT_EQ(limiter.on_event(t0 + milliseconds(100)), Verdict::allow);  // one token per 100 ms
    EXPECT_EQ(limiter.on_event(t0 + milliseconds(100)), Verdict::reject);
}

TEST(ProtocolRateLimit, TwiceTheRateWithinASecondCloses) {
    EventRateLimiter limiter(5);
    for (int i = 0; i < 5; ++i) limiter.on_event(t0);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.on_event(t0 + milliseconds(i)), Verdict::reject);
    EXPECT_EQ(limiter.on_event(t0 + milliseconds(10)), Verdict::close);
}

TEST(ProtocolRateLimit, ThreeConsecutiveSecondsOverCloses) {
    EventRateLimiter limiter(2);
    auto second = [&](int s) {
        auto t = t0 + std::chrono::seconds(s);
        limiter.on_event(t);
        limiter.on_event(t);
        return limiter.on_event(t);
    };
    EXPECT_EQ(second(0), Verdict::reject);
    EXPECT_EQ(second(1), Verdict::reject);
    EXPECT_EQ(second(2), Verdict::close);
}

TEST(ProtocolRateLimit, AQuietSecondResetsTheStreak) {
    EventRateLimiter limiter(2);
    auto over = [&](int s) {
        auto t = t0 + std::chrono::seconds(s);
        limiter.on_event(t);
        limiter.on_event(t);
        return limiter.on_event(t);
    };
    EXPECT_EQ(over(0), Verdict::reject);
    EXPECT_EQ(over(1), Verdict::reject);
    EXPECT_EQ(over(3), Verdict::reject);  // second 2 was quiet
    EXPECT_EQ(over(4), Verdict::reject);
}

TEST(ProtocolRateLimit, FractionalRateKeepsABurstOfOne) {
    EventRateLimiter limiter(0.5);
    EXPECT_EQ(limiter.on_event(t0), Verdict::allow);
    EXPECT_EQ(limiter.on_event(t0 + milliseconds(1000)), Verdict::reject);
    EXPECT_EQ(limiter.on_event(t0 + milliseconds(2100)), Verdict::allow);
}

TEST(ProtocolRateLimit, ZeroDisablesTheLimit) {
    EventRateLimiter limiter(0);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(limiter.on_event(t0), Verdict::allow);
}

TEST(ProtocolTextDelivery, DeliveredTextFollowsTheWrittenOffset) {
    TextDeliveryLog log;
    log.start("item_a");
    log.record(100, 5, 0);   // frame ends at byte 100, text is 5 bytes long after it
    log.record(180, 9, 0);
    log.record(260, 14, 0);
    EXPECT_EQ(log.delivered("item_a", 99), 0u);
    EXPECT_EQ(log.delivered("item_a", 180), 9u);
    EXPECT_EQ(log.delivered("item_a", 1000), 14u);
    EXPECT_FALSE(log.delivered("item_b", 1000));  // not tracked: all of it was delivered
    log.start("item_b");
    EXPECT_FALSE(log.delivered("item_a", 1000));
    EXPECT_EQ(log.delivered("item_b", 1000), 0u);
}

TEST(ProtocolTextDelivery, MemoryStaysBoundedWhileTheClientReads) {
    TextDeliveryLog log;
    log.start("item");
    for (std::uint64_t i = 1; i <= 100000; ++i) log.record(i * 10, i, i * 10 - 5);  // one frame behind
    EXPECT_EQ(log.delivered("item", 100000 * 10), 100000u);
}

}  // namespace
}  // namespace voxgate::protocol
