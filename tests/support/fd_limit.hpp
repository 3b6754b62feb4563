#pragma once
// File-descriptor budget for tests that open thousands of sockets in one process.
// The common default soft RLIMIT_NOFILE is 1024; test_main raises it to the hard limit
// once, and a test that needs more than that says so instead of failing obscurely
// halfway through with EMFILE.
#include <cstddef>

#include <gtest/gtest.h>

namespace voxgate::test {

// Raises the soft RLIMIT_NOFILE to the hard limit. Called once from test_main.
void raise_fd_soft_limit();

// Success when this process may open `fds` descriptors; otherwise a failure naming the
// limit and how to raise it. Use as ASSERT_TRUE(fd_budget_allows(4200)).
::testing::AssertionResult fd_budget_allows(std::size_t fds);

}  // namespace voxgate::test
