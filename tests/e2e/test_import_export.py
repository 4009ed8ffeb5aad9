"""test_import_export owns the end-to-end checks of POST /api/v1/import/prometheus, POST
/api/v1/import and GET /api/v1/export: the JSON-lines export of one server imported into a fresh
one exports byte-identically (NaN, +-Inf, -0, extreme floats and staleness markers included,
compared bit for bit), the text-format round trip (which drops only stale markers, as
documented), and the import rules: a syntax error names its line and stores nothing, labels are
validated as remote_write validates them, HELP/TYPE become metadata, OpenMetrics is tolerated."""
import json
import math
import struct

from lib import check, now_ms
from promwire import STALE_NAN


def _bits(v):
    return struct.pack("<d", v)


def _data(t0):
    specials = [1.0, float("nan"), float("inf"), float("-inf"), STALE_NAN, -0.0, 5e-324, 1.7976931348623157e308,
                0.1, 1 / 3, -123456789.125, 2.0]
    return [
        ({"__name__": "rt_special", "kind": "floats"}, [(t0 + i * 1000, v) for i, v in enumerate(specials)]),
        ({"__name__": "rt_labels", "q": 'say "hi"\\\n', "u": "héllo ✓ 😀"}, [(t0 + i * 15000, float(i)) for i in range(40)]),
        ({"__name__": "rt_counter_total", "job": "a", "instance": "h:1"}, [(t0 + i * 10000, i * 2.5) for i in range(100)]),
        ({"__name__": "rt_counter_total", "job": "b", "instance": "h:2"}, [(t0 + i * 10000, i * 1.0) for i in range(100)]),
    ]


def _export(srv, params):
    st, body, hdr = srv.request("GET", "/api/v1/export", params=params)
    check(st == 200, f"export {params}: {st} {body[:300]!r}")
    return body


def _values_by_series(jsonl):
    out = {}
    for line in jsonl.decode().splitlines():
        doc = json.loads(line)
        out[json.dumps(doc["metric"], sort_keys=True)] = list(zip(doc["timestamps"], doc["values"]))
    return out


def test_jsonl_roundtrip_is_exact(ctx):
    a = ctx.server()
    t0 = now_ms() - 20 * 60 * 1000
    data = _data(t0)
    st, body = a.push(data)
    check(st == 204, f"push {st} {body!r}")
    params = {"match[]": ["{__name__=~\"rt_.*\"}"], "start": str(t0 / 1000 - 1), "end": str(now_ms() / 1000)}
    exp = _export(a, params)
    lines = exp.decode().splitlines()
    check(len(lines) == 4, f"want 4 series lines, got {len(lines)}:\n{exp[:1000]!r}")
    special = json.loads(next(l for l in lines if '"rt_special"' in l), parse_int=float)  # keeps -0
    check(special["values"][1:5] == ["NaN", "+Inf", "-Inf", "stale"], f"special spellings {special['values']}")
    check(special["timestamps"][0] == t0, f"timestamps in ms {special['timestamps'][:2]}")
    # every value parses back to the same bits we pushed (numbers as JSON numbers)
    for (t, v), got in zip(data[0][1], special["values"]):
        if isinstance(got, str):
            continue
        check(_bits(float(got)) == _bits(v), f"value {v!r} exported as {got!r}")

    b = ctx.server()
    st, body, _ = b.request("POST", "/api/v1/import", body=exp)
    check(st == 204, f"import into b: {st} {body!r}")
    exp_b = _export(b, params)
    check(exp_b == exp, f"re-export differs:\n{exp[:600]!r}\n{exp_b[:600]!r}")
    # the stored bits are the pushed bits, as the query API shows them
    r = b.query_range("rt_special", t0 / 1000, t0 / 1000 + 11, 1)["result"]
    vals = [v for _, v in r[0]["values"]] if r else []
    check("NaN" in vals and "+Inf" in vals and "-Inf" in vals, f"query over imported data: {vals}")
    # importing the same lines again changes nothing (duplicates of identical samples)
    st, _, _ = b.request("POST", "/api/v1/import", body=exp)
    check(st == 204 and _export(b, params) == exp, "re-import of the same export changed the data")
    # and exported samples survive a restart of the importing server
    b.stop()
    b.start()
    check(_export(b, params) == exp, "export after restart differs")


def test_text_format_roundtrip(ctx):
    a = ctx.server()
    t0 = now_ms() - 20 * 60 * 1000
    data = _data(t0)
    a.push(data)
    params = {"match[]": ["{__name__=~\"rt_.*\"}"], "start": str(t0 / 1000 - 1)}
    text = _export(a, dict(params, format="prometheus"))
    check(b"rt_special{kind=\"floats\"} NaN " in text and b" +Inf " in text and b" -Inf " in text,
          f"text export specials:\n{text[:600]!r}")
    check(b'q="say \\"hi\\"\\\\\\n"' in text, f"label escaping in text export:\n{text[:900]!r}")
    b = ctx.server()
    st, body, _ = b.request("POST", "/api/v1/import/prometheus", body=text)
    check(st == 204, f"text import: {st} {body!r}")
    want = _values_by_series(_export(a, params))
    got = _values_by_series(_export(b, params))
    for k in want:  # stale markers are the one thing the text format cannot carry
        want[k] = [(t, v) for t, v in want[k] if v != "stale"]
    check(got == want, f"text round trip differs:\n{json.dumps(want)[:800]}\n{json.dumps(got)[:800]}")


def test_import_rules(ctx):
    srv = ctx.server()
    t = now_ms() - 60000
    good = (f"# HELP imp_jobs_total Jobs run.\n# TYPE imp_jobs_total counter\n"
            f"imp_jobs_total{{queue=\"a\"}} 3 {t}\nimp_jobs_total{{queue=\"a\"}} 4 {t + 1000}\n"
            f"imp_gauge 7.5\n")
    st, body, _ = srv.request("POST", "/api/v1/import/prometheus", body=good.encode())
    check(st == 204, f"good import {st} {body!r}")
    r = srv.query_range('imp_jobs_total{queue="a"}', t / 1000, t / 1000 + 1, 1)["result"]
    check(r and [v for _, v in r[0]["values"]] == ["3", "4"], f"imported samples {r}")
    r = srv.query("imp_gauge", now_ms() / 1000)["result"]
    check(r and r[0]["value"][1] == "7.5", f"sample without timestamp gets now: {r}")
    st, doc = srv.get_json("/api/v1/metadata", params={"metric": "imp_jobs_total"})
    check(doc["data"].get("imp_jobs_total") == [{"type": "counter", "help": "Jobs run.", "unit": ""}],
          f"HELP/TYPE as metadata: {doc}")

    def refused(body, want_status, want_text, path="/api/v1/import/prometheus", headers=None):
        st, msg, _ = srv.request("POST", path, body=body, headers=headers)
        check(st == want_status and want_text in msg.decode(errors="replace"),
              f"{body[:80]!r}: want {want_status} with {want_text!r}, got {st} {msg!r}")

    # a syntax error on line 3 names line 3 and stores nothing from lines 1-2
    refused(f"imp_nothing 1 {t}\nimp_nothing 2 {t + 1}\nimp_nothing{{a=\"b\" 3\n".encode(), 400, "line 3")
    refused(b"imp_bad_value abc\n", 400, "line 1: invalid value")
    refused(b"imp_dup{a=\"1\",a=\"2\"} 1\n", 400, "duplicate")
    refused(b"imp_utf8{a=\"\xff\"} 1\n", 400, "UTF-8")
    refused(b'{"metric":{"__name__":"imp_nothing"},"values":[1],"timestamps":[1,2]}\n', 400, "line 1",
            path="/api/v1/import")
    refused(b'{"metric":{"__name__":"imp_nothing"},"values":[1],"timestamps":[' + str(t).encode() + b']}\n'
            b'{"metric":{"__name__":"imp_nothing","a":"x","a":"y"},"values":[1],"timestamps":[1]}\n', 400,
            "line 2", path="/api/v1/import")
    refused(b"x 1\n", 400, "Content-Encoding", headers={"Content-Encoding": "gzip"})
    st, doc = srv.get_json("/api/v1/series", params={"match[]": "imp_nothing"})
    check(doc["data"] == [], f"a refused body stored something: {doc}")
    st, _, _ = srv.request("GET", "/api/v1/import/prometheus")
    check(st == 405, f"GET import {st}")

    # OpenMetrics: seconds timestamps, exemplars, _created lines and # EOF
    om = (f"# TYPE om_req counter\n# UNIT om_req seconds\nom_req_total 5 {t / 1000:.3f} # {{trace_id=\"x\"}} 1\n"
          f"om_req_created {t / 1000:.3f}\n# EOF\n")
    st, body, _ = srv.request("POST", "/api/v1/import/prometheus", body=om.encode(),
                              headers={"Content-Type": "application/openmetrics-text; version=1.0.0"})
    check(st == 204, f"openmetrics import {st} {body!r}")
    r = srv.query("om_req_total", t / 1000)["result"]
    check(r and r[0]["value"][1] == "5", f"openmetrics sample (seconds timestamp) {r}")
    check(srv.query("om_req_created", now_ms() / 1000)["result"], "_created line (no timestamp: now) not stored")


def test_export_params(ctx):
    srv = ctx.server()
    t0 = now_ms() - 10 * 60 * 1000
    srv.push([({"__name__": "ex_a", "i": str(i)}, [(t0 + k * 1000, float(k)) for k in range(10)]) for i in range(3)])
    st, body, _ = srv.request("GET", "/api/v1/export")
    check(st == 400 and b"match[]" in body, f"export without match[]: {st} {body!r}")
    st, body, _ = srv.request("GET", "/api/v1/export", params={"match[]": "ex_a{", "start": "0"})
    check(st == 400, f"bad selector {st}")
    st, body, _ = srv.request("GET", "/api/v1/export", params={"match[]": "ex_a", "format": "xml"})
    check(st == 400, f"bad format {st}")
    # a time window cuts samples; two overlapping selectors give each series once, sorted
    body = _export(srv, {"match[]": ['ex_a{i="1"}', 'ex_a{i=~"[01]"}'], "start": str((t0 + 2000) / 1000),
                         "end": str((t0 + 4000) / 1000)})
    lines = [json.loads(l) for l in body.decode().splitlines()]
    check([l["metric"]["i"] for l in lines] == ["0", "1"], f"union/sort {lines}")
    check(lines[0]["timestamps"] == [t0 + 2000, t0 + 3000, t0 + 4000] and lines[0]["values"] == [2, 3, 4],
          f"window {lines[0]}")
    st, body, hdr = srv.request("POST", "/api/v1/export", body=b"match[]=ex_a&format=prometheus",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    check(st == 200 and body.count(b"\n") == 30 and hdr.get("Content-Type", "").startswith("text/plain"),
          f"form POST text export {st} {body[:200]!r}")
    check(math.isclose(float(body.split(b"\n")[0].split(b" ")[1]), 0.0), "first text value")
