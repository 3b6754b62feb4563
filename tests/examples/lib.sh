# Shared steps of the example tests (sourced): a work directory cleaned up on exit, the
# example Python agent as the upstream, a real voxgate binary on 127.0.0.1 port 0, and a
# throwaway CA for wss:// (tests/support/voxgate.sh).
#   source tests/examples/lib.sh; examples_init path/to/voxgate
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$repo_root/tests/support/voxgate.sh"
work=""
pids=()

examples_cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  if [ -n "$work" ]; then rm -rf "$work"; fi
}

# Prints every log of this run, for a failure's output.
examples_dump_logs() {
  local log
  for log in "$work"/*.log; do
    [ -f "$log" ] || continue
    echo "--- $(basename "$log") ---"
    cat "$log"
  done
}

fail() {
  echo "FAIL: $*" >&2
  examples_dump_logs >&2
  exit 1
}

examples_init() {
  voxgate_binary="$(realpath "$1")"
  work="$(mktemp -d)"
  trap examples_cleanup EXIT
}

# Starts examples/python-agent/agent.py on a free port; sets agent_port.
start_agent() {
  python3 "$repo_root/examples/python-agent/agent.py" --port 0 --token-delay-ms 5 2>"$work/agent.log" &
  pids+=($!)
  agent_port="$(wait_for_port "$work/agent.log" 's/^agent listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p')" ||
    fail "the agent did not start"
}

# start_voxgate [tls]: voxgate with one provider, the agent (kind openai), for every model;
# with "tls", it serves wss:// with the test CA's certificate. Sets voxgate_port.
start_voxgate() {
  local tls_block=""
  if [ "${1:-}" = "tls" ]; then
    make_test_ca "$work" "voxgate example test CA"
    tls_block="\"tls\": { \"cert_file\": \"$work/server.pem\", \"key_file\": \"$work/server.key\" },"
  fi
  cat >"$work/voxgate.json" <<JSON
{
  "server": { "listen": "127.0.0.1:0", "threads": 1 },
  "limits": { "max_connections": 1000 },
  "shutdown": { "readiness_grace_seconds": 0, "drain_seconds": 2 },
  $tls_block
  "providers": {
    "agent": { "kind": "openai", "base_url": "http://127.0.0.1:$agent_port/v1", "model": "harbour-agent" }
  },
  "routes": { "*": ["agent"] }
}
JSON
  start_voxgate_binary "$voxgate_binary" "$work/voxgate.json" "$work/voxgate.log" || {
    pids+=("$voxgate_pid")
    fail "voxgate did not start"
  }
  pids+=("$voxgate_pid")
}

# assert_contains TEXT NEEDLE WHAT
assert_contains() {
  case "$1" in
    *"$2"*) ;;
    *) fail "$3: expected to find '$2' in: $1" ;;
  esac
}
