#!/usr/bin/env python3
"""The side-by-side benchmark suite (bench/README.md): voxgate, the Python and Go peers and
the harness's own floor (the load generator reading bench_mock_llm directly), one after the
other on this machine, same mock, same scenarios. Run through bench/run.sh, which builds
what it needs first.

Per scenario and gateway: the load generator's merged JSON (first-token and per-token
overhead against the mock's send stamps, inter-token gaps, TTFT, turn time, tokens/s,
errors), the gateway's CPU (utime+stime) per 1,000 tokens delivered and its peak RSS while
the scenario ran. Writes bench/results/<date>-suite.md and .jsonl.

The spoken scenarios (spoken-100, spoken-500) run voxgate only: the peers and the floor have
no audio path. Callers talk (PCM16 24 kHz at real-time pace, server VAD), voxgate sends the
utterance to a mock speech-to-text, the transcript to the mock model and the reply's
sentences to a mock text-to-speech (one bench_mock_llm with the speech flags, port 9202,
plain HTTP only), and streams the audio back. Reported: time to first audio
(speech_stopped -> first response.output_audio.delta) minus the mocks' configured delays,
i.e. voxgate's own overhead, and voxgate's CPU seconds per minute of audio delivered.

Environment (all optional):
  BENCH_GATEWAYS   floor python python-uvloop go voxgate   (subset, in this order)
  BENCH_SCENARIOS  cold idle-1k idle-10k idle-15k idle-wss-1k voice-1000 voice-2000 b2b-100
                   b2b-wss-100 b2b-500 b2b-1000 burst-1000 spoken-100 spoken-500
                   (-wss-: the clients connect over TLS; spoken-*: voxgate, upstream http only)
  BENCH_UPSTREAMS  http https        (https: the mock over TLS, HTTP/1.1 only)
  BENCH_DURATION_S seconds of turns per load scenario (default 20)
  BENCH_OUT        results file stem (default bench/results/<date>-suite)
  BENCH_VOXGATE    the voxgate binary (default build/voxgate; another build for an A/B)
"""
import datetime
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
LOADGEN = os.path.join(BUILD, "bench_loadgen")
MOCK = os.path.join(BUILD, "bench_mock_llm")
VOXGATE = os.environ.get("BENCH_VOXGATE", os.path.join(BUILD, "voxgate"))
PEER_GO = os.path.join(BUILD, "bench-peers", "peer-go")
PEER_PY = os.path.join(ROOT, "bench", "peers", "python", "peer.py")
PYTHON = "/usr/bin/python3"  # Debian's, where python3-aiohttp and python3-uvloop live

TOKENS, FIRST_MS, GAP_MS, THINK_MS = 50, 20, 10, 4000
MOCK_PORT = {"http": 9200, "https": 9201}
SESSIONS_PER_LOADGEN = {"load": 1000, "idle": 8000}
TICK = os.sysconf("SC_CLK_TCK")

# The spoken scenarios' mock: bench_mock_llm with the speech endpoints on a port of its own
# (bench/config/voxgate-spoken.json points speech_to_text, text_to_speech and the model at
# it). A reply is SPOKEN_TOKENS deltas, a sentence every SPOKEN_SENTENCE_TOKENS, so voxgate
# can ask for the first sentence's speech at delta 5 (60 ms after the request). The audio
# is TTS_MS_PER_CHAR per character (about 0.6 s per 5-delta sentence, 2.4 s per reply),
# made at TTS_RTF (four times faster than real time) in TTS_CHUNK_MS chunks.
SPOKEN_MOCK_PORT = 9202
SPOKEN_TOKENS, SPOKEN_SENTENCE_TOKENS = 20, 5
STT_MS, TTS_FIRST_MS, TTS_MS_PER_CHAR, TTS_RTF = 100, 50, 10, 0.25
TTS_CHUNK_MS = 40  # 1,920 bytes per HTTP chunk: the mock's cost per chunk is what bounds it at 500 callers
# The caller: 1 s of voice, VAD silence_duration_ms 200, then listens to the whole reply and
# thinks 1 s before talking again.
UTTERANCE_MS, SILENCE_MS, SPOKEN_THINK_MS = 1000, 200, 1000
# What the mocks wait between speech_stopped and the first audio byte: the transcription,
# the first sentence's deltas, the speech's first chunk. The rest is voxgate's.
SPOKEN_MOCK_DELAY_MS = STT_MS + FIRST_MS + (SPOKEN_SENTENCE_TOKENS - 1) * GAP_MS + TTS_FIRST_MS
SPOKEN_MAX_DURATION_S = 40  # each spoken scenario stays within about a minute

ALL_GATEWAYS = ["floor", "python", "python-uvloop", "go", "voxgate"]
ALL_SCENARIOS = ["cold", "idle-1k", "idle-10k", "idle-15k", "idle-wss-1k", "voice-1000", "voice-2000", "b2b-100",
                 "b2b-wss-100", "b2b-500", "b2b-1000", "burst-1000", "spoken-100", "spoken-500"]


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def wait_port(port, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    """Peak and last VmRSS of a process, sampled every 100 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_flag = pid, 0, threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
            except OSError:
                return
            self.stop_flag.wait(0.1)

    def stop(self):
        self.stop_flag.set()
        self.join()
        return self.peak


class Process:
    def __init__(self, name, argv, env=None, port=None):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, cwd=ROOT)
        if port:
            try:
                wait_port(port)
            except RuntimeError:
                self.stop()
                raise RuntimeError(f"{name} did not start; its log: {self.log.name}")

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


class Gateway:
    """How to start one gateway and which protocol and URL the load generator uses."""

    def __init__(self, name, upstream, tls_dir, client_tls=False, spoken=False):
        self.name, self.upstream, self.tls_dir, self.client_tls = name, upstream, tls_dir, client_tls
        self.spoken = spoken  # voxgate only: speech routed to the spoken mock
        self.mock_url = f"{upstream}://127.0.0.1:{MOCK_PORT[upstream]}/v1/chat/completions"
        self.ca = os.path.join(tls_dir, "ca.pem") if upstream == "https" else None
        if name == "floor":
            self.protocol, self.url, self.port = "direct", self.mock_url, None
        elif name.startswith("python"):
            self.protocol, self.port = "token", 9101
        elif name == "go":
            self.protocol, self.port = "token", 9102
        else:
            self.protocol, self.port = "realtime", 9100
        if name != "floor":
            self.url = (f"{'wss' if client_tls else 'ws'}://127.0.0.1:{self.port}" +
                        ("/v1/realtime" if name == "voxgate" else "/ws"))

    def argv(self):
        if self.name.startswith("python"):
            argv = [PYTHON, PEER_PY, "--listen", f"127.0.0.1:{self.port}", "--upstream", self.mock_url]
            if self.name == "python-uvloop":
                argv.append("--uvloop")
        elif self.name == "go":
            argv = [PEER_GO, "--listen", f"127.0.0.1:{self.port}", "--upstream", self.mock_url]
        else:
            return [VOXGATE, "--config", self.voxgate_config()]
        if self.ca:
            argv += ["--ca-file", self.ca]
        if self.client_tls:
            argv += ["--cert", os.path.join(self.tls_dir, "ca.pem"), "--key", os.path.join(self.tls_dir, "key.pem")]
        return argv

    def voxgate_config(self):
        if self.spoken:
            return os.path.join(ROOT, "bench", "config", "voxgate-spoken.json")
        with open(os.path.join(ROOT, "bench", "config", "voxgate.json")) as f:
            text = f.read()
        text = text.replace("http://127.0.0.1:9200/v1", self.mock_url.rsplit("/chat/completions", 1)[0])
        if self.ca:
            text = text.replace('"model": "bench",', f'"model": "bench", "ca_file": "{self.ca}",')
        if self.client_tls:
            text = text.replace('"server": {', '"tls": { "cert_file": "%s", "key_file": "%s" },\n  "server": {' % (
                os.path.join(self.tls_dir, "ca.pem"), os.path.join(self.tls_dir, "key.pem")))
        path = os.path.join(self.tls_dir, f"voxgate-{self.upstream}{'-wss' if self.client_tls else ''}.json")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start(self):
        if self.name == "floor":
            return None
        return Process(self.name, self.argv(), env={"BENCH_UPSTREAM_KEY": "bench", "GOMAXPROCS": "2"}, port=self.port)


def loadgen(gateway, scenario, sessions, duration_s, ramp_ms, think_ms=THINK_MS, tokens=TOKENS, extra=()):
    kind = "idle" if scenario == "idle" else "load"
    procs = max(1, math.ceil(sessions / SESSIONS_PER_LOADGEN[kind]))
    outs, running = [], []
    with tempfile.TemporaryDirectory(prefix="bench-loadgen-") as tmp:
        for i in range(procs):
            share = sessions // procs + (1 if i < sessions % procs else 0)
            out = os.path.join(tmp, f"{i}.txt")
            outs.append(out)
            running.append(subprocess.Popen(
                [LOADGEN, "run", "--protocol", gateway.protocol, "--url", gateway.url, "--sessions", str(share),
                 "--scenario", scenario, "--duration-s", str(duration_s), "--ramp-ms", str(ramp_ms),
                 "--think-ms", str(think_ms), "--tokens", str(tokens), "--out", out, *extra],
                stderr=subprocess.PIPE, text=True))
        failures = []
        for p in running:
            _, err = p.communicate()
            sys.stderr.write(err)
            if p.returncode != 0:
                failures.append(f"bench_loadgen exited with {p.returncode}: {err.strip()[-600:]}")
        # A run that measured but failed its check (a spoken run with no audio) still wrote
        # its figures: keep them beside the failure.
        if failures and not all(os.path.exists(out) for out in outs):
            raise RuntimeError(failures[0])
        merged = subprocess.run([LOADGEN, "merge", *outs], check=True, capture_output=True, text=True).stdout
    result = json.loads(merged.splitlines()[0])
    if failures:
        result["failed"] = failures[0]
    return result


def ideal_tokens_per_s(kind, sessions):
    turn_s = (FIRST_MS + (TOKENS - 1) * GAP_MS) / 1000.0
    return sessions * TOKENS / (turn_s + (THINK_MS / 1000.0 if kind == "voice" else 0))


def metric_sum(port, name):
    """The sum of one metric's samples on voxgate's /metrics, or None."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{")]
    return sum(values) if values else None


def run_spoken(gateway, sessions, duration_s):
    """One spoken scenario: the speech mock, voxgate on the spoken config, the callers."""
    mock = Process("mock-spoken", [MOCK, "--listen", f"127.0.0.1:{SPOKEN_MOCK_PORT}", "--tokens", str(SPOKEN_TOKENS),
                                   "--first-ms", str(FIRST_MS), "--gap-ms", str(GAP_MS),
                                   "--sentence-tokens", str(SPOKEN_SENTENCE_TOKENS), "--stt-ms", str(STT_MS),
                                   "--tts-first-ms", str(TTS_FIRST_MS), "--tts-ms-per-char", str(TTS_MS_PER_CHAR),
                                   "--tts-rtf", str(TTS_RTF), "--tts-chunk-ms", str(TTS_CHUNK_MS)],
                   port=SPOKEN_MOCK_PORT)
    process = None
    try:
        process = gateway.start()
        time.sleep(0.3)
        cpu_before = cpu_seconds(process.pid)
        sampler = RssSampler(process.pid)
        sampler.start()
        load = loadgen(gateway, "spoken", sessions, min(duration_s, SPOKEN_MAX_DURATION_S),
                       ramp_ms=2000 + sessions * 6, think_ms=SPOKEN_THINK_MS, tokens=SPOKEN_TOKENS,
                       extra=["--utterance-ms", str(UTTERANCE_MS), "--silence-ms", str(SILENCE_MS),
                              "--expected-delay-ms", str(SPOKEN_MOCK_DELAY_MS), "--turn-timeout-ms", "10000"])
        cpu = cpu_seconds(process.pid) - cpu_before
        load["rss_peak_mib"] = round(sampler.stop() / 1024, 1)
        load["cpu_s"] = round(cpu, 2)
        audio_s = load.get("audio_seconds") or 0
        load["cpu_s_per_audio_min"] = round(cpu * 60 / audio_s, 3) if audio_s else None
        # voxgate's own count, where it has one (beside the client's, which it should match)
        load["metrics_output_audio_seconds"] = metric_sum(gateway.port, "voxgate_output_audio_seconds_total")
        return load
    finally:
        if process:
            process.stop()
        mock.stop()


def run_scenario(gateway, scenario, duration_s):
    kind, _, size = scenario.partition("-")
    size = size.removeprefix("wss-")
    if kind == "spoken":
        if gateway.name != "voxgate":
            log(f"    skipped: {gateway.name} has no audio path (spoken-* measures voxgate only)")
            return None
        if gateway.upstream != "http":
            log("    skipped: the spoken mock speaks plain HTTP only")
            return None
        return run_spoken(gateway, int(size), duration_s)
    if kind == "cold":
        if gateway.name == "floor":
            return None
        argv = gateway.argv()
        out = subprocess.run([LOADGEN, "coldstart", "--url", gateway.url, "--runs", "20", "--", *argv], check=True,
                             capture_output=True, text=True, env={**os.environ, "BENCH_UPSTREAM_KEY": "bench"}).stdout
        return json.loads(out)
    sessions = int(size.replace("k", "000"))
    if gateway.name == "floor" and (kind == "idle" or gateway.upstream == "https" or gateway.client_tls):
        return None  # no gateway process to hold connections; the direct client speaks plain HTTP only
    process = gateway.start()
    try:
        if process:
            time.sleep(0.3)
            base_rss = rss_kib(process.pid)
            cpu_before = cpu_seconds(process.pid)
            sampler = RssSampler(process.pid)
            sampler.start()
        if kind == "idle":
            hold_s = 6 + sessions // 2000
            result = {}

            def hold():
                result["load"] = loadgen(gateway, "idle", sessions, hold_s, ramp_ms=1000 + sessions // 5)
            t = threading.Thread(target=hold)
            t.start()
            time.sleep(1.0 + sessions / 5000 + hold_s * 0.6)  # connected and settled
            held_rss = rss_kib(process.pid)
            t.join()
            load = result["load"]
            load["idle_bytes_per_session"] = round((held_rss - base_rss) * 1024 / max(1, load["connected"]))
        else:
            # A burst's ramp is its connect phase; its requests then go out within 100 ms.
            ramp = {"voice": 4000, "burst": 2000 + sessions}.get(kind, 500)
            load = loadgen(gateway, kind, sessions, duration_s if kind != "burst" else 0, ramp)
            load["ideal_tokens_per_s"] = round(ideal_tokens_per_s(kind, sessions)) if kind != "burst" else None
        if process:
            load["cpu_ms_per_1k_tokens"] = (round((cpu_seconds(process.pid) - cpu_before) * 1e6 /
                                                  max(1, load["tokens"]), 2) if kind != "idle" else None)
            load["rss_peak_mib"] = round(sampler.stop() / 1024, 1)
        return load
    finally:
        if process:
            process.stop()


def make_tls(directory):
    ca, key = os.path.join(directory, "ca.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", ca, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return ca, key


def cell(result, path, fmt="{:.2f}"):
    value = result
    for key in path:
        if not isinstance(value, dict) or key not in value or value[key] is None or value.get("count") == 0:
            return "-"  # a percentile of no samples is not a figure
        value = value[key]
    return fmt.format(value)


def table(results, gateways, scenarios, upstream):
    lines = [f"### upstream {upstream}", "",
             "| scenario | metric | " + " | ".join(gateways) + " |",
             "|---|---|" + "---|" * len(gateways)]
    rows = {
        "cold": [("exec → first handshake p50 ms", ["cold_start_ms", "p50"], "{:.1f}")],
        "idle": [("bytes per idle session", ["idle_bytes_per_session"], "{:.0f}"),
                 ("RSS peak MiB", ["rss_peak_mib"], "{:.1f}")],
        "load": [("first-token overhead p50 ms", ["first_token_overhead_ms", "p50"], "{:.2f}"),
                 ("first-token overhead p99 ms", ["first_token_overhead_ms", "p99"], "{:.2f}"),
                 ("token overhead p50 / p99 ms", None, None),
                 ("tokens/s (ideal)", None, None),
                 ("CPU ms per 1k tokens", ["cpu_ms_per_1k_tokens"], "{:.1f}"),
                 ("RSS peak MiB", ["rss_peak_mib"], "{:.1f}"),
                 ("errors", ["errors"], "{:d}")],
        "spoken": [("first-audio overhead p50 ms", ["first_audio_overhead_ms", "p50"], "{:.2f}"),
                   ("first-audio overhead p90 ms", ["first_audio_overhead_ms", "p90"], "{:.2f}"),
                   ("first-audio overhead p99 ms", ["first_audio_overhead_ms", "p99"], "{:.2f}"),
                   (f"time to first audio p50 / p99 ms (mocks: {SPOKEN_MOCK_DELAY_MS})", None, None),
                   ("time to first transcript delta p50 / p99 ms", None, None),
                   ("CPU s per audio minute", ["cpu_s_per_audio_min"], "{:.3f}"),
                   ("audio s delivered (turns)", None, None),
                   ("RSS peak MiB", ["rss_peak_mib"], "{:.1f}"),
                   ("errors", ["errors"], "{:d}")],
    }
    for scenario in scenarios:
        kind = scenario.split("-")[0]
        for label, path, fmt in rows["load" if kind in ("voice", "b2b", "burst") else kind]:
            if kind == "spoken" and upstream != "http":
                break
            cells = []
            for g in gateways:
                r = results.get((upstream, g, scenario))
                if r is None:
                    cells.append("-")
                elif label.startswith("token overhead"):
                    cells.append(f"{cell(r, ['token_overhead_ms', 'p50'])} / {cell(r, ['token_overhead_ms', 'p99'])}")
                elif label.startswith("time to first audio"):
                    cells.append(f"{cell(r, ['time_to_first_audio_ms', 'p50'])} / "
                                 f"{cell(r, ['time_to_first_audio_ms', 'p99'])}")
                elif label.startswith("time to first transcript"):
                    cells.append(f"{cell(r, ['time_to_first_token_ms', 'p50'])} / "
                                 f"{cell(r, ['time_to_first_token_ms', 'p99'])}")
                elif label.startswith("audio s delivered"):
                    cells.append(f"{cell(r, ['audio_seconds'], '{:.0f}')} ({cell(r, ['turns'], '{:d}')})")
                elif label.startswith("tokens/s"):
                    ideal = r.get("ideal_tokens_per_s")
                    cells.append(f"{r['tokens_per_s'] / 1000:.1f}k" + (f" ({ideal / 1000:.1f}k)" if ideal else ""))
                else:
                    cells.append(cell(r, path, fmt))
            lines.append(f"| {scenario} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    gateways = os.environ.get("BENCH_GATEWAYS", " ".join(ALL_GATEWAYS)).split()
    scenarios = os.environ.get("BENCH_SCENARIOS", " ".join(ALL_SCENARIOS)).split()
    upstreams = os.environ.get("BENCH_UPSTREAMS", "http https").split()
    duration_s = int(os.environ.get("BENCH_DURATION_S", "20"))
    for name in gateways:
        if name not in ALL_GATEWAYS:
            sys.exit(f"suite.py: unknown gateway {name} (one of {' '.join(ALL_GATEWAYS)})")
    for name in scenarios:
        if name not in ALL_SCENARIOS:
            sys.exit(f"suite.py: unknown scenario {name} (one of {' '.join(ALL_SCENARIOS)})")
    today = datetime.date.today().isoformat()
    stem = os.environ.get("BENCH_OUT", os.path.join(ROOT, "bench", "results", f"{today}-suite"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    results = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp, open(stem + ".jsonl", "w") as jsonl:
        ca, key = make_tls(tmp)
        for upstream in upstreams:
            mock_argv = [MOCK, "--listen", f"127.0.0.1:{MOCK_PORT[upstream]}", "--tokens", str(TOKENS),
                         "--first-ms", str(FIRST_MS), "--gap-ms", str(GAP_MS)]
            if upstream == "https":
                mock_argv += ["--cert", ca, "--key", key]
            mock = Process(f"mock-{upstream}", mock_argv, port=MOCK_PORT[upstream])
            try:
                for scenario in scenarios:
                    for name in gateways:
                        gateway = Gateway(name, upstream, tmp, client_tls="-wss-" in scenario,
                                          spoken=scenario.startswith("spoken-"))
                        log(f"[{time.monotonic() - started:6.0f}s] {upstream} {scenario} {name}")
                        try:
                            result = run_scenario(gateway, scenario, duration_s)
                        except (RuntimeError, subprocess.CalledProcessError, OSError, ValueError) as e:
                            log(f"    failed: {e}")
                            result = {"failed": str(e)}
                        if result is None:
                            continue
                        results[(upstream, name, scenario)] = result
                        jsonl.write(json.dumps({"upstream": upstream, "gateway": name, "scenario": scenario,
                                                **result}) + "\n")
                        jsonl.flush()
                        brief = {k: result.get(k) for k in ("tokens_per_s", "errors", "cpu_ms_per_1k_tokens",
                                                             "idle_bytes_per_session", "cold_start_ms",
                                                             "audio_seconds", "cpu_s_per_audio_min", "failed")
                                 if result.get(k) is not None and (k != "audio_seconds" or scenario.startswith("spoken-"))}
                        if result.get("first_audio_overhead_ms", {}).get("count"):
                            brief["first_audio_overhead_p50/p99"] = (result["first_audio_overhead_ms"]["p50"],
                                                                     result["first_audio_overhead_ms"]["p99"])
                        if result.get("first_token_overhead_ms", {}).get("count"):
                            brief["first_p50/p99"] = (result["first_token_overhead_ms"]["p50"],
                                                      result["first_token_overhead_ms"]["p99"])
                        log(f"    {brief}")
            finally:
                mock.stop()
    command = " ".join(f"{k}='{os.environ[k]}'" for k in ("BENCH_GATEWAYS", "BENCH_SCENARIOS", "BENCH_UPSTREAMS",
                                                         "BENCH_DURATION_S") if k in os.environ)
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    report = [f"# Benchmark suite, {today}", "",
              f"- machine: {platform.node()}, {os.cpu_count()} cores ({cpu}), Linux {platform.release()}",
              f"- commit: {commit}",
              f"- command: `{command + ' ' if command else ''}bash bench/run.sh` ({time.monotonic() - started:.0f} s)",
              f"- mock: {TOKENS} tokens per reply, first after {FIRST_MS} ms, then one every {GAP_MS} ms; "
              f"voice think time {THINK_MS} ms; {duration_s} s of turns per load scenario",
              "- overhead = token received by the load generator − the mock's send stamp; `floor` is the load "
              "generator reading the mock itself (no gateway). Gateway, mock and load generator share the "
              "machine's cores: compare ratios within this run.",
              "- `-` = not applicable (the floor has no process to measure) or not run.", ""]
    if any(s.startswith("spoken-") for s in scenarios):
        report[-1:-1] = [
            f"- spoken-*: voxgate only (the Python and Go peers and the floor have no audio path; the spoken "
            f"mock is plain HTTP, so no https row). Callers send {UTTERANCE_MS} ms of voice at real-time pace, "
            f"server VAD silence {SILENCE_MS} ms, listen to the whole reply, think {SPOKEN_THINK_MS} ms. Mocks: "
            f"transcript after {STT_MS} ms; {SPOKEN_TOKENS} deltas, a sentence every {SPOKEN_SENTENCE_TOKENS}; "
            f"speech's first byte after {TTS_FIRST_MS} ms, {TTS_MS_PER_CHAR} ms of audio per character in "
            f"{TTS_CHUNK_MS} ms chunks at real-time factor {TTS_RTF}. First-audio overhead = input_audio_buffer.speech_stopped received → "
            f"first response.output_audio.delta received − {SPOKEN_MOCK_DELAY_MS} ms (the mocks' delays). "
            f"CPU per audio minute = voxgate's utime+stime over the run / minutes of PCM delivered."]
    for upstream in upstreams:
        report += [table(results, gateways, scenarios, upstream), ""]
    with open(stem + ".md", "w") as f:
        f.write("\n".join(report))
    print("\n".join(report))
    log(f"wrote {stem}.md and {stem}.jsonl")


if __name__ == "__main__":
    main()
