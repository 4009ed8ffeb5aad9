"""test_status owns the end-to-end checks of health, readiness, buildinfo and the help text."""
import subprocess

from lib import check


def test_health_ready_buildinfo(ctx):
    srv = ctx.server()
    st, body, _ = srv.request("GET", "/-/healthy")
    check(st == 200 and body, f"healthy {st}")
    st, body, _ = srv.request("GET", "/-/ready")
    check(st == 200, f"ready {st}")
    status, doc = srv.get_json("/api/v1/status/buildinfo")
    check(status == 200 and doc["status"] == "success" and doc["data"]["version"], f"buildinfo {doc}")
    log = srv.log_text()
    for word in ("ready", "/api/v1/write", "/api/v1/query", srv.data_dir):
        check(word in log, f"startup log lacks {word!r}:\n{log[:2000]}")


def test_help_and_bad_flags(ctx):
    p = subprocess.run([ctx.binary, "--help"], capture_output=True, text=True, timeout=10)
    out = p.stdout + p.stderr
    check(p.returncode == 0, f"--help exit {p.returncode}")
    for flag in ("--http-addr", "--data-dir", "--retention", "--log-level", "--wal-fsync", "127.0.0.1:9101"):
        check(flag in out, f"--help lacks {flag}")
    p = subprocess.run([ctx.binary, "--no-such-flag"], capture_output=True, text=True, timeout=10)
    check(p.returncode != 0 and p.stderr, "unknown flag accepted")
    p = subprocess.run([ctx.binary, "--retention", "banana"], capture_output=True, text=True, timeout=10)
    check(p.returncode != 0, "bad retention accepted")
