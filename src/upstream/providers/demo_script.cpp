#include "upstream/providers/demo_script.hpp"

namespace voxgate::upstream {
namespace {

// Long enough to show the message arrived, short enough to keep the demo reply readable.
constexpr std::size_t kMaxQuotedBytes = 120;

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// The user's text on one line: whitespace and control characters collapse to one space,
// cut at kMaxQuotedBytes on a UTF-8 character boundary.
std::string quotable(std::string_view text) {
    std::string out;
    bool pending_space = false;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (is_space(c) || byte < 0x20 || byte == 0x7F) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(c);
    }
    if (out.size() <= kMaxQuotedBytes) return out;
    std::size_t cut = kMaxQuotedBytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // continuation byte
    out.resize(cut);
    return out + "...";
}

}  // namespace

std::string demo_reply(std::string_view last_user_text) {
    const std::string quote = quotable(last_user_text);
    std::string reply = "This is voxgate's built-in demo provider, not a real model. ";
    if (quote.empty()) {
        reply += "I did not receive any text from you. ";
    } else {
        reply += "You said: \"" + quote + "\". ";
    }
    reply +=
        "To talk to a real model, set OPENAI_API_KEY (or ANTHROPIC_API_KEY) before starting voxgate "
        "and route your model to that provider in the config.";
    return reply;
}

std::vector<std::string> split_into_tokens(std::string_view text) {
    std::vector<std::string> tokens;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t start = pos;
        while (pos < text.size() && is_space(text[pos])) ++pos;
        while (pos < text.size() && !is_space(text[pos])) ++pos;
        const std::string_view token = text.substr(start, pos - start);
        // Trailing whitespace joins the last word rather than standing alone.
        if (pos == text.size() && !tokens.empty() && is_space(token.front()) &&
            token.find_first_not_of(" \t\n\r\v\f") == std::string_view::npos) {
            tokens.back() += token;
        } else {
            tokens.emplace_back(token);
        }
    }
    return tokens;
}

std::vector<std::string> demo_reply_tokens(std::string_view last_user_text) {
    return split_into_tokens(demo_reply(last_user_text));
}

}  // namespace voxgate::upstream
