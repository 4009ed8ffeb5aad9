/* remote_write.c owns rw_handle: a decoded, fully validated request is handed to storage through
 * one appender and committed as one unit, and the outcome is summarised for api/write.
 *
 * Decoding and validation live in rw_decode.c (no db needed); this file is the only part of
 * ingest that calls storage. */
#include "ingest/remote_write.h"
#include "ingest/rw_decode.h"
#include "util/status.h"
#include <stdio.h>
#include <string.h>

void rw_storage_error_message(int status, char *out, size_t n)
{
    const char *why;
    switch (status) {
    case MS_ENOSPC: why = "the disk is full (no space left on device)"; break;
    case MS_EIO: why = "the disk reported an I/O error"; break;
    default: why = ms_strerror(status); break;
    }
    snprintf(out, n, "storage cannot persist writes right now: %s; nothing from this request was stored or "
                     "acknowledged; retry later", why);
}

static void describe_drops(rw_result_t *res)
{
    const append_result_t *a = &res->append;
    uint64_t dropped = a->samples_too_old + a->samples_too_new;
    int n = snprintf(res->message, sizeof res->message, "%llu sample%s dropped:", (unsigned long long)dropped,
                     dropped == 1 ? "" : "s");
    if (n < 0 || (size_t)n >= sizeof res->message) return;
    size_t o = (size_t)n;
    const char *sep = " ";
    if (a->samples_too_old) {
        n = snprintf(res->message + o, sizeof res->message - o, "%s%llu older than the retention window", sep,
                     (unsigned long long)a->samples_too_old);
        if (n < 0 || (size_t)n >= sizeof res->message - o) return;
        o += (size_t)n;
        sep = ", ";
    }
    if (a->samples_too_new)
        snprintf(res->message + o, sizeof res->message - o, "%s%llu too far in the future (beyond the max-future window)",
                 sep, (unsigned long long)a->samples_too_new);
}

void rw_handle(db_t *db, const rw_limits_t *lim, const char *content_encoding, const void *body, size_t body_len,
               rw_result_t *res)
{
    memset(res, 0, sizeof *res);
    rw_request_t req;
    res->outcome = rw_decode(lim, content_encoding, body, body_len, &req, res->message, sizeof res->message);
    if (res->outcome != RW_OK) return;
    res->series = req.n_series;
    res->samples = req.n_samples;
    res->exemplars_ignored = req.exemplars_ignored;

    appender_t *a = NULL;
    int rc = db_appender(db, &a);
    if (rc != 0) {
        res->outcome = RW_UNAVAILABLE;
        rw_storage_error_message(rc, res->message, sizeof res->message);
        rw_request_free(&req);
        return;
    }
    for (size_t i = 0; i < req.n_series && rc == 0; i++) {
        const rw_series_t *s = &req.series[i];
        rc = appender_add(a, s->labels, s->n_labels, s->hash, s->samples, s->n_samples);
    }
    for (size_t i = 0; i < req.n_metadata && rc == 0; i++) {
        const rw_metadata_t *m = &req.metadata[i];
        if (m->name_len == 0) continue; /* nothing to attach it to */
        const char *type = rw_metric_type_str(m->type);
        rc = appender_add_metadata(a, m->name, m->name_len, type, strlen(type), m->help, m->help_len, m->unit,
                                   m->unit_len);
        if (rc == 0) res->metadata++;
    }
    if (rc != 0) {
        appender_rollback(a);
        res->outcome = RW_UNAVAILABLE;
        snprintf(res->message, sizeof res->message, "storage rejected the batch: %s; nothing stored",
                 ms_strerror(rc));
        rw_request_free(&req);
        return;
    }
    rc = appender_commit(a, &res->append); /* the label bytes in req stay valid until this returns */
    rw_request_free(&req);
    if (rc != 0) {
        res->outcome = RW_UNAVAILABLE;
        rw_storage_error_message(rc, res->message, sizeof res->message);
        return;
    }
    if (res->append.samples_too_old || res->append.samples_too_new) {
        res->outcome = RW_PARTIAL;
        describe_drops(res);
    }
}
