"""bench_queries owns what the benchmark asks the stores: the completeness checks after ingest,
the fixed query set whose latency is measured, result normalisation, and the cross-store
comparison (a fast wrong answer must show up as wrong, never as fast).

Time windows are chosen so no range boundary falls on a sample timestamp: Prometheus 2.x counts
[t-w, t], Prometheus 3 and VictoriaMetrics (t-w, t]; with boundaries between samples all agree."""
import http.client
import json
import math
import statistics
import time
import urllib.parse

REL_TOL = 1e-9


class Workload:
    """What was pushed: enough to know the right answers."""

    def __init__(self, series, samples, interval_ms, start_ms):
        self.series = series
        self.samples = samples
        self.interval_ms = interval_ms
        self.start_ms = start_ms
        self.end_ms = start_ms + (samples - 1) * interval_ms

    @property
    def total_samples(self):
        return self.series * self.samples

    @property
    def eval_s(self):
        """Evaluation time for instant queries: half an interval after the last sample."""
        return (self.end_ms + self.interval_ms // 2) / 1000.0

    @property
    def full_window(self):
        """A range selector that covers every sample when evaluated at eval_s."""
        span_ms = self.end_ms - self.start_ms + self.interval_ms
        return f"{int(math.ceil(span_ms / 1000.0))}s"

    def fmt_t(self, t_s):
        return f"{t_s:.3f}"


class Client:
    """Keep-alive HTTP client for one server; latency measured around one request."""

    def __init__(self, port, timeout=300):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def _conn(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self.conn

    def get(self, path, params):
        """Returns (status, parsed JSON or None, raw bytes, seconds)."""
        url = path + "?" + urllib.parse.urlencode(params, doseq=True)
        for attempt in (0, 1):
            t0 = time.perf_counter()
            try:
                c = self._conn()
                c.request("GET", url)
                r = c.getresponse()
                body = r.read()
                dt = time.perf_counter() - t0
                break
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        return r.status, doc, body, dt

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# -- normalisation --------------------------------------------------------------------------
def _labels_key(metric):
    return tuple(sorted(metric.items()))


def normalise(kind, doc):
    """Turns a success response into a comparable Python value; None if malformed."""
    try:
        data = doc["data"]
        if kind == "query":
            rtype, res = data["resultType"], data["result"]
            if rtype == "vector":
                return {_labels_key(s["metric"]): float(s["value"][1]) for s in res}
            if rtype == "scalar":
                return {(): float(res[1])}
            if rtype == "matrix":
                return {_labels_key(s["metric"]): tuple((float(t), float(v)) for t, v in s["values"]) for s in res}
            return None
        if kind == "series":
            return {_labels_key(m) for m in data}
        if kind == "labels":
            return set(data)
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    return None


def _close(a, b):
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b or abs(a - b) <= REL_TOL * max(abs(a), abs(b))


def diff(a, b, limit=3):
    """None if equal (floats within REL_TOL), else a short description of the first differences."""
    if isinstance(a, set) or isinstance(b, set):
        if a == b:
            return None
        only_a, only_b = sorted(map(str, a - b))[:limit], sorted(map(str, b - a))[:limit]
        return f"{len(a)} vs {len(b)} items; only first: {only_a}; only second: {only_b}"
    out = []
    ka, kb = set(a), set(b)
    if ka != kb:
        out.append(f"{len(ka)} vs {len(kb)} series; only first: {sorted(map(str, ka - kb))[:limit]}; "
                   f"only second: {sorted(map(str, kb - ka))[:limit]}")
    for k in sorted(ka & kb, key=str):
        va, vb = a[k], b[k]
        if isinstance(va, tuple):
            if len(va) != len(vb):
                out.append(f"{dict(k)}: {len(va)} vs {len(vb)} points")
            else:
                for (ta, xa), (tb, xb) in zip(va, vb):
                    if ta != tb or not _close(xa, xb):
                        out.append(f"{dict(k)}: point ({ta}, {xa}) vs ({tb}, {xb})")
                        break
        elif not _close(va, vb):
            out.append(f"{dict(k)}: {va!r} vs {vb!r}")
        if len(out) >= limit:
            break
    return "; ".join(out) if out else None


# -- the query set ----------------------------------------------------------------------------
class Query:
    """name: short id; kind: query|series|labels; path and params; vm_agrees: whether
    VictoriaMetrics' semantics match Prometheus's for this query (MetricsQL differs in rate
    extrapolation, for instance), so its answer is compared too."""

    def __init__(self, name, title, path, params, kind="query", vm_agrees=True):
        self.name, self.title, self.path, self.params = name, title, path, params
        self.kind, self.vm_agrees = kind, vm_agrees

    def describe(self):
        p = self.params
        if self.path.endswith("/query"):
            return f"`{p['query']}` (instant)"
        if self.path.endswith("/query_range"):
            return f"`{p['query']}` (range {int(float(p['end']) - float(p['start']))} s, step {p['step']} s)"
        if self.path.endswith("/series"):
            return f"`/api/v1/series?match[]={p['match[]']}`"
        return f"`{self.path}`"


def query_set(w):
    t = w.fmt_t(w.eval_s)
    # Range steps sit half an interval after samples too, so every store sees the same windows.
    rng = {"start": w.fmt_t(w.eval_s - 3600), "end": w.fmt_t(w.eval_s), "step": "15"}
    meta = {"start": w.fmt_t(w.start_ms / 1000.0 - 1), "end": w.fmt_t(w.eval_s)}
    return [
        Query("one_series", "one series, instant", "/api/v1/query",
              {"query": 'node_load1{instance="host-0:9100"}', "time": t}),
        Query("sum_rate", "sum by (job) (rate[5m])", "/api/v1/query",
              {"query": "sum by (job) (rate(node_cpu_seconds_total[5m]))", "time": t}, vm_agrees=False),
        Query("regex", "regex selector", "/api/v1/query",
              {"query": '{__name__=~"node_disk_(read|written)_bytes_total",device=~"sd.*"}', "time": t}),
        Query("topk", "topk(5, rate[5m])", "/api/v1/query",
              {"query": "topk(5, rate(node_network_receive_bytes_total[5m]))", "time": t}, vm_agrees=False),
        Query("count_all", "count({__name__=~\".+\"})", "/api/v1/query",
              {"query": 'count({__name__=~".+"})', "time": t}),
        Query("range_rate", "1 h range, sum by (mode) (rate)", "/api/v1/query_range",
              dict(rng, query="sum by (mode) (rate(node_cpu_seconds_total[5m]))"), vm_agrees=False),
        Query("range_series", "1 h range, one series", "/api/v1/query_range",
              dict(rng, query='node_load1{instance="host-0:9100"}')),
        Query("series", "/api/v1/series", "/api/v1/series",
              dict(meta, **{"match[]": 'node_cpu_seconds_total{cpu="0"}'}), kind="series"),
        Query("label_values", "label values (instance)", "/api/v1/label/instance/values", dict(meta),
              kind="labels"),
    ]


def run_query(client, q):
    """One timed execution. Returns (seconds, normalised result or None, error text or None)."""
    status, doc, raw, dt = client.get(q.path, q.params)
    if status != 200 or not isinstance(doc, dict) or doc.get("status") != "success":
        return dt, None, f"HTTP {status}: {raw[:200].decode(errors='replace')}"
    res = normalise(q.kind, doc)
    if res is None:
        return dt, None, f"malformed answer: {raw[:200].decode(errors='replace')}"
    return dt, res, None


def measure_queries(client, queries, reps):
    """Per query: one untimed run for the answer, then reps timed runs.
    Returns {name: {"result", "error", "p50_ms", "p90_ms"}}."""
    out = {}
    for q in queries:
        _dt, res, err = run_query(client, q)
        entry = {"result": res, "error": err, "p50_ms": None, "p90_ms": None}
        if err is None:
            times = []
            for _ in range(reps):
                dt, _r, e = run_query(client, q)
                if e is not None:
                    entry["error"] = e
                    break
                times.append(dt * 1000.0)
            if entry["error"] is None:
                times.sort()
                entry["p50_ms"] = statistics.median(times)
                entry["p90_ms"] = times[min(len(times) - 1, int(math.ceil(0.9 * len(times))) - 1)]
        out[q.name] = entry
    return out


# -- completeness -----------------------------------------------------------------------------
def scalar_query(client, w, expr):
    status, doc, raw, _ = client.get("/api/v1/query", {"query": expr, "time": w.fmt_t(w.eval_s)})
    if status != 200 or not isinstance(doc, dict) or doc.get("status") != "success":
        return None, f"HTTP {status}: {raw[:300].decode(errors='replace')}"
    res = normalise("query", doc)
    if not res:
        return None, "empty result"
    if len(res) != 1:
        return None, f"{len(res)} series where one was expected"
    return next(iter(res.values())), None


def count_series(client, w):
    return scalar_query(client, w, 'count({__name__=~".+"})')


def count_samples(client, w):
    """Total samples stored. count_over_time drops __name__, so series that differ only in their
    name would collide in one vector: count per metric name (names as the store lists them; a
    lost name shows up as a short total)."""
    status, doc, raw, _ = client.get("/api/v1/label/__name__/values", {
        "start": w.fmt_t(w.start_ms / 1000.0 - 1), "end": w.fmt_t(w.eval_s)})
    names = normalise("labels", doc) if status == 200 and isinstance(doc, dict) else None
    if not names:
        return None, f"label values of __name__: HTTP {status}: {raw[:300].decode(errors='replace')}"
    total = 0
    for name in sorted(names):
        v, err = scalar_query(client, w, f'sum(count_over_time({{__name__="{name}"}}[{w.full_window}]))')
        if err:
            return None, f"{name}: {err}"
        total += v
    return total, None


def value_checksum(client, w):
    """Sum of every pushed value of one gauge family: catches value corruption."""
    return scalar_query(client, w, f"sum(sum_over_time(node_memory_MemFree_bytes[{w.full_window}]))")


def boundary_probe(client, w):
    """count_over_time over 1 m evaluated exactly at the last sample's timestamp: 5 when the
    window includes its left edge (Prometheus 2.x, [t-r, t]), 4 when it does not (Prometheus 3
    and VictoriaMetrics, (t-r, t]). Informational: the timed queries avoid such edges."""
    status, doc, raw, _ = client.get("/api/v1/query", {
        "query": 'count_over_time(node_load1{instance="host-0:9100"}[1m])', "time": w.fmt_t(w.end_ms / 1000.0)})
    res = normalise("query", doc) if status == 200 and isinstance(doc, dict) else None
    if not res or len(res) != 1:
        return f"no answer (HTTP {status})"
    return f"{next(iter(res.values())):g}"
