"""test_crashloop owns the CI-sized crash-consistency loop (crashloop.py with ~10 SIGKILLs while
writers push: every acknowledged sample back exactly once after each restart; also while blocks
are cut and while they are compacted) and the proof that its verifier does fail on a lost,
altered or invented sample."""
import crashloop
from lib import TestFailure, check, now_ms


def test_crashloop_ten_kills(ctx):
    s = crashloop.run(ctx.binary, kills=10, writers=4, series=8, per_batch=5, min_run=0.2, max_run=1.0,
                      log=lambda _msg: None)
    check(s["kills"] == 10, f"only {s['kills']} kills")
    check(s["verified"] > 1000 and s["verified"] == s["samples_sent"],
          f"verified {s['verified']} of {s['samples_sent']} samples")
    ctx.note(f"{s['kills']} kills, {s['verified']} samples verified, {s['requests_in_doubt']} requests in doubt "
             f"(seed {s['seed']})")


def test_crashloop_kills_during_block_cuts(ctx):
    """Timestamps sweep 12 h in big steps with a 1 m head window, so blocks are cut and the WAL
    truncated continuously while the server is being killed."""
    s = crashloop.run(ctx.binary, kills=10, writers=2, series=4, per_batch=5, min_run=0.3, max_run=1.2,
                      log=lambda _msg: None, start_ago_s=12 * 3600, step_ms=5000,
                      server_args=["--storage.head-window", "1m"])
    check(s["verified"] == s["samples_sent"], f"verified {s['verified']} of {s['samples_sent']} samples")
    check(s["blocks"] >= 1, f"no block was cut during the loop: {s}")
    ctx.note(f"{s['kills']} kills, {s['blocks']} blocks, {s['verified']} samples verified (seed {s['seed']})")


def test_crashloop_kills_during_compaction(ctx):
    """Timestamps sweep 3 days with a 1 m head window while two writers push late samples into
    ranges already cut, so small blocks appear at every cut and merges (2 h -> 6 h -> 24 h, and
    late blocks into their days) run while the server is being killed."""
    m = crashloop.MODES["compaction"]
    s = crashloop.run(ctx.binary, kills=10, writers=2, series=4, per_batch=5, min_run=0.3, max_run=1.2,
                      log=lambda _msg: None, start_ago_s=m["start_ago_s"], step_ms=m["step_ms"],
                      old_writers=m["old_writers"], merge_kill_frac=m["merge_kill_frac"],
                      server_args=m["server_args"])
    check(s["verified"] == s["samples_sent"], f"verified {s['verified']} of {s['samples_sent']} samples")
    check(s["merges"] >= 1, f"no merge finished during the loop: {s}")
    ctx.note(f"{s['kills']} kills ({s['kills_mid_merge']} mid-merge), {s['merges']} merges, {s['blocks']} blocks, "
             f"{s['verified']} samples verified (seed {s['seed']})")


def test_crashloop_verifier_catches_loss(ctx):
    srv = ctx.server()
    t0 = now_ms() - 3_600_000
    st = crashloop.State()
    ts = [t0 + 10, t0 + 20]
    st.sent[(0, 0)] = {t: crashloop._value(0, 0, t) for t in ts}
    st.acked[(0, 0)] = {ts[0]}
    code, _ = srv.push([({"__name__": crashloop.METRIC, "w": "0", "s": "0"}, [(ts[0], st.sent[(0, 0)][ts[0]])])])
    check(code == 204, f"push: {code}")
    check(crashloop._verify(st, srv, t0, final=False) == 1, "verifier did not count the stored sample")

    def must_fail(what):
        try:
            crashloop._verify(st, srv, t0, final=False)
        except TestFailure:
            return
        raise TestFailure(f"verifier missed {what}")

    st.acked[(0, 0)].add(ts[1])  # acknowledged but never stored: a loss
    must_fail("a lost acknowledged sample")
    st.acked[(0, 0)].discard(ts[1])
    st.sent[(0, 0)][ts[0]] += 1  # stored value differs from what was sent
    must_fail("a changed value")
    st.sent[(0, 0)][ts[0]] -= 1
    srv.push([({"__name__": crashloop.METRIC, "w": "0", "s": "0"}, [(t0 + 15, 1.0)])])  # never "sent"
    must_fail("an invented sample")
