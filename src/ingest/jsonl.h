/* jsonl.h owns decoding the JSON-lines export shape (one series per line:
 * {"metric":{...},"values":[...],"timestamps":[...]}, as VictoriaMetrics exports) into series
 * and samples without touching storage, so /api/v1/import can restore what /api/v1/export wrote.
 *
 * Values are JSON numbers or the strings "NaN", "+Inf", "-Inf", "Inf" and "stale" (Prometheus's
 * staleness marker, the NaN with bits 0x7ff0000000000002), and also any number as a string.
 * Timestamps are integer milliseconds. The whole body is decoded before anything is returned; the
 * first error names its 1-based line. Strings live in the document's arena. */
#ifndef MS_INGEST_JSONL_H
#define MS_INGEST_JSONL_H
#include "model/labels.h"
#include "storage/storage.h"
#include "util/arena.h"
#include <stddef.h>
#include <stdint.h>

#define JSONL_STALE_NAN_BITS 0x7ff0000000000002ULL

typedef struct jsonl_series {
    label_t *labels;     /* in the line's order: the caller sorts and validates */
    size_t n_labels, first_label;
    sample_t *samples;   /* in the line's order */
    size_t n_samples, first_sample;
    size_t line;
} jsonl_series_t;

typedef struct jsonl_doc {
    jsonl_series_t *series;
    size_t n_series, cap_series;
    label_t *labels;
    size_t n_labels, cap_labels;
    sample_t *samples;
    size_t n_samples, cap_samples;
    arena_t arena;
} jsonl_doc_t;

/* Returns 0, or MS_EINVAL with err = "line N: why" and an empty doc. max_samples 0: unlimited. */
int jsonl_parse(const char *body, size_t len, size_t max_samples, jsonl_doc_t *doc, size_t *err_line, char *err,
                size_t err_len);
void jsonl_doc_free(jsonl_doc_t *doc);

#endif
