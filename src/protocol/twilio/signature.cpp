#include "protocol/twilio/signature.hpp"

#include <algorithm>
#include <span>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "audio/base64.hpp"

namespace voxgate::protocol::twilio {

std::string request_signature(std::string_view auth_token, std::string_view url,
                              std::vector<std::pair<std::string, std::string>> params) {
    std::string signed_text(url);
    std::sort(params.begin(), params.end());
    for (const auto& [name, value] : params) signed_text.append(name).append(value);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    HMAC(EVP_sha1(), auth_token.data(), static_cast<int>(auth_token.size()),
         reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), digest, &digest_length);
    std::string encoded;
    audio::base64_encode(std::span<const std::uint8_t>(digest, digest_length), encoded);
    return encoded;
}

bool signature_matches(std::string_view auth_token, std::string_view url, std::string_view presented) {
    const std::string expected = request_signature(auth_token, url);
    // The length of a SHA-1 signature is public (28 characters): only the bytes need hiding.
    return presented.size() == expected.size() &&
           CRYPTO_memcmp(presented.data(), expected.data(), expected.size()) == 0;
}

}  // namespace voxgate::protocol::twilio
