/* strmap.h owns strmap_t, an open-addressing hash map from borrowed byte strings to pointers,
 * used by the symbol table, the postings index and the metadata table.
 * Ownership: keys are borrowed (the value usually owns them); not thread-safe (callers lock). */
#ifndef MS_STORAGE_STRMAP_H
#define MS_STORAGE_STRMAP_H
#include <stddef.h>
#include <stdint.h>

typedef struct strmap_ent {
    uint64_t hash;
    const char *k; /* NULL: empty slot */
    size_t klen;
    void *v;
} strmap_ent_t;

typedef struct strmap {
    strmap_ent_t *e;
    size_t cap, n; /* cap is 0 or a power of two */
} strmap_t;

void strmap_free(strmap_t *m);              /* frees the table, not the values */
void *strmap_get(const strmap_t *m, const char *k, size_t klen, uint64_t h);
void strmap_put(strmap_t *m, const char *k, size_t klen, uint64_t h, void *v); /* key must be absent */
void *strmap_del(strmap_t *m, const char *k, size_t klen, uint64_t h);       /* returns old value */
size_t strmap_bytes(const strmap_t *m);

#endif
