"""test_hostile owns the end-to-end proof that hostile or broken requests on every endpoint get a
4xx with a clear message (wrong methods, missing/repeated/unparsable parameters, absurd ranges,
huge match[] lists, bad regexes, write limits), and that overload is refused quickly (429/503 with
Retry-After) while the server stays up and simple queries stay fast."""
import json
import socket
import threading
import time
import urllib.parse

import promwire
from lib import TestFailure, check, load_slow_query_data, now_ms

ENDPOINTS = {
    "/api/v1/write": {"POST"},
    "/api/v1/read": {"POST"},
    "/api/v1/query": {"GET", "POST"},
    "/api/v1/query_range": {"GET", "POST"},
    "/api/v1/query_exemplars": {"GET", "POST"},
    "/api/v1/series": {"GET", "POST"},
    "/api/v1/labels": {"GET", "POST"},
    "/api/v1/label/job/values": {"GET", "POST"},
    "/api/v1/metadata": {"GET"},
    "/api/v1/status/buildinfo": {"GET"},
    "/api/v1/status/flags": {"GET"},
    "/api/v1/status/runtimeinfo": {"GET"},
    "/api/v1/status/config": {"GET"},
    "/api/v1/status/tsdb": {"GET"},
    "/api/v1/rules": {"GET"},
    "/api/v1/alerts": {"GET"},
    "/-/healthy": {"GET", "HEAD"},
    "/-/ready": {"GET", "HEAD"},
}


def _err(srv, method, path, params, want_status=400, want_text=(), form=False):
    """Sends one request that must fail with want_status and a JSON error naming want_text."""
    if form:
        body = urllib.parse.urlencode(params, doseq=True).encode()
        st, data, hdr = srv.request(method, path, body, {"Content-Type": "application/x-www-form-urlencoded"})
    else:
        st, data, hdr = srv.request(method, path, params=params)
    text = data.decode(errors="replace")
    check(st == want_status, f"{method} {path} {str(params)[:200]}: want {want_status}, got {st} {text[:300]}")
    try:
        doc = json.loads(text)
    except ValueError:
        raise TestFailure(f"{path} {str(params)[:200]}: error is not JSON: {text[:300]!r}")
    check(doc.get("status") == "error" and doc.get("errorType") and doc.get("error"),
          f"{path} {str(params)[:200]}: unclear error body {doc}")
    for w in want_text:
        check(w in doc["error"], f"{path} {str(params)[:200]}: error {doc['error']!r} lacks {w!r}")
    check(srv.alive(), f"server died on {path} {str(params)[:200]}")
    return doc, hdr


def test_wrong_methods_and_paths(ctx):
    srv = ctx.server()
    for path, allowed in ENDPOINTS.items():
        for m in ("GET", "POST", "PUT", "DELETE", "PATCH"):
            if m in allowed:
                continue
            st, data, hdr = srv.request(m, path, b"" if m in ("POST", "PUT", "PATCH") else None)
            check(st == 405, f"{m} {path}: want 405, got {st} {data[:200]!r}")
            allow = hdr.get("Allow", "")
            for a in allowed:
                check(a in allow, f"{m} {path}: Allow {allow!r} lacks {a}")
    for path in ("/ui/", "/api/v1/nope", "/api/v1/label//values", "/api/v1/label/a/b/values", "/%zz",
                 "/api/v1/query/extra", "/" + "a" * 5000):
        st, data, _ = srv.request("GET", path)
        check(st == 404, f"GET {path[:60]}: want 404, got {st}")
        check(data.strip(), f"GET {path[:60]}: 404 without a message")
    check(srv.alive(), "server died on bad methods/paths")


def test_bad_query_parameters(ctx):
    srv = ctx.server()
    t = now_ms() / 1000.0
    srv.push([({"__name__": "up", "job": "a"}, [(now_ms(), 1.0)])])
    q, qr = "/api/v1/query", "/api/v1/query_range"
    rng = {"query": "up", "start": f"{t - 60:.3f}", "end": f"{t:.3f}", "step": "15s"}
    for method in ("GET", "POST"):
        form = method == "POST"
        _err(srv, method, q, {}, want_text=["query"], form=form)
        _err(srv, method, q, {"query": ["up", "down"]}, want_text=["query", "at most once"], form=form)
        _err(srv, method, q, {"query": "up", "time": "yesterday"}, want_text=["time", "yesterday"], form=form)
        _err(srv, method, q, {"query": "up", "time": ["1", "2"]}, want_text=["time"], form=form)
        _err(srv, method, q, {"query": "up", "timeout": "soon"}, want_text=["timeout"], form=form)
        _err(srv, method, q, {"query": "sum(up"}, want_text=["parse error"], form=form)
        _err(srv, method, q, {"query": 'up{job=~"(unclosed"}'}, want_text=["error parsing regexp"], form=form)
        _err(srv, method, q, {"query": 'up{job=~"(?=look)"}'}, want_text=["error parsing regexp"], form=form)
        _err(srv, method, qr, dict(rng, start="x"), want_text=["start"], form=form)
        _err(srv, method, qr, {k: v for k, v in rng.items() if k != "end"}, want_text=["end"], form=form)
        _err(srv, method, qr, {k: v for k, v in rng.items() if k != "step"}, want_text=["step"], form=form)
        _err(srv, method, qr, dict(rng, start=f"{t:.3f}", end=f"{t - 60:.3f}"), want_text=["end"], form=form)
        _err(srv, method, qr, dict(rng, step="0"), want_text=["step"], form=form)
        _err(srv, method, qr, dict(rng, step="-15s"), want_text=["step"], form=form)
        _err(srv, method, qr, dict(rng, step="fast"), want_text=["step"], form=form)
        _err(srv, method, qr, dict(rng, step=["15s", "30s"]), want_text=["step", "at most once"], form=form)
        # absurd ranges: far too many points, and the whole int64 range
        _err(srv, method, qr, dict(rng, start="0", end="1e10", step="1"), want_text=["maximum resolution"],
             form=form)
        _err(srv, method, qr, dict(rng, start="-9e15", end="9e15", step="1ms"), want_text=["maximum resolution"],
             form=form)
        _err(srv, method, qr, dict(rng, start="1e300"), want_text=["start"], form=form)
        _err(srv, "GET", "/api/v1/series", {"match[]": 'up{job=~"+"}'}, want_text=["regexp"])
        _err(srv, method, "/api/v1/series", {"match[]": "up", "start": "never"}, want_text=["start"], form=form)
        _err(srv, method, "/api/v1/series", {"match[]": "up", "limit": ["1", "2"]}, want_text=["limit"], form=form)
        _err(srv, method, "/api/v1/labels", {"match[]": "{"}, form=form)
        _err(srv, method, "/api/v1/label/job/values", {"match[]": "up", "end": "??"}, want_text=["end"], form=form)
    # a malformed %-escape in the query string
    st, data, _ = srv.request("GET", "/api/v1/query?query=up&x=%zz")
    check(st == 400 and b"invalid URL escape" in data, f"bad escape: {st} {data[:200]!r}")
    # Deep nesting must not overflow the stack (parser or evaluator): answered, not crashed.
    for deep in ("(" * 50000 + "up" + ")" * 50000, "-" * 100000 + "up", "up" + " + up" * 50000,
                 "sum(" * 20000 + "up" + ")" * 20000, "{" * 100000):
        body = urllib.parse.urlencode({"query": deep, "time": f"{t:.3f}"}).encode()
        st, data, _ = srv.request("POST", "/api/v1/query", body, {"Content-Type": "application/x-www-form-urlencoded"},
                                  timeout=60)
        check(st in (200, 400, 422, 503), f"deep query {deep[:20]!r}...: {st} {data[:200]!r}")
        check(srv.alive(), f"server died on deep query {deep[:20]!r}")
    # A huge range selector or subquery is bounded by the limits, not by luck.
    st, data, _ = srv.request("GET", "/api/v1/query", params={"query": "count_over_time(up[1000y])", "time": f"{t}"})
    check(st == 200, f"[1000y] range: {st} {data[:200]!r}")
    # and the server still answers a normal query
    check(srv.query("up", t + 1)["result"], "normal query after hostile ones returned nothing")


def test_match_selector_limit(ctx):
    srv = ctx.server(extra=["--max-match-selectors", "50"])
    srv.push([({"__name__": f"m{i}", "job": "a"}, [(now_ms(), 1.0)]) for i in range(60)])
    ok = {"match[]": [f"m{i}" for i in range(50)]}
    too_many = {"match[]": [f"m{i}" for i in range(51)]}
    for path in ("/api/v1/series", "/api/v1/labels", "/api/v1/label/job/values"):
        st, doc = srv.get_json(path, ok, method="POST")
        check(st == 200, f"{path} with 50 match[]: {st} {doc}")
        _err(srv, "POST", path, too_many, want_text=["match[]", "limit of 50"], form=True)
    st, doc = srv.get_json("/api/v1/series", ok, method="POST")
    check(len(doc["data"]) == 50, f"50 selectors matched {len(doc['data'])} series")
    # default limit 1000 on a default server
    srv2 = ctx.server()
    _err(srv2, "POST", "/api/v1/series", {"match[]": ["up"] * 1001}, want_text=["limit of 1000"], form=True)
    st, _ = srv2.get_json("/api/v1/series", {"match[]": ["up"] * 1000}, method="POST")
    check(st == 200, f"1000 match[] refused: {st}")


def test_series_answer_limit(ctx):
    srv = ctx.server(extra=["--max-series-per-request", "20"])
    t = now_ms()
    st, body = srv.push([({"__name__": "many", "i": str(i)}, [(t, 1.0)]) for i in range(21)])
    check(st == 204, f"push: {st} {body!r}")
    st, doc = srv.get_json("/api/v1/series", {"match[]": 'many{i=~"1.*"}'})
    check(st == 200 and len(doc["data"]) == 11, f"11 series under the cap: {st} {doc}")
    st, doc = srv.get_json("/api/v1/series", {"match[]": "many"})
    check(st == 422 and doc.get("errorType") == "execution" and "21 series" in doc.get("error", "")
          and "--max-series-per-request=20" in doc.get("error", ""), f"21 series over a cap of 20: {st} {doc}")
    st, doc = srv.get_json("/api/v1/series", {"match[]": "many", "limit": "5"})
    check(st == 200 and len(doc["data"]) == 5 and doc.get("warnings") == ["results truncated due to limit"],
          f"limit=5 under the cap: {st} {doc}")
    st, doc = srv.get_json("/api/v1/series", {"match[]": "many", "limit": "30"})
    check(st == 422, f"limit=30 above the cap: {st} {doc}")


def test_write_limits(ctx):
    srv = ctx.server(extra=["--max-labels-per-series", "5", "--max-label-name-length", "16",
                            "--max-label-value-length", "32", "--max-samples-per-request", "100"])
    t = now_ms()
    good = ({"__name__": "ok_metric", "job": "w"}, [(t, 1.0)])
    cases = [
        ("too many labels", [good, ({"__name__": "x1", **{f"l{i}": "v" for i in range(5)}}, [(t, 1.0)])],
         400, "over the limit of 5"),
        ("label name too long", [good, ({"__name__": "x2", "n" * 17: "v"}, [(t, 1.0)])], 400, "label name"),
        ("label value too long", [good, ({"__name__": "x3", "a": "v" * 33}, [(t, 1.0)])], 400, "label value"),
        ("metric name too long", [good, ({"__name__": "x" * 33}, [(t, 1.0)])], 400, "label value"),
        ("too many samples", [good, ({"__name__": "x4"}, [(t - i, 1.0) for i in range(100)])], 413, "over the limit"),
    ]
    for name, series, want, text in cases:
        st, body = srv.push(series)
        check(st == want, f"{name}: want {want}, got {st} {body[:200]!r}")
        check(text.encode() in body, f"{name}: message {body[:300]!r} lacks {text!r}")
        check(srv.alive(), f"{name}: server died")
    st, doc = srv.get_json("/api/v1/series", {"match[]": '{__name__=~".+"}'})
    check(st == 200 and doc["data"] == [], f"rejected writes stored series: {doc}")
    # exactly at the limits is accepted
    edge = ({"__name__": "e" * 32, **{f"{'n' * 15}{i}": "v" * 32 for i in range(4)}}, [(t - i, 1.0) for i in range(100)])
    st, body = srv.push([edge])
    check(st == 204, f"write at the limits refused: {st} {body[:300]!r}")
    # the flags are reported
    st, doc = srv.get_json("/api/v1/status/flags")
    check(doc["data"].get("max-labels-per-series") == "5", f"flags: {doc['data']}")


def test_defaults_refuse_huge_labels(ctx):
    srv = ctx.server()
    t = now_ms()
    st, body = srv.push([({"__name__": "big", "a": "v" * 8193}, [(t, 1.0)])])
    check(st == 400 and b"8192" in body, f"8193-byte value: {st} {body[:200]!r}")
    st, body = srv.push([({"__name__": "big", **{f"l{i:03d}": "v" for i in range(128)}}, [(t, 1.0)])])
    check(st == 400 and b"128" in body, f"129 labels: {st} {body[:200]!r}")
    st, body = srv.push([({"__name__": "big", "a": "v" * 8192}, [(t, 1.0)])])
    check(st == 204, f"8192-byte value refused: {st} {body[:200]!r}")


def test_write_overload_gets_429(ctx):
    """With --max-concurrent-writes 1, concurrent writers see some 429s (with Retry-After); every
    acknowledged request is stored and no refused one is."""
    srv = ctx.server(extra=["--max-concurrent-writes", "1"])
    t0 = now_ms() - 60_000
    results = {}
    lock = threading.Lock()

    def writer(w):
        for r in range(15):
            series = [({"__name__": "ov", "w": str(w), "r": str(r), "s": str(s)},
                       [(t0 + i, float(i)) for i in range(40)]) for s in range(100)]
            st, data, hdr = srv.request("POST", "/api/v1/write",
                                        promwire.compress(promwire.encode_write_request(series)),
                                        {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"})
            with lock:
                results[(w, r)] = (st, data, hdr.get("Retry-After"))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    codes = [v[0] for v in results.values()]
    check(set(codes) <= {204, 429}, f"unexpected statuses {set(codes)}")
    n429 = codes.count(429)
    check(n429 > 0, "8 concurrent writers with a limit of 1 never got a 429")
    check(codes.count(204) > 0, "no write succeeded")
    for (w, r), (st, data, ra) in results.items():
        if st == 429:
            check(ra == "1" and b"max-concurrent-writes" in data, f"429 without Retry-After/message: {ra} {data!r}")
    t = (t0 + 100) / 1000.0
    doc = srv.query('count by (w, r) (ov)', t)
    stored = {(int(e["metric"]["w"]), int(e["metric"]["r"])): int(e["value"][1]) for e in doc["result"]}
    for k, (st, _, _) in results.items():
        if st == 204:
            check(stored.get(k) == 100, f"acknowledged write {k} stored {stored.get(k)} of 100 series")
        else:
            check(k not in stored, f"refused write {k} was stored")
    ctx.note(f"{n429}/{len(codes)} writes refused with 429")


def test_query_of_death_is_bounded(ctx):
    """count(count_over_time({__name__=~".+"}[30d:1s])) ends with an error (samples limit or timeout) while the
    server stays up and a concurrent simple query stays fast."""
    srv = ctx.server(extra=["--query.timeout", "8s", "--query.max-samples", "1000000"])
    t = load_slow_query_data(srv)
    out = {}

    def death():
        t1 = time.time()
        st, data, _ = srv.request("GET", "/api/v1/query", params={
            "query": 'count(count_over_time({__name__=~".+"}[30d:1s]))', "time": f"{t:.3f}"}, timeout=120)
        out["death"] = (st, data, time.time() - t1)

    th = threading.Thread(target=death)
    th.start()
    time.sleep(0.3)
    lat = []
    while th.is_alive() and len(lat) < 200:
        t1 = time.time()
        d = srv.query("load_1", t)
        lat.append(time.time() - t1)
        check(len(d["result"]) == 10, f"simple query during the query of death: {d}")
        time.sleep(0.05)
    th.join(60)
    check("death" in out, "query of death never returned")
    st, data, dt = out["death"]
    doc = json.loads(data)
    check(st in (422, 503) and doc["errorType"] in ("execution", "timeout"),
          f"query of death: {st} {data[:300]!r}")
    check(dt < 30, f"query of death took {dt:.1f}s with an 8s timeout")
    check(srv.alive(), "server died")
    if lat:
        lat.sort()
        worst = lat[-1]
        check(worst < 1.0, f"simple query slowed to {worst:.3f}s during the query of death")
        ctx.note(f"query of death: {st} {doc['errorType']} after {dt:.1f}s; {len(lat)} concurrent simple "
                 f"queries, max {worst * 1000:.0f} ms")


def test_query_concurrency_limit(ctx):
    """With --query.max-concurrency 1 a second query while one runs gets 503 at once, with
    Retry-After, instead of waiting in an unbounded queue."""
    srv = ctx.server(extra=["--query.max-concurrency", "1", "--query.timeout", "3s"])
    t = load_slow_query_data(srv)

    def slow():
        srv.request("GET", "/api/v1/query", params={"query": 'count(count_over_time({__name__=~".+"}[30d:1s]))', "time": f"{t}"},
                    timeout=60)

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.5)
    t1 = time.time()
    doc, hdr = _err(srv, "GET", "/api/v1/query", {"query": "load_1", "time": f"{t}"}, want_status=503,
                    want_text=["too many concurrent queries"])
    check(time.time() - t1 < 1.0, "refused query waited")
    check(doc["errorType"] == "unavailable" and hdr.get("Retry-After") == "1", f"503 without Retry-After: {hdr}")
    th.join(60)
    check(srv.query("load_1", t)["result"], "query after the slow one finished failed")
    # metadata endpoints are not gated by the query limit
    st, _ = srv.get_json("/api/v1/labels")
    check(st == 200, f"labels: {st}")


def test_raw_protocol_abuse(ctx):
    """Garbage on the socket, a lying Content-Length and a huge header all end cleanly."""
    srv = ctx.server(extra=["--max-request-bytes", "100000"])
    cases = [
        b"GARBAGE\r\n\r\n",
        b"GET /api/v1/query?query=up HTTP/9.9\r\n\r\n",
        b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc",
        b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"GET /api/v1/query?query=up HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 400_000 + b"\r\n\r\n",
        b"POST /api/v1/write HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ]
    for raw in cases:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            try:
                s.sendall(raw)
                s.shutdown(socket.SHUT_WR)
                resp = b""
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    resp += b
            except (ConnectionResetError, BrokenPipeError):
                resp = b""
        if resp:
            code = int(resp.split(b" ", 2)[1]) if resp.startswith(b"HTTP/") else 0
            check(400 <= code < 600 and code not in (500, 502), f"{raw[:60]!r}: answered {resp[:120]!r}")
        check(srv.alive(), f"server died on {raw[:60]!r}")
    check(srv.query("up", now_ms() / 1000.0) == {"resultType": "vector", "result": []}, "server not serving")
