"""servers owns the two processes of the differential test: a real Prometheus and our metricstor,
each on a free loopback port with its own temp dir, plus the HTTP calls made to them.

Children get PR_SET_PDEATHSIG so they die with this process even on SIGKILL; stop() and cleanup()
are idempotent so every exit path can call them.
"""
import ctypes
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

WRITE_HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                 "X-Prometheus-Remote-Write-Version": "0.1.0"}

# evaluation_interval is also the default subquery step (`x[10m:]`); 1m is Prometheus's default.
PROMETHEUS_CONFIG = """# minimal config for the PromQL differential test: no scraping, no rules
global:
  scrape_interval: 15s
  evaluation_interval: 1m
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class ServerError(Exception):
    pass


class Server:
    """One HTTP server process with a temp dir; `name` is used in messages."""

    def __init__(self, name, keep=False):
        self.name = name
        self.keep = keep
        self.tmp = tempfile.mkdtemp(prefix=f"promql-diff-{name}-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc = None

    def argv(self):
        raise NotImplementedError

    def start(self, timeout=60):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited during start with {self.proc.returncode}:\n"
                                  + self.log_tail())
            try:
                with urllib.request.urlopen(self.base + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except Exception:
                time.sleep(0.1)
        raise ServerError(f"{self.name} did not become ready in {timeout}s:\n" + self.log_tail())

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, n=3000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    # ---- HTTP ----
    def request(self, method, path, body=None, headers=None, params=None, timeout=60):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def push(self, body):
        return self.request("POST", "/api/v1/write", body, WRITE_HEADERS)

    def api(self, path, params, method="GET", timeout=30):
        """GET (or POST as a form) a query endpoint; returns (http_status, parsed JSON or None,
        raw bytes)."""
        if method == "POST":
            body = urllib.parse.urlencode(params).encode()
            status, raw = self.request("POST", path, body,
                                       {"Content-Type": "application/x-www-form-urlencoded"}, timeout=timeout)
        else:
            status, raw = self.request("GET", path, params=params, timeout=timeout)
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        return status, doc, raw


class Prometheus(Server):
    def __init__(self, binary, name="prometheus", keep=False):
        super().__init__(name, keep)
        self.binary = binary
        self.config = os.path.join(self.tmp, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write(PROMETHEUS_CONFIG)

    def argv(self):
        return [self.binary,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={os.path.join(self.tmp, 'data')}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver",
                "--storage.tsdb.retention.time=100y",
                "--log.level=warn"]


class Metricstor(Server):
    def __init__(self, binary, keep=False):
        super().__init__("metricstor", keep)
        self.binary = binary

    def argv(self):
        return [self.binary, "--http-addr", f"127.0.0.1:{self.port}",
                "--data-dir", os.path.join(self.tmp, "data")]


def ensure_prometheus(path):
    """Returns the Prometheus binary path, installing Debian's package if it is missing."""
    if os.access(path, os.X_OK):
        return path
    if path != "/usr/bin/prometheus":
        raise ServerError(f"prometheus binary {path} not found")
    print("promql-diff: /usr/bin/prometheus missing; running apt-get install -y prometheus", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "prometheus"], env=env)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env)
        r = subprocess.run(["apt-get", "install", "-y", "prometheus"], env=env)
    # The Debian package starts a system service on :9090; we run our own instance instead.
    try:
        subprocess.run(["systemctl", "stop", "prometheus"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    except OSError:
        pass
    if r.returncode != 0 or not os.access(path, os.X_OK):
        raise ServerError("apt-get install -y prometheus failed")
    return path
