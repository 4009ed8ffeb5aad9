"""test_grafana_calls owns the proof that Grafana's Prometheus data source works against
Metricstor: it replays the HTTP calls that data source makes (health check `1+1`, buildinfo
detection, form-encoded POST query/query_range, label names and values with match[], series,
metadata, query_exemplars, rules) with Grafana's headers, against Metricstor and against a real
Prometheus 2.42 holding identical data, and requires the same JSON (order-insensitive where
Prometheus's order is unspecified), except where the answer is ours by nature (buildinfo values,
metadata, which a remote-write-fed Prometheus does not keep): there the shapes are checked."""
import json
import urllib.parse

from lib import check, now_ms
from test_remote_read import Prom

GRAFANA_HEADERS = {"User-Agent": "Grafana/10.2.3", "X-Grafana-Org-Id": "1",
                   "Accept": "application/json, text/plain, */*"}


def _call(target, method, path, params):
    headers = dict(GRAFANA_HEADERS)
    enc = urllib.parse.urlencode(params, doseq=True)
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, body, hdr = target.request("POST", path, enc.encode(), headers)
    else:
        status, body, hdr = target.request("GET", path + ("?" + enc if enc else ""), None, headers)
    try:
        doc = json.loads(body)
    except ValueError:
        doc = {"not_json": body[:300].decode(errors="replace")}
    return status, doc, hdr


def _normalise(doc):
    """Sorts lists whose order Prometheus leaves unspecified (vector results, series lists)."""
    if isinstance(doc, dict):
        out = {k: _normalise(v) for k, v in doc.items()}
        data = out.get("data")
        if isinstance(data, dict) and isinstance(data.get("result"), list) and data.get("resultType") != "scalar":
            data["result"] = sorted(data["result"], key=lambda r: json.dumps(r, sort_keys=True))
        elif isinstance(data, list):
            out["data"] = sorted(data, key=lambda r: json.dumps(r, sort_keys=True))
        return out
    if isinstance(doc, list):
        return [_normalise(x) for x in doc]
    return doc


def test_grafana_datasource_calls(ctx):
    srv = ctx.server()
    prom = Prom("global:\n  scrape_interval: 1m\n", ["--web.enable-remote-write-receiver"])
    try:
        t0 = now_ms() - 900 * 1000
        series = []
        for inst in ("h1:9100", "h2:9100"):
            for mode in ("idle", "user", "system"):
                series.append(({"__name__": "gf_cpu_seconds_total", "instance": inst, "job": "node", "mode": mode},
                               [(t0 + i * 15000, i * (1.5 if mode == "idle" else 0.25)) for i in range(60)]))
        for le, mult in (("0.1", 1), ("0.5", 3), ("1", 5), ("+Inf", 6)):
            series.append(({"__name__": "gf_latency_seconds_bucket", "job": "api", "le": le},
                           [(t0 + i * 15000, float(i * mult)) for i in range(60)]))
        prom.push(series)
        status, body = srv.push(series, metadata=[(1, "gf_cpu_seconds_total", "CPU seconds.", ""),
                                                  (3, "gf_latency_seconds", "Request latency.", "seconds")])
        check(status == 204, f"push: {status} {body!r}")
        now_s = now_ms() / 1000.0
        start, end = (t0 // 1000), int(now_s)
        span = {"start": str(start), "end": str(end)}

        same = [
            # Health check (Grafana >= 9): instant `1+1`, both as GET and as the POST it normally sends.
            ("GET", "/api/v1/query", {"query": "1+1", "time": f"{now_s:.3f}"}),
            ("POST", "/api/v1/query", {"query": "1+1", "time": f"{now_s:.3f}"}),
            # Panels: form-encoded POST range and instant queries, step in seconds.
            ("POST", "/api/v1/query_range", {"query": "sum by (mode) (rate(gf_cpu_seconds_total[1m]))",
                                             "start": str(start + 120), "end": str(end), "step": "30"}),
            ("POST", "/api/v1/query_range", {"query": "histogram_quantile(0.9, sum by (le) "
                                                      "(rate(gf_latency_seconds_bucket[2m])))",
                                             "start": str(start + 120), "end": str(end), "step": "60"}),
            ("POST", "/api/v1/query", {"query": "gf_cpu_seconds_total{mode!=\"idle\"}", "time": str(end)}),
            # With the data source's "Query timeout" set, and with HTTP method GET chosen.
            ("POST", "/api/v1/query_range", {"query": "rate(gf_cpu_seconds_total{mode=\"user\"}[1m])",
                                             "start": str(start + 60), "end": str(end), "step": "15",
                                             "timeout": "60s"}),
            ("GET", "/api/v1/query_range", {"query": "sum(gf_latency_seconds_bucket) by (le)",
                                            "start": str(start), "end": str(end), "step": "120"}),
            ("GET", "/api/v1/query", {"query": "count by (instance) (gf_cpu_seconds_total)", "time": str(end)}),
            ("POST", "/api/v1/query", {"query": "sum(", "time": str(end)}),
            # Query editor: label names, label values (with and without match[]), series.
            ("GET", "/api/v1/labels", span),
            ("POST", "/api/v1/labels", dict(span, **{"match[]": "gf_cpu_seconds_total"})),
            ("GET", "/api/v1/label/__name__/values", span),
            ("GET", "/api/v1/label/mode/values", dict(span, **{"match[]": 'gf_cpu_seconds_total{instance="h1:9100"}'})),
            ("GET", "/api/v1/label/instance/values", {"match[]": "{__name__=~\"gf_.*\",job=\"node\"}"}),
            ("GET", "/api/v1/series", dict(span, **{"match[]": "gf_latency_seconds_bucket"})),
            ("POST", "/api/v1/series", dict(span, **{"match[]": ['gf_cpu_seconds_total{mode="idle"}',
                                                                  'gf_latency_seconds_bucket{le="+Inf"}']})),
            # Exemplars (none stored: an empty success) and rules (none yet).
            ("POST", "/api/v1/query_exemplars", {"query": "gf_latency_seconds_bucket", "start": str(start),
                                                 "end": str(end)}),
            ("GET", "/api/v1/rules", {}),
            ("GET", "/api/v1/query_exemplars", {"query": "gf_latency_seconds_bucket", "start": str(start),
                                                "end": str(end)}),
            ("GET", "/api/v1/alerts", {}),
        ]
        for method, path, params in same:
            s1, d1, h1 = _call(prom, method, path, params)
            s2, d2, h2 = _call(srv, method, path, params)
            check(s1 == s2, f"{method} {path} {params}: status prometheus {s1} ours {s2}: {d2}")
            check(h2.get("Content-Type", "").startswith("application/json"), f"{path}: content type {h2}")
            check(_normalise(d1) == _normalise(d2),
                  f"{method} {path} {params}:\nprometheus {json.dumps(d1)[:900]}\nours {json.dumps(d2)[:900]}")
            if s1 == 200 and "query" in path and "exemplars" not in path:
                check(d2["data"]["result"], f"{path} {params}: empty result, test data missing")

        # The health-check answer Grafana parses.
        _, d, _ = _call(srv, "POST", "/api/v1/query", {"query": "1+1", "time": "1700000000"})
        check(d == {"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "2"]}},
              f"1+1: {d}")
        # buildinfo: Grafana reads data.version (and application, if any) to pick features.
        s, d, _ = _call(srv, "GET", "/api/v1/status/buildinfo", {})
        _, dp, _ = _call(prom, "GET", "/api/v1/status/buildinfo", {})
        check(s == 200 and d["status"] == "success" and set(dp["data"]) <= set(d["data"]),
              f"buildinfo keys: ours {sorted(d.get('data', {}))} prometheus {sorted(dp['data'])}")
        ver = d["data"]["version"]
        check(ver.count(".") >= 2 and ver.split(".")[0].isdigit(), f"buildinfo version {ver!r} is not semver")
        # Metadata, as the query editor's metric browser asks for it.
        s, d, _ = _call(srv, "GET", "/api/v1/metadata", {})
        check(s == 200 and d["data"].get("gf_cpu_seconds_total") == [{"type": "counter", "help": "CPU seconds.",
                                                                        "unit": ""}], f"metadata: {d}")
        check(d["data"].get("gf_latency_seconds", [{}])[0].get("type") == "histogram", f"metadata: {d}")
        s, d, _ = _call(srv, "GET", "/api/v1/metadata", {"metric": "gf_latency_seconds", "limit": "1"})
        check(s == 200 and list(d["data"]) == ["gf_latency_seconds"], f"metadata?metric: {d}")
    finally:
        prom.stop()
