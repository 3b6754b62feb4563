#pragma once
// Which providers answer a client's model, in fallback order (docs/design.md "Providers",
// config/README.md "routes" and "Demo fallback"). Built once per engine from the Config:
//   routes[client_model], else routes["*"];
//   providers that are not usable() (their API key variable is unset) are dropped;
//   a route that ends up empty, or no matching route at all, is served by the demo
//   provider: the configured one of kind "demo" if there is one (its pacing settings),
//   else a built-in one with the defaults of DemoOptions.
// A route is therefore never empty. Lookups allocate nothing.
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "upstream/provider_codec.hpp"
#include "upstream/provider_kinds.hpp"
#include "voxgate/config.hpp"

namespace voxgate::upstream {

// One provider the engine can call: its settings, its codec and where its metrics live.
struct RoutedProvider {
    ProviderConfig config;
    const ProviderKind* kind = nullptr;        // null for a kind nobody registered (hand-built configs)
    std::unique_ptr<ProviderCodec> codec;      // HTTP kinds only
    std::optional<std::size_t> metrics_index;  // index in Config::providers; none for the built-in demo
    std::size_t slot = 0;                      // index in RouteTable::providers()

    // Replies are made in-process (LocalReply), not over HTTP.
    bool answers_locally() const { return kind != nullptr && !kind->calls_http(); }
    const std::string& name() const { return config.name; }
};

class RouteTable {
public:
    explicit RouteTable(const Config& config);
    RouteTable(const RouteTable&) = delete;
    RouteTable& operator=(const RouteTable&) = delete;

    using Route = std::span<const RoutedProvider* const>;

    // The providers to try for `client_model`, first choice first; never empty.
    Route route_for(std::string_view client_model) const;

    // Every provider (Config::providers order, then the built-in demo if there is one);
    // provider.slot is its index here.
    const std::vector<std::unique_ptr<RoutedProvider>>& providers() const { return providers_; }

    // The demo provider that serves empty routes.
    const RoutedProvider& demo() const { return *demo_; }

private:
    std::vector<std::unique_ptr<RoutedProvider>> providers_;  // Config::providers order, then a built-in demo if needed
    const RoutedProvider* demo_ = nullptr;
    std::map<std::string, std::vector<const RoutedProvider*>, std::less<>> routes_;  // usable providers only
    std::vector<const RoutedProvider*> demo_route_;                                   // {demo_}
};

}  // namespace voxgate::upstream
