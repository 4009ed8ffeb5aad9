"""soak owns the soak test of issue #6: the real server on a fresh data dir under a steady
remote_write load plus concurrent query loops (instant, range, series, labels) for a fixed time,
sampled every 10 s (RSS, CPU, per-kind query latency, write latency, errors, blocks, WAL size),
ending with a check that every acknowledged sample is queryable and that RSS and latency stayed
flat. Writes the curve as a Markdown table and a gnuplot chart.

Why it is built this way:
  - The load is build/bench/loadgen with --pace: timestamps advance PACE times faster than the
    wall clock (36 by default), so a 10-minute run stores 6 h of data and the server cuts a 2 h
    block at each aligned boundary while the run goes on (2 h is the block range and there is no
    flag for a shorter one). The first timestamp is aligned to a 2 h boundary, so with pace 36
    each third of a 10-minute run is exactly one 2 h block range: the thirds compared by the
    flatness check are at the same phase of the head's fill-and-cut cycle (the head's memory is a
    sawtooth over that cycle; unaligned thirds compare a full head with a half-empty one).
  - The sampler is driven by loadgen's --report-s lines, so every row's write latency covers the
    same 10 s as its query latencies, RSS and CPU.
  - Any error (a non-2xx write makes loadgen exit 1; a non-200 or failed query) fails the run."""
import argparse
import http.client
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_targets import Metricstor, dir_bytes, proc_cpu_seconds, proc_status_kb  # noqa: E402
from bench_run import make_log, snapshot_binaries, write_keeping_notes  # noqa: E402

KINDS = ("instant", "range", "series", "labels")
MARKER = "<!-- notes: written by hand, kept by re-runs -->"
DOCS_MINUTES = 10  # runs at least this long write docs/ by default; shorter ones write build/


log = make_log("soak")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--series", type=int, default=10000)
    ap.add_argument("--interval-ms", type=int, default=15000, help="spacing of samples in data time")
    ap.add_argument("--pace", type=float, default=36, help="data time runs this many times wall time")
    ap.add_argument("--head-window", default="5m")
    ap.add_argument("--block-range-ms", type=int, default=7200000,
                    help="the server's block range (2 h, no flag): the data's first timestamp is aligned to it")
    ap.add_argument("--report-s", type=int, default=10)
    ap.add_argument("--query-pause-s", type=float, default=0.1, help="pause between two queries of one loop")
    ap.add_argument("--rss-tolerance", type=float, default=0.10,
                    help="last third's median RSS may exceed the second third's by this fraction")
    ap.add_argument("--latency-tolerance", type=float, default=0.50,
                    help="same for the median of the 10-s p99 latencies, plus --latency-slack-ms")
    ap.add_argument("--latency-slack-ms", type=float, default=5.0)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build/metricstor"))
    ap.add_argument("--loadgen", default=os.path.join(ROOT, "build/bench/loadgen"))
    ap.add_argument("--workdir", default=None, help="parent of the temporary data dir (default: system temp)")
    ap.add_argument("--out", default=None, help=f"Markdown report (default docs/SOAK.md for runs of "
                                                 f">= {DOCS_MINUTES} min, else build/soak.md)")
    ap.add_argument("--chart", default=None, help="PNG chart (default docs/soak.png or build/soak.png, as --out)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--render-from", default=None,
                    help="no run: redraw the report and chart from a saved build/soak-last.json")
    a = ap.parse_args(argv)
    docs = a.minutes >= DOCS_MINUTES
    a.out = a.out or os.path.join(ROOT, "docs/SOAK.md" if docs else "build/soak.md")
    a.chart = a.chart or os.path.join(ROOT, "docs/soak.png" if docs else "build/soak.png")
    return a


def pct(vals, p):
    if not vals:
        return None
    v = sorted(vals)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


class Clock:
    """Maps wall time to data time: loadgen's first window is due when it starts sending."""

    def __init__(self, start_ms, pace):
        self.start_ms, self.pace, self.t0 = start_ms, pace, None

    def data_now_ms(self):
        if self.t0 is None:
            return self.start_ms
        return int(self.start_ms + (time.monotonic() - self.t0) * 1000 * self.pace)


class QueryLoop(threading.Thread):
    """One kind of query, back to back on one keep-alive connection, until stopped."""

    def __init__(self, kind, port, clock, pause_s, stop):
        super().__init__(daemon=True)
        self.kind, self.port, self.clock, self.pause_s, self.stop = kind, port, clock, pause_s, stop
        self.lock = threading.Lock()
        self.lat_ms, self.errors, self.total, self.err_msgs = [], 0, 0, []
        self.conn = None

    def path(self):
        now = self.clock.data_now_ms() - 30000  # the newest data is at most a window behind the clock
        s = lambda ms: f"{ms / 1000:.3f}"  # noqa: E731
        if self.kind == "instant":
            q = {"query": "sum by (mode) (rate(node_cpu_seconds_total[5m]))", "time": s(now)}
            return "/api/v1/query?" + urllib.parse.urlencode(q)
        if self.kind == "range":
            q = {"query": "sum(rate(node_network_receive_bytes_total[5m]))", "start": s(now - 3600000),
                 "end": s(now), "step": "60"}
            return "/api/v1/query_range?" + urllib.parse.urlencode(q)
        if self.kind == "series":
            q = {"match[]": "node_load1", "start": s(now - 3600000), "end": s(now)}
            return "/api/v1/series?" + urllib.parse.urlencode(q)
        q = {"start": s(now - 3600000), "end": s(now)}
        return "/api/v1/labels?" + urllib.parse.urlencode(q)

    def one(self):
        path = self.path()
        t0 = time.monotonic()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request("GET", path)
            r = self.conn.getresponse()
            body = r.read()
            ok = r.status == 200 and json.loads(body).get("status") == "success"
            msg = None if ok else f"HTTP {r.status}: {body[:200]!r}"
        except (OSError, http.client.HTTPException, ValueError) as e:
            if self.conn is not None:
                self.conn.close()
            self.conn, ok, msg = None, False, f"{type(e).__name__}: {e}"
        dt = (time.monotonic() - t0) * 1000
        with self.lock:
            self.total += 1
            if ok:
                self.lat_ms.append(dt)
            else:
                self.errors += 1
                if len(self.err_msgs) < 5:
                    self.err_msgs.append(f"{self.kind} {path}: {msg}")

    def run(self):
        while not self.stop.is_set():
            self.one()
            self.stop.wait(self.pause_s)

    def take(self):
        """Latencies and errors since the last call."""
        with self.lock:
            lat, err, n = self.lat_ms, self.errors, self.total
            self.lat_ms, self.errors, self.total = [], 0, 0
        return lat, err, n


def block_count(data_dir):
    d = os.path.join(data_dir, "blocks")
    if not os.path.isdir(d):
        return 0
    return sum(1 for n in os.listdir(d) if os.path.isdir(os.path.join(d, n)) and not n.endswith(".tmp"))


def count_samples(port, end_ms, range_s):
    """Sum over every metric name of sum(count_over_time(NAME[range])) at end_ms (count_over_time
    drops the name, so one query over all names would collide)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("GET", "/api/v1/label/__name__/values")
    names = json.loads(c.getresponse().read())["data"]
    total, series = 0, 0
    for name in names:
        for agg in ("sum", "count"):
            q = {"query": f"{agg}(count_over_time({name}[{range_s}s]))", "time": f"{end_ms / 1000:.3f}"}
            c.request("GET", "/api/v1/query?" + urllib.parse.urlencode(q))
            r = c.getresponse()
            doc = json.loads(r.read())
            if r.status != 200:
                raise RuntimeError(f"count query for {name}: HTTP {r.status} {doc}")
            res = doc["data"]["result"]
            v = int(float(res[0]["value"][1])) if res else 0
            if agg == "sum":
                total += v
            else:
                series += v
    c.close()
    return total, series, len(names)


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Linux {platform.release()}"


def thirds_check(rows, key, tol, slack=0.0):
    """(ok, second-third median, last-third median); None when there are too few rows."""
    vals = [r[key] for r in rows if r.get(key) is not None]
    if len(vals) < 6:
        return None
    n = len(vals)
    second, last = vals[n // 3: 2 * n // 3], vals[2 * n // 3:]
    m2, m3 = statistics.median(second), statistics.median(last)
    return (m3 <= m2 * (1 + tol) + slack, m2, m3)


def run(args):
    n = max(1, int(args.minutes * 60 * args.pace * 1000 / args.interval_ms))
    now = int(time.time() * 1000)
    # data starts on a block-range boundary (and so ends up to one range before now): with the
    # default pace each third of the run is then one whole fill-and-cut cycle of the head
    start = (now - n * args.interval_ms) // args.block_range_ms * args.block_range_ms
    end = start + (n - 1) * args.interval_ms
    workdir = args.workdir or tempfile.gettempdir()
    t = Metricstor(args.binary, workdir, extra_args=["--storage.head-window", args.head_window])
    res = {"samples_per_series": n, "start_ms": start, "end_ms": end, "rows": [], "errors": [], "args": vars(args),
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    stop = threading.Event()
    loops = []
    try:
        t.start()
        res["server_argv"] = " ".join(["build/metricstor"] + t.argv()[1:]).replace(t.data_dir, "DIR") \
            .replace(str(t.port), "PORT")
        clock = Clock(start, args.pace)
        lg = [args.loadgen, "--url", t.base + "/api/v1/write", "--series", str(args.series),
              "--samples-per-series", str(n), "--interval-ms", str(args.interval_ms), "--start-ms", str(start),
              "--ts-per-request", "1", "--batch-samples", "2000", "--concurrency", "2", "--stream",
              "--pace", f"{args.pace:g}", "--report-s", str(args.report_s)]
        res["loadgen_argv"] = " ".join(["build/bench/loadgen"] + lg[1:]).replace(str(t.port), "PORT") \
            .replace(str(start), "START")
        log(f"{args.series} series x {n} samples at {args.interval_ms} ms, pace {args.pace:g}: "
            f"{args.series * 1000 * args.pace / args.interval_ms:,.0f} samples/s for {args.minutes:g} min")
        lgp = subprocess.Popen(lg, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = lgp.stdout.readline()  # "sending": the paced clock starts now
        if line.strip() != "sending":
            raise RuntimeError(f"loadgen did not start: {line!r} {lgp.stderr.read()[-2000:]}")
        clock.t0 = time.monotonic()
        for k in KINDS:
            loops.append(QueryLoop(k, t.port, clock, args.query_pause_s, stop))
            loops[-1].start()
        pid = t.pid
        cpu_prev, t_prev = proc_cpu_seconds(pid), time.monotonic()
        final = None
        for line in lgp.stdout:
            if not line.startswith("progress "):
                final = line
                continue
            kv = dict(x.split("=", 1) for x in line.split()[1:])
            now_m = time.monotonic()
            cpu = proc_cpu_seconds(pid)
            row = {"t_s": float(kv["elapsed_s"]), "rss_mib": proc_status_kb(pid, "VmRSS") / 1024,
                   "anon_mib": proc_status_kb(pid, "RssAnon") / 1024, "file_mib": proc_status_kb(pid, "RssFile") / 1024,
                   "cpu_pct": 100 * (cpu - cpu_prev) / max(1e-9, now_m - t_prev),
                   "samples_s": int(kv["samples"]) / max(1e-9, now_m - t_prev),
                   "write_p99_ms": float(kv["req_p99_ms"]) if int(kv["requests"]) else None,
                   "write_max_ms": float(kv["req_max_ms"]) if int(kv["requests"]) else None,
                   "writes": int(kv["requests"]), "blocks": block_count(t.data_dir),
                   "wal_mib": dir_bytes(os.path.join(t.data_dir, "wal")) / 2**20,
                   "data_time": time.strftime("%H:%M", time.gmtime(clock.data_now_ms() / 1000))}
            cpu_prev, t_prev = cpu, now_m
            errs = 0
            for lp in loops:
                lat, err, cnt = lp.take()
                errs += err
                row[f"{lp.kind}_n"] = cnt
                row[f"{lp.kind}_p50_ms"] = pct(lat, 50)
                row[f"{lp.kind}_p99_ms"] = pct(lat, 99)
            row["errors"] = errs
            res["rows"].append(row)
            log(f"t={row['t_s']:.0f}s RSS {row['rss_mib']:.1f} MiB CPU {row['cpu_pct']:.0f}% "
                f"write p99 {row['write_p99_ms']} ms "
                + " ".join(f"{k} p99 {row[f'{k}_p99_ms'] or 0:.1f}" for k in KINDS)
                + f" errors {errs} blocks {row['blocks']} WAL {row['wal_mib']:.1f} MiB")
        rc = lgp.wait()
        stop.set()
        for lp in loops:
            lp.join(timeout=120)
            res["errors"] += lp.err_msgs
        if rc != 0:
            res["errors"].append(f"loadgen exited {rc}: {lgp.stderr.read()[-2000:]}")
        res["loadgen_final"] = (final or "").strip()
        res["total_errors"] = sum(r["errors"] for r in res["rows"]) + (1 if rc != 0 else 0)
        res["vm_hwm_mib"] = proc_status_kb(t.pid, "VmHWM") / 1024
        # every acknowledged sample must be queryable
        want = args.series * n if rc == 0 else None
        got, series, names = count_samples(t.port, end, (n * args.interval_ms) // 1000 + 60)
        res["verify"] = {"want": want, "got": got, "series": series, "names": names}
        log(f"verify: {got:,} samples in {series:,} series queryable, {want if want is None else f'{want:,}'} acknowledged")
        res["blocks_end"] = block_count(t.data_dir)
        return res
    finally:
        stop.set()
        t.cleanup(keep=args.keep)


def chart(args, res):
    if not shutil.which("gnuplot"):
        return "gnuplot missing (apt-get install gnuplot-nox)"
    tmp = tempfile.mkdtemp(prefix="soak-chart-")
    try:
        data = os.path.join(tmp, "soak.dat")
        cols = ["t_s", "rss_mib", "anon_mib", "write_p99_ms"] + [f"{k}_p99_ms" for k in KINDS] + ["blocks"]
        with open(data, "w") as f:
            for r in res["rows"]:
                f.write(" ".join("NaN" if r.get(c) is None else f"{r[c]:.4g}" for c in cols) + "\n")
        lat = ", ".join(f"'{data}' using 1:{i + 5} with linespoints title '{k} query p99'" for i, k in enumerate(KINDS))
        script = f"""
set terminal png size 1100,760 font ",10" noenhanced
set output '{args.chart}'
set multiplot layout 2,1 title "Metricstor soak: {args.series} series, {res['rate']:,.0f} samples/s, 4 query loops, {args.minutes:g} min"
set grid
set key outside right
set xlabel "seconds"
set ylabel "MiB"
set y2label "blocks on disk"
set y2tics
set yrange [0:*]
set y2range [0:{max(r["blocks"] for r in res["rows"]) + 1}]
plot '{data}' using 1:2 with linespoints lw 2 title 'RSS', '{data}' using 1:3 with lines title 'RSS anonymous', '{data}' using 1:9 axes x1y2 with steps title 'blocks'
unset y2label
unset y2tics
set ylabel "p99 latency per 10 s, ms (log)"
set logscale y
set yrange [*:*]
plot '{data}' using 1:4 with linespoints lw 2 title 'remote_write p99', {lat}
unset multiplot
"""
        p = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
        return None if p.returncode == 0 else p.stderr[-500:]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fmt(v, f="{:.1f}"):
    return "–" if v is None else f.format(v)


def report(args, res, checks, chart_err):
    rows = res["rows"]
    L = ["# Soak test", ""]
    L.append(f"Generated by `bench/soak.py` (`make soak SOAK_MINUTES={args.minutes:g}`) on "
             f"{res.get('when', '?')} at commit {res['commit']}. Machine: {machine()}. "
             "**The machine was shared with seven other jobs (builds, tests, benchmarks) during the run**, so "
             "latency and CPU are noisy: spikes in single rows are other processes, the check is on medians.")
    L.append("")
    L.append(f"Load: {args.series:,} node_exporter-like series, one sample per series every {args.interval_ms / 1000:g} s "
             f"of data time, data time running {args.pace:g}x wall time ({res['rate']:,.0f} samples/s, requests of "
             f"2,000 samples over 2 connections); {args.minutes:g} min of wall time store "
             f"{res['samples_per_series'] * args.interval_ms / 3600e3:.1f} h of data, so the server cuts a 2 h block at "
             f"each aligned boundary (head window {args.head_window}; the block range is 2 h and has no flag). The "
             "first timestamp is on a 2 h boundary, so each third of a 10-minute run is one fill-and-cut cycle of "
             "the head. "
             "Queries: four loops, each back to back on its own connection with a "
             f"{args.query_pause_s * 1000:.0f} ms pause, at the data clock's \"now\": instant "
             "`sum by (mode) (rate(node_cpu_seconds_total[5m]))`, range `sum(rate(node_network_receive_bytes_total[5m]))` "
             "over 1 h at 60 s steps, `/api/v1/series?match[]=node_load1` and `/api/v1/labels` over 1 h.")
    L.append("")
    L.append("Commands (PORT, DIR and START filled in by the script):")
    L.append("")
    L.append("```")
    L.append(f"make soak SOAK_MINUTES={args.minutes:g}")
    L.append(res["server_argv"])
    L.append(res["loadgen_argv"])
    L.append("```")
    L.append("")
    L.append("## Result")
    L.append("")
    v = res["verify"]
    L.append(f"- Errors: **{res['total_errors']}** (writes answered non-2xx, queries answered non-200 or failed)"
             + ("" if not res["errors"] else ": " + "; ".join(e[:200] for e in res["errors"][:5])))
    L.append(f"- Every acknowledged sample queryable: **{'yes' if v['want'] is not None and v['got'] == v['want'] else 'NO'}** "
             f"({v['got']:,} samples in {v['series']:,} series counted with `sum(count_over_time(NAME[range]))` over "
             f"the {v['names']} metric names; {v['want'] if v['want'] is None else format(v['want'], ',')} acknowledged)")
    L.append(f"- Blocks on disk: {max(r['blocks'] for r in rows)} at most, {res['blocks_end']} at the end (compaction "
             f"merges the 2 h blocks into 6 h ones); peak RSS (VmHWM) {res['vm_hwm_mib']:.1f} MiB")
    L.append(f"- loadgen summary: `{res['loadgen_final']}`")
    for name, c in checks.items():
        if c is None:
            L.append(f"- {name}: not judged: the run holds under 3 block ranges (6 h) of data, so its thirds "
                     "are the head's first fill, not a steady state")
        else:
            L.append(f"- {name}: median second third {c[1]:.2f}, last third {c[2]:.2f} "
                     f"({(c[2] / c[1] - 1) * 100 if c[1] else 0:+.0f}%): **{'flat' if c[0] else 'GREW'}**")
    L.append("")
    L.append(f"Flatness rule (the run fails otherwise): the median over the last third of the rows may exceed the "
             f"median over the second third by at most {args.rss_tolerance * 100:.0f}% for RSS and by "
             f"{args.latency_tolerance * 100:.0f}% + {args.latency_slack_ms:g} ms for each p99 latency. The first "
             "third is left out: it holds the warm-up (the first head fill before any block exists). "
             f"{args.rss_tolerance * 100:.0f}% for RSS: with a steady series set the head's memory cycles with the "
             "2 h block range (fill, cut, drop), each third is one such cycle, so a leak shows as a step between "
             "thirds while allocator noise stays within a few MiB. "
             f"{args.latency_tolerance * 100:.0f}% + {args.latency_slack_ms:g} ms for latency: a 10-s p99 of ~50-100 "
             "queries is close to the slowest one, on a 2-core machine shared with other jobs a single scheduling "
             "delay moves it by milliseconds, so a tighter bound would fail on noise; growth from accumulating "
             "state (more blocks to open, a growing head) is a trend of tens of percent per third and still fails it. "
             "A fall is never a failure.")
    L.append("")
    L.append("![RSS and p99 latency over time](soak.png)" if not chart_err else f"(chart not drawn: {chart_err})")
    L.append("")
    L.append("## The curve (one row per 10 s)")
    L.append("")
    L.append("| t (s) | data time | RSS MiB (anon) | CPU % | samples/s | write p99 ms | instant p50/p99 ms | "
             "range p50/p99 ms | series p50/p99 ms | labels p50/p99 ms | queries | errors | blocks | WAL MiB |")
    L.append("|" + "---:|" * 14)
    for r in rows:
        qn = sum(r[f"{k}_n"] for k in KINDS)
        L.append(f"| {r['t_s']:.0f} | {r['data_time']} | {r['rss_mib']:.1f} ({r['anon_mib']:.1f}) | {r['cpu_pct']:.0f} | "
                 f"{r['samples_s']:,.0f} | {fmt(r['write_p99_ms'])} | "
                 + " | ".join(f"{fmt(r[f'{k}_p50_ms'])} / {fmt(r[f'{k}_p99_ms'])}" for k in KINDS)
                 + f" | {qn} | {r['errors']} | {r['blocks']} | {r['wal_mib']:.1f} |")
    L.append("")
    return "\n".join(L)


def main(argv):
    args = parse_args(argv)
    if args.render_from:
        with open(args.render_from) as f:
            res = json.load(f)["res"]
        for k in ("minutes", "series", "interval_ms", "pace", "head_window", "query_pause_s", "rss_tolerance",
                  "latency_tolerance", "latency_slack_ms"):
            setattr(args, k, res["args"][k])
    else:
        bindir, commit = snapshot_binaries(args, "soak")
        try:
            res = run(args)
        finally:
            shutil.rmtree(bindir, ignore_errors=True)
        res["commit"] = commit
    res["rate"] = args.series * 1000 * args.pace / args.interval_ms
    rows = res["rows"]
    if res["samples_per_series"] * args.interval_ms < 3 * args.block_range_ms:
        rows = []  # under 3 block ranges of data the thirds are the head's first fill, not a steady state
    checks = {"RSS (MiB)": thirds_check(rows, "rss_mib", args.rss_tolerance),
              "remote_write p99 (ms)": thirds_check(rows, "write_p99_ms", args.latency_tolerance,
                                                    args.latency_slack_ms)}
    for k in KINDS:
        checks[f"{k} query p99 (ms)"] = thirds_check(rows, f"{k}_p99_ms", args.latency_tolerance, args.latency_slack_ms)
    os.makedirs(os.path.dirname(os.path.abspath(args.chart)), exist_ok=True)
    chart_err = chart(args, res)
    doc = report(args, res, checks, chart_err)
    write_keeping_notes(args.out, doc, MARKER)
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    if not args.render_from:
        with open(os.path.join(ROOT, "build/soak-last.json"), "w") as f:  # raw rows, for --render-from
            json.dump({"res": res, "checks": checks}, f, indent=1)
    log(f"wrote {args.out} and {args.chart}" + (f" (chart: {chart_err})" if chart_err else ""))
    failed = []
    if res["total_errors"]:
        failed.append(f"{res['total_errors']} errors: {res['errors'][:3]}")
    v = res["verify"]
    if v["want"] is None or v["got"] != v["want"]:
        failed.append(f"queryable samples {v['got']} != acknowledged {v['want']}")
    failed += [f"{name} grew: {c[1]:.2f} -> {c[2]:.2f}" for name, c in checks.items() if c is not None and not c[0]]
    for f_ in failed:
        log("FAIL: " + f_)
    if not failed:
        log("PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
