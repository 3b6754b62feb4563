#!/usr/bin/env bash
# Installs what is missing, builds voxgate (Release) into build/, and runs it with
# config/voxgate.json. Extra arguments go to voxgate (e.g. --listen 127.0.0.1:9000).
set -euo pipefail
cd "$(dirname "$0")/.."

VOXGATE_WITH_NODE=0 bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVOXGATE_BUILD_TESTS=OFF -DVOXGATE_BUILD_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc)" --target voxgate
exec build/voxgate --config config/voxgate.json "$@"
