#pragma once
// RLIMIT_NOFILE at start-up: every client connection, upstream socket and listener is a
// descriptor, and the common default soft limit (1024) is far below limits.max_connections.
// Running out makes accept fail with EMFILE and curl unable to reach providers, for
// everyone at once, so the composition root raises the limit before serving.
#include <cstdint>
#include <optional>
#include <string>

namespace voxgate::server {

// Descriptors kept beyond one per client connection: upstream sockets, listeners, logs.
inline constexpr std::uint64_t fd_headroom = 1024;

// Raises the soft RLIMIT_NOFILE to the hard limit. Returns the soft limit now in force.
std::uint64_t raise_fd_limit();

// The warning to log when `fd_limit` cannot hold `max_connections` clients plus
// fd_headroom; nullopt when it can. Names both numbers.
std::optional<std::string> fd_limit_warning(std::uint64_t fd_limit, std::uint64_t max_connections);

}  // namespace voxgate::server
