// RLIMIT_NOFILE at start-up: the warning names both numbers when the limit cannot hold
// limits.max_connections clients plus the upstream headroom.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include "server/fd_limit.hpp"

namespace voxgate::server {
namespace {

TEST(FdLimit, WarnsNamingBothNumbersWhenTheLimitIsTooLow) {
    auto warning = fd_limit_warning(1024, 100000);
    ASSERT_TRUE(warning.has_value());
    EXPECT_NE(warning->find("1024"), std::string::npos) << *warning;
    EXPECT_NE(warning->find("limits.max_connections is 100000"), std::string::npos) << *warning;
}

TEST(FdLimit, NoWarningWhenConnectionsAndHeadroomFit) {
    EXPECT_FALSE(fd_limit_warning(100000 + fd_headroom, 100000).has_value());
    EXPECT_TRUE(fd_limit_warning(100000 + fd_headroom - 1, 100000).has_value());
}

TEST(FdLimit, RaiseLeavesTheSoftLimitAtTheHardLimit) {
    auto now = raise_fd_limit();
    rlimit limit{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
    EXPECT_EQ(limit.rlim_cur, limit.rlim_max);
    if (limit.rlim_cur != RLIM_INFINITY) {
        EXPECT_EQ(now, static_cast<std::uint64_t>(limit.rlim_cur));
    }
}

}  // namespace
}  // namespace voxgate::server
