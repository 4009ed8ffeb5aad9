/* reader.h owns the seam between the querier and a source of series: the head and immutable
 * on-disk blocks (block.h). The querier asks every reader overlapping its range and merges series
 * with equal labels (samples merged by timestamp, the later reader winning on ties).
 * Lifetime: handles and borrowed strings a reader hands out stay valid while the querier that
 * asked is open (the head guarantees this through the db gc_lock). */
#ifndef MS_STORAGE_READER_H
#define MS_STORAGE_READER_H
#include "model/labels.h"
#include "model/matcher.h"
#include "storage/storage.h"
#include <stddef.h>
#include <stdint.h>

typedef struct reader_series {
    labels_t labels; /* borrowed */
    void *h;         /* reader-specific handle */
    uint32_t src;    /* index of the reader in the querier (filled by the querier) */
} reader_series_t;

typedef struct rs_vec {
    reader_series_t *v;
    size_t n, cap;
} rs_vec_t;

typedef struct str_vec {
    const char **s; /* borrowed */
    size_t *len;
    size_t n, cap;
} str_vec_t;
void str_vec_push(str_vec_t *sv, const char *s, size_t len);

typedef struct reader_ops {
    /* Appends the series matching all matchers that hold a sample in [mint, maxt]. */
    void (*select)(void *self, const matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt, rs_vec_t *out);
    /* Appends h's samples with mint <= t <= maxt in time order. */
    void (*samples)(void *self, void *h, int64_t mint, int64_t maxt, sample_vec_t *out);
    /* Appends label names (or values of one name) of series with data in range; any order. */
    void (*label_names)(void *self, int64_t mint, int64_t maxt, str_vec_t *out);
    void (*label_values)(void *self, const char *name, size_t len, int64_t mint, int64_t maxt, str_vec_t *out);
} reader_ops_t;

typedef struct reader {
    const reader_ops_t *ops;
    void *self;
} reader_t;

/* The head as a reader; self is the head_t. */
extern const reader_ops_t head_reader_ops;

/* Adds a reader to a querier, ahead of the head (readers added are older than the head, and
 * among themselves in the order added). Any number of readers may be added. */
int querier_add_reader(querier_t *q, const reader_ops_t *ops, void *self);
/* The same, and the querier calls free_self(self) at querier_close. */
int querier_add_reader_owned(querier_t *q, const reader_ops_t *ops, void *self, void (*free_self)(void *));

#endif
