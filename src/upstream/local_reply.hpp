#pragma once
// A reply made in-process by a provider kind that calls no HTTP (the demo provider): a
// paced script of tokens. Pure: the engine owns the clock and its one timer, asks when the
// next token is due and takes the tokens that are. A pause shifts the whole schedule, so a
// slow consumer gets every token, later.
#include <chrono>
#include <optional>
#include <string_view>

#include "upstream/chat.hpp"

namespace voxgate::upstream {

class LocalReply {
public:
    using Clock = std::chrono::steady_clock;

    virtual ~LocalReply() = default;

    // When the next token is due; none once every token was taken, or while paused.
    virtual std::optional<Clock::time_point> next_due() const = 0;
    // The next token if it is due at `now`, else none. The view lives as long as this object.
    virtual std::optional<std::string_view> take_due(Clock::time_point now) = 0;
    virtual bool finished() const = 0;

    virtual void pause(Clock::time_point now) = 0;
    virtual void resume(Clock::time_point now) = 0;

    virtual Usage usage() const = 0;
};

}  // namespace voxgate::upstream
