#include <gtest/gtest.h>
#include <signal.h>

int main(int argc, char** argv) {
    // A peer that resets a socket mid-write must surface as an error code, not kill the test binary.
    ::signal(SIGPIPE, SIG_IGN);
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
