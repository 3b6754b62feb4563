#include "upstream/providers/demo_stream.hpp"

#include <algorithm>
#include <array>
#include <memory>

#include "config/json_section.hpp"
#include "upstream/provider_kinds.hpp"
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

DemoStream::DemoStream(const ChatRequest& request, const DemoOptions& options, Clock::time_point start)
    : tokens_(demo_reply_tokens(last_user_text(request))),
      input_tokens_(count_input_tokens(request)),
      first_due_(start + options.first_token_delay),
      // The loader keeps demo_tokens_per_second > 0; a hand-built config may not.
      interval_(std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(1.0 / std::max(options.tokens_per_second, 1e-3)))) {}

std::optional<LocalReply::Clock::time_point> DemoStream::next_due() const {
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

namespace {

constexpr std::array<std::string_view, 2> demo_keys{"demo_tokens_per_second", "demo_first_token_delay_ms"};

void read_demo_options(config::JsonSection& section, ProviderConfig& provider) {
    DemoOptions options;
    section.read_positive_number("demo_tokens_per_second", options.tokens_per_second);
    section.read_duration("demo_first_token_delay_ms", options.first_token_delay, config::between(0, config::max_milliseconds));
    provider.options = options;
}

std::unique_ptr<LocalReply> make_demo_reply(const ChatRequest& request, const ProviderConfig& provider,
                                            LocalReply::Clock::time_point start) {
    return std::make_unique<DemoStream>(request, provider.options_or_defaults<DemoOptions>(), start);
}

}  // namespace

const ProviderKind demo_kind{"demo", demo_keys, read_demo_options, nullptr, make_demo_reply};

}  // namespace voxgate::upstream
