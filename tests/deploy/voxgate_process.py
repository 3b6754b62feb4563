"""Starts the real voxgate binary with a config on 127.0.0.1 port 0 and reads the ports it
bound from its start-up log lines (as tests/sdk/run.sh does), for the deploy checks."""

import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

CLIENT_PORT = re.compile(r"listening on 127\.0\.0\.1:(\d+) ")
METRICS_PORT = re.compile(r"/metrics served on 127\.0\.0\.1:(\d+) ")


def strip_json_comments(text):
    """voxgate's config files allow // and /* */ comments (config/README.md); a JSON parser
    does not. Removes them outside string literals, so "https://..." stays whole."""
    out = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
        elif c == '"':
            in_string = True
            out.append(c)
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ValueError("unterminated /* comment")
            i = end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


# Straight to 127.0.0.1, whatever http_proxy the CI machine sets.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(port, path, timeout=5):
    """(status, body) of GET http://127.0.0.1:port/path; HTTP errors are answers too."""
    try:
        with _DIRECT.open(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


class Voxgate:
    """One voxgate process. Use as a context manager; the process is stopped on exit."""

    def __init__(self, binary, config_path, env=None, expect_metrics_port=False):
        self.binary = binary
        self.config_path = config_path
        self.env = env if env is not None else {}
        self.expect_metrics_port = expect_metrics_port
        self.process = None
        self.client_port = None
        self.metrics_port = None
        self._log = tempfile.NamedTemporaryFile(prefix="voxgate-", suffix=".log", delete=False)

    def log_text(self):
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def start(self, timeout=15):
        # Only the variables the deployment would give it: none of the CI machine's keys.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.env}
        self.process = subprocess.Popen(
            [self.binary, "--config", self.config_path, "--listen", "127.0.0.1:0", "--log-level", "info"],
            stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log_text()
            client = CLIENT_PORT.search(log)
            metrics = METRICS_PORT.search(log)
            if client and (metrics or not self.expect_metrics_port):
                self.client_port = int(client.group(1))
                self.metrics_port = int(metrics.group(1)) if metrics else self.client_port
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"voxgate exited with status {self.process.returncode} at start-up:\n{log}")
            time.sleep(0.05)
        raise RuntimeError(f"voxgate did not report its ports within {timeout} s:\n{self.log_text()}")

    def stop(self, timeout=60):
        """SIGTERM (the drain path) and wait; returns (exit status, seconds it took)."""
        if self.process is None or self.process.poll() is not None:
            return (self.process.returncode if self.process else None), 0.0
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.returncode, time.monotonic() - started

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.unlink(self._log.name)
        return False
