"""test_faults owns the end-to-end proof that file-I/O faults lose nothing: with writers pushing
all the time, a really full disk (a small tmpfs filled with a ballast file) and injected faults
(tests/fault/libfaultfs.c via LD_PRELOAD: failed fsync, failed write, ENOSPC, torn short writes,
partial writes) make the server refuse writes with 503 + Retry-After (never 500, never a 204 for
what it could not persist), keep answering queries with every acknowledged sample, accept writes
again on its own when the fault is gone (no restart), and after kill -9 and a restart hold every
acknowledged sample exactly once and nothing of a refused batch. A restart on a full disk serves
what it has and refuses writes until space is back.

Every batch writes one sample (timestamp t0 + k*100 ms, value k + 0.5) to each of a writer's
series, so a half-applied batch would show up as a timestamp present in some series and not
others; the checks demand stored == acknowledged (+ at most the batches whose answer was lost)."""
import os
import signal
import subprocess
import tempfile
import threading
import time

import promwire
from lib import WRITE_HEADERS, Server, TestFailure, check, now_ms

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
METRIC = "fault_probe"
NSERIES = 3


class Writers:
    """Background remote_write senders recording each batch's fate."""

    def __init__(self, srv, t0, ids=(0, 1)):
        self.srv = srv
        self.t0 = t0
        self.ids = list(ids)
        self.lock = threading.Lock()
        self.next_k = {w: 0 for w in self.ids + [99]}
        self.acked = {w: set() for w in self.ids + [99]}
        self.refused = {w: set() for w in self.ids + [99]}
        self.unknown = {w: set() for w in self.ids + [99]}
        self.codes = {}
        self.bad = []  # (code, body, missing Retry-After) of anything but 204 / 503 + Retry-After
        self.messages = set()
        self.stop_ev = threading.Event()
        self.pause_ev = threading.Event()
        self.threads = []

    def push(self, w):
        """One batch from writer w; returns the HTTP status (or None if the answer was lost)."""
        with self.lock:
            k = self.next_k[w]
            self.next_k[w] += 1
        ts = self.t0 + k * 100
        series = [({"__name__": METRIC, "w": str(w), "s": str(s)}, [(ts, k + 0.5)]) for s in range(NSERIES)]
        body = promwire.compress(promwire.encode_write_request(series))
        try:
            code, data, hdr = self.srv.request("POST", "/api/v1/write", body, WRITE_HEADERS, timeout=20)
        except Exception:
            with self.lock:
                self.unknown[w].add(k)
            return None
        with self.lock:
            self.codes[code] = self.codes.get(code, 0) + 1
            if code == 204:
                self.acked[w].add(k)
            else:
                self.refused[w].add(k)
                if code != 503 or not hdr.get("Retry-After"):
                    self.bad.append((code, data[:300], hdr.get("Retry-After")))
                else:
                    self.messages.add(data.decode(errors="replace").strip())
        return code

    def _loop(self, w):
        while not self.stop_ev.is_set():
            if self.pause_ev.is_set():
                time.sleep(0.01)
                continue
            self.push(w)
            time.sleep(0.003)

    def start(self):
        self.stop_ev.clear()
        self.threads = [threading.Thread(target=self._loop, args=(w,), daemon=True) for w in self.ids]
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(60)

    def snapshot(self):
        with self.lock:
            return ({w: set(s) for w, s in self.acked.items()}, {w: set(s) for w, s in self.refused.items()},
                    {w: set(s) for w, s in self.unknown.items()})

    def total_acked(self):
        with self.lock:
            return sum(len(s) for s in self.acked.values())

    def check_codes(self):
        with self.lock:
            check(not self.bad, f"writes answered other than 204 or 503 + Retry-After: {self.bad[:5]}")


def stored(srv, t0):
    """{(w, s): {k: value}} of every stored probe sample; fails on a duplicate timestamp."""
    end_s = now_ms() / 1000 + 600
    rng = int(end_s - t0 / 1000) + 60
    data = srv.query(f"{METRIC}[{rng}s]", end_s)
    out = {}
    for r in data["result"]:
        m = r["metric"]
        key = (int(m["w"]), int(m["s"]))
        ks = {}
        for ts, v in r["values"]:
            t_ms = int(round(float(ts) * 1000))
            k = (t_ms - t0) // 100
            check(k not in ks, f"series {key}: timestamp {t_ms} stored twice")
            check(float(v) == k + 0.5, f"series {key}: sample {t_ms} has value {v}, sent {k + 0.5}")
            ks[k] = float(v)
        out[key] = ks
    return out


def verify(srv, wr, t0, final, where):
    """Every acknowledged batch in every series of its writer; no refused batch anywhere; when
    final (writers stopped), nothing else but batches whose answer was lost."""
    acked, refused, unknown = wr.snapshot()
    got = stored(srv, t0)
    n = 0
    for w in acked:
        for s in range(NSERIES):
            have = set(got.get((w, s), {}))
            missing = acked[w] - have
            check(not missing, f"{where}: writer {w} series {s}: {len(missing)} acknowledged batches missing "
                               f"(e.g. {sorted(missing)[:5]})")
            back = refused[w] & have
            check(not back, f"{where}: writer {w} series {s}: refused batches stored: {sorted(back)[:5]}")
            if final:
                extra = have - acked[w] - unknown[w]
                check(not extra, f"{where}: writer {w} series {s}: never-sent batches stored: {sorted(extra)[:5]}")
            n += len(have & acked[w])
    return n


def metric_value(srv, name):
    st, body, _ = srv.request("GET", "/metrics")
    check(st == 200, f"/metrics {st}")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ")[1])
    raise TestFailure(f"/metrics has no {name}")


def wait_for_204(wr, w=99, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if wr.push(w) == 204:
            return
        time.sleep(0.1)
    raise TestFailure(f"writes did not recover within {timeout}s of the fault ending")


def fill_disk(path):
    """Writes a ballast file until the filesystem is full; returns its size."""
    size = 0
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, 4096, 512, 1):
            b = b"\0" * chunk
            while True:
                try:
                    f.write(b)
                    size += chunk
                except OSError:
                    break
    return size


def restart_and_verify(ctx, srv, wr, t0, env_extra=None):
    srv.stop(signal.SIGKILL)
    start_with_env(srv, env_extra or {})
    n = verify(srv, wr, t0, True, "after kill -9 and restart")
    check(n > 0, "nothing was acknowledged at all")
    return n


def start_with_env(srv, env):
    saved = {k: os.environ.get(k) for k in env}
    try:
        os.environ.update(env)
        srv.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_enospc_tmpfs(ctx):
    mnt = tempfile.mkdtemp(prefix="ms-fault-mnt-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        ctx.note(f"SKIPPED: cannot mount a tmpfs ({(r.stderr or r.stdout).strip()}); run as root to test a real full disk")
        return
    srv = None
    try:
        srv = Server(ctx.binary, [], data_dir=os.path.join(mnt, "data"))
        ctx.servers.append(srv)
        srv.start()
        t0 = now_ms() - 20 * 60 * 1000
        wr = Writers(srv, t0)
        wr.start()
        deadline = time.time() + 10
        while wr.total_acked() < 100 and time.time() < deadline:
            time.sleep(0.05)
        check(wr.total_acked() >= 100, f"writers made no progress: {wr.codes}")
        fails0 = metric_value(srv, "metricstor_wal_write_failures_total")

        ballast = os.path.join(mnt, "ballast")
        fill_disk(ballast)
        time.sleep(1.5)  # writers keep pushing at a full disk
        wr.pause_ev.set()
        time.sleep(0.2)
        code = wr.push(99)
        check(code == 503, f"a write to a full disk got {code}, want 503")
        check(wr.codes.get(503, 0) >= 5, f"too few refusals while the disk was full: {wr.codes}")
        check(metric_value(srv, "metricstor_wal_write_failures_total") > fails0, "failure counter did not move")
        check(metric_value(srv, "metricstor_wal_writable") == 0, "metricstor_wal_writable should be 0 on a full disk")
        check(any("disk is full" in m for m in wr.messages), f"503 message does not say the disk is full: {wr.messages}")
        verify(srv, wr, t0, False, "while the disk is full")  # queries still answer, all acked there
        wr.pause_ev.clear()
        time.sleep(0.5)

        os.unlink(ballast)
        wait_for_204(wr)
        acked_at_recovery = wr.total_acked()
        time.sleep(1.0)
        wr.stop()
        wr.check_codes()
        check(wr.total_acked() > acked_at_recovery, "writers did not continue after the disk recovered")
        check(metric_value(srv, "metricstor_wal_writable") == 1, "metricstor_wal_writable should be 1 again")
        verify(srv, wr, t0, True, "after the disk recovered")
        log = srv.log_text()
        check("not ready for writes" in log, "log does not say writes are refused")
        check("writes persist again" in log, "log does not say writes persist again")
        n = restart_and_verify(ctx, srv, wr, t0)
        # a restart on a full disk: it serves what it has, refuses writes, recovers by itself
        fill_disk(ballast)
        srv.stop(signal.SIGKILL)
        srv.start()
        verify(srv, wr, t0, True, "after a restart on a full disk")
        code = wr.push(99)
        check(code == 503, f"a write after starting on a full disk got {code}, want 503")
        os.unlink(ballast)
        wait_for_204(wr)
        verify(srv, wr, t0, True, "after space came back, post-restart")
        refused = sum(len(s) for s in wr.refused.values())
        ctx.note(f"{n} acknowledged samples verified, {refused} refused batches absent, codes {wr.codes}")
        check(srv.stop(signal.SIGTERM) == 0, "server did not exit 0 on SIGTERM")
    finally:
        if srv is not None and srv.alive():
            srv.stop(signal.SIGKILL)
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        try:
            os.rmdir(mnt)
        except OSError:
            pass


def build_shim(tmp):
    so = os.path.join(tmp, "libfaultfs.so")
    src = os.path.join(ROOT, "tests", "fault", "libfaultfs.c")
    r = subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", so, src, "-ldl"], capture_output=True, text=True)
    check(r.returncode == 0, f"building the fault shim failed: {r.stderr}")
    return so


def test_injected_faults(ctx):
    srv = ctx.server(start=False)
    so = build_shim(srv.tmp)
    ctl = os.path.join(srv.tmp, "faultfs.ctl")
    with open(ctl, "w") as f:
        f.write("off\n")
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env = {"LD_PRELOAD": so, "FAULTFS_PATH": os.path.realpath(srv.data_dir), "FAULTFS_CONTROL": ctl,
           "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"}
    start_with_env(srv, env)
    t0 = now_ms() - 20 * 60 * 1000
    wr = Writers(srv, t0)
    wr.start()
    time.sleep(0.5)
    check(wr.total_acked() > 0, f"no write acknowledged before any fault: {wr.codes}")

    def faults_seen():
        try:
            return os.path.getsize(ctl + ".count")
        except OSError:
            return 0

    phases = [("fail fsync", 503, "I/O error"), ("fail write", 503, "I/O error"),
              ("short write", 503, "disk is full"), ("enospc", 503, "disk is full"), ("partial write", 204, None)]
    summary = []
    for mode, want, words in phases:
        before = faults_seen()
        fails0 = metric_value(srv, "metricstor_wal_write_failures_total")
        with open(ctl, "w") as f:
            f.write(mode + "\n")
        time.sleep(0.3)
        codes = [wr.push(99) for _ in range(6)]
        check(all(c == want for c in codes), f"{mode}: writes got {codes}, want all {want}")
        check(faults_seen() > before, f"{mode}: the shim injected nothing")
        if want == 503:
            check(metric_value(srv, "metricstor_wal_write_failures_total") > fails0, f"{mode}: counter did not move")
            check(metric_value(srv, "metricstor_wal_writable") == 0, f"{mode}: metricstor_wal_writable is not 0")
            check(any(words in m for m in wr.messages), f"{mode}: no 503 message saying {words!r}: {wr.messages}")
        verify(srv, wr, t0, False, f"during '{mode}'")
        if want == 503:  # a refused batch's new series must not show anywhere
            t = now_ms()
            code, _ = srv.push([({"__name__": "fault_never", "mode": mode}, [(t, 1.0)])])
            check(code == 503, f"{mode}: new series push got {code}")
            st, doc = srv.get_json("/api/v1/series", {"match[]": "fault_never", "start": f"{t / 1000 - 3600:.3f}",
                                                      "end": f"{t / 1000 + 60:.3f}"})
            check(st == 200 and doc["data"] == [], f"{mode}: refused series visible in /api/v1/series: {doc}")
            st, doc = srv.get_json("/api/v1/label/__name__/values")
            check("fault_never" not in doc.get("data", []), f"{mode}: refused metric name listed: {doc}")
        with open(ctl, "w") as f:
            f.write("off\n")
        wait_for_204(wr)
        summary.append(f"{mode}: {faults_seen() - before} faults")
        time.sleep(0.3)
    wr.stop()
    wr.check_codes()
    verify(srv, wr, t0, True, "after the faults")
    check("not ready for writes" in srv.log_text(), "log does not say writes are refused")
    n = restart_and_verify(ctx, srv, wr, t0)  # restarted without the shim
    ctx.note(f"{'; '.join(summary)}; {n} acknowledged samples verified after kill -9, codes {wr.codes}")


def test_block_cut_fault(ctx):
    """A block cut whose files cannot be synced keeps its data in the head and WAL, is retried
    every second but logged only at failures 1, 2, 4, 8 ..., writes carry on meanwhile (the
    WAL is fine), and the cut succeeds by itself once the fault is gone."""
    srv = ctx.server(["--storage.head-window", "1m"], start=False)
    so = build_shim(srv.tmp)
    ctl = os.path.join(srv.tmp, "faultfs.ctl")
    with open(ctl, "w") as f:
        f.write("fail fsync\nonly .tmp/\n")  # block files being written; the WAL is spared
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env = {"LD_PRELOAD": so, "FAULTFS_PATH": os.path.realpath(srv.data_dir), "FAULTFS_CONTROL": ctl,
           "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"}
    start_with_env(srv, env)
    two_h = 2 * 3600 * 1000
    boundary = now_ms() // two_h * two_h
    early_t = boundary - 60_000  # below the cut boundary: goes into a block
    code, _ = srv.push([({"__name__": "fault_early"}, [(early_t, 7.5)])])
    check(code == 204, f"early sample: {code}")
    t0 = boundary + 120_000  # the writers' samples stay in the head
    wr = Writers(srv, t0)
    wr.start()
    time.sleep(6)  # about six failed cut attempts
    log = srv.log_text()
    fails = log.count("cut: failed")
    check(fails >= 2, f"expected the cut to fail (and be retried) while block fsyncs fail; log:\n{srv.log_tail()}")
    check(fails <= 4, f"cut failure logged {fails} times in ~6 s: should be rate-limited")
    check(metric_value(srv, "metricstor_blocks") == 0, "a block appeared although its files could not be synced")
    data = srv.query("fault_early[1h]", early_t / 1000 + 1)
    check(len(data["result"]) == 1 and len(data["result"][0]["values"]) == 1, f"early sample lost: {data}")
    with open(ctl, "w") as f:
        f.write("off\n")
    deadline = time.time() + 10
    while metric_value(srv, "metricstor_blocks") < 1 and time.time() < deadline:
        time.sleep(0.2)
    check(metric_value(srv, "metricstor_blocks") >= 1, "the cut did not succeed after the fault was gone")
    wr.stop()
    wr.check_codes()
    check(wr.codes.get(503, 0) == 0, f"writes were refused although only block files failed: {wr.codes}")
    verify(srv, wr, t0, True, "after the cut recovered")
    n = restart_and_verify(ctx, srv, wr, t0)
    data = srv.query("fault_early[1h]", early_t / 1000 + 1)
    check(len(data["result"]) == 1 and len(data["result"][0]["values"]) == 1, f"early sample after restart: {data}")
    ctx.note(f"{fails} cut failures logged, {n} acknowledged samples verified after kill -9")


def test_kill_right_after_refusal(ctx):
    """fsync fails after the batch's bytes reached the segment, the write is refused, and the
    server is killed before any other write: after the restart the refused batch must not be
    there (the WAL cuts the unsynced tail before it reports the failure)."""
    srv = ctx.server(start=False)
    so = build_shim(srv.tmp)
    ctl = os.path.join(srv.tmp, "faultfs.ctl")
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env = {"LD_PRELOAD": so, "FAULTFS_PATH": os.path.realpath(srv.data_dir), "FAULTFS_CONTROL": ctl,
           "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"}
    t0 = now_ms() - 20 * 60 * 1000
    wr = Writers(srv, t0, ids=())
    for rnd in range(3):
        with open(ctl, "w") as f:
            f.write("off\n")
        start_with_env(srv, env)
        verify(srv, wr, t0, True, f"round {rnd}: after the restart")
        for _ in range(5):
            check(wr.push(99) == 204, "a write without faults was refused")
        with open(ctl, "w") as f:
            f.write("fail fsync\n")
        check(wr.push(99) == 503, "a write whose fsync failed was not refused")
        srv.stop(signal.SIGKILL)
    with open(ctl, "w") as f:
        f.write("off\n")
    start_with_env(srv, env)
    n = verify(srv, wr, t0, True, "after the last restart")
    check(n == 15 * NSERIES, f"expected 15 acknowledged batches, found {n // NSERIES}")
    wr.check_codes()
    ctx.note(f"3 kills right after a refused write; {n} acknowledged samples, 3 refused batches absent")
