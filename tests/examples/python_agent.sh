#!/usr/bin/env bash
# The hybrid architecture end to end: a Realtime client -> voxgate -> examples/python-agent
# (kind openai) over two turns; agent_conversation.py checks the agent's logic in the replies.
#   tests/examples/python_agent.sh path/to/voxgate
source "$(dirname "$0")/lib.sh"
examples_init "$1"
debian_python=/usr/bin/python3
"$debian_python" -c 'import websockets' 2>/dev/null ||
  fail "$debian_python cannot import websockets: install python3-websockets (scripts/install-deps.sh does)"

start_agent
start_voxgate
"$debian_python" "$(dirname "$0")/agent_conversation.py" \
  "ws://127.0.0.1:$voxgate_port/v1/realtime?model=harbour" "$work/agent.log" || fail "the conversation checks failed"
