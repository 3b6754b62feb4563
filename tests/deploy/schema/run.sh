#!/usr/bin/env bash
# Schema checks of docker/compose.yaml and deploy/kubernetes/ (validate.mjs), offline: the
# schemas ship inside the npm packages pinned in package-lock.json.
#   tests/deploy/schema/run.sh REPO_ROOT
set -euo pipefail
for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: $tool is not installed: the deploy schema check cannot run." >&2
    echo "      Install Node.js and npm (bash scripts/install-deps.sh does)." >&2
    exit 1
  fi
done
root="$(realpath "$1")"
cd "$(dirname "$0")"
if [ ! -d node_modules/kubernetes-models ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  if ! npm ci --no-audit --no-fund --loglevel=error; then
    echo "FAIL: npm ci could not install the schema packages from package-lock.json (is the npm registry reachable?)" >&2
    exit 1
  fi
fi
exec node validate.mjs "$root"
