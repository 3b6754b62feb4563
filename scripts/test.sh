#!/usr/bin/env bash
# Installs what is missing, builds voxgate and its tests (Release) into build/, and runs
# the whole suite with ctest: unit, integration (real sockets, real curl, real TLS) and
# the official OpenAI SDK compatibility test (Node.js).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
jobs="$(nproc)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVOXGATE_BUILD_TESTS=ON -DVOXGATE_BUILD_BENCH=ON >/dev/null
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 600
