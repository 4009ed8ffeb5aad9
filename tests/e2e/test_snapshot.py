"""test_snapshot owns the end-to-end proof of the head snapshot on the real binary: a SIGTERM
restart loads the snapshot the clean shutdown wrote (no WAL replay) and answers every query, the
series/labels/metadata APIs exactly as before; the snapshot is consumed, so a kill -9 after more
writes replays the WAL and loses nothing; a snapshot that no longer matches the WAL is ignored;
--storage.head-snapshot=false writes none."""
import os
import signal

from lib import check, now_ms


def _push(srv, t0, n_series, n_samples, name):
    """n_samples per series, one sample per series entry and request (as Prometheus sends), a
    few of them late (out of order) and one value replaced; returns {labels: [(t, v)]}."""
    want = {}
    series = []
    for s in range(n_series):
        labels = {"__name__": name, "instance": f"host-{s}", "job": "snap"}
        pts = {t0 + k * 15_000: float(s * 10_000 + k) + 0.5 for k in range(n_samples)}
        series.append((labels, sorted(pts.items())))
        want[tuple(sorted(labels.items()))] = pts
    order = list(range(n_samples))
    order[3], order[7] = order[7], order[3]  # sample 7 before 3: an out-of-order insert
    for k in order:
        st, body = srv.push([(labels, [pts[k]]) for labels, pts in series])
        check(st == 204, f"push {k}: {st} {body!r}")
    labels, pts = series[0]
    st, body = srv.push([(labels, [(pts[2][0], -1.0)])])  # replaces a value
    check(st == 204, f"replace: {st} {body!r}")
    want[tuple(sorted(labels.items()))][pts[2][0]] = -1.0
    return {k: sorted(v.items()) for k, v in want.items()}


def _answers(srv, names, end_ms):
    """Everything a client could see: raw samples per series, series and label APIs, metadata,
    an aggregate over a range."""
    out = {}
    for name in names:
        data = srv.query(f"{name}[1d]", end_ms / 1000.0)
        out[name] = sorted((tuple(sorted(s["metric"].items())),
                            [(int(round(float(t) * 1000)), float(v)) for t, v in s["values"]])
                           for s in data["result"])
    st, doc = srv.get_json("/api/v1/series", {"match[]": '{job="snap"}'})
    check(st == 200, f"series {st}")
    out["series"] = sorted(tuple(sorted(s.items())) for s in doc["data"])
    st, doc = srv.get_json("/api/v1/labels")
    out["labels"] = doc["data"]
    st, doc = srv.get_json("/api/v1/label/instance/values")
    out["instances"] = doc["data"]
    st, doc = srv.get_json("/api/v1/metadata")
    out["metadata"] = doc["data"]
    data = srv.query_range(f"sum(rate({names[0]}[5m]))", (end_ms - 1_800_000) / 1000.0, end_ms / 1000.0, 60)
    out["range"] = data["result"]
    return out


def _check_raw(got, want, what):
    as_dict = {k: v for k, v in got}
    check(len(as_dict) == len(want), f"{what}: {len(as_dict)} series, want {len(want)}")
    for k, pts in want.items():
        check(as_dict.get(k) == pts, f"{what}: {dict(k)} differs: {as_dict.get(k)} != {pts}")


def test_sigterm_restart_loads_snapshot_and_kill9_replays(ctx):
    srv = ctx.server()
    t0 = now_ms() - 3_600_000
    want = _push(srv, t0, 40, 200, "snap_a")
    st, body = srv.push([], metadata=[(2, "snap_a", "a gauge for the snapshot test", "bytes")])  # 2: GAUGE
    check(st == 204, f"metadata push {st} {body!r}")
    end = t0 + 200 * 15_000
    before = _answers(srv, ["snap_a"], end)
    _check_raw(before["snap_a"], want, "before any restart")

    code = srv.stop(signal.SIGTERM)
    check(code == 0, f"SIGTERM exit {code}")
    snap = os.path.join(srv.data_dir, "head.snapshot")
    check(os.path.exists(snap), "no head.snapshot after a clean shutdown:\n" + srv.log_tail())
    srv.start()
    check(srv.metric("metricstor_head_snapshot_loaded") == 1,
          "the restart replayed the WAL instead of loading the snapshot:\n" + srv.log_tail())
    check(not os.path.exists(snap), "the snapshot was left in place after loading")
    after = _answers(srv, ["snap_a"], end)
    for k in before:
        check(after[k] == before[k], f"{k} differs after the snapshot restart: {after[k]} != {before[k]}")

    # more writes on top of the loaded head, then a crash: the WAL must give back everything
    t1 = end + 15_000
    more = _push(srv, t1, 25, 40, "snap_b")
    srv.stop(signal.SIGKILL)
    check(not os.path.exists(snap), "a snapshot exists after kill -9")
    srv.start()
    check(srv.metric("metricstor_head_snapshot_loaded") == 0, "a crashed run's restart did not replay the WAL")
    end2 = t1 + 40 * 15_000
    crashed = _answers(srv, ["snap_a", "snap_b"], end2)
    _check_raw(crashed["snap_a"], want, "snap_a after kill -9")
    _check_raw(crashed["snap_b"], more, "snap_b after kill -9")
    check(crashed["metadata"] == before["metadata"], f"metadata after kill -9: {crashed['metadata']}")
    # and a clean restart of that state goes through a snapshot again, same answers
    check(srv.stop(signal.SIGTERM) == 0, "second SIGTERM")
    srv.start()
    check(srv.metric("metricstor_head_snapshot_loaded") == 1, "second snapshot restart did not load it")
    again = _answers(srv, ["snap_a", "snap_b"], end2)
    for k in crashed:
        check(again[k] == crashed[k], f"{k} differs after the second snapshot restart")


def test_snapshot_ignored_when_wal_changed(ctx):
    srv = ctx.server()
    t0 = now_ms() - 1_800_000
    want = _push(srv, t0, 20, 60, "snap_c")
    end = t0 + 60 * 15_000
    before = _answers(srv, ["snap_c"], end)
    check(srv.stop(signal.SIGTERM) == 0, "SIGTERM")
    wal = os.path.join(srv.data_dir, "wal")
    newest = sorted(f for f in os.listdir(wal) if f.isdigit())[-1]
    with open(os.path.join(wal, newest), "ab") as f:
        f.write(b"\x02\x01")  # a torn record: the WAL is no longer what the snapshot describes
    srv.start()
    check(srv.metric("metricstor_head_snapshot_loaded") == 0, "a snapshot of another WAL was loaded")
    check("head snapshot" in srv.log_text() and "ignored" in srv.log_text(),
          "no log line says why the snapshot was ignored:\n" + srv.log_tail())
    check(not os.path.exists(os.path.join(srv.data_dir, "head.snapshot")), "the ignored snapshot was kept")
    after = _answers(srv, ["snap_c"], end)
    _check_raw(after["snap_c"], want, "after the ignored snapshot")
    for k in before:
        check(after[k] == before[k], f"{k} differs after an ignored snapshot")


def test_snapshot_can_be_disabled(ctx):
    srv = ctx.server(extra=("--storage.head-snapshot=false",))
    t0 = now_ms() - 600_000
    want = _push(srv, t0, 5, 20, "snap_d")
    check(srv.stop(signal.SIGTERM) == 0, "SIGTERM")
    check(not os.path.exists(os.path.join(srv.data_dir, "head.snapshot")), "a snapshot was written while disabled")
    srv.start()
    check(srv.metric("metricstor_head_snapshot_loaded") == 0, "loaded a snapshot while disabled")
    after = _answers(srv, ["snap_d"], t0 + 20 * 15_000)
    _check_raw(after["snap_d"], want, "after a replay restart")
