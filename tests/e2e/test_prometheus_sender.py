"""test_prometheus_sender owns the proof that a real Prometheus can be Metricstor's sender: a real
prometheus-node-exporter is scraped every second by a real Prometheus 2.42 (which also scrapes
itself, for real histograms), that Prometheus remote_writes everything to Metricstor; once both
hold the same number of samples, every raw sample of every series in the window must be
identical, and the same
PromQL queries (instant and range; rate, irate, increase, aggregations, topk, histogram_quantile,
*_over_time) answered by that Prometheus from its own TSDB and by Metricstor must agree: same
label sets exactly, values within 1e-9 relative, over a window that ends a few seconds before
the test stops waiting (remote_write lags a little). The config used is the one in
docs/prometheus.md (read from it). Skipped under the ASan build (it waits ~30 s of real time)."""
import math
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

from lib import TestFailure, check, free_port
from test_remote_read import Prom, doc_snippet, ensure_installed

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
WAIT_S = 32
LAG_S = 5


INSTANT = [
    "up",
    "node_load1",
    "node_memory_MemAvailable_bytes",
    "rate(node_cpu_seconds_total[10s])",
    "irate(node_cpu_seconds_total[10s])",
    "sum by (mode) (rate(node_cpu_seconds_total[10s]))",
    "increase(node_network_receive_bytes_total[15s])",
    "topk(3, rate(node_network_transmit_packets_total[10s]))",
    "avg_over_time(node_load1[20s])",
    "max_over_time(scrape_duration_seconds[20s])",
    "count by (job) (up)",
    "sum by (job) (scrape_samples_scraped)",
    "histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[20s])))",
    "histogram_quantile(0.5, sum by (le, handler) (rate(prometheus_http_response_size_bytes_bucket[20s])))",
    "histogram_quantile(0.99, rate(prometheus_tsdb_compaction_chunk_range_seconds_bucket[20s]))",
    "go_gc_duration_seconds{quantile=\"0.5\"}",
    "rate(process_cpu_seconds_total[10s]) * 100",
    "sum(rate(prometheus_tsdb_head_samples_appended_total[10s]))",
    "count(count by (__name__) ({job=\"node\"}))",
]
RANGE = [
    "rate(node_cpu_seconds_total{mode=\"idle\"}[5s])",
    "sum by (job) (rate(scrape_samples_scraped[5s]))",
    "histogram_quantile(0.9, sum by (le) (rate(prometheus_http_request_duration_seconds_bucket[10s])))",
    "node_memory_MemFree_bytes / node_memory_MemTotal_bytes",
    "deriv(process_resident_memory_bytes[10s])",
]


def _close(a, b):
    fa, fb = float(a), float(b)
    if math.isnan(fa) or math.isnan(fb):
        return math.isnan(fa) and math.isnan(fb)
    if fa == fb:
        return True
    return abs(fa - fb) <= 1e-9 * max(abs(fa), abs(fb))


def compare_results(q, theirs, ours):
    """Same resultType, same label sets, values within 1e-9 relative, same timestamps."""
    check(theirs["resultType"] == ours["resultType"], f"{q!r}: type {theirs['resultType']} vs {ours['resultType']}")
    if theirs["resultType"] == "scalar":
        check(theirs["result"][0] == ours["result"][0] and _close(theirs["result"][1], ours["result"][1]),
              f"{q!r}: {theirs['result']} vs {ours['result']}")
        return
    key = lambda r: sorted(r["metric"].items())  # noqa: E731
    t, o = sorted(theirs["result"], key=key), sorted(ours["result"], key=key)
    check([key(r) for r in t] == [key(r) for r in o],
          f"{q!r}: label sets differ\nprometheus {[r['metric'] for r in t][:10]}\nours {[r['metric'] for r in o][:10]}")
    for a, b in zip(t, o):
        pa = a.get("values") or [a.get("value")]
        pb = b.get("values") or [b.get("value")]
        check(len(pa) == len(pb), f"{q!r} {a['metric']}: {len(pa)} points vs {len(pb)}")
        for x, y in zip(pa, pb):
            check(x[0] == y[0] and _close(x[1], y[1]), f"{q!r} {a['metric']}: prometheus {x} ours {y}")


def _start_node_exporter():
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="ms-ne-")
    log = open(os.path.join(tmp, "ne.log"), "w")
    proc = subprocess.Popen([NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}"], stdout=log,
                            stderr=subprocess.STDOUT)
    log.close()
    deadline = time.time() + 15
    while time.time() < deadline:
        if proc.poll() is not None:
            raise TestFailure(f"node exporter exited {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                if r.status == 200:
                    return proc, port, tmp
        except Exception:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise TestFailure("node exporter did not start")


def test_prometheus_remote_write_sender(ctx):
    if "asan" in ctx.binary:
        ctx.note("skipped under ASan (waits ~30 s of real time)")
        return
    ensure_installed(NODE_EXPORTER, "prometheus-node-exporter")
    srv = ctx.server()
    ne, ne_port, ne_tmp = _start_node_exporter()
    prom = None
    try:
        # Prometheus must know its own port for the self-scrape: pick it first, then start.
        prom_port = free_port()
        cfg = doc_snippet("sender", srv.base, p9100=ne_port, p9090=prom_port)
        prom = Prom(cfg, port=prom_port)
        t_start = time.time()
        time.sleep(WAIT_S)
        t_end = math.floor(time.time()) - LAG_S
        t_from = math.ceil(t_start) + 12
        check(t_end - t_from >= 8, "window too short")

        # Remote write lags a little (and its shards independently): wait until both hold exactly the
        # same raw samples up to t_end before comparing queries.
        raw_q = f'{{__name__=~".+"}}[{t_end - t_from + 20}s]'

        def points(data):
            return sum(len(r["values"]) for r in data["result"])
        deadline = time.time() + 20
        while True:
            raw_theirs = prom.api("/api/v1/query", {"query": raw_q, "time": str(t_end)})
            raw_ours = srv.query(raw_q, t_end, "POST")
            try:
                check(points(raw_ours) > 0, "no samples arrived")
                # Every raw sample of every series in the window, identical.
                compare_results(raw_q, raw_theirs, raw_ours)
                break
            except TestFailure as e:
                check(time.time() < deadline, f"remote_write never caught up (prometheus holds "
                                              f"{points(raw_theirs)} samples, ours {points(raw_ours)}): {e}")
                time.sleep(0.5)
        check(len(raw_ours["result"]) > 200, f"only {len(raw_ours['result'])} series arrived")
        # Remote write must have delivered at least up to t_end for both jobs.
        up_theirs = prom.api("/api/v1/query", {"query": "up", "time": str(t_end)})
        up_ours = srv.query("up", t_end)
        check(len(up_theirs["result"]) == 2 and len(up_ours["result"]) == 2,
              f"up: prometheus {up_theirs['result']} ours {up_ours['result']}")
        compared = empty = 0
        for q in INSTANT:
            for t in (t_end, t_end - 7):
                theirs = prom.api("/api/v1/query", {"query": q, "time": str(t)})
                ours = srv.query(q, t, "POST")
                compare_results(f"{q} @{t}", theirs, ours)
                compared += 1
                empty += not theirs["result"]
        check(empty <= 2, f"{empty} instant comparisons had no data on either side")
        non_empty = 0
        for q in RANGE:
            theirs = prom.api("/api/v1/query_range", {"query": q, "start": str(t_from), "end": str(t_end), "step": "1"})
            ours = srv.query_range(q, t_from, t_end, 1, "POST")
            compare_results(q, theirs, ours)
            non_empty += bool(theirs["result"])
            compared += 1
        check(non_empty >= 4, f"only {non_empty} range queries had data")
        hq = prom.api("/api/v1/query", {"query": INSTANT[12], "time": str(t_end)})
        check(hq["result"], "no real histogram data to compare (prometheus_http_request_duration_seconds)")
        # Metadata travelled too (metadata_config).
        status, doc = srv.get_json("/api/v1/metadata", {"metric": "node_cpu_seconds_total"})
        check(status == 200 and doc["data"].get("node_cpu_seconds_total", [{}])[0].get("type") == "counter",
              f"metadata for node_cpu_seconds_total: {doc}")
        ctx.note(f"{points(raw_ours)} raw samples of {len(raw_ours['result'])} series identical, "
                 f"{compared} queries agreed over {t_end - t_from}s")
    finally:
        if prom is not None:
            prom.stop()
        ne.terminate()
        try:
            ne.wait(10)
        except subprocess.TimeoutExpired:
            ne.kill()
            ne.wait()
        shutil.rmtree(ne_tmp, ignore_errors=True)
