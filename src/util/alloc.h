/* alloc.h owns the out-of-memory policy: every allocation either succeeds or aborts the process
 * with a message. Callers therefore never check for NULL. Counted so /metrics can report it. */
#ifndef MS_UTIL_ALLOC_H
#define MS_UTIL_ALLOC_H
#include <stddef.h>
#include <stdint.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copies n bytes and appends a NUL. */
char *xmemdup0(const void *p, size_t n);
/* Grows *cap (doubling, at least min_cap) so that need elements of elem size fit; reallocs *arr. */
void xgrow(void **arr, size_t *cap, size_t need, size_t elem, size_t min_cap);

#define XGROW(arr, cap, need) xgrow((void **)&(arr), &(cap), (need), sizeof(*(arr)), 8)

#endif
