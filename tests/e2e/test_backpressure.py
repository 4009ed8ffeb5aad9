"""test_backpressure owns the end-to-end check of ingest backpressure: a multi-day history pushed
at full speed, in time order, by the real load generator (build/bench/loadgen) into the real
binary with a 2h head window must not let the head run ahead of the block cut. While the push
runs, the head's span (maxTime - minTime from /api/v1/status/tsdb) is sampled; afterwards the
server's VmHWM is read and every sample is counted back with PromQL.

Bounds (head window W = 2h, block range R = 2h):
- head span <= W + R + max(W, R) = 6h (the limit at which old commits wait, storage.h
  ingest_wait_ms), plus 1h for one request's own extent and the chunk that straddles the cut
  boundary: 7h. Without backpressure the cut, ticking once a second, falls days behind: at
  268e3bb (main before this change) the same push reached an 80-87h head span.
- VmHWM <= RSS right after start + 32 MiB (release build only; ASan's shadow and quarantine make
  RSS meaningless). Main before the change peaked at 56 MiB for this push (RSS at start ~6.5 MiB,
  so +50 MiB; head holding ~80h of 1000 series at 60 s), with it 26 MiB (+19.5 MiB): 32 MiB of
  headroom holds the 6-7h head, four decoded requests in flight, a cut's buffers and per-thread
  malloc arenas, and fails the unbounded head.
- every one of series x samples arrives (loadgen fails loudly on any non-2xx other than 429,
  which it retries after Retry-After), counted back per day with count_over_time.
The push is 1000 series x 7 days at 60 s (10.08M samples: ~8 s in the release build, ~15 s
under ASan), so the test stays well under 60 s."""
import os
import subprocess
import threading
import time

from lib import check

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
H_MS = 3600 * 1000
DAY_MS = 24 * H_MS


def _loadgen(binary):
    here = os.path.join(os.path.dirname(os.path.abspath(binary)), "bench", "loadgen")
    return here if os.path.exists(here) else os.path.join(ROOT, "build", "bench", "loadgen")


def _status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def test_full_speed_backfill_is_held_to_the_cut(ctx):
    asan = "asan" in ctx.binary
    series, days, ivl = 1000, 7, 60000
    srv = ctx.server(extra=["--storage.head-window", "2h"])
    pid = srv.proc.pid
    rss0 = _status_kb(pid, "VmRSS")
    n = days * DAY_MS // ivl
    start = (int(time.time() * 1000) - n * ivl) // 60000 * 60000

    peak = {"span": 0, "polls": 0}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            st, doc = srv.get_json("/api/v1/status/tsdb")
            if st == 200:
                h = doc["data"]["headStats"]
                if h["numSeries"] and h["maxTime"] >= h["minTime"]:
                    peak["span"] = max(peak["span"], h["maxTime"] - h["minTime"])
                    peak["polls"] += 1
            stop.wait(0.05)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    t0 = time.time()
    argv = [_loadgen(ctx.binary), "--url", srv.base + "/api/v1/write", "--series", str(series),
            "--samples-per-series", str(n), "--interval-ms", str(ivl), "--start-ms", str(start),
            "--concurrency", "4"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    push_s = time.time() - t0
    stop.set()
    th.join(10)
    check(p.returncode == 0, f"loadgen failed ({p.returncode}): {p.stderr[-2000:]}\n{srv.log_tail()}")
    last = p.stdout.strip().splitlines()[-1]
    stats = dict(kv.split("=", 1) for kv in last.split() if "=" in kv)
    check(int(stats["samples"]) == series * n, f"loadgen sent {stats['samples']}, expected {series * n}")
    hwm = _status_kb(pid, "VmHWM")  # before any query: a query's buffers would count too

    limit = 6 * H_MS
    check(peak["polls"] >= 5, f"the head was sampled only {peak['polls']} times during the push")
    check(peak["span"] <= limit + H_MS,
          f"head spanned {peak['span'] / H_MS:.1f} h during the push (bound {(limit + H_MS) / H_MS:.0f} h)")
    waits = srv.metric("metricstor_ingest_backpressure_waits_total")
    rejected = srv.metric("metricstor_ingest_backpressure_rejections_total")
    check(waits > 0, "the push never waited for the cut: the test did not exercise backpressure")
    if not asan:
        check(hwm <= rss0 + 32 * 1024, f"VmHWM {hwm / 1024:.1f} MiB over the bound (RSS at start "
                                       f"{rss0 / 1024:.1f} MiB + 32 MiB)")

    # every sample arrived: counted per metric name (count_over_time drops the name, so one
    # selector over all names would collide) and per day ((t - 1d, t] windows tiling the push)
    st, doc = srv.get_json("/api/v1/label/__name__/values")
    check(st == 200 and doc["data"], f"label values: {st} {doc}")
    total = 0
    end = start + (n - 1) * ivl
    for name in doc["data"]:
        t = start - 1 + DAY_MS
        while True:
            data = srv.query(f"sum(count_over_time({name}[1d]))", t / 1000.0)
            total += int(float(data["result"][0]["value"][1])) if data["result"] else 0
            if t >= end:
                break
            t += DAY_MS
    check(total == series * n, f"counted {total} samples back, pushed {series * n}")
    ctx.note(f"{series}x{n} samples in {push_s:.1f}s ({stats.get('samples_per_s')}/s), head span peak "
             f"{peak['span'] / H_MS:.2f} h, VmHWM {hwm / 1024:.1f} MiB (start {rss0 / 1024:.1f}), waits "
             f"{waits:.0f}, refused {rejected:.0f}, loadgen 429 retries {stats.get('retries_429')}")


def test_refusal_is_429_and_loadgen_retries(ctx):
    """With every block cut failing (the fault shim fails fsyncs of block files only, as in
    test_faults.test_block_cut_fault), a backfill commit beyond the limit waits ingest_wait_ms
    (5 s) for a cut that cannot succeed, then gets 429 Too Many Requests with Retry-After and a
    body naming the cause, and nothing of it is stored; a live write at the same moment gets 204
    at once. The real loadgen pushing more history meanwhile sleeps Retry-After and resends; once
    the fault is gone the cut succeeds and the push completes with every sample stored and its
    retries counted (retries_429 > 0)."""
    from test_faults import build_shim, start_with_env

    srv = ctx.server(["--storage.head-window", "2h"], start=False)
    so = build_shim(srv.tmp)
    ctl = os.path.join(srv.tmp, "faultfs.ctl")
    with open(ctl, "w") as f:
        f.write("fail fsync\nonly .tmp/\n")  # block files being written; the WAL is spared
    asan = os.environ.get("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    start_with_env(srv, {"LD_PRELOAD": so, "FAULTFS_PATH": os.path.realpath(srv.data_dir),
                         "FAULTFS_CONTROL": ctl, "ASAN_OPTIONS": asan + ":verify_asan_link_order=0"})
    now = int(time.time() * 1000)
    t_old = (now - 3 * DAY_MS) // H_MS * H_MS
    for t in (t_old, t_old + 7 * H_MS):  # the head spans 7h > 6h after these two
        code, body = srv.push([({"__name__": "bp_old", "k": "a"}, [(t, 1.0)])])
        check(code == 204, f"backfill push at {t}: {code} {body!r}")

    t0 = time.time()
    st, body, hdrs = srv.request("POST", "/api/v1/write", _encode([({"__name__": "bp_refused", "k": "b"},
                                                                      [(t_old + 7 * H_MS + 60000, 2.0)])]),
                                 {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
                                  "X-Prometheus-Remote-Write-Version": "0.1.0"}, timeout=60)
    waited = time.time() - t0
    check(st == 429, f"backfill beyond the limit with the cut failing: {st} {body!r}")
    check(hdrs.get("Retry-After") == "1", f"429 without Retry-After: {hdrs}")
    check(b"ingestion is ahead of the block cut" in body, f"429 body: {body!r}")
    check(4.5 <= waited < 30, f"the refused write took {waited:.1f}s (expected the 5 s wait)")
    # the import endpoints share the mapping
    line = ('{"metric":{"__name__":"bp_refused","k":"imp"},"values":[4],"timestamps":[%d]}\n'
            % (t_old + 7 * H_MS + 120000)).encode()
    st, body, hdrs = srv.request("POST", "/api/v1/import", line, timeout=60)
    check(st == 429 and hdrs.get("Retry-After") == "1" and b"ahead of the block cut" in body,
          f"/api/v1/import during backpressure: {st} {hdrs} {body!r}")
    t1 = time.time()
    code, body = srv.push([({"__name__": "bp_live", "k": "c"}, [(int(time.time() * 1000), 3.0)])])
    check(code == 204 and time.time() - t1 < 1.0, f"live write during backpressure: {code} in {time.time() - t1:.2f}s")
    st, doc = srv.get_json("/api/v1/series", {"match[]": "bp_refused", "start": f"{t_old / 1000:.3f}",
                                              "end": f"{now / 1000 + 60:.3f}"})
    check(st == 200 and doc["data"] == [], f"refused series is visible: {doc}")
    check(srv.metric("metricstor_ingest_backpressure_rejections_total") >= 1, "rejection not counted")

    series, n, ivl = 50, 120, 60000
    start = t_old + 8 * H_MS
    argv = [_loadgen(ctx.binary), "--url", srv.base + "/api/v1/write", "--series", str(series),
            "--samples-per-series", str(n), "--interval-ms", str(ivl), "--start-ms", str(start),
            "--concurrency", "2"]
    lg = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(7)  # the first requests wait 5 s, get 429, sleep 1 s, resend
    if lg.poll() is not None:
        check(False, f"loadgen ended while every cut failed: {lg.communicate()}")
    with open(ctl, "w") as f:
        f.write("off\n")
    try:
        out, err = lg.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        lg.kill()
        out, err = lg.communicate()
    check(lg.returncode == 0, f"loadgen failed ({lg.returncode}): {err[-2000:]}\n{srv.log_tail(3000)}")
    stats = dict(kv.split("=", 1) for kv in out.strip().splitlines()[-1].split() if "=" in kv)
    check(int(stats["retries_429"]) > 0, f"loadgen counted no 429 retries: {out}")
    total = 0
    st, doc = srv.get_json("/api/v1/label/__name__/values")
    for name in doc["data"]:
        if name.startswith("bp_"):
            continue
        data = srv.query(f"sum(count_over_time({name}[1d]))", (start + n * ivl) / 1000.0)
        total += int(float(data["result"][0]["value"][1])) if data["result"] else 0
    check(total == series * n, f"counted {total} loadgen samples back, pushed {series * n}")
    check(srv.query("bp_old[1d]", (t_old + 8 * H_MS) / 1000.0)["result"], "the backfill before the fault is gone")
    ctx.note(f"429 after {waited:.1f}s; loadgen: {stats['retries_429']} retries, {total} samples stored")


def _encode(series):
    import promwire
    return promwire.compress(promwire.encode_write_request(series, ()))
