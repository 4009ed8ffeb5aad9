"""test_bad_input owns the end-to-end proof that malformed writes and queries get a clear 4xx,
store nothing, and leave the server serving."""
import struct

import promwire
from lib import check, now_ms
from promwire import field_bytes, varint


def _series_bytes(labels, t, v=1.0):
    return promwire.encode_series(labels, [(t, v)], label_order="keep")


def test_bad_writes_rejected_whole(ctx):
    srv = ctx.server(extra=["--max-request-bytes", "65536"])
    t = now_ms()
    good = ({"__name__": "must_not_exist", "job": "bad"}, [(t, 1.0)])
    good_bytes = field_bytes(1, promwire.encode_series(*good))

    def req(*series_bytes):
        return promwire.compress(b"".join(field_bytes(1, sb) for sb in series_bytes))

    histogram_series = promwire.encode_series({"__name__": "h"}, []) + field_bytes(4, b"\x08\x01")
    huge = promwire.encode_write_request([({"__name__": "huge", "x": "y" * 200_000}, [(t, 1.0)])])
    cases = [
        ("missing content-encoding", promwire.compress(good_bytes), {"Content-Type": "application/x-protobuf"}),
        ("wrong content-encoding", promwire.compress(good_bytes), {"Content-Encoding": "gzip"}),
        ("garbage", b"\x00\x01garbage\xff" * 10, None),
        ("bad snappy", b"\xff\xff\xff\xff\xff\x0f", None),
        ("snappy length lies", varint(1000) + b"\x08abc", None),
        ("truncated protobuf", promwire.snappy_literal(good_bytes[:-5]), None),
        ("uncompressed protobuf", good_bytes, None),
        ("wire type 3 (group)", promwire.compress(good_bytes + b"\x0b"), None),
        ("length beyond end", promwire.compress(good_bytes + b"\x0a\xff\xff\x03"), None),
        ("label name not UTF-8", req(promwire.encode_series(*good),
                                     _series_bytes([("__name__", "x"), (b"bad\xff\xfe", "v")], t)), None),
        ("label value not UTF-8", req(promwire.encode_series(*good),
                                      _series_bytes([("__name__", "x"), ("a", b"\xc3\x28")], t)), None),
        ("empty label name", req(promwire.encode_series(*good), _series_bytes([("__name__", "x"), ("", "v")], t)),
         None),
        ("empty label set", req(promwire.encode_series(*good), _series_bytes([], t)), None),
        ("only empty-valued labels", req(promwire.encode_series(*good), _series_bytes([("a", "")], t)), None),
        ("duplicate label names", req(promwire.encode_series(*good),
                                      _series_bytes([("__name__", "dup"), ("a", "1"), ("a", "2")], t)), None),
        ("native histogram", req(promwire.encode_series(*good), histogram_series), None),
        ("decompressed size over limit", promwire.compress(huge), None),
    ]
    for name, body, headers in cases:
        st, text = srv.push_raw(body, headers)
        check(400 <= st < 500, f"{name}: expected 4xx, got {st} {text[:200]!r}")
        check(len(text.strip()) > 0, f"{name}: 4xx without a message")
        check(srv.alive(), f"{name}: server died")
    st, text, _ = srv.request("GET", "/api/v1/write")
    check(st == 405, f"GET on write endpoint: {st}")
    for q in ("must_not_exist", "x", "dup", "h", "huge"):
        check(srv.query(q, t / 1000.0)["result"] == [], f"rejected request stored {q}")
    status, doc = srv.get_json("/api/v1/series")
    check(status == 200 and doc["data"] == [], f"rejected requests left series: {doc}")
    # and a good request still works
    st, _ = srv.push([good])
    check(st == 204, "good request after bad ones")
    check(len(srv.query("must_not_exist", t / 1000.0)["result"]) == 1, "good request not visible")


def test_bad_queries(ctx):
    srv = ctx.server()
    cases = [
        ("/api/v1/query", {}, 400, "bad_data"),
        ("/api/v1/query", {"query": "sum("}, 400, "bad_data"),
        ("/api/v1/query", {"query": "up{", "time": "1"}, 400, "bad_data"),
        ("/api/v1/query", {"query": "up", "time": "not-a-time"}, 400, "bad_data"),
        ("/api/v1/query", {"query": 'up{a=~"("}'}, 400, "bad_data"),
        ("/api/v1/query_range", {"query": "up", "start": "10", "end": "20", "step": "0"}, 400, "bad_data"),
        ("/api/v1/query_range", {"query": "up", "start": "20", "end": "10", "step": "1"}, 400, "bad_data"),
        ("/api/v1/query_range", {"query": "up", "start": "0", "end": "100000", "step": "1"}, 400, "bad_data"),
        ("/api/v1/query_range", {"query": "up", "start": "x", "end": "10", "step": "1"}, 400, "bad_data"),
        ("/api/v1/query_range", {"query": "up", "end": "10", "step": "1"}, 400, "bad_data"),
        ("/api/v1/series", {"match[]": "up{"}, 400, "bad_data"),
        ("/api/v1/series", {"match[]": "up", "start": "nope"}, 400, "bad_data"),
        ("/api/v1/labels", {"match[]": "{"}, 400, "bad_data"),
    ]
    for path, params, want_status, want_type in cases:
        status, doc = srv.get_json(path, params)
        check(status == want_status and doc.get("status") == "error" and doc.get("errorType") == want_type
              and doc.get("error"), f"{path} {params}: got {status} {doc}")
    st, _, _ = srv.request("GET", "/api/v1/nope")
    check(st == 404, f"unknown path {st}")
    st, _, _ = srv.request("DELETE", "/api/v1/query")
    check(st == 405, f"DELETE query {st}")
    check(srv.alive(), "server died on bad queries")
