/* api_admin.c owns the TSDB admin endpoints: delete_series and clean_tombstones with
 * Prometheus 2.42's parameters, statuses and error bodies (checked against the real one), and
 * our flush and compact, mapping their storage results to HTTP. With tenants, delete_series
 * ANDs the request's tenant matcher into every selector, so a tenant deletes only its own. */
#include "api/api_admin.h"
#include "promql/promql.h"
#include "util/alloc.h"
#include "util/log.h"
#include "util/status.h"
#include <stdlib.h>
#include <string.h>

static void storage_error(api_response_t *res, const char *what, int rc)
{
    api_json_error(res, rc == MS_EBUSY || rc == MS_ECLOSED ? "unavailable" : "internal", "%s: %s", what,
                   ms_strerror(rc));
}

typedef struct sel {
    matcher_t **ms;
    size_t n;
} sel_t;

/* As Prometheus without --web.enable-admin-api: 500 with errorType "unavailable" (what 2.42
 * answers, checked against the real server). */
static bool admin_enabled(const api_t *api, api_response_t *res)
{
    if (api->admin_api_enabled) return true;
    api_json_error(res, "unavailable", "admin APIs disabled");
    res->status = 500;
    return false;
}

void api_handle_admin_delete_series(api_t *api, const api_request_t *req, api_response_t *res)
{
    if (!admin_enabled(api, res)) return;
    size_t nsel = params_count(&req->params, "match[]");
    if (nsel == 0) {
        api_json_error(res, "bad_data", "no match[] parameter provided");
        return;
    }
    int64_t start, end;
    if (!api_param_time(req, res, "start", PARAMS_MIN_TIME_MS, &start)) return;
    if (!api_param_time(req, res, "end", PARAMS_MAX_TIME_MS, &end)) return;
    /* every selector is parsed before anything is deleted (Prometheus deletes selector by
     * selector, so a bad second one leaves the first done; the answer is the same 400) */
    sel_t *sels = xcalloc(nsel, sizeof(*sels));
    matcher_t *tenant = api_tenant_matcher(req);
    bool ok = true;
    for (size_t i = 0; i < nsel && ok; i++) {
        promql_error_t perr;
        memset(&perr, 0, sizeof(perr));
        if (promql_parse_selector(params_get_nth(&req->params, "match[]", i), &sels[i].ms, &sels[i].n, &perr) != 0) {
            api_json_error(res, "bad_data", "invalid parameter \"match[]\": %s", perr.message);
            ok = false;
            break;
        }
    }
    uint64_t total = 0;
    /* start > end deletes nothing: Prometheus answers 204 too */
    for (size_t i = 0; ok && start <= end && i < nsel; i++) {
        size_t n = sels[i].n;
        const matcher_t **ms = xmalloc((n + 1) * sizeof(*ms));
        memcpy(ms, sels[i].ms, n * sizeof(*ms));
        if (tenant) ms[n++] = tenant;
        uint64_t touched = 0;
        int rc = db_delete_series(api->db, ms, n, start, end, &touched);
        free(ms);
        if (rc != MS_OK) {
            storage_error(res, "delete series", rc);
            ok = false;
        }
        total += touched;
    }
    if (ok) {
        res->status = 204;
        buf_reset(&res->body);
        log_info("admin: delete_series (%zu selectors) touched %llu series", nsel, (unsigned long long)total);
    }
    for (size_t i = 0; i < nsel; i++) {
        for (size_t j = 0; j < sels[i].n; j++) matcher_free(sels[i].ms[j]);
        free(sels[i].ms);
    }
    free(sels);
    matcher_free(tenant);
}

void api_handle_admin_clean_tombstones(api_t *api, const api_request_t *req, api_response_t *res)
{
    if (!admin_enabled(api, res)) return;
    (void)req;
    int rc = db_clean_tombstones(api->db);
    if (rc != MS_OK) {
        storage_error(res, "clean tombstones", rc);
        return;
    }
    res->status = 204;
}

void api_handle_admin_flush(api_t *api, const api_request_t *req, api_response_t *res)
{
    if (!admin_enabled(api, res)) return;
    (void)req;
    int rc = db_flush_head(api->db);
    if (rc != MS_OK) {
        storage_error(res, "flush head", rc);
        return;
    }
    res->status = 204;
}

void api_handle_admin_compact(api_t *api, const api_request_t *req, api_response_t *res)
{
    if (!admin_enabled(api, res)) return;
    (void)req;
    uint64_t merged = 0;
    int rc = db_compact(api->db, &merged);
    if (rc != MS_OK) {
        storage_error(res, "compact", rc);
        return;
    }
    log_info("admin: compact merged %llu groups", (unsigned long long)merged);
    res->status = 204;
}
