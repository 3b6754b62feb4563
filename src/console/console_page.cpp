#include "console/console_page.hpp"

#include <openssl/evp.h>

#include "auth/key_digest.hpp"

namespace voxgate::console {

std::string inline_block_hash(std::string_view html, std::string_view open_tag, std::string_view close_tag) {
    const auto open = html.find(open_tag);
    if (open == std::string_view::npos) return {};
    const auto begin = open + open_tag.size();
    const auto end = html.find(close_tag, begin);
    if (end == std::string_view::npos) return {};
    const auto digest = auth::sha256_of(html.substr(begin, end - begin));
    unsigned char base64[4 * ((sizeof digest + 2) / 3) + 1];
    const int length = EVP_EncodeBlock(base64, digest.data(), static_cast<int>(digest.size()));
    return "sha256-" + std::string(reinterpret_cast<const char*>(base64), static_cast<std::size_t>(length));
}

const std::string& content_security_policy() {
    static const std::string policy = [] {
        const auto html = console_html();
        // blob: is for the microphone's AudioWorklet, which the page builds from a string: a
        // worklet module is a script to CSP (script-src governs it; worker-src does not), and
        // only the page's own script can mint a blob: URL of this origin for it to load.
        return "default-src 'none'; script-src '" + inline_block_hash(html, "<script>", "</script>") +
               "' blob:; style-src '" + inline_block_hash(html, "<style>", "</style>") +
               "'; connect-src 'self' ws: wss:; img-src data:; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'";
    }();
    return policy;
}

}  // namespace voxgate::console
