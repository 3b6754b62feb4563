#!/usr/bin/env bash
# Configures and builds build-asan/: clang with ASan+UBSan on every library, the GoogleTest
# suites and the libFuzzer targets in one tree (coverage instrumentation for the fuzzers
# costs the tests little, and one tree instead of two saves a whole build in CI). Used by
# scripts/sanitizers.sh (address) and scripts/fuzz.sh; the second of them finds it built.
# Debug at -O1 with line tables only (-g1: stack traces keep file:line and it compiles
# faster): assertions stay on (Beast's included); -O0 sanitized code runs the load tests
# several times slower for no extra checking.
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" \
  -DVOXGATE_BUILD_FUZZERS=ON -DVOXGATE_BUILD_TESTS=ON -DVOXGATE_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build build-asan -j"$(nproc)"
