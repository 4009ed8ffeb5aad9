/* labels.h owns label sets: name/value pairs sorted by name, validated, compared and hashed.
 * Strings are (pointer, length) and may contain any valid UTF-8; they are not NUL-terminated
 * unless stated. A labels_t never owns its strings: who made it says who owns them. */
#ifndef MS_MODEL_LABELS_H
#define MS_MODEL_LABELS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct label {
    const char *name;
    const char *value;
    uint32_t name_len;
    uint32_t value_len;
} label_t;

typedef struct labels {
    label_t *v;
    size_t n;
} labels_t;

#define METRIC_NAME_LABEL "__name__"

/* Sorts in place by name (bytewise), as Prometheus orders labels. */
void labels_sort(label_t *v, size_t n);
/* Validation result of labels_validate. */
typedef enum {
    LABELS_OK = 0,
    LABELS_EMPTY_SET,        /* no labels at all (after dropping empty values) */
    LABELS_EMPTY_NAME,
    LABELS_NAME_NOT_UTF8,
    LABELS_VALUE_NOT_UTF8,
    LABELS_DUPLICATE_NAME,
    LABELS_UNSORTED,
} labels_verdict_t;
const char *labels_verdict_str(labels_verdict_t v);
/* Checks a sorted set: non-empty, names non-empty UTF-8, values UTF-8, no duplicate names.
 * Labels with empty values must already be dropped (labels_drop_empty). */
labels_verdict_t labels_validate(const label_t *v, size_t n);
/* Removes labels whose value is empty (Prometheus semantics); returns the new count. */
size_t labels_drop_empty(label_t *v, size_t n);

/* Bytewise three-way compare of two sorted label sets, the order Prometheus sorts series in. */
int labels_cmp(const label_t *a, size_t na, const label_t *b, size_t nb);
bool labels_equal(const label_t *a, size_t na, const label_t *b, size_t nb);
/* Hash of a sorted label set; equal sets hash equal. Defined over the raw bytes
 * (name, 0xff, value, 0xff)* so the ingest path can hash without copying. */
uint64_t labels_hash(const label_t *v, size_t n);
/* Finds a label's value; returns NULL (and *len untouched) if absent. */
const char *labels_get(const label_t *v, size_t n, const char *name, size_t name_len, uint32_t *len);

#endif
