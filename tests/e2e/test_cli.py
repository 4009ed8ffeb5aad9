"""test_cli owns the end-to-end checks of build/metricstor-cli against the real server: query,
query-range and series print aligned tables with the right rows, import FILE stores a text or
JSON-lines file (with a progress bar only on a terminal, and file line numbers in errors),
export writes what /api/v1/export serves, and `tsdb analyze` refuses a data dir a running server
holds, then reports cardinality once it is stopped."""
import os
import pty
import subprocess
import tempfile

from lib import check, cli_path, now_ms


def _run(ctx, *args, input=None):
    r = subprocess.run([cli_path(ctx)] + list(args), capture_output=True, text=True, timeout=60, input=input)
    return r.returncode, r.stdout, r.stderr


def _columns_aligned(out, header_words):
    """Every table line puts column k at the same offset as the header's k-th word."""
    lines = out.splitlines()
    head = lines[0]
    starts = [head.index(w) for w in header_words]
    check(set(lines[1]) == {"-"}, f"no rule under the header:\n{out}")
    for line in lines[2:]:
        if line.startswith("("):
            break
        for s in starts[1:]:
            check(len(line) > s and line[s - 1] == " " and line[s] != " ", f"column not aligned at {s}:\n{out}")


def test_query_series_tables(ctx):
    srv = ctx.server()
    t = now_ms() - 120000
    srv.push([({"__name__": "cli_temp", "room": "kitchen", "floor": "1"}, [(t + i * 10000, 20.0 + i) for i in range(12)]),
              ({"__name__": "cli_temp", "room": "hall", "floor": "2"}, [(t + i * 10000, 10.0) for i in range(12)])])
    url = ["--url", srv.base]
    rc, out, err = _run(ctx, *url, "query", "--time", str((t + 110000) / 1000), "cli_temp")
    check(rc == 0, f"query rc {rc} {err}")
    check(out.splitlines()[0].split() == ["SERIES", "TIME", "VALUE"], f"header:\n{out}")
    check('cli_temp{floor="1", room="kitchen"}' in out and " 31\n" in out and " 10\n" in out, f"query rows:\n{out}")
    check("(2 series, 2 points, vector)" in out, out)
    _columns_aligned(out, ["SERIES", "TIME", "VALUE"])

    rc, out, err = _run(ctx, *url, "query-range", "--start", str(t / 1000), "--end", str((t + 30000) / 1000),
                        "--step", "10s", 'cli_temp{room="kitchen"}')
    check(rc == 0 and "(1 series, 4 points, matrix)" in out, f"query-range rc {rc}:\n{out}{err}")
    vals = [l.split()[-1] for l in out.splitlines()[2:6]]
    check(vals == ["20", "21", "22", "23"], f"range values {vals}:\n{out}")
    _columns_aligned(out, ["SERIES", "TIME", "VALUE"])

    rc, out, err = _run(ctx, *url, "series", "cli_temp")
    check(rc == 0 and out.splitlines()[0].split() == ["NAME", "floor", "room"], f"series:\n{out}{err}")
    check("(2 series)" in out and "kitchen" in out and "hall" in out, out)
    _columns_aligned(out, ["NAME", "floor", "room"])

    rc, out, err = _run(ctx, *url, "query", "sum(")
    check(rc == 1 and "bad_data" in err and "parse error" in err, f"bad query: rc {rc} {err!r}")
    rc, out, err = _run(ctx, "--url", "http://127.0.0.1:1", "query", "1")
    check(rc == 1 and "cannot connect" in err, f"no server: rc {rc} {err!r}")
    rc, out, err = _run(ctx, *url, "frobnicate")
    check(rc == 2 and "unknown command" in err, f"unknown command: {rc} {err!r}")


def test_import_export(ctx):
    srv = ctx.server()
    url = ["--url", srv.base]
    t = now_ms() - 300000
    tmp = tempfile.mkdtemp(prefix="ms-cli-")
    path = os.path.join(tmp, "data.prom")
    with open(path, "w") as f:
        f.write("# TYPE cli_imp gauge\n")
        for i in range(2000):
            f.write(f'cli_imp{{shard="{i % 4}"}} {i} {t + i * 100}\n')
    rc, out, err = _run(ctx, *url, "import", path)
    check(rc == 0 and "imported 2001 lines" in err, f"import rc {rc}: {err}")
    check("\r[" not in err, f"progress bar drawn without a terminal: {err!r}")
    r = srv.query("count(cli_imp)", now_ms() / 1000)["result"]
    check(r and r[0]["value"][1] == "4", f"imported series {r}")

    rc, out, err = _run(ctx, *url, "export", "--start", str(t / 1000 - 1), 'cli_imp{shard="1"}')
    st, body, _ = srv.request("GET", "/api/v1/export", params={"match[]": 'cli_imp{shard="1"}', "start": str(t / 1000 - 1)})
    check(rc == 0 and out.encode() == body and out.count("\n") == 1, f"export via cli differs: {out[:300]!r}")
    out_path = os.path.join(tmp, "out.jsonl")
    rc, _, err = _run(ctx, *url, "export", "--output", out_path, "--start", str(t / 1000 - 1), "cli_imp")
    check(rc == 0, f"export --output: {err}")
    # the JSON-lines export goes back in through the CLI too (format sniffed), into a fresh server
    other = ctx.server()
    rc, _, err = _run(ctx, "--url", other.base, "import", out_path)
    check(rc == 0, f"re-import of the export: {err}")
    st, body2, _ = other.request("GET", "/api/v1/export", params={"match[]": "cli_imp", "start": str(t / 1000 - 1)})
    with open(out_path, "rb") as f:
        check(body2 == f.read(), "round trip through the CLI differs")

    # an error names the file's line, and the bar appears on a terminal
    bad = os.path.join(tmp, "bad.prom")
    with open(bad, "w") as f:
        f.write(f"ok_line 1 {t}\nok_line 2 {t + 1}\nbroken{{ 3\n")
    rc, out, err = _run(ctx, *url, "import", bad)
    check(rc == 1 and "line 3" in err, f"bad import: rc {rc} {err!r}")
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(cli_path(ctx), [cli_path(ctx), "--url", srv.base, "import", path])
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    tty_out = b"".join(chunks).decode(errors="replace")
    check(os.WEXITSTATUS(status) == 0 and "\r[" in tty_out and "100%" in tty_out, f"no progress bar on a tty: {tty_out!r}")


def test_tsdb_analyze(ctx):
    srv = ctx.server()
    t = now_ms() - 60000
    series = [({"__name__": "an_big", "pod": f"p{i}", "ns": "x"}, [(t, 1.0)]) for i in range(30)]
    series += [({"__name__": "an_small", "ns": "y"}, [(t, 1.0)])]
    srv.push(series)
    rc, out, err = _run(ctx, "tsdb", "analyze", "--data-dir", srv.data_dir)
    check(rc == 1 and "locked by a running metricstor server" in err, f"analyze on a live dir: rc {rc} {err!r}")
    srv.stop()
    rc, out, err = _run(ctx, "tsdb", "analyze", "--data-dir", srv.data_dir, "--limit", "3")
    check(rc == 0, f"analyze rc {rc}: {err}")
    check("Series:          31" in out and "Metric names:    2" in out, f"summary:\n{out}")
    lines = out.splitlines()
    i = lines.index(next(l for l in lines if l.startswith("Top metric names by series")))
    check(lines[i + 3].split()[:2] == ["an_big", "30"] and lines[i + 4].split()[:2] == ["an_small", "1"],
          f"top metrics:\n{out}")
    j = lines.index(next(l for l in lines if l.startswith("Top label names by distinct values")))
    check(lines[j + 3].split() == ["pod", "30", "30"], f"top label names:\n{out}")
    rc, out, err = _run(ctx, "tsdb", "analyze", "--data-dir", os.path.join(srv.data_dir, "nope"))
    check(rc == 1 and "not a data directory" in err, f"missing dir: {rc} {err!r}")
