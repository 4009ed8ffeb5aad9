/* api_write.c owns POST /api/v1/write: it hands the body to the remote_write decoder and maps the
 * outcome to Prometheus's remote_write HTTP semantics (204, 400, 413, 503). */
#include "api/api.h"
#include "api/selfmon.h"

void api_handle_write(api_t *api, const api_request_t *req, api_response_t *res)
{
    rw_result_t r;
    rw_handle(api->db, &api->rw_limits, req->content_encoding, req->body, req->body_len, &r);
    r.message[sizeof r.message - 1] = 0;
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
