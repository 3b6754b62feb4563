#pragma once
// OpenAI Chat Completions streaming (docs/wire-protocols.md §2), spoken by OpenAI and by the many
// compatible servers (vLLM, llama.cpp, Ollama, Groq, OpenRouter, ...).
//   request: POST {base_url}/chat/completions, stream:true, include_usage:true
//   stream:  `data:` JSON chunks, then the sentinel `data: [DONE]`
#include "upstream/provider_codec.hpp"

namespace voxgate::upstream {

class OpenAiCodec final : public ProviderCodec {
public:
    HttpRequestSpec build_request(const ChatRequest& request, const ProviderConfig& config) const override;
    std::unique_ptr<StreamDecoder> make_decoder() const override;
    UpstreamError classify_error(int http_status, std::string_view body, std::string_view retry_after_header,
                                 std::string_view retry_after_ms_header) const override;
};

}  // namespace voxgate::upstream
