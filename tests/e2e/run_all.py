#!/usr/bin/env python3
"""run_all owns running every end-to-end test module against the real binaries.

Each test_* function in tests/e2e/test_*.py gets a fresh context; every server it starts runs on
its own free port and temp data dir. After each test every server still running is stopped with
SIGTERM and must exit 0 (under the sanitizer build that also proves no leaks), and its log must
hold no sanitizer report. The suite runs once against the normal build and once against the
ASan/UBSan build, then runs the independent shared seed check. Last line: 'N passed, M failed'.
"""
import argparse
import importlib
import os
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from lib import Server, TestFailure  # noqa: E402


class Context:
    def __init__(self, binary, example, soak_seconds):
        self.binary = binary
        self.example = example
        self.soak_seconds = soak_seconds
        self.servers = []
        self.notes = []

    def server(self, extra=(), start=True):
        srv = Server(self.binary, extra)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def note(self, text):
        self.notes.append(text)

    def finish(self):
        problems = []
        for srv in self.servers:
            try:
                if srv.alive():
                    code = srv.stop(signal.SIGTERM)
                    if code != 0:
                        problems.append(f"server exited {code} on SIGTERM:\n{srv.log_tail()}")
                rep = srv.sanitizer_report()
                if rep:
                    problems.append("sanitizer report:\n" + rep)
            finally:
                srv.cleanup()
        return problems


def discover(only):
    tests = []
    for fn in sorted(os.listdir(HERE)):
        if fn.startswith("test_") and fn.endswith(".py"):
            mod = importlib.import_module(fn[:-3])
            for name in sorted(dir(mod)):
                if name.startswith("test_") and callable(getattr(mod, name)):
                    full = f"{fn[:-3]}.{name}"
                    if not only or any(o in full for o in only):
                        tests.append((full, getattr(mod, name)))
    return tests


def run_suite(label, binary, example, tests, soak_seconds):
    passed = failed = 0
    for name, fn in tests:
        ctx = Context(binary, example, soak_seconds)
        t0 = time.time()
        err = None
        try:
            fn(ctx)
        except TestFailure as e:
            err = str(e)
        except Exception:
            err = traceback.format_exc()
        problems = ctx.finish()
        if problems and not err:
            err = "\n".join(problems)
        dt = time.time() - t0
        if err:
            failed += 1
            print(f"FAIL [{label}] {name} ({dt:.1f}s): {err[:6000]}", flush=True)
        else:
            passed += 1
            extra = ("  " + "; ".join(ctx.notes)) if ctx.notes else ""
            print(f"ok   [{label}] {name} ({dt:.1f}s){extra}", flush=True)
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--asan-binary")
    ap.add_argument("--example", required=True)
    ap.add_argument("--shared-e2e")
    ap.add_argument("--only", nargs="*", default=[])
    ap.add_argument("--soak-seconds", type=float, default=6.0)
    args = ap.parse_args()
    tests = discover(args.only)
    total_p = total_f = 0
    suites = [("release", os.path.abspath(args.binary))]
    if args.asan_binary:
        suites.append(("asan", os.path.abspath(args.asan_binary)))
    for label, binary in suites:
        p, f = run_suite(label, binary, os.path.abspath(args.example), tests, args.soak_seconds)
        total_p += p
        total_f += f
    if args.shared_e2e and os.path.exists(args.shared_e2e) and not args.only:
        for label, binary in suites:
            r = subprocess.run([sys.executable, args.shared_e2e, "--binary", binary],
                               capture_output=True, text=True, timeout=300)
            last = (r.stdout.strip().splitlines() or ["(no output)"])[-1]
            if r.returncode == 0:
                total_p += 1
                print(f"ok   [{label}] shared seed_e2e.py: {last}")
            else:
                total_f += 1
                print(f"FAIL [{label}] shared seed_e2e.py: {r.stdout[-4000:]}{r.stderr[-2000:]}")
    print(f"e2e: {total_p} passed, {total_f} failed")
    return 0 if total_f == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
