/* rr_decode.c owns decoding a remote_read request: the optional snappy Content-Encoding check,
 * bounded snappy decompression and the protobuf ReadRequest walk into queries with compiled
 * matchers. Every byte goes through cursor_t; unknown fields are skipped as protobuf allows. */
#include "ingest/rr_codec.h"
#include "util/alloc.h"
#include "util/cursor.h"
#include <snappy-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct dec {
    char *msg;
    size_t msg_len;
    bool failed;
} dec_t;

static bool fail(dec_t *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(dec_t *d, const char *fmt, ...)
{
    if (!d->failed && d->msg_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->msg, d->msg_len, fmt, ap);
        va_end(ap);
    }
    d->failed = true;
    return false;
}

/* Reads a key; false at a clean end of message or on error (d->failed tells which). */
static bool pb_key(dec_t *d, cursor_t *c, uint64_t *field, uint32_t *wt, const char *what)
{
    if (cursor_done(c)) return false;
    uint64_t k = cursor_uvarint(c);
    if (!cursor_ok(c)) return fail(d, "protobuf: truncated key in %s", what);
    *field = k >> 3;
    *wt = (uint32_t)(k & 7);
    if (*field == 0) return fail(d, "protobuf: field number 0 in %s", what);
    return true;
}

static bool pb_sub(dec_t *d, cursor_t *c, cursor_t *sub, const char *what)
{
    uint64_t n = cursor_uvarint(c);
    if (!cursor_ok(c) || n > cursor_left(c)) return fail(d, "protobuf: truncated %s", what);
    cursor_init(sub, cursor_bytes(c, (size_t)n), (size_t)n);
    return true;
}

static bool pb_skip(dec_t *d, cursor_t *c, uint32_t wt, const char *what)
{
    switch (wt) {
    case 0: (void)cursor_uvarint(c); break;
    case 1: cursor_skip(c, 8); break;
    case 5: cursor_skip(c, 4); break;
    case 2: {
        uint64_t n = cursor_uvarint(c);
        if (cursor_ok(c) && n > cursor_left(c)) cursor_fail(c);
        else cursor_skip(c, (size_t)n);
        break;
    }
    default: return fail(d, "protobuf: unsupported wire type %u in %s", wt, what);
    }
    if (!cursor_ok(c)) return fail(d, "protobuf: truncated field in %s", what);
    return true;
}

static bool pb_want(dec_t *d, uint32_t wt, uint32_t want, uint64_t field, const char *what)
{
    if (wt == want) return true;
    return fail(d, "protobuf: field %llu of %s has wire type %u, want %u", (unsigned long long)field, what, wt, want);
}

static bool walk_matcher(dec_t *d, cursor_t *c, rr_query_t *q)
{
    uint64_t f = 0, type = 0;
    uint32_t wt = 0;
    const uint8_t *name = NULL, *value = NULL;
    size_t name_len = 0, value_len = 0;
    while (pb_key(d, c, &f, &wt, "LabelMatcher")) {
        if (f == 1) {
            if (!pb_want(d, wt, 0, f, "LabelMatcher")) return false;
            type = cursor_uvarint(c);
        } else if (f == 2 || f == 3) {
            if (!pb_want(d, wt, 2, f, "LabelMatcher")) return false;
            cursor_t s;
            if (!pb_sub(d, c, &s, "LabelMatcher string")) return false;
            if (f == 2) name = s.p, name_len = cursor_left(&s);
            else value = s.p, value_len = cursor_left(&s);
        } else if (!pb_skip(d, c, wt, "LabelMatcher")) {
            return false;
        }
        if (!cursor_ok(c)) return fail(d, "protobuf: truncated LabelMatcher");
    }
    if (d->failed) return false;
    if (type > MATCH_NRE) return fail(d, "invalid matcher type %llu", (unsigned long long)type);
    char err[256] = "";
    matcher_t *m = NULL;
    if (matcher_new((match_type_t)type, name ? (const char *)name : "", name_len, value ? (const char *)value : "",
                    value_len, &m, err, sizeof err) != 0)
        return fail(d, "%s", err[0] ? err : "invalid matcher");
    q->matchers = xrealloc(q->matchers, (q->n_matchers + 1) * sizeof *q->matchers);
    q->matchers[q->n_matchers++] = m;
    return true;
}

static bool walk_query(dec_t *d, cursor_t *c, rr_query_t *q)
{
    uint64_t f = 0;
    uint32_t wt = 0;
    while (pb_key(d, c, &f, &wt, "Query")) {
        if (f == 1 || f == 2) {
            if (!pb_want(d, wt, 0, f, "Query")) return false;
            int64_t v = (int64_t)cursor_uvarint(c);
            if (f == 1) q->start_ms = v;
            else q->end_ms = v;
        } else if (f == 3) {
            if (!pb_want(d, wt, 2, f, "Query")) return false;
            cursor_t sub;
            if (!pb_sub(d, c, &sub, "LabelMatcher") || !walk_matcher(d, &sub, q)) return false;
        } else if (!pb_skip(d, c, wt, "Query")) { /* hints (4) and anything newer */
            return false;
        }
        if (!cursor_ok(c)) return fail(d, "protobuf: truncated Query");
    }
    return !d->failed;
}

/* First accepted type we support wins, as Prometheus's NegotiateResponseType. */
static void accept_type(uint64_t t, bool *chosen, rr_response_type_t *rt)
{
    if (*chosen || t > RR_STREAMED_XOR_CHUNKS) return;
    *chosen = true;
    *rt = (rr_response_type_t)t;
}

void rr_request_free(rr_request_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_queries; i++) {
        for (size_t j = 0; j < r->queries[i].n_matchers; j++) matcher_free(r->queries[i].matchers[j]);
        free(r->queries[i].matchers);
    }
    free(r->queries);
    memset(r, 0, sizeof *r);
}

rr_outcome_t rr_decode_request_proto(const void *pb, size_t pb_len, rr_request_t *out, char *msg, size_t msg_len)
{
    memset(out, 0, sizeof *out);
    if (msg_len) msg[0] = 0;
    dec_t d = {msg, msg_len, false};
    cursor_t c;
    cursor_init(&c, pb, pb_len);
    uint64_t f = 0;
    uint32_t wt = 0;
    bool any_type = false, chosen = false;
    rr_response_type_t rt = RR_SAMPLES;
    while (pb_key(&d, &c, &f, &wt, "ReadRequest")) {
        if (f == 1) {
            if (!pb_want(&d, wt, 2, f, "ReadRequest")) break;
            cursor_t sub;
            if (!pb_sub(&d, &c, &sub, "Query")) break;
            out->queries = xrealloc(out->queries, (out->n_queries + 1) * sizeof *out->queries);
            rr_query_t *q = &out->queries[out->n_queries++];
            memset(q, 0, sizeof *q);
            if (!walk_query(&d, &sub, q)) break;
        } else if (f == 2 && wt == 0) {
            any_type = true;
            accept_type(cursor_uvarint(&c), &chosen, &rt);
        } else if (f == 2 && wt == 2) { /* packed, as Go writes repeated enums */
            cursor_t sub;
            if (!pb_sub(&d, &c, &sub, "accepted_response_types")) break;
            while (!cursor_done(&sub)) {
                any_type = true;
                accept_type(cursor_uvarint(&sub), &chosen, &rt);
            }
            if (!cursor_ok(&sub)) {
                fail(&d, "protobuf: truncated accepted_response_types");
                break;
            }
        } else if (!pb_skip(&d, &c, wt, "ReadRequest")) {
            break;
        }
        if (!cursor_ok(&c)) {
            fail(&d, "protobuf: truncated ReadRequest");
            break;
        }
    }
    if (!d.failed && any_type && !chosen)
        fail(&d, "server does not support any of the requested response types; supported: SAMPLES, "
                 "STREAMED_XOR_CHUNKS");
    if (d.failed) {
        rr_request_free(out);
        return RR_BAD_REQUEST;
    }
    out->response_type = rt;
    return RR_OK;
}

rr_outcome_t rr_decode_request(const void *body, size_t body_len, const char *content_encoding,
                               size_t max_decompressed, rr_request_t *out, char *msg, size_t msg_len)
{
    memset(out, 0, sizeof *out);
    if (content_encoding) {
        while (*content_encoding == ' ' || *content_encoding == '\t') content_encoding++;
        size_t n = strlen(content_encoding);
        while (n && (content_encoding[n - 1] == ' ' || content_encoding[n - 1] == '\t')) n--;
        if (!(n == 6 && !strncasecmp(content_encoding, "snappy", 6))) {
            snprintf(msg, msg_len, "unsupported Content-Encoding \"%.64s\": remote_read requires snappy",
                     content_encoding);
            return RR_BAD_REQUEST;
        }
    }
    size_t ulen = 0;
    if (!body || body_len == 0 || snappy_uncompressed_length(body, body_len, &ulen) != SNAPPY_OK) {
        snprintf(msg, msg_len, "snappy: corrupt input (bad or missing length header)");
        return RR_BAD_REQUEST;
    }
    if (max_decompressed && ulen > max_decompressed) {
        snprintf(msg, msg_len, "decompressed read request is %zu bytes, over the limit of %zu", ulen,
                 max_decompressed);
        return RR_TOO_LARGE;
    }
    char *raw = xmalloc(ulen ? ulen : 1);
    size_t got = ulen;
    if (snappy_uncompress(body, body_len, raw, &got) != SNAPPY_OK || got != ulen) {
        free(raw);
        snprintf(msg, msg_len, "snappy: corrupt compressed data");
        return RR_BAD_REQUEST;
    }
    rr_outcome_t o = rr_decode_request_proto(raw, ulen, out, msg, msg_len);
    free(raw); /* matchers copy what they keep */
    return o;
}
