#!/usr/bin/env bash
# examples/python-client against a real voxgate whose upstream is the example agent:
# the printed deltas must add up to the final text, and the text must be the agent's.
#   tests/examples/python_client.sh path/to/voxgate
source "$(dirname "$0")/lib.sh"
examples_init "$1"
# Debian's python3-websockets lives in /usr/bin/python3's dist-packages, not in another python.
debian_python=/usr/bin/python3
"$debian_python" -c 'import websockets' 2>/dev/null ||
  fail "$debian_python cannot import websockets: install python3-websockets (scripts/install-deps.sh does)"

start_agent
start_voxgate
output="$("$debian_python" "$repo_root/examples/python-client/client.py" \
  --url "ws://127.0.0.1:$voxgate_port/v1/realtime?model=gpt-4o-mini" \
  "What is the Wi-Fi password?" 2>"$work/client.log")" || fail "client.py exited with $?"

streamed="$(printf '%s\n' "$output" | head -n1)"
final="$(printf '%s\n' "$output" | sed -n 's/^final: //p')"
[ -n "$final" ] || fail "no 'final:' line in: $output"
[ "$streamed" = "$final" ] || fail "the streamed deltas '$streamed' differ from the final text '$final'"
assert_contains "$final" "crema-4821" "the reply carries the agent's knowledge-base fact"
assert_contains "$(cat "$work/client.log")" "session sess_" "the client saw session.created"
echo "ok: $final"
