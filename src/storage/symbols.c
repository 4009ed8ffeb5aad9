/* symbols.c owns the symbol table: every distinct label name or value string of the head is
 * stored once, reference counted by the series that use it. */
#include "storage/head.h"
#include "util/alloc.h"
#include "util/hash.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct sym {
    uint64_t hash;
    uint32_t len;
    uint32_t refs;
    char s[];
} sym_t;

void symtab_init(symtab_t *st, _Atomic int64_t *mem)
{
    pthread_mutex_init(&st->mu, NULL);
    st->m = (strmap_t){0};
    st->mem = mem;
}

void symtab_destroy(symtab_t *st)
{
    for (size_t i = 0; i < st->m.cap; i++)
        if (st->m.e[i].k) free(st->m.e[i].v);
    atomic_fetch_sub(st->mem, (int64_t)strmap_bytes(&st->m));
    strmap_free(&st->m);
    pthread_mutex_destroy(&st->mu);
}

const char *symtab_intern(symtab_t *st, const char *s, size_t len)
{
    uint64_t h = hash_bytes(s, len);
    pthread_mutex_lock(&st->mu);
    sym_t *y = strmap_get(&st->m, s, len, h);
    if (y) {
        y->refs++;
    } else {
        y = xmalloc(sizeof(*y) + len + 1);
        y->hash = h;
        y->len = (uint32_t)len;
        y->refs = 1;
        memcpy(y->s, s, len);
        y->s[len] = 0;
        size_t before = strmap_bytes(&st->m);
        strmap_put(&st->m, y->s, len, h, y);
        atomic_fetch_add(st->mem, (int64_t)(sizeof(*y) + len + 1 + strmap_bytes(&st->m) - before));
    }
    pthread_mutex_unlock(&st->mu);
    return y->s;
}

void symtab_release(symtab_t *st, const char *s)
{
    sym_t *y = (sym_t *)(void *)(s - offsetof(sym_t, s));
    pthread_mutex_lock(&st->mu);
    if (--y->refs == 0) {
        strmap_del(&st->m, y->s, y->len, y->hash);
        atomic_fetch_sub(st->mem, (int64_t)(sizeof(*y) + y->len + 1));
        free(y);
    }
    pthread_mutex_unlock(&st->mu);
}
