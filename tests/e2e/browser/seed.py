"""seed.py owns the browser test's data: it pushes a small, known set of series (5 request
counters in two jobs, 2 temperature gauges) covering the last 40 minutes at 15 s resolution to a
running Metricstor over remote_write, using the e2e suite's own protobuf/snappy encoder.
Usage: python3 seed.py http://127.0.0.1:PORT"""
import math
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import promwire  # noqa: E402

SERIES = [
    ({"__name__": "ui_demo_requests_total", "job": "api", "instance": "a:9100"}, 1.0),
    ({"__name__": "ui_demo_requests_total", "job": "api", "instance": "b:9100"}, 2.5),
    ({"__name__": "ui_demo_requests_total", "job": "api", "instance": "c:9100"}, 4.0),
    ({"__name__": "ui_demo_requests_total", "job": "web", "instance": "w1:80"}, 0.5),
    ({"__name__": "ui_demo_requests_total", "job": "web", "instance": "w2:80"}, 0.7),
]
GAUGES = [{"__name__": "ui_demo_temperature_celsius", "room": "lab"},
          {"__name__": "ui_demo_temperature_celsius", "room": "office"}]


def main():
    base = sys.argv[1]
    now = int(time.time() * 1000) // 15000 * 15000
    times = [now - 40 * 60000 + i * 15000 for i in range(161)]
    series = []
    for labels, per_sec in SERIES:
        # counters whose rate wobbles a little around per_sec, so the lines are not flat
        v, samples = 0.0, []
        for i, t in enumerate(times):
            v += 15 * per_sec * (1 + 0.3 * math.sin(i / 9.0 + per_sec))
            samples.append((t, round(v, 3)))
        series.append((labels, samples))
    for k, labels in enumerate(GAUGES):
        series.append((labels, [(t, round(21 + 3 * k + 2 * math.sin(i / 12.0), 3)) for i, t in enumerate(times)]))
    body = promwire.compress(promwire.encode_write_request(series))
    req = urllib.request.Request(base + "/api/v1/write", data=body, method="POST", headers={
        "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Write-Version": "0.1.0"})
    with urllib.request.urlopen(req, timeout=30) as r:
        if r.status // 100 != 2:
            sys.exit(f"push failed: {r.status}")
    print(f"pushed {len(series)} series x {len(times)} samples ending at {now}")


if __name__ == "__main__":
    main()
