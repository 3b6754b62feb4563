#pragma once
// The demo provider's reply (docs/design.md "Providers"): the scripted tokens of
// providers/demo_script, the first after DemoOptions::first_token_delay, then one every
// 1/tokens_per_second.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "upstream/local_reply.hpp"
#include "voxgate/config.hpp"

namespace voxgate::upstream {

class DemoStream final : public LocalReply {
public:
    // Replies to the last user message of `request`; the schedule starts at `start`.
    DemoStream(const ChatRequest& request, const DemoOptions& options, Clock::time_point start);

    std::optional<Clock::time_point> next_due() const override;
    std::optional<std::string_view> take_due(Clock::time_point now) override;
    bool finished() const override { return next_token_ == tokens_.size(); }

    void pause(Clock::time_point now) override;
    void resume(Clock::time_point now) override;
    bool paused() const { return paused_since_.has_value(); }

    // Token counts in the demo's own word-sized tokens.
    Usage usage() const override;

private:
    std::vector<std::string> tokens_;
    std::size_t next_token_ = 0;
    std::int64_t input_tokens_ = 0;
    Clock::time_point first_due_;  // when token 0 is due
    Clock::duration interval_;
    std::optional<Clock::time_point> paused_since_;
};

}  // namespace voxgate::upstream
