#pragma once
// spdlog set-up: text lines for people, JSON lines for log pipelines.
#include <memory>

#include <spdlog/formatter.h>

#include "voxgate/config.hpp"

namespace voxgate::server {

// Installs the process-wide logger (stderr). Throws std::invalid_argument for an
// unknown level or format (the config loader validates both first).
void configure_logging(const LogConfig& log);

// log.format "json": one object per line, {"ts_ms":...,"level":"info","msg":"..."}.
// A message holding a peer's invalid UTF-8 is logged with U+FFFD, never thrown on.
std::unique_ptr<spdlog::formatter> make_json_line_formatter();

}  // namespace voxgate::server
