#!/usr/bin/env bash
# The side-by-side benchmark suite in one command (bench/README.md): builds voxgate, the
# load generator and the mock (Release, build/), the Go peer (offline, GOPATH mode), installs
# the peers' Debian packages when missing, then runs bench/suite.py. Environment knobs are
# listed at the top of bench/suite.py (BENCH_GATEWAYS, BENCH_SCENARIOS, BENCH_UPSTREAMS,
# BENCH_DURATION_S).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
peer_packages=(golang-go golang-github-gorilla-websocket-dev python3-aiohttp python3-uvloop)
missing=()
for p in "${peer_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DVOXGATE_BUILD_BENCH=ON "${launcher[@]}" >/dev/null
cmake --build build -j"$(nproc)" --target voxgate bench_loadgen bench_mock_llm
bash bench/peers/go/build.sh build/bench-peers/peer-go

# Every load generator process holds thousands of sockets; so do the gateways.
ulimit -n "$(ulimit -Hn)"
exec /usr/bin/python3 bench/suite.py "$@"
