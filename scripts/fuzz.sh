#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang with ASan+UBSan, in build-asan/) and
# runs each for a bounded time over its seed corpus; fails on any crash, leak or
# sanitizer report (the input is kept in build-asan/fuzz-artifacts/<target>/).
#   bash scripts/fuzz.sh [seconds per target, default 45] [ctest -R regex]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
seconds="${1:-45}"
filter="${2:-}"
bash scripts/asan-build.sh
rm -rf build-asan/fuzz-artifacts
VOXGATE_FUZZ_SECONDS="$seconds" \
  ctest --test-dir build-asan --output-on-failure -j"$(nproc)" -L fuzz ${filter:+-R "$filter"}
