/* arena.h owns arena_t, a bump allocator for request- and query-scoped data: everything is
 * freed at once by arena_free. Not thread-safe: one arena per request/query. */
#ifndef MS_UTIL_ARENA_H
#define MS_UTIL_ARENA_H
#include <stddef.h>

typedef struct arena_block arena_block_t;
typedef struct arena {
    arena_block_t *head;
    size_t total;      /* bytes handed out, for budgets */
} arena_t;

#define ARENA_INIT {NULL, 0}

void *arena_alloc(arena_t *a, size_t n);            /* 16-byte aligned, uninitialised */
void *arena_calloc(arena_t *a, size_t count, size_t size);
char *arena_strndup(arena_t *a, const char *s, size_t n); /* NUL-terminated copy */
void arena_free(arena_t *a);

#endif
