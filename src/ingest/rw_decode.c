/* rw_decode.c owns the remote_write body decoder: the Content-Encoding check, bounded snappy
 * decompression, a two-pass zero-copy walk of prompb.WriteRequest, and per-series validation.
 *
 * Pass 1 walks the whole buffer once, validating structure and counting series, labels (with
 * non-empty values), samples and metadata. Then one array of each is allocated and pass 2 walks
 * the same bytes again with the same code, this time filling them. Labels point into the buffer.
 *
 * Wire format (proto3; absent fields are zero/empty; the last occurrence of a scalar wins):
 *   WriteRequest   1: TimeSeries (repeated)     3: MetricMetadata (repeated)
 *   TimeSeries     1: Label (rep)  2: Sample (rep)  3: Exemplar (rep, ignored)  4: Histogram (rejected)
 *   Label          1: name (string)             2: value (string)
 *   Sample         1: value (double, fixed64)   2: timestamp (int64 varint, ms)
 *   MetricMetadata 1: type (enum varint)  2: metric_family_name  4: help  5: unit
 * Unknown fields are skipped by wire type; groups (3, 4) and wire types 6, 7 are rejected, as is a
 * known field carrying the wrong wire type. */
#include "ingest/rw_decode.h"
#include "util/alloc.h"
#include "util/cursor.h"
#include "util/utf8.h"
#include <snappy-c.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5 };

#define RW_DEFAULT_MAX_DECOMPRESSED ((size_t)32 << 20)

void rw_limits_default(rw_limits_t *l)
{
    memset(l, 0, sizeof *l);
    l->max_decompressed_bytes = RW_DEFAULT_MAX_DECOMPRESSED;
}

const char *rw_metric_type_str(uint32_t type)
{
    static const char *const names[] = {"unknown", "counter", "gauge", "histogram",
                                        "gaugehistogram", "summary", "info", "stateset"};
    return type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

/* Decoder state for one request: the first failure wins and is sticky. In the counting pass the
 * output arrays are NULL and only the counters move; in the filling pass they are written. */
typedef struct dec {
    rw_outcome_t outcome;
    char *msg;
    size_t msg_len;
    label_t *labels;
    sample_t *samples;
    rw_series_t *series;
    rw_metadata_t *metadata;
    size_t n_labels, n_samples, n_series, n_metadata;
    uint64_t exemplars;
} dec_t;

static bool dec_fail(dec_t *d, rw_outcome_t o, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool dec_fail(dec_t *d, rw_outcome_t o, const char *fmt, ...)
{
    if (d->outcome != RW_OK) return false;
    d->outcome = o;
    if (d->msg && d->msg_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->msg, d->msg_len, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* Reads one field key of message `what`; rejects field 0, groups and invalid wire types. */
static bool pb_key(dec_t *d, cursor_t *c, const char *what, uint64_t *field, uint32_t *wt)
{
    uint64_t k = cursor_uvarint(c);
    if (!cursor_ok(c)) return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: truncated or overlong field key in %s", what);
    *field = k >> 3;
    *wt = (uint32_t)(k & 7);
    if (*field == 0 || *field > 0x1fffffff)
        return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: invalid field number %llu in %s",
                        (unsigned long long)*field, what);
    if (*wt == WT_SGROUP || *wt == WT_EGROUP)
        return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: group (wire type %u) in %s is not supported", *wt, what);
    if (*wt != WT_VARINT && *wt != WT_I64 && *wt != WT_LEN && *wt != WT_I32)
        return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: invalid wire type %u in %s", *wt, what);
    return true;
}

static bool pb_want(dec_t *d, uint64_t field, uint32_t wt, uint32_t want, const char *what)
{
    if (wt == want) return true;
    return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: field %llu of %s has wire type %u, expected %u",
                    (unsigned long long)field, what, wt, want);
}

/* Reads a length prefix and hands out the next that many bytes as a sub-cursor. */
static bool pb_sub(dec_t *d, cursor_t *c, cursor_t *sub, const char *what)
{
    uint64_t n = cursor_uvarint(c);
    if (!cursor_ok(c)) return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: truncated length in %s", what);
    if (n > cursor_left(c))
        return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: length %llu in %s runs past the end (%zu bytes left)",
                        (unsigned long long)n, what, cursor_left(c));
    const uint8_t *p = cursor_bytes(c, (size_t)n);
    cursor_init(sub, p, (size_t)n);
    return true;
}

static bool pb_skip(dec_t *d, cursor_t *c, uint32_t wt, const char *what)
{
    cursor_t sub;
    switch (wt) {
    case WT_VARINT: (void)cursor_uvarint(c); break;
    case WT_I64: cursor_skip(c, 8); break;
    case WT_I32: cursor_skip(c, 4); break;
    case WT_LEN: return pb_sub(d, c, &sub, what);
    default: return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: invalid wire type %u in %s", wt, what);
    }
    if (!cursor_ok(c)) return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: truncated unknown field in %s", what);
    return true;
}

static bool pb_string(dec_t *d, cursor_t *c, const char **s, size_t *n, const char *what)
{
    cursor_t sub;
    if (!pb_sub(d, c, &sub, what)) return false;
    *s = (const char *)sub.p;
    *n = cursor_left(&sub);
    return true;
}

static bool walk_label(dec_t *d, cursor_t *c, label_t *out)
{
    const char *name = "", *value = "";
    size_t name_len = 0, value_len = 0;
    while (!cursor_done(c)) {
        uint64_t f;
        uint32_t wt;
        if (!pb_key(d, c, "Label", &f, &wt)) return false;
        if (f == 1) {
            if (!pb_want(d, f, wt, WT_LEN, "Label") || !pb_string(d, c, &name, &name_len, "Label.name")) return false;
        } else if (f == 2) {
            if (!pb_want(d, f, wt, WT_LEN, "Label") || !pb_string(d, c, &value, &value_len, "Label.value"))
                return false;
        } else if (!pb_skip(d, c, wt, "Label")) {
            return false;
        }
    }
    if (name_len > UINT32_MAX || value_len > UINT32_MAX)
        return dec_fail(d, RW_TOO_LARGE, "label name or value longer than 4 GiB");
    out->name = name;
    out->value = value;
    out->name_len = (uint32_t)name_len;
    out->value_len = (uint32_t)value_len;
    return true;
}

static bool walk_sample(dec_t *d, cursor_t *c, sample_t *out)
{
    out->t = 0;
    out->v = 0;
    while (!cursor_done(c)) {
        uint64_t f;
        uint32_t wt;
        if (!pb_key(d, c, "Sample", &f, &wt)) return false;
        if (f == 1) {
            if (!pb_want(d, f, wt, WT_I64, "Sample")) return false;
            uint64_t bits = cursor_u64le(c);
            memcpy(&out->v, &bits, sizeof bits);
        } else if (f == 2) {
            if (!pb_want(d, f, wt, WT_VARINT, "Sample")) return false;
            out->t = (int64_t)cursor_uvarint(c);
        } else if (!pb_skip(d, c, wt, "Sample")) {
            return false;
        }
        if (!cursor_ok(c)) return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: truncated Sample");
    }
    return true;
}

static bool walk_series(dec_t *d, cursor_t *c)
{
    size_t lab0 = d->n_labels, smp0 = d->n_samples;
    while (!cursor_done(c)) {
        uint64_t f;
        uint32_t wt;
        cursor_t sub;
        if (!pb_key(d, c, "TimeSeries", &f, &wt)) return false;
        if (f == 1) {
            label_t l;
            if (!pb_want(d, f, wt, WT_LEN, "TimeSeries") || !pb_sub(d, c, &sub, "TimeSeries.labels") ||
                !walk_label(d, &sub, &l))
                return false;
            if (l.value_len == 0) continue; /* Prometheus drops labels with empty values */
            if (d->labels) d->labels[d->n_labels] = l;
            d->n_labels++;
        } else if (f == 2) {
            sample_t s;
            if (!pb_want(d, f, wt, WT_LEN, "TimeSeries") || !pb_sub(d, c, &sub, "TimeSeries.samples") ||
                !walk_sample(d, &sub, &s))
                return false;
            if (d->samples) d->samples[d->n_samples] = s;
            d->n_samples++;
        } else if (f == 3) {
            if (!pb_want(d, f, wt, WT_LEN, "TimeSeries") || !pb_sub(d, c, &sub, "TimeSeries.exemplars")) return false;
            d->exemplars++;
        } else if (f == 4) {
            return dec_fail(d, RW_BAD_REQUEST,
                            "native histograms are not supported yet (series %zu carries a histogram); "
                            "request rejected, nothing stored",
                            d->n_series + 1);
        } else if (!pb_skip(d, c, wt, "TimeSeries")) {
            return false;
        }
    }
    if (d->series) {
        rw_series_t *s = &d->series[d->n_series];
        s->labels = d->labels + lab0;
        s->n_labels = d->n_labels - lab0;
        s->samples = d->samples + smp0;
        s->n_samples = d->n_samples - smp0;
        s->hash = 0;
    }
    d->n_series++;
    return true;
}

static bool walk_metadata(dec_t *d, cursor_t *c)
{
    rw_metadata_t m = {0, "", "", "", 0, 0, 0};
    while (!cursor_done(c)) {
        uint64_t f;
        uint32_t wt;
        if (!pb_key(d, c, "MetricMetadata", &f, &wt)) return false;
        if (f == 1) {
            if (!pb_want(d, f, wt, WT_VARINT, "MetricMetadata")) return false;
            uint64_t t = cursor_uvarint(c);
            if (!cursor_ok(c)) return dec_fail(d, RW_BAD_REQUEST, "malformed protobuf: truncated MetricMetadata.type");
            m.type = t <= 7 ? (uint32_t)t : 0;
        } else if (f == 2 || f == 4 || f == 5) {
            const char **s = f == 2 ? &m.name : f == 4 ? &m.help : &m.unit;
            size_t *n = f == 2 ? &m.name_len : f == 4 ? &m.help_len : &m.unit_len;
            if (!pb_want(d, f, wt, WT_LEN, "MetricMetadata") || !pb_string(d, c, s, n, "MetricMetadata")) return false;
            if (!utf8_valid(*s, *n))
                return dec_fail(d, RW_BAD_REQUEST, "metadata %s is not valid UTF-8",
                                f == 2 ? "metric_family_name" : f == 4 ? "help" : "unit");
        } else if (!pb_skip(d, c, wt, "MetricMetadata")) {
            return false;
        }
    }
    if (d->metadata) d->metadata[d->n_metadata] = m;
    d->n_metadata++;
    return true;
}

static bool walk_request(dec_t *d, const uint8_t *pb, size_t n)
{
    cursor_t c, sub;
    cursor_init(&c, pb, n);
    d->n_labels = d->n_samples = d->n_series = d->n_metadata = 0;
    d->exemplars = 0;
    while (!cursor_done(&c)) {
        uint64_t f;
        uint32_t wt;
        if (!pb_key(d, &c, "WriteRequest", &f, &wt)) return false;
        if (f == 1) {
            if (!pb_want(d, f, wt, WT_LEN, "WriteRequest") || !pb_sub(d, &c, &sub, "WriteRequest.timeseries") ||
                !walk_series(d, &sub))
                return false;
        } else if (f == 3) {
            if (!pb_want(d, f, wt, WT_LEN, "WriteRequest") || !pb_sub(d, &c, &sub, "WriteRequest.metadata") ||
                !walk_metadata(d, &sub))
                return false;
        } else if (!pb_skip(d, &c, wt, "WriteRequest")) {
            return false;
        }
    }
    return true;
}

/* Writes {name="value", ...} into dst (always NUL-terminated), escaping quotes, backslashes and
 * every byte outside printable ASCII as \xNN, and ending in "..." when it does not fit. */
static void fmt_series(char *dst, size_t cap, const label_t *v, size_t n)
{
    size_t o = 0;
    bool cut = false;
#define PUT(ch)                                                                                                    \
    do {                                                                                                           \
        if (o + 4 >= cap) { cut = true; goto done; }                                                               \
        dst[o++] = (ch);                                                                                           \
    } while (0)
    PUT('{');
    for (size_t i = 0; i < n; i++) {
        for (int part = 0; part < 2; part++) {
            const char *s = part ? v[i].value : v[i].name;
            size_t len = part ? v[i].value_len : v[i].name_len;
            for (size_t k = 0; k < len; k++) {
                unsigned char ch = (unsigned char)s[k];
                if (ch == '"' || ch == '\\') {
                    PUT('\\');
                    PUT((char)ch);
                } else if (ch < 0x20 || ch >= 0x7f) {
                    static const char hex[] = "0123456789abcdef";
                    PUT('\\');
                    PUT('x');
                    PUT(hex[ch >> 4]);
                    PUT(hex[ch & 15]);
                } else {
                    PUT((char)ch);
                }
            }
            if (!part) {
                PUT('=');
                PUT('"');
            } else {
                PUT('"');
            }
        }
        if (i + 1 < n) {
            PUT(',');
            PUT(' ');
        }
    }
    PUT('}');
#undef PUT
done:
    if (cap == 0) return;
    if (cut) {
        while (o + 4 > cap && o > 0) o--;
        if (o + 4 <= cap) { memcpy(dst + o, "...", 3); o += 3; }
    }
    dst[o < cap ? o : cap - 1] = 0;
}

static bool validate_series(dec_t *d, const rw_limits_t *lim, size_t idx, rw_series_t *s)
{
    char desc[200];
    labels_sort(s->labels, s->n_labels);
    if (lim->max_labels_per_series && s->n_labels > lim->max_labels_per_series) {
        fmt_series(desc, sizeof desc, s->labels, s->n_labels);
        return dec_fail(d, RW_BAD_REQUEST, "series %zu %s has %zu labels, over the limit of %zu; nothing stored",
                        idx + 1, desc, s->n_labels, lim->max_labels_per_series);
    }
    labels_verdict_t v = labels_validate(s->labels, s->n_labels);
    if (v != LABELS_OK) {
        fmt_series(desc, sizeof desc, s->labels, s->n_labels);
        return dec_fail(d, RW_BAD_REQUEST, "invalid series %zu %s: %s; nothing stored", idx + 1, desc,
                        labels_verdict_str(v));
    }
    for (size_t i = 0; i < s->n_labels; i++) {
        const label_t *l = &s->labels[i];
        if ((lim->max_label_name_len && l->name_len > lim->max_label_name_len) ||
            (lim->max_label_value_len && l->value_len > lim->max_label_value_len)) {
            fmt_series(desc, sizeof desc, s->labels, s->n_labels);
            bool name = lim->max_label_name_len && l->name_len > lim->max_label_name_len;
            return dec_fail(d, RW_BAD_REQUEST, "series %zu %s: label %s length %u over the limit of %zu; nothing stored",
                            idx + 1, desc, name ? "name" : "value", name ? l->name_len : l->value_len,
                            name ? lim->max_label_name_len : lim->max_label_value_len);
        }
    }
    s->hash = labels_hash(s->labels, s->n_labels);
    return true;
}

void rw_request_free(rw_request_t *r)
{
    if (!r) return;
    free(r->raw);
    free(r->series);
    free(r->labels);
    free(r->samples);
    free(r->metadata);
    memset(r, 0, sizeof *r);
}

rw_outcome_t rw_decode_proto(const rw_limits_t *lim, const void *pb, size_t pb_len, rw_request_t *out, char *msg,
                             size_t msg_len)
{
    rw_limits_t deflim;
    if (!lim) {
        rw_limits_default(&deflim);
        lim = &deflim;
    }
    memset(out, 0, sizeof *out);
    if (msg && msg_len) msg[0] = 0;
    if (!pb) pb_len = 0, pb = ""; /* no pointer arithmetic on NULL */
    dec_t d;
    memset(&d, 0, sizeof d);
    d.msg = msg;
    d.msg_len = msg_len;

    /* Pass 1: structure and counts. */
    if (!walk_request(&d, pb, pb_len)) return d.outcome;
    if (lim->max_samples && d.n_samples > lim->max_samples) {
        dec_fail(&d, RW_TOO_LARGE, "request has %zu samples, over the limit of %zu per request", d.n_samples,
                 lim->max_samples);
        return d.outcome;
    }

    /* One array of each kind for the whole request. */
    size_t n_series = d.n_series, n_labels = d.n_labels, n_samples = d.n_samples, n_meta = d.n_metadata;
    out->series = xmalloc((n_series ? n_series : 1) * sizeof *out->series);
    out->labels = xmalloc((n_labels ? n_labels : 1) * sizeof *out->labels);
    out->samples = xmalloc((n_samples ? n_samples : 1) * sizeof *out->samples);
    out->metadata = xmalloc((n_meta ? n_meta : 1) * sizeof *out->metadata);
    d.series = out->series;
    d.labels = out->labels;
    d.samples = out->samples;
    d.metadata = out->metadata;

    /* Pass 2: fill. The bytes are the same, so this cannot fail where pass 1 succeeded; the
     * checks stay anyway, and the counts must agree. */
    if (!walk_request(&d, pb, pb_len) || d.n_series != n_series || d.n_labels != n_labels ||
        d.n_samples != n_samples || d.n_metadata != n_meta) {
        dec_fail(&d, RW_BAD_REQUEST, "internal error: decoder passes disagree");
        rw_request_free(out);
        return d.outcome;
    }
    out->n_series = n_series;
    out->n_labels = n_labels;
    out->n_samples = n_samples;
    out->n_metadata = n_meta;
    out->exemplars_ignored = d.exemplars;

    for (size_t i = 0; i < n_series; i++) {
        if (!validate_series(&d, lim, i, &out->series[i])) {
            rw_request_free(out);
            return d.outcome;
        }
    }
    return RW_OK;
}

/* Is the Content-Encoding header "snappy" (case-insensitive, surrounding spaces/tabs ignored)? */
static bool encoding_is_snappy(const char *ce)
{
    while (*ce == ' ' || *ce == '\t') ce++;
    size_t n = strlen(ce);
    while (n && (ce[n - 1] == ' ' || ce[n - 1] == '\t')) n--;
    return n == 6 && strncasecmp(ce, "snappy", 6) == 0;
}

rw_outcome_t rw_decode(const rw_limits_t *lim, const char *content_encoding, const void *body, size_t body_len,
                       rw_request_t *out, char *msg, size_t msg_len)
{
    rw_limits_t deflim;
    if (!lim) {
        rw_limits_default(&deflim);
        lim = &deflim;
    }
    memset(out, 0, sizeof *out);
    size_t max = lim->max_decompressed_bytes ? lim->max_decompressed_bytes : RW_DEFAULT_MAX_DECOMPRESSED;
    if (!content_encoding) {
        snprintf(msg, msg_len, "missing Content-Encoding header: remote_write bodies must be snappy-compressed "
                               "(Content-Encoding: snappy)");
        return RW_BAD_REQUEST;
    }
    if (!encoding_is_snappy(content_encoding)) {
        snprintf(msg, msg_len, "unsupported Content-Encoding \"%.64s\": remote_write requires snappy",
                 content_encoding);
        return RW_BAD_REQUEST;
    }
    size_t ulen = 0;
    if (!body || body_len == 0 || snappy_uncompressed_length(body, body_len, &ulen) != SNAPPY_OK) {
        snprintf(msg, msg_len, "snappy: corrupt input (bad or missing length header)");
        return RW_BAD_REQUEST;
    }
    if (ulen > max) {
        snprintf(msg, msg_len, "decompressed body would be %zu bytes, over the limit of %zu bytes", ulen, max);
        return RW_TOO_LARGE;
    }
    char *raw = xmalloc(ulen ? ulen : 1);
    size_t got = ulen;
    if (snappy_uncompress(body, body_len, raw, &got) != SNAPPY_OK || got != ulen) {
        free(raw);
        snprintf(msg, msg_len, "snappy: corrupt compressed data (expected snappy block format, not framed)");
        return RW_BAD_REQUEST;
    }
    rw_outcome_t o = rw_decode_proto(lim, raw, ulen, out, msg, msg_len);
    if (o != RW_OK) {
        free(raw);
        return o;
    }
    out->raw = (uint8_t *)raw;
    out->raw_len = ulen;
    return RW_OK;
}
