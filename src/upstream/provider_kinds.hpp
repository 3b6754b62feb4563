#pragma once
// The LLM provider kinds, one row each, defined in the kind's own file (providers/*.cpp)
// and listed once in provider_kinds.cpp. A row says which config keys are the kind's own
// and reads them into ProviderConfig::options, and how the engine gets a reply from it:
//   an HTTP kind has a codec; the shared transport (the shard's curl multi), retries,
//   deadlines and circuit breaker (upstream_engine, resilience/) do the rest, and it reads
//   the keys every HTTP kind shares (base_url, api_key_env, timeouts, ...: the loader's);
//   a local kind makes its reply in-process (a LocalReply) and takes none of those keys.
// Adding a kind is a file with its row plus one line in provider_kinds.cpp.
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "upstream/chat.hpp"
#include "upstream/local_reply.hpp"
#include "upstream/provider_codec.hpp"
#include "voxgate/config.hpp"

namespace voxgate::config {
class JsonSection;
}

namespace voxgate::upstream {

struct ProviderKind {
    std::string_view name;  // the config's "kind"
    // Keys only this kind reads; the loader refuses them for every other kind.
    std::span<const std::string_view> own_keys;
    // Sets provider.options to this kind's alternative, read from its own keys.
    void (*read_options)(config::JsonSection& section, ProviderConfig& provider);
    // HTTP kinds: the codec. Null for local kinds.
    std::unique_ptr<ProviderCodec> (*make_codec)();
    // Local kinds: one reply to `request`, its schedule starting at `start`. Null for HTTP kinds.
    std::unique_ptr<LocalReply> (*make_local_reply)(const ChatRequest& request, const ProviderConfig& provider,
                                                    LocalReply::Clock::time_point start);

    bool calls_http() const { return make_codec != nullptr; }
};

extern const ProviderKind openai_kind;     // providers/openai.cpp
extern const ProviderKind anthropic_kind;  // providers/anthropic.cpp
extern const ProviderKind demo_kind;       // providers/demo_stream.cpp

// Every kind, in the order errors list them.
std::span<const ProviderKind* const> provider_kinds();
// The kind named `name`, nullptr for none.
const ProviderKind* find_provider_kind(std::string_view name);
// "openai, anthropic, demo", for errors.
std::string provider_kind_names();

// The demo provider a config gets when it names none ("demo", DemoOptions defaults): the
// loader's default providers and the route table's fallback for empty routes.
ProviderConfig builtin_demo_provider();

// The provider's kind makes its replies in-process: no model, no key, no network (the
// demo). False for an unknown kind.
bool answers_locally(const ProviderConfig& provider);

}  // namespace voxgate::upstream
