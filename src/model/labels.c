/* labels.c owns sorting, validating, comparing and hashing label sets. */
#include "model/labels.h"
#include "util/hash.h"
#include "util/utf8.h"
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

static int str_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return na < nb ? -1 : na > nb;
}

static int label_name_cmp(const void *x, const void *y)
{
    const label_t *a = x, *b = y;
    return str_cmp(a->name, a->name_len, b->name, b->name_len);
}

void labels_sort(label_t *v, size_t n)
{
    /* insertion sort for the common small, nearly sorted case */
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            label_t t = v[i];
            size_t j = i;
            while (j > 0 && label_name_cmp(&v[j - 1], &t) > 0) { v[j] = v[j - 1]; j--; }
            v[j] = t;
        }
        return;
    }
    qsort(v, n, sizeof *v, label_name_cmp);
}

const char *labels_verdict_str(labels_verdict_t v)
{
    switch (v) {
    case LABELS_OK: return "ok";
    case LABELS_EMPTY_SET: return "empty label set";
    case LABELS_EMPTY_NAME: return "empty label name";
    case LABELS_NAME_NOT_UTF8: return "label name is not valid UTF-8";
    case LABELS_VALUE_NOT_UTF8: return "label value is not valid UTF-8";
    case LABELS_DUPLICATE_NAME: return "duplicate label name";
    case LABELS_UNSORTED: return "labels not sorted";
    }
    return "invalid labels";
}

labels_verdict_t labels_validate(const label_t *v, size_t n)
{
    if (n == 0) return LABELS_EMPTY_SET;
    for (size_t i = 0; i < n; i++) {
        if (v[i].name_len == 0) return LABELS_EMPTY_NAME;
        if (!utf8_valid(v[i].name, v[i].name_len)) return LABELS_NAME_NOT_UTF8;
        if (!utf8_valid(v[i].value, v[i].value_len)) return LABELS_VALUE_NOT_UTF8;
        if (i > 0) {
            int c = str_cmp(v[i - 1].name, v[i - 1].name_len, v[i].name, v[i].name_len);
            if (c == 0) return LABELS_DUPLICATE_NAME;
            if (c > 0) return LABELS_UNSORTED;
        }
    }
    return LABELS_OK;
}

size_t labels_drop_empty(label_t *v, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].value_len) v[j++] = v[i];
    return j;
}

int labels_cmp(const label_t *a, size_t na, const label_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        int c = str_cmp(a[i].name, a[i].name_len, b[i].name, b[i].name_len);
        if (c) return c;
        c = str_cmp(a[i].value, a[i].value_len, b[i].value, b[i].value_len);
        if (c) return c;
    }
    return na < nb ? -1 : na > nb;
}

bool labels_equal(const label_t *a, size_t na, const label_t *b, size_t nb)
{
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++) {
        if (a[i].name_len != b[i].name_len || a[i].value_len != b[i].value_len) return false;
        if (memcmp(a[i].name, b[i].name, a[i].name_len) || memcmp(a[i].value, b[i].value, a[i].value_len))
            return false;
    }
    return true;
}

uint64_t labels_hash(const label_t *v, size_t n)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    static const unsigned char sep = 0xff;
    for (size_t i = 0; i < n; i++) {
        XXH3_64bits_update(&st, v[i].name, v[i].name_len);
        XXH3_64bits_update(&st, &sep, 1);
        XXH3_64bits_update(&st, v[i].value, v[i].value_len);
        XXH3_64bits_update(&st, &sep, 1);
    }
    return XXH3_64bits_digest(&st);
}

const char *labels_get(const label_t *v, size_t n, const char *name, size_t name_len, uint32_t *len)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].name_len == name_len && !memcmp(v[i].name, name, name_len)) {
            *len = v[i].value_len;
            return v[i].value;
        }
    return NULL;
}
