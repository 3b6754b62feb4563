#!/usr/bin/env python3
"""Checks that every metric the Grafana dashboard queries exists in a live voxgate's
/metrics, with the labels the queries use.

  check_dashboard_metrics.py VOXGATE_BINARY DASHBOARD_JSON

Starts the real binary (metrics on their own listener, as deployed) with the built-in demo
provider and a small OpenAI-compatible upstream on 127.0.0.1, streams one response through
each over /v1/realtime (python3-websockets), so that latency, token and upstream series
have samples, then scrapes /metrics and reads every PromQL expression of the dashboard.
A name is accepted only as the exposition has it: a counter or gauge by its own name, a
histogram only as <name>_bucket, _sum or _count.
"""

import asyncio
import copy
import http.server
import json
import os
import re
import sys
import tempfile
import threading

import websockets

from voxgate_process import Voxgate, http_get

# Labels Prometheus adds to every scraped series (static configs and the Prometheus
# Operator's ServiceMonitor), so a query may use them although /metrics does not have them.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"bool", "and", "or", "unless", "offset", "inf", "nan"}
# Aggregation operators may be followed by "by (...)" instead of "(": never metric names.
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                "bottomk", "topk", "quantile", "limitk", "limit_ratio"}

TOKEN = re.compile(r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<range>\[[^\]]*\])
  | (?P<braces>\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})
  | (?P<variable>\$\{?\w+\}?)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[smhdwy]?)
  | (?P<identifier>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<space>\s+)
  | (?P<other>.)
""", re.VERBOSE)
MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*(?:,|$)')


class Reference:
    """One metric selector of a query: its name and the label names it matches on."""

    def __init__(self, name, labels):
        self.name = name
        self.labels = labels


def parse_promql(expr):
    """(metric references, grouping label names) of one PromQL expression."""
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(expr) if m.lastgroup != "space"]
    references, grouping = [], set()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, None)
        if kind == "identifier" and text in GROUPING:
            if following[1] == "(":
                j = i + 2
                while j < len(tokens) and tokens[j][1] != ")":
                    if tokens[j][0] == "identifier":
                        grouping.add(tokens[j][1])
                    j += 1
                i = j
        elif kind == "identifier" and text == "offset":
            i += 1  # the duration after it
        elif kind == "identifier" and text.lower() not in KEYWORDS | AGGREGATIONS and following[1] != "(":
            labels = set()
            if following[0] == "braces":
                body = following[1][1:-1]
                pos = 0
                while pos < len(body.strip()):
                    match = MATCHER.match(body, pos)
                    if not match:
                        raise ValueError(f"cannot read the label matchers {following[1]} in {expr!r}")
                    labels.add(match.group(1))
                    pos = match.end()
                i += 1
            references.append(Reference(text, labels))
        elif kind == "braces" and (i == 0 or tokens[i - 1][0] != "identifier"):
            raise ValueError(f"a selector without a metric name ({text}) in {expr!r}: the check cannot follow it")
        i += 1
    return references, grouping


def dashboard_queries(dashboard):
    """Every (where, expr) of the dashboard: panel targets (rows' panels too) and the
    templating variables' label_values() queries."""
    queries = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    queries.append((f"panel {panel.get('title')!r} target {target.get('refId')}", target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        match = re.fullmatch(r"\s*label_values\((?:(.+),)?\s*(\w+)\s*\)\s*", query or "")
        if not match or not match.group(1):
            raise ValueError(f"variable {variable.get('name')!r}: only label_values(metric, label) is supported: {query!r}")
        # Written as a selector grouped by the label, so the label is checked like any other.
        queries.append((f"variable {variable['name']!r}", f"group by ({match.group(2)}) ({match.group(1)})"))
    return queries


class Exposition:
    """The families (# TYPE) and samples of one /metrics text."""

    def __init__(self, text):
        self.types = {}
        self.samples = {}  # sample name -> [(labels dict, value)]
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(None, 3)
                self.types[name] = kind
            elif line and not line.startswith("#"):
                match = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
                labels = dict(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(3) or ""))
                self.samples.setdefault(match.group(1), []).append((labels, float(match.group(4))))

    def problem_with(self, name):
        """None if `name` is a series the exposition has, else why not."""
        kind = self.types.get(name)
        if kind in ("histogram", "summary"):
            return f"{name} is a {kind}: query {name}_bucket, {name}_sum or {name}_count"
        if kind is None:
            base = next((name[:-len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s)), None)
            if base is None or self.types.get(base) not in ("histogram", "summary") or \
                    (self.types[base] == "summary" and name.endswith("_bucket")):
                return f"{name} is not exported by voxgate"
        if not self.samples.get(name):
            return f"{name} is declared but has no sample"
        return None

    def label_names(self, name):
        return {label for labels, _ in self.samples.get(name, []) for label in labels}

    def total(self, name):
        return sum(value for _, value in self.samples.get(name, []))


def check_dashboard(dashboard, exposition):
    """(problems, number of metric references checked)."""
    problems, checked = [], 0
    for where, expr in dashboard_queries(dashboard):
        try:
            references, grouping = parse_promql(expr)
        except ValueError as error:
            problems.append(f"{where}: {error}")
            continue
        if not references:
            problems.append(f"{where}: no metric in {expr!r}")
        available = set(TARGET_LABELS)
        for reference in references:
            checked += 1
            problem = exposition.problem_with(reference.name)
            if problem:
                problems.append(f"{where}: {problem} (in {expr!r})")
                continue
            labels = exposition.label_names(reference.name)
            available |= labels
            for label in sorted(reference.labels - labels - TARGET_LABELS):
                problems.append(f"{where}: {reference.name} has no label {label!r} (it has {sorted(labels)})")
        for label in sorted(grouping - available):
            problems.append(f"{where}: groups by {label!r}, which none of its metrics has, in {expr!r}")
    return problems, checked


# ---------------------------------------------------------------------------------------
# Traffic: a mock upstream and one response per provider.


class ChatCompletionsMock(http.server.BaseHTTPRequestHandler):
    """POST /v1/chat/completions: a few streamed deltas in OpenAI's SSE format."""

    words = ["Deploy", " checks", " are", " green", "."]

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        if self.path != "/v1/chat/completions":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for word in self.words:
            chunk = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "mock",
                     "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        done = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "mock",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": len(self.words), "total_tokens": 3 + len(self.words)}}
        self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()

    def log_message(self, *args):
        pass


async def one_response(port, model):
    """Streams one response over /v1/realtime; returns (status, text)."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/v1/realtime?model={model}", open_timeout=10) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if first.get("type") != "session.created":
            raise RuntimeError(f"expected session.created, got {first}")
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}))
        await ws.send(json.dumps({"type": "response.create"}))
        text = ""
        while True:
            event = json.loads(await asyncio.wait_for(ws.recv(), 20))
            if event["type"] == "response.output_text.delta":
                text += event["delta"]
            elif event["type"] == "error":
                raise RuntimeError(f"{model}: error event {event}")
            elif event["type"] == "response.done":
                return event["response"]["status"], text


def live_exposition(binary):
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletionsMock)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    config = {
        "server": {"listen": "127.0.0.1:0", "threads": 2},
        "metrics": {"listen": "127.0.0.1:0"},
        "log": {"level": "warn"},
        "providers": {
            "mock": {"kind": "openai", "base_url": f"http://127.0.0.1:{upstream.server_address[1]}/v1",
                     "model": "mock", "max_retries": 0},
            "demo": {"kind": "demo", "demo_tokens_per_second": 200, "demo_first_token_delay_ms": 10},
        },
        "routes": {"demo-model": ["demo"], "*": ["mock"]},
    }
    try:
        with tempfile.TemporaryDirectory(prefix="voxgate-dashboard-") as work:
            path = os.path.join(work, "voxgate.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(config, f)
            with Voxgate(binary, path, expect_metrics_port=True) as gateway:
                for model in ("demo-model", "gpt-4o-mini"):
                    status, text = asyncio.run(one_response(gateway.client_port, model))
                    if status != "completed" or not text:
                        raise RuntimeError(f"{model}: response ended {status!r} with text {text!r}")
                    print(f"  {model}: response completed, {len(text)} characters streamed")
                http_get(gateway.client_port, "/healthz")
                status, body = http_get(gateway.metrics_port, "/metrics")
                if status != 200:
                    raise RuntimeError(f"/metrics answered {status}")
                return Exposition(body)
    finally:
        upstream.shutdown()


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, dashboard_path = sys.argv[1], sys.argv[2]
    with open(dashboard_path, encoding="utf-8") as f:
        dashboard = json.load(f)
    exposition = live_exposition(binary)

    failures = []
    # The traffic above must have produced the samples the latency and token panels show.
    for name in ("voxgate_response_first_token_seconds_count", "voxgate_gateway_overhead_seconds_count",
                 "voxgate_tokens_streamed_total", "voxgate_upstream_requests_total"):
        if exposition.total(name) <= 0:
            failures.append(f"{name} is {exposition.total(name)} after two streamed responses")

    problems, checked = check_dashboard(dashboard, exposition)
    failures += problems
    # The check must be able to fail: a copy of the dashboard with one metric misspelt
    # has to be caught, and so must a histogram queried without its suffix.
    if checked < 20:
        failures.append(f"only {checked} metric references found in the dashboard; the parser lost them")
    for wrong, why in (("voxgate_tokens_streamed_totl", "misspelt"), ("voxgate_gateway_overhead_seconds", "bare histogram")):
        broken = copy.deepcopy(dashboard)
        target = next(t for p in broken["panels"] for t in p.get("targets", []) if t.get("expr"))
        target["expr"] = f"sum(rate({wrong}[5m]))"
        if not check_dashboard(broken, exposition)[0]:
            failures.append(f"self-test: a {why} metric name ({wrong}) was not reported")

    for failure in failures:
        print(f"FAIL {failure}")
    print(f"{len(dashboard_queries(dashboard))} queries, {checked} metric references checked against live /metrics "
          f"({len(exposition.types)} families)")
    print(f"{checked - len(problems)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
