"""datagen owns the deterministic test data: ~185 series over a one-hour window ending now, and
their encoding as one remote_write request per scrape tick, in time order.

Prometheus 2.42's receiver rejects out-of-order samples and samples older than its head allows,
so every series gets at most one sample per 15 s tick, each target has a fixed scrape phase
(offset < 15 s) and the requests are sent tick by tick. Timestamps are integral milliseconds.
"""
import math
import random
import struct

import promwire

STEP_MS = 15_000
N_STEPS = 240                       # 240 * 15 s = 1 h
STALE = promwire.STALE_NAN
INF = math.inf

HISTO_LE = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, INF]


def is_stale(v):
    return struct.pack("<d", v) == struct.pack("<d", STALE)


def le_str(x):
    if x == INF:
        return "+Inf"
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


class Dataset:
    """series: list of (labels dict, [(t_ms, value)]) with strictly increasing t per series."""

    def __init__(self, t0_ms):
        self.t0 = t0_ms
        self.series = []
        # label values present per metric name, for the query generator
        self.metrics = {}

    def tick(self, i):
        return self.t0 + i * STEP_MS

    @property
    def t_end(self):
        return self.tick(N_STEPS - 1)

    def add(self, labels, samples):
        assert all(samples[k][0] < samples[k + 1][0] for k in range(len(samples) - 1)), labels
        for t, _ in samples:
            assert t == int(t)
        self.series.append((dict(labels), samples))
        m = self.metrics.setdefault(labels["__name__"], {})
        for k, v in labels.items():
            if k != "__name__":
                m.setdefault(k, set()).add(v)

    def requests(self):
        """Yields encoded (snappy-compressed) write requests, one per tick, in time order."""
        by_tick = [[] for _ in range(N_STEPS + 1)]
        for labels, samples in self.series:
            for t, v in samples:
                by_tick[(t - self.t0) // STEP_MS].append((labels, [(t, v)]))
        for entries in by_tick:
            if entries:
                yield promwire.compress(promwire.encode_write_request(entries))

    def n_samples(self):
        return sum(len(s) for _, s in self.series)


def _phase(rng):
    return rng.choice([0, 0, 1, 250, 3217, 7500, 11003, 14999])


def _times(ds, phase, rng, jitter=True, ticks=None):
    out = []
    for i in (range(N_STEPS) if ticks is None else ticks):
        j = rng.randint(-40, 40) if jitter and phase else 0
        out.append(ds.tick(i) + min(max(phase + j, 0), STEP_MS - 1))
    return out


def generate(t0_ms, seed):
    rng = random.Random(f"data-{seed}")
    ds = Dataset(t0_ms)

    # --- counters with resets: http_requests_total{job,instance,method,code} ---
    targets = [(job, inst) for job in ("api", "web") for inst in ("10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080")]
    phases = {t: _phase(rng) for t in targets}
    restarts = {("api", "10.0.0.2:8080"): 97, ("web", "10.0.0.3:8080"): 180}
    for job, inst in targets:
        times = _times(ds, phases[(job, inst)], rng)
        for method in ("GET", "POST"):
            for code in ("200", "404", "500"):
                base = {"200": 9.0, "404": 1.5, "500": 0.4}[code] * (2 if method == "GET" else 1)
                v, samples = float(rng.randint(0, 1000)), []
                for i, t in enumerate(times):
                    if restarts.get((job, inst)) == i or rng.random() < 0.004:
                        v = float(rng.randint(0, 3))
                    else:
                        v += rng.randint(0, int(base * 2))
                    samples.append((t, v))
                ds.add({"__name__": "http_requests_total", "job": job, "instance": inst,
                        "method": method, "code": code}, samples)
        # up / build_info per target, for joins
        up = [(t, 0.0 if 150 <= i < 158 and inst == "10.0.0.1:8080" else 1.0) for i, t in enumerate(times)]
        ds.add({"__name__": "up", "job": job, "instance": inst}, up)
        ver = "1.4.2" if inst != "10.0.0.3:8080" else "1.5.0-rc.1"
        ds.add({"__name__": "build_info", "job": job, "instance": inst, "version": ver,
                "goversion": "go1.19.4"}, [(t, 1.0) for t in times])

    # --- float counters: node_cpu_seconds_total ---
    for inst in ("n1:9100", "n2:9100"):
        times = _times(ds, _phase(rng), rng)
        ds.add({"__name__": "up", "job": "node", "instance": inst}, [(t, 1.0) for t in times])
        for cpu in ("0", "1"):
            for mode in ("idle", "user", "system", "iowait"):
                share = {"idle": 0.7, "user": 0.2, "system": 0.08, "iowait": 0.02}[mode]
                v, samples = rng.uniform(1000, 50000), []
                for i, t in enumerate(times):
                    if inst == "n2:9100" and i == 200:
                        v = rng.uniform(0, 5)   # reboot
                    v += share * 15 * rng.uniform(0.5, 1.5)
                    samples.append((t, round(v, 6)))
                ds.add({"__name__": "node_cpu_seconds_total", "instance": inst, "job": "node",
                        "cpu": cpu, "mode": mode}, samples)

    # --- gauges with decimals and negatives ---
    for loc, start in (("lab", 21.5), ("roof", 3.25), ("freezer", -18.75), ("office", 22.0), ("basement", 12.125)):
        for sensor in ("a", "b"):
            times = _times(ds, _phase(rng), rng)
            v, samples = start + rng.uniform(-1, 1), []
            for t in times:
                v += rng.uniform(-0.6, 0.6)
                samples.append((t, round(v, 3)))
            ds.add({"__name__": "temperature_celsius", "location": loc, "sensor": sensor}, samples)

    for job in ("api", "web", "worker"):
        for inst in ("q1", "q2"):
            times = _times(ds, _phase(rng), rng)
            v, samples = rng.randint(0, 50), []
            for t in times:
                v = max(0, v + rng.randint(-5, 6))
                samples.append((t, float(v)))
            ds.add({"__name__": "queue_length", "job": job, "instance": inst}, samples)

    # --- histograms: cumulative, consistent buckets + _sum + _count; one target restarts ---
    for job in ("api", "web"):
        for inst in ("10.0.0.1:8080", "10.0.0.2:8080"):
            times = _times(ds, phases[(job, inst)], rng)
            scale = 0.08 if job == "api" else 0.6
            counts = [0] * len(HISTO_LE)
            total, n = 0.0, 0
            rows = []
            for i, t in enumerate(times):
                if job == "web" and inst == "10.0.0.2:8080" and i == 130:
                    counts, total, n = [0] * len(HISTO_LE), 0.0, 0
                for _ in range(rng.randint(0, 12)):
                    x = rng.expovariate(1 / scale)
                    total += x
                    n += 1
                    for k, le in enumerate(HISTO_LE):
                        if x <= le:
                            counts[k] += 1
                rows.append((t, list(counts), round(total, 6), n))
            base = {"job": job, "instance": inst}
            for k, le in enumerate(HISTO_LE):
                ds.add(dict(base, __name__="http_request_duration_seconds_bucket", le=le_str(le)),
                       [(t, float(c[k])) for t, c, _, _ in rows])
            ds.add(dict(base, __name__="http_request_duration_seconds_sum"), [(t, s) for t, _, s, _ in rows])
            ds.add(dict(base, __name__="http_request_duration_seconds_count"), [(t, float(c)) for t, _, _, c in rows])

    # --- gaps: missing scrapes longer than the 5 min lookback ---
    for inst, gaps in (("g1", [(80, 111)]), ("g2", [(40, 60), (170, 192)])):
        ticks = [i for i in range(N_STEPS) if not any(a <= i < b for a, b in gaps)]
        times = _times(ds, _phase(rng), rng, ticks=ticks)
        v, samples = 100.0, []
        for t in times:
            v += rng.uniform(-3, 4)
            samples.append((t, round(v, 2)))
        ds.add({"__name__": "gappy_gauge", "instance": inst}, samples)
        c, cs = 0.0, []
        for t in times:
            c += rng.randint(1, 9)
            cs.append((t, c))
        ds.add({"__name__": "gappy_events_total", "instance": inst}, cs)

    # --- stale markers ending series mid-window; one restarts; one starts late ---
    phase = _phase(rng)
    all_times = _times(ds, phase, rng)
    for sid, (first, stale_at, restart) in {"1": (0, 120, None), "2": (0, 60, 150),
                                             "3": (100, None, None), "4": (0, 200, None)}.items():
        samples, v = [], 5.0 * int(sid)
        for i, t in enumerate(all_times):
            if i < first:
                continue
            if stale_at is not None and i == stale_at:
                samples.append((t, STALE))
                continue
            if stale_at is not None and i > stale_at and (restart is None or i < restart):
                continue
            v += rng.uniform(-1, 1.5)
            samples.append((t, round(v, 3)))
        ds.add({"__name__": "stale_gauge", "id": sid}, samples)
    for batch in ("nightly", "hourly"):
        samples, v = [], 0.0
        for i, t in enumerate(all_times):
            if batch == "nightly" and i == 170:
                samples.append((t, STALE))
                break
            v += rng.randint(0, 20)
            samples.append((t, v))
        ds.add({"__name__": "batch_jobs_processed_total", "batch": batch}, samples)

    # --- slow scrapes (1 min, 4.5 min: just inside the 5 min lookback) and a series that stops
    #     without a stale marker (visible for 5 more minutes) ---
    for interval, every in (("1m", 4), ("4m30s", 18)):
        ticks = list(range(rng.randint(0, every - 1), N_STEPS, every))
        times = _times(ds, _phase(rng), rng, ticks=ticks)
        ds.add({"__name__": "slow_gauge", "interval": interval},
               [(t, round(rng.uniform(-50, 50), 2)) for t in times])
        c, cs = 0.0, []
        for t in times:
            c += rng.randint(0, 100)
            cs.append((t, c))
        ds.add({"__name__": "slow_counter_total", "interval": interval}, cs)
    times = _times(ds, _phase(rng), rng, ticks=range(0, 150))
    ds.add({"__name__": "vanishing_gauge", "id": "a"}, [(t, float(i % 5)) for i, t in enumerate(times)])

    # --- NaN and +/-Inf ---
    times = _times(ds, _phase(rng), rng)
    specials = {"nan": lambda i: math.nan, "inf": lambda i: INF, "neg_inf": lambda i: -INF,
                "zero": lambda i: -0.0 if i % 2 else 0.0,
                "mixed": lambda i: [math.nan, INF, -INF][i // 7 % 3] if i % 7 == 3 else float(i % 13) - 4.5}
    for kind, fn in specials.items():
        ds.add({"__name__": "special_values", "kind": kind}, [(t, fn(i)) for i, t in enumerate(times)])

    # --- many label combinations, label values with slashes, dots, quotes, unicode ---
    for path in ("/", "/api/v1/query", "/api/v1/write", "/metrics", "/-/ready"):
        for env in ("prod", "staging"):
            for region in ("eu-west-1", "us-east-1"):
                times = _times(ds, _phase(rng), rng)
                v, samples = float(rng.randint(0, 100)), []
                for t in times:
                    v += rng.choice([0, 0, 1, 2, 5, 0.5])
                    samples.append((t, v))
                ds.add({"__name__": "path_hits_total", "path": path, "env": env, "region": region}, samples)
    times = _times(ds, _phase(rng), rng)
    ds.add({"__name__": "odd_labels", "q": 'say "hi"\\now', "u": "größe-ñ-✓", "dotted": "a.b.c"},
           [(t, float(i % 4)) for i, t in enumerate(times)])
    ds.add({"__name__": "odd_labels", "q": "plain", "u": "x", "dotted": "a-b-c"},
           [(t, 1e-3 * i) for i, t in enumerate(times)])
    # large and tiny magnitudes for formatting
    ds.add({"__name__": "magnitudes", "scale": "big"}, [(t, 1.5e21 + i * 1e15) for i, t in enumerate(times)])
    ds.add({"__name__": "magnitudes", "scale": "small"}, [(t, 3e-12 * (i + 1)) for i, t in enumerate(times)])
    ds.add({"__name__": "magnitudes", "scale": "int"}, [(t, float(2 ** 53 - 1 - i)) for i, t in enumerate(times)])
    return ds
