#!/usr/bin/env python3
"""run_bench owns the side-by-side benchmark: it pushes one identical remote_write workload
(bench/loadgen) into Metricstor, Prometheus and VictoriaMetrics, checks every sample arrived,
measures ingest rate, CPU, memory, disk, restart time and query latency over several rounds,
checks the query answers agree, and writes docs/BENCHMARKS.md and docs/bench_ratios.png.

Exit status: 0 when every selected target ingested everything and no answer was wrong;
1 otherwise. A Metricstor query that answers with an error counts as `unsupported`: it is
reported and counted but does not fail the run."""
import argparse
import atexit
import datetime
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_queries as bq  # noqa: E402
import bench_report as br  # noqa: E402
import bench_targets as bt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_TARGETS = ("metricstor", "prometheus", "victoriametrics")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", type=int, default=20000)
    p.add_argument("--samples", type=int, default=480, help="samples per series")
    p.add_argument("--interval-ms", type=int, default=15000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=4, help="loadgen connections")
    p.add_argument("--batch-samples", type=int, default=2000)
    p.add_argument("--ts-per-request", type=int, default=10,
                   help="consecutive samples of one series in one request")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--query-reps", type=int, default=20)
    p.add_argument("--settle-s", type=float, default=5.0, help="pause after ingest before steady RSS")
    p.add_argument("--smoke", action="store_true",
                   help="tiny CI run: 200 series x 20 samples, 1 round, 5 query reps")
    p.add_argument("--targets", default=",".join(ALL_TARGETS))
    p.add_argument("--metricstor", default=os.path.join(ROOT, "build/metricstor"))
    p.add_argument("--metricstor-arg", action="append", default=[],
                   help="extra flag for metricstor (repeatable), e.g. --metricstor-arg=--wal-fsync=1s")
    p.add_argument("--prometheus", default="/usr/bin/prometheus")
    p.add_argument("--victoria-metrics", default="/usr/bin/victoria-metrics")
    p.add_argument("--loadgen", default=os.path.join(ROOT, "build/bench/loadgen"))
    p.add_argument("--one-sample-per-ts", action="store_true",
                   help="loadgen puts every sample in its own TimeSeries, as Prometheus's sender does")
    p.add_argument("--out", default=None, help="report (default docs/BENCHMARKS.md; build/bench/ with --smoke)")
    p.add_argument("--chart", default=None, help="chart (default docs/bench_ratios.png; build/bench/ with --smoke)")
    p.add_argument("--workdir", default=None, help="where data dirs go (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep data dirs and logs")
    p.add_argument("--restart-timeout-s", type=float, default=600,
                   help="give up on the restart measurement after this long")
    a = p.parse_args(argv)
    if a.smoke:
        a.series, a.samples, a.rounds, a.query_reps, a.settle_s = 200, 20, 1, 5, 0.5
        a.restart_timeout_s = min(a.restart_timeout_s, 45)
    # A smoke run is a test, not a measurement: it leaves the published report alone.
    out_dir = os.path.join(ROOT, "build/bench") if a.smoke else os.path.join(ROOT, "docs")
    a.out = a.out or os.path.join(out_dir, "BENCHMARKS.md")
    a.chart = a.chart or os.path.join(out_dir, "bench_ratios.png")
    a.targets = [t.strip() for t in a.targets.split(",") if t.strip()]
    for t in a.targets:
        if t not in ALL_TARGETS:
            p.error(f"unknown target {t}; choose from {', '.join(ALL_TARGETS)}")
    return a


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def make_target(key, args, workdir):
    if key == "metricstor":
        return bt.Metricstor(args.metricstor, workdir, extra_args=args.metricstor_arg)
    if key == "prometheus":
        return bt.Prometheus(args.prometheus, workdir)
    return bt.VictoriaMetrics(args.victoria_metrics, workdir)


def run_loadgen(args, target, w):
    """Pushes the workload; returns (loadgen stats dict, cpu seconds used by the server)."""
    cmd = [args.loadgen, "--url", target.base + target.write_path, "--series", str(w.series),
           "--samples-per-series", str(w.samples), "--interval-ms", str(w.interval_ms),
           "--start-ms", str(w.start_ms), "--batch-samples", str(args.batch_samples),
           "--ts-per-request", str(args.ts_per_request), "--seed", str(args.seed),
           "--concurrency", str(args.concurrency)] + (["--one-sample-per-ts"] if args.one_sample_per_ts else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cpu0 = None
    stats = None
    for line in proc.stdout:
        line = line.strip()
        if line == "sending":
            cpu0 = target.cpu_seconds()
        elif line.startswith("samples="):
            cpu1 = target.cpu_seconds()
            stats = dict(kv.split("=", 1) for kv in line.split())
    err = proc.stderr.read()
    rc = proc.wait()
    if rc != 0 or stats is None or cpu0 is None:
        raise bt.TargetError(f"loadgen exited {rc}: {err.strip()[-1500:]}")
    return stats, cpu1 - cpu0, err


def bench_target(key, args, w, queries, workdir):
    """One target, one round. Returns a record: figures, bad (figure -> reason), results, info, errors."""
    rec = {"figures": {}, "bad": {}, "results": {}, "info": {}, "errors": [], "unsupported": []}
    t = make_target(key, args, workdir)
    rec["info"]["data_dir"] = t.data_dir
    try:
        log(f"{t.name}: starting on port {t.port}")
        t.start()
        rec["version"] = t.version()

        # 1. ingest
        log(f"{t.name}: pushing {w.total_samples:,} samples")
        load0 = os.getloadavg()[0]
        stats, cpu, _err = run_loadgen(args, t, w)
        rec["info"]["loadavg"] = (load0, os.getloadavg()[0])
        samples = int(stats["samples"])
        rec["info"]["samples"] = samples
        rec["figures"]["ingest_sps"] = samples / float(stats["elapsed_s"])
        rec["figures"]["cpu_per_m"] = cpu / (samples / 1e6)
        rec["info"]["loadgen"] = stats
        log(f"{t.name}: {rec['figures']['ingest_sps']:,.0f} samples/s, {cpu:.2f} CPU s")

        # 2. completeness, before anything is timed
        t.make_visible()
        client = bq.Client(t.port)
        ok = verify(t, client, w, rec, "after ingest")
        if not ok:
            for f in ("ingest_sps", "cpu_per_m"):
                rec["bad"][f] = "WRONG"
        csum, err = bq.value_checksum(client, w)
        rec["checksum"] = csum
        if err:
            rec["errors"].append(f"value checksum query: {err}")

        # 3. memory
        time.sleep(args.settle_s)
        rec["figures"]["peak_rss_mib"] = t.rss_peak_bytes() / 1048576.0
        rec["figures"]["steady_rss_mib"] = t.rss_bytes() / 1048576.0
        if hasattr(t, "head_stats"):
            rec["info"]["head"] = t.head_stats()

        # 4. queries, each store in the state it settles in by itself for this data: Metricstor
        #    and Prometheus keep these 2 h in their heads; VictoriaMetrics merges its parts in the
        #    background (forced here, so the queries do not race a merge)
        t.settle()
        client = bq.Client(t.port)
        res = bq.measure_queries(client, queries, args.query_reps)
        for q in queries:
            e = res[q.name]
            rec["results"][q.name] = e["result"]
            if e["error"] is not None:
                label = "unsupported" if key == "metricstor" else "failed"
                rec["bad"][f"q:{q.name}:p50"] = rec["bad"][f"q:{q.name}:p90"] = label
                (rec["unsupported"] if key == "metricstor" else rec["errors"]).append(f"{q.name}: {e['error']}")
            else:
                rec["figures"][f"q:{q.name}:p50"] = e["p50_ms"]
                rec["figures"][f"q:{q.name}:p90"] = e["p90_ms"]
        if w.samples >= 5:
            rec["info"]["boundary"] = bq.boundary_probe(client, w)
        client.close()

        # 5. restart from what the store keeps right after ingest, before any flush: after a clean
        #    SIGTERM (Metricstor loads the head snapshot its shutdown wrote, Prometheus replays its
        #    WAL), then after kill -9 (Metricstor and Prometheus replay their WAL)
        measure_restart(t, args, w, rec, "restart_wal_s", "before the flush")
        measure_restart(t, args, w, rec, "restart_kill_s", "after kill -9, before the flush", kill9=True)

        # 6. disk after the store's own flush/compaction
        size, how = t.persist_and_measure()
        rec["figures"]["bytes_per_sample"] = size / w.total_samples
        rec["info"]["disk_bytes"] = size
        rec["info"]["disk_method"] = how
        parts = t.disk_parts()
        if parts:
            rec["info"]["disk_parts"] = parts
        if key == "prometheus":
            rec["info"]["wal_bytes"] = t.wal_bytes()
        log(f"{t.name}: {rec['figures']['bytes_per_sample']:.3f} bytes/sample ({how})")

        # 7. restart after the flush, to the first correct answer
        measure_restart(t, args, w, rec, "restart_s", "after the flush")
        t.stop()
    except (bt.TargetError, OSError) as e:
        rec["failed"] = (str(e) or type(e).__name__)[:1500]
        log(f"{t.name}: FAILED: {str(e)[:2000]}")
        for f in ("ingest_sps", "cpu_per_m", "peak_rss_mib", "steady_rss_mib", "restart_wal_s", "restart_kill_s",
                  "bytes_per_sample", "restart_s"):
            if f not in rec["figures"]:
                rec["bad"][f] = "failed"
        for q in queries:
            for s in ("p50", "p90"):
                k = f"q:{q.name}:{s}"
                if k not in rec["figures"] and k not in rec["bad"]:
                    rec["bad"][k] = "failed"
    finally:
        rec["log_tail"] = t.log_tail(1500)
        t.cleanup(keep=args.keep)
    return rec


def measure_restart(t, args, w, rec, figure, when, kill9=False):
    """SIGTERM (kill9: SIGKILL), start again, poll the series count every 20 ms until it is right;
    records the time from spawning the process to that answer as figure, then checks every sample
    is still there. Leaves the server running."""
    if kill9:
        t.kill()
    else:
        rec["info"].setdefault("shutdown_s", []).append(t.stop())
    t0 = time.time()
    t.start(timeout=args.restart_timeout_s)
    client = bq.Client(t.port)
    deadline = t0 + args.restart_timeout_s
    last = None
    while True:
        try:
            n, err = bq.count_series(client, w)
        except OSError as e:
            n, err = None, str(e)
            client.close()
        if n == w.series:
            rec["figures"][figure] = time.time() - t0
            break
        last = err or f"count {n}"
        if time.time() > deadline:
            rec["bad"][figure] = "failed"
            rec["errors"].append(f"restart {when}: no correct answer after {args.restart_timeout_s:g} s (last: {last})")
            break
        time.sleep(0.02)
    if figure in rec["figures"]:
        verify(t, client, w, rec, f"after the restart {when}", series_only=False)
        log(f"{t.name}: restart {when} {rec['figures'][figure]:.2f} s")
    client.close()


def disk_parts_note(rec):
    """'; on disk: chunks 1.2 B/sample, index ...' from the target's per-part sizes, or ''."""
    parts = rec["info"].get("disk_parts")
    samples = rec["info"].get("samples")
    if not parts or not samples:
        return ""
    return (f"; disk measured as: {rec['info'].get('disk_method', '?')}; per sample: "
            + ", ".join(f"{k} {v / samples:.3f} B" for k, v in sorted(parts.items())))


def verify(t, client, w, rec, when, series_only=False):
    """Series and sample counts must equal what was pushed. Records errors; returns ok."""
    ok = True
    n, err = bq.count_series(client, w)
    if n != w.series:
        ok = False
        rec["errors"].append(f"{when}: series count {n} != {w.series} ({err or 'wrong'})")
    if not series_only:
        n, err = bq.count_samples(client, w)
        if n != w.total_samples:
            ok = False
            rec["errors"].append(f"{when}: sample count {n} != {w.total_samples} ({err or 'wrong'})")
    rec.setdefault("verified", []).append((when, ok))
    return ok


def compare_round(rnd, queries, targets):
    """Cross-checks answers of one round; marks wrong latency cells. Returns finding strings."""
    findings = []
    for q in queries:
        answers = {t: rnd[t]["results"].get(q.name) for t in targets if t in rnd}
        for t, a in answers.items():
            if a is not None and len(a) == 0:
                findings.append(f"{br.TARGET_NAMES[t]}: `{q.name}` returned an empty result")
                for s in ("p50", "p90"):
                    rnd[t]["bad"][f"q:{q.name}:{s}"] = "WRONG"
        ref_key = "prometheus" if answers.get("prometheus") else None
        if ref_key is None and q.vm_agrees and answers.get("victoriametrics"):
            ref_key = "victoriametrics"
        if ref_key is None:
            continue
        ref = answers[ref_key]
        for t, a in answers.items():
            if t == ref_key or not a:
                continue
            if t == "victoriametrics" and not q.vm_agrees:
                continue
            d = bq.diff(a, ref)
            if d:
                findings.append(f"{br.TARGET_NAMES[t]} vs {br.TARGET_NAMES[ref_key]} on `{q.name}`: {d}")
                for s in ("p50", "p90"):
                    rnd[t]["bad"][f"q:{q.name}:{s}"] = "WRONG"
    sums = {t: rnd[t].get("checksum") for t in targets if t in rnd and rnd[t].get("checksum") is not None}
    vals = list(sums.values())
    if any(not bq._close(v, vals[0]) for v in vals[1:]):  # summation order may move the last digits
        findings.append("value checksum differs: " + ", ".join(f"{br.TARGET_NAMES[t]} {v!r}" for t, v in sums.items()))
    return findings


def workload_text(args, w, loadgen_describe):
    return (
        f"- {w.series:,} series x {w.samples} samples = {w.total_samples:,} samples per store per round, "
        f"{w.interval_ms / 1000:g} s apart, ending just before the run starts.\n"
        f"- node_exporter-like series from `bench/loadgen` (seed {args.seed}): "
        f"`{loadgen_describe}`. Labels `__name__`, `instance=\"host-N:9100\"`, `job=\"node\"`, `datacenter`, "
        "plus per family `cpu`, `mode`, `device`, `fstype`, `mountpoint`, `collector`, `quantile`. "
        "Counters grow at per-series rates with a reset about once per 5,000 samples; gauges are random walks "
        "with 2 decimals; constants stay put.\n"
        f"- remote_write 1.0 (protobuf + snappy) over {args.concurrency} keep-alive HTTP/1.1 connections, "
        f"{args.batch_samples} samples per request: {args.ts_per_request} consecutive samples of each of "
        f"{max(1, args.batch_samples // args.ts_per_request)} series"
        + (" (each sample in its own TimeSeries entry, as Prometheus's sender lays them out)" if args.one_sample_per_ts
           else " (one TimeSeries entry per series and request)") + ". Requests go out timestamp-major and a "
        "series' next request waits for its previous one, so every store sees each series in time order.\n"
        "- Each store starts empty in a fresh data dir on a free loopback port. Per round the stores run one "
        "after another (the order rotates between rounds), never at the same time.\n"
        f"- Server flags: Metricstor `--retention 0 {' '.join(args.metricstor_arg)}` (its default "
        "`--wal-fsync=always`: acknowledged only after fdatasync, unlike the peers, whose WAL/buffers are "
        "fsynced periodically); Prometheus `--web.enable-remote-write-receiver --web.enable-admin-api "
        "--storage.tsdb.retention.time=100y`, no scrape jobs; VictoriaMetrics `-retentionPeriod=100y "
        "-search.latencyOffset=0s -search.disableCache` (no rollup result cache, so repeated queries measure "
        "the engine, not a cache).")


def self_test():
    """Runs bench/test_bench.py (the runner's own comparison logic); returns ok."""
    import unittest
    import test_bench
    suite = unittest.defaultTestLoader.loadTestsFromModule(test_bench)
    res = unittest.TextTestRunner(stream=sys.stdout, verbosity=0).run(suite)
    return res.wasSuccessful()


def main(argv):
    args = parse_args(argv)
    if args.smoke and not self_test():  # CI runs the smoke: make it run the runner's own tests too
        log("bench/test_bench.py failed")
        return 1
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    command = "python3 bench/run_bench.py " + " ".join(shlex.quote(a) for a in argv)
    need = []
    if "prometheus" in args.targets:
        need.append((args.prometheus, "prometheus"))
    if "victoriametrics" in args.targets:
        need.append((args.victoria_metrics, "victoria-metrics"))
    need.append(("gnuplot", "gnuplot-nox"))
    bt.ensure_packages(need)
    if not os.path.exists(args.loadgen):
        log(f"{args.loadgen} missing; building it")
        subprocess.run(["make", "-C", ROOT, os.path.relpath(args.loadgen, ROOT)], check=True)
    desc = subprocess.run([args.loadgen, "--describe", "--series", str(args.series), "--samples-per-series",
                           str(args.samples)], capture_output=True, text=True, check=True).stdout
    desc_line = desc.splitlines()[0] if desc else "?"

    workdir = tempfile.mkdtemp(prefix="metricstor-bench-", dir=args.workdir)
    if not args.keep:  # each target removes its own dir; this removes the (then empty) parent on any exit
        atexit.register(shutil.rmtree, workdir, True)
    queries = None
    rounds, findings, checks, notes, versions = [], [], [], [], {}
    probes = {}
    failed = False
    # A Ctrl-C or SIGTERM still cleans up the servers through the finally blocks.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    w = None
    for r in range(args.rounds):
        start_ms = int(time.time() * 1000) - args.samples * args.interval_ms
        w = bq.Workload(args.series, args.samples, args.interval_ms, start_ms)
        queries = bq.query_set(w)
        order = args.targets[r % len(args.targets):] + args.targets[:r % len(args.targets)]
        log(f"round {r + 1}/{args.rounds}: order {', '.join(order)}")
        rnd = {}
        for key in order:
            rec = bench_target(key, args, w, queries, workdir)
            rnd[key] = rec
            if rec.get("version"):
                versions[key] = rec["version"]
            name = br.TARGET_NAMES[key]
            if rec.get("failed"):
                failed = True
                findings.append(f"round {r + 1}: {name} failed: {rec['failed']}")
            for e in rec["errors"]:
                findings.append(f"round {r + 1}: {name}: {e}")
            verified = rec.get("verified", [])
            if any(not ok for _, ok in verified):
                failed = True
            elif verified:
                checks.append(f"round {r + 1}: {name} held all {w.series:,} series and {w.total_samples:,} samples "
                              + " and ".join(when for when, _ in verified))
            for u in rec["unsupported"]:
                findings.append(f"round {r + 1}: {name} unsupported: {u}")
            if key == "prometheus" and "wal_bytes" in rec["info"]:
                notes.append(f"round {r + 1}: Prometheus WAL after ingest: {rec['info']['wal_bytes'] / w.total_samples:.3f} "
                             "bytes/sample (not in the disk figure)")
            if rec["info"].get("head"):
                hb, hs = rec["info"]["head"]
                notes.append(f"round {r + 1}: {name} head structures after ingest: {hb / 1048576:.1f} MiB for "
                             f"{hs:,.0f} active series = {hb / hs:,.0f} bytes per active series "
                             f"({hb / w.total_samples:.2f} bytes per sample held)")
            lg = rec["info"].get("loadgen")
            if lg:
                shutdowns = " / ".join(f"{x:.2f}" for x in rec["info"].get("shutdown_s", []))
                notes.append(f"round {r + 1}: {name}: {int(lg['requests']):,} requests, "
                             f"{int(lg['bytes']) / 1048576:.1f} MiB compressed, request p50 {lg['req_p50_ms']} ms, "
                             f"p99 {lg['req_p99_ms']} ms, encoded beforehand in {float(lg['encode_s']):.1f} s; "
                             f"1-min load average {rec['info']['loadavg'][0]:.2f} before ingest, "
                             f"{rec['info']['loadavg'][1]:.2f} after; shutdowns {shutdowns} s" + disk_parts_note(rec))
        for t in rnd:
            if rnd[t]["info"].get("boundary"):
                probes.setdefault(t, set()).add(rnd[t]["info"]["boundary"])
        present = [t for t in args.targets if t in rnd]
        wrong = compare_round(rnd, queries, present)
        for f in wrong:
            findings.append(f"round {r + 1}: {f}")
            print("MISMATCH:", f, flush=True)
        if wrong:
            failed = True
        else:
            sums = [rnd[t]["checksum"] for t in present if rnd[t].get("checksum") is not None]
            if sums:
                checks.append(f"round {r + 1}: value checksum `sum(sum_over_time(node_memory_MemFree_bytes[...]))` "
                              f"equal on {len(sums)} stores ({sums[0]:.15g}, relative tolerance {bq.REL_TOL:g})")
            checks.append(f"round {r + 1}: every answered query non-empty; Metricstor and VictoriaMetrics answers "
                          "equal Prometheus's where compared")
        rounds.append(rnd)

    loads = [rnd[t]["info"]["loadavg"][i] for rnd in rounds for t in rnd if "loadavg" in rnd[t]["info"] for i in (0, 1)]
    ncpu = os.cpu_count() or 1
    busy = None
    if loads and max(loads) > ncpu:
        busy = (f"the machine was busy with other work during this run: the 1-minute load average reached "
                f"{max(loads):.1f} on {ncpu} CPUs (per-target values in the notes), so timings are noisier and "
                "lower than on an idle machine; the min..max ranges show how much")
        log("warning: " + busy)
    if probes:
        notes.insert(0, "range-boundary probe, `count_over_time(node_load1{instance=\"host-0:9100\"}[1m])` evaluated "
                        "exactly at the last sample's timestamp (5 = the window includes its left edge, as Prometheus 2.x; "
                        "4 = left-open, as Prometheus 3 and VictoriaMetrics): "
                        + ", ".join(f"{br.TARGET_NAMES[t]} {'/'.join(sorted(v))}" for t, v in probes.items()))
    figures = br.BASE_FIGURES + br.query_figures(queries)
    agg = br.aggregate(rounds, args.targets, figures)
    unsupported = sum(len(r[t]["unsupported"]) for r in rounds for t in r)
    if "metricstor" in args.targets:
        line = f"Metricstor unsupported query answers: {unsupported} (of {len(queries) * len(rounds)} query runs)"
        (findings if unsupported else checks).insert(0, line)
    chart_err = br.write_chart(args.chart, agg, figures, args.targets)
    if chart_err is None:
        findings_chart = args.chart
    else:
        findings_chart = None
        log(f"chart: {chart_err}")
    ctx = {"command": command, "started": started, "machine": br.machine_info(), "versions": versions,
           "source": br.source_info(ROOT), "busy": busy,
           "workload": {"text": workload_text(args, w, desc_line)}, "rounds": rounds, "targets": args.targets,
           "figures": figures, "agg": agg, "queries": queries, "findings": findings, "checks": checks,
           "chart_err": chart_err,
           "notes": notes, "args": args}
    br.render(args.out, ctx)
    log(f"wrote {args.out}" + (f" and {findings_chart}" if findings_chart else ""))
    print_summary(agg, figures, args.targets, len(rounds))
    for f in findings:
        print("finding:", f)
    return 1 if failed else 0


def print_summary(agg, figures, targets, nr):
    width = max(len(f.title) for f in figures) + 2
    print("\n" + "figure".ljust(width) + "".join(br.TARGET_NAMES[t].ljust(34) for t in targets))
    for f in figures:
        print(f.title.ljust(width) + "".join(br.fmt_cell(f, agg[t][f.key], nr).ljust(34) for t in targets))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
