"""test_promtool owns the proof that promtool (the real Debian `promtool`, 2.42) gets the same
answers from Metricstor as from a real Prometheus holding identical data: `promtool query
instant|range|series|labels`, in both its text (promql) and json output formats, plus a query
error. The same samples are remote-written to both servers first."""
import json
import math
import subprocess

from lib import check, now_ms
from test_remote_read import Prom, ensure_installed

PROMTOOL = "/usr/bin/promtool"


def _data(t0):
    series = []
    for job, inst in (("api", "a:1"), ("api", "b:1"), ("db", "c:2")):
        for code in ("200", "500"):
            step = 3 if code == "200" else 1
            series.append(({"__name__": "pt_requests_total", "job": job, "instance": inst, "code": code},
                           [(t0 + i * 5000, float(i * step + len(inst))) for i in range(100)]))
    series.append(({"__name__": "pt_temp_celsius", "room": "lab"},
                   [(t0 + i * 5000, round(20 + 3 * math.sin(i / 9), 6)) for i in range(100)]))
    return series


def _run(*args):
    ensure_installed(PROMTOOL, "prometheus")
    r = subprocess.run([PROMTOOL, "query"] + list(args), capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


def _same(kind, a, b, fmt):
    (ca, oa, ea), (cb, ob, eb) = a, b
    check(ca == cb, f"promtool {kind}: exit {ca} (prometheus) vs {cb} (ours); stderr {ea!r} / {eb!r}")
    if fmt == "json":
        ja, jb = json.loads(oa), json.loads(ob)
        if isinstance(ja, list):
            key = lambda x: json.dumps(x, sort_keys=True)  # noqa: E731
            ja, jb = sorted(ja, key=key), sorted(jb, key=key)
        check(ja == jb, f"promtool {kind} json differs:\nprometheus {oa[:800]}\nours {ob[:800]}")
    else:
        check(sorted(oa.splitlines()) == sorted(ob.splitlines()),
              f"promtool {kind} output differs:\nprometheus {oa[:800]}\nours {ob[:800]}")
    return oa


def test_promtool_queries_match_prometheus(ctx):
    srv = ctx.server()
    prom = Prom("global:\n  scrape_interval: 1m\n", ["--web.enable-remote-write-receiver"])
    try:
        t0 = now_ms() - 600 * 1000
        data = _data(t0)
        status, body = srv.push(data)
        check(status == 204, f"push: {status} {body!r}")
        prom.push(data)
        t_end = (t0 + 99 * 5000) // 1000
        start, end = t0 // 1000, t_end
        cases = []
        for q in ("pt_requests_total", 'sum by (job) (rate(pt_requests_total[1m]))', "pt_temp_celsius * 2",
                  'pt_requests_total{code=~"5.."} > 50', "count(pt_requests_total)", "scalar(pt_temp_celsius)",
                  'topk(2, pt_requests_total{job="api"})', "1 + 1"):
            cases.append(("instant " + q, ["instant", f"--time={t_end}", "{srv}", q]))
        for q in ("rate(pt_requests_total[30s])", "avg(pt_temp_celsius)", 'sum by (code) (pt_requests_total)'):
            cases.append(("range " + q, ["range", f"--start={start + 60}", f"--end={end}", "--step=20s", "{srv}", q]))
        cases.append(("series", ["series", "{srv}", "--match=pt_requests_total{job='api'}",
                                 "--match=pt_temp_celsius", f"--start={start}", f"--end={end}"]))
        cases.append(("series all", ["series", "{srv}", '--match={__name__=~"pt_.*"}']))
        for name in ("__name__", "job", "code", "instance"):
            cases.append((f"labels {name}", ["labels", "{srv}", name]))
        cases.append(("labels job matched", ["labels", "{srv}", "job", "--match=pt_requests_total{code='500'}",
                                             f"--start={start}", f"--end={end}"]))
        non_empty = 0
        for fmt in ("promql", "json"):
            for kind, argv in cases:
                a = _run(*[x.replace("{srv}", prom.base) for x in argv], f"--format={fmt}")
                b = _run(*[x.replace("{srv}", srv.base) for x in argv], f"--format={fmt}")
                out = _same(f"{kind} ({fmt})", a, b, fmt)
                check(a[0] == 0, f"promtool {kind} against prometheus failed: {a[2]}")
                non_empty += bool(out.strip()) and out.strip() not in ("[]", "null")
        check(non_empty >= 2 * len(cases) - 2, f"only {non_empty} promtool outputs had data")
        # A query error is reported alike (exit code 1 and the same message).
        a = _run("instant", prom.base, "sum(")
        b = _run("instant", srv.base, "sum(")
        check(a[0] == b[0] == 1, f"bad query exit codes {a[0]} / {b[0]}")
        check(a[2] == b[2], f"bad query stderr differs:\nprometheus {a[2]!r}\nours {b[2]!r}")
    finally:
        prom.stop()
