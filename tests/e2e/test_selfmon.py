"""test_selfmon owns the end-to-end checks of self-monitoring: GET /metrics passes `promtool check
metrics`, its counters move with real traffic (requests by handler and code, rejected samples,
head series), a real Prometheus scraping it sees `up` == 1 and our metric values, and
--self-scrape-interval puts our own metrics into our storage with job/instance labels."""
import re
import subprocess
import time

from lib import check, now_ms
from test_remote_read import Prom, ensure_installed

PROMTOOL = "/usr/bin/promtool"


def _metrics(srv):
    st, body, hdr = srv.request("GET", "/metrics")
    check(st == 200, f"/metrics {st}")
    ct = hdr.get("Content-Type", "")
    check(ct.startswith("text/plain") and "version=0.0.4" in ct, f"/metrics content type {ct!r}")
    return body.decode()


def _value(text, series):
    """The value of one exact series line (name{labels} as written), or None."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split(" ")[1])
    return None


def test_metrics_endpoint_counts_and_lints(ctx):
    srv = ctx.server()
    t = now_ms()
    st, _ = srv.push([({"__name__": "sm_a", "k": "1"}, [(t, 1.0)]), ({"__name__": "sm_b"}, [(t, 2.0)])])
    check(st == 204, f"push {st}")
    srv.query("sm_a", t / 1000)
    srv.request("GET", "/api/v1/query", params={"query": "sum("})
    st, _, _ = srv.request("POST", "/api/v1/import/prometheus", body=b"old_metric 1 1000\n")
    check(st == 400, f"import of a too-old sample should be 400, got {st}")
    text = _metrics(srv)
    ensure_installed(PROMTOOL, "prometheus")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"promtool check metrics failed ({r.returncode}): {r.stdout} {r.stderr}")
    check(_value(text, 'metricstor_http_requests_total{handler="/api/v1/write",code="204"}') == 1,
          "write 204 not counted")
    check(_value(text, 'metricstor_http_requests_total{handler="/api/v1/query",code="200"}') == 1,
          "query 200 not counted")
    check(_value(text, 'metricstor_http_requests_total{handler="/api/v1/query",code="400"}') == 1,
          "query 400 not counted")
    check(_value(text, 'metricstor_samples_rejected_total{reason="too_old"}') == 1, "too_old rejection not counted")
    check(_value(text, "metricstor_head_series") == 2, "head series")
    check(_value(text, "metricstor_samples_appended_total") >= 2, "samples appended")
    check(_value(text, "process_resident_memory_bytes") > 1e6, "rss")
    check(_value(text, 'metricstor_http_request_duration_seconds_count{handler="/api/v1/query"}') == 2,
          "query duration histogram count")
    check(_value(text, 'metricstor_query_duration_seconds_count{kind="instant"}') == 2, "query duration (instant)")
    for name in ("metricstor_wal_bytes", "metricstor_head_chunks", "metricstor_head_bytes"):
        check(_value(text, name) is not None, f"{name} missing")
    # the scrape itself shows up on the next one
    text2 = _metrics(srv)
    check(_value(text2, 'metricstor_http_requests_total{handler="/metrics",code="200"}') == 1, "/metrics not counted")
    # the default --wal-fsync=always fsyncs each acknowledged write: the latency histogram counts them
    check((_value(text2, "metricstor_wal_fsync_duration_seconds_count") or 0) >= 1, "WAL fsync latency not observed")
    # remote_write drops (too old) are counted by reason too
    st, _ = srv.push([({"__name__": "sm_old"}, [(1000, 1.0)])])
    check(st == 400, f"too-old remote_write should be 400, got {st}")
    check(_value(_metrics(srv), 'metricstor_samples_rejected_total{reason="too_old"}') == 2,
          "remote_write too_old rejection not counted")


def test_prometheus_scrapes_metrics(ctx):
    srv = ctx.server()
    t = now_ms()
    srv.push([({"__name__": "scraped_probe", "x": "y"}, [(t, 5.0)])])
    host = srv.base.replace("http://", "")
    cfg = f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: metricstor
    static_configs:
      - targets: ['{host}']
"""
    prom = Prom(cfg)
    try:
        deadline = time.time() + 30
        up = series = None
        while time.time() < deadline:
            up = prom.api("/api/v1/query", {"query": "up"})
            series = prom.api("/api/v1/query", {"query": "metricstor_head_series"})
            if up["result"] and series["result"]:
                break
            time.sleep(0.5)
        check(up and up["result"] and up["result"][0]["value"][1] == "1", f"prometheus up: {up}\n{prom.log_tail()}")
        check(series["result"] and float(series["result"][0]["value"][1]) >= 1,
              f"prometheus did not get metricstor_head_series: {series}")
        # a scrape counts itself, so the /metrics handler shows from the second scrape on
        hq = 'metricstor_http_request_duration_seconds_count{handler="/metrics"}'
        hist = prom.api("/api/v1/query", {"query": hq})
        while not hist["result"] and time.time() < deadline:
            time.sleep(0.5)
            hist = prom.api("/api/v1/query", {"query": hq})
        check(hist["result"] and float(hist["result"][0]["value"][1]) >= 1, f"histogram not scraped: {hist}")
    finally:
        prom.stop()


def test_self_scrape_interval(ctx):
    srv = ctx.server(["--self-scrape-interval", "200ms"])
    deadline = time.time() + 15
    res = []
    while time.time() < deadline:
        res = srv.query('metricstor_head_series{job="metricstor"}', now_ms() / 1000)["result"]
        if res:
            break
        time.sleep(0.2)
    check(res, "self-scraped metricstor_head_series never appeared")
    m = res[0]["metric"]
    check(m.get("job") == "metricstor" and m.get("instance") == f"127.0.0.1:{srv.port}", f"labels {m}")
    time.sleep(0.6)
    rng = srv.query_range('metricstor_self_scrapes_total', now_ms() / 1000 - 5, now_ms() / 1000, 0.2)["result"]
    check(rng and len(rng[0]["values"]) >= 2, f"self-scrape counter over time: {rng}")
    st, doc = srv.get_json("/api/v1/metadata", params={"metric": "metricstor_head_series"})
    check(doc["data"].get("metricstor_head_series", [{}])[0].get("type") == "gauge", f"metadata {doc}")
    text = _metrics(srv)
    check(_value(text, "metricstor_self_scrape_failures_total") == 0, "self-scrape failures")
    check(re.search(r"^metricstor_self_scrapes_total [1-9]", text, re.M), "self-scrapes not counted")
    p = subprocess.run([ctx.binary, "--self-scrape-interval", "soon"], capture_output=True, text=True, timeout=10)
    check(p.returncode != 0 and "self-scrape-interval" in p.stderr, f"bad interval accepted: {p.stderr}")
