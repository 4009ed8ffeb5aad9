/* api_write.c owns POST /api/v1/write: it hands the body to the remote_write decoder and maps the
 * outcome to Prometheus's remote_write HTTP semantics (204, 400, 413, 429, 503).
 * 429 + Retry-After is storage backpressure (MS_EBUSY: a backfill is ahead of the block cut):
 * nothing was stored and the sender should slow down and resend; 503 + Retry-After is a
 * storage fault (WAL write or fsync failed). */
#include "api/api.h"
#include "api/selfmon.h"
#include "ingest/rw_decode.h"
#include "util/status.h"
#include <stdio.h>
#include <string.h>

/* rw_handle with tenancy: the decoded request is refused whole (400) if any series carries the
 * reserved __tenant__ label, and the appender labels every series with the request's tenant.
 * Outcomes and messages are rw_handle's. */
static int write_scoped(api_t *api, const api_request_t *req, rw_result_t *res)
{
    memset(res, 0, sizeof *res);
    rw_request_t wr;
    res->outcome = rw_decode(&api->rw_limits, req->content_encoding, req->body, req->body_len, &wr, res->message,
                             sizeof res->message);
    if (res->outcome != RW_OK) return MS_OK;
    res->series = wr.n_series;
    res->samples = wr.n_samples;
    res->exemplars_ignored = wr.exemplars_ignored;
    for (size_t i = 0; i < wr.n_series; i++)
        if (api_has_tenant_label(wr.series[i].labels, wr.series[i].n_labels)) {
            res->outcome = RW_BAD_REQUEST;
            snprintf(res->message, sizeof res->message, "series %zu: the label " TENANT_LABEL " is reserved (the "
                     "tenant comes from the credential); nothing stored", i);
            rw_request_free(&wr);
            return MS_OK;
        }
    appender_t *a = NULL;
    int rc = db_appender(api->db, &a);
    if (rc == 0) rc = api_scope_appender(req, a);
    for (size_t i = 0; i < wr.n_series && rc == 0; i++) {
        const rw_series_t *s = &wr.series[i];
        rc = appender_add(a, s->labels, s->n_labels, s->hash, s->samples, s->n_samples);
    }
    for (size_t i = 0; i < wr.n_metadata && rc == 0; i++) {
        const rw_metadata_t *m = &wr.metadata[i];
        if (m->name_len == 0) continue;
        const char *type = rw_metric_type_str(m->type);
        rc = appender_add_metadata(a, m->name, m->name_len, type, strlen(type), m->help, m->help_len, m->unit,
                                   m->unit_len);
        if (rc == 0) res->metadata++;
    }
    if (rc == 0) rc = appender_commit(a, &res->append); /* wr's label bytes stay valid until it returns */
    else appender_rollback(a);
    rw_request_free(&wr);
    if (rc == MS_EBUSY) {
        res->outcome = RW_UNAVAILABLE;
        snprintf(res->message, sizeof res->message, "%s", API_BACKPRESSURE_MSG);
        return rc;
    }
    if (rc != 0) {
        res->outcome = RW_UNAVAILABLE;
        rw_storage_error_message(rc, res->message, sizeof res->message); /* 503 + Retry-After */
        return rc;
    }
    const append_result_t *ar = &res->append;
    if (ar->samples_too_old || ar->samples_too_new) {
        res->outcome = RW_PARTIAL;
        snprintf(res->message, sizeof res->message, "%llu samples dropped: %llu older than the retention window, "
                 "%llu too far in the future (beyond the max-future window)",
                 (unsigned long long)(ar->samples_too_old + ar->samples_too_new),
                 (unsigned long long)ar->samples_too_old, (unsigned long long)ar->samples_too_new);
    }
    return MS_OK;
}

void api_handle_write(api_t *api, const api_request_t *req, api_response_t *res)
{
    rw_result_t r;
    int rc = write_scoped(api, req, &r);
    r.message[sizeof r.message - 1] = 0;
    if (rc == MS_EBUSY) { /* backpressure: resent by the sender, so not counted as rejected samples */
        api_text(res, 429, r.message); /* http_server adds Retry-After */
        buf_putc(&res->body, '\n');
        return;
    }
    /* rejected samples by reason, for /metrics (a body refused before decoding has no count) */
    selfmon_rejected(api->selfmon, SELFMON_REJECT_TOO_OLD, r.append.samples_too_old);
    selfmon_rejected(api->selfmon, SELFMON_REJECT_TOO_NEW, r.append.samples_too_new);
    if (r.outcome == RW_BAD_REQUEST) selfmon_rejected(api->selfmon, SELFMON_REJECT_INVALID_SERIES, r.samples);
    if (r.outcome == RW_UNAVAILABLE) selfmon_rejected(api->selfmon, SELFMON_REJECT_STORAGE, r.samples);
    int status;
    switch (r.outcome) {
    case RW_OK:
        res->status = 204;
        res->content_type = NULL;
        buf_reset(&res->body);
        return;
    case RW_BAD_REQUEST:
    case RW_PARTIAL:
        status = 400;
        break;
    case RW_TOO_LARGE:
        status = 413;
        break;
    case RW_UNAVAILABLE:
    default:
        status = 503;
        break;
    }
    api_text(res, status, r.message[0] ? r.message : "remote write failed");
    buf_putc(&res->body, '\n');
}
