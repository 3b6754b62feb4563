#!/usr/bin/env bash
# Builds the Go peer offline in GOPATH mode against Debian's packaged gorilla/websocket
# (golang-github-gorilla-websocket-dev): no module download. $1 = output binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../../build/bench-peers/peer-go}"
mkdir -p "$(dirname "$out")"
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOCACHE="${GOCACHE:-/tmp/voxgate-go-cache}"
go build -o "$out" "$here/main.go"
