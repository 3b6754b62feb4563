#!/usr/bin/env bash
# examples/node-openai-sdk (the official openai npm SDK's OpenAIRealtimeWS) over wss:// to a
# real voxgate whose upstream is the example agent; voxgate's certificate comes from a CA made
# for this run, trusted through NODE_EXTRA_CA_CERTS.
#   tests/examples/node_openai_sdk.sh path/to/voxgate
source "$(dirname "$0")/lib.sh"
examples_init "$1"
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (scripts/install-deps.sh installs it)"
done
example="$repo_root/examples/node-openai-sdk"
if [ ! -d "$example/node_modules/openai" ] || [ "$example/package-lock.json" -nt "$example/node_modules/.package-lock.json" ]; then
  (cd "$example" && npm ci --no-audit --no-fund --loglevel=error) ||
    fail "npm ci could not install the SDK from package-lock.json (is the npm registry reachable?)"
fi

start_agent
start_voxgate tls
output="$(cd "$example" && VOXGATE_URL="https://127.0.0.1:$voxgate_port/v1" NODE_EXTRA_CA_CERTS="$work/ca.pem" \
  node index.mjs "Do you have oat milk?" 2>"$work/node.log")" || fail "index.mjs exited with $?: $(cat "$work/node.log")"

streamed="$(printf '%s\n' "$output" | head -n1)"
final="$(printf '%s\n' "$output" | sed -n 's/^final: //p')"
[ -n "$final" ] || fail "no 'final:' line in: $output"
[ "$streamed" = "$final" ] || fail "the streamed deltas '$streamed' differ from the final text '$final'"
assert_contains "$final" "Oat milk is free of charge" "the reply carries the agent's knowledge-base fact"
assert_contains "$(cat "$work/node.log")" "session sess_" "the SDK saw session.created"
grep -q '(http+https)' "$work/voxgate.log" || fail "voxgate did not serve TLS"
echo "ok: $final"
