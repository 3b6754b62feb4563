// X-Twilio-Signature: HMAC-SHA1 with the auth token over the URL (plus sorted POST params),
// base64. Vectors: Twilio's security docs example, and a WebSocket URL signed with
// `printf 'wss://voice.example.com/v1/twilio' | openssl dgst -sha1 -hmac 12345 -binary | base64`.
#include <gtest/gtest.h>

#include "protocol/twilio/signature.hpp"

namespace voxgate::protocol::twilio {
namespace {

TEST(TwilioSignature, MatchesTwilioDocsExample) {
    EXPECT_EQ(request_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                                {{"To", "+18005551212"},
                                 {"CallSid", "CA1234567890ABCDE"},
                                 {"Caller", "+12349013030"},
                                 {"Digits", "1234"},
                                 {"From", "+12349013030"}}),
              "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
}

TEST(TwilioSignature, AWebSocketUpgradeSignsTheUrlAlone) {
    EXPECT_EQ(request_signature("12345", "wss://voice.example.com/v1/twilio"), "LlXgETQBie/lEXbglT20RkzJTMk=");
    EXPECT_TRUE(signature_matches("12345", "wss://voice.example.com/v1/twilio", "LlXgETQBie/lEXbglT20RkzJTMk="));
}

TEST(TwilioSignature, AnythingElseDoesNotMatch) {
    const std::string url = "wss://voice.example.com/v1/twilio";
    EXPECT_FALSE(signature_matches("12346", url, "LlXgETQBie/lEXbglT20RkzJTMk="));  // another token
    EXPECT_FALSE(signature_matches("12345", url + "?x=1", "LlXgETQBie/lEXbglT20RkzJTMk="));  // another URL
    EXPECT_FALSE(signature_matches("12345", url, "LlXgETQBie/lEXbglT20RkzJTMK="));  // one character off
    EXPECT_FALSE(signature_matches("12345", url, "LlXgETQBie/lEXbglT20RkzJTMk"));   // truncated
    EXPECT_FALSE(signature_matches("12345", url, ""));
}

}  // namespace
}  // namespace voxgate::protocol::twilio
