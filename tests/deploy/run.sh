#!/usr/bin/env bash
# Runs one deploy check with Debian's python3, the one python3-yaml and python3-websockets
# (scripts/install-deps.sh) are installed for; a python3 earlier on PATH (pyenv, a venv)
# may not have them.
#   tests/deploy/run.sh check_manifests.py REPO_ROOT VOXGATE_BINARY
#   tests/deploy/run.sh check_dashboard_metrics.py VOXGATE_BINARY DASHBOARD_JSON
set -euo pipefail
python=/usr/bin/python3
[ -x "$python" ] || python="$(command -v python3 || true)"
if [ -z "$python" ] || ! "$python" -c 'import yaml, websockets' 2>/dev/null; then
  echo "FAIL: python3 with the yaml and websockets modules is needed (Debian python3-yaml," >&2
  echo "      python3-websockets; bash scripts/install-deps.sh installs them)." >&2
  exit 1
fi
here="$(cd "$(dirname "$0")" && pwd)"
script="$1"; shift
exec "$python" "$here/$script" "$@"
