#include "upstream/provider_kinds.hpp"

#include <array>

namespace voxgate::upstream {

std::span<const ProviderKind* const> provider_kinds() {
    static constexpr std::array<const ProviderKind*, 3> kinds{&openai_kind, &anthropic_kind, &demo_kind};
    return kinds;
}

const ProviderKind* find_provider_kind(std::string_view name) {
    for (const ProviderKind* kind : provider_kinds())
        if (kind->name == name) return kind;
    return nullptr;
}

std::string provider_kind_names() {
    std::string names;
    for (const ProviderKind* kind : provider_kinds()) {
        if (!names.empty()) names += ", ";
        names += kind->name;
    }
    return names;
}

ProviderConfig builtin_demo_provider() {
    ProviderConfig demo;
    demo.name = "demo";
    demo.kind = std::string(demo_kind.name);
    demo.options = DemoOptions{};
    return demo;
}

bool answers_locally(const ProviderConfig& provider) {
    const ProviderKind* kind = find_provider_kind(provider.kind);
    return kind != nullptr && !kind->calls_http();
}

}  // namespace voxgate::upstream
