"""test_corrupt owns the end-to-end proof that damaged files on disk never stop or crash the
server: blocks and WAL segments of a stopped server are damaged (a flipped byte in meta, in the
index, in a chunk; a truncated chunks file; a missing index file; a flipped byte in a WAL record),
and on restart the server starts, moves each block that fails its open checks to
<data_dir>/quarantine/ (not deleted, with a .reason file), lists them in /api/v1/status/tsdb and
/metrics, skips the corrupt WAL record (counted), serves every intact block exactly as before,
reads the chunk with a bad CRC as empty (counted), and moves nothing more on the next restart."""
import os
import random
import re
import signal
import struct

from lib import check, now_ms
from test_blocks import STEP, push_history, read_all, wait_blocks, window_flag

HOUR = 3600 * 1000


def block_range(srv, name):
    with open(os.path.join(srv.data_dir, "blocks", name, "meta"), "rb") as f:
        meta = f.read()
    return struct.unpack_from("<qq", meta, 8)


def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(0, 2)
        size = f.tell()
        off = off % size
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x5A]))


def wal_record_offsets(path):
    """(offset, type, payload_len) of each record of a WAL segment (8-byte header, no cut ext)."""
    with open(path, "rb") as f:
        data = f.read()
    out, off = [], 24 if data[5] & 1 else 8
    while off + 9 <= len(data):
        typ, plen, _ = struct.unpack_from("<BII", data, off)
        if off + 9 + plen > len(data):
            break
        out.append((off, typ, plen))
        off += 9 + plen
    return out


def status(srv):
    st, doc = srv.get_json("/api/v1/status/tsdb")
    check(st == 200 and doc["status"] == "success", f"status/tsdb {st} {doc}")
    return doc["data"]


def in_range(samples, lo, hi):
    return [(t, v) for t, v in samples if lo <= t <= hi]


def test_corrupt_blocks_and_wal(ctx):
    srv = ctx.server(["--retention", "0"] + window_flag(ctx))
    random.seed(7)
    truth = {}
    end = now_ms() - 60000
    names = [f"s{i}{'g' if i % 2 else 'c'}" for i in range(6)]
    # 9 days: compaction (2 h -> 6 h -> 24 h) still leaves a block per day to damage
    push_history(srv, truth, names, end - 9 * 24 * HOUR, end, STEP)
    found = wait_blocks(srv, more_than=5)
    at = now_ms()
    before = read_all(srv, at, span="10d")
    check(sorted(before) == sorted(truth), f"series before damage {sorted(before)}")
    # a few more samples after the cut, so the WAL holds sample records to damage
    recent = []
    for k in range(20):
        st, _ = srv.push([({"__name__": "blk", "s": "wal", "job": "jw"}, [(end + 1000 * k, float(k))])])
        check(st == 204, f"push {st}")
        recent.append(end + 1000 * k)
    srv.stop(signal.SIGTERM)

    bdir = os.path.join(srv.data_dir, "blocks")
    full = [b for b in found if os.path.getsize(os.path.join(bdir, b, "chunks")) > 64]
    check(len(full) >= 6, f"need 6 blocks (5 to damage, 1 intact), have {found}")
    bad_meta, bad_index, trunc_chunks, no_index, bad_chunk = full[0], full[1], full[2], full[3], full[4]
    meta_range = block_range(srv, bad_meta)
    flip(os.path.join(bdir, bad_meta, "meta"), 20)
    flip(os.path.join(bdir, bad_index, "index"), os.path.getsize(os.path.join(bdir, bad_index, "index")) // 2)
    cpath = os.path.join(bdir, trunc_chunks, "chunks")
    os.truncate(cpath, os.path.getsize(cpath) // 2)
    os.remove(os.path.join(bdir, no_index, "index"))
    ranges = {b: block_range(srv, b) for b in found if b != bad_meta}
    bad_chunk_range = ranges[bad_chunk]
    flip(os.path.join(bdir, bad_chunk, "chunks"), 8 + (os.path.getsize(os.path.join(bdir, bad_chunk, "chunks")) - 8) // 2)
    wal_dir = os.path.join(srv.data_dir, "wal")
    segs = sorted(f for f in os.listdir(wal_dir) if f.isdigit())
    # the segment holding the most sample records (a background cut may have started a new
    # segment holding only the re-logged series records after the pushes)
    def sample_records(seg):
        return [r for r in wal_record_offsets(os.path.join(wal_dir, seg)) if r[1] == 2]
    last = os.path.join(wal_dir, max(segs, key=lambda seg: len(sample_records(seg))))
    recs = wal_record_offsets(last)
    samples_recs = [r for r in recs if r[1] == 2]
    check(len(samples_recs) >= 5, f"WAL segment {last} has {len(recs)} records: {recs[:10]}")
    victim = samples_recs[len(samples_recs) // 2]
    flip(last, victim[0] + 9 + victim[2] // 2)

    srv.start()
    check(srv.alive(), "server did not start on damaged files")
    d = status(srv)
    ms = d["metricstor"]
    qnames = sorted(q["name"].split("-")[0] for q in ms["quarantine"])
    check(qnames == sorted([bad_meta, bad_index, trunc_chunks, no_index]),
          f"quarantined {ms['quarantine']}, want {bad_meta, bad_index, trunc_chunks, no_index}")
    # (compaction may merge intact blocks after the restart, and a cut may add one for the recent
    # samples, so: none of the damaged blocks is served, and the intact ones are at most the rest)
    def old_blocks_left():
        return [b for b in os.listdir(bdir) if b in found]
    check(ms["quarantinedBlocks"] == 4 and ms["blocks"] > 0 and 0 < len(old_blocks_left()) <= len(found) - 4,
          f"{ms}; blocks of before left: {old_blocks_left()} of {found}")
    reasons = {q["name"].split("-")[0]: q["reason"] for q in ms["quarantine"]}
    check("meta" in reasons[bad_meta] and "checksum" in reasons[bad_index] and "truncated" in reasons[trunc_chunks]
          and "index" in reasons[no_index], f"reasons {reasons}")
    qdir = os.path.join(srv.data_dir, "quarantine")
    for q in ms["quarantine"]:
        check(os.path.isdir(os.path.join(qdir, q["name"])) and os.path.exists(os.path.join(qdir, q["name"] + ".reason")),
              f"{q['name']} not kept in {os.listdir(qdir)}")
        check(not os.path.exists(os.path.join(bdir, q["name"].split("-")[0])), f"{q['name']} still in blocks/")
    check(os.path.exists(os.path.join(qdir, [q["name"] for q in ms["quarantine"]
                                             if q["name"].startswith(bad_meta)][0], "chunks")), "files were deleted")
    check(ms["walReplayCorruptRecords"] >= 1, f"WAL corruption not reported: {ms}")
    log = srv.log_text()
    check("quarantined to" in log and "corrupt record" in log, f"log lacks the reasons:\n{srv.log_tail()}")

    # every sample outside the lost blocks' ranges is served as before
    lost = [ranges[b] for b in (bad_index, trunc_chunks, no_index)] + [meta_range]
    after = read_all(srv, at, span="10d")
    for name, smp in before.items():
        got = after.get(name, [])
        keep = [(t, v) for t, v in smp if not any(lo <= t <= hi for lo, hi in lost)
                and not (bad_chunk_range[0] <= t <= bad_chunk_range[1])]
        missing = sorted(set(keep) - set(got))
        check(not missing, f"{name}: lost samples outside the damaged blocks: {missing[:3]}..{missing[-3:]}")
        lost_got = [(t, v) for t, v in got if any(lo <= t <= hi for lo, hi in lost)]
        check(not lost_got, f"{name}: samples served from quarantined ranges: {lost_got[:3]}")
        # inside the block with one bad chunk: a series is whole or empty
        part = in_range(got, *bad_chunk_range)
        want = in_range(smp, *bad_chunk_range)
        check(part in ([], want), f"{name}: partial data from the block with a bad chunk: {len(part)} of {len(want)}")
    d = status(srv)
    check(d["metricstor"]["corruptChunkReads"] >= 1, f"the bad chunk was not counted: {d['metricstor']}")
    st, body, _ = srv.request("GET", "/metrics")
    text = body.decode()
    check(re.search(r"^metricstor_quarantined_blocks 4$", text, re.M), "metrics lack metricstor_quarantined_blocks 4")
    check(re.search(r"^metricstor_block_corrupt_reads_total [1-9]", text, re.M), "metrics lack corrupt reads")
    # the WAL samples other than the damaged record's are back
    wal_got = read_all(srv, end + 30000, span="1m").get("wal", [])
    check(len(wal_got) >= len(recent) - 1, f"WAL samples after replay: {len(wal_got)} of {len(recent)}")

    # a second restart moves nothing more and keeps the list
    srv.stop(signal.SIGTERM)
    srv.start()
    d2 = status(srv)["metricstor"]
    check(d2["quarantinedBlocks"] == 4 and d2["blocks"] > 0 and len(old_blocks_left()) <= len(found) - 4,
          f"after second restart {d2}; blocks of before left: {old_blocks_left()}")
    check(len(os.listdir(qdir)) == 8, f"quarantine dir {os.listdir(qdir)}")
    ctx.note(f"{len(found)} blocks, 4 quarantined, 1 bad chunk, WAL corrupt records {ms['walReplayCorruptRecords']}")
