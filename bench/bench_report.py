"""bench_report owns turning the runner's per-round measurements into docs/BENCHMARKS.md
(medians with min..max, Metricstor/peer ratios, correctness findings, machine and workload) and
the gnuplot chart of the ratios (docs/bench_ratios.png)."""
import os
import platform
import shutil
import statistics
import subprocess
import tempfile

TARGET_NAMES = {"metricstor": "Metricstor", "prometheus": "Prometheus", "victoriametrics": "VictoriaMetrics"}
PEERS = ("prometheus", "victoriametrics")


class Figure:
    """One measured quantity. better: 'higher' or 'lower'."""

    def __init__(self, key, title, unit, better, fmt="{:.3g}", chart=True, short=None):
        self.key, self.title, self.unit, self.better, self.fmt, self.chart = key, title, unit, better, fmt, chart
        self.short = short or title


BASE_FIGURES = [
    Figure("ingest_sps", "ingest rate", "samples/s", "higher", "{:,.0f}", short="ingest rate (HIGHER is better)"),
    Figure("cpu_per_m", "server CPU per 1M samples ingested", "CPU s", "lower", "{:.2f}", short="CPU per sample"),
    Figure("peak_rss_mib", "peak RSS after ingest (VmHWM)", "MiB", "lower", "{:.1f}", short="peak RSS"),
    Figure("steady_rss_mib", "steady RSS after ingest (VmRSS)", "MiB", "lower", "{:.1f}", short="steady RSS"),
    Figure("bytes_per_sample", "disk bytes per sample", "B", "lower", "{:.3f}", short="disk per sample"),
    Figure("restart_wal_s", "restart before the flush, after SIGTERM", "s", "lower", "{:.2f}",
           short="restart, before flush"),
    Figure("restart_kill_s", "restart before the flush, after kill -9 (WAL replay)", "s", "lower", "{:.2f}",
           short="restart after kill -9"),
    Figure("restart_s", "restart after the flush", "s", "lower", "{:.2f}", short="restart, after flush"),
]


def query_figures(queries):
    figs = []
    for q in queries:
        figs.append(Figure(f"q:{q.name}:p50", f"{q.title}, median", "ms", "lower", "{:.2f}",
                           short=f"query {q.name} p50"))
        figs.append(Figure(f"q:{q.name}:p90", f"{q.title}, p90", "ms", "lower", "{:.2f}", chart=False))
    return figs


def aggregate(rounds, targets, figures):
    """rounds: [{target: {"figures": {key: value}, "bad": {key: reason}}}].
    Returns {target: {key: {"median", "min", "max", "n", "bad": [reasons]}}}."""
    agg = {}
    for t in targets:
        agg[t] = {}
        for f in figures:
            vals, bad = [], []
            for r in rounds:
                rec = r.get(t)
                if rec is None:
                    continue
                if f.key in rec.get("bad", {}):
                    bad.append(rec["bad"][f.key])
                elif rec.get("figures", {}).get(f.key) is not None:
                    vals.append(rec["figures"][f.key])
            cell = {"n": len(vals), "bad": bad}
            if vals:
                cell.update(median=statistics.median(vals), min=min(vals), max=max(vals))
            agg[t][f.key] = cell
    return agg


def fmt_cell(f, cell, nrounds):
    if "median" not in cell:
        return cell["bad"][0] if cell["bad"] else "n/a"
    s = f.fmt.format(cell["median"])
    if cell["n"] > 1:
        s += f" ({f.fmt.format(cell['min'])}..{f.fmt.format(cell['max'])})"
    if cell["bad"]:
        s += f" [{cell['bad'][0]} in {len(cell['bad'])}/{nrounds}]"
    return s


def ratio(agg, f, peer):
    a, b = agg["metricstor"].get(f.key, {}), agg[peer].get(f.key, {})
    if "median" not in a or "median" not in b or a["bad"] or b["bad"] or not b["median"]:
        return None
    return a["median"] / b["median"]


def fmt_ratio(r, f):
    if r is None:
        return "—"
    good = (r >= 1) if f.better == "higher" else (r <= 1)
    return f"{r:.2f}" + ("" if good else " ✗")


def write_chart(path, agg, figures, targets):
    """Grouped bars of Metricstor/peer per figure on a log axis; returns an error text or None."""
    if "metricstor" not in targets or not shutil.which("gnuplot"):
        return "gnuplot missing" if not shutil.which("gnuplot") else "Metricstor not benchmarked"
    peers = [p for p in PEERS if p in targets]
    rows = []
    for f in figures:
        if not f.chart:
            continue
        rs = [ratio(agg, f, p) for p in peers]
        if all(r is None for r in rs):
            continue
        rows.append((f.short.replace('"', "'"), rs))
    if not rows:
        return "no ratio could be computed (Metricstor had no valid figure)"
    tmp = tempfile.mkdtemp(prefix="bench-chart-")
    try:
        data = os.path.join(tmp, "ratios.dat")
        with open(data, "w") as fh:
            for label, rs in rows:
                fh.write(f'"{label}" ' + " ".join("NaN" if r is None else f"{r:.6g}" for r in rs) + "\n")
        plots = ", ".join(
            f"'{data}' using {i + 2}:xtic(1) title 'Metricstor / {TARGET_NAMES[p]}'"
            for i, p in enumerate(peers))
        script = f"""
set terminal png size 1200,560 font ",10" noenhanced
set output '{path}'
set title "Metricstor / peer, median of rounds, log scale. Below 1 = Metricstor better, except ingest rate"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y 10
set yrange [*:*]
set grid ytics
set xtics rotate by -35 left
set bmargin 11
set rmargin 14
set key top left
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
plot {plots}
"""
        scr = os.path.join(tmp, "chart.gp")
        with open(scr, "w") as fh:
            fh.write(script)
        out = subprocess.run(["gnuplot", scr], capture_output=True, text=True)
        if out.returncode != 0:
            return "gnuplot failed: " + out.stderr[-500:]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return None


def machine_info():
    def run(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, shell=True).stdout.strip()
        except OSError:
            return "?"

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    osname = "?"
    try:
        with open("/etc/os-release") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {"nproc": run("nproc"), "free": run("free -h"), "cpu": cpu, "os": osname,
            "kernel": platform.release(), "disk": run("df -h --output=source,fstype,size . | tail -1")}


def render(path, ctx):
    """ctx keys: command, started, machine, versions, source, workload, rounds, targets, figures, agg,
    queries, findings, checks, chart_err, notes, args."""
    targets, figures, agg, nr = ctx["targets"], ctx["figures"], ctx["agg"], len(ctx["rounds"])
    peers = [p for p in PEERS if p in targets]
    m, w = ctx["machine"], ctx["workload"]
    L = []
    L.append("# Benchmarks: Metricstor, Prometheus, VictoriaMetrics\n")
    L.append(f"Generated by `bench/run_bench.py` on {ctx['started']} UTC; every figure below comes from that "
             "run. Do not edit by hand: re-run the command. How each figure is measured is at the end.\n")
    L.append("## Command\n")
    L.append("```sh\n" + ctx["command"] + "\n```\n")
    L.append("## Machine\n")
    L.append(f"- CPU: {m['cpu']}; `nproc`: {m['nproc']}")
    L.append(f"- OS: {m['os']}, kernel {m['kernel']}; working disk: `{m['disk']}`")
    L.append("- `free -h`:\n\n```\n" + m["free"] + "\n```")
    L.append("- Versions: " + "; ".join(f"{TARGET_NAMES[t]} {ctx['versions'].get(t, '?')}" for t in targets))
    L.append(f"- Source: {ctx['source']}")
    L.append("- The load generator runs on the same machine and shares its CPUs with the server under test; "
             "it encodes every request before the clock starts.\n")
    L.append("## Workload\n")
    L.append(w["text"] + "\n")
    L.append(f"## Results (median of {nr} round{'s' if nr != 1 else ''}; (min..max) across rounds)\n")
    if ctx.get("busy"):
        L.append(f"**Caveat**: {ctx['busy']}.\n")
    L.append("Ratio = Metricstor / peer. ✗ marks a ratio on the wrong side of 1 for Metricstor "
             "(slower, larger or hungrier). A cell that says `unsupported`, `WRONG` or `failed` "
             "has no number on purpose: a broken answer must not look fast.\n")
    head = "| figure | unit | " + " | ".join(TARGET_NAMES[t] for t in targets)
    if "metricstor" in targets:
        head += "".join(f" | MS/{TARGET_NAMES[p][:4]}." for p in peers)
    L.append(head + " |")
    L.append("|" + " --- |" * (head.count("|")))
    for f in figures:
        row = f"| {f.title} | {f.unit} | " + " | ".join(fmt_cell(f, agg[t][f.key], nr) for t in targets)
        if "metricstor" in targets:
            row += "".join(f" | {fmt_ratio(ratio(agg, f, p), f)}" for p in peers)
        L.append(row + " |")
    L.append("")
    L.append("### Queries\n")
    L.append("Instant queries are evaluated half a scrape interval after the last pushed sample; range queries "
             "cover the last hour of data at a 15 s step, their steps also half an interval after sample "
             "timestamps. So no window edge falls on a sample: Prometheus 2.x includes a range window's left "
             "edge, Prometheus 3 and VictoriaMetrics do not (the boundary probe in the notes shows what each "
             "store does). Each is run once for its answer, then timed "
             f"{ctx['args'].query_reps} times in a row over one keep-alive connection.\n")
    for q in ctx["queries"]:
        L.append(f"- **{q.title}**: {q.describe()}" + ("" if q.vm_agrees else
                 " — answer compared with Prometheus only (MetricsQL's rate() does not extrapolate like PromQL's)"))
    L.append("")
    L.append("## Correctness\n")
    L.append("Problems (failures, wrong or empty answers, unsupported queries):\n")
    for line in ctx["findings"]:
        L.append(f"- {line}")
    if not ctx["findings"]:
        L.append("- none")
    L.append("\nChecks that passed:\n")
    for line in ctx["checks"]:
        L.append(f"- {line}")
    if not ctx["checks"]:
        L.append("- none")
    L.append("")
    L.append("## Chart\n")
    if ctx["chart_err"]:
        L.append(f"No chart this run: {ctx['chart_err']}.\n")
    else:
        L.append("![Metricstor / peer ratios](bench_ratios.png)\n")
        L.append("Bars below 1 are good for every figure except ingest rate, where above 1 is good.\n")
    L.append("## How each figure is measured\n")
    L.append(
        "- **Ingest rate**: samples the load generator pushed divided by the wall time from its first request "
        "to the last acknowledgement (requests encoded beforehand). Every request must get a 2xx; any other "
        "answer aborts the run.\n"
        "- **CPU per 1M samples**: the server's utime+stime from `/proc/<pid>/stat` just before the first "
        "request and just after the last acknowledgement, per million samples.\n"
        "- **Peak RSS**: `VmHWM` from `/proc/<pid>/status` after ingest (before any benchmark query). "
        "**Steady RSS**: `VmRSS` after ingest, the completeness checks and a settle pause.\n"
        "- **Order per store and round**: ingest, completeness checks, memory, queries, restart before the "
        "flush (SIGTERM, then kill -9), flush and disk size, restart after the flush. The queries see each store as it settles by "
        "itself with this data: Metricstor and Prometheus answer from their heads (both keep the last 2 h "
        "there), VictoriaMetrics from merged parts (its background merge is forced and awaited first).\n"
        "- **Disk bytes per sample**: after each store's own flush/compaction, divided by the samples pushed. "
        "Metricstor: its whole data dir after `POST /api/v1/admin/tsdb/flush`, which cuts every head sample "
        "into blocks and truncates the WAL (a build without that endpoint is measured as it is, WAL only, and "
        "the notes say so). Prometheus: a TSDB snapshot (`POST /api/v1/admin/tsdb/snapshot`, which writes the "
        "head as a compacted block), WAL excluded; its WAL size is listed in the notes. VictoriaMetrics: "
        "`data` + `indexdb` after `/internal/force_flush` and `/internal/force_merge`, once no merge runs and "
        "the size is stable. Sizes are allocated blocks, as `du` counts them; the notes split them by part.\n"
        "- **Restart**: SIGTERM, wait for exit, start again, then poll `count({__name__=~\".+\"})` every 20 ms "
        "until it equals the number of series pushed; the time from spawning the process to that answer. "
        "After it, the total sample count is checked again. Measured three times: **before the flush, after "
        "SIGTERM** (Metricstor loads the head snapshot its clean shutdown wrote, docs/format/snapshot.md; "
        "Prometheus 2.42 replays its WAL, with its memory-mapped head chunks, as its memory snapshot is off by "
        "default; VictoriaMetrics reopens the parts its shutdown flushed), **before the flush, after kill -9** "
        "(SIGKILL instead of SIGTERM, right after that restart: Metricstor and Prometheus replay their WAL; "
        "VictoriaMetrics reopens its parts) and **after the flush** (SIGTERM; Metricstor opens blocks and a "
        "near-empty WAL; the peers as before, Prometheus's snapshot leaving its head and WAL in place).\n"
        "- **Completeness** (before anything is timed): `count({__name__=~\".+\"})` must equal the series "
        "pushed, `sum(count_over_time({__name__=\"<name>\"}[<all>]))` summed over every metric name the store lists must equal the samples pushed, and "
        "`sum(sum_over_time(node_memory_MemFree_bytes[<all>]))` must agree across stores. "
        "VictoriaMetrics gets `/internal/force_flush` first so recent samples are searchable.\n"
        "- **Query latency**: client-side wall time of one HTTP request, median and p90 over the timed runs of "
        "a round; the table then gives the median of those per-round values across rounds.\n")
    if ctx["notes"]:
        L.append("## Notes from this run\n")
        for n in ctx["notes"]:
            L.append(f"- {n}")
        L.append("")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        fh.write("\n".join(L) + "\n")


def source_info(root):
    """The commit the binaries were built from, and whether the tree had local changes."""
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "src"],
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown (no git)"
    if not head:
        return "unknown (not a git checkout)"
    return f"commit {head}" + (" with uncommitted changes under src/" if dirty else "")
