#!/usr/bin/env bash
# Builds and runs the GoogleTest suites under ASan+UBSan (build-asan/, clang, shared with the
# fuzzers: scripts/asan-build.sh) and TSan (build-tsan/, GCC). scripts/test.sh runs both; run
# it alone before merging threading or memory changes.   bash scripts/sanitizers.sh [address|thread]...
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(address thread)
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
for kind in "${kinds[@]}"; do
  case "$kind" in
    address)
      dir=build-asan
      bash scripts/asan-build.sh ;;
    thread)
      dir=build-tsan
      # Debug at -O1, as build-asan: assertions on, load tests not needlessly slow.
      cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1 -O1" -DVOXGATE_SANITIZE=thread \
        -DVOXGATE_BUILD_BENCH=OFF "${launcher[@]}" >/dev/null
      cmake --build "$dir" -j"$(nproc)" --target voxgate voxgate_unit_tests voxgate_integration_tests ;;
    *) echo "unknown sanitizer $kind" >&2; exit 2 ;;
  esac
  # Tests read VOXGATE_TEST_SANITIZER to scale their load counts (tests/support/load_scale.hpp).
  VOXGATE_TEST_SANITIZER="$kind" \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" --timeout 900 -L "unit|integration"
done
