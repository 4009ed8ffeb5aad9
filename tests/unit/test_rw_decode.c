/* test_rw_decode.c tests the remote_write decoder without a db: valid requests built byte by byte,
 * every malformed shape (snappy, protobuf structure, labels, histograms, limits, encoding header),
 * truncation at every offset, random mutations, and the encoder round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <snappy-c.h>
#include "ingest/rw_decode.h"
#include "ingest/rw_encode.h"
#include "util/buf.h"

/* ---- a tiny protobuf writer of our own, independent of rw_encode.c ---- */

static void pkey(buf_t *b, unsigned field, unsigned wt) { buf_put_uvarint(b, (uint64_t)field << 3 | wt); }
static void plen(buf_t *b, unsigned field, const void *p, size_t n)
{
    pkey(b, field, 2);
    buf_put_uvarint(b, n);
    buf_append(b, p, n);
}
static void pstr(buf_t *b, unsigned field, const char *s) { plen(b, field, s, strlen(s)); }
static void pmsg(buf_t *b, unsigned field, buf_t *m)
{
    plen(b, field, m->data, m->len);
    buf_free(m);
}
static void plabel(buf_t *ts, const char *name, const char *value)
{
    buf_t l = BUF_INIT;
    pstr(&l, 1, name);
    pstr(&l, 2, value);
    pmsg(ts, 1, &l);
}
static void psample(buf_t *ts, double v, int64_t t)
{
    buf_t s = BUF_INIT;
    uint64_t bits;
    memcpy(&bits, &v, 8);
    pkey(&s, 1, 1);
    buf_put_u64le(&s, bits);
    pkey(&s, 2, 0);
    buf_put_uvarint(&s, (uint64_t)t);
    pmsg(ts, 2, &s);
}

static rw_outcome_t decode_pb(const buf_t *pb, rw_request_t *r, char *msg, size_t n)
{
    rw_limits_t lim;
    rw_limits_default(&lim);
    return rw_decode_proto(&lim, pb->data, pb->len, r, msg, n);
}

static rw_outcome_t decode_snappy(const rw_limits_t *lim, const char *ce, const buf_t *pb, rw_request_t *r, char *msg,
                                  size_t n)
{
    buf_t z = BUF_INIT;
    assert_int_equal(rw_snappy_compress(pb->data, pb->len, &z), 0);
    rw_outcome_t o = rw_decode(lim, ce, z.data, z.len, r, msg, n);
    buf_free(&z);
    return o;
}

static bool label_is(const label_t *l, const char *n, const char *v)
{
    return l->name_len == strlen(n) && memcmp(l->name, n, l->name_len) == 0 && l->value_len == strlen(v) &&
           memcmp(l->value, v, l->value_len) == 0;
}

/* Series {zeta="z", __name__="m", empty="", alpha="a"} with two samples, labels out of order. */
static void build_basic(buf_t *req)
{
    buf_t ts = BUF_INIT;
    plabel(&ts, "zeta", "z");
    plabel(&ts, "__name__", "m");
    plabel(&ts, "empty", "");
    plabel(&ts, "alpha", "a");
    psample(&ts, 1.5, 1000);
    psample(&ts, -2.25, 2000);
    pmsg(req, 1, &ts);
}

static void test_valid_sorted_and_empty_dropped(void **state)
{
    (void)state;
    buf_t req = BUF_INIT;
    build_basic(&req);
    buf_t ts = BUF_INIT; /* second series: one label, one sample */
    plabel(&ts, "__name__", "other");
    psample(&ts, 7, 3000);
    pmsg(&req, 1, &ts);

    rw_request_t r;
    char msg[512];
    assert_int_equal(decode_pb(&req, &r, msg, sizeof msg), RW_OK);
    assert_int_equal(r.n_series, 2);
    assert_int_equal(r.n_labels, 4); /* the empty-valued label is never stored */
    assert_int_equal(r.n_samples, 3);
    rw_series_t *s = &r.series[0];
    assert_int_equal(s->n_labels, 3);
    assert_true(label_is(&s->labels[0], "__name__", "m"));
    assert_true(label_is(&s->labels[1], "alpha", "a"));
    assert_true(label_is(&s->labels[2], "zeta", "z"));
    assert_true(s->hash == labels_hash(s->labels, s->n_labels));
    assert_int_equal(s->n_samples, 2);
    assert_true(s->samples[0].v == 1.5 && s->samples[0].t == 1000);
    assert_true(s->samples[1].v == -2.25 && s->samples[1].t == 2000);
    assert_int_equal(r.series[1].n_labels, 1);
    assert_true(r.series[1].samples[0].v == 7 && r.series[1].samples[0].t == 3000);
    /* zero copy: label bytes point into the input */
    assert_true((const uint8_t *)s->labels[0].name >= req.data && (const uint8_t *)s->labels[0].name < req.data + req.len);
    rw_request_free(&r);
    rw_request_free(&r); /* idempotent on a zeroed request */
    buf_free(&req);
}

static void test_absent_fields_are_zero(void **state)
{
    (void)state;
    buf_t req = BUF_INIT, ts = BUF_INIT, s = BUF_INIT;
    plabel(&ts, "__name__", "z");
    plen(&ts, 2, "", 0); /* empty Sample */
    pkey(&s, 2, 0);
    buf_put_uvarint(&s, 5); /* timestamp only */
    pmsg(&ts, 2, &s);
    uint64_t bits;
    double v = 3.5;
    memcpy(&bits, &v, 8);
    pkey(&s, 1, 1); /* value only */
    buf_put_u64le(&s, bits);
    pmsg(&ts, 2, &s);
    pmsg(&req, 1, &ts);
    rw_request_t r;
    char msg[512];
    assert_int_equal(decode_pb(&req, &r, msg, sizeof msg), RW_OK);
    assert_int_equal(r.n_samples, 3);
    assert_true(r.samples[0].v == 0 && r.samples[0].t == 0);
    assert_true(r.samples[1].v == 0 && r.samples[1].t == 5);
    assert_true(r.samples[2].v == 3.5 && r.samples[2].t == 0);
    rw_request_free(&r);
    buf_free(&req);

    /* an empty request is fine: nothing to do */
    assert_int_equal(rw_decode_proto(NULL, NULL, 0, &r, msg, sizeof msg), RW_OK);
    assert_int_equal(r.n_series, 0);
    rw_request_free(&r);
    /* a series with labels and no samples is fine */
    buf_t req2 = BUF_INIT, ts2 = BUF_INIT;
    plabel(&ts2, "__name__", "nos");
    pmsg(&req2, 1, &ts2);
    assert_int_equal(decode_pb(&req2, &r, msg, sizeof msg), RW_OK);
    assert_int_equal(r.n_series, 1);
    assert_int_equal(r.series[0].n_samples, 0);
    rw_request_free(&r);
    buf_free(&req2);
}

static void test_negative_timestamp_and_special_values(void **state)
{
    (void)state;
    buf_t req = BUF_INIT, ts = BUF_INIT;
    plabel(&ts, "__name__", "neg");
    psample(&ts, NAN, -1);
    psample(&ts, INFINITY, INT64_MIN);
    psample(&ts, -INFINITY, INT64_MAX);
    pmsg(&req, 1, &ts);
    rw_request_t r;
    char msg[512];
    assert_int_equal(decode_pb(&req, &r, msg, sizeof msg), RW_OK);
    assert_true(isnan(r.samples[0].v) && r.samples[0].t == -1);
    assert_true(isinf(r.samples[1].v) && r.samples[1].v > 0 && r.samples[1].t == INT64_MIN);
    assert_true(isinf(r.samples[2].v) && r.samples[2].v < 0 && r.samples[2].t == INT64_MAX);
    rw_request_free(&r);
    buf_free(&req);
}

/* Appends one unknown field of each wire type with field number 15 (and a big one). */
static void unknowns(buf_t *b)
{
    pkey(b, 15, 0);
    buf_put_uvarint(b, 300);
    pkey(b, 15, 1);
    buf_put_u64le(b, 42);
    plen(b, 15, "xyz", 3);
    pkey(b, 15, 5);
    buf_put_u32le(b, 7);
    pkey(b, 536870911, 0); /* the largest field number */
    buf_put_uvarint(b, 1);
}

static void test_unknown_fields_skipped_everywhere(void **state)
{
    (void)state;
    buf_t req = BUF_INIT, ts = BUF_INIT, l = BUF_INIT, s = BUF_INIT, m = BUF_INIT;
    unknowns(&req);
    unknowns(&l);
    pstr(&l, 1, "__name__");
    unknowns(&l);
    pstr(&l, 2, "u");
    unknowns(&l);
    unknowns(&ts);
    pmsg(&ts, 1, &l);
    unknowns(&ts);
    unknowns(&s);
    pkey(&s, 2, 0);
    buf_put_uvarint(&s, 77);
    unknowns(&s);
    pmsg(&ts, 2, &s);
    /* exemplars: skipped and counted */
    plen(&ts, 3, "\x10\x01", 2);
    plen(&ts, 3, "", 0);
    pmsg(&req, 1, &ts);
    plen(&req, 2, "reserved", 8); /* WriteRequest field 2 is reserved: skipped like any other */
    unknowns(&m);
    pkey(&m, 1, 0);
    buf_put_uvarint(&m, 1);
    pstr(&m, 2, "u");
    unknowns(&m);
    pmsg(&req, 3, &m);
    rw_request_t r;
    char msg[512];
    assert_int_equal(decode_pb(&req, &r, msg, sizeof msg), RW_OK);
    assert_int_equal(r.n_series, 1);
    assert_int_equal(r.n_labels, 1);
    assert_true(label_is(&r.labels[0], "__name__", "u"));
    assert_int_equal(r.n_samples, 1);
    assert_true(r.samples[0].t == 77 && r.samples[0].v == 0);
    assert_int_equal(r.exemplars_ignored, 2);
    assert_int_equal(r.n_metadata, 1);
    rw_request_free(&r);
    buf_free(&req);
}

static void test_last_scalar_wins(void **state)
{
    (void)state;
    buf_t req = BUF_INIT, ts = BUF_INIT, l = BUF_INIT;
    pstr(&l, 1, "first");
    pstr(&l, 2, "v1");
    pstr(&l, 1, "__name__");
    pstr(&l, 2, "v2");
    pmsg(&ts, 1, &l);
    pmsg(&req, 1, &ts);
    rw_request_t r;
    char msg[512];
    assert_int_equal(decode_pb(&req, &r, msg, sizeof msg), RW_OK);
    assert_true(label_is(&r.labels[0], "__name__", "v2"));
    rw_request_free(&r);
    buf_free(&req);
}

static void test_metadata(void **state)
{
    (void)state;
    buf_t req = BUF_INIT, m = BUF_INIT;
    pkey(&m, 1, 0);
    buf_put_uvarint(&m, 1);
    pstr(&m, 2, "http_requests_total");
    pstr(&m, 4, "Total requests.");
    pstr(&m, 5, "requests");
    pmsg(&req, 3, &m);
    pkey(&m, 1, 0);
    buf_put_uvarint(&m, 99); /* unknown enum value */
    pstr(&m, 2, "weird");
    pmsg(&req, 3, &m);
    plen(&req, 3, "", 0); /* all absent */
    rw_request_t r;
    char msg[512];
    assert_int_equal(decode_pb(&req, &r, msg, sizeof msg), RW_OK);
    assert_int_equal(r.n_metadata, 3);
    assert_int_equal(r.metadata[0].type, 1);
    assert_string_equal(rw_metric_type_str(r.metadata[0].type), "counter");
    assert_int_equal(r.metadata[0].name_len, 19);
    assert_memory_equal(r.metadata[0].name, "http_requests_total", 19);
    assert_memory_equal(r.metadata[0].help, "Total requests.", 15);
    assert_memory_equal(r.metadata[0].unit, "requests", 8);
    assert_string_equal(rw_metric_type_str(r.metadata[1].type), "unknown");
    assert_int_equal(r.metadata[2].name_len, 0);
    assert_int_equal(r.metadata[2].help_len, 0);
    rw_request_free(&r);
    buf_free(&req);
    const char *names[] = {"unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset"};
    for (uint32_t i = 0; i < 8; i++) assert_string_equal(rw_metric_type_str(i), names[i]);
    assert_string_equal(rw_metric_type_str(8), "unknown");

    /* metadata strings must be UTF-8 */
    buf_t bad = BUF_INIT;
    plen(&m, 4, "\xff", 1);
    pmsg(&bad, 3, &m);
    assert_int_equal(decode_pb(&bad, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_non_null(strstr(msg, "UTF-8"));
    buf_free(&bad);
}

/* Expects rejection with RW_BAD_REQUEST and a message containing want. */
static void expect_bad(const uint8_t *p, size_t n, const char *want)
{
    rw_request_t r;
    char msg[512] = "unset";
    rw_outcome_t o = rw_decode_proto(NULL, p, n, &r, msg, sizeof msg);
    if (o != RW_BAD_REQUEST) fail_msg("expected RW_BAD_REQUEST for '%s', got %d", want, o);
    if (!strstr(msg, want)) fail_msg("message '%s' lacks '%s'", msg, want);
    assert_null(r.series);
    assert_null(r.labels);
    assert_null(r.samples);
    rw_request_free(&r);
}
#define BAD(lit, want) expect_bad((const uint8_t *)(lit), sizeof(lit) - 1, want)

static void test_malformed_structure(void **state)
{
    (void)state;
    BAD("\x0b", "group");                      /* field 1 start-group */
    BAD("\x0c", "group");                      /* end-group */
    BAD("\x0e", "invalid wire type 6");
    BAD("\x0f", "invalid wire type 7");
    BAD("\x7b", "group");                      /* unknown field 15 as a group is still rejected */
    BAD("\x00\x00", "invalid field number 0");
    BAD("\x08\x01", "wire type 0");            /* timeseries as varint */
    BAD("\x1d\x00\x00\x00\x00", "wire type 5"); /* metadata as fixed32 */
    BAD("\x0a\x05\x0a\x01", "past the end");   /* length beyond end */
    BAD("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "past the end");  /* 2^64-1 length */
    BAD("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", "length");        /* varint overflow */
    BAD("\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", "length");    /* 11-byte varint */
    BAD("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x08", "field key");     /* 11-byte key */
    BAD("\x0a", "truncated length");
    BAD("\x0a\x02\x08\x01", "wire type 0");    /* Label as varint inside TimeSeries */
    BAD("\x0a\x04\x0a\x02\x08\x01", "wire type 0");  /* Label.name as varint */
    BAD("\x0a\x04\x0a\x02\x10\x01", "wire type 0");  /* Label.value as varint */
    BAD("\x0a\x04\x12\x02\x08\x01", "wire type 0");  /* Sample.value as varint */
    BAD("\x0a\x0b\x12\x09\x11\x00\x00\x00\x00\x00\x00\x00\x00", "wire type 1"); /* timestamp as fixed64 */
    BAD("\x0a\x04\x12\x02\x09\x00", "truncated");    /* Sample.value cut short */
    BAD("\x0a\x03\x12\x01\x10", "truncated");        /* timestamp missing */
    BAD("\x0a\x02\x18\x00", "wire type 0");          /* exemplar as varint */
    BAD("\x0a\x02\x7d\x00", "truncated");            /* unknown fixed32 cut short */
    BAD("\x0a\x02\x79\x00", "truncated");            /* unknown fixed64 cut short */
    BAD("\x0a\x02\x78\x80", "truncated");            /* unknown varint cut short */
    BAD("\x1a\x02\x10\x00", "wire type 0");          /* metadata name as varint */
    BAD("\x1a\x02\x09\x00", "wire type 1");          /* metadata type as fixed64 */
}

static void test_truncation_every_offset(void **state)
{
    (void)state;
    buf_t req = BUF_INIT;
    build_basic(&req); /* one top-level field: every proper prefix but the empty one is malformed */
    for (size_t n = 1; n < req.len; n++) {
        rw_request_t r;
        char msg[512];
        uint8_t *copy = malloc(n); /* exact-size copy so ASan sees any overread */
        memcpy(copy, req.data, n);
        rw_outcome_t o = rw_decode_proto(NULL, copy, n, &r, msg, sizeof msg);
        if (o != RW_BAD_REQUEST) fail_msg("prefix %zu of %zu accepted", n, req.len);
        assert_true(strlen(msg) > 0);
        free(copy);
    }
    /* the same for metadata */
    buf_t md = BUF_INIT, m = BUF_INIT;
    pkey(&m, 1, 0);
    buf_put_uvarint(&m, 2);
    pstr(&m, 2, "g");
    pstr(&m, 4, "help");
    pstr(&m, 5, "unit");
    pmsg(&md, 3, &m);
    for (size_t n = 1; n < md.len; n++) {
        rw_request_t r;
        char msg[512];
        uint8_t *copy = malloc(n);
        memcpy(copy, md.data, n);
        assert_int_equal(rw_decode_proto(NULL, copy, n, &r, msg, sizeof msg), RW_BAD_REQUEST);
        free(copy);
    }
    buf_free(&md);
    buf_free(&req);
}

static void expect_bad_series(void (*add)(buf_t *ts), const char *want1, const char *want2)
{
    buf_t req = BUF_INIT, ok = BUF_INIT, ts = BUF_INIT;
    plabel(&ok, "__name__", "good");
    psample(&ok, 1, 1);
    pmsg(&req, 1, &ok); /* a good series first: the whole request must still be rejected */
    add(&ts);
    psample(&ts, 1, 1);
    pmsg(&req, 1, &ts);
    rw_request_t r;
    char msg[512];
    rw_outcome_t o = decode_pb(&req, &r, msg, sizeof msg);
    if (o != RW_BAD_REQUEST) fail_msg("expected bad request for %s, got %d", want1, o);
    if (!strstr(msg, want1)) fail_msg("message '%s' lacks '%s'", msg, want1);
    if (want2 && !strstr(msg, want2)) fail_msg("message '%s' lacks '%s'", msg, want2);
    assert_null(r.series);
    buf_free(&req);
}
static void add_bad_name(buf_t *ts) { plabel(ts, "__name__", "badname"), plabel(ts, "bad\xff\xfe", "v"); }
static void add_bad_value(buf_t *ts) { plabel(ts, "__name__", "badval"), plabel(ts, "a", "\xc3\x28"); }
static void add_empty_name(buf_t *ts) { plabel(ts, "__name__", "ename"), plabel(ts, "", "v"); }
static void add_nothing(buf_t *ts) { (void)ts; }
static void add_only_empty(buf_t *ts) { plabel(ts, "a", ""), plabel(ts, "b", ""); }
static void add_dup(buf_t *ts) { plabel(ts, "a", "2"), plabel(ts, "__name__", "dup"), plabel(ts, "a", "1"); }
static void add_histogram(buf_t *ts) { plabel(ts, "__name__", "h"), plen(ts, 4, "\x08\x01", 2); }

static void test_invalid_labels(void **state)
{
    (void)state;
    expect_bad_series(add_bad_name, "label name is not valid UTF-8", "badname");
    expect_bad_series(add_bad_name, "\\xff\\xfe", NULL); /* shown escaped */
    expect_bad_series(add_bad_value, "label value is not valid UTF-8", "badval");
    expect_bad_series(add_empty_name, "empty label name", "ename");
    expect_bad_series(add_nothing, "empty label set", "series 2");
    expect_bad_series(add_only_empty, "empty label set", NULL);
    expect_bad_series(add_dup, "duplicate label name", "__name__=\"dup\"");
    expect_bad_series(add_histogram, "native histograms are not supported", NULL);
}

static void test_limits(void **state)
{
    (void)state;
    buf_t req = BUF_INIT;
    build_basic(&req); /* 3 labels, 2 samples; longest name "__name__" (8), values of 1 byte */
    rw_request_t r;
    char msg[512];
    rw_limits_t lim;
    rw_limits_default(&lim);
    assert_int_equal(lim.max_decompressed_bytes, 32u << 20);

    lim.max_samples = 1;
    assert_int_equal(rw_decode_proto(&lim, req.data, req.len, &r, msg, sizeof msg), RW_TOO_LARGE);
    assert_non_null(strstr(msg, "samples"));
    lim.max_samples = 2;
    assert_int_equal(rw_decode_proto(&lim, req.data, req.len, &r, msg, sizeof msg), RW_OK);
    rw_request_free(&r);

    rw_limits_default(&lim);
    lim.max_labels_per_series = 2;
    assert_int_equal(rw_decode_proto(&lim, req.data, req.len, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_non_null(strstr(msg, "3 labels"));
    lim.max_labels_per_series = 3; /* the dropped empty-valued label does not count */
    assert_int_equal(rw_decode_proto(&lim, req.data, req.len, &r, msg, sizeof msg), RW_OK);
    rw_request_free(&r);

    rw_limits_default(&lim);
    lim.max_label_name_len = 7;
    assert_int_equal(rw_decode_proto(&lim, req.data, req.len, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_non_null(strstr(msg, "label name length 8"));
    lim.max_label_name_len = 8;
    lim.max_label_value_len = 1;
    assert_int_equal(rw_decode_proto(&lim, req.data, req.len, &r, msg, sizeof msg), RW_OK);
    rw_request_free(&r);

    buf_t req2 = BUF_INIT, ts = BUF_INIT;
    plabel(&ts, "__name__", "longvalue");
    pmsg(&req2, 1, &ts);
    rw_limits_default(&lim);
    lim.max_label_value_len = 8;
    assert_int_equal(rw_decode_proto(&lim, req2.data, req2.len, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_non_null(strstr(msg, "label value length 9"));
    buf_free(&req2);

    /* decompressed size: exactly at the limit passes, one byte under fails before allocating */
    rw_limits_default(&lim);
    lim.max_decompressed_bytes = req.len;
    assert_int_equal(decode_snappy(&lim, "snappy", &req, &r, msg, sizeof msg), RW_OK);
    rw_request_free(&r);
    lim.max_decompressed_bytes = req.len - 1;
    assert_int_equal(decode_snappy(&lim, "snappy", &req, &r, msg, sizeof msg), RW_TOO_LARGE);
    assert_non_null(strstr(msg, "limit"));
    buf_free(&req);
}

static void test_snappy_and_encoding(void **state)
{
    (void)state;
    buf_t req = BUF_INIT;
    build_basic(&req);
    rw_request_t r;
    char msg[512];
    const char *good[] = {"snappy", "SNAPPY", " Snappy\t", "sNaPpY  "};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(decode_snappy(NULL, good[i], &req, &r, msg, sizeof msg), RW_OK);
        assert_int_equal(r.n_series, 1);
        assert_non_null(r.raw);
        assert_true(r.series[0].labels[0].name >= (const char *)r.raw &&
                    r.series[0].labels[0].name < (const char *)r.raw + r.raw_len);
        rw_request_free(&r);
    }
    assert_int_equal(decode_snappy(NULL, NULL, &req, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_non_null(strstr(msg, "missing Content-Encoding"));
    const char *bad[] = {"gzip", "", "snappy,gzip", "snap", "x-snappy-framed"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(decode_snappy(NULL, bad[i], &req, &r, msg, sizeof msg), RW_BAD_REQUEST);
        assert_non_null(strstr(msg, "Content-Encoding"));
    }

    /* bad snappy: garbage, a length header that lies, an uncompressed protobuf, empty body */
    const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(rw_decode(NULL, "snappy", garbage, sizeof garbage, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_non_null(strstr(msg, "snappy"));
    const uint8_t lies[] = {0xe8, 0x07, 0x08, 'a', 'b', 'c'};
    assert_int_equal(rw_decode(NULL, "snappy", lies, sizeof lies, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_non_null(strstr(msg, "snappy"));
    assert_int_equal(rw_decode(NULL, "snappy", req.data, req.len, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_int_equal(rw_decode(NULL, "snappy", "", 0, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_int_equal(rw_decode(NULL, "snappy", NULL, 0, &r, msg, sizeof msg), RW_BAD_REQUEST);
    /* a huge claimed length is refused before allocating anything */
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    assert_int_equal(rw_decode(NULL, "snappy", huge, sizeof huge, &r, msg, sizeof msg), RW_TOO_LARGE);
    /* valid snappy of malformed protobuf */
    buf_t z = BUF_INIT;
    assert_int_equal(rw_snappy_compress("\x0b", 1, &z), 0);
    assert_int_equal(rw_decode(NULL, "snappy", z.data, z.len, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_non_null(strstr(msg, "group"));
    assert_null(r.raw);
    buf_free(&z);
    buf_free(&req);
}

static void test_encoder_roundtrip(void **state)
{
    (void)state;
    label_t l1[] = {{"job", "x", 3, 1}, {"__name__", "up", 8, 2}, {"gone", "", 4, 0}};
    sample_t s1[] = {{1700000000000, 1}, {-5, NAN}, {0, 0}, {INT64_MAX, -0.0}};
    label_t l2[] = {{"__name__", "\xc3\xa9t\xc3\xa9", 8, 5}};
    buf_t pb = BUF_INIT, z = BUF_INIT;
    rw_encode_series(&pb, l1, 3, s1, 4);
    rw_encode_series(&pb, l2, 1, NULL, 0);
    rw_encode_metadata(&pb, 2, "up", "Up or not.", NULL);
    rw_encode_metadata(&pb, 0, NULL, NULL, NULL);
    assert_int_equal(rw_snappy_compress(pb.data, pb.len, &z), 0);
    assert_true(z.len > 0);
    rw_request_t r;
    char msg[512];
    rw_outcome_t o = rw_decode(NULL, "snappy", z.data, z.len, &r, msg, sizeof msg);
    if (o != RW_OK) fail_msg("round trip rejected: %s", msg);
    assert_int_equal(r.n_series, 2);
    assert_int_equal(r.series[0].n_labels, 2);
    assert_true(label_is(&r.series[0].labels[0], "__name__", "up"));
    assert_true(label_is(&r.series[0].labels[1], "job", "x"));
    assert_int_equal(r.series[0].n_samples, 4);
    assert_true(r.series[0].samples[0].t == 1700000000000 && r.series[0].samples[0].v == 1);
    assert_true(r.series[0].samples[1].t == -5 && isnan(r.series[0].samples[1].v));
    assert_true(r.series[0].samples[3].t == INT64_MAX && signbit(r.series[0].samples[3].v));
    assert_true(label_is(&r.series[1].labels[0], "__name__", "\xc3\xa9t\xc3\xa9"));
    assert_int_equal(r.series[1].n_samples, 0);
    assert_int_equal(r.n_metadata, 2);
    assert_int_equal(r.metadata[0].type, 2);
    assert_memory_equal(r.metadata[0].help, "Up or not.", 10);
    assert_int_equal(r.metadata[0].unit_len, 0);
    rw_request_free(&r);
    buf_free(&pb);
    buf_free(&z);
}

static void test_message_truncated_and_escaped(void **state)
{
    (void)state;
    static char longv[2000];
    memset(longv, 'v', sizeof longv - 1);
    buf_t req = BUF_INIT, ts = BUF_INIT;
    plabel(&ts, "__name__", "long");
    plabel(&ts, "a", longv);
    plabel(&ts, "a", "\"q\\\n");
    pmsg(&req, 1, &ts);
    rw_request_t r;
    char msg[512];
    assert_int_equal(decode_pb(&req, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_true(strlen(msg) < sizeof msg);
    assert_non_null(strstr(msg, "duplicate label name"));
    assert_non_null(strstr(msg, "..."));
    assert_non_null(strstr(msg, "__name__=\"long\""));
    buf_free(&req);

    buf_t req2 = BUF_INIT, ts2 = BUF_INIT;
    plabel(&ts2, "__name__", "esc");
    plabel(&ts2, "a", "\"q\\\n");
    plabel(&ts2, "a", "x");
    pmsg(&req2, 1, &ts2);
    assert_int_equal(decode_pb(&req2, &r, msg, sizeof msg), RW_BAD_REQUEST);
    assert_non_null(strstr(msg, "a=\"\\\"q\\\\\\x0a\""));
    /* a tiny message buffer is still NUL-terminated and never overrun */
    char tiny[8];
    assert_int_equal(decode_pb(&req2, &r, tiny, sizeof tiny), RW_BAD_REQUEST);
    assert_int_equal(strlen(tiny), 7);
    buf_free(&req2);
}

/* Random mutations of a valid request and random bytes: must never crash or leak (ASan), and an
 * accepted request must satisfy the invariants. */
static void test_random_mutations(void **state)
{
    (void)state;
    buf_t req = BUF_INIT;
    build_basic(&req);
    buf_t m = BUF_INIT;
    pkey(&m, 1, 0);
    buf_put_uvarint(&m, 3);
    pstr(&m, 2, "hist");
    pmsg(&req, 3, &m);
    unsigned seed = 12345;
    uint8_t *copy = malloc(req.len + 16);
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = req.len;
        memcpy(copy, req.data, n);
        int flips = 1 + (int)(rand_r(&seed) % 4);
        for (int k = 0; k < flips; k++) copy[rand_r(&seed) % n] = (uint8_t)rand_r(&seed);
        if (iter % 3 == 0) n = rand_r(&seed) % (n + 1);
        if (iter % 7 == 0)
            for (size_t k = 0; k < n; k++) copy[k] = (uint8_t)rand_r(&seed);
        rw_request_t r;
        char msg[512];
        rw_outcome_t o = rw_decode_proto(NULL, copy, n, &r, msg, sizeof msg);
        if (o == RW_OK) {
            size_t nl = 0, ns = 0;
            for (size_t i = 0; i < r.n_series; i++) {
                assert_int_equal(labels_validate(r.series[i].labels, r.series[i].n_labels), LABELS_OK);
                assert_true(r.series[i].hash == labels_hash(r.series[i].labels, r.series[i].n_labels));
                nl += r.series[i].n_labels;
                ns += r.series[i].n_samples;
            }
            assert_int_equal(nl, r.n_labels);
            assert_int_equal(ns, r.n_samples);
        } else {
            assert_true(o == RW_BAD_REQUEST || o == RW_TOO_LARGE);
            assert_true(msg[0] != 0);
        }
        rw_request_free(&r);
    }
    free(copy);
    buf_free(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_sorted_and_empty_dropped),
        cmocka_unit_test(test_absent_fields_are_zero),
        cmocka_unit_test(test_negative_timestamp_and_special_values),
        cmocka_unit_test(test_unknown_fields_skipped_everywhere),
        cmocka_unit_test(test_last_scalar_wins),
        cmocka_unit_test(test_metadata),
        cmocka_unit_test(test_malformed_structure),
        cmocka_unit_test(test_truncation_every_offset),
        cmocka_unit_test(test_invalid_labels),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_snappy_and_encoding),
        cmocka_unit_test(test_encoder_roundtrip),
        cmocka_unit_test(test_message_truncated_and_escaped),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
