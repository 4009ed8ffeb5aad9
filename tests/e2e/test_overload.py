"""test_overload owns the end-to-end checks of query admission under overload: remote_read and
export share the query concurrency limit (503 with Retry-After past it, plain text for
remote_read as Prometheus answers) and the query sample budget (--query.max-samples), and a
query whose client hangs up stops at its next check and frees its slot. A real Prometheus reading
through remote_read sees the 503 as a remote-read failure (a warning on its query) and reads
again once the slot is free."""
import json
import select
import socket
import threading
import time
import urllib.parse

import promwire
from lib import check, load_slow_query_data
from test_remote_read import Prom, decode_samples_response, doc_snippet, read, snappy_decompress

SLOW_QUERY = 'count(count_over_time({__name__=~".+"}[30d:100ms]))'


def _probe(srv, t):
    """A cheap query: 503 while the only query slot is taken."""
    st, _, _ = srv.request("GET", "/api/v1/query", params={"query": "load_1", "time": f"{t:.3f}"})
    return st


def _hold_slot(srv, t):
    """Starts SLOW_QUERY in a thread and waits until it holds the only query slot (a probe that
    raced it for the slot and won gets it refused: then it is started again)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        out = {}

        def slow():
            t1 = time.time()
            st, data, _ = srv.request("GET", "/api/v1/query", params={"query": SLOW_QUERY, "time": f"{t:.3f}"},
                                      timeout=120)
            out["slow"] = (st, data, time.time() - t1)

        th = threading.Thread(target=slow)
        th.start()
        time.sleep(0.2)
        while th.is_alive() and time.time() < deadline:
            if _probe(srv, t) == 503 and th.is_alive():
                return th, out
            time.sleep(0.05)
        th.join(120)
    raise AssertionError(f"the slow query never held the query slot: {str(out.get('slow'))[:300]}")


def _export(srv, params):
    return srv.request("GET", "/api/v1/export", params=params)


def test_read_and_export_share_query_limit(ctx):
    """With --query.max-concurrency 1 held by a slow query, remote_read gets a plain-text 503 and
    export a JSON 503, both with Retry-After and at once; both work again afterwards."""
    srv = ctx.server(extra=["--query.max-concurrency", "1", "--query.timeout", "4s"])
    t = load_slow_query_data(srv)
    t_ms = int(t * 1000)
    rr_query = [(t_ms - 600_000, t_ms, [(0, "__name__", "load_3")])]
    th, out = _hold_slot(srv, t)
    t1 = time.time()
    st, body, hdr = read(srv, rr_query)
    check(st == 503, f"remote_read while the slot is held: {st} {body[:200]!r}")
    check(hdr.get("Retry-After") == "1", f"remote_read 503 without Retry-After: {hdr}")
    check(b"too many concurrent queries" in body and not body.startswith(b"{"),
          f"remote_read 503 body should be plain text: {body[:200]!r}")
    st, body, hdr = _export(srv, {"match[]": "load_3"})
    check(st == 503, f"export while the slot is held: {st} {body[:200]!r}")
    doc = json.loads(body)
    check(doc.get("errorType") == "unavailable" and hdr.get("Retry-After") == "1", f"export 503: {doc} {hdr}")
    check(time.time() - t1 < 2.0, "refused requests waited for the slot")
    th.join(120)
    st, data, dt = out["slow"]
    # it runs into --query.timeout: so uncancelled it takes seconds (test_client_disconnect_frees_slot)
    check(st == 503 and dt >= 3.5, f"slow query should time out after 4 s, got {st} after {dt:.1f}s")
    st, body, _ = read(srv, rr_query)
    check(st == 200, f"remote_read after the slow query: {st} {body[:200]!r}")
    res = decode_samples_response(snappy_decompress(body))
    check(len(res) == 1 and len(res[0]) == 10, f"remote_read answer: {len(res)} results, "
          f"{len(res[0]) if res else 0} series (want 10)")
    st, body, _ = _export(srv, {"match[]": "load_3"})
    check(st == 200 and body.count(b"\n") == 10, f"export after the slow query: {st} {body[:200]!r}")


def test_read_and_export_sample_budget(ctx):
    """remote_read and export stop at --query.max-samples, as queries do."""
    srv = ctx.server(extra=["--query.max-samples", "5000"])
    t = load_slow_query_data(srv, n_series=50)  # 50 x 720 = 36,000 samples
    t_ms = int(t * 1000)
    st, body, _ = read(srv, [(t_ms - 3 * 3600_000, t_ms, [(2, "__name__", "load_.*")])])
    check(st == 400 and b"exceeded sample limit (5000)" in body, f"remote_read over budget: {st} {body[:200]!r}")
    st, body, _ = _export(srv, {"match[]": '{__name__=~"load_.*"}'})
    check(st == 422, f"export over budget: {st} {body[:200]!r}")
    doc = json.loads(body)
    check(doc.get("errorType") == "execution" and "--query.max-samples" in doc.get("error", ""), f"export: {doc}")
    # within the budget both still answer
    st, body, _ = read(srv, [(t_ms - 600_000, t_ms, [(0, "__name__", "load_3")])])
    check(st == 200, f"remote_read within budget: {st} {body[:200]!r}")
    st, body, _ = _export(srv, {"match[]": "load_3", "start": f"{t - 600:.3f}"})
    check(st == 200 and body.count(b"\n") == 3, f"export within budget: {st} {body[:200]!r}")


def test_client_disconnect_frees_slot(ctx):
    """A long query whose client closes the connection stops at its next check: with one query
    slot, the next query is admitted within a second of the hang-up, long before the timeout."""
    srv = ctx.server(extra=["--query.max-concurrency", "1", "--query.timeout", "60s"])
    t = load_slow_query_data(srv)
    path = "/api/v1/query?" + urllib.parse.urlencode({"query": SLOW_QUERY, "time": f"{t:.3f}"})
    deadline = time.time() + 30
    held = False
    sock = None
    while time.time() < deadline and not held:
        if sock is None:
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            time.sleep(0.2)
        if select.select([sock], [], [], 0)[0]:  # answered already: a probe won the slot; again
            sock.close()
            sock = None
            continue
        held = _probe(srv, t) == 503 and not select.select([sock], [], [], 0)[0]
        time.sleep(0.05)
    check(held, "the slow query never held the query slot")
    time.sleep(0.3)
    sock.close()
    closed = time.time()
    admitted = None
    while time.time() - closed < 5:
        st, body, _ = srv.request("GET", "/api/v1/query", params={"query": "load_1", "time": f"{t:.3f}"})
        if st == 200:
            admitted = time.time() - closed
            break
        check(st == 503, f"query after the hang-up: {st} {body[:200]!r}")
        time.sleep(0.05)
    check(admitted is not None and admitted < 1.0,
          f"slot not freed within 1 s of the client closing (admitted after {admitted})")
    ctx.note(f"slot freed {admitted * 1000:.0f} ms after the client closed")
    # the cancelled query is counted as a 499 on /metrics
    st, body, _ = srv.request("GET", "/metrics")
    check(st == 200, f"/metrics: {st}")
    lines = [ln for ln in body.decode().splitlines() if ln.startswith("metricstor_http_requests_total")
             and 'handler="/api/v1/query"' in ln and 'code="499"' in ln]
    check(lines and float(lines[0].split()[-1]) >= 1, f"no 499 counted for the cancelled query: {lines}")
    check(srv.alive(), "server died")


def test_prometheus_remote_read_client_gets_503(ctx):
    """A real Prometheus 2.42 whose remote_read source is Metricstor: while the only query slot is
    held its query reports our 503 (as a remote-read warning, Prometheus's handling of a failed
    secondary source) instead of hanging; afterwards the same query returns the data."""
    srv = ctx.server(extra=["--query.max-concurrency", "1", "--query.timeout", "4s"])
    t = load_slow_query_data(srv)
    prom = Prom("global:\n  scrape_interval: 1m\n" + doc_snippet("remote_read", srv.base))
    try:
        th, out = _hold_slot(srv, t)
        t1 = time.time()
        status, data, _ = prom.request("POST", "/api/v1/query", urllib.parse.urlencode(
            {"query": "load_3", "time": f"{t:.3f}"}).encode(), {"Content-Type": "application/x-www-form-urlencoded"})
        dt = time.time() - t1
        doc = json.loads(data)
        said = json.dumps(doc)
        check("503" in said, f"prometheus did not report our 503: {status} {said[:500]}")
        check(not doc.get("data", {}).get("result"), f"prometheus returned data while refused: {said[:300]}")
        check(dt < 3.0, f"prometheus's query waited {dt:.1f}s for a refused remote_read")
        th.join(120)
        d = prom.api("/api/v1/query", {"query": "load_3", "time": f"{t:.3f}"})
        check(len(d["result"]) == 10, f"after the slot is free prometheus reads 10 series: {d}")
    finally:
        prom.stop()
