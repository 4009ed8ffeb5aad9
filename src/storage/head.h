/* head.h owns the in-memory head: interned symbols, series (labels + chunks) in a striped hash
 * map, and the postings index. Internal to src/storage.
 *
 * Locking (outer to inner): db gc_lock (read: appenders/queriers; write: garbage collection)
 * -> stripe rwlock -> index rwlock -> symbols mutex. A series' mutex guards only its chunks and
 * is never held while taking another lock. Series pointers stay valid while the gc_lock is held
 * for reading (series are freed only under its write side). */
#ifndef MS_STORAGE_HEAD_H
#define MS_STORAGE_HEAD_H
#include "model/labels.h"
#include "model/matcher.h"
#include "storage/chunk.h"
#include "storage/strmap.h"
#include "storage/storage.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* ---- symbols: each distinct label string stored once, reference counted ---- */
typedef struct symtab {
    pthread_mutex_t mu;
    strmap_t m;
    _Atomic int64_t *mem; /* head_bytes accounting */
} symtab_t;
void symtab_init(symtab_t *st, _Atomic int64_t *mem);
void symtab_destroy(symtab_t *st);
/* Returns the interned NUL-terminated copy, taking one reference. */
const char *symtab_intern(symtab_t *st, const char *s, size_t len);
void symtab_release(symtab_t *st, const char *s);

/* ---- series ---- */
typedef struct series {
    uint64_t ref, hash;
    label_t *labels; /* strings interned in the symtab */
    uint32_t nlabels;
    uint32_t nchunks, capchunks;
    xor_chunk_t *chunks; /* time-sorted, non-overlapping; guarded by mu */
    pthread_mutex_t mu;
    atomic_bool wal_logged; /* a series record for ref is in the WAL */
    bool cut_dirty;         /* guarded by mu: a sample older than the running cut's boundary
                               arrived after the cut copied this series (blocks.c) */
    struct series *next;    /* stripe bucket chain */
} series_t;

typedef enum { APPEND_NEW = 0, APPEND_DUP, APPEND_REPLACED } append_kind_t;
/* Adds one sample; caller holds s->mu. Any order; same t + same bits is a no-op. */
append_kind_t series_append(series_t *s, int64_t t, uint64_t vbits, _Atomic int64_t *mem,
                            _Atomic int64_t *nchunks);
/* Appends samples in [mint, maxt] in time order; caller holds s->mu. */
void series_read(series_t *s, int64_t mint, int64_t maxt, sample_vec_t *out);
/* Does the series hold at least one sample in [mint, maxt]? Caller holds s->mu. */
bool series_has_data(series_t *s, int64_t mint, int64_t maxt);
/* Drops chunks whose samples are all < cutoff; returns chunks left. Caller holds s->mu. */
uint32_t series_drop_before(series_t *s, int64_t cutoff, _Atomic int64_t *mem, _Atomic int64_t *nchunks);

/* Drops every sample < cutoff (re-encoding the chunk that straddles it); returns chunks left.
 * Caller holds s->mu. */
uint32_t series_truncate_before(series_t *s, int64_t cutoff, _Atomic int64_t *mem, _Atomic int64_t *nchunks);

/* ---- postings index ---- */
typedef struct postings {
    series_t **v; /* sorted by ref */
    size_t n, cap;
} postings_t;
void postings_free(postings_t *p);

typedef struct pvalue {
    const char *value;
    size_t len;
    postings_t p;
} pvalue_t;

typedef struct pname {
    const char *name;
    size_t len;
    strmap_t values;   /* value -> pvalue_t* */
    pvalue_t **sorted; /* values sorted bytewise, rebuilt lazily when dirty */
    size_t nsorted, capsorted;
    bool dirty;
} pname_t;

typedef struct hindex {
    pthread_rwlock_t lock;
    pthread_mutex_t sort_mu; /* rebuilds pname.sorted while readers hold lock for reading */
    pname_t **names;         /* sorted by name */
    size_t nnames, capnames;
    postings_t all;
    _Atomic int64_t *mem;
} hindex_t;
void index_init(hindex_t *ix, _Atomic int64_t *mem);
void index_destroy(hindex_t *ix);
void index_add(hindex_t *ix, series_t *s);    /* takes the write lock */
void index_remove(hindex_t *ix, series_t *s); /* takes the write lock */
/* Series matching all matchers (AND), sorted by ref; *out malloc'd. Takes the read lock. */
void index_select(hindex_t *ix, const matcher_t *const *ms, size_t n, postings_t *out);
/* Locks for reading and ensures the sorted views; callers then walk names/sorted. */
void index_read_lock_sorted(hindex_t *ix);
void index_read_unlock(hindex_t *ix);
pname_t *index_find_name(hindex_t *ix, const char *name, size_t len); /* caller holds lock */

/* ---- the head ---- */
#define HEAD_STRIPES 256
typedef struct stripe {
    pthread_rwlock_t lock;
    series_t **buckets;
    size_t nbuckets, n;
} stripe_t;

typedef struct head {
    stripe_t stripes[HEAD_STRIPES];
    symtab_t syms;
    hindex_t index;
    _Atomic uint64_t next_ref;
    _Atomic int64_t mem;     /* head_bytes */
    _Atomic int64_t nseries;
    _Atomic int64_t nchunks;
} head_t;

void head_init(head_t *h);
void head_destroy(head_t *h);
/* Finds a series by hash + labels without copying; NULL if absent. */
series_t *head_get(head_t *h, const label_t *ls, size_t n, uint64_t hash);
/* Finds or creates (copying labels); ref 0 assigns a fresh ref, otherwise uses ref (replay). */
series_t *head_get_or_create(head_t *h, const label_t *ls, size_t n, uint64_t hash, uint64_t ref, bool *created);
/* Calls fn on every series (stripe read-locked). */
void head_each(head_t *h, void (*fn)(series_t *s, void *arg), void *arg);
/* Drops chunks older than cutoff and removes empty series. Caller holds the db gc write lock. */
void head_gc(head_t *h, int64_t cutoff);
/* After a block cut at boundary T: drops samples < T from every series not marked cut_dirty,
 * removes series left empty, and returns the oldest sample time left (INT64_MAX if none).
 * Caller holds the db gc write lock. */
int64_t head_truncate(head_t *h, int64_t T);

#endif
