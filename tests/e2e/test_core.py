"""test_core owns the end-to-end proof of the core issue: push -> store -> query over HTTP on the
real binary, restart after SIGTERM and kill -9, bad input, ordering rules, concurrency."""
import math
import os
import signal
import struct
import subprocess
import threading
import time

import promwire
from lib import Server, TestFailure, check, now_ms


def raw_samples(srv, selector, t_end_ms, window="1d"):
    """All raw samples of matching series via a range selector: {labels_tuple: [(t_ms, v)]}."""
    data = srv.query(f"{selector}[{window}]", t_end_ms / 1000.0)
    check(data["resultType"] == "matrix", f"range selector gave {data['resultType']}")
    out = {}
    for s in data["result"]:
        key = tuple(sorted(s["metric"].items()))
        out[key] = [(int(round(float(t) * 1000)), float(v)) for t, v in s["values"]]
    return out


def test_example_client_roundtrip(ctx):
    srv = ctx.server()
    start = now_ms()
    p = subprocess.run([ctx.example, "--url", f"{srv.base}/api/v1/write"], capture_output=True, text=True,
                       timeout=30)
    check(p.returncode == 0, f"push_metrics failed {p.returncode}: {p.stdout} {p.stderr}")
    check("204" in p.stdout, f"push_metrics did not report 204: {p.stdout}")
    check("Encoded" in p.stdout and "Compressed" in p.stdout, f"sizes not printed: {p.stdout}")
    at = now_ms() / 1000.0
    data = srv.query("http_requests_total", at)
    check(data["resultType"] == "vector", f"resultType {data['resultType']}")
    res = data["result"]
    check(len(res) == 1, f"expected exactly one result, got {res}")
    check(res[0]["metric"] == {"__name__": "http_requests_total", "job": "example_app", "method": "GET",
                               "status": "200"}, f"labels {res[0]['metric']}")
    check(res[0]["value"][1] == "1234", f"value {res[0]['value']}")
    status, doc = srv.get_json("/api/v1/series")
    check(status == 200, f"series {status} {doc}")
    names = sorted(s["__name__"] for s in doc["data"])
    check(names == ["http_request_duration_seconds", "http_requests_total"], f"series {doc['data']}")
    # query_range over the pushed window (the example pushes 0.042 at now-15s and 0.055 at now)
    # the last step must not fall before the push: end one step after the query time
    data = srv.query_range("http_request_duration_seconds", (start - 20000) / 1000.0, at + 1, 1)
    check(data["resultType"] == "matrix" and len(data["result"]) == 1, f"range {data}")
    vals = sorted({v for _, v in data["result"][0]["values"]})
    check(vals == ["0.042", "0.055"], f"range values {vals}")


def test_read_your_writes_every_request(ctx):
    srv = ctx.server()
    base = now_ms() - 60000
    for i in range(200):
        t = base + i * 100
        st, body = srv.push([({"__name__": "ryw", "i": str(i % 7)}, [(t, float(i))])])
        check(st == 204, f"push {i}: {st} {body!r}")
        res = srv.query(f'ryw{{i="{i % 7}"}}', t / 1000.0)["result"]
        check(len(res) == 1 and float(res[0]["value"][1]) == float(i), f"push {i} not visible at once: {res}")


def _push_history(srv, n_series, n_samples, t0, step_ms, name="hist"):
    series = []
    expect = {}
    for s in range(n_series):
        labels = {"__name__": name, "series": f"s{s:03d}", "job": "restart"}
        samples = [(t0 + k * step_ms, float(s * 1000 + k) + 0.25) for k in range(n_samples)]
        series.append((labels, samples))
        expect[tuple(sorted(labels.items()))] = samples
    # push in several requests, one sample per series entry, like Prometheus
    for k in range(n_samples):
        batch = [(labels, [samples[k]]) for labels, samples in series]
        st, body = srv.push(batch)
        check(st == 204, f"push {k}: {st} {body!r}")
    return expect


def test_restart_sigterm_and_kill9(ctx):
    srv = ctx.server()
    t0 = now_ms() - 3_600_000
    expect = _push_history(srv, 50, 40, t0, 60_000)
    end = t0 + 40 * 60_000
    check(raw_samples(srv, "hist", end) == expect, "data differs before restart")
    code = srv.stop(signal.SIGTERM)
    check(code == 0, f"SIGTERM exit code {code}:\n{srv.log_tail()}")
    srv.start()
    check(raw_samples(srv, "hist", end) == expect, "data differs after SIGTERM restart")
    # more data, then kill -9 right after the acknowledgements
    more = _push_history(srv, 50, 10, end + 60_000, 60_000, name="hist2")
    srv.stop(signal.SIGKILL)
    srv.start()
    end2 = end + 11 * 60_000
    check(raw_samples(srv, "hist", end) == expect, "old data differs after kill -9")
    check(raw_samples(srv, "hist2", end2) == more, "acknowledged data lost by kill -9")
    # a second kill -9 right after restart (replay of an already-replayed WAL)
    srv.stop(signal.SIGKILL)
    srv.start()
    check(raw_samples(srv, "hist2", end2) == more, "data lost after second kill -9")


def test_out_of_order_duplicates_replace(ctx):
    srv = ctx.server()
    t = now_ms() - 600_000
    lab = {"__name__": "ooo", "job": "x"}
    for k in (5, 1, 3, 2, 4, 0):
        st, _ = srv.push([(lab, [(t + k * 1000, float(k))])])
        check(st == 204, f"ooo push {k}: {st}")
    got = raw_samples(srv, "ooo", t + 10_000)[tuple(sorted(lab.items()))]
    check(got == [(t + k * 1000, float(k)) for k in range(6)], f"out-of-order result {got}")
    # identical re-send is a no-op
    st, _ = srv.push([(lab, [(t + 3000, 3.0)])])
    check(st == 204, "resend")
    got = raw_samples(srv, "ooo", t + 10_000)[tuple(sorted(lab.items()))]
    check(len(got) == 6, f"duplicate created a sample: {got}")
    # a different value at the same timestamp replaces the old one
    st, _ = srv.push([(lab, [(t + 3000, 33.5)])])
    check(st == 204, "replace")
    got = raw_samples(srv, "ooo", t + 10_000)[tuple(sorted(lab.items()))]
    check(len(got) == 6 and got[3] == (t + 3000, 33.5), f"replace failed: {got}")
    # a large backfill in reverse order
    lab2 = {"__name__": "backfill"}
    for k in reversed(range(500)):
        st, _ = srv.push([(lab2, [(t - 500_000 + k * 1000, float(k))])])
        check(st == 204, "backfill push")
    got = raw_samples(srv, "backfill", t)[(("__name__", "backfill"),)]
    check(got == [(t - 500_000 + k * 1000, float(k)) for k in range(500)], "reverse backfill mismatch")
    srv.stop(signal.SIGKILL)
    srv.start()
    got = raw_samples(srv, "ooo", t + 10_000)[tuple(sorted(lab.items()))]
    check(len(got) == 6 and got[3] == (t + 3000, 33.5), f"replace not durable: {got}")
    got = raw_samples(srv, "backfill", t)[(("__name__", "backfill"),)]
    check(len(got) == 500, f"backfill after restart: {len(got)}")


def test_too_old_and_too_new(ctx):
    srv = ctx.server(extra=["--retention", "1h", "--max-future", "10m"])
    now = now_ms()
    lab = {"__name__": "window", "job": "w"}
    st, body = srv.push([(lab, [(now - 2 * 3_600_000, 1.0), (now - 1000, 2.0), (now + 3_600_000, 3.0)])])
    check(st == 400, f"expected 400 for dropped samples, got {st} {body!r}")
    text = body.decode(errors="replace")
    check("2" in text and ("old" in text or "retention" in text) and "future" in text,
          f"message does not explain the drop: {text}")
    got = raw_samples(srv, "window", now + 3_600_000, "1d")
    check(got == {tuple(sorted(lab.items())): [(now - 1000, 2.0)]}, f"rest of request not stored: {got}")


def test_special_values_and_staleness(ctx):
    srv = ctx.server()
    t = now_ms() - 10_000
    series = [({"__name__": "special", "k": "nan"}, [(t, float("nan"))]),
              ({"__name__": "special", "k": "pinf"}, [(t, float("inf"))]),
              ({"__name__": "special", "k": "ninf"}, [(t, float("-inf"))]),
              ({"__name__": "special", "k": "zero"}, [(t, 0.0)]),
              ({"__name__": "special", "k": "big"}, [(t, 1e21)]),
              ({"__name__": "special", "k": "tiny"}, [(t, 1e-7)])]
    st, _ = srv.push(series)
    check(st == 204, "push specials")
    res = srv.query("special", t / 1000.0)["result"]
    got = {r["metric"]["k"]: r["value"][1] for r in res}
    check(got == {"nan": "NaN", "pinf": "+Inf", "ninf": "-Inf", "zero": "0",
                  "big": "1e+21", "tiny": "1e-07"}, f"special values {got}")
    # timestamps are written as seconds with milliseconds
    check(res[0]["value"][0] == t / 1000.0, f"timestamp {res[0]['value'][0]} vs {t / 1000.0}")
    # a staleness marker ends the series for instant queries
    lab = {"__name__": "goes_stale"}
    st, _ = srv.push([(lab, [(t, 5.0)])])
    st2, _ = srv.push([(lab, [(t + 1000, promwire.STALE_NAN)])])
    check(st == 204 and st2 == 204, "push stale")
    check(len(srv.query("goes_stale", (t + 500) / 1000.0)["result"]) == 1, "visible before the marker")
    check(srv.query("goes_stale", (t + 2000) / 1000.0)["result"] == [], "stale series still returned")
    # lookback: 5 minutes
    check(len(srv.query("goes_stale", (t + 500) / 1000.0)["result"]) == 1, "lookback")
    check(srv.query("special", (t + 301_000) / 1000.0)["result"] == [], "sample visible past 5m lookback")


def test_empty_label_values_dropped_and_utf8(ctx):
    srv = ctx.server()
    t = now_ms() - 1000
    st, body = srv.push([({"__name__": "dropper", "a": "", "b": "x"}, [(t, 1.0)]),
                         ({"__name__": "my.dotted.metric", "service.name": "caf\u00e9"}, [(t, 2.0)])])
    check(st == 204, f"push {st} {body!r}")
    status, doc = srv.get_json("/api/v1/series", {"match[]": "dropper"})
    check(status == 200 and doc["data"] == [{"__name__": "dropper", "b": "x"}], f"empty value kept: {doc}")
    status, doc = srv.get_json("/api/v1/series", {"match[]": '{__name__="my.dotted.metric"}'})
    check(status == 200 and doc["data"] == [{"__name__": "my.dotted.metric", "service.name": "caf\u00e9"}],
          f"utf-8 series {doc}")


def test_metadata_api_survives_restart(ctx):
    srv = ctx.server()
    t = now_ms()
    st, _ = srv.push([({"__name__": "md_total"}, [(t, 1.0)])],
                     metadata=[(1, "md_total", "Total things.", ""), (2, "md_gauge", "A gauge.", "bytes")])
    check(st == 204, "push with metadata")
    want = {"md_total": [{"type": "counter", "help": "Total things.", "unit": ""}],
            "md_gauge": [{"type": "gauge", "help": "A gauge.", "unit": "bytes"}]}
    status, doc = srv.get_json("/api/v1/metadata")
    check(status == 200 and doc["data"] == want, f"metadata {doc}")
    # a metadata-only request, as Prometheus sends about once a minute
    st, _ = srv.push([], metadata=[(5, "md_summary", "S.", "")])
    check(st == 204, f"metadata-only request {st}")
    srv.stop(signal.SIGKILL)
    srv.start()
    status, doc = srv.get_json("/api/v1/metadata", {"metric": "md_gauge"})
    check(status == 200 and doc["data"] == {"md_gauge": want["md_gauge"]}, f"metadata after restart {doc}")
    status, doc = srv.get_json("/api/v1/metadata")
    check("md_summary" in doc["data"], f"metadata-only entry lost {doc}")


def test_labels_and_values_endpoints(ctx):
    srv = ctx.server()
    t = now_ms()
    st, _ = srv.push([({"__name__": "a_metric", "job": "j1", "zone": "z1"}, [(t, 1.0)]),
                      ({"__name__": "b_metric", "job": "j2", "rack": "r1"}, [(t, 1.0)])])
    check(st == 204, "push")
    for method in ("GET", "POST"):
        status, doc = srv.get_json("/api/v1/labels", method=method)
        check(status == 200 and doc["data"] == ["__name__", "job", "rack", "zone"], f"labels {doc}")
        status, doc = srv.get_json("/api/v1/labels", {"match[]": "a_metric"}, method=method)
        check(status == 200 and doc["data"] == ["__name__", "job", "zone"], f"labels match {doc}")
    status, doc = srv.get_json("/api/v1/label/job/values")
    check(status == 200 and doc["data"] == ["j1", "j2"], f"values {doc}")
    status, doc = srv.get_json("/api/v1/label/job/values", {"match[]": '{__name__=~"b.*"}'})
    check(status == 200 and doc["data"] == ["j2"], f"values match {doc}")
    status, doc = srv.get_json("/api/v1/label/nonexistent/values")
    check(status == 200 and doc["data"] == [], f"missing label values {doc}")
    status, doc = srv.get_json("/api/v1/label/__name__/values")
    check(status == 200 and doc["data"] == ["a_metric", "b_metric"], f"names {doc}")
    # repeated match[] unions; query via POST form
    status, doc = srv.get_json("/api/v1/series", {"match[]": ["a_metric", "b_metric", "a_metric"]},
                               method="POST")
    check(status == 200 and len(doc["data"]) == 2, f"series union {doc}")
    data = srv.query('{job=~"j.*"}', t / 1000.0, method="POST")
    check(len(data["result"]) == 2, f"POST query {data}")
    # time range restricts the metadata APIs
    status, doc = srv.get_json("/api/v1/series", {"match[]": "a_metric", "start": "1000", "end": "2000"})
    check(status == 200 and doc["data"] == [], f"series outside range {doc}")


def test_matchers_over_http(ctx):
    srv = ctx.server()
    t = now_ms()
    series = []
    for i in range(20):
        series.append(({"__name__": "mx", "idx": f"{i:02d}", "parity": "even" if i % 2 == 0 else "odd",
                        **({"extra": "yes"} if i % 5 == 0 else {})}, [(t, float(i))]))
    st, _ = srv.push(series)
    check(st == 204, "push")

    def count(q):
        return len(srv.query(q, t / 1000.0)["result"])
    check(count('mx{parity="even"}') == 10, "=")
    check(count('mx{parity!="even"}') == 10, "!=")
    check(count('mx{idx=~"0.*"}') == 10, "prefix regex")
    check(count('mx{idx=~"01|02|17"}') == 3, "alternation")
    check(count('mx{idx=~"1[0-4]"}') == 5, "class regex")
    check(count('mx{idx!~"1.*"}') == 10, "!~")
    check(count('mx{extra=""}') == 16, "empty matcher selects series lacking the label")
    check(count('mx{extra!=""}') == 4, "!= empty")
    check(count('mx{extra=~"y.*"}') == 4, "regex on sparse label")
    check(count('{__name__=~"m.*", parity="odd"}') == 10, "name regex")
    check(count('mx{idx=~"1"}') == 0, "regex is anchored")
    st, doc = srv.get_json("/api/v1/query", {"query": '{extra=""}', "time": str(t / 1000.0)})
    check(st == 400 and doc.get("errorType") == "bad_data", f"all-empty matchers must be refused: {st} {doc}")


def test_parallel_writers_and_readers(ctx):
    srv = ctx.server()
    t0 = now_ms() - 3_000_000
    acked = {}
    errors = []
    lock = threading.Lock()
    deadline = time.time() + ctx.soak_seconds

    def writer(w):
        k = 0
        while time.time() < deadline and not errors:
            batch = []
            for s in range(20):
                labels = {"__name__": "par", "writer": str(w), "s": str(s)}
                batch.append((labels, [(t0 + k * 1000, float(k * 100 + s))]))
            st, body = srv.push(batch)
            if st != 204:
                errors.append(f"writer {w} got {st} {body!r}")
                return
            with lock:
                for labels, samples in batch:
                    acked.setdefault(tuple(sorted(labels.items())), []).extend(samples)
            k += 1

    def reader():
        while time.time() < deadline and not errors:
            st, doc = srv.get_json("/api/v1/query", {"query": "par", "time": str((t0 + 3_600_000) / 1000.0)})
            st2, doc2 = srv.get_json("/api/v1/series", {"match[]": "par"})
            if st != 200 or st2 != 200:
                errors.append(f"reader got {st} {doc} / {st2} {doc2}")

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    check(not errors, f"errors under load: {errors[:3]}")
    total = sum(len(v) for v in acked.values())
    check(total > 0, "no samples were written")
    got = raw_samples(srv, "par", t0 + 3_600_000, "2h")
    check(got == acked, f"acknowledged samples missing: acked {total}, "
                        f"got {sum(len(v) for v in got.values())}")
    srv.stop(signal.SIGKILL)
    srv.start()
    got = raw_samples(srv, "par", t0 + 3_600_000, "2h")
    check(got == acked, "acknowledged samples lost after kill -9")
    ctx.note(f"parallel: {total} samples from 4 writers acknowledged and verified")
