"""test_status_tsdb owns the proof that GET /api/v1/status/tsdb answers in Prometheus 2.42's shape
with Prometheus's numbers: the same series are pushed over remote_write into Metricstor and into
a real Prometheus 2.42 (--web.enable-remote-write-receiver, temp dir), and the two answers are
compared key by key. Where Prometheus's top-10 lists have ties at the cut-off its choice among
the tied names is random (Go map order), so there both are checked against the ground truth
computed here instead of against each other. Skipped when no prometheus binary is installed."""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import promwire
from lib import check, free_port, now_ms

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
HOUR2 = 2 * 3600 * 1000
KEYS = ["headStats", "seriesCountByMetricName", "labelValueCountByLabelName", "memoryInBytesByLabelName",
        "seriesCountByLabelValuePair"]


def make_series(t0):
    """13 metrics with 2..14 series each (distinct counts), a few labels with distinct shapes."""
    series = []
    for m in range(13):
        for s in range(m + 2):
            labels = {"__name__": f"metric_{m:02d}", "job": f"job{s % 3}", "instance": f"host-{s}"}
            if m % 2 == 0:
                labels["env"] = "prod" if s % 4 else "dev"
            if m == 5:
                labels["path"] = "/api/v1/" + "x" * (s + 1)
            samples = [(t0 + k * 1000 + m, float(k * m + s)) for k in range(5)]
            series.append((labels, samples))
    return series


def ground_pairs(series):
    pairs = {}
    for labels, _ in series:
        for k, v in labels.items():
            pairs.setdefault(k, {}).setdefault(v, 0)
            pairs[k][v] += 1
    return pairs


def ground_truth(series):
    pairs = ground_pairs(series)
    metric = {v: c for v, c in pairs["__name__"].items()}
    nvalues = {k: len(vs) for k, vs in pairs.items()}
    # 2.42: the bytes of the distinct values (later Prometheus versions multiply by series)
    memory = {k: sum(len(v) for v in vs) for k, vs in pairs.items()}
    pair = {f"{k}={v}": c for k, vs in pairs.items() for v, c in vs.items()}
    return {"seriesCountByMetricName": metric, "labelValueCountByLabelName": nvalues,
            "memoryInBytesByLabelName": memory, "seriesCountByLabelValuePair": pair}


def check_top10(key, got, truth, who):
    """got must be the 10 (or fewer) highest of truth, sorted by value descending; at the lowest
    kept value any of the tied names may be kept."""
    want_vals = sorted(truth.values(), reverse=True)[:10]
    vals = [e["value"] for e in got]
    check(vals == want_vals, f"{who} {key}: values {vals}, want {want_vals}")
    for e in got:
        check(truth.get(e["name"]) == e["value"], f"{who} {key}: {e} not in the data ({truth.get(e['name'])})")
    check(len({e["name"] for e in got}) == len(got), f"{who} {key}: repeated names {got}")


def start_prometheus(tmp):
    port = free_port()
    log = open(os.path.join(tmp, "prometheus.log"), "w")
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1h\n")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
                             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver"],
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/-/ready", timeout=2) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            pass
        check(proc.poll() is None, "prometheus exited at start:\n" + open(os.path.join(tmp, "prometheus.log")).read())
        time.sleep(0.3)
    proc.kill()
    raise AssertionError("prometheus never became ready")


def stop_prometheus(proc, tmp):
    if proc is not None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(tmp, ignore_errors=True)


def prom_get(base, path):
    import json
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.loads(r.read())


def prom_push(base, series):
    body = promwire.compress(promwire.encode_write_request(series))
    req = urllib.request.Request(base + "/api/v1/write", data=body, method="POST", headers={
        "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


def test_status_tsdb_empty(ctx):
    srv = ctx.server()
    status, doc = srv.get_json("/api/v1/status/tsdb")
    check(status == 200 and doc["status"] == "success", f"status {status} {doc}")
    d = doc["data"]
    check(list(d.keys())[:5] == KEYS, f"keys {list(d.keys())}")
    # Prometheus 2.42 on an empty head: minTime MaxInt64, maxTime MinInt64 (checked against it below)
    check(d["headStats"] == {"numSeries": 0, "numLabelPairs": 0, "chunkCount": 0,
                             "minTime": 9223372036854775807, "maxTime": -9223372036854775808}, f"{d['headStats']}")
    for k in KEYS[1:]:
        check(d[k] == [], f"{k}: {d[k]}")
    if os.path.exists(PROMETHEUS) and "asan" not in ctx.binary:
        tmp = tempfile.mkdtemp(prefix="ms-prom-")
        proc = None
        try:
            proc, pbase = start_prometheus(tmp)
            theirs = prom_get(pbase, "/api/v1/status/tsdb")["data"]
            check(list(theirs.keys()) == KEYS, f"prometheus keys {list(theirs.keys())}")
            for k in KEYS:
                check(theirs[k] == d[k], f"empty {k}: prometheus {theirs[k]} ours {d[k]}")
        finally:
            stop_prometheus(proc, tmp)
    ms = d["metricstor"]
    for k in ("blocks", "blockBytes", "walBytes", "walReplayCorruptRecords", "corruptChunkReads",
              "compactions", "quarantinedBlocks", "quarantine"):
        check(k in ms, f"metricstor object lacks {k}: {ms}")


def test_status_tsdb_vs_prometheus(ctx):
    if not os.path.exists(PROMETHEUS) or "asan" in ctx.binary:
        ctx.note("skipped: no prometheus binary" if not os.path.exists(PROMETHEUS) else "skipped under ASan")
        return
    # all samples in one aligned 2 h window, so Prometheus keeps one head chunk per series as we do
    t0 = now_ms() - 120_000
    if t0 // HOUR2 != (t0 + 10_000) // HOUR2:
        t0 = (t0 + 10_000) // HOUR2 * HOUR2 + 1000
    series = make_series(t0)
    tmp = tempfile.mkdtemp(prefix="ms-prom-")
    proc = None
    try:
        proc, pbase = start_prometheus(tmp)
        # (no status call before the push: Prometheus caches its cardinality lists for 30 s, so
        # an early call would freeze them empty; we compute them on every call)
        srv = ctx.server()
        for i in range(0, len(series), 40):
            check(prom_push(pbase, series[i:i + 40]) in (200, 204), "prometheus refused the push")
            st, body = srv.push(series[i:i + 40])
            check(st in (200, 204), f"push {st} {body[:200]}")
        theirs = prom_get(pbase, "/api/v1/status/tsdb")["data"]
        status, doc = srv.get_json("/api/v1/status/tsdb")
        check(status == 200, f"status {status}")
        ours = doc["data"]
        check([k for k in ours if k != "metricstor"] == list(theirs.keys()),
              f"keys: ours {list(ours.keys())} prometheus {list(theirs.keys())}")
        # numLabelPairs: Prometheus 2.42's API leaves it 0 (its head's postings stats count the
        # pairs, but serveTSDBStatus does not pass them on); we report the real count, which
        # later Prometheus versions also report. Every other head figure must agree exactly.
        npairs = sum(len(vs) for vs in ground_pairs(series).values())
        check(ours["headStats"]["numLabelPairs"] == npairs, f"numLabelPairs {ours['headStats']}, want {npairs}")
        check(theirs["headStats"]["numLabelPairs"] in (0, npairs), f"prometheus numLabelPairs {theirs['headStats']}")
        a = {k: v for k, v in ours["headStats"].items() if k != "numLabelPairs"}
        b = {k: v for k, v in theirs["headStats"].items() if k != "numLabelPairs"}
        check(a == b and list(ours["headStats"]) == list(theirs["headStats"]),
              f"headStats: ours {ours['headStats']} prometheus {theirs['headStats']}")
        check(ours["headStats"]["numSeries"] == len(series), f"numSeries {ours['headStats']}")
        truth = ground_truth(series)
        for key in KEYS[1:]:
            check_top10(key, ours[key], truth[key], "ours")
            check_top10(key, theirs[key], truth[key], "prometheus")
            # entries above the lowest kept value are fully determined: they must agree exactly
            lo = min(e["value"] for e in theirs[key])
            a = sorted((e["name"], e["value"]) for e in ours[key] if e["value"] > lo)
            b = sorted((e["name"], e["value"]) for e in theirs[key] if e["value"] > lo)
            check(a == b, f"{key}: ours {a} prometheus {b}")
            # our tie order is deterministic: value descending, then name
            check(ours[key] == sorted(ours[key], key=lambda e: (-e["value"], e["name"])), f"{key} order {ours[key]}")
        ms = ours["metricstor"]
        check(ms["quarantinedBlocks"] == 0 and ms["corruptChunkReads"] == 0 and ms["walBytes"] > 0, f"{ms}")
        # a `limit` parameter does nothing in 2.42; nor here
        _, lim = srv.get_json("/api/v1/status/tsdb", {"limit": "2"})
        check(len(lim["data"]["seriesCountByMetricName"]) == 10, f"limit changed the answer: {lim['data']}")
        # both survive a restart with the same head figures (ours replays the WAL)
        srv.stop(signal.SIGTERM)
        srv.start()
        _, again = srv.get_json("/api/v1/status/tsdb")
        check(again["data"]["headStats"] == ours["headStats"], f"after restart {again['data']['headStats']}")
        for key in KEYS[1:]:
            check(again["data"][key] == ours[key], f"{key} after restart: {again['data'][key]} vs {ours[key]}")
    finally:
        stop_prometheus(proc, tmp)
