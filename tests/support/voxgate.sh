# Shared by the shell tests that run the real voxgate binary (tests/sdk, tests/browser,
# tests/examples): a throwaway CA for wss://, and starting the binary on port 0 with the
# port read back from its start-up line. Sourced; the caller owns cleanup.

# wait_for_port LOGFILE SED_EXPRESSION: prints the port a process wrote in its start-up
# line; fails after 10 s without one.
wait_for_port() {
  local port="" _
  for _ in $(seq 1 200); do
    port="$(sed -n "$2" "$1" | head -n1)"
    if [ -n "$port" ]; then echo "$port"; return 0; fi
    sleep 0.05
  done
  return 1
}

# make_test_ca DIR [CN]: DIR/ca.pem, and DIR/server.pem + DIR/server.key for 127.0.0.1
# (and localhost) signed by it.
make_test_ca() {
  local dir="$1" cn="${2:-voxgate test CA}"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$cn" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/san.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/san.ext" -out "$dir/server.pem" 2>/dev/null
}

# start_voxgate_binary BINARY CONFIG LOGFILE [LOG_LEVEL]: starts voxgate in the background;
# sets voxgate_pid, and voxgate_port from its start-up line. Returns 1 when it did not start
# (the log says why).
start_voxgate_binary() {
  "$1" --config "$2" --log-level "${4:-info}" 2>"$3" &
  voxgate_pid=$!
  voxgate_port="$(wait_for_port "$3" 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p')"
}
