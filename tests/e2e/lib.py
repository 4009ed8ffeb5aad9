"""lib owns the e2e harness: start the real metricstor binary on a free port with a temp data
dir, talk to it over real HTTP, and check its log for sanitizer reports."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import promwire

WRITE_HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                 "X-Prometheus-Remote-Write-Version": "0.1.0"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestFailure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


class Server:
    """One metricstor process. The data dir survives restarts until cleanup()."""

    ssl_ctx = None  # class default, so request() also works on a Server made for another peer

    def __init__(self, binary, extra_args=(), data_dir=None):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix="ms-e2e-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.extra = list(extra_args)
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc = None
        self.exit_codes = []
        self.ssl_ctx = None  # an ssl.SSLContext when the server listens with TLS (base is then https://)

    def start(self, timeout=30):
        log = open(self.log_path, "a")
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        self.proc = subprocess.Popen(
            [self.binary, "--http-addr", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir] + self.extra,
            stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"server exited during start with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with self._urlopen(self.base + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except Exception:
                time.sleep(0.05)
        raise TestFailure("server did not become ready:\n" + self.log_tail())

    def start_must_fail(self, what, timeout=20):
        """Starts a server given a bad configuration: it must exit during start, else TestFailure
        naming what ("server started with <what>")."""
        try:
            self.start(timeout=timeout)
        except TestFailure as e:
            check("exited during start" in str(e), str(e))
            return
        raise TestFailure(f"server started with {what}")

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure(f"server ignored signal {sig} for {timeout}s")
        code = self.proc.returncode
        self.exit_codes.append(code)
        self.proc = None
        return code

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=4000):
        return self.log_text()[-n:]

    def sanitizer_report(self):
        text = self.log_text()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            i = text.find(marker)
            if i >= 0:
                return text[max(0, i - 200):i + 3000]
        return None

    def cleanup(self):
        if self.proc is not None:
            self.stop(signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- HTTP helpers ----
    def _urlopen(self, req, timeout):
        return urllib.request.urlopen(req, timeout=timeout, context=self.ssl_ctx)

    def request(self, method, path, body=None, headers=None, params=None, timeout=30):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with self._urlopen(req, timeout=timeout) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def push(self, series, metadata=(), compress=True, headers=None):
        raw = promwire.encode_write_request(series, metadata)
        body = promwire.compress(raw) if compress else promwire.snappy_literal(raw)
        return self.push_raw(body, headers)

    def push_raw(self, body, headers=None):
        h = WRITE_HEADERS if headers is None else headers
        status, data, _ = self.request("POST", "/api/v1/write", body, h)
        return status, data

    def get_json(self, path, params=None, method="GET"):
        if method == "POST":
            body = urllib.parse.urlencode(params or {}, doseq=True).encode()
            status, data, _ = self.request("POST", path, body,
                                           {"Content-Type": "application/x-www-form-urlencoded"})
        else:
            status, data, _ = self.request("GET", path, params=params)
        try:
            return status, json.loads(data)
        except ValueError:
            raise TestFailure(f"{path} {params}: not JSON ({status}): {data[:300]!r}")

    def metric(self, name):
        """The value of the unlabelled series name on /metrics (TestFailure if absent)."""
        st, body, _ = self.request("GET", "/metrics")
        check(st == 200, f"/metrics {st}")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise TestFailure(f"{name} not in /metrics")

    def query(self, q, t_s, method="GET"):
        status, doc = self.get_json("/api/v1/query", {"query": q, "time": f"{t_s:.3f}"}, method)
        check(status == 200 and doc.get("status") == "success", f"query {q!r} failed: {status} {doc}")
        return doc["data"]

    def query_range(self, q, start_s, end_s, step_s, method="GET"):
        status, doc = self.get_json("/api/v1/query_range", {
            "query": q, "start": f"{start_s:.3f}", "end": f"{end_s:.3f}", "step": str(step_s)}, method)
        check(status == 200 and doc.get("status") == "success", f"query_range {q!r} failed: {status} {doc}")
        return doc["data"]


def now_ms():
    return int(time.time() * 1000)


def cli_path(ctx):
    """build/metricstor-cli, found next to the server binary under test (or one level up)."""
    here = os.path.dirname(os.path.abspath(ctx.binary))
    for p in (os.path.join(here, "metricstor-cli"), os.path.join(here, "..", "metricstor-cli")):
        if os.path.exists(p):
            return p
    raise TestFailure(f"metricstor-cli not found next to {ctx.binary}")


def load_slow_query_data(srv, n_series=200):
    """n_series series with a sample every 10 s over the last 2 h; returns the last time (s).
    Over them a subquery such as count(count_over_time({__name__=~".+"}[30d:1s])) runs for many
    seconds (lookback 5 m: every 1 s step finds a value)."""
    t = now_ms()
    for lo in range(0, n_series, 50):
        st, body = srv.push([({"__name__": f"load_{i % 20}", "i": str(i)},
                              [(t - 10_000 * k, float(k)) for k in range(720)]) for i in range(lo, lo + 50)])
        check(st == 204, f"loading data: {st} {body[:200]!r}")
    return t / 1000.0
