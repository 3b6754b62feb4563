#pragma once
// spdlog set-up: text lines for people, JSON lines for log pipelines.
#include "voxgate/config.hpp"

namespace voxgate::server {

// Installs the process-wide logger (stderr). Throws std::invalid_argument for an
// unknown level or format (the config loader validates both first).
void configure_logging(const LogConfig& log);

}  // namespace voxgate::server
