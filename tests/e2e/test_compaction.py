"""test_compaction owns the end-to-end proof of block compaction: days of pushed samples are cut
into 2 h blocks by the real binary, then merged (2 h -> 6 h -> 24 h); raw samples and PromQL
results read back over HTTP are identical before the cut, after it, after compaction and after
a restart, while the block count and bytes on disk drop; out-of-order samples landing in
compacted ranges are merged in (the extra small blocks disappear) and read back exactly."""
import json
import os
import re
import random
import time

from lib import TestFailure, check, now_ms
from test_blocks import push_history, verify

DAY = 86400 * 1000
STEP = 60 * 1000


def block_dirs(srv):
    d = os.path.join(srv.data_dir, "blocks")
    try:
        return sorted(n for n in os.listdir(d) if len(n) == 8 and n.isdigit())
    except FileNotFoundError:
        return []


def block_bytes(srv):
    d = os.path.join(srv.data_dir, "blocks")
    total = 0
    for b in block_dirs(srv):
        for f in os.listdir(os.path.join(d, b)):
            total += os.path.getsize(os.path.join(d, b, f))
    return total


def activity(srv):
    text = srv.log_text()
    return text.count("blocks below"), text.count("compact: ")


def admin(srv, what):
    """POST /api/v1/admin/tsdb/<what> if this binary serves it; False when it does not."""
    st, body, _ = srv.request("POST", f"/api/v1/admin/tsdb/{what}")
    if st in (404, 405):
        return False
    check(200 <= st < 300, f"admin {what}: {st} {body[:300]!r}")
    return True


def wait_settled(srv, want=lambda blocks, cuts, comps: True, timeout=120):
    """Waits until no cut or merge finished and no block appeared or vanished for 2.5 s (work
    starts within about a second) and want(...) holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = (activity(srv), block_dirs(srv))
        time.sleep(2.5)
        if (activity(srv), block_dirs(srv)) == state and want(len(state[1]), *state[0]):
            return state[1]
    raise TestFailure(f"blocks did not settle within {timeout}s ({len(block_dirs(srv))} blocks):\n{srv.log_tail()}")


QUERIES = [
    ("instant", "blk[5d]"),
    ("instant", "count_over_time(blk[5d])"),
    ("range", "sum by (job) (rate(blk[2h]))", 1800),
    ("range", "max_over_time(blk[6h])", 3600),
    ("range", "blk", 900),
]


def snapshot(srv, at_ms):
    out = []
    for q in QUERIES:
        if q[0] == "instant":
            out.append(srv.query(q[1], at_ms / 1000.0))
        else:
            out.append(srv.query_range(q[1], (at_ms - 4 * DAY) / 1000.0, at_ms / 1000.0, q[2]))
    return out


def same(srv, want, at_ms, what):
    got = snapshot(srv, at_ms)
    for q, a, b in zip(QUERIES, want, got):
        if a != b:
            raise TestFailure(f"{what}: {q[1]!r} differs from before the cut "
                              f"({len(a.get('result', []))} vs {len(b.get('result', []))} series)\n{srv.log_tail()}")


def test_compaction_results_equal(ctx):
    base = ["--web.enable-admin-api", "--retention", "0"]
    # 1. everything in the head: the reference answers
    srv = ctx.server(base + ["--storage.head-window", "0"])
    random.seed(11)
    truth = {}
    end = now_ms() - 60000
    names = [f"c{i}{'g' if i % 2 else 'c'}" for i in range(24)]
    push_history(srv, truth, names, end - 4 * DAY, end, STEP, jitter=2000)
    at = now_ms()
    ref = snapshot(srv, at)
    verify(srv, truth, at, "in the head")

    # 2. cut into 2 h blocks, no compaction
    srv.stop()
    srv.extra = base + ["--storage.head-window", "2h", "--storage.compaction", "false"]
    srv.start()
    cut = wait_settled(srv, lambda n, cuts, comps: cuts > 0 and n >= 40)
    same(srv, ref, at, "after the cut")
    verify(srv, truth, at, "after the cut")
    flushed = admin(srv, "flush")
    if flushed:
        cut = wait_settled(srv)
        same(srv, ref, at, "after a flush")
    n_cut, bytes_cut = len(cut), block_bytes(srv)

    # 3. compaction
    srv.stop()
    srv.extra = base + ["--storage.head-window", "2h"]
    srv.start()
    if not admin(srv, "compact"):
        wait_settled(srv, lambda n, cuts, comps: comps > 0)
    merged = wait_settled(srv)
    n_comp, bytes_comp = len(merged), block_bytes(srv)
    check(n_comp * 3 < n_cut, f"compaction left {n_comp} of {n_cut} blocks")
    check(bytes_comp < bytes_cut, f"compaction did not shrink the blocks: {bytes_cut} -> {bytes_comp} bytes")
    same(srv, ref, at, "after compaction")
    verify(srv, truth, at, "after compaction")
    st, body, _ = srv.request("GET", "/metrics")
    m = re.search(rb"^metricstor_compactions_total (\d+)$", body, re.M)
    merged_in = re.search(rb"^metricstor_compaction_blocks_merged_total (\d+)$", body, re.M)
    check(st == 200 and m and int(m.group(1)) > 0 and merged_in and int(merged_in.group(1)) >= n_cut - n_comp,
          f"/metrics does not count the compactions: {m and m.group(0)} {merged_in and merged_in.group(0)}")
    st, body, _ = srv.request("GET", "/api/v1/status/tsdb")
    extra = json.loads(body)["data"]["metricstor"]
    check(extra["compactions"] == int(m.group(1)) and extra["blocks"] == n_comp,
          f"status/tsdb disagrees: {extra} vs {m.group(0)} and {n_comp} blocks")

    # 4. restart
    srv.stop()
    srv.start()
    check(block_dirs(srv) == merged, f"restart changed the blocks: {merged} -> {block_dirs(srv)}")
    same(srv, ref, at, "after restart")

    # 5. out-of-order samples into compacted days: new samples, replaced values, a new series
    late_base = (end - 3 * DAY) // STEP * STEP
    batch = []
    for k, name in enumerate(names[:6]):
        old_ts = sorted(t for t in truth[name] if t >= late_base)[:4]
        pts = [(late_base + 17 + k, 1000.5 + k), (late_base + DAY + 29, -3.25), (old_ts[2], 4242.0 + k)]
        for t, v in pts:
            truth[name][t] = v
        batch.append(({"__name__": "blk", "s": name, "job": "j" + name[-1]}, pts))
    # (one sample 3 d - 90 min back: verify() expects a series this old in its label-values window)
    late_new = [(late_base + 5, 1.0), (now_ms() - 3 * DAY + 90 * 60000, 1.5), (late_base + DAY + 5, 2.0),
                (late_base + 2 * DAY + 5, 3.0)]
    truth["lateg"] = dict(late_new)
    batch.append(({"__name__": "blk", "s": "lateg", "job": "jg"}, late_new))
    st, body = srv.push(batch)
    check(st == 204, f"late push: {st} {body!r}")
    at2 = now_ms()
    ref2 = snapshot(srv, at2)
    verify(srv, truth, at2, "late samples, before their cut")
    admin(srv, "flush")
    admin(srv, "compact")
    # the late samples' small blocks are merged into their days: as many blocks as before
    final = wait_settled(srv, lambda n, cuts, comps: n <= n_comp)
    check(len(final) == n_comp, f"late samples left extra blocks: {len(final)} vs {n_comp}")
    same(srv, ref2, at2, "late samples after compaction")
    verify(srv, truth, at2, "late samples after compaction")
    srv.stop()
    srv.start()
    same(srv, ref2, at2, "late samples after restart")
    verify(srv, truth, at2, "late samples after restart")
    ctx.note(f"4 days x {len(names)} series at 60 s: {n_cut} blocks / {bytes_cut} bytes after the cut -> "
             f"{n_comp} blocks / {bytes_comp} bytes after compaction (admin flush {'used' if flushed else 'absent'})")
