#pragma once
// The browser console (src/console/console.html, compiled in by src/console/embed_file.cmake):
// its bytes and the Content-Security-Policy it is served with. The page's one inline
// <script> and one inline <style> are allowed by their SHA-256 hashes, so nothing else
// can run or style it: no other script, no inline handler, no CDN, no external font. The
// one other script source is blob:, for the microphone's AudioWorklet the page's own
// script builds (a blob: URL can only be made by script already running in the page).
#include <string>
#include <string_view>

namespace voxgate::console {

std::string_view console_html();  // generated at build time

// The policy for console_html(), computed once: script-src and style-src carry the hashes
// of the page's inline script and style (script-src also blob:, for the worklet); connect-src allows only this origin and
// WebSockets (the page talks to /v1/realtime/client_secrets and /v1/realtime).
const std::string& content_security_policy();

// "sha256-<base64>" of the text between the first `open_tag` and the next `close_tag` of
// `html`, as CSP hash sources are written; "" when the tags are absent.
std::string inline_block_hash(std::string_view html, std::string_view open_tag, std::string_view close_tag);

}  // namespace voxgate::console
