#pragma once
// Anthropic Messages streaming (docs/wire-protocols.md §3).
//   request: POST {base_url}/v1/messages with x-api-key and anthropic-version, stream:true
//   stream:  named SSE events (message_start, content_block_*, message_delta, message_stop,
//            ping, error); the decoder dispatches on the event name.
#include "upstream/provider_codec.hpp"

namespace voxgate::upstream {

class AnthropicCodec final : public ProviderCodec {
public:
    HttpRequestSpec build_request(const ChatRequest& request, const ProviderConfig& config) const override;
    std::unique_ptr<StreamDecoder> make_decoder() const override;
    UpstreamError classify_error(int http_status, std::string_view body, std::string_view retry_after_header,
                                 std::string_view retry_after_ms_header) const override;
};

}  // namespace voxgate::upstream
