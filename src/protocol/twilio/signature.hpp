#pragma once
// X-Twilio-Signature (https://www.twilio.com/docs/usage/webhooks/webhooks-security):
// base64(HMAC-SHA1(auth token, the full URL Twilio requested)). For a POST webhook the
// sorted form parameters are appended to the URL first; a Media Streams WebSocket upgrade
// is a GET, so the URL alone (scheme, host, path, query) is signed.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace voxgate::protocol::twilio {

// The signature Twilio sends for `url` (and, for POST webhooks, the form `params`,
// which are sorted by name here as Twilio does).
std::string request_signature(std::string_view auth_token, std::string_view url,
                              std::vector<std::pair<std::string, std::string>> params = {});

// True when `presented` is the signature of `url`; compared in constant time, so the
// time taken tells nothing about how much of a guess was right.
bool signature_matches(std::string_view auth_token, std::string_view url, std::string_view presented);

}  // namespace voxgate::protocol::twilio
