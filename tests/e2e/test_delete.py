"""test_delete owns the end-to-end proof of deletion: data pushed over two days (cut into blocks,
the recent part in the head) is deleted with POST /api/v1/admin/tsdb/delete_series by matchers
and a time range; the deleted samples vanish at once from query, query_range, series, export and
remote_read while every other sample stays; the deletion survives a restart and kill -9 (WAL
replay brings nothing back); clean_tombstones makes the blocks smaller on disk and forgets the
tombstones once flush has moved the head into blocks; bad requests get Prometheus's 400 JSON and
other methods 405, compared with a real Prometheus 2.42 when its binary is installed."""
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

from lib import TestFailure, check, free_port, now_ms
from test_blocks import push_history, wait_blocks
from test_remote_read import decode_samples_response, snappy_decompress
from test_remote_read import read as remote_read

DAY = 86400 * 1000
STEP = 300 * 1000
ADMIN = "/api/v1/admin/tsdb/"


def post(srv, path, params=None, method="POST"):
    body = urllib.parse.urlencode(params or {}, doseq=True).encode()
    return srv.request(method, path, body, {"Content-Type": "application/x-www-form-urlencoded"})


def delete(srv, params):
    st, body, _ = post(srv, ADMIN + "delete_series", params)
    check(st == 204 and body == b"", f"delete_series {params}: {st} {body!r}")


def expected(truth, dels):
    """truth minus the deleted samples; dels: [(predicate on name, mint, maxt)]."""
    out = {}
    for name, smp in truth.items():
        kept = {t: v for t, v in smp.items() if not any(p(name) and a <= t <= b for p, a, b in dels)}
        if kept:
            out[name] = kept
    return out


def via_query(srv, at_ms):
    out = {}
    for s in srv.query("blk[3d]", at_ms / 1000.0)["result"]:
        out[s["metric"]["s"]] = {int(round(float(t) * 1000)): float(v) for t, v in s["values"]}
    return out


def via_export(srv):
    st, body, _ = srv.request("GET", "/api/v1/export", params={"match[]": "blk"})
    check(st == 200, f"export: {st} {body[:300]!r}")
    out = {}
    for line in body.decode().splitlines():
        d = json.loads(line)
        out[d["metric"]["s"]] = dict(zip(d["timestamps"], (float(v) for v in d["values"])))
    return out


def via_remote_read(srv, start, end):
    st, body, _ = remote_read(srv, [(start, end, [(0, "__name__", "blk")])])
    check(st == 200, f"remote_read: {st} {body[:300]!r}")
    out = {}
    for lbls, samples in decode_samples_response(snappy_decompress(body))[0]:
        out[dict(lbls)["s"]] = dict(samples)
    return out


def series_names(srv, start_ms, end_ms):
    st, doc = srv.get_json("/api/v1/series", {"match[]": "blk", "start": f"{start_ms / 1000:.3f}",
                                              "end": f"{end_ms / 1000:.3f}"})
    check(st == 200, f"series: {st} {doc}")
    return sorted(s["s"] for s in doc["data"])


def same(got, want, what):
    if got == want:
        return
    for name in sorted(set(got) | set(want)):
        g, w = got.get(name), want.get(name)
        if g != w:
            g, w = g or {}, w or {}
            raise TestFailure(f"{what}: series {name}: {len(g)} samples, want {len(w)}; extra "
                              f"{sorted(set(g) - set(w))[:4]} missing {sorted(set(w) - set(g))[:4]}")


def verify(srv, truth, dels, start, end, what):
    want = expected(truth, dels)
    at = now_ms()
    same(via_query(srv, at), want, what + " (query)")
    same(via_export(srv), want, what + " (export)")
    same(via_remote_read(srv, start - 1, at), want, what + " (remote_read)")
    # query_range: the newest sample at or before each step within the 5 min lookback
    qs, qe = (end - 3 * 3600 * 1000) // 1000, end // 1000
    data = srv.query_range("blk", qs, qe, 60)
    got = {s["metric"]["s"]: [(int(t), float(v)) for t, v in s["values"]] for s in data["result"]}
    exp = {}
    for name, smp in want.items():
        ts = sorted(smp)
        pts = []
        for step in range(qs, qe + 1, 60):
            ms = step * 1000
            prev = [t for t in ts if ms - 300000 < t <= ms]
            if prev:
                pts.append((step, smp[prev[-1]]))
        if pts:
            exp[name] = pts
    check(got == exp, f"{what} (query_range): {sorted(got)} vs {sorted(exp)}")
    # series: a series with nothing left in the asked range is not listed
    for a, b in [(start, at), (end - 20 * 3600 * 1000, end - 10 * 3600 * 1000)]:
        names = sorted(n for n, smp in want.items() if any(a <= t <= b for t in smp))
        check(series_names(srv, a, b) == names, f"{what} (series {a}..{b}): {series_names(srv, a, b)} vs {names}")


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def test_delete_hides_survives_and_cleans(ctx):
    srv = ctx.server(["--web.enable-admin-api", "--retention", "0", "--storage.head-window", "2h"])
    random.seed(11)
    truth = {}
    end = now_ms() - 60000
    start = end - 2 * DAY
    names = [f"d{i}{'g' if i % 2 else 'c'}" for i in range(8)]
    push_history(srv, truth, names, start, end, STEP, jitter=1000)
    wait_blocks(srv)
    verify(srv, truth, [], start, end, "before any delete")

    # d1g over [now-30h, now-1h]: blocks and head; d3g and d7g over all time (a regex, no
    # start/end); two selectors at once (d5g, d6c) over an old range only in blocks
    dels = [(lambda n: n == "d1g", end - 30 * 3600 * 1000, end - 3600 * 1000)]
    delete(srv, {"match[]": 'blk{s="d1g"}', "start": f"{dels[0][1] / 1000:.3f}", "end": f"{dels[0][2] / 1000:.3f}"})
    verify(srv, truth, dels, start, end, "at once after the first delete")
    delete(srv, {"match[]": 'blk{s=~"d[37]g"}'})
    dels.append((lambda n: n in ("d3g", "d7g"), -(2 ** 62), 2 ** 62))
    a, b = start + 3 * 3600 * 1000, start + 9 * 3600 * 1000
    delete(srv, {"match[]": ['blk{s="d5g"}', '{__name__="blk",s="d6c"}'],
                 "start": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(a / 1000)) + f".{a % 1000:03d}Z",
                 "end": f"{b / 1000:.3f}"})
    dels.append((lambda n: n in ("d5g", "d6c"), a, b))
    verify(srv, truth, dels, start, end, "after three deletes")
    check(os.path.exists(os.path.join(srv.data_dir, "tombstones")), "no tombstones file")

    srv.stop()
    srv.start()
    verify(srv, truth, dels, start, end, "after restart")
    srv.stop(signal.SIGKILL)
    srv.start()
    verify(srv, truth, dels, start, end, "after kill -9")

    blocks_dir = os.path.join(srv.data_dir, "blocks")
    before = du(blocks_dir)
    st, body, _ = post(srv, ADMIN + "clean_tombstones")
    check(st == 204, f"clean_tombstones: {st} {body!r}")
    after = du(blocks_dir)
    check(after < before, f"clean_tombstones did not shrink the blocks: {before} -> {after} bytes")
    verify(srv, truth, dels, start, end, "after clean_tombstones")
    srv.stop(signal.SIGKILL)
    srv.start()
    verify(srv, truth, dels, start, end, "after clean_tombstones and kill -9")

    # the head still holds deleted samples (d1g's last hours, d3g, d7g): their tombstones stay until
    # flush moves the head into blocks and the next clean rewrites those
    tomb = os.path.join(srv.data_dir, "tombstones")
    check(os.path.getsize(tomb) > 16, "tombstones covering head data were dropped")
    st, body, _ = post(srv, ADMIN + "flush")
    check(st == 204, f"flush: {st} {body!r}")
    verify(srv, truth, dels, start, end, "after flush")
    st, body, _ = post(srv, ADMIN + "clean_tombstones")
    check(st == 204, f"second clean_tombstones: {st} {body!r}")
    check(os.path.getsize(tomb) == 16, f"tombstones left after flush + clean: {os.path.getsize(tomb)} bytes")
    verify(srv, truth, dels, start, end, "after flush and clean")
    srv.stop()
    srv.start()
    verify(srv, truth, dels, start, end, "after flush, clean and restart")
    ctx.note(f"delete + clean_tombstones: blocks {before} -> {after} bytes on disk")


def test_delete_open_end_keeps_later_samples(ctx):
    srv = ctx.server(["--web.enable-admin-api", "--retention", "0"])
    t0 = now_ms() - 3600 * 1000
    st, body = srv.push([({"__name__": "late", "job": "x"}, [(t0 + i * 60000, float(i)) for i in range(10)])])
    check(st == 204, f"push: {st} {body!r}")
    delete(srv, {"match[]": "late"})  # no start or end: all time, as Prometheus
    check(srv.query("late[2h]", now_ms() / 1000)["result"] == [], "deleted samples still visible")
    st, body = srv.push([({"__name__": "late", "job": "x"}, [(t0 + 20 * 60000, 42.0)])])
    check(st == 204, f"push: {st} {body!r}")
    res = srv.query("late[2h]", now_ms() / 1000)["result"]
    check(len(res) == 1 and [float(v) for _, v in res[0]["values"]] == [42.0],
          f"a sample pushed after the delete should be visible: {res}")


# Requests whose answers were taken from Prometheus 2.42 (--web.enable-admin-api); when its
# binary is installed the test also asks it live and compares status and body.
CASES = [
    ("POST", "delete_series", {}, 400,
     {"status": "error", "errorType": "bad_data", "error": "no match[] parameter provided"}),
    ("POST", "delete_series", {"match[]": "up{"}, 400,
     {"status": "error", "errorType": "bad_data",
      "error": "invalid parameter \"match[]\": 1:4: parse error: unexpected end of input inside braces"}),
    ("POST", "delete_series", {"match[]": ["up", "foo{"]}, 400,
     {"status": "error", "errorType": "bad_data",
      "error": "invalid parameter \"match[]\": 1:5: parse error: unexpected end of input inside braces"}),
    ("POST", "delete_series", {"match[]": "up", "start": "abc"}, 400,
     {"status": "error", "errorType": "bad_data",
      "error": "invalid parameter \"start\": Invalid time value for 'start': cannot parse \"abc\" to a valid timestamp"}),
    ("POST", "delete_series", {"match[]": "up", "end": "abc"}, 400,
     {"status": "error", "errorType": "bad_data",
      "error": "invalid parameter \"end\": Invalid time value for 'end': cannot parse \"abc\" to a valid timestamp"}),
    ("POST", "delete_series", {"match[]": "up", "start": "10", "end": "5"}, 204, None),
    ("POST", "delete_series", {"match[]": "nothing_here", "start": "2023-01-01T00:00:00Z"}, 204, None),
    ("PUT", "delete_series", {"match[]": "nothing_here"}, 204, None),
    ("GET", "delete_series", {"match[]": "up"}, 405, None),
    ("DELETE", "delete_series", {"match[]": "up"}, 405, None),
    ("POST", "clean_tombstones", {}, 204, None),
    ("PUT", "clean_tombstones", {}, 204, None),
    ("GET", "clean_tombstones", {}, 405, None),
]


def ask(base_request, method, ep, params):
    if method in ("POST",):
        body = urllib.parse.urlencode(params, doseq=True).encode()
        st, data, hdr = base_request(method, ADMIN + ep, body, {"Content-Type": "application/x-www-form-urlencoded"})
    else:
        q = ("?" + urllib.parse.urlencode(params, doseq=True)) if params else ""
        st, data, hdr = base_request(method, ADMIN + ep + q, None, {})
    return st, data, hdr


def run_cases(request, who):
    for method, ep, params, want_st, want_body in CASES:
        st, data, hdr = ask(request, method, ep, params)
        check(st == want_st, f"{who}: {method} {ep} {params}: {st} {data!r}, want {want_st}")
        if want_body is not None:
            check(json.loads(data) == want_body, f"{who}: {method} {ep} {params}: {data!r}")
            ct = {k.lower(): v for k, v in hdr.items()}.get("content-type", "")
            check(ct.startswith("application/json"), f"{who}: content type {ct}")
        if st == 405:
            allow = {k.lower(): v for k, v in hdr.items()}.get("allow", "")
            check("POST" in allow and "PUT" in allow, f"{who}: 405 without Allow POST, PUT: {allow!r}")
        if st == 204:
            check(data == b"", f"{who}: 204 with a body {data!r}")


@contextlib.contextmanager
def live_prometheus(*flags):
    """A real Prometheus 2.42 on a free port with an empty TSDB, as a lib.Server-like object whose
    request() the tests call; None when the package is not installed."""
    prom = shutil.which("prometheus")
    if not prom:
        yield None
        return
    tmp = tempfile.mkdtemp(prefix="ms-e2e-prom-")
    port = free_port()
    cfg = os.path.join(tmp, "prom.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 15s\n")
    log = open(os.path.join(tmp, "log"), "w")
    p = subprocess.Popen([prom, f"--config.file={cfg}", f"--storage.tsdb.path={tmp}/data",
                          f"--web.listen-address=127.0.0.1:{port}"] + list(flags),
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        from lib import Server
        fake = Server.__new__(Server)
        fake.base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if fake.request("GET", "/-/ready")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        yield fake
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_delete_bad_requests_like_prometheus(ctx):
    srv = ctx.server(["--web.enable-admin-api", "--retention", "0"])
    run_cases(srv.request, "metricstor")
    with live_prometheus("--web.enable-admin-api") as prom:
        if prom is None:
            ctx.note("prometheus not installed: admin statuses checked against recorded 2.42 answers only")
            return
        run_cases(prom.request, "prometheus")
        ctx.note("admin endpoint statuses and error bodies equal a live Prometheus 2.42's")


def test_admin_api_disabled_by_default(ctx):
    """Without --web.enable-admin-api every admin endpoint answers as Prometheus 2.42 does without
    it (500, errorType unavailable, "admin APIs disabled") and changes nothing."""
    srv = ctx.server(["--retention", "0"])
    t = now_ms()
    st, body = srv.push([({"__name__": "keep_me", "job": "x"}, [(t, 5.0)])])
    check(st == 204, f"push: {st} {body!r}")
    want = {"status": "error", "errorType": "unavailable", "error": "admin APIs disabled"}
    answers = {}
    for what, query in (("delete_series", "?match[]=keep_me"), ("clean_tombstones", ""), ("flush", ""),
                        ("compact", "")):
        st, data, _ = srv.request("POST", ADMIN + what + query, b"")
        check(st == 500 and json.loads(data) == want, f"{what} without the flag: {st} {data!r}")
        answers[what] = (st, json.loads(data))
        st, _, _ = srv.request("GET", ADMIN + what)
        check(st == 405, f"GET {what} without the flag: {st}")
    res = srv.query("keep_me", t / 1000)["result"]
    check(len(res) == 1 and res[0]["value"][1] == "5", f"data changed by a refused delete: {res}")
    with live_prometheus() as prom:
        if prom is None:
            ctx.note("prometheus not installed: compared with the recorded 2.42 answer only")
            return
        for what in ("delete_series", "clean_tombstones"):
            st, data, _ = prom.request("POST", ADMIN + what + ("?match[]=up" if what == "delete_series" else ""), b"")
            check((st, json.loads(data)) == answers[what], f"Prometheus {what}: {st} {data!r} vs ours {answers[what]}")
        ctx.note("disabled admin API: same status and body as a live Prometheus 2.42")
