"""bench_targets owns the lifecycle of the three benchmarked servers (Metricstor, Prometheus,
VictoriaMetrics): start on a free loopback port with a fresh data dir, readiness, process
accounting from /proc, each store's own flush/compaction before measuring disk, SIGTERM stop.

Every target exposes the same small interface so the runner treats them alike; what differs
(flags, the write path, how data is made durable and compact) is written down here, once."""
import glob
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

CLK_TCK = os.sysconf("SC_CLK_TCK")


class TargetError(RuntimeError):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, headers=None, timeout=120):
    """Returns (status, bytes). Never raises on HTTP errors; raises OSError on connection errors."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def proc_cpu_seconds(pid):
    """utime + stime of a process, in seconds, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def proc_status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise TargetError(f"{key} missing from /proc/{pid}/status")


def dir_parts(path, part_of):
    """{part: bytes on disk} over the tree at path; part_of(relative path) names each file's part."""
    parts = {}
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                st = os.lstat(full)
            except FileNotFoundError:
                continue
            part = part_of(os.path.relpath(full, path))
            parts[part] = parts.get(part, 0) + st.st_blocks * 512
    return parts


def block_part(rel):
    """Part of a file inside a TSDB-style block tree: chunks, index, meta, wal or other."""
    segs = rel.split(os.sep)
    if segs[0] == "wal" or "wal" in segs[:-1]:
        return "wal"
    if "chunks" in segs[:-1] or segs[-1] == "chunks":
        return "chunks"
    if segs[-1] in ("index", "meta", "meta.json", "tombstones"):
        return "meta" if segs[-1] == "meta.json" else segs[-1]
    return "other"


def dir_bytes(path):
    """Bytes the directory tree occupies on disk (allocated blocks, like du)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue  # a store may delete temp files while we walk
            total += st.st_blocks * 512
    return total


class Target:
    """One server process; the data dir lives until cleanup()."""

    name = "?"
    write_path = "/api/v1/write"

    def __init__(self, binary, workdir, log_level="warn"):
        self.binary = binary
        self.tmp = tempfile.mkdtemp(prefix=f"bench-{self.key}-", dir=workdir)
        self.data_dir = os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc = None
        self.log_level = log_level

    # -- lifecycle ------------------------------------------------------------------------
    def argv(self):
        raise NotImplementedError

    def ready_path(self):
        return "/-/ready"

    def start(self, timeout=120):
        """Spawns the server and waits until it answers its readiness endpoint."""
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.tmp)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TargetError(f"{self.name} exited during start with {self.proc.returncode}:\n"
                                  + self.log_tail())
            try:
                status, _ = http("GET", self.base + self.ready_path(), timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise TargetError(f"{self.name} not ready after {timeout}s:\n" + self.log_tail())

    def stop(self, timeout=120):
        """SIGTERM and wait; returns seconds the shutdown took."""
        if self.proc is None:
            return 0.0
        t0 = time.time()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TargetError(f"{self.name} ignored SIGTERM for {timeout}s")
        self.proc = None
        return time.time() - t0

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cleanup(self, keep=False):
        self.kill()
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, n=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    # -- accounting -----------------------------------------------------------------------
    @property
    def pid(self):
        if self.proc is None or self.proc.poll() is not None:
            raise TargetError(f"{self.name} is not running:\n" + self.log_tail())
        return self.proc.pid

    def cpu_seconds(self):
        return proc_cpu_seconds(self.pid)

    def rss_peak_bytes(self):
        return proc_status_kb(self.pid, "VmHWM") * 1024

    def rss_bytes(self):
        return proc_status_kb(self.pid, "VmRSS") * 1024

    # -- store-specific hooks -------------------------------------------------------------
    def make_visible(self):
        """Whatever the store needs before just-written samples are queryable."""

    def persist_and_measure(self):
        """Runs the store's own flush/compaction; returns (bytes, how-it-was-measured)."""
        raise NotImplementedError

    def settle(self):
        """What the store does by itself in the background before queries: nothing by default."""

    def disk_parts(self):
        """{part: bytes} of what persist_and_measure measured (chunks, index, ...), or None."""
        return getattr(self, "_parts", None)

    def version(self):
        return "?"


class Metricstor(Target):
    name = "Metricstor"
    key = "metricstor"

    def __init__(self, binary, workdir, extra_args=(), **kw):
        self.extra_args = list(extra_args)
        super().__init__(binary, workdir, **kw)

    def argv(self):
        return [self.binary, "--http-addr", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir,
                "--retention", "0", "--log-level", self.log_level, "--web.enable-admin-api"] + self.extra_args

    def persist_and_measure(self):
        # POST /api/v1/admin/tsdb/flush cuts the whole head into blocks and truncates the WAL
        # (db_flush_head); what is then left in the data dir is what the store keeps. A build
        # without the endpoint keeps everything in the WAL: measured as it is, and said so.
        status, body = http("POST", self.base + "/api/v1/admin/tsdb/flush", b"", timeout=600)
        if status in (404, 405, 501):
            how = f"data dir, no flush (flush endpoint answered {status}): WAL only"
        elif status // 100 != 2:
            raise TargetError(f"flush failed: {status} {body[:300]!r}")
        else:
            how = "data dir after POST /api/v1/admin/tsdb/flush (blocks + what is left of the WAL)"
            # then its own compaction, as VictoriaMetrics gets force_merge (it merges only
            # complete aligned windows, so a fresh 2 h workload usually stays as cut)
            status, body = http("POST", self.base + "/api/v1/admin/tsdb/compact", b"", timeout=600)
            if status // 100 == 2:
                how += " and .../compact"
            elif status not in (404, 405, 501):
                raise TargetError(f"compact failed: {status} {body[:300]!r}")
        self._parts = dir_parts(self.data_dir, block_part)
        self._blocks = len([d for d in os.listdir(os.path.join(self.data_dir, "blocks"))
                            if d.isdigit()]) if os.path.isdir(os.path.join(self.data_dir, "blocks")) else 0
        how += f"; {self._blocks} block(s)"
        return dir_bytes(self.data_dir), how

    def version(self):
        try:
            status, body = http("GET", self.base + "/api/v1/status/buildinfo", timeout=5)
            if status == 200:
                return json.loads(body)["data"].get("version", "?")
        except (OSError, ValueError, KeyError):
            pass
        return "?"

    def head_stats(self):
        """(head_bytes, head series) from /metrics: the memory the head structures hold."""
        status, body = http("GET", self.base + "/metrics", timeout=30)
        if status != 200:
            return None
        vals = {}
        for line in body.decode(errors="replace").splitlines():
            for k in ("metricstor_head_bytes", "metricstor_head_series"):
                if line.startswith(k + " "):
                    vals[k] = float(line.split()[1])
        if len(vals) != 2 or not vals["metricstor_head_series"]:
            return None
        return vals["metricstor_head_bytes"], vals["metricstor_head_series"]


class Prometheus(Target):
    name = "Prometheus"
    key = "prometheus"

    def __init__(self, binary, workdir, **kw):
        super().__init__(binary, workdir, **kw)
        self.config = os.path.join(self.tmp, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("# minimal: no scrape jobs; data arrives through remote_write only\n"
                    "global:\n  scrape_interval: 15s\n")

    def argv(self):
        return [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.data_dir}",
                "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver", "--web.enable-admin-api",
                f"--log.level={self.log_level}"]

    def persist_and_measure(self):
        # A snapshot writes the head as a compacted, compressed block next to the on-disk blocks:
        # that is the size the data settles at. The WAL is left out (it is truncated once the head
        # is compacted in normal operation).
        status, body = http("POST", self.base + "/api/v1/admin/tsdb/snapshot", b"", timeout=600)
        if status != 200:
            raise TargetError(f"snapshot failed: {status} {body[:300]!r}")
        name = json.loads(body)["data"]["name"]
        snap = os.path.join(self.data_dir, "snapshots", name)
        size = dir_bytes(snap)
        self._parts = dir_parts(snap, block_part)
        shutil.rmtree(snap, ignore_errors=True)
        return size, "TSDB snapshot (head written as a block; WAL excluded)"

    def wal_bytes(self):
        return dir_bytes(os.path.join(self.data_dir, "wal"))

    def version(self):
        try:
            status, body = http("GET", self.base + "/api/v1/status/buildinfo", timeout=5)
            if status == 200:
                return json.loads(body)["data"].get("version", "?")
        except (OSError, ValueError, KeyError):
            pass
        return "?"


class VictoriaMetrics(Target):
    name = "VictoriaMetrics"
    key = "victoriametrics"
    write_path = "/api/v1/write"

    def argv(self):
        # latencyOffset=0: answer queries about the last 30 s too (the default hides them).
        # disableCache: no rollup-result cache, so repeated identical queries measure the engine.
        return [self.binary, f"-storageDataPath={self.data_dir}", "-retentionPeriod=100y",
                f"-httpListenAddr=127.0.0.1:{self.port}", "-search.latencyOffset=0s",
                "-search.disableCache", f"-loggerLevel={'ERROR' if self.log_level == 'warn' else 'INFO'}"]

    def ready_path(self):
        return "/health"

    def make_visible(self):
        status, body = http("GET", self.base + "/internal/force_flush", timeout=300)
        if status != 200:
            raise TargetError(f"force_flush failed: {status} {body[:300]!r}")

    def active_merges(self):
        status, body = http("GET", self.base + "/metrics", timeout=30)
        if status != 200:
            raise TargetError(f"/metrics failed: {status}")
        total = 0.0
        for line in body.decode(errors="replace").splitlines():
            if line.startswith("vm_active_merges"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def settle(self):
        # VictoriaMetrics merges freshly flushed parts in the background on its own; force it
        # and wait, so the timed queries neither race a merge nor read unmerged parts
        self.persist_and_measure()

    def persist_and_measure(self):
        self.make_visible()
        status, body = http("GET", self.base + "/internal/force_merge", timeout=600)
        if status != 200:
            raise TargetError(f"force_merge failed: {status} {body[:300]!r}")
        # force_merge starts merges in the background: wait until none run and the size is stable.
        deadline = time.time() + 600
        last = -1
        stable = 0
        while time.time() < deadline:
            time.sleep(1.0)
            size = self._data_bytes()
            if self.active_merges() == 0 and size == last:
                stable += 1
                if stable >= 2:
                    break
            else:
                stable = 0
            last = size
        self._parts = {d: dir_bytes(os.path.join(self.data_dir, d)) for d in ("data", "indexdb")
                       if os.path.isdir(os.path.join(self.data_dir, d))}
        return self._data_bytes(), "data + indexdb after force_flush and force_merge (caches excluded)"

    def _data_bytes(self):
        return sum(dir_bytes(os.path.join(self.data_dir, d)) for d in ("data", "indexdb")
                   if os.path.isdir(os.path.join(self.data_dir, d)))

    def version(self):
        # Debian's build carries no version string (-version prints nothing): ask dpkg.
        out = subprocess.run([self.binary, "-version"], capture_output=True, text=True, timeout=10)
        v = (out.stdout + out.stderr).strip()
        if v:
            return v.splitlines()[0]
        return package_version("victoria-metrics") + " (Debian package)"


def package_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def ensure_packages(binaries_pkgs):
    """apt-get installs the packages of missing binaries. binaries_pkgs: [(path, package)]."""
    missing = [pkg for path, pkg in binaries_pkgs if not (os.path.exists(path) or shutil.which(path))]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"installing: {' '.join(missing)}", flush=True)
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq"] + missing, check=True, env=env)


def glob_one(pattern):
    hits = glob.glob(pattern)
    return hits[0] if hits else None
