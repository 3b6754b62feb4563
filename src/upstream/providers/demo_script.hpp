#pragma once
// The built-in demo provider's words: a deterministic, readable reply to the user's last
// message, so a first run works with no key and no network. Pure: the engine paces the
// tokens (demo_tokens_per_second, demo_first_token_delay), this only says what they are.
#include <string>
#include <string_view>
#include <vector>

namespace voxgate::upstream {

// The whole reply. It quotes (part of) last_user_text and says how to reach a real model.
std::string demo_reply(std::string_view last_user_text);

// Word-sized tokens, each carrying the whitespace before it (" world"), so that
// concatenating them reproduces `text` exactly.
std::vector<std::string> split_into_tokens(std::string_view text);

// split_into_tokens(demo_reply(last_user_text)).
std::vector<std::string> demo_reply_tokens(std::string_view last_user_text);

}  // namespace voxgate::upstream
