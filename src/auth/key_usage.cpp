#include "auth/key_usage.hpp"

#include <algorithm>
#include <cmath>

namespace voxgate::auth {

bool allows_model(const ClientKey& key, std::string_view model) {
    return std::any_of(key.models.begin(), key.models.end(),
                       [&](const std::string& allowed) { return allowed == "*" || allowed == model; });
}

bool KeyUsage::try_open_session(std::uint64_t max_sessions) {
    std::uint64_t open = open_sessions_.load(std::memory_order_relaxed);
    do {
        if (max_sessions != 0 && open >= max_sessions) return false;
    } while (!open_sessions_.compare_exchange_weak(open, open + 1, std::memory_order_relaxed));
    return true;
}

void KeyUsage::close_session() { open_sessions_.fetch_sub(1, std::memory_order_relaxed); }

TokenBucket* KeyUsage::bucket(std::optional<TokenBucket>& slot, std::uint64_t per_minute, Clock::time_point now) {
    if (per_minute == 0) return nullptr;
    const auto capacity = static_cast<double>(per_minute);
    if (!slot) slot.emplace(capacity, std::chrono::minutes(1), now);
    else if (slot->capacity() != capacity) slot->set_capacity(capacity, now);
    return &*slot;
}

std::optional<KeyUsage::Limit> KeyUsage::admit_response(const KeyLimits& limits, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    // Tokens first: a refusal for tokens must not use up a request.
    if (auto* tokens = bucket(tokens_, limits.tokens_per_minute, now); tokens && tokens->available(now) < 1)
        return Limit::tokens_per_minute;
    if (auto* responses = bucket(responses_, limits.responses_per_minute, now); responses && !responses->try_take(1, now))
        return Limit::responses_per_minute;
    return std::nullopt;
}

void KeyUsage::charge_tokens(const KeyLimits& limits, std::uint64_t tokens, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (auto* bucket_ptr = bucket(tokens_, limits.tokens_per_minute, now))
        bucket_ptr->spend(static_cast<double>(tokens), now);
}

std::vector<RateLimitState> KeyUsage::rate_limits(const KeyLimits& limits, Clock::time_point now) {
    std::vector<RateLimitState> states;
    std::lock_guard lock(mutex_);
    auto add = [&](std::string_view name, TokenBucket* bucket_ptr, std::uint64_t limit) {
        if (!bucket_ptr) return;
        const double level = std::max(0.0, std::floor(bucket_ptr->available(now)));
        states.push_back({name, limit, static_cast<std::uint64_t>(level), bucket_ptr->seconds_until_full(now)});
    };
    add("requests", bucket(responses_, limits.responses_per_minute, now), limits.responses_per_minute);
    add("tokens", bucket(tokens_, limits.tokens_per_minute, now), limits.tokens_per_minute);
    return states;
}

}  // namespace voxgate::auth
