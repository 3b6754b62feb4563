#include "upstream/redaction.hpp"

#include <vector>

namespace voxgate::upstream {
namespace {

constexpr std::size_t kMinSecretBytes = 8;

void replace_all(std::string& text, std::string_view needle) {
    if (needle.empty()) return;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + kRedacted.size())) {
        text.replace(at, needle.size(), kRedacted);
    }
}

// RFC 8259 section 7, plus the optional "\/" that some encoders write.
std::vector<std::string> json_spellings(std::string_view secret) {
    std::string escaped;
    std::string escaped_slash;
    for (const char c : secret) {
        const auto byte = static_cast<unsigned char>(c);
        std::string piece;
        if (c == '"') piece = "\\\"";
        else if (c == '\\') piece = "\\\\";
        else if (byte < 0x20) {
            static constexpr char hex[] = "0123456789abcdef";
            piece = std::string("\\u00") + hex[byte >> 4] + hex[byte & 0xF];
        } else piece = std::string(1, c);
        escaped += piece;
        escaped_slash += c == '/' ? std::string("\\/") : piece;
    }
    std::vector<std::string> spellings;
    if (escaped != secret) spellings.push_back(escaped);
    if (escaped_slash != secret && escaped_slash != escaped) spellings.push_back(escaped_slash);
    return spellings;
}

// Characters of an API key and of its masked forms; bytes >= 0x80 keep "…" (U+2026) inside.
bool is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '*' || c == '.' || c >= 0x80;
}

bool has_mask(std::string_view word) {
    return word.find('*') != std::string_view::npos || word.find("...") != std::string_view::npos ||
           word.find("\xE2\x80\xA6") != std::string_view::npos;
}

// Where the mask starts and ends: the unmasked head and tail of the word around it.
std::pair<std::string_view, std::string_view> unmasked_ends(std::string_view word) {
    std::size_t first = word.size();
    std::size_t last_end = 0;
    for (std::size_t i = 0; i < word.size(); ++i) {
        const auto c = static_cast<unsigned char>(word[i]);
        if (c == '*' || c == '.' || c >= 0x80) {
            first = std::min(first, i);
            last_end = i + 1;
        }
    }
    if (first == word.size()) return {word, {}};
    return {word.substr(0, first), word.substr(last_end)};
}

bool looks_like_provider_key(std::string_view word) {
    if (!word.starts_with("sk-")) return false;
    std::size_t key_chars = 0;
    for (const char c : word.substr(3)) {
        if (c != '.') ++key_chars;
    }
    return key_chars >= 16;
}

bool is_masked_copy(std::string_view word, std::string_view secret) {
    if (!has_mask(word)) return false;
    const auto [head, tail] = unmasked_ends(word);
    const bool same_head = head.size() >= 3 && secret.starts_with(head);
    const bool same_tail = tail.size() >= 4 && secret.ends_with(tail);
    return same_head || same_tail;
}

}  // namespace

void redact_secrets(std::string& text, std::span<const std::string_view> secrets) {
    for (const std::string_view secret : secrets) {
        if (secret.size() < kMinSecretBytes) continue;
        replace_all(text, secret);
        for (const std::string& spelling : json_spellings(secret)) replace_all(text, spelling);
    }
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
        if (!is_word_byte(static_cast<unsigned char>(text[i]))) {
            out.push_back(text[i++]);
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && is_word_byte(static_cast<unsigned char>(text[end]))) ++end;
        std::string_view word(text.data() + i, end - i);
        // A sentence's full stop is not part of the word.
        std::size_t trailing_dots = 0;
        while (trailing_dots < word.size() && word[word.size() - 1 - trailing_dots] == '.' && trailing_dots < 1) {
            ++trailing_dots;
        }
        if (word.size() > 3 && word.ends_with("...")) trailing_dots = 0;
        const std::string_view core = word.substr(0, word.size() - trailing_dots);
        bool secret_word = looks_like_provider_key(core);
        for (const std::string_view secret : secrets) {
            if (secret_word) break;
            secret_word = secret.size() >= kMinSecretBytes && is_masked_copy(core, secret);
        }
        if (secret_word) {
            out.append(kRedacted);
            out.append(word.substr(core.size()));
        } else {
            out.append(word);
        }
        i = end;
    }
    text = std::move(out);
}

}  // namespace voxgate::upstream
