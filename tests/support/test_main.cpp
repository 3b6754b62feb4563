#include <gtest/gtest.h>
#include <signal.h>

#include "support/fd_limit.hpp"

int main(int argc, char** argv) {
    // A peer that resets a socket mid-write must surface as an error code, not kill the test binary.
    ::signal(SIGPIPE, SIG_IGN);
    // Load tests hold thousands of sockets; each checks its own need with fd_budget_allows().
    voxgate::test::raise_fd_soft_limit();
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
