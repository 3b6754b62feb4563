#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over its committed seed corpus.
#   run_fuzzer.sh <fuzzer binary> <seed corpus dir> <artifact dir>
# VOXGATE_FUZZ_SECONDS (default 45) bounds the run. Fails on any crash, leak, timeout,
# out-of-memory or sanitizer report; the input that caused it is kept in <artifact dir>
# and printed (base64) so a CI log alone is enough to reproduce it:
#   base64 -d > crash && <fuzzer binary> crash
# New inputs the run discovers go to a scratch dir: the committed corpus is only read.
# VOXGATE_FUZZ_SECONDS=0 replays the committed corpus once (deterministic), no exploration.
set -euo pipefail
binary="$1"
seeds="$2"
artifacts="$3"
seconds="${VOXGATE_FUZZ_SECONDS:-45}"
name="$(basename "$binary")"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$artifacts"
dict=()
[ -f "$seeds.dict" ] && dict=(-dict="$seeds.dict")

mode=(-max_total_time="$seconds")
[ "$seconds" = "0" ] && mode=(-runs=0)
status=0
ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}" \
  "$binary" "${mode[@]}" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=20 \
    -detect_leaks=1 -max_len=65536 -print_final_stats=1 "${dict[@]}" \
    -artifact_prefix="$artifacts/" "$scratch" "$seeds" </dev/null || status=$?

if [ "$status" -ne 0 ]; then
  echo "FAIL: $name exited with $status"
  for input in "$artifacts"/*; do
    [ -f "$input" ] || continue
    echo "--- $input (base64) ---"
    base64 -w 0 "$input" | head -c 20000
    echo
  done
  exit 1
fi
echo "PASS: $name ran ${seconds}s (0 = corpus replay) without a crash, leak or sanitizer report"
