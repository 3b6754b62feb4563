#!/usr/bin/env bash
# Drives the browser console in headless Debian Chromium (playwright-core) against a real
# voxgate with client keys, so the page takes the ephemeral client secret path. Its speech
# is the offline default (PocketSphinx hears, espeak-ng speaks), which the Mic test talks
# to with a question espeak-ng says into Chromium's fake microphone. A second voxgate,
# without speech (auth none), shows the error a voice session meets there.
#   tests/browser/run.sh path/to/voxgate OUTPUT_DIR      (the screenshot: OUTPUT_DIR/console.png)
set -euo pipefail
for tool in node npm /usr/bin/chromium espeak-ng; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: $tool is not installed: the browser console test cannot run." >&2
    echo "      bash scripts/install-deps.sh installs Node.js, npm, chromium and espeak-ng." >&2
    exit 1
  fi
done
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../support/voxgate.sh"
binary="$(realpath "$1")"
output_dir="$(mkdir -p "$2" && realpath "$2")"
work="$(mktemp -d)"
gateway_pid=""
mute_pid=""
cleanup() {
  for pid in $gateway_pid $mute_pid; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A client key made for this run; the gateway gets only its hash.
key="sk-vox-browser-$(openssl rand -hex 16)"
hash="$(printf %s "$key" | "$binary" hash-key)"
printf '{"keys":[{"name":"browser-test","sha256":"%s","models":["*"]}]}\n' "$hash" > "$work/keys.json"

cat > "$work/voxgate.json" <<JSON
{
  "server": { "listen": "127.0.0.1:0", "threads": 2 },
  "auth": { "mode": "api_keys", "keys_file": "$work/keys.json" },
  "providers": {
    "demo": { "kind": "demo", "demo_tokens_per_second": 60, "demo_first_token_delay_ms": 20 },
    "slow": { "kind": "demo", "demo_tokens_per_second": 4, "demo_first_token_delay_ms": 20 }
  },
  "routes": { "*": ["demo"], "slow-model": ["slow"] }
}
JSON
# Debug level: everything the gateway says goes to the log checked below for secrets.
start_voxgate_binary "$binary" "$work/voxgate.json" "$work/voxgate.log" debug || {
  gateway_pid="$voxgate_pid"
  echo "voxgate did not start:"; cat "$work/voxgate.log"; exit 1
}
gateway_pid="$voxgate_pid"
port="$voxgate_port"

cat > "$work/mute.json" <<JSON
{
  "server": { "listen": "127.0.0.1:0", "threads": 1 },
  "auth": { "mode": "none" },
  "speech_to_text": { "kind": "none" },
  "text_to_speech": { "kind": "none" }
}
JSON
start_voxgate_binary "$binary" "$work/mute.json" "$work/mute.log" || {
  mute_pid="$voxgate_pid"
  echo "the voxgate without speech did not start:"; cat "$work/mute.log"; exit 1
}
mute_pid="$voxgate_pid"
mute_port="$voxgate_port"

cd "$here"
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "FAIL: npm ci could not install playwright-core from package-lock.json (is the npm registry reachable?)" >&2
    exit 1
  fi
fi
status=0
VOXGATE_URL="http://127.0.0.1:$port" VOXGATE_MUTE_URL="http://127.0.0.1:$mute_port" \
  VOXGATE_TEST_KEY="$key" VOXGATE_OUTPUT_DIR="$output_dir" \
  node --test --test-concurrency=1 console.test.mjs || status=$?
if grep -qF -e "$key" -e "ek_" "$work/voxgate.log"; then
  echo "FAIL: the client key or a client secret reached the gateway's log" >&2
  status=1
fi
if [ $status -ne 0 ]; then
  echo "--- voxgate log ---"; cat "$work/voxgate.log"
fi
exit $status
