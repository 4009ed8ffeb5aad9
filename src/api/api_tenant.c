/* api_tenant.c owns how a request's tenant (set by http_server.c from its credential) reaches
 * storage: queriers scoped to it, appenders labelling its series, a matcher for deletion, and the
 * check that refuses client-sent __tenant__ labels (so no one can forge another tenant's data). */
#include "api/api.h"
#include "util/status.h"
#include <string.h>

int api_scope_querier(const api_request_t *req, querier_t *q)
{
    if (!req || !req->tenant) return MS_OK;
    return querier_set_tenant(q, req->tenant, req->tenant_len);
}

int api_scope_appender(const api_request_t *req, appender_t *a)
{
    if (!req || !req->tenant) return MS_OK;
    return appender_set_tenant(a, req->tenant, req->tenant_len);
}

bool api_has_tenant_label(const label_t *ls, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ls[i].name_len == TENANT_LABEL_LEN && !memcmp(ls[i].name, TENANT_LABEL, TENANT_LABEL_LEN)) return true;
    return false;
}

matcher_t *api_tenant_matcher(const api_request_t *req)
{
    if (!req || !req->tenant) return NULL;
    matcher_t *m = NULL;
    char err[64];
    if (matcher_new(MATCH_EQ, TENANT_LABEL, TENANT_LABEL_LEN, req->tenant, req->tenant_len, &m, err, sizeof err) != 0)
        return NULL;
    return m;
}
