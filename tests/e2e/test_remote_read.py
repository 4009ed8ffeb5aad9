"""test_remote_read owns the end-to-end proof of POST /api/v1/read, and the test-side tools the
other real-client tests share: a real Prometheus process (Prom), a protobuf reader, a snappy
decompressor, CRC32C and a Prometheus XOR chunk decoder, all written here independently of the
server's C code.

Proof chain: (1) hand-built ReadRequests against Metricstor, SAMPLES and STREAMED_XOR_CHUNKS,
decoded and compared with what was pushed; (2) the same data remote-written into a real
Prometheus 2.42 and the same ReadRequests sent to both: SAMPLES responses are byte-identical
after decompression, streamed frames decode to the same series, and chunk bytes are identical
(which also validates this file's XOR decoder against a real producer); (3) a real Prometheus
with remote_read pointed at Metricstor answers PromQL from Metricstor's data. Prometheus 2.42's
remote_read client only asks for SAMPLES (it sends no accepted_response_types), so the streamed
type is proven by (1) and (2)."""
import math
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import promwire
from lib import TestFailure, check, free_port, now_ms

PROMETHEUS = "/usr/bin/prometheus"
STREAMED_CT = "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"


# ---------------------------------------------------------------- a real Prometheus process

def ensure_installed(path, package):
    """Installs a Debian package with apt-get when the binary the test needs is missing."""
    if os.path.exists(path):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", package], capture_output=True, text=True,
                       timeout=600, env=env)
    if not os.path.exists(path):
        r = subprocess.run(sudo + ["sh", "-c", f"apt-get update -qq && apt-get install -y -qq {package}"],
                           capture_output=True, text=True, timeout=900, env=env)
    check(os.path.exists(path), f"{path} missing and apt-get install {package} failed: {r.stderr[-500:]}")


class Prom:
    """A real Prometheus on a free port with its own temp dir; stop() kills it and cleans up."""

    def __init__(self, config_yaml, extra_args=(), port=None):
        ensure_installed(PROMETHEUS, "prometheus")
        self.tmp = tempfile.mkdtemp(prefix="ms-prom-")
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.cfg = os.path.join(self.tmp, "prometheus.yml")
        with open(self.cfg, "w") as f:
            f.write(config_yaml)
        self.log_path = os.path.join(self.tmp, "prometheus.log")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.cfg}", f"--storage.tsdb.path={self.tmp}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"] + list(extra_args),
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"prometheus exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise TestFailure("prometheus did not become ready")

    def log_tail(self, n=3000):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def request(self, method, path, body=None, headers=None, timeout=30):
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def api(self, path, params):
        import json
        body = urllib.parse.urlencode(params, doseq=True).encode()
        status, data, _ = self.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        doc = json.loads(data)
        check(status == 200 and doc.get("status") == "success", f"prometheus {path} {params}: {status} {doc}")
        return doc["data"]

    def push(self, series):
        body = promwire.compress(promwire.encode_write_request(series))
        status, data, _ = self.request("POST", "/api/v1/write", body, {
            "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0"})
        check(status in (200, 204), f"push to prometheus: {status} {data[:300]!r}")


def doc_snippet(tag, ms_base, **ports):
    """The yaml block after `<!-- tested: tag -->` in docs/prometheus.md, with the doc's host names
    replaced by the test's: metricstor:9101 -> ms_base, localhost:<doc port> -> 127.0.0.1:<port>."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "prometheus.md")
    with open(path) as f:
        text = f.read()
    marker = f"<!-- tested: {tag} -->"
    check(marker in text, f"docs/prometheus.md lacks {marker}")
    block = text.split(marker, 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    block = block.replace("http://metricstor:9101", ms_base)
    for doc_port, port in ports.items():
        block = block.replace(f"localhost:{doc_port.lstrip('p')}", f"127.0.0.1:{port}")
    check("metricstor:" not in block and "localhost:" not in block, f"unreplaced host in snippet:\n{block}")
    return block


# ---------------------------------------------------------------- wire helpers (independent of the C code)

def uvarint(b, pos):
    shift = v = 0
    while True:
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, pos
        shift += 7


def pb_fields(b):
    """Parses one protobuf message into [(field, wiretype, value)] (value: int or bytes)."""
    out, pos = [], 0
    while pos < len(b):
        key, pos = uvarint(b, pos)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, pos = uvarint(b, pos)
        elif wt == 1:
            v, pos = b[pos:pos + 8], pos + 8
        elif wt == 2:
            n, pos = uvarint(b, pos)
            v, pos = b[pos:pos + n], pos + n
        elif wt == 5:
            v, pos = b[pos:pos + 4], pos + 4
        else:
            raise TestFailure(f"bad wire type {wt}")
        out.append((f, wt, v))
    return out


def i64(u):
    return u - (1 << 64) if u >= 1 << 63 else u


def snappy_decompress(b):
    n, pos = uvarint(b, 0)
    out = bytearray()
    while pos < len(b):
        tag = b[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                k = ln - 59
                ln = int.from_bytes(b[pos:pos + k], "little")
                pos += k
            ln += 1
            out += b[pos:pos + ln]
            pos += ln
            continue
        if kind == 1:
            ln, off = ((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | b[pos]
            pos += 1
        elif kind == 2:
            ln, off = (tag >> 2) + 1, int.from_bytes(b[pos:pos + 2], "little")
            pos += 2
        else:
            ln, off = (tag >> 2) + 1, int.from_bytes(b[pos:pos + 4], "little")
            pos += 4
        check(0 < off <= len(out), "snappy: bad offset")
        for _ in range(ln):
            out.append(out[-off])
    check(len(out) == n, "snappy: length mismatch")
    return bytes(out)


_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = _CRC_TABLE[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


class _Bits:
    def __init__(self, b):
        self.b, self.pos = b, 0

    def read(self, n):
        v = 0
        for _ in range(n):
            check(self.pos < len(self.b) * 8, "xor chunk: read past end")
            v = (v << 1) | ((self.b[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def uvarint(self):
        shift = v = 0
        while True:
            c = self.read(8)
            v |= (c & 0x7F) << shift
            if c < 0x80:
                return v
            shift += 7


def xor_decode(data):
    """Prometheus chunkenc XOR chunk -> [(t_ms, float)]."""
    n = int.from_bytes(data[:2], "big")
    r = _Bits(data[2:])
    out = []
    t = tdelta = v = 0
    leading = trailing = 0
    for i in range(n):
        if i == 0:
            zz = r.uvarint()
            t = (zz >> 1) ^ -(zz & 1)
            v = r.read(64)
        else:
            if i == 1:
                tdelta = r.uvarint()
            else:
                prefix = 0
                while prefix < 4 and r.read(1):
                    prefix += 1
                if prefix:
                    width = (0, 14, 17, 20, 64)[prefix]
                    bits = r.read(width)
                    if width != 64 and bits > (1 << (width - 1)):
                        bits -= 1 << width
                    elif width == 64 and bits >= 1 << 63:
                        bits -= 1 << 64
                    tdelta += bits
            t += tdelta
            if r.read(1):
                if r.read(1):
                    leading = r.read(5)
                    sig = r.read(6) or 64
                    trailing = 64 - leading - sig
                v ^= r.read(64 - leading - trailing) << trailing
        out.append((t, struct.unpack("<d", struct.pack("<Q", v))[0]))
    return out


def _labels(fields):
    out = {}
    for f, _, v in fields:
        if f == 1:
            d = {ff: vv for ff, _, vv in pb_fields(v)}
            out[d.get(1, b"").decode()] = d.get(2, b"").decode()
    return out


def encode_read_request(queries, accepted=()):
    """queries: [(start_ms, end_ms, [(type, name, value)])]; type 0 EQ 1 NEQ 2 RE 3 NRE."""
    fb, vi = promwire.field_bytes, promwire.varint
    body = b""
    for start, end, matchers in queries:
        q = b"\x08" + vi(start) + b"\x10" + vi(end)
        for typ, name, value in matchers:
            m = (b"\x08" + vi(typ) if typ else b"") + fb(2, name.encode()) + fb(3, value.encode())
            q += fb(3, m)
        body += fb(1, q)
    if accepted:
        body += fb(2, b"".join(vi(a) for a in accepted))
    return body


def decode_samples_response(raw):
    """ReadResponse -> [ {labels_tuple: [(t, v)]} per query ] (order of series kept in a list too)."""
    results = []
    for f, _, qr in pb_fields(raw):
        check(f == 1, f"ReadResponse: unexpected field {f}")
        series = []
        for ff, _, ts in pb_fields(qr):
            check(ff == 1, f"QueryResult: unexpected field {ff}")
            fields = pb_fields(ts)
            samples = []
            for f3, _, v in fields:
                if f3 == 2:
                    d = {a: b for a, _, b in pb_fields(v)}
                    val = struct.unpack("<d", d[1])[0] if 1 in d else 0.0
                    samples.append((i64(d.get(2, 0)), val))
            series.append((tuple(sorted(_labels(fields).items())), samples))
        results.append(series)
    return results


def decode_streamed(body):
    """Framed ChunkedReadResponse stream -> [(query_index, labels_tuple, [(mint, maxt, type, data)])]."""
    frames, pos = [], 0
    while pos < len(body):
        n, pos = uvarint(body, pos)
        crc = int.from_bytes(body[pos:pos + 4], "big")
        msg = body[pos + 4:pos + 4 + n]
        pos += 4 + n
        check(len(msg) == n, "streamed frame truncated")
        check(crc32c(msg) == crc, "streamed frame CRC32C mismatch")
        qi = 0
        for f, _, v in pb_fields(msg):
            if f == 2:
                qi = i64(v)
        for f, _, v in pb_fields(msg):
            if f != 1:
                continue
            fields = pb_fields(v)
            chunks = []
            for f2, _, c in fields:
                if f2 == 2:
                    d = {a: b for a, _, b in pb_fields(c)}
                    chunks.append((i64(d.get(1, 0)), i64(d.get(2, 0)), d.get(3, 0), d.get(4, b"")))
            frames.append((qi, tuple(sorted(_labels(fields).items())), chunks))
    return frames


def read(target, queries, accepted=(), raw_body=None):
    body = raw_body if raw_body is not None else promwire.compress(encode_read_request(queries, accepted))
    return target.request("POST", "/api/v1/read", body, {
        "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
        "X-Prometheus-Remote-Read-Version": "0.1.0"})


def streamed_samples(frames):
    """Frames -> {query_index: {labels: [(t, v)]}}, checking chunk metadata on the way."""
    out = {}
    for qi, lbls, chunks in frames:
        for mint, maxt, typ, data in chunks:
            check(typ == 1, f"chunk type {typ}, want XOR (1)")
            s = xor_decode(data)
            check(s and s[0][0] == mint and s[-1][0] == maxt, f"chunk min/max {mint}/{maxt} vs samples")
            check(len(s) <= 120, f"chunk of {len(s)} samples")
            out.setdefault(qi, {}).setdefault(lbls, []).extend(s)
    return out


def same_samples(a, b):
    if len(a) != len(b):
        return False
    for (ta, va), (tb, vb) in zip(a, b):
        if ta != tb or struct.pack("<d", va) != struct.pack("<d", vb):
            return False
    return True


# ---------------------------------------------------------------- the data

def _dataset(t0, wide=True):
    """Series that exercise every XOR bucket: regular, jittered, large gaps, NaN, stale marker,
    negative/huge/tiny values, and one with > 120 samples (several chunks)."""
    series = []
    series.append(({"__name__": "rr_regular", "job": "a", "instance": "x"},
                   [(t0 + i * 15000, float(i)) for i in range(60)]))
    series.append(({"__name__": "rr_regular", "job": "b", "instance": "y"},
                   [(t0 + i * 15000, 100.0 + 0.5 * i) for i in range(60)]))
    # Successive time deltas chosen so the delta-of-delta hits every bucket (0, 14, 17, 20, 64 bits)
    # and both edges of each: +8192/-8191, +8193, +65536/-65535, +524288/-524287, then beyond.
    deltas = [10000, 18192, 10001, 18194, 83730, 18195, 542483, 18196, 600000, 10000, 10000,
              3600000 if wide else 10003, 10005, 10000, 10002, 10002]
    ts, t = [], t0
    for k in range(30):
        t += deltas[k % len(deltas)]
        ts.append(t)
    vals = [1.0, 1.0, -2.5, 1e300, 5e-324, float("nan"), 0.0, -0.0, 3.14159, promwire.STALE_NAN, 42.0, 1e-9]
    series.append(({"__name__": "rr_jitter", "job": "a"}, [(tt, vals[i % len(vals)]) for i, tt in enumerate(ts)]))
    series.append(({"__name__": "rr_long", "job": "c"}, [(t0 + i * 1000, float(i * i % 97)) for i in range(300)]))
    return series


def _fresh_t0():
    """A start ~50 min ago that does not cross a 2h boundary (Prometheus cuts head chunks there)."""
    now = now_ms()
    t0 = now - 50 * 60 * 1000
    two_h = 7200 * 1000
    if t0 // two_h != now // two_h:
        t0 = (now // two_h) * two_h + 1000
    return t0


# ---------------------------------------------------------------- tests

def test_remote_read_samples_and_streamed(ctx):
    srv = ctx.server()
    t0 = now_ms() - 6 * 3600 * 1000
    data = _dataset(t0)
    status, body = srv.push(data)
    check(status == 204, f"push: {status} {body!r}")
    want = {tuple(sorted(l.items())): s for l, s in data}
    end = now_ms() + 60000
    queries = [
        (t0 - 1, end, [(0, "__name__", "rr_regular")]),
        (t0 - 1, end, [(2, "__name__", "rr_.*"), (1, "job", "b")]),
        (t0 - 1, end, [(2, "__name__", "rr_(jitter|long)"), (3, "job", "c")]),
        (t0 + 15000, t0 + 45000, [(0, "__name__", "rr_regular"), (0, "job", "a")]),
        (t0 - 1, end, [(0, "__name__", "nope")]),
    ]
    expect = [
        [k for k in want if dict(k)["__name__"] == "rr_regular"],
        [k for k in want if dict(k)["job"] != "b"],
        [k for k in want if dict(k)["__name__"] == "rr_jitter"],
        [k for k in want if dict(k)["__name__"] == "rr_regular" and dict(k)["job"] == "a"],
        [],
    ]

    def expected_samples(qi, k):
        lo, hi = queries[qi][0], queries[qi][1]
        return [(t, v) for t, v in want[k] if lo <= t <= hi]

    # SAMPLES, both by default (no accepted types) and asked for explicitly.
    for accepted in ((), (0,), (0, 1)):
        status, body, hdr = read(srv, queries, accepted)
        check(status == 200, f"read SAMPLES {accepted}: {status} {body[:300]!r}")
        check(hdr.get("Content-Type", "").startswith("application/x-protobuf"), f"content type {hdr}")
        res = decode_samples_response(snappy_decompress(body))
        check(len(res) == len(queries), f"{len(res)} results for {len(queries)} queries")
        for qi, series in enumerate(res):
            got_keys = [k for k, _ in series]
            check(got_keys == sorted(expect[qi]), f"query {qi}: series {got_keys} want {sorted(expect[qi])}")
            for k, s in series:
                check(same_samples(s, expected_samples(qi, k)), f"query {qi} {k}: samples differ:\n{s[:8]}")

    # STREAMED_XOR_CHUNKS, preferred first.
    status, body, hdr = read(srv, queries, (1, 0))
    check(status == 200, f"read STREAMED: {status} {body[:300]!r}")
    check(hdr.get("Content-Type") == STREAMED_CT, f"streamed content type {hdr.get('Content-Type')}")
    frames = decode_streamed(body)
    got = streamed_samples(frames)
    for qi in range(len(queries)):
        keys = sorted(got.get(qi, {}))
        check(keys == sorted(expect[qi]), f"streamed query {qi}: {keys} want {expect[qi]}")
        for k in keys:
            check(same_samples(got[qi][k], expected_samples(qi, k)),
                  f"streamed query {qi} {k}: samples differ:\n{got[qi][k][:8]}")
    long_frames = [c for qi, l, c in frames if dict(l)["__name__"] == "rr_long" and qi == 2]
    check(not long_frames, "rr_long excluded by job!~c")
    long_chunks = [c for qi, l, cs in frames if dict(l)["__name__"] == "rr_long" for c in cs]
    check([len(xor_decode(c[3])) for c in long_chunks] == [120, 120, 60] * 1,
          f"rr_long chunk sizes {[len(xor_decode(c[3])) for c in long_chunks]}")
    qis = [qi for qi, _, _ in frames]
    check(qis == sorted(qis), f"frames not in query order: {qis}")

    # Bad requests are 400 with a reason; nothing crashes.
    bad = [
        (b"not snappy at all", "snappy"),
        (promwire.compress(b"\x0a\x05\x08"), "truncated"),
        (promwire.compress(encode_read_request([(0, 1, [(2, "job", "(")])])), "("),
        (promwire.compress(encode_read_request([(0, 1, [(7, "job", "a")])])), "matcher type"),
        (promwire.compress(encode_read_request([(0, 1, [(0, "job", "a")])], accepted=(5,))), "response types"),
    ]
    for raw, needle in bad:
        status, body, _ = read(srv, None, raw_body=raw)
        check(status == 400, f"bad read {raw[:20]!r}: {status} {body[:200]!r}")
        check(needle.encode() in body, f"bad read message {body[:200]!r} lacks {needle!r}")
    status, _, _ = srv.request("GET", "/api/v1/read")
    check(status == 405, f"GET /api/v1/read: {status}")
    check(srv.alive(), "server died")


def test_remote_read_identical_to_prometheus(ctx):
    """Same data in a real Prometheus and in Metricstor; same ReadRequests to both."""
    srv = ctx.server()
    prom = Prom("global:\n  scrape_interval: 1m\n", ["--web.enable-remote-write-receiver"])
    try:
        t0 = _fresh_t0()
        # Prometheus's head cuts chunks at its own points; keep every series under 120 samples so
        # both sides hold one chunk per series.
        # Go's proto3 marshalling drops a -0.0 sample value (it compares equal to 0); we keep its
        # sign, so leave -0.0 out of the byte comparison.
        limit = now_ms() - 1000
        data = [(l, [(t, 0.25 if v == 0 and math.copysign(1, v) < 0 else v) for t, v in s[:110] if t <= limit])
                for l, s in _dataset(t0, wide=False)]
        data = [(l, s) for l, s in data if s]
        status, body = srv.push(data)
        check(status == 204, f"push: {status} {body!r}")
        prom.push(data)
        end = now_ms() + 60000
        queries = [
            (t0 - 1, end, [(2, "__name__", "rr_.+")]),
            (t0 - 1, end, [(0, "job", "a"), (1, "__name__", "rr_long")]),
        ]
        # SAMPLES: decompressed bodies byte for byte.
        s1, b1, h1 = read(srv, queries)
        s2, b2, h2 = read(prom, queries)
        check(s1 == 200 and s2 == 200, f"read: ours {s1}, prometheus {s2} {b2[:200]!r}")
        for hdr in ("Content-Type", "Content-Encoding"):
            check(h1.get(hdr) == h2.get(hdr) and h2.get(hdr), f"SAMPLES {hdr}: ours {h1.get(hdr)!r}, "
                  f"prometheus {h2.get(hdr)!r}")
        r1, r2 = snappy_decompress(b1), snappy_decompress(b2)
        n_series = [len(x) for x in decode_samples_response(r2)]
        check(n_series == [len(data), 2], f"prometheus answered {n_series} series, want [{len(data)}, 2]")
        if r1 != r2:
            raise TestFailure("SAMPLES responses differ:\nours %s\nprom %s" % (
                decode_samples_response(r1)[0][:2], decode_samples_response(r2)[0][:2]))
        # STREAMED: same frames (labels, chunk bytes, min/max times, query index).
        s1, b1, h1 = read(srv, queries, (1,))
        s2, b2, h2 = read(prom, queries, (1,))
        check(s1 == 200 and s2 == 200, f"streamed read: ours {s1}, prometheus {s2}")
        check(h1.get("Content-Type") == h2.get("Content-Type"), f"content types {h1} vs {h2}")
        f1, f2 = decode_streamed(b1), decode_streamed(b2)
        check(len(f2) == len(data) + 2, f"prometheus sent {len(f2)} frames, want {len(data) + 2}")
        g1, g2 = streamed_samples(f1), streamed_samples(f2)
        check(g1.keys() == g2.keys() and all(sorted(g1[q]) == sorted(g2[q]) for q in g1), "streamed series differ")
        for q in g1:
            for k in g1[q]:
                check(same_samples(g1[q][k], g2[q][k]), f"streamed {q} {k}: samples differ")
        check(f1 == f2, "streamed frames differ in bytes:\nours %r\nprom %r" % (f1[:1], f2[:1]))
        check(b1 == b2, "streamed bodies differ byte for byte")
    finally:
        prom.stop()


def test_prometheus_remote_read_client(ctx):
    """A real Prometheus whose only data source is remote_read from Metricstor."""
    srv = ctx.server()
    t0 = now_ms() - 20 * 60 * 1000
    data = [({"__name__": "rrc_requests_total", "code": c, "job": "api"},
             [(t0 + i * 10000, float(i * (3 if c == "200" else 1))) for i in range(120)]) for c in ("200", "500")]
    data.append(({"__name__": "rrc_temp", "room": "a"}, [(t0 + i * 10000, 20 + math.sin(i / 7)) for i in range(120)]))
    status, body = srv.push(data)
    check(status == 204, f"push: {status} {body!r}")
    cfg = "global:\n  scrape_interval: 1m\n" + doc_snippet("remote_read", srv.base)
    prom = Prom(cfg)
    try:
        t_eval = (t0 + 119 * 10000) / 1000.0
        for q in ("rrc_requests_total", 'rrc_requests_total{code=~"5.."}', "sum by (job) (rate(rrc_requests_total[5m]))",
                  "rrc_temp", 'rrc_requests_total{code!="200"}', "count({__name__=~\"rrc_.*\"})",
                  'rrc_requests_total{code!~"2..", job=~"a.i"}', 'max_over_time(rrc_temp[3m]) - rrc_temp offset 1m'):
            theirs = prom.api("/api/v1/query", {"query": q, "time": f"{t_eval:.3f}"})
            ours = srv.query(q, t_eval, "POST")
            check(theirs["result"], f"prometheus returned nothing for {q!r} through remote_read")
            key = lambda r: sorted(r["metric"].items())  # noqa: E731
            check(sorted(theirs["result"], key=key) == sorted(ours["result"], key=key),
                  f"{q!r}: through prometheus {theirs['result']}\nours {ours['result']}")
        rq = "rate(rrc_requests_total[1m])"
        theirs = prom.api("/api/v1/query_range", {"query": rq, "start": f"{t0 / 1000 + 300:.3f}",
                                                  "end": f"{t_eval:.3f}", "step": "30"})
        ours = srv.query_range(rq, t0 / 1000 + 300, t_eval, 30, "POST")
        check(len(theirs["result"]) == 2, f"range through prometheus: {theirs}")
        key = lambda r: sorted(r["metric"].items())  # noqa: E731
        check(sorted(theirs["result"], key=key) == sorted(ours["result"], key=key), "range results differ")
        # The series API through Prometheus's remote_read path too.
        series = prom.api("/api/v1/series", {"match[]": "rrc_temp", "start": str(t0 / 1000), "end": str(t_eval)})
        check(series == [{"__name__": "rrc_temp", "room": "a"}], f"series through prometheus: {series}")
    finally:
        prom.stop()
