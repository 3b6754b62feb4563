#pragma once
// The pace of the demo provider's reply (docs/design.md "Providers"): the scripted tokens of
// providers/demo_script, the first after demo_first_token_delay, then one every
// 1/demo_tokens_per_second. Pure: the caller owns the clock and the one timer, asks when
// the next token is due and takes the tokens that are. A pause shifts the whole schedule,
// so a slow consumer gets every token, later.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "upstream/chat.hpp"
#include "voxgate/config.hpp"

namespace voxgate::upstream {

class DemoStream {
public:
    using Clock = std::chrono::steady_clock;

    // Replies to the last user message of `request`; the schedule starts at `start`.
    DemoStream(const ChatRequest& request, const ProviderConfig& config, Clock::time_point start);

    // When the next token is due; none once every token was taken, or while paused.
    std::optional<Clock::time_point> next_due() const;

    // The next token if it is due at `now`, else none. The view lives as long as this object.
    std::optional<std::string_view> take_due(Clock::time_point now);

    bool finished() const { return next_token_ == tokens_.size(); }

    void pause(Clock::time_point now);
    void resume(Clock::time_point now);
    bool paused() const { return paused_since_.has_value(); }

    // Token counts in the demo's own word-sized tokens.
    Usage usage() const;

private:
    std::vector<std::string> tokens_;
    std::size_t next_token_ = 0;
    std::int64_t input_tokens_ = 0;
    Clock::time_point first_due_;  // when token 0 is due
    Clock::duration interval_;
    std::optional<Clock::time_point> paused_since_;
};

}  // namespace voxgate::upstream
