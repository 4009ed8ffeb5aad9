/* alloc.c owns the abort-on-OOM allocation wrappers. */
#include "util/alloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "metricstor: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) oom(count * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *xstrdup(const char *s) { return xmemdup0(s, strlen(s)); }

char *xmemdup0(const void *p, size_t n)
{
    char *q = xmalloc(n + 1);
    if (n) memcpy(q, p, n);
    q[n] = 0;
    return q;
}

void xgrow(void **arr, size_t *cap, size_t need, size_t elem, size_t min_cap)
{
    if (need <= *cap) return;
    size_t c = *cap ? *cap : min_cap;
    while (c < need) c *= 2;
    *arr = xrealloc(*arr, c * elem);
    *cap = c;
}
