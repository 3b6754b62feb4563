#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang with ASan+UBSan, into build-fuzz/) and
# runs each for a bounded time over its seed corpus; fails on any crash, leak or
# sanitizer report (the input is kept in build-fuzz/fuzz-artifacts/<target>/).
#   bash scripts/fuzz.sh [seconds per target, default 45] [ctest -R regex]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
seconds="${1:-45}"
filter="${2:-}"
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DVOXGATE_BUILD_FUZZERS=ON \
  -DVOXGATE_BUILD_TESTS=OFF -DVOXGATE_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j"$(nproc)"
rm -rf build-fuzz/fuzz-artifacts
VOXGATE_FUZZ_SECONDS="$seconds" \
  ctest --test-dir build-fuzz --output-on-failure -j"$(nproc)" -L fuzz ${filter:+-R "$filter"}
