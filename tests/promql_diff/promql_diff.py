#!/usr/bin/env python3
"""promql_diff owns the differential PromQL test: it pushes the same generated data into a real
Prometheus (2.42, the reference) and into build/metricstor, runs a seeded corpus of PromQL queries
as instant and range queries against both and reports every difference.

  tests/promql_diff/promql_diff.py                      # against build/metricstor
  tests/promql_diff/promql_diff.py --self-check         # Prometheus vs a second Prometheus: must be 0 failures
  tests/promql_diff/promql_diff.py --list               # print the corpus
  tests/promql_diff/promql_diff.py --only 'rate|irate'  # a subset

Last line: `promql-diff: N passed, M failed` (queries; a query passes when all its evaluations
agree). Exit status 0 when all pass, 1 on any failure, 2 when the set-up itself failed.
"""
import argparse
import collections
import concurrent.futures
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))  # promwire, the shared encoder

import compare  # noqa: E402
import corpus  # noqa: E402
import datagen  # noqa: E402
from servers import Metricstor, Prometheus, ServerError, ensure_prometheus  # noqa: E402

DEFAULT_SEED = 20261127
INSTANT_TIMES = 3


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default=os.path.join(REPO, "build", "metricstor"))
    p.add_argument("--prometheus", default="/usr/bin/prometheus")
    p.add_argument("--queries", type=int, default=2500, help="corpus size (default 2500: ~1050 fixed + random)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--only", help="run only queries matching this regex (searched in the query text)")
    p.add_argument("--keep", action="store_true", help="keep temp dirs (data, logs) after exit")
    p.add_argument("--list", action="store_true", help="print the corpus and exit")
    p.add_argument("--max-failures-shown", type=int, default=40)
    p.add_argument("--self-check", action="store_true",
                   help="compare Prometheus with a second Prometheus (proves the harness: must pass)")
    p.add_argument("--jobs", type=int, default=4, help="queries in flight at once")
    p.add_argument("--max-restarts", type=int, default=100,
                   help="restarts of a crashed metricstor before giving up (default 100)")
    return p.parse_args(argv)


def window(now_ms):
    """Data window: N_STEPS ticks on a whole minute, the last one at least a minute before now."""
    end = (now_ms - 60_000) // 60_000 * 60_000
    return end - (datagen.N_STEPS - 1) * datagen.STEP_MS


def evaluations(seed, query, t0):
    """The instant times and the range (start, end, step) for one query, in seconds, derived from
    the seed and the query text so a --only subset evaluates the same way. About a quarter of
    the queries go as POST forms (as Grafana sends them), the rest as GET."""
    r = random.Random(f"eval-{seed}-{query}")
    last = datagen.N_STEPS - 1
    ticks = sorted(set([r.randint(20, last) for _ in range(INSTANT_TIMES - 1)] + [r.choice([last, r.randint(20, last)])]))
    out = [("instant", {"time": str((t0 + k * datagen.STEP_MS) // 1000)}) for k in ticks]
    start = r.randint(0, last - 40)
    end = min(last, start + r.choice([40, 80, 120]))
    step = r.choice(["30", "60", "60", "90"])
    out.append(("range", {"start": str((t0 + start * datagen.STEP_MS) // 1000),
                          "end": str((t0 + end * datagen.STEP_MS) // 1000), "step": step}))
    method = "POST" if r.random() < 0.25 else "GET"
    return [(kind, params, method) for kind, params in out]


class CrashGuard:
    """Calls the server under test; when it dies, restarts it on the same data dir (WAL replay
    restores the data) and retries. After the first crash B's requests run one at a time, so a
    request that fails while alone in flight is the query that crashed the server."""

    def __init__(self, server, max_restarts):
        self.s = server
        self.lock = threading.Lock()
        self.serial_lock = threading.Lock()
        self.serial = False
        self.generation = 0
        self.crashes = []          # (query, exit status, log tail)
        self.max_restarts = max_restarts
        self.gave_up = False

    def _restart_locked(self, query):
        """Records the crash and restarts the server; self.lock is held. False: gave up."""
        if self.gave_up:
            return False
        code = self.s.proc.returncode if self.s.proc is not None else None
        self.crashes.append((query, code, self.s.log_tail(4000), self.serial))
        if len(self.crashes) > self.max_restarts:
            self.gave_up = True
            return False
        self.s.stop()
        try:
            self.s.start()
        except ServerError as e:
            self.crashes.append((query, None, f"restart failed: {e}", self.serial))
            self.gave_up = True
            return False
        self.generation += 1
        self.serial = True
        return True

    def api(self, path, params, method="GET"):
        for _ in range(4):
            serial = self.serial
            if serial:
                self.serial_lock.acquire()
            try:
                gen = self.generation
                try:
                    return self.s.api(path, params, method), None
                except Exception as e:
                    err = e
                with self.lock:  # waits for a restart another thread is doing
                    if gen != self.generation:
                        continue  # the server was restarted meanwhile: ask again
                    proc = self.s.proc
                    if proc is not None:
                        try:
                            proc.wait(2)  # a crashed process is reaped at once
                        except subprocess.TimeoutExpired:
                            return (0, None, f"request failed: {err}".encode()), None
                    if not self._restart_locked(params["query"]):
                        return (0, None, f"server down (gave up restarting): {err}".encode()), "down"
                if serial:
                    return (0, None, b"this query crashed the server (alone in flight)"), "crash"
            finally:
                if serial:
                    self.serial_lock.release()
        return (0, None, b"server keeps dying"), "down"


def run_query(a, b, seed, idx, cat, text, t0):
    rendered = corpus.render(text, t0)
    diffs, ref_kinds = [], []
    for kind, params, method in evaluations(seed, text, t0):
        params = dict(params, query=rendered)
        path = "/api/v1/query" if kind == "instant" else "/api/v1/query_range"
        ra = a.api(path, params, method)
        rb, _ = b.api(path, params, method)
        da = ra[1] or {}
        if da.get("status") == "success":
            res = (da.get("data") or {}).get("result")
            ref_kinds.append("empty" if res in ([], None) else "data")
        else:
            ref_kinds.append("error")
        lines = compare.compare(rendered, kind, ra, rb)
        if lines:
            where = (f"instant time={params['time']}" if kind == "instant" else
                     f"range start={params['start']} end={params['end']} step={params['step']}") + f" ({method})"
            diffs.append((where, lines))
    return idx, cat, rendered, diffs, ref_kinds


DIFF_KINDS = [("crash", "crashed the server"), ("server down", "server down"), ("no answer", "request failed"),
              ("status (error vs success)", "status "), ("errorType", "errorType "),
              ("resultType", "resultType "), ("number of points", " points vs "),
              ("series only on one side", "only in "), ("value", ": value "), ("order", "order"),
              ("HTTP status", "HTTP status"), ("malformed answer", "")]


def diff_kind(diffs):
    """The kind of a failing query's first difference, for the summary."""
    first = diffs[0][1][0] if diffs and diffs[0][1] else ""
    for name, marker in DIFF_KINDS:
        if marker in first:
            return name
    return "malformed answer"


def push_all(ds, servers):
    """Pushes every request to every server in time order; returns {name: [problems]}."""
    problems = {s.name: [] for s in servers}
    n = 0
    for body in ds.requests():
        n += 1
        for s in servers:
            if len(problems[s.name]) >= 5:
                continue
            try:
                status, data = s.push(body)
            except Exception as e:
                status, data = 0, str(e).encode()
            if status // 100 != 2:
                problems[s.name].append(f"request {n}: HTTP {status}: {data[:200]!r}")
    return n, problems


def ingest_check(ds, servers):
    """Counts series and samples in each server; returns {name: problem} for mismatches."""
    t = (ds.t_end + datagen.STEP_MS) // 1000
    want_series = len(ds.series)
    want_samples = sum(1 for _, smp in ds.series for _, v in smp if not datagen.is_stale(v))
    out = {}
    for s in servers:
        try:
            status, doc, raw = s.api("/api/v1/query", {"query": '{__name__=~".+"}[2h]', "time": str(t)})
            res = doc["data"]["result"]
            got = [len(res), sum(len(x["values"]) for x in res)]
        except Exception as e:
            got = f"query failed: {e!r}"
        if got != [want_series, want_samples]:
            out[s.name] = f"series/samples {got} (want {want_series}/{want_samples})"
    return out


def main(argv):
    args = parse_args(argv)
    print(f"promql-diff: seed {args.seed}", flush=True)
    t0 = window(int(time.time() * 1000))
    ds = datagen.generate(t0, args.seed)
    queries = corpus.build(args.seed, ds.metrics, args.queries)
    if args.only:
        rx = re.compile(args.only)
        queries = [(c, x) for c, x in queries if rx.search(corpus.render(x, t0)) or rx.search(c)]
    if args.list:
        for c, x in queries:
            print(f"{c}\t{corpus.render(x, t0)}")
        return 0
    print(f"promql-diff: {len(ds.series)} series, {ds.n_samples()} samples, window "
          f"{t0 // 1000}..{ds.t_end // 1000}; {len(queries)} queries x "
          f"({INSTANT_TIMES} instant + 1 range)", flush=True)

    if not args.self_check and not os.access(args.binary, os.X_OK):
        print(f"promql-diff: {args.binary} does not exist (build it, or use --self-check)")
        print(f"promql-diff: 0 passed, {len(queries)} failed (seed {args.seed})")
        return 2
    servers = []

    def on_term(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)
    try:
        prom_bin = ensure_prometheus(args.prometheus)
        a = Prometheus(prom_bin, keep=args.keep)
        servers.append(a)
        if args.self_check:
            b = Prometheus(prom_bin, name="prometheus-2", keep=args.keep)
        else:
            b = Metricstor(args.binary, keep=args.keep)
        servers.append(b)
        for s in servers:
            s.start()
        t_push = time.time()
        n_req, problems = push_all(ds, servers)
        print(f"promql-diff: pushed {n_req} requests to each server in {time.time() - t_push:.1f}s", flush=True)
        if problems[a.name]:
            print("promql-diff: the reference Prometheus rejected data (harness bug):\n  "
                  + "\n  ".join(problems[a.name]))
            return 2
        if problems[b.name]:
            print(f"promql-diff: {b.name} rejected data (queries will differ):\n  " + "\n  ".join(problems[b.name]))
        bad = ingest_check(ds, servers)
        if bad.get(a.name):
            print(f"promql-diff: the reference Prometheus does not hold the data (harness bug): {bad[a.name]}")
            return 2
        if bad.get(b.name):
            print(f"promql-diff: {b.name} does not hold all pushed data: {bad[b.name]}")
        if args.keep:
            for s in servers:
                print(f"promql-diff: {s.name} dir {s.tmp}")
        rc = run_corpus(args, a, b, queries, t0)
        if not args.self_check:
            b.stop()  # SIGTERM: a sanitizer build reports leaks now
            text = b.log_tail(200_000)
            i = text.find("ERROR: LeakSanitizer")
            if i >= 0:
                print("promql-diff: metricstor's log holds a leak report (not counted per query):\n"
                      + text[i:i + 1500])
                rc = rc or 1
        return rc
    except ServerError as e:
        print(f"promql-diff: set-up failed: {e}")
        print(f"promql-diff: 0 passed, {len(queries)} failed (seed {args.seed})")
        return 2
    finally:
        for s in servers:
            s.cleanup()


def run_corpus(args, a, b, queries, t0):
    t_start = time.time()
    results = [None] * len(queries)
    guard = CrashGuard(b, args.max_restarts)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        futs = [ex.submit(run_query, a, guard, args.seed, i, c, x, t0) for i, (c, x) in enumerate(queries)]
        try:
            for f in concurrent.futures.as_completed(futs):
                idx = f.result()[0]
                results[idx] = f.result()
        except BaseException:
            for f in futs:
                f.cancel()
            raise
    elapsed = time.time() - t_start

    passed = failed = shown = 0
    by_cat = collections.defaultdict(lambda: [0, 0])
    by_feat = collections.defaultdict(lambda: [0, 0])
    ref = collections.Counter()
    first_diffs = collections.Counter()
    for idx, cat, text, diffs, kinds in results:
        ref.update(kinds)
        ok = not diffs
        passed += ok
        failed += not ok
        by_cat[cat.split(":", 1)[-1] if cat.startswith("random:") else cat][0 if ok else 1] += 1
        for feat in corpus.features(text):
            by_feat[feat][0 if ok else 1] += 1
        if not ok:
            first_diffs[diff_kind(diffs)] += 1
            if shown < args.max_failures_shown:
                shown += 1
                print(f"\nFAIL [{cat}] {text}")
                for where, lines in diffs[:2]:
                    print(f"  {where}")
                    for ln in lines[:5]:
                        print(f"    {ln}")
                if len(diffs) > 2:
                    print(f"  ... and {len(diffs) - 2} more evaluation(s) differ")
    if guard.crashes:
        print(f"\npromql-diff: {b.name} died {len(guard.crashes)} time(s) and was restarted on its data dir"
              + (" (then gave up: later queries count as failed)" if guard.gave_up else "") + ":")
        seen = collections.Counter()
        for query, code, tail, alone in guard.crashes:
            how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
            seen[f"{how} {'on' if alone else 'while running (others in flight)'}: {query}"] += 1
        for line, n in seen.items():
            print(f"  {line}" + (f"  (x{n})" if n > 1 else ""))
        tail = [ln for ln in guard.crashes[-1][2].splitlines() if ln.strip() and "level=info" not in ln]
        if tail:
            print("promql-diff: last log lines before the crash:\n" + "\n".join("    " + ln for ln in tail[-15:]))
        else:
            print("promql-diff: the log says nothing about the crash; for a stack trace rerun with "
                  "--binary build/asan/metricstor --only '<query>'")
    if not b.alive():
        print(f"\npromql-diff: {b.name} is no longer running; log tail:\n{b.log_tail(2000)}")
    print(f"\npromql-diff: {len(queries)} queries, {sum(ref.values())} evaluations in {elapsed:.1f}s; "
          f"reference results: {ref['data']} with data, {ref['empty']} empty, {ref['error']} errors")
    cats = sorted(by_cat.items(), key=lambda kv: (-kv[1][1], kv[0]))
    bad = [(c, v) for c, v in cats if v[1]]
    if bad:
        print("promql-diff: categories with failures (outermost feature of the query; passed/failed):")
        for c, (p, f) in bad:
            print(f"  {c:28} {p:4}/{f}")
    good = [c for c, v in cats if not v[1]]
    if good:
        print(f"promql-diff: categories passing completely ({len(good)}): " + " ".join(good))
    bad_feats = sorted(((k, v) for k, v in by_feat.items() if v[1]), key=lambda kv: (-kv[1][1], kv[0]))
    if bad_feats:
        print("promql-diff: every feature used by failing queries (passed/failed):")
        print("  " + "  ".join(f"{k} {p}/{f}" for k, (p, f) in bad_feats))
    if first_diffs:
        print("promql-diff: failing queries by kind of first difference: "
              + ", ".join(f"{k} {n}" for k, n in first_diffs.most_common()))
    if failed:
        print(f"promql-diff: seed {args.seed}; {min(shown, failed)} of {failed} failures shown "
              f"(--max-failures-shown); rerun one with --only")
    print(f"promql-diff: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("promql-diff: interrupted")
        sys.exit(130)
