#include "server/wiring.hpp"

#include <spdlog/spdlog.h>

#include "config/config_loader.hpp"

namespace voxgate::server {

void wire_gateway(Runtime&) {
    // The upstream engine and the Realtime protocol handler are attached here once
    // they exist; until then WebSocket connections have no protocol handler.
}

void log_provider_warnings(const Config& config) {
    for (const auto& name : config::unusable_providers(config))
        spdlog::warn("provider \"{}\" is disabled: its API key variable is not set", name);
}

}  // namespace voxgate::server
