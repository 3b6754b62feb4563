# Shared steps of the example tests (sourced): a work directory cleaned up on exit, the
# example Python agent as the upstream, a real voxgate binary on 127.0.0.1 port 0, and a
# throwaway CA for wss:// (the same approach as tests/sdk/run.sh).
#   source tests/examples/lib.sh; examples_init path/to/voxgate
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
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

# wait_for_port LOGFILE SED_EXPRESSION: the port a process printed in its start-up line.
wait_for_port() {
  local port="" _
  for _ in $(seq 1 200); do
    port="$(sed -n "$2" "$1" | head -n1)"
    if [ -n "$port" ]; then echo "$port"; return 0; fi
    sleep 0.05
  done
  return 1
}

# Starts examples/python-agent/agent.py on a free port; sets agent_port.
start_agent() {
  python3 "$repo_root/examples/python-agent/agent.py" --port 0 --token-delay-ms 5 2>"$work/agent.log" &
  pids+=($!)
  agent_port="$(wait_for_port "$work/agent.log" 's/^agent listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p')" ||
    fail "the agent did not start"
}

# make_test_ca: $work/ca.pem and a server certificate for 127.0.0.1 signed by it.
make_test_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=voxgate example test CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$work/san.ext"
  openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 2 -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null
}

# start_voxgate [tls]: voxgate with one provider, the agent (kind openai), for every model;
# with "tls", it serves wss:// with the test CA's certificate. Sets voxgate_port.
start_voxgate() {
  local tls_block=""
  if [ "${1:-}" = "tls" ]; then
    make_test_ca
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
  "$voxgate_binary" --config "$work/voxgate.json" --log-level info 2>"$work/voxgate.log" &
  pids+=($!)
  voxgate_port="$(wait_for_port "$work/voxgate.log" 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p')" ||
    fail "voxgate did not start"
}

# assert_contains TEXT NEEDLE WHAT
assert_contains() {
  case "$1" in
    *"$2"*) ;;
    *) fail "$3: expected to find '$2' in: $1" ;;
  esac
}
