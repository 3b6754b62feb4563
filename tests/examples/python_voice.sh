#!/usr/bin/env bash
# examples/python-voice against a real voxgate with its offline voice defaults (PocketSphinx
# hears, espeak-ng speaks) and the example agent as the model: a question spoken by
# espeak-ng goes in as 20 ms frames, and a spoken reply comes back and is saved.
#   tests/examples/python_voice.sh path/to/voxgate
source "$(dirname "$0")/lib.sh"
examples_init "$1"
debian_python=/usr/bin/python3
"$debian_python" -c 'import websockets' 2>/dev/null ||
  fail "$debian_python cannot import websockets: install python3-websockets (scripts/install-deps.sh does)"
command -v espeak-ng >/dev/null || fail "espeak-ng is missing (scripts/install-deps.sh installs it)"

espeak-ng -v en-us -w "$work/question.wav" "What is the wifi password" || fail "espeak-ng could not speak the question"
start_agent
start_voxgate
output="$(timeout 90 "$debian_python" "$repo_root/examples/python-voice/voice.py" \
  --url "ws://127.0.0.1:$voxgate_port/v1/realtime?model=gpt-4o-mini" \
  "$work/question.wav" "$work/reply.wav" 2>"$work/voice.log")" || fail "voice.py exited with $?: $output"

assert_contains "$output" "you said:" "the question was transcribed"
reply="$(printf '%s\n' "$output" | sed -n 's/^reply: //p')"
[ -n "$reply" ] || fail "no 'reply:' transcript in: $output"
# The saved reply is speech: long enough for its words and not silence.
"$debian_python" - "$work/reply.wav" "$reply" <<'PY' || fail "the saved reply is not the spoken reply: $output"
import array, math, sys, wave
with wave.open(sys.argv[1]) as w:
    assert w.getframerate() == 24000 and w.getsampwidth() == 2, "not PCM16 24 kHz"
    samples = array.array("h", w.readframes(w.getnframes()))
seconds = len(samples) / 24000
rms = math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))
words = len(sys.argv[2].split())
print(f"reply: {seconds:.1f} s, {words} words, rms {rms:.0f}")
assert seconds > 0.15 * words, f"{seconds:.1f} s is too short for {words} words"
assert rms > 300, f"rms {rms:.0f}: silence"
PY
echo "ok: $reply"
