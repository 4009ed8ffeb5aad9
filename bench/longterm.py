"""longterm owns the long-term storage measurement of issue #4: N series x D days at 15 s pushed
in time order into a fresh server (head window 2h, retention off), then bytes per sample on disk
(block chunks and index separately), RSS with D days stored versus 1 day stored (with an
anonymous / file-backed breakdown from /proc/PID/smaps), restart time, and full-range queries
whose counts must equal what was pushed. Writes docs/LONGTERM.md.

Why it is built this way: the interesting question is whether memory follows the active series
or the stored history, so each run is measured three times (settled after ingest, after a
restart, after queries that touch every block), and every RSS figure is split into anonymous
memory (heap: the head, indexes held in memory, allocator high-water) and file-backed pages
(the mmap'd block files the kernel may drop at any time). Runs are saved as JSON under build/
so the document can be re-rendered without re-ingesting."""
import argparse
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_targets import Metricstor, dir_bytes, http, proc_cpu_seconds, proc_status_kb  # noqa: E402
from bench_run import make_log, snapshot_binaries, write_keeping_notes  # noqa: E402

DAY_MS = 86400 * 1000
MARKER = "<!-- analysis: written by hand, kept by re-renders -->"


log = make_log("longterm")


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build/metricstor"))
    ap.add_argument("--loadgen", default=os.path.join(ROOT, "build/bench/loadgen"))
    ap.add_argument("--series", type=int, default=10000)
    ap.add_argument("--runs", default="7,1", help="days per run, comma-separated (default 7,1)")
    ap.add_argument("--interval-ms", type=int, default=15000)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--batch-samples", type=int, default=24000)
    ap.add_argument("--ts-per-request", type=int, default=120)
    ap.add_argument("--settle-s", type=float, default=20, help="blocks unchanged this long = settled")
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--results", default=os.path.join(ROOT, "build/longterm"),
                    help="directory for per-run JSON (re-rendered with --render-only)")
    ap.add_argument("--render-only", action="store_true", help="only rewrite --out from saved runs")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs/LONGTERM.md"))
    ap.add_argument("--server-arg", action="append", default=[], help="extra server flag (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs")
    ap.add_argument("--skip-queries", action="store_true", help="no full-range queries (memory experiments)")
    ap.add_argument("--gdb-trim", action="store_true",
                    help="after settling, attach gdb to the server and call malloc_stats() and malloc_trim(0): "
                         "shows how much anonymous RSS is free memory the allocator kept")
    return ap.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# /proc and data-dir accounting

def smaps_breakdown(pid):
    """Resident KiB by kind of mapping: anon (heap, stacks, anonymous mmap), block chunks files,
    block index files, other files (binary, libraries), plus the Anonymous total."""
    out = {"anon_kb": 0, "block_chunks_kb": 0, "block_index_kb": 0, "block_other_kb": 0,
           "other_file_kb": 0, "anonymous_field_kb": 0, "block_mapped_kb": 0, "block_dirty_kb": 0}
    kind = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                parts = line.split(None, 5)
                path = parts[5].strip() if len(parts) > 5 else ""
                if not path or path.startswith("["):
                    kind = "anon_kb"
                elif "/blocks/" in path:
                    base = os.path.basename(path)
                    kind = {"chunks": "block_chunks_kb", "index": "block_index_kb"}.get(base, "block_other_kb")
                else:
                    kind = "other_file_kb"
                continue
            if first == "Rss:":
                out[kind] += int(line.split()[1])
            elif first == "Anonymous:":
                out["anonymous_field_kb"] += int(line.split()[1])
            elif first == "Size:" and kind and kind.startswith("block_"):
                out["block_mapped_kb"] += int(line.split()[1])
            elif first in ("Private_Dirty:", "Shared_Dirty:") and kind and kind.startswith("block_"):
                out["block_dirty_kb"] += int(line.split()[1])  # 0: clean pages, dropped under pressure
    return out


def memory(pid):
    m = {k: proc_status_kb(pid, k) for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}
    m.update(smaps_breakdown(pid))
    return m


def blocks_on_disk(data_dir):
    """Per-file sizes and the meta counts of every complete block."""
    bdir = os.path.join(data_dir, "blocks")
    res = {"blocks": 0, "chunks_bytes": 0, "index_bytes": 0, "meta_bytes": 0, "samples": 0, "series_sum": 0,
           "tmp_dirs": 0, "mint": None, "maxt": None, "ranges_h": []}
    if not os.path.isdir(bdir):
        return res
    for name in sorted(os.listdir(bdir)):
        p = os.path.join(bdir, name)
        if not os.path.isdir(p):
            continue
        if name.endswith(".tmp"):
            res["tmp_dirs"] += 1
            continue
        try:
            with open(os.path.join(p, "meta"), "rb") as f:
                meta = f.read(64)
            sizes = {fn: os.path.getsize(os.path.join(p, fn)) for fn in ("chunks", "index", "meta")}
        except OSError:
            continue  # deleted by compaction while we looked
        if len(meta) != 64 or meta[:4] != b"MSBM":
            continue
        mint, maxt, nseries, nsamples = struct.unpack_from("<qqQQ", meta, 8)
        res["blocks"] += 1
        res["chunks_bytes"] += sizes["chunks"]
        res["index_bytes"] += sizes["index"]
        res["meta_bytes"] += sizes["meta"]
        res["samples"] += nsamples
        res["series_sum"] += nseries
        res["mint"] = mint if res["mint"] is None else min(res["mint"], mint)
        res["maxt"] = maxt if res["maxt"] is None else max(res["maxt"], maxt)
        res["ranges_h"].append(round((maxt - mint + 1) / 3600e3, 2))
    return res


# ---------------------------------------------------------------------------------------------
# Queries

def query(t, q, at_ms, timeout=600):
    url = t.base + "/api/v1/query?" + urllib.parse.urlencode({"query": q, "time": f"{at_ms / 1000:.3f}"})
    t0 = time.time()
    status, body = http("GET", url, timeout=timeout)
    dt = time.time() - t0
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {"raw": body[:300].decode(errors="replace")}
    return status, doc, dt


def scalar_of(doc):
    """The single value of a one-element vector result, else None."""
    try:
        res = doc["data"]["result"]
        if len(res) != 1:
            return None
        return float(res[0]["value"][1])
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def query_set(t, run):
    """The queries over the whole stored range; counts must equal the pushed ones."""
    days, end, n = run["days"], run["end_ms"], run["samples_per_series"]
    out = []
    # count_over_time drops the metric name, so series of different metrics would collide in one
    # vector: count per metric name and add up.
    status, body = http("GET", t.base + "/api/v1/label/__name__/values", timeout=120)
    names = json.loads(body)["data"] if status == 200 else []
    total, dt_all, bad, sliced = 0, 0.0, [], []
    for name in names:
        status, doc, dt = query(t, f"sum(count_over_time({name}[{days}d]))", end)
        dt_all += dt
        v = scalar_of(doc)
        if status == 422 and "too many samples" in str(doc.get("error")):
            # --query.max-samples (50M) refuses it whole: count one day at a time. Range selectors
            # include both ends here (as in Prometheus 2.x), so each slice is 1 d - 1 ms long:
            # [end - (k+1) d + 1 ms, end - k d] partition the range exactly
            sliced.append(name)
            v = 0
            for k in range(days):
                status, doc, dt = query(t, f"sum(count_over_time({name}[{DAY_MS - 1}ms]))", end - k * DAY_MS)
                dt_all += dt
                x = scalar_of(doc)
                if status != 200 or x is None:
                    v = None
                    break
                v += x
        if status != 200 or v is None:
            bad.append(f"{name}: HTTP {status} {doc.get('error', '')}")
        else:
            total += v
    want = run["samples_pushed"]
    q = f"sum(count_over_time(NAME[{days}d])) summed over the {len(names)} metric names" + (
        f" ({len(sliced)} of them, refused whole by --query.max-samples, counted one day at a time: "
        f"{', '.join(sliced)})" if sliced else "")
    ok = not bad and total == want
    out.append({"query": q, "status": 200 if not bad else 0, "seconds": round(dt_all, 3), "got": total,
                "want": want, "ok": ok, "error": "; ".join(bad)[:300] or None})
    log(f"  {q}: {dt_all:.2f}s got={total:,.0f} want={want:,} {'OK' if ok else 'MISMATCH'}"
        + (f" errors={bad[:3]}" if bad else ""))
    checks = [
        ("count({__name__=~\".+\"})", run["series"]),
        (f"count_over_time(node_load1{{instance=\"host-0:9100\"}}[{days}d])", n),
        (f"sum(max_over_time(node_load1[{days}d]))", None),
        (f"sum(rate(node_network_receive_bytes_total[{days}d]))", None),
    ]
    for q, want in checks:
        status, doc, dt = query(t, q, end)
        got = scalar_of(doc)
        ok = status == 200 and (want is None and got is not None or want is not None and got == want)
        err = None if status == 200 else (doc.get("error") or doc.get("raw"))
        out.append({"query": q, "status": status, "seconds": round(dt, 3), "got": got, "want": want,
                    "ok": ok, "error": err})
        log(f"  {q}: HTTP {status} {dt:.2f}s got={got} want={want} {'OK' if ok else 'MISMATCH'}"
            + (f" error={err}" if err else ""))
    # a 7-day range query at 1 h resolution
    url = t.base + "/api/v1/query_range?" + urllib.parse.urlencode({
        "query": "sum by (device) (rate(node_network_receive_bytes_total[1h]))", "start": f"{run['start_ms'] / 1000 + 3600:.3f}",
        "end": f"{end / 1000:.3f}", "step": "3600"})
    t0 = time.time()
    status, body = http("GET", url, timeout=600)
    dt = time.time() - t0
    npts = 0
    try:
        npts = sum(len(s["values"]) for s in json.loads(body)["data"]["result"])
    except (ValueError, KeyError, TypeError):
        pass
    out.append({"query": f"query_range sum by (device) (rate(node_network_receive_bytes_total[1h])) step 1h over {days}d",
                "status": status, "seconds": round(dt, 3), "got": npts, "want": None, "ok": status == 200 and npts > 0,
                "error": None if status == 200 else body[:300].decode(errors="replace")})
    log(f"  range query: HTTP {status} {dt:.2f}s points={npts}")
    return out


# ---------------------------------------------------------------------------------------------
# One run

def head_stats(t):
    status, body = http("GET", t.base + "/api/v1/status/tsdb", timeout=60)
    if status != 200:
        return {}
    return json.loads(body)["data"].get("headStats", {})


def settle(t, args):
    """Waits until no block is being written and the block set has not changed for settle_s."""
    last, since, t0 = None, time.time(), time.time()
    while True:
        b = blocks_on_disk(t.data_dir)
        key = (b["blocks"], b["samples"], b["chunks_bytes"], b["tmp_dirs"])
        if key != last:
            last, since = key, time.time()
        elif b["tmp_dirs"] == 0 and time.time() - since >= args.settle_s:
            return time.time() - t0 - args.settle_s
        time.sleep(1)


def try_compact(t):
    """Forces compaction when the server has the admin endpoint; returns what happened."""
    try:
        t0 = time.time()
        status, body = http("POST", t.base + "/api/v1/admin/tsdb/compact", body=b"", timeout=1800)
        return {"status": status, "seconds": round(time.time() - t0, 2), "body": body[:200].decode(errors="replace")}
    except OSError as e:
        return {"status": None, "error": str(e)}


def head_bytes(t):
    """The server's own count of head memory (metricstor_head_bytes on /metrics), or None."""
    status, body = http("GET", t.base + "/metrics", timeout=60)
    m = re.search(rb"^metricstor_head_bytes (\d+)", body, re.M) if status == 200 else None
    return int(m.group(1)) if m else None


def gdb_trim(t):
    """malloc_stats() totals (system bytes held by the allocator, bytes in use) and RSS before and
    after malloc_trim(0), through gdb attached to the running server."""
    if not shutil.which("gdb"):
        return {"error": "gdb missing"}
    before = memory(t.pid)
    mark = len(open(t.log_path, errors="replace").read())
    p = subprocess.run(["gdb", "-p", str(t.pid), "-batch", "-ex", "call (void)malloc_stats()",
                        "-ex", "call (int)malloc_trim(0)"], capture_output=True, text=True, timeout=300)
    time.sleep(0.5)
    after = memory(t.pid)
    tail = open(t.log_path, errors="replace").read()[mark:]
    out = {"rss_anon_before_kb": before["RssAnon"], "rss_anon_after_trim_kb": after["RssAnon"],
           "gdb_rc": p.returncode}
    m = re.search(r"Total \(incl\. mmap\):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)", tail)
    if m:
        out["malloc_system_bytes"], out["malloc_in_use_bytes"] = int(m.group(1)), int(m.group(2))
    out["arenas"] = len(re.findall(r"^Arena \d+:", tail, re.M))
    return out


def run_one(args, days):
    n = days * DAY_MS // args.interval_ms
    now = int(time.time() * 1000)
    start = (now - n * args.interval_ms) // args.interval_ms * args.interval_ms
    end = start + (n - 1) * args.interval_ms
    extra = ["--storage.head-window", "2h"] + args.server_arg
    t = Metricstor(args.binary, args.workdir, extra_args=extra)
    run = {"days": days, "series": args.series, "samples_per_series": n, "samples_pushed": args.series * n,
           "start_ms": start, "end_ms": end, "server_argv": None,
           "malloc_env": {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}}
    try:
        t.start()
        run["server_argv"] = " ".join(["build/metricstor"] + [os.path.relpath(a, ROOT) if a.startswith(ROOT) else a
                                                             for a in t.argv()[1:]])
        run["server_argv"] = re.sub(r"--data-dir \S+", "--data-dir DIR", run["server_argv"])
        run["server_argv"] = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", run["server_argv"])
        lg = [args.loadgen, "--url", t.base + "/api/v1/write", "--series", str(args.series),
              "--samples-per-series", str(n), "--interval-ms", str(args.interval_ms), "--start-ms", str(start),
              "--concurrency", str(args.concurrency), "--batch-samples", str(args.batch_samples),
              "--ts-per-request", str(args.ts_per_request), "--stream"]
        run["loadgen_argv"] = " ".join(["build/bench/loadgen"] + lg[1:])
        run["loadgen_argv"] = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", run["loadgen_argv"])
        run["loadgen_argv"] = run["loadgen_argv"].replace(f"--start-ms {start}", "--start-ms START")
        log(f"{days}d: pushing {args.series} x {n} = {args.series * n:,} samples ({run['loadgen_argv']})")
        cpu0, t0 = t.cpu_seconds(), time.time()
        p = subprocess.run(lg, capture_output=True, text=True)
        run["ingest_s"] = round(time.time() - t0, 1)
        run["ingest_cpu_s"] = round(t.cpu_seconds() - cpu0, 1)
        if p.returncode != 0:
            raise RuntimeError(f"loadgen failed ({p.returncode}): {p.stderr[-2000:]}")
        last = p.stdout.strip().splitlines()[-1]
        run["loadgen"] = dict(kv.split("=", 1) for kv in last.split() if "=" in kv)
        run["mem_after_ingest"] = memory(t.pid)
        log(f"{days}d: ingest {run['ingest_s']} s ({run['loadgen'].get('samples_per_s')} samples/s), "
            f"RSS {run['mem_after_ingest']['VmRSS'] / 1024:.1f} MiB; waiting for cuts/compaction to settle")
        run["settle_s"] = round(settle(t, args), 1)
        run["compact_endpoint"] = try_compact(t)
        if 200 <= (run["compact_endpoint"].get("status") or 0) < 300:
            log(f"{days}d: compact endpoint: {run['compact_endpoint']}")
            settle(t, args)
        run["head"] = head_stats(t)
        run["disk"] = blocks_on_disk(t.data_dir)
        run["wal_bytes"] = dir_bytes(os.path.join(t.data_dir, "wal"))
        run["data_dir_bytes"] = dir_bytes(t.data_dir)
        run["mem_settled"] = memory(t.pid)
        log(f"{days}d: settled: {run['disk']['blocks']} blocks, {run['disk']['samples']:,} samples in blocks, "
            f"chunks {run['disk']['chunks_bytes']:,} B, index {run['disk']['index_bytes']:,} B, "
            f"RSS {run['mem_settled']['VmRSS'] / 1024:.1f} MiB (anon {run['mem_settled']['RssAnon'] / 1024:.1f}, "
            f"file {run['mem_settled']['RssFile'] / 1024:.1f})")
        if args.gdb_trim:
            run["malloc"] = gdb_trim(t)
            log(f"{days}d: malloc: {run['malloc']}")
        run["head_bytes_settled"] = head_bytes(t)
        if not args.skip_queries:
            run["queries_before_restart"] = query_set(t, run)
            run["mem_after_queries"] = memory(t.pid)

        run["shutdown_s"] = round(t.stop(), 2)
        t0 = time.time()
        t.start(timeout=1800)
        run["restart_ready_s"] = round(time.time() - t0, 3)
        status, doc, _ = query(t, f"count_over_time(node_load1{{instance=\"host-0:9100\"}}[{days}d])", end)
        run["restart_first_answer_s"] = round(time.time() - t0, 3)
        run["restart_first_answer_ok"] = status == 200 and scalar_of(doc) == n
        run["mem_after_restart"] = memory(t.pid)
        run["head_bytes_after_restart"] = head_bytes(t)
        log(f"{days}d: metricstor_head_bytes settled {run['head_bytes_settled']}, after restart "
            f"{run['head_bytes_after_restart']}")
        log(f"{days}d: restart: ready {run['restart_ready_s']} s, first correct answer "
            f"{run['restart_first_answer_s']} s ({run['restart_first_answer_ok']}), RSS "
            f"{run['mem_after_restart']['VmRSS'] / 1024:.1f} MiB")
        if args.skip_queries:
            return run
        run["queries_after_restart"] = query_set(t, run)
        run["mem_after_restart_queries"] = memory(t.pid)
        time.sleep(2)
        run["mem_end"] = memory(t.pid)
        run["loadavg"] = open("/proc/loadavg").read().split()[:3]
        return run
    finally:
        t.cleanup(keep=args.keep)
        if args.keep:
            log(f"kept {t.tmp}")


# ---------------------------------------------------------------------------------------------
# Report

def mib(kb):
    return f"{kb / 1024:.1f}"


def render(args, runs):
    runs = sorted(runs, key=lambda r: -r["days"])
    big = runs[0]
    L = []
    L.append("# Long-term storage measurement (issue #4)")
    L.append("")
    when = time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(max(r.get("_mtime", time.time()) for r in runs)))
    L.append(f"Generated by `bench/longterm.py` (`make longterm`), runs ending {when}. "
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
             f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, Linux {platform.release()}. "
             "The machine was shared with seven other jobs during the runs (load average at the end of each run is "
             "listed), so times are noisy upper bounds; byte counts are exact. Code: commit "
             + ", ".join(sorted({r.get("commit", "?") for r in runs})) + ".")
    L.append("")
    L.append("Workload: `build/bench/loadgen`'s node_exporter-like series at 15 s, pushed over remote_write in time "
             "order at full speed (requests carry 120 consecutive samples of 200 series), into a fresh data dir with "
             "retention off and a 2 h head window, so the server cuts 2 h blocks as ingestion moves on and "
             "compacts them in the background. Commands (PORT, DIR and START filled in by the script):")
    L.append("")
    L.append("```")
    for r in runs:
        L.append(f"# {r['days']} d")
        L.append(r["server_argv"])
        L.append(r["loadgen_argv"])
    L.append("```")
    L.append("")
    L.append("## Figures")
    L.append("")
    hdr = "| | " + " | ".join(f"{r['days']} d stored" for r in runs) + " |"
    L.append(hdr)
    L.append("|---|" + "---:|" * len(runs))

    def row(label, fn):
        cells = []
        for r in runs:
            try:
                cells.append(fn(r))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("n/a")
        L.append(f"| {label} | " + " | ".join(cells) + " |")

    row("series x samples per series", lambda r: f"{r['series']:,} x {r['samples_per_series']:,}")
    row("samples pushed (all acknowledged)", lambda r: f"{r['samples_pushed']:,}")
    row("ingest wall time / rate", lambda r: f"{r['ingest_s']} s / {float(r['loadgen']['samples_per_s']):,.0f} samples/s")
    row("server CPU during ingest", lambda r: f"{r['ingest_cpu_s']} s")
    row("blocks after settling (ranges, h)", lambda r: f"{r['disk']['blocks']} ({summarize_ranges(r['disk']['ranges_h'])})")
    row("samples in blocks / in head", lambda r: f"{r['disk']['samples']:,} / {r['samples_pushed'] - r['disk']['samples']:,}")
    row("block chunks bytes per sample", lambda r: f"**{r['disk']['chunks_bytes'] / r['disk']['samples']:.3f}**")
    row("block index bytes per sample", lambda r: f"**{r['disk']['index_bytes'] / r['disk']['samples']:.4f}**")
    row("blocks total (chunks + index + meta) per sample",
        lambda r: f"{(r['disk']['chunks_bytes'] + r['disk']['index_bytes'] + r['disk']['meta_bytes']) / r['disk']['samples']:.3f}")
    row("block bytes (chunks / index)", lambda r: f"{r['disk']['chunks_bytes']:,} / {r['disk']['index_bytes']:,}")
    row("WAL bytes (head window)", lambda r: f"{r['wal_bytes']:,}")
    row("whole data dir per pushed sample", lambda r: f"{r['data_dir_bytes'] / r['samples_pushed']:.3f}")
    row("RSS peak during ingest (VmHWM)", lambda r: f"{mib(r['mem_after_ingest']['VmHWM'])} MiB")
    for key, label in (("mem_settled", "after ingest, settled"), ("mem_after_queries", "after the full-range queries"),
                       ("mem_after_restart", "after restart"),
                       ("mem_after_restart_queries", "after restart + full-range queries")):
        row(f"RSS {label}: total (anon + file)",
            lambda r, k=key: f"{mib(r[k]['VmRSS'])} MiB ({mib(r[k]['RssAnon'])} + {mib(r[k]['RssFile'])})")
        row(f"&nbsp;&nbsp;of which block files resident (chunks / index)",
            lambda r, k=key: f"{mib(r[k]['block_chunks_kb'])} / {mib(r[k]['block_index_kb'])} MiB")
    row("block files mapped (address space, not memory)", lambda r: f"{mib(r['mem_settled']['block_mapped_kb'])} MiB")
    row("dirty block pages after the queries (clean = reclaimable)",
        lambda r: f"{r['mem_after_restart_queries']['block_dirty_kb']} KiB")
    row("shutdown (SIGTERM to exit)", lambda r: f"{r['shutdown_s']} s")
    row("restart: exec to ready", lambda r: f"{r['restart_ready_s']} s")
    row("restart: exec to first correct full-range answer",
        lambda r: f"{r['restart_first_answer_s']} s ({'correct' if r['restart_first_answer_ok'] else 'WRONG'})")
    row("load average (1/5/15 min) at the end", lambda r: " / ".join(r["loadavg"]))
    L.append("")
    L.append("Bytes per sample count only samples in blocks (the head's last 2 h are in memory and the WAL). "
             "\"anon\" is `RssAnon` (heap and anonymous mappings), \"file\" is `RssFile` (file-backed pages: "
             "the binary, libraries and the mmap'd block files), both from `/proc/PID/status`; the block split "
             "sums `Rss:` of the block mappings in `/proc/PID/smaps`.")
    L.append("")
    L.append("## Queries over the whole range")
    L.append("")
    for r in runs:
        for when in ("queries_before_restart", "queries_after_restart"):
            L.append(f"{r['days']} d, {'before' if when.endswith('before_restart') else 'after'} the restart:")
            L.append("")
            L.append("| query | HTTP | seconds | result | expected |")
            L.append("|---|---:|---:|---:|---:|")
            for q in r.get(when, []):
                got = "error: " + str(q["error"])[:80] if q["error"] else (
                    f"{q['got']:,.0f}" if isinstance(q["got"], (int, float)) and q["got"] == int(q["got"]) and
                    abs(q["got"]) > 100 else f"{q['got']}")
                want = "" if q["want"] is None else f"{q['want']:,}"
                L.append(f"| `{q['query'].replace('|', '&#124;')}` | {q['status']} | {q['seconds']} | {got} | {want} |")
            L.append("")
    L.append("## RSS side by side")
    L.append("")
    L.append(explain(runs))
    L.append("")
    return "\n".join(L)


def summarize_ranges(ranges):
    counts = {}
    for h in ranges:
        counts[h] = counts.get(h, 0) + 1
    return ", ".join(f"{c} x {h:g}" for h, c in sorted(counts.items(), key=lambda kv: -kv[0]))


def explain(runs):
    """A data-driven paragraph; the conclusions in the doc's prose are checked against these numbers."""
    if len(runs) < 2:
        return "Only one run was made."
    a, b = runs[0], runs[-1]
    out = []
    for key, label in (("mem_settled", "settled after ingest"), ("mem_after_queries", "after full-range queries"),
                       ("mem_after_restart", "right after a restart"),
                       ("mem_after_restart_queries", "after restart and full-range queries")):
        if key not in a or key not in b:
            continue
        ma, mb = a[key], b[key]
        out.append(f"- {label}: {a['days']} d {mib(ma['VmRSS'])} MiB vs {b['days']} d {mib(mb['VmRSS'])} MiB; "
                   f"anonymous {mib(ma['RssAnon'])} vs {mib(mb['RssAnon'])}, file-backed {mib(ma['RssFile'])} vs "
                   f"{mib(mb['RssFile'])} (block files {mib(ma['block_chunks_kb'] + ma['block_index_kb'])} vs "
                   f"{mib(mb['block_chunks_kb'] + mb['block_index_kb'])})")
    return "\n".join(out)


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.results, exist_ok=True)
    runs = []
    days_list = [int(d) for d in args.runs.split(",") if d]
    if not args.render_only:
        bindir, commit = snapshot_binaries(args, "longterm")
        try:
            for days in days_list:
                run = run_one(args, days)
                run["commit"] = commit
                with open(os.path.join(args.results, f"run-{days}d.json"), "w") as f:
                    json.dump(run, f, indent=1)
        finally:
            shutil.rmtree(bindir, ignore_errors=True)
    for days in days_list:
        p = os.path.join(args.results, f"run-{days}d.json")
        if os.path.exists(p):
            with open(p) as f:
                runs.append(json.load(f))
            runs[-1]["_mtime"] = os.path.getmtime(p)
    if not runs:
        log("no runs to render")
        return 1
    doc = render(args, runs)
    write_keeping_notes(args.out, doc, MARKER)
    log(f"wrote {args.out}")
    bad = [q for r in runs for k in ("queries_before_restart", "queries_after_restart") for q in r.get(k, [])
           if not q["ok"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
