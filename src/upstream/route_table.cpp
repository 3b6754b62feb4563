#include "upstream/route_table.hpp"

#include <algorithm>

namespace voxgate::upstream {

RouteTable::RouteTable(const Config& config) {
    providers_.reserve(config.providers.size() + 1);
    for (std::size_t i = 0; i < config.providers.size(); ++i) {
        auto provider = std::make_unique<RoutedProvider>();
        provider->config = config.providers[i];
        provider->kind = find_provider_kind(provider->config.kind);
        if (provider->kind != nullptr && provider->kind->calls_http()) provider->codec = provider->kind->make_codec();
        provider->metrics_index = i;
        provider->slot = i;
        if (demo_ == nullptr && provider->kind == &demo_kind) demo_ = provider.get();
        providers_.push_back(std::move(provider));
    }
    if (demo_ == nullptr) {
        auto builtin = std::make_unique<RoutedProvider>();
        builtin->config = builtin_demo_provider();
        builtin->kind = &demo_kind;
        builtin->slot = providers_.size();
        demo_ = builtin.get();
        providers_.push_back(std::move(builtin));
    }
    demo_route_ = {demo_};

    const auto find = [&](const std::string& name) -> const RoutedProvider* {
        const auto found = std::find_if(providers_.begin(), providers_.end(),
                                        [&](const auto& provider) { return provider->name() == name; });
        return found != providers_.end() ? found->get() : nullptr;
    };
    for (const auto& [model, names] : config.routes) {
        std::vector<const RoutedProvider*> route;
        for (const std::string& name : names) {
            const RoutedProvider* provider = find(name);
            // The loader rejects unknown names and kinds; a hand-built config's unknown kind
            // cannot be called.
            if (provider == nullptr || provider->kind == nullptr || !provider->config.usable()) continue;
            route.push_back(provider);
        }
        routes_.emplace(model, std::move(route));  // kept when empty: it still claims the model
    }
}

RouteTable::Route RouteTable::route_for(std::string_view client_model) const {
    auto found = routes_.find(client_model);
    if (found == routes_.end()) found = routes_.find(std::string_view("*"));
    // A model routed only to unusable providers gets the demo, not "*": the operator meant
    // this model for those providers alone.
    if (found == routes_.end() || found->second.empty()) return demo_route_;
    return found->second;
}

}  // namespace voxgate::upstream
