#!/usr/bin/env bash
# Installs exactly the Debian 12 packages voxgate needs that are not yet installed.
# Safe to re-run: it does nothing when everything is present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ca-certificates openssl
  libboost1.81-dev libssl-dev nlohmann-json3-dev libcurl4-openssl-dev
  libspdlog-dev prometheus-cpp-dev libgtest-dev libsimdjson-dev
  libsoxr-dev               # audio resampling
  libpocketsphinx-dev pocketsphinx-en-us  # offline speech-to-text (speech_to_text.kind pocketsphinx)
  espeak-ng                 # the audio tests speak real phrases
  libespeak-ng-dev espeak-ng-data  # offline text-to-speech (text_to_speech.kind espeak; dlopen()ed)
  clang libclang-rt-14-dev  # libFuzzer targets (scripts/fuzz.sh)
  iproute2                  # ss: the TCP keepalive test reads socket timers
  python3-websockets        # the Python examples' client; tests/deploy streams a response to fill the dashboard's metrics
  python3-yaml              # tests/deploy: parse docker/compose.yaml and deploy/kubernetes/
  chromium                  # the browser console test drives it headless (tests/browser/)
)
# Node.js + npm run the official OpenAI SDK compatibility test.
if [ "${VOXGATE_WITH_NODE:-1}" = "1" ]; then
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from outside dpkg (e.g. a preinstalled toolchain): only install when absent.
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
