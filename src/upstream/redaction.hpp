#pragma once
// Secrets out of text that is about to be logged (a provider's error body, curl's detail).
// A provider, or a proxy in front of it, may quote what it received: OpenAI's 401 quotes
// the key masked ("Incorrect API key provided: sk-proj-********abcd"), a proxy may echo a
// header JSON-escaped. Pure: text and secrets in, text out.
//
// Replaced by "[redacted]", for every secret of 8 characters or more (shorter ones would
// mangle ordinary words; configured header values are often short non-secrets):
//   - the secret itself, and its JSON-escaped spelling;
//   - a masked copy: a word that contains a mask ('*', "...", U+2026) and shares at least
//     its first 3 or its last 4 characters with the secret;
// and, whatever was configured, every word that looks like a provider key: "sk-" followed
// by 16 or more key characters (masked or not), so a key of another account quoted in an
// error does not reach the log either.
#include <span>
#include <string>
#include <string_view>

namespace voxgate::upstream {

inline constexpr std::string_view kRedacted = "[redacted]";

void redact_secrets(std::string& text, std::span<const std::string_view> secrets);

}  // namespace voxgate::upstream
