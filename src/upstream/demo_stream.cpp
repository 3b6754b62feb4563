#include "upstream/demo_stream.hpp"

#include <algorithm>

#include "upstream/providers/demo_script.hpp"

namespace voxgate::upstream {
namespace {

std::string_view last_user_text(const ChatRequest& request) {
    const auto last = std::find_if(request.messages.rbegin(), request.messages.rend(),
                                   [](const ChatMessage& message) { return message.role == Role::user; });
    return last != request.messages.rend() ? std::string_view(last->text) : std::string_view();
}

std::int64_t count_input_tokens(const ChatRequest& request) {
    std::size_t count = split_into_tokens(request.instructions).size();
    for (const ChatMessage& message : request.messages) count += split_into_tokens(message.text).size();
    return static_cast<std::int64_t>(count);
}

}  // namespace

DemoStream::DemoStream(const ChatRequest& request, const ProviderConfig& config, Clock::time_point start)
    : tokens_(demo_reply_tokens(last_user_text(request))),
      input_tokens_(count_input_tokens(request)),
      first_due_(start + config.demo_first_token_delay),
      // The loader keeps demo_tokens_per_second > 0; a hand-built config may not.
      interval_(std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(1.0 / std::max(config.demo_tokens_per_second, 1e-3)))) {}

std::optional<DemoStream::Clock::time_point> DemoStream::next_due() const {
    if (finished() || paused()) return std::nullopt;
    return first_due_ + interval_ * static_cast<Clock::rep>(next_token_);
}

std::optional<std::string_view> DemoStream::take_due(Clock::time_point now) {
    const auto due = next_due();
    if (!due || *due > now) return std::nullopt;
    return tokens_[next_token_++];
}

void DemoStream::pause(Clock::time_point now) {
    if (!paused_since_) paused_since_ = now;
}

void DemoStream::resume(Clock::time_point now) {
    if (!paused_since_) return;
    // The schedule moves by the time spent paused: every token keeps its spacing.
    first_due_ += now - *paused_since_;
    paused_since_.reset();
}

Usage DemoStream::usage() const {
    const auto output = static_cast<std::int64_t>(tokens_.size());
    return Usage{input_tokens_, output, input_tokens_ + output};
}

}  // namespace voxgate::upstream
