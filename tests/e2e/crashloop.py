#!/usr/bin/env python3
"""crashloop owns the crash-consistency loop: writers push remote_write continuously over HTTP and
record every sample the server acknowledged (204); the server is killed with SIGKILL at random
moments and restarted on the same data dir; after every restart every acknowledged sample must be
back, with its value, exactly once, and nothing that was never sent may appear.

A request cut off by the kill has an unknown outcome, as for a real sender: its writer resends the
identical samples after the restart (a no-op if they were stored) until it gets a 204, so at the end
every generated sample is acknowledged and the final check is exact equality.

  python3 tests/e2e/crashloop.py --binary build/metricstor --kills 100          # --mode ingest
  # kills during block cuts and WAL truncation as well:
  python3 tests/e2e/crashloop.py --kills 30 --mode cut
  #   (= --start-ago 43200 --step-ms 5000 --server-arg=--storage.head-window=1m)
  # kills during compaction: in-order writers sweep 3 days (cuts complete 6 h and 24 h windows)
  # while "old" writers push samples at random times into ranges already cut and compacted, so
  # every cut makes small late blocks and merges run all the time:
  python3 tests/e2e/crashloop.py --kills 60 --mode compaction
Prints one line per kill and a summary (kills, samples acknowledged and verified, requests in
doubt, cuts and merges finished, kills that landed while a merge was running).
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import promwire  # noqa: E402
from lib import Server, TestFailure, check  # noqa: E402

METRIC = "crashloop_sample"


def _value(w, s, t):
    return float((t * 31 + w * 7 + s) % 1000003) / 4.0


class State:
    """Shared between writers and the killer. Everything under lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.base = None               # URL of the live server, None while it is down
        self.up = threading.Event()
        self.stop = False
        self.sent = {}                 # (w, s) -> {t: v}: every sample ever sent
        self.acked = {}                # (w, s) -> set(t): samples in a request answered 204
        self.requests_ok = 0
        self.requests_in_doubt = 0     # cut off by a kill, resent later
        self.refused = 0               # 429/503: resent later
        self.errors = []
        self.progress = {}             # in-order writer -> its next timestamp (old writers stay below)


def _post(base, body, timeout=10):
    req = urllib.request.Request(base + "/api/v1/write", data=body, method="POST",
                                 headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _writer(st, w, n_series, per_batch, t0, step, old=False):
    """In-order writer (timestamps advance from t0), or with old=True a writer of late samples:
    random timestamps between t0 and 10 min behind the slowest in-order writer, i.e. into ranges
    that were cut into blocks (and compacted) already."""
    rng = random.Random(w)
    t_next = t0 + w % step
    pending = None  # the batch whose outcome is unknown or refused: resend it as is
    while True:
        with st.lock:
            if st.stop and pending is None:
                return
        if pending is None:
            if old:
                with st.lock:
                    prog = min(st.progress.values()) if st.progress else t0
                hi = max(prog - 600_000, t0 + 60_000)
                ts = sorted(rng.sample(range(t0, hi), per_batch))
            else:
                # Advance step_ms per sample, but slower than the clock once within 2 min of now,
                # so timestamps never run into the future (they would be dropped as too new).
                st_ms = step if t_next + per_batch * step < time.time() * 1000 - 120_000 else 3
                ts = [t_next + k * st_ms for k in range(per_batch)]
                t_next += per_batch * st_ms
                with st.lock:
                    st.progress[w] = t_next
            series = [((w, s), ts) for s in range(n_series)]
            rng.shuffle(series)
            pending = series
            with st.lock:
                for key, ts in series:
                    d = st.sent.setdefault(key, {})
                    for t in ts:
                        d[t] = _value(key[0], key[1], t)
        body = promwire.compress(promwire.encode_write_request(
            [({"__name__": METRIC, "w": str(k[0]), "s": str(k[1])}, [(t, _value(k[0], k[1], t)) for t in ts])
             for k, ts in pending]))
        if not st.up.wait(30):
            with st.lock:
                if st.stop:
                    return
            continue
        with st.lock:
            base = st.base
            if st.stop and base is None:
                return
        if base is None:
            continue
        try:
            code, data = _post(base, body)
        except Exception:
            with st.lock:
                st.requests_in_doubt += 1
            time.sleep(0.02)
            continue
        if code == 204:
            with st.lock:
                st.requests_ok += 1
                for key, ts in pending:
                    st.acked.setdefault(key, set()).update(ts)
            pending = None
        elif code in (429, 503):
            with st.lock:
                st.refused += 1
            time.sleep(0.05)
        else:
            with st.lock:
                st.errors.append(f"writer {w}: unexpected {code} {data[:200]!r}")
                st.stop = True
            return


def _read_all(srv, t_lo, t_hi):
    """Every stored sample of the test metric, as {(w, s): [(t, v), ...]}."""
    rng_ms = t_hi - t_lo + 1
    status, doc = srv.get_json("/api/v1/query", {
        "query": f"{METRIC}[{rng_ms}ms]", "time": f"{t_hi / 1000.0:.3f}"})
    check(status == 200 and doc.get("status") == "success", f"read-back query failed: {status} {str(doc)[:300]}")
    out = {}
    for e in doc["data"]["result"]:
        key = (int(e["metric"]["w"]), int(e["metric"]["s"]))
        out[key] = [(round(float(p[0]) * 1000), float(p[1])) for p in e["values"]]
    return out


def _verify(st, srv, t0, final):
    """acked subset of stored subset of sent, values equal, no timestamp twice; with final, stored
    must equal sent (every sample was eventually acknowledged)."""
    with st.lock:
        acked = {k: set(v) for k, v in st.acked.items()}
        sent = {k: dict(v) for k, v in st.sent.items()}
    if not sent:
        return 0
    t_hi = max(max(v) for v in sent.values() if v)
    stored = _read_all(srv, t0 - 1, t_hi)
    verified = 0
    for key, pts in stored.items():
        ts = [t for t, _ in pts]
        check(len(ts) == len(set(ts)), f"series {key}: a timestamp returned twice")
        check(ts == sorted(ts), f"series {key}: samples out of order")
        sk = sent.get(key)
        check(sk is not None, f"series {key} stored but never sent")
        for t, v in pts:
            check(t in sk, f"series {key}: sample at {t} stored but never sent")
            check(v == sk[t], f"series {key}: sample at {t} is {v}, sent {sk[t]}")
    losses = []  # every series with a loss, not just the first (the pattern tells the cause)
    for key, ts in acked.items():
        have = {t for t, _ in stored.get(key, [])}
        lost = ts - have
        if lost:
            losses.append(f"series {key}: {len(lost)} acknowledged samples lost, e.g. {sorted(lost)[:5]}"
                          f" .. {max(lost)}")
        verified += len(ts)
    check(not losses, "; ".join(sorted(losses)[:16]))
    if final:
        for key, d in sent.items():
            have = {t for t, _ in stored.get(key, [])}
            check(have == set(d), f"series {key}: final set differs from sent ({len(have)} vs {len(d)})")
        # and counted by PromQL over the same range: each sample once
        status, doc = srv.get_json("/api/v1/query", {
            "query": f"count_over_time({METRIC}[{t_hi - t0 + 2}ms])", "time": f"{t_hi / 1000.0:.3f}"})
        check(status == 200 and doc.get("status") == "success", f"count query failed: {status} {str(doc)[:300]}")
        counts = {(int(e["metric"]["w"]), int(e["metric"]["s"])): int(float(e["value"][1]))
                  for e in doc["data"]["result"]}
        for key, d in sent.items():
            check(counts.get(key) == len(d), f"series {key}: count_over_time {counts.get(key)}, sent {len(d)}")
    return verified


_MERGING = re.compile(r"compact: merging \d+ blocks")
_MERGED = re.compile(r"compact: (merged \d+ blocks|merge of \d+ blocks (failed|given up))")


def _merge_state(text):
    """(merges finished, whether the log ends inside a merge) of one server's log."""
    starts = [m.start() for m in _MERGING.finditer(text)]
    ends = [m.start() for m in _MERGED.finditer(text)]
    return len(ends), bool(starts) and (not ends or starts[-1] > ends[-1])


MODES = {
    "ingest": {},
    "cut": {"start_ago_s": 12 * 3600, "step_ms": 5000, "server_args": ["--storage.head-window", "1m"]},
    "compaction": {"start_ago_s": 3 * 86400, "step_ms": 30000, "old_writers": 2, "merge_kill_frac": 0.5,
                   "server_args": ["--storage.head-window", "1m"]},
}


def run(binary, kills=10, writers=4, series=8, per_batch=5, min_run=0.2, max_run=1.5, seed=None,
        server_args=(), log=print, keep=False, start_ago_s=3600, step_ms=3, old_writers=0, merge_kill_frac=0.0):
    """Runs the loop; returns a summary dict. Raises TestFailure on any lost/extra/wrong sample.
    old_writers > 0 adds writers of late samples into already-cut ranges (see _writer). With
    merge_kill_frac > 0 that fraction of the kills is aimed at merges: the killer waits for the
    server to log the start of a merge, then kills within 0-20 ms."""
    seed = seed if seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    work = tempfile.mkdtemp(prefix="ms-crashloop-")
    data_dir = os.path.join(work, "data")
    st = State()
    # Timestamps start start_ago_s back (inside retention) and advance step_ms per sample; a large
    # step with a short --storage.head-window makes the server cut blocks while it is being killed.
    t0 = int(time.time() * 1000) - int(start_ago_s * 1000)
    threads = [threading.Thread(target=_writer, args=(st, w, series, per_batch, t0, max(1, step_ms)), daemon=True)
               for w in range(writers)]
    threads += [threading.Thread(target=_writer, args=(st, writers + w, series, per_batch, t0, max(1, step_ms), True),
                                 daemon=True) for w in range(old_writers)]
    summary = {"seed": seed, "kills": 0, "verified": 0, "kills_mid_merge": 0}
    servers = []
    started = time.time()
    try:
        srv = Server(binary, list(server_args), data_dir=data_dir)
        servers.append(srv)
        srv.start()
        with st.lock:
            st.base = srv.base
        st.up.set()
        for th in threads:
            th.start()
        for k in range(kills):
            if merge_kill_frac > 0 and rng.random() < merge_kill_frac:
                seen = len(_MERGING.findall(srv.log_text()))
                deadline = time.time() + 3 * max_run
                while time.time() < deadline and len(_MERGING.findall(srv.log_text())) == seen:
                    time.sleep(0.003)
                time.sleep(rng.uniform(0, 0.02))
            else:
                time.sleep(rng.uniform(min_run, max_run))
            st.up.clear()
            with st.lock:
                st.base = None
            srv.stop(signal.SIGKILL)
            rep = srv.sanitizer_report()
            check(rep is None, f"sanitizer report before kill {k + 1}:\n{rep}")
            summary["kills"] += 1
            mid_merge = _merge_state(srv.log_text())[1]
            summary["kills_mid_merge"] += mid_merge
            t_restart = time.time()
            srv = Server(binary, list(server_args), data_dir=data_dir)
            servers.append(srv)
            srv.start(timeout=120)
            restart_s = time.time() - t_restart
            with st.lock:
                check(not st.errors, "; ".join(st.errors))
            verified = _verify(st, srv, t0, final=False)
            summary["verified"] = verified
            with st.lock:
                st.base = srv.base
                acked_req, doubt = st.requests_ok, st.requests_in_doubt
            st.up.set()
            log(f"kill {k + 1}/{kills}{' (mid-merge)' if mid_merge else ''}: restart {restart_s:.2f}s, "
                f"{verified} acknowledged samples verified, {acked_req} requests acknowledged, {doubt} in doubt so far")
        # Let every in-doubt batch be resent and acknowledged, then stop the writers.
        time.sleep(0.3)
        with st.lock:
            st.stop = True
        for th in threads:
            th.join(120)
            check(not th.is_alive(), "a writer did not finish")
        with st.lock:
            check(not st.errors, "; ".join(st.errors))
        # One last clean restart, then the exact check.
        code = srv.stop(signal.SIGTERM)
        check(code == 0, f"server exited {code} on SIGTERM:\n{srv.log_tail()}")
        srv = Server(binary, list(server_args), data_dir=data_dir)
        servers.append(srv)
        srv.start(timeout=120)
        if merge_kill_frac > 0:
            # The kills above are aimed at merges, so on a slow (sanitizer) or busy machine none
            # may have finished; the final run lets one finish undisturbed, so the exact check
            # below also covers data that went through a merge after all those kills.
            deadline = time.time() + 90
            while time.time() < deadline and _merge_state(srv.log_text())[0] == 0:
                time.sleep(0.1)
        summary["verified"] = _verify(st, srv, t0, final=True)
        code = srv.stop(signal.SIGTERM)
        check(code == 0, f"server exited {code} on SIGTERM:\n{srv.log_tail()}")
        for s in servers:
            rep = s.sanitizer_report()
            check(rep is None, f"sanitizer report:\n{rep}")
        with st.lock:
            summary.update(requests_acknowledged=st.requests_ok, requests_in_doubt=st.requests_in_doubt,
                           requests_refused=st.refused, series=len(st.sent),
                           samples_sent=sum(len(v) for v in st.sent.values()))
        bdir = os.path.join(data_dir, "blocks")
        summary["blocks"] = len([b for b in os.listdir(bdir) if b.isdigit()]) if os.path.isdir(bdir) else 0
        logs = [s.log_text() for s in servers]
        summary["cuts"] = sum(t.count("blocks below") for t in logs)
        summary["merges"] = sum(_merge_state(t)[0] for t in logs)
        summary["interrupted_merges_cleaned"] = sum(t.count("already merged into a newer block") for t in logs)
        summary["seconds"] = round(time.time() - started, 1)
        return summary
    finally:
        with st.lock:
            st.stop = True
        st.up.set()
        for s in servers:
            if s.alive():
                s.stop(signal.SIGKILL)
            if not keep:
                s.cleanup()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default="build/metricstor")
    ap.add_argument("--mode", choices=sorted(MODES), default="ingest",
                    help="preset for --start-ago/--step-ms/--old-writers and server flags (explicit ones win)")
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--series", type=int, default=8, help="series per writer")
    ap.add_argument("--per-batch", type=int, default=5, help="samples per series per request")
    ap.add_argument("--min-run", type=float, default=0.2, help="shortest time between restart and kill (s)")
    ap.add_argument("--max-run", type=float, default=1.5, help="longest time between restart and kill (s)")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--server-arg", action="append", default=[], help="extra server flag (repeatable)")
    ap.add_argument("--start-ago", type=float, help="first timestamp this many seconds back (default 3600)")
    ap.add_argument("--step-ms", type=int, help="timestamp advance per sample of a series (default 3)")
    ap.add_argument("--old-writers", type=int, help="writers of late samples into cut ranges (default 0)")
    ap.add_argument("--merge-kill-frac", type=float,
                    help="fraction of kills aimed at a merge that just started (default 0; compaction mode 0.5)")
    ap.add_argument("--keep", action="store_true", help="keep the data dir and logs")
    a = ap.parse_args()
    m = MODES[a.mode]
    start_ago = a.start_ago if a.start_ago is not None else m.get("start_ago_s", 3600)
    step_ms = a.step_ms if a.step_ms is not None else m.get("step_ms", 3)
    old_writers = a.old_writers if a.old_writers is not None else m.get("old_writers", 0)
    mkf = a.merge_kill_frac if a.merge_kill_frac is not None else m.get("merge_kill_frac", 0.0)
    server_args = list(m.get("server_args", [])) + a.server_arg
    try:
        s = run(os.path.abspath(a.binary), a.kills, a.writers, a.series, a.per_batch, a.min_run, a.max_run,
                a.seed, server_args, keep=a.keep, start_ago_s=start_ago, step_ms=step_ms, old_writers=old_writers, merge_kill_frac=mkf)
    except TestFailure as e:
        print(f"FAIL: {e}")
        if a.keep:
            print(f"data dir and server logs kept under {tempfile.gettempdir()} (ms-crashloop-*, ms-e2e-*)")
        return 1
    print("crashloop: " + json.dumps(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
