#pragma once
// Connects the layers of a Runtime: the upstream engine of each shard and the protocol
// handler created for each WebSocket connection.
#include "server/runtime.hpp"

namespace voxgate::server {

void wire_gateway(Runtime& runtime);

// Warns about providers that cannot be used (key variable unset) and about routes
// served by the built-in demo provider instead.
void log_provider_warnings(const Config& config);

}  // namespace voxgate::server
