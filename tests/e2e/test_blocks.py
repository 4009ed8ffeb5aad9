"""test_blocks owns the end-to-end proof of on-disk blocks: days of pushed samples are cut into
blocks by the real binary (the head keeps a 2 h window), and every raw sample read back over HTTP
equals what was acknowledged, after the cut, after a clean restart, after kill -9 (also at random
moments while cuts run), and after out-of-order samples land in an already-cut range."""
import os
import random
import signal
import subprocess
import time

from lib import TestFailure, check, now_ms

DAY = 86400 * 1000
STEP = 300 * 1000


def window_flag(ctx):
    """--storage.head-window if this binary has it (the default is 2h either way)."""
    p = subprocess.run([ctx.binary, "--help"], capture_output=True, text=True, timeout=10)
    return ["--storage.head-window", "2h"] if "storage.head-window" in p.stdout else []


def cut_only_flags(ctx):
    """window_flag plus background compaction off if the binary has the flag: these tests count
    the blocks that cuts make (test_compaction covers merging them)."""
    p = subprocess.run([ctx.binary, "--help"], capture_output=True, text=True, timeout=10)
    return window_flag(ctx) + (["--storage.compaction", "false"] if "storage.compaction" in p.stdout else [])


def blocks(srv):
    d = os.path.join(srv.data_dir, "blocks")
    try:
        return sorted(n for n in os.listdir(d) if len(n) == 8 and n.isdigit())
    except FileNotFoundError:
        return []


def cuts_done(srv):
    return srv.log_text().count("blocks below")


def wait_blocks(srv, more_than=0, timeout=60):
    """Waits until more than more_than blocks exist and cutting has settled: no new cut finished
    and no block appeared for 2.5 s (a pending cut starts within about a second)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = (cuts_done(srv), blocks(srv))
        if len(state[1]) > more_than and state[0] > 0:
            time.sleep(2.5)
            if (cuts_done(srv), blocks(srv)) == state:
                return state[1]
            continue
        time.sleep(0.1)
    raise TestFailure(f"no block cut within {timeout}s (have {blocks(srv)}):\n{srv.log_tail()}")


def push_history(srv, truth, names, start, end, step, jitter=0):
    """Pushes samples for the given series names time-major, recording them in truth."""
    batch = []
    for t0 in range(start, end, step * 24):
        for name in names:
            pts = []
            for t in range(t0, min(t0 + step * 24, end), step):
                tt = t + (random.randrange(jitter) if jitter else 0)
                v = round(random.uniform(-1000, 1000), 2) if name.endswith("g") else float(len(truth.get(name, {})))
                pts.append((tt, v))
                truth.setdefault(name, {})[tt] = v
            batch.append(({"__name__": "blk", "s": name, "job": "j" + name[-1]}, pts))
        if len(batch) >= 40:
            st, body = srv.push(batch)
            check(st == 204, f"push: {st} {body!r}")
            batch = []
    if batch:
        st, body = srv.push(batch)
        check(st == 204, f"push: {st} {body!r}")


def read_all(srv, at_ms, span="5d"):
    data = srv.query(f"blk[{span}]", at_ms / 1000.0)
    out = {}
    for s in data["result"]:
        out[s["metric"]["s"]] = [(int(round(float(t) * 1000)), float(v)) for t, v in s["values"]]
    return out


def verify(srv, truth, at_ms, what):
    got = read_all(srv, at_ms)
    check(sorted(got) == sorted(truth), f"{what}: series {sorted(got)} != {sorted(truth)}")
    for name, smp in truth.items():
        want = sorted(smp.items())
        g = got[name]
        if g != want:
            missing = sorted(set(want) - set(g))[:5]
            extra = sorted(set(g) - set(want))[:5]
            raise TestFailure(f"{what}: series {name}: {len(g)} samples, want {len(want)}; "
                              f"missing {missing} extra {extra}\n{srv.log_tail()}")
    # the metadata API sees series whose data lives only in blocks
    old = (at_ms - 3 * DAY + 3600 * 1000) / 1000.0
    st, doc = srv.get_json("/api/v1/label/s/values", {"start": f"{old:.3f}", "end": f"{old + 3600:.3f}"})
    check(st == 200 and sorted(doc["data"]) == sorted(n for n in truth if min(truth[n]) <= old * 1000),
          f"{what}: label values over an old range: {doc}")


def test_blocks_cut_restart_and_kill(ctx):
    srv = ctx.server(["--retention", "0"] + cut_only_flags(ctx))
    random.seed(4)
    truth = {}
    end = now_ms() - 60000
    names = [f"s{i}{'g' if i % 2 else 'c'}" for i in range(16)]
    push_history(srv, truth, names, end - 3 * DAY, end, STEP, jitter=1000)
    found = wait_blocks(srv)
    check(len(found) >= 30, f"expected a block per 2 h over 3 days, got {len(found)}")
    at = now_ms()
    verify(srv, truth, at, "after the cut")
    wal = sum(os.path.getsize(os.path.join(srv.data_dir, "wal", f)) for f in os.listdir(os.path.join(srv.data_dir, "wal")))
    srv.stop()
    srv.start()
    verify(srv, truth, at, "after restart")
    log = srv.log_text()
    check("already in blocks" in log, "replay did not report skipping block data")
    srv.stop(signal.SIGKILL)
    srv.start()
    verify(srv, truth, at, "after kill -9")
    check(blocks(srv) == found, f"restart changed the blocks: {found} -> {blocks(srv)}")
    ctx.note(f"3 days x 16 series: {len(found)} blocks, WAL {wal} bytes after the cut")


def test_blocks_out_of_order_into_cut_range(ctx):
    srv = ctx.server(["--retention", "0"] + cut_only_flags(ctx))
    random.seed(5)
    truth = {}
    end = now_ms() - 60000
    names = ["o1c", "o2g"]
    push_history(srv, truth, names, end - 2 * DAY, end, STEP)
    first = wait_blocks(srv)
    # new samples between existing ones, one replaced value, and a brand new series, all a day old
    base = (end - DAY) // STEP * STEP
    if base < end - 2 * DAY:
        base += STEP
    late = [(base + 1000, 1.5), (base + STEP + 7, -2.0), (base + 2 * STEP, 99.0)]
    old = [t for t in truth["o1c"] if t >= base][0:3]
    batch = [({"__name__": "blk", "s": "o1c", "job": "jc"}, late + [(old[2], 12345.0)]),
             ({"__name__": "blk", "s": "o3c", "job": "jc"}, late)]
    st, body = srv.push(batch)
    check(st == 204, f"late push: {st} {body!r}")
    for t, v in late:
        truth["o1c"][t] = v
        truth.setdefault("o3c", {})[t] = v
    truth["o1c"][old[2]] = 12345.0
    at = now_ms()
    verify(srv, truth, at, "late samples in the head")
    wait_blocks(srv, len(first))
    verify(srv, truth, at, "late samples cut into a new block")
    srv.stop()
    srv.start()
    verify(srv, truth, at, "late samples after restart")


def test_blocks_kill_during_cuts(ctx):
    srv = ctx.server(["--retention", "0"] + cut_only_flags(ctx))
    random.seed(6)
    truth = {}
    end = now_ms() - 60000
    kills = 0
    for round_ in range(8):
        names = [f"k{round_}x{i}{'g' if i % 2 else 'c'}" for i in range(6)]
        push_history(srv, truth, names, end - 2 * DAY, end, STEP * 2)
        time.sleep(random.uniform(0.0, 1.5))  # a cut starts within about a second
        srv.stop(signal.SIGKILL)
        kills += 1
        srv.start()
        verify(srv, truth, now_ms(), f"after kill -9 number {kills}")
    wait_blocks(srv)
    verify(srv, truth, now_ms(), "at the end")
    ctx.note(f"{kills} kills during cuts, {len(blocks(srv))} blocks, every acknowledged sample read back once")
