/* api_read.c owns POST /api/v1/read (Prometheus remote_read): it decodes the ReadRequest, runs
 * each query through a storage querier and answers with the negotiated response type, SAMPLES
 * (snappy ReadResponse) or STREAMED_XOR_CHUNKS (CRC-framed ChunkedReadResponse messages).
 * Errors are plain text with Prometheus's status codes: 400 bad request, 413 too large, 500 storage.
 * The response is built whole before it is sent (no incremental streaming over the wire), so both
 * types share one sample limit per request: --query.max-samples (the queries' budget), at most
 * API_READ_SAMPLE_LIMIT. Reads count against the query concurrency limit (http_server.c: 503
 * with Retry-After past it) and stop early when the client has gone away. */
#include "api/api_read.h"
#include "ingest/rr_codec.h"
#include "ingest/rw_encode.h"
#include "util/status.h"
#include <stdio.h>

/* Series read between checks that the client is still there. */
#define GONE_CHECK_SERIES 256

/* Runs one query, appending each selected series to out in the response type's encoding.
 * Returns 0, a storage status, or MS_ECANCELED once the client has gone away; sets *over_limit
 * past limit samples in total. */
static int run_query(db_t *db, const api_request_t *req, const rr_query_t *q, rr_response_type_t rt, int64_t qi,
                     uint64_t limit, buf_t *out, uint64_t *samples_total, bool *over_limit)
{
    if (q->n_matchers == 0 || q->start_ms > q->end_ms) return 0; /* selects nothing, as Prometheus */
    querier_t *qr = NULL;
    int rc = db_querier(db, q->start_ms, q->end_ms, &qr);
    if (rc != 0) return rc;
    rc = api_scope_querier(req, qr);
    if (rc != 0) {
        querier_close(qr);
        return rc;
    }
    series_set_t *ss = NULL;
    rc = querier_select(qr, (const matcher_t *const *)q->matchers, q->n_matchers, &ss);
    sample_vec_t sv = {0};
    for (size_t i = 0; rc == 0 && i < series_set_len(ss); i++) {
        if (i % GONE_CHECK_SERIES == GONE_CHECK_SERIES - 1 && req->client_gone &&
            req->client_gone(req->client_gone_arg)) {
            rc = MS_ECANCELED;
            break;
        }
        sv.n = 0;
        rc = series_set_samples(ss, i, q->start_ms, q->end_ms, &sv);
        if (rc != 0) break;
        labels_t ls = series_set_labels(ss, i);
        /* Both types are limited: the streamed body is built whole before it is sent. */
        *samples_total += sv.n;
        if (*samples_total > limit) {
            *over_limit = true;
            break;
        }
        if (rt == RR_SAMPLES) {
            rr_encode_timeseries(out, ls.v, ls.n, sv.v, sv.n);
        } else {
            rr_encode_chunked_series(out, qi, ls.v, ls.n, sv.v, sv.n, RR_MAX_FRAME_BYTES);
        }
    }
    sample_vec_free(&sv);
    series_set_free(ss);
    querier_close(qr);
    return rc;
}

void api_handle_read(api_t *api, const api_request_t *req, api_response_t *res)
{
    rr_request_t rr;
    char msg[512];
    rr_outcome_t o = rr_decode_request(req->body, req->body_len, req->content_encoding,
                                       api->rw_limits.max_decompressed_bytes, &rr, msg, sizeof msg);
    if (o != RR_OK) {
        api_text(res, o == RR_TOO_LARGE ? 413 : 400, msg);
        buf_putc(&res->body, '\n');
        return;
    }
    buf_t out = BUF_INIT, qbuf = BUF_INIT;
    uint64_t total = 0;
    /* one budget with queries: --query.max-samples, within Prometheus's read sample limit */
    uint64_t limit = API_READ_SAMPLE_LIMIT;
    if (api->engine && promql_engine_max_samples(api->engine) < limit) limit = promql_engine_max_samples(api->engine);
    bool over = false;
    int rc = 0;
    for (size_t i = 0; i < rr.n_queries && rc == 0 && !over; i++) {
        if (rr.response_type == RR_SAMPLES) {
            buf_reset(&qbuf);
            rc = run_query(api->db, req, &rr.queries[i], RR_SAMPLES, (int64_t)i, limit, &qbuf, &total, &over);
            rr_encode_query_result(&out, &qbuf);
        } else {
            rc = run_query(api->db, req, &rr.queries[i], RR_STREAMED_XOR_CHUNKS, (int64_t)i, limit, &out, &total,
                           &over);
        }
    }
    if (over) {
        snprintf(msg, sizeof msg, "exceeded sample limit (%llu)\n", (unsigned long long)limit);
        api_text(res, 400, msg);
    } else if (rc == MS_ECANCELED) {
        api_text(res, 499, "client closed the connection\n"); /* nobody reads it; logged and counted */
    } else if (rc != 0) {
        snprintf(msg, sizeof msg, "remote read failed: %s\n", ms_strerror(rc));
        api_text(res, 500, msg);
    } else if (rr.response_type == RR_SAMPLES) {
        buf_reset(&res->body);
        if (rw_snappy_compress(out.data ? out.data : (const uint8_t *)"", out.len, &res->body) != 0) {
            api_text(res, 500, "remote read failed: snappy compression\n");
        } else {
            res->status = 200;
            res->content_type = RR_CONTENT_TYPE_SAMPLES;
            res->content_encoding = "snappy"; /* as Prometheus's answer says */
        }
    } else {
        buf_free(&res->body);
        res->body = out;
        out = (buf_t)BUF_INIT;
        res->status = 200;
        res->content_type = RR_CONTENT_TYPE_STREAMED;
    }
    buf_free(&out);
    buf_free(&qbuf);
    rr_request_free(&rr);
}
