/* fuzz_wal_record.c is the libFuzzer target for WAL record payload decoding (src/storage/record.h):
 * the first byte picks series, samples or metadata; the rest is decoded. A payload that decodes must
 * re-encode (series, samples) to bytes that decode to the same thing. */
#include "storage/record.h"
#include "model/labels.h"
#include "util/buf.h"
#include "util/status.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_series(rec_scratch_t *s)
{
    for (size_t i = 0; i < s->nseries; i++) {
        const rec_series_t *r = &s->series[i];
        if (r->first + r->n > s->nlabels) abort();
        if (labels_validate(&s->labels[r->first], r->n) != LABELS_OK) abort(); /* documented rule */
    }
    /* Round trip. */
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < s->nseries; i++)
        record_put_series(&b, s->series[i].ref, &s->labels[s->series[i].first], s->series[i].n);
    rec_scratch_t s2;
    memset(&s2, 0, sizeof s2);
    if (record_decode_series(b.data, b.len, &s2) != 0 || s2.nseries != s->nseries) abort();
    for (size_t i = 0; i < s->nseries; i++) {
        if (s2.series[i].ref != s->series[i].ref || s2.series[i].n != s->series[i].n) abort();
        for (size_t j = 0; j < s->series[i].n; j++) {
            const label_t *x = &s->labels[s->series[i].first + j], *y = &s2.labels[s2.series[i].first + j];
            if (x->name_len != y->name_len || x->value_len != y->value_len ||
                memcmp(x->name, y->name, x->name_len) || memcmp(x->value, y->value, x->value_len))
                abort();
        }
    }
    record_scratch_free(&s2);
    buf_free(&b);
}

static void check_samples(rec_scratch_t *s)
{
    /* Re-encode one group per sample (valid, if not compact) and compare. */
    buf_t b = BUF_INIT;
    int64_t base = 0;
    for (size_t i = 0; i < s->nsamples; i++) {
        double v;
        memcpy(&v, &s->samples[i].vbits, sizeof v);
        record_put_samples(&b, &base, s->samples[i].ref, &s->samples[i].t, &v, 1, sizeof(int64_t));
    }
    rec_scratch_t s2;
    memset(&s2, 0, sizeof s2);
    if (record_decode_samples(b.data, b.len, &s2) != 0 || s2.nsamples != s->nsamples) abort();
    for (size_t i = 0; i < s->nsamples; i++)
        if (s2.samples[i].ref != s->samples[i].ref || s2.samples[i].t != s->samples[i].t ||
            s2.samples[i].vbits != s->samples[i].vbits)
            abort();
    record_scratch_free(&s2);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1 << 16) return 0;
    uint8_t kind = data[0] % 3;
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    memcpy(p, data + 1, n);
    rec_scratch_t s;
    memset(&s, 0, sizeof s);
    int rc;
    switch (kind) {
    case 0:
        rc = record_decode_series(p, n, &s);
        if (rc == 0) check_series(&s);
        break;
    case 1:
        rc = record_decode_samples(p, n, &s);
        if (rc == 0) check_samples(&s);
        break;
    default:
        rc = record_decode_metadata(p, n, &s);
        if (rc == 0)
            for (size_t i = 0; i < s.nmeta; i++)
                for (int k = 0; k < 4; k++)
                    if (s.meta[i].len[k] && (s.meta[i].s[k] < (const char *)p ||
                                             s.meta[i].s[k] + s.meta[i].len[k] > (const char *)p + n))
                        abort();
        break;
    }
    if (rc != 0 && rc != MS_ECORRUPT) abort();
    record_scratch_free(&s);
    free(p);
    return 0;
}
