/* test_remote_read.c tests the remote_read codec without a db: the XOR chunk encoder against a
 * golden chunk captured from a real Prometheus 2.42 (every delta-of-delta bucket, NaN, huge and
 * subnormal values), decoder round trips, a ReadRequest captured from a real Prometheus, response
 * type negotiation (packed and unpacked), malformed requests (every truncation, mutations, bad
 * matchers), the SAMPLES encoding bytes, and the framed stream (CRC32C, frame splitting). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ingest/rr_codec.h"
#include "ingest/rw_encode.h"
#include "util/buf.h"
#include "util/crc32c.h"

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

static double f64(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

static uint64_t bits64(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* ---- XOR chunks ---- */

/* Captured from Prometheus 2.42 (remote_read STREAMED_XOR_CHUNKS of a remote-written series). */
static const char GOLDEN_CHUNK[] =
    "001480b098bac3683ff00000000000009875309bffd6007b8ad383ebe33e43c8800759f09c3b0fff8df90f22001d6773f7a6fff0"
    "00000000000358f17ff8000000000000f0000000000081650a00490fcf80dc3377fffffffffffb7fa84013087e7c06e19bb763c6"
    "0000800000000001c30d40eea06f8000000000001b7d2000000000001242e80000000000007402ff6a8000000154da8004000000"
    "00000030037f8400000002c0040000000000000008";

#define N_GOLDEN 20

static void golden_samples(sample_t *s)
{
    const int64_t t0 = 1795760000000;
    const int64_t ts[N_GOLDEN] = {0,      15000,  30000,  45000,  45001,  55000,  130000, 200000, 800000, 810000,
                                  810001, 910002, 920002, 930002, 940002, 950002, 960002, 970002, 980002, 990002};
    /* 1.5 -> -1.5 narrows the window to the sign bit (trailing 63); -1.5 -> -1.5000000000000002
     * then needs a new window whose 63 leading zeros are clamped to 31; -1.5000000000000002 -> 1.5
     * differs in the sign and the last bit: 64 significant bits, written as 0. */
    const double vs[N_GOLDEN] = {1.0,  1.0,  2.5,  -2.5,          1e300,         5e-324, 0 /* NaN below */,
                                 0.0,  3.14159, 42.0, 42.5, 42.5, 42.5000000001, 42.5000000003,
                                 42.50000000031, 1.0, 1.5, -1.5, -1.5000000000000002, 1.5};
    for (int i = 0; i < N_GOLDEN; i++) s[i] = (sample_t){t0 + ts[i], vs[i]};
    s[6].v = f64(0x7ff8000000000000ull);
}

static void test_xor_golden(void **state)
{
    (void)state;
    sample_t s[N_GOLDEN];
    golden_samples(s);
    uint8_t want[256];
    size_t wn = unhex(GOLDEN_CHUNK, want);
    buf_t c = BUF_INIT;
    rr_xor_encode(&c, s, N_GOLDEN);
    assert_int_equal(c.len, wn);
    assert_memory_equal(c.data, want, wn);
    sample_vec_t out = {0};
    assert_int_equal(rr_xor_decode(want, wn, &out), 0);
    assert_int_equal(out.n, N_GOLDEN);
    for (int i = 0; i < N_GOLDEN; i++) {
        assert_int_equal(out.v[i].t, s[i].t);
        assert_true(bits64(out.v[i].v) == bits64(s[i].v));
    }
    sample_vec_free(&out);
    buf_free(&c);
}

static void test_xor_roundtrip_random(void **state)
{
    (void)state;
    srand(7);
    buf_t c = BUF_INIT;
    for (int iter = 0; iter < 300; iter++) {
        size_t n = 1 + (size_t)(rand() % 120);
        sample_t s[120];
        int64_t t = (int64_t)(rand() % 2000000) - 1000000; /* negative first timestamps too */
        for (size_t i = 0; i < n; i++) {
            static const int64_t steps[] = {1, 15000, 15000, 15001, 8193, 70000, 600000, 1LL << 40};
            t += steps[rand() % 8] + (rand() % 3);
            uint64_t r = ((uint64_t)rand() << 33) ^ ((uint64_t)rand() << 11) ^ (uint64_t)rand();
            double v;
            switch (rand() % 6) {
            case 5: v = i ? f64(bits64(s[i - 1].v) ^ (uint64_t)(rand() % 4096)) : 1.0; break; /* tiny XOR */
            case 0: v = (double)(rand() % 100); break;
            case 1: v = f64(r); break; /* any bit pattern, NaNs included */
            case 2: v = i ? s[i - 1].v : 0.5; break;
            case 3: v = -0.0; break;
            default: v = (double)rand() / 3.0; break;
            }
            s[i] = (sample_t){t, v};
        }
        rr_xor_encode(&c, s, n);
        sample_vec_t out = {0};
        assert_int_equal(rr_xor_decode(c.data, c.len, &out), 0);
        assert_int_equal(out.n, n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(out.v[i].t, s[i].t);
            assert_true(bits64(out.v[i].v) == bits64(s[i].v));
        }
        /* Every truncation is rejected (never read past the end). */
        for (size_t cut = 0; cut < c.len; cut += 1 + c.len / 16) {
            sample_vec_t tr = {0};
            int rc = rr_xor_decode(c.data, cut, &tr);
            assert_true(rc != 0 || tr.n == n);
            sample_vec_free(&tr);
        }
        sample_vec_free(&out);
    }
    buf_free(&c);
}

/* ---- requests ---- */

/* A ReadRequest exactly as Prometheus 2.42's remote_read client sent it for up{job=~"a.*"}: one
 * query with start/end, matchers RE job "a.*" and EQ __name__ "up", hints; no accepted types. */
static const char PROM_REQUEST[] = "0a3c088fcdeddca13410eff4ffdca1341a0c080212036a6f621a03612e2a1a0e12085f5f6e616d655f5f1a0275"
                                   "70220e188fcdeddca13420eff4ffdca134";

static void test_decode_prometheus_request(void **state)
{
    (void)state;
    uint8_t pb[128];
    size_t n = unhex(PROM_REQUEST, pb);
    rr_request_t r;
    char msg[256];
    assert_int_equal(rr_decode_request_proto(pb, n, &r, msg, sizeof msg), RR_OK);
    assert_int_equal(r.n_queries, 1);
    assert_int_equal(r.response_type, RR_SAMPLES);
    rr_query_t *q = &r.queries[0];
    assert_true(q->start_ms > 1700000000000 && q->end_ms > q->start_ms);
    assert_int_equal(q->n_matchers, 2);
    assert_int_equal(q->matchers[0]->type, MATCH_RE);
    assert_string_equal(q->matchers[0]->name, "job");
    assert_string_equal(q->matchers[0]->value, "a.*");
    assert_true(matcher_matches(q->matchers[0], "abc", 3));
    assert_false(matcher_matches(q->matchers[0], "xabc", 4)); /* anchored */
    assert_int_equal(q->matchers[1]->type, MATCH_EQ);
    assert_string_equal(q->matchers[1]->name, "__name__");
    assert_string_equal(q->matchers[1]->value, "up");
    rr_request_free(&r);

    /* The same through snappy, with the header and without it. */
    buf_t z = BUF_INIT;
    assert_int_equal(rw_snappy_compress(pb, n, &z), 0);
    assert_int_equal(rr_decode_request(z.data, z.len, " Snappy ", 1 << 20, &r, msg, sizeof msg), RR_OK);
    rr_request_free(&r);
    assert_int_equal(rr_decode_request(z.data, z.len, NULL, 1 << 20, &r, msg, sizeof msg), RR_OK);
    rr_request_free(&r);
    assert_int_equal(rr_decode_request(z.data, z.len, "gzip", 1 << 20, &r, msg, sizeof msg), RR_BAD_REQUEST);
    assert_non_null(strstr(msg, "gzip"));
    assert_int_equal(rr_decode_request(z.data, z.len, NULL, 10, &r, msg, sizeof msg), RR_TOO_LARGE);
    assert_int_equal(rr_decode_request(pb, n, NULL, 1 << 20, &r, msg, sizeof msg), RR_BAD_REQUEST); /* not snappy */
    assert_int_equal(rr_decode_request(NULL, 0, NULL, 1 << 20, &r, msg, sizeof msg), RR_BAD_REQUEST);
    buf_free(&z);

    /* Every truncation of the captured request: rejected or (at a message boundary) decoded; no leaks. */
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *copy = malloc(cut + 1); /* exact-size copy so ASan sees any overrun */
        memcpy(copy, pb, cut);
        rr_outcome_t o = rr_decode_request_proto(copy, cut, &r, msg, sizeof msg);
        assert_true(o == RR_OK || o == RR_BAD_REQUEST);
        rr_request_free(&r);
        free(copy);
    }
    /* Random byte mutations. */
    srand(11);
    for (int it = 0; it < 3000; it++) {
        uint8_t m[128];
        memcpy(m, pb, n);
        for (int k = 0; k < 1 + it % 4; k++) m[rand() % (int)n] = (uint8_t)rand();
        rr_outcome_t o = rr_decode_request_proto(m, n, &r, msg, sizeof msg);
        assert_true(o == RR_OK || o == RR_BAD_REQUEST);
        rr_request_free(&r);
    }
}

static void pkey(buf_t *b, unsigned field, unsigned wt) { buf_put_uvarint(b, (uint64_t)field << 3 | wt); }
static void plen(buf_t *b, unsigned field, const void *p, size_t n)
{
    pkey(b, field, 2);
    buf_put_uvarint(b, n);
    buf_append(b, p, n);
}

/* A request with one query {name=value} of matcher type `type` and the given accepted types. */
static void build_request(buf_t *req, uint64_t type, const char *name, const char *value, const uint64_t *acc,
                          size_t nacc, bool packed)
{
    buf_t m = BUF_INIT, q = BUF_INIT;
    pkey(&m, 1, 0);
    buf_put_uvarint(&m, type);
    plen(&m, 2, name, strlen(name));
    plen(&m, 3, value, strlen(value));
    pkey(&q, 1, 0);
    buf_put_uvarint(&q, (uint64_t)(int64_t)-5); /* negative start: 10-byte varint */
    pkey(&q, 2, 0);
    buf_put_uvarint(&q, 1000);
    plen(&q, 3, m.data, m.len);
    pkey(&q, 9, 5); /* an unknown fixed32 field is skipped */
    buf_put_u32le(&q, 7);
    plen(req, 1, q.data, q.len);
    if (packed && nacc) {
        buf_t p = BUF_INIT;
        for (size_t i = 0; i < nacc; i++) buf_put_uvarint(&p, acc[i]);
        plen(req, 2, p.data, p.len);
        buf_free(&p);
    } else {
        for (size_t i = 0; i < nacc; i++) {
            pkey(req, 2, 0);
            buf_put_uvarint(req, acc[i]);
        }
    }
    buf_free(&m);
    buf_free(&q);
}

static void test_negotiation_and_matchers(void **state)
{
    (void)state;
    static const struct {
        uint64_t acc[3];
        size_t n;
        rr_outcome_t o;
        rr_response_type_t rt;
    } cases[] = {
        {{0}, 0, RR_OK, RR_SAMPLES},          {{1, 0}, 2, RR_OK, RR_STREAMED_XOR_CHUNKS},
        {{0, 1}, 2, RR_OK, RR_SAMPLES},       {{5, 1}, 2, RR_OK, RR_STREAMED_XOR_CHUNKS},
        {{5}, 1, RR_BAD_REQUEST, RR_SAMPLES}, {{9, 7, 0}, 3, RR_OK, RR_SAMPLES},
    };
    char msg[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int packed = 0; packed < 2; packed++) {
            buf_t req = BUF_INIT;
            build_request(&req, 2, "job", "api|db", cases[i].acc, cases[i].n, packed);
            rr_request_t r;
            rr_outcome_t o = rr_decode_request_proto(req.data, req.len, &r, msg, sizeof msg);
            assert_int_equal(o, cases[i].o);
            if (o == RR_OK) {
                assert_int_equal(r.response_type, cases[i].rt);
                assert_int_equal(r.queries[0].start_ms, -5);
                assert_int_equal(r.queries[0].end_ms, 1000);
                assert_true(matcher_matches(r.queries[0].matchers[0], "db", 2));
            } else {
                assert_non_null(strstr(msg, "response types"));
            }
            rr_request_free(&r);
            buf_free(&req);
        }
    }
    /* Bad matchers: unknown type, bad regex. */
    const struct { uint64_t type; const char *value; const char *needle; } bad[] = {
        {4, "x", "matcher type"}, {2, "(", ""}, {3, "a[", ""}};
    for (size_t i = 0; i < 3; i++) {
        buf_t req = BUF_INIT;
        build_request(&req, bad[i].type, "job", bad[i].value, NULL, 0, false);
        rr_request_t r;
        assert_int_equal(rr_decode_request_proto(req.data, req.len, &r, msg, sizeof msg), RR_BAD_REQUEST);
        assert_non_null(strstr(msg, bad[i].needle));
        assert_true(msg[0] != 0);
        assert_int_equal(r.n_queries, 0);
        rr_request_free(&r);
        buf_free(&req);
    }
    /* A group wire type is refused. */
    uint8_t grp[] = {0x0b};
    rr_request_t r;
    assert_int_equal(rr_decode_request_proto(grp, 1, &r, msg, sizeof msg), RR_BAD_REQUEST);
    /* Empty request: no queries, SAMPLES. */
    assert_int_equal(rr_decode_request_proto("", 0, &r, msg, sizeof msg), RR_OK);
    assert_int_equal(r.n_queries, 0);
    rr_request_free(&r);
}

/* ---- responses ---- */

static void test_samples_encoding(void **state)
{
    (void)state;
    label_t l[1] = {{"a", "b", 1, 1}};
    sample_t s[3] = {{0, 0.0}, {5, 1.0}, {-1, -0.0}};
    buf_t qr = BUF_INIT, resp = BUF_INIT;
    rr_encode_timeseries(&qr, l, 1, s, 3);
    /* TimeSeries{labels:[{a,b}], samples:[{}, {value 1, ts 5}, {value -0.0, ts -1}]}; zero fields omitted */
    static const uint8_t want[] = {0x0a, 0x2d, 0x0a, 0x06, 0x0a, 0x01, 'a', 0x12, 0x01, 'b', 0x12, 0x00, 0x12, 0x0b,
                                   0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0x05, 0x12, 0x14, 0x09, 0, 0, 0, 0, 0, 0,
                                   0, 0x80, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(qr.len, sizeof want);
    assert_memory_equal(qr.data, want, sizeof want);
    rr_encode_query_result(&resp, &qr);
    buf_t empty = BUF_INIT;
    rr_encode_query_result(&resp, &empty); /* a query with no series still has its (empty) result */
    assert_int_equal(resp.len, 2 + sizeof want + 2);
    assert_int_equal(resp.data[0], 0x0a);
    assert_int_equal(resp.data[1], sizeof want);
    assert_int_equal(resp.data[resp.len - 2], 0x0a);
    assert_int_equal(resp.data[resp.len - 1], 0);
    buf_free(&qr);
    buf_free(&resp);
}

static uint64_t rd_uvarint(const uint8_t **p)
{
    uint64_t v = 0;
    for (int sh = 0;; sh += 7) {
        uint8_t c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80)) return v;
    }
}

typedef struct frame {
    const uint8_t *msg;
    size_t len;
} frame_t;

/* Splits a stream into frames, checking each CRC32C (big-endian). Returns the count. */
static size_t split_frames(const buf_t *b, frame_t *out, size_t max)
{
    size_t pos = 0, n = 0;
    while (pos < b->len) {
        uint64_t len = 0;
        int shift = 0;
        while (b->data[pos] & 0x80) len |= (uint64_t)(b->data[pos++] & 0x7f) << shift, shift += 7;
        len |= (uint64_t)b->data[pos++] << shift;
        uint32_t crc = (uint32_t)b->data[pos] << 24 | (uint32_t)b->data[pos + 1] << 16 |
                       (uint32_t)b->data[pos + 2] << 8 | b->data[pos + 3];
        pos += 4;
        assert_true(pos + len <= b->len);
        assert_int_equal(crc32c(0, b->data + pos, (size_t)len), crc);
        assert_true(n < max);
        out[n++] = (frame_t){b->data + pos, (size_t)len};
        pos += (size_t)len;
    }
    return n;
}

static void test_streamed_frames(void **state)
{
    (void)state;
    enum { N = 1000 };
    sample_t *s = malloc(N * sizeof *s);
    for (int i = 0; i < N; i++) s[i] = (sample_t){1000 + i * 15000LL, (double)(i % 7)};
    label_t l[2] = {{"__name__", "m", 8, 1}, {"job", "x", 3, 1}};
    buf_t out = BUF_INIT;
    frame_t fr[64];
    /* Big frames: one frame, ceil(1000/120) = 9 chunks, the last of 40 samples. */
    rr_encode_chunked_series(&out, 3, l, 2, s, N, RR_MAX_FRAME_BYTES);
    assert_int_equal(split_frames(&out, fr, 64), 1);
    const uint8_t *m = fr[0].msg;
    assert_int_equal(m[fr[0].len - 2], 0x10); /* query_index = 3, last field */
    assert_int_equal(m[fr[0].len - 1], 3);
    /* Small frames: the series is split, labels repeated in each frame, chunks continue in order. */
    buf_reset(&out);
    rr_encode_chunked_series(&out, 0, l, 2, s, N, 200);
    size_t nf = split_frames(&out, fr, 64);
    assert_true(nf > 1 && nf <= 9);
    size_t chunks = 0;
    int64_t next_t = s[0].t;
    for (size_t f = 0; f < nf; f++) {
        assert_int_equal(fr[f].msg[0], 0x0a); /* chunked_series; query_index 0 omitted */
        size_t off = 1;
        uint64_t slen = 0;
        for (int sh = 0;; sh += 7) {
            uint8_t c = fr[f].msg[off++];
            slen |= (uint64_t)(c & 0x7f) << sh;
            if (!(c & 0x80)) break;
        }
        assert_int_equal(off + slen, fr[f].len);
        assert_memory_equal(fr[f].msg + off, "\x0a\x0d\x0a\x08__name__\x12\x01m\x0a\x08\x0a\x03job\x12\x01x", 25);
        /* Walk the Chunk messages (field 2) after the two labels. */
        const uint8_t *p = fr[f].msg + off + 25, *fend = fr[f].msg + fr[f].len;
        while (p < fend) {
            assert_int_equal(*p++, 0x12);
            uint64_t clen = rd_uvarint(&p);
            const uint8_t *c = p, *cend = p + clen;
            int64_t mint = 0, maxt = 0;
            const uint8_t *data = NULL;
            uint64_t dlen = 0, type = 0;
            while (c < cend) {
                uint8_t key = *c++;
                if (key == 0x08) mint = (int64_t)rd_uvarint(&c);
                else if (key == 0x10) maxt = (int64_t)rd_uvarint(&c);
                else if (key == 0x18) type = rd_uvarint(&c);
                else {
                    assert_int_equal(key, 0x22);
                    dlen = rd_uvarint(&c);
                    data = c;
                    c += dlen;
                }
            }
            assert_true(c == cend && data != NULL);
            assert_int_equal(type, 1);
            sample_vec_t sv = {0};
            assert_int_equal(rr_xor_decode(data, (size_t)dlen, &sv), 0);
            assert_true(sv.n >= 1 && sv.n <= RR_XOR_MAX_SAMPLES);
            assert_int_equal(sv.v[0].t, next_t);
            assert_int_equal(sv.v[0].t, mint);
            assert_int_equal(sv.v[sv.n - 1].t, maxt);
            next_t = sv.v[sv.n - 1].t + 15000;
            chunks++;
            sample_vec_free(&sv);
            p = cend;
        }
    }
    assert_int_equal(chunks, 9);
    assert_int_equal(next_t, s[N - 1].t + 15000);
    /* No samples: nothing written. */
    buf_reset(&out);
    rr_encode_chunked_series(&out, 0, l, 2, s, 0, 200);
    assert_int_equal(out.len, 0);
    buf_free(&out);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xor_golden),
        cmocka_unit_test(test_xor_roundtrip_random),
        cmocka_unit_test(test_decode_prometheus_request),
        cmocka_unit_test(test_negotiation_and_matchers),
        cmocka_unit_test(test_samples_encoding),
        cmocka_unit_test(test_streamed_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
