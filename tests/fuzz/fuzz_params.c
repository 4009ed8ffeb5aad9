/* fuzz_params.c is the libFuzzer target for HTTP request-target parsing (src/api/params.h and the
 * router in http_server.h): form and query-string decoding, percent-unescaping, path routing,
 * Prometheus times and durations, and Go %q quoting. */
#include "api/http_server.h"
#include "api/params.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = 0;
    char err[512];

    params_t p = PARAMS_INIT;
    err[0] = 0;
    if (params_parse_urlencoded(&p, s, size, err, sizeof err) != 0 && !err[0]) abort();
    for (size_t i = 0; i < p.n; i++) {
        if (!p.v[i].key || !p.v[i].value) abort();
        if (strlen(p.v[i].key) > p.v[i].key_len || strlen(p.v[i].value) > p.v[i].value_len) abort();
        size_t c = params_count(&p, p.v[i].key);
        if (c == 0 || !params_get_nth(&p, p.v[i].key, c - 1) || params_get_nth(&p, p.v[i].key, c)) abort();
        /* Values are what the api hands to the time and duration parsers. */
        int64_t ms;
        (void)params_parse_time(p.v[i].value, &ms, err, sizeof err);
        (void)params_parse_duration(p.v[i].value, &ms, err, sizeof err);
    }
    params_free(&p);

    for (int plus = 0; plus < 2; plus++) {
        size_t ul = 0;
        char *u = params_unescape(s, size, plus, &ul);
        if (u) {
            if (ul > size || u[ul] != 0) abort();
            free(u);
        }
    }

    /* The path part of a request target, as the router sees it. */
    unsigned allowed = 0;
    bool form = false;
    char *path_arg = NULL;
    size_t plen = strcspn(s, "?");
    if (http_route(s, plen, &allowed, &form, &path_arg) && (allowed == 0)) abort();
    free(path_arg);

    /* NUL-terminated forms, as the handlers see parameter values. */
    int64_t ms = 0;
    err[0] = 0;
    if (params_parse_time(s, &ms, err, sizeof err) != 0 && !err[0]) abort();
    err[0] = 0;
    if (params_parse_duration(s, &ms, err, sizeof err) != 0 && !err[0]) abort();
    char quoted[256];
    params_go_quote(s, quoted, sizeof quoted);
    if (strnlen(quoted, sizeof quoted) >= sizeof quoted) abort();
    free(s);
    return 0;
}
