/* api_import.c owns POST /api/v1/import/prometheus (text exposition / OpenMetrics) and
 * POST /api/v1/import (the JSON lines /api/v1/export writes): the body is parsed and every series
 * validated as remote_write validates (UTF-8, empty or duplicate names, the write limits) before
 * anything is appended, so a bad body stores nothing; then one appender commits it all. */
#include "api/api_ops.h"
#include "api/selfmon.h"
#include "ingest/jsonl.h"
#include "ingest/textfmt.h"
#include "util/alloc.h"
#include "util/clock.h"
#include "util/status.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One series of a body: labels (a sorted, validated copy) and its samples. */
typedef struct imp_series {
    label_t *labels;
    size_t n_labels;
    uint64_t hash;
    sample_t *samples;
    size_t n_samples;
} imp_series_t;

typedef struct imp {
    api_t *api;
    api_response_t *res;
    imp_series_t *series;
    size_t n_series, cap_series;
    label_t *labels;     /* all copies, sized up front: never reallocated while borrowed */
    size_t n_labels, cap_labels;
    uint64_t n_samples;
    const api_request_t *req;  /* its tenant labels every series */
} imp_t;

static void imp_free(imp_t *im)
{
    free(im->series);
    free(im->labels);
}

static void bad_request(imp_t *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad_request(imp_t *im, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_text(im->res, 400, msg);
    buf_putc(&im->res->body, '\n');
}

/* Writes {a="b",...} (at most cap bytes, then "...") for messages. */
static void describe(const label_t *ls, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        int w = snprintf(out + o, cap - o, "%s%.*s=\"%.*s\"", i ? "," : "{", (int)ls[i].name_len, ls[i].name,
                         (int)(ls[i].value_len > 64 ? 64 : ls[i].value_len), ls[i].value);
        if (w < 0) break;
        o += (size_t)w;
        if (o >= cap) { o = cap - 1; break; }
    }
    if (o + 2 < cap) snprintf(out + o, cap - o, "}");
}

/* Copies, sorts and validates one series' labels as remote_write does; false after a 400. */
static bool imp_add_series(imp_t *im, const label_t *ls, size_t n, sample_t *samples, size_t ns, size_t line)
{
    const rw_limits_t *lim = &im->api->rw_limits;
    label_t *c = im->labels + im->n_labels;
    memcpy(c, ls, n * sizeof *c);
    labels_sort(c, n);
    n = labels_drop_empty(c, n);
    char desc[256];
    if (lim->max_labels_per_series && n > lim->max_labels_per_series) {
        describe(c, n, desc, sizeof desc);
        bad_request(im, "line %zu: series %s has %zu labels, over the limit of %zu; nothing stored", line, desc, n,
                    lim->max_labels_per_series);
        return false;
    }
    labels_verdict_t v = labels_validate(c, n);
    if (v != LABELS_OK) {
        describe(c, n, desc, sizeof desc);
        bad_request(im, "line %zu: invalid series %s: %s; nothing stored", line, desc, labels_verdict_str(v));
        return false;
    }
    if (api_has_tenant_label(c, n)) {
        describe(c, n, desc, sizeof desc);
        bad_request(im, "line %zu: series %s: the label " TENANT_LABEL " is reserved (the tenant comes from the "
                        "credential); nothing stored", line, desc);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if ((lim->max_label_name_len && c[i].name_len > lim->max_label_name_len) ||
            (lim->max_label_value_len && c[i].value_len > lim->max_label_value_len)) {
            describe(c, n, desc, sizeof desc);
            bad_request(im, "line %zu: series %s: label %.*s is over the length limit; nothing stored", line, desc,
                        (int)(c[i].name_len > 64 ? 64 : c[i].name_len), c[i].name);
            return false;
        }
    im->n_labels += n;
    XGROW(im->series, im->cap_series, im->n_series + 1);
    im->series[im->n_series++] = (imp_series_t){c, n, labels_hash(c, n), samples, ns};
    im->n_samples += ns;
    return true;
}

typedef struct imp_meta {
    const char *metric, *type, *help, *unit;
} imp_meta_t;

/* Appends and commits everything; writes the response (204, or 400/429/503 as remote_write). */
static void imp_commit(imp_t *im, const imp_meta_t *meta, size_t n_meta)
{
    selfmon_t *sm = im->api->selfmon;
    appender_t *a = NULL;
    int rc = db_appender(im->api->db, &a);
    if (rc == 0) rc = api_scope_appender(im->req, a);
    for (size_t i = 0; rc == 0 && i < im->n_series; i++) {
        const imp_series_t *s = &im->series[i];
        rc = appender_add(a, s->labels, s->n_labels, s->hash, s->samples, s->n_samples);
    }
    for (size_t i = 0; rc == 0 && i < n_meta; i++) {
        const imp_meta_t *m = &meta[i];
        rc = appender_add_metadata(a, m->metric, strlen(m->metric), m->type, strlen(m->type), m->help,
                                   strlen(m->help), m->unit, strlen(m->unit));
    }
    append_result_t ar;
    memset(&ar, 0, sizeof ar);
    if (rc == 0) rc = appender_commit(a, &ar);
    else appender_rollback(a);
    if (rc == MS_EBUSY) { /* backpressure: as remote_write, 429 + Retry-After, resend later */
        api_text(im->res, 429, API_BACKPRESSURE_MSG "\n");
        return;
    }
    if (rc != 0) {
        selfmon_rejected(sm, SELFMON_REJECT_STORAGE, im->n_samples);
        char msg[200];
        rw_storage_error_message(rc, msg, sizeof msg - 1); /* 503: http_server adds Retry-After */
        strcat(msg, "\n");
        api_text(im->res, 503, msg);
        return;
    }
    uint64_t dropped = ar.samples_too_old + ar.samples_too_new;
    selfmon_imported(sm, im->n_samples - dropped, ar.series_created);
    selfmon_rejected(sm, SELFMON_REJECT_TOO_OLD, ar.samples_too_old);
    selfmon_rejected(sm, SELFMON_REJECT_TOO_NEW, ar.samples_too_new);
    if (dropped) {
        bad_request(im, "%llu sample%s dropped: %llu older than the retention window, %llu too far in the future",
                    (unsigned long long)dropped, dropped == 1 ? "" : "s", (unsigned long long)ar.samples_too_old,
                    (unsigned long long)ar.samples_too_new);
        return;
    }
    im->res->status = 204;
    im->res->content_type = NULL;
    buf_reset(&im->res->body);
}

static bool same_labels(const textfmt_sample_t *a, const textfmt_sample_t *b)
{
    if (a->n_labels != b->n_labels) return false;
    for (size_t i = 0; i < a->n_labels; i++) {
        const label_t *x = &a->labels[i], *y = &b->labels[i];
        if (x->name_len != y->name_len || x->value_len != y->value_len || memcmp(x->name, y->name, x->name_len) ||
            memcmp(x->value, y->value, x->value_len))
            return false;
    }
    return true;
}

void api_handle_import_prometheus(api_t *api, const api_request_t *req, api_response_t *res)
{
    imp_t im = {api, res, NULL, 0, 0, NULL, 0, 0, 0, req};
    if (req->content_encoding && *req->content_encoding && strcasecmp(req->content_encoding, "identity")) {
        bad_request(&im, "unsupported Content-Encoding \"%.40s\" (send the text uncompressed)", req->content_encoding);
        return;
    }
    textfmt_options_t opts = {false, api->rw_limits.max_samples};
    if (req->content_type && !strncasecmp(req->content_type, "application/openmetrics-text", 28))
        opts.openmetrics = true;
    textfmt_doc_t doc;
    char err[300];
    if (textfmt_parse((const char *)req->body, req->body_len, &opts, &doc, NULL, err, sizeof err) != 0) {
        selfmon_rejected(api->selfmon, SELFMON_REJECT_SYNTAX, 1);
        bad_request(&im, "cannot parse the body: %s; nothing stored", err);
        return;
    }
    int64_t now = clock_now_ms();
    sample_t *samples = xmalloc((doc.n_samples + 1) * sizeof *samples);
    for (size_t i = 0; i < doc.n_samples; i++)
        samples[i] = (sample_t){doc.samples[i].has_ts ? doc.samples[i].ts_ms : now, doc.samples[i].v};
    im.labels = xmalloc((doc.n_labels + 1) * sizeof *im.labels);
    im.cap_labels = doc.n_labels;
    bool ok = true;
    /* Consecutive lines of one series (as export writes them) become one appender_add. */
    for (size_t i = 0; ok && i < doc.n_samples;) {
        size_t j = i + 1;
        while (j < doc.n_samples && same_labels(&doc.samples[i], &doc.samples[j])) j++;
        ok = imp_add_series(&im, doc.samples[i].labels, doc.samples[i].n_labels, samples + i, j - i,
                            doc.samples[i].line);
        i = j;
    }
    if (ok) {
        imp_meta_t *meta = xmalloc((doc.n_meta + 1) * sizeof *meta);
        size_t nm = 0;
        for (size_t i = 0; i < doc.n_meta; i++)
            if (doc.meta[i].type[0] || doc.meta[i].help[0] || doc.meta[i].unit[0])
                meta[nm++] = (imp_meta_t){doc.meta[i].metric, doc.meta[i].type[0] ? doc.meta[i].type : "unknown",
                                          doc.meta[i].help, doc.meta[i].unit};
        imp_commit(&im, meta, nm);
        free(meta);
    } else {
        selfmon_rejected(api->selfmon, SELFMON_REJECT_INVALID_SERIES, doc.n_samples);
    }
    free(samples);
    imp_free(&im);
    textfmt_doc_free(&doc);
}

void api_handle_import(api_t *api, const api_request_t *req, api_response_t *res)
{
    imp_t im = {api, res, NULL, 0, 0, NULL, 0, 0, 0, req};
    if (req->content_encoding && *req->content_encoding && strcasecmp(req->content_encoding, "identity")) {
        bad_request(&im, "unsupported Content-Encoding \"%.40s\" (send the JSON lines uncompressed)",
                    req->content_encoding);
        return;
    }
    jsonl_doc_t doc;
    char err[300];
    if (jsonl_parse((const char *)req->body, req->body_len, api->rw_limits.max_samples, &doc, NULL, err,
                    sizeof err) != 0) {
        selfmon_rejected(api->selfmon, SELFMON_REJECT_SYNTAX, 1);
        bad_request(&im, "cannot parse the body: %s; nothing stored", err);
        return;
    }
    im.labels = xmalloc((doc.n_labels + 1) * sizeof *im.labels);
    im.cap_labels = doc.n_labels;
    bool ok = true;
    for (size_t i = 0; ok && i < doc.n_series; i++) {
        jsonl_series_t *s = &doc.series[i];
        ok = imp_add_series(&im, s->labels, s->n_labels, s->samples, s->n_samples, s->line);
    }
    if (ok) imp_commit(&im, NULL, 0);
    else selfmon_rejected(api->selfmon, SELFMON_REJECT_INVALID_SERIES, doc.n_samples);
    imp_free(&im);
    jsonl_doc_free(&doc);
}
