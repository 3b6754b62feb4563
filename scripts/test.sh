#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run):
#   1. release: Release build into build/ and every ctest test: unit, integration (real
#      sockets, real curl, real TLS) and the official OpenAI SDK compatibility test (Node.js);
#   2. asan: every GoogleTest suite under ASan+UBSan (clang, build-asan/, scripts/sanitizers.sh);
#   3. tsan: every GoogleTest suite under TSan (GCC, build-tsan/);
#   4. fuzz: every libFuzzer target for VOXGATE_FUZZ_SECONDS each (default 30) with
#      ASan+UBSan, from the same build-asan/ tree as stage 2 (scripts/fuzz.sh).
# Every stage runs even when an earlier one failed, so one run shows every failure; the
# exit status is non-zero when any stage failed.
#   VOXGATE_TEST_STAGES picks stages (default "release asan tsan fuzz").
#   VOXGATE_FUZZ_SECONDS=0 replays the committed corpora once instead of exploring.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh || exit 1
jobs="$(nproc)"
launcher=()
# Paths relative to the checkout: a clone in another folder reuses the same ccache entries.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
stages="${VOXGATE_TEST_STAGES:-release asan tsan fuzz}"
log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT

failed_stages=()
summary=()
total_passed=0
total_failed=0

# Runs one stage, teeing its output; adds the counts of every ctest summary line it printed
# ("100% tests passed, 0 tests failed out of 361").
run_stage() {
  local name="$1"; shift
  local start=$SECONDS status
  echo "=== stage $name: $*"
  "$@" 2>&1 | tee "$log_dir/$name.log"
  status=${PIPESTATUS[0]}
  local line counts
  line="$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log_dir/$name.log" | tail -n1)"
  if [ -n "$line" ]; then
    counts="$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1 \2/' <<<"$line")"
    read -r stage_failed stage_total <<<"$counts"
    total_failed=$((total_failed + stage_failed))
    total_passed=$((total_passed + stage_total - stage_failed))
  fi
  [ "$status" -eq 0 ] || failed_stages+=("$name")
  summary+=("$(printf '%-8s %s  %4ds  %s' "$name" "$([ "$status" -eq 0 ] && echo ok || echo FAILED)" \
    $((SECONDS - start)) "${line:-no ctest summary}")")
}

release() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVOXGATE_BUILD_TESTS=ON -DVOXGATE_BUILD_BENCH=ON \
    "${launcher[@]}" >/dev/null &&
    cmake --build build -j"$jobs" &&
    ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600
}

for stage in $stages; do
  case "$stage" in
    release) run_stage release release ;;
    asan) run_stage asan bash scripts/sanitizers.sh address ;;
    tsan) run_stage tsan bash scripts/sanitizers.sh thread ;;
    fuzz) run_stage fuzz bash scripts/fuzz.sh "${VOXGATE_FUZZ_SECONDS:-30}" ;;
    *) echo "unknown stage $stage (release asan tsan fuzz)" >&2; exit 2 ;;
  esac
done

echo "=== summary (${SECONDS}s)"
printf '%s\n' "${summary[@]}"
echo "total: $total_passed passed, $total_failed failed"
if [ ${#failed_stages[@]} -gt 0 ]; then
  echo "FAILED stages: ${failed_stages[*]}"
  exit 1
fi
