#include "server/fd_limit.hpp"

#include <sys/resource.h>

namespace voxgate::server {

std::uint64_t raise_fd_limit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    return limit.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<std::uint64_t>(limit.rlim_cur);
}

std::optional<std::string> fd_limit_warning(std::uint64_t fd_limit, std::uint64_t max_connections) {
    const std::uint64_t needed = max_connections + fd_headroom;
    if (fd_limit >= needed) return std::nullopt;
    return "RLIMIT_NOFILE is " + std::to_string(fd_limit) + " (soft limit raised to the hard limit) but " +
           "limits.max_connections is " + std::to_string(max_connections) + " (needs about " +
           std::to_string(needed) + " descriptors with upstream sockets): raise the hard limit " +
           "(ulimit -n, LimitNOFILE=, docker --ulimit nofile=) or lower limits.max_connections";
}

}  // namespace voxgate::server
