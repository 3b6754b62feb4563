#!/usr/bin/env bash
# Runs the official openai npm SDK's Realtime WebSocket client (OpenAIRealtimeWS)
# against a real voxgate over wss:// on 127.0.0.1, trusting a CA made for this run.
#   tests/sdk/run.sh path/to/voxgate
set -euo pipefail
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: $tool is not installed: the official SDK compatibility test cannot run." >&2
    echo "      Install Node.js and npm (bash scripts/install-deps.sh does)." >&2
    exit 1
  fi
done
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../support/voxgate.sh"
binary="$(realpath "$1")"
work="$(mktemp -d)"
gateway_pid=""
cleanup() {
  [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

make_test_ca "$work" "voxgate sdk test CA"

cat > "$work/voxgate.json" <<JSON
{
  "server": { "listen": "127.0.0.1:0", "threads": 2 },
  "tls": { "cert_file": "$work/server.pem", "key_file": "$work/server.key" },
  "log": { "level": "warn" },
  "providers": {
    "demo": { "kind": "demo", "demo_tokens_per_second": 400, "demo_first_token_delay_ms": 20 },
    "slow": { "kind": "demo", "demo_tokens_per_second": 4, "demo_first_token_delay_ms": 20 }
  },
  "routes": { "*": ["demo"], "slow-model": ["slow"] }
}
JSON
start_voxgate_binary "$binary" "$work/voxgate.json" "$work/voxgate.log" || {
  gateway_pid="$voxgate_pid"
  echo "voxgate did not start:"; cat "$work/voxgate.log"; exit 1
}
gateway_pid="$voxgate_pid"
port="$voxgate_port"

cd "$here"
if [ ! -d node_modules/openai ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "FAIL: npm ci could not install the SDK from package-lock.json (is the npm registry reachable?)" >&2
    exit 1
  fi
fi
status=0
VOXGATE_URL="https://127.0.0.1:$port/v1" NODE_EXTRA_CA_CERTS="$work/ca.pem" \
  node --test realtime_sdk.test.mjs || status=$?
if [ $status -ne 0 ]; then
  echo "--- voxgate log ---"; cat "$work/voxgate.log"
fi
exit $status
