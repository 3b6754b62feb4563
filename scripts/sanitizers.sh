#!/usr/bin/env bash
# Builds and runs the GoogleTest suites under ASan+UBSan (build-asan/) and TSan
# (build-tsan/). Slower than scripts/test.sh; run it before merging threading or memory
# changes.   bash scripts/sanitizers.sh [address|thread]...
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(address thread)
for kind in "${kinds[@]}"; do
  case "$kind" in address) dir=build-asan ;; thread) dir=build-tsan ;; *) echo "unknown sanitizer $kind" >&2; exit 2 ;; esac
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DVOXGATE_SANITIZE="$kind" -DVOXGATE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$dir" -j"$(nproc)" --target voxgate voxgate_unit_tests voxgate_integration_tests
  ASAN_OPTIONS=detect_leaks=1 TSAN_OPTIONS=halt_on_error=1 \
    ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 -L "unit|integration"
done
