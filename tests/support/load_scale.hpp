#pragma once
// Load tests (thousands of sockets or streams) cost their count, and a sanitizer makes
// every operation several times slower: TSan serializes and records every atomic and
// lock. scripts/sanitizers.sh sets VOXGATE_TEST_SANITIZER; these tests then run a smaller
// count, print it, and keep every assertion. They are never skipped.
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <gtest/gtest.h>

namespace voxgate::test {

// `full` without a sanitizer; `under_sanitizer` when VOXGATE_TEST_SANITIZER is set.
inline int load_count(int full, int under_sanitizer) {
    const char* sanitizer = std::getenv("VOXGATE_TEST_SANITIZER");
    if (sanitizer == nullptr || *sanitizer == '\0') return full;
    std::cout << "[ load     ] " << under_sanitizer << " instead of " << full << " under " << sanitizer << '\n';
    ::testing::Test::RecordProperty("load_count", under_sanitizer);
    return under_sanitizer;
}

}  // namespace voxgate::test
