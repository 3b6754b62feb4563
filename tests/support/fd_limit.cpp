#include "support/fd_limit.hpp"

#include <sys/resource.h>

#include "server/fd_limit.hpp"

namespace voxgate::test {

void raise_fd_soft_limit() {
    server::raise_fd_limit();  // the gateway's own start-up step; fd_budget_allows() reports what is still too low
}

::testing::AssertionResult fd_budget_allows(std::size_t fds) {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return ::testing::AssertionFailure() << "getrlimit(RLIMIT_NOFILE) failed";
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < fds) {
        return ::testing::AssertionFailure()
               << "this test needs " << fds << " file descriptors but RLIMIT_NOFILE is " << limit.rlim_cur
               << " (hard limit " << limit.rlim_max << "); raise the hard limit (ulimit -Hn, or the container's "
               << "nofile ulimit) before running the suite";
    }
    return ::testing::AssertionSuccess();
}

}  // namespace voxgate::test
