/* textfmt.h owns parsing the Prometheus text exposition format (0.0.4) and tolerating the
 * OpenMetrics 1.0 extras (# EOF, # UNIT, _created series, exemplars) into samples and metadata,
 * without touching storage, so the parser can be unit-tested and fuzzed alone.
 *
 * The whole body is parsed before anything is returned: on the first syntax error the result is
 * empty and the error names the 1-based line. Zero-copy where easy: metric names, label names
 * and escape-free label values point into the caller's body, which must outlive the document;
 * unescaped values and HELP texts live in the document's arena until textfmt_doc_free. */
#ifndef MS_INGEST_TEXTFMT_H
#define MS_INGEST_TEXTFMT_H
#include "model/labels.h"
#include "util/arena.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct textfmt_sample {
    label_t *labels;     /* __name__ first, then the labels in the line's order (not sorted,
                          * not validated: the caller sorts and checks as for remote_write) */
    size_t n_labels;
    size_t first_label;  /* index of labels[0] in textfmt_doc_t.labels */
    double v;
    bool has_ts;
    int64_t ts_ms;       /* when has_ts: milliseconds (OpenMetrics seconds are converted) */
    size_t line;         /* 1-based line number, for error messages */
} textfmt_sample_t;

typedef struct textfmt_meta {
    const char *metric, *type, *help, *unit; /* NUL-terminated (arena); absent ones are "" */
    size_t line;
} textfmt_meta_t;

typedef struct textfmt_doc {
    textfmt_sample_t *samples;
    size_t n_samples, cap_samples;
    label_t *labels;     /* one array for all samples' labels */
    size_t n_labels, cap_labels;
    textfmt_meta_t *meta; /* one entry per metric family that had HELP, TYPE or UNIT */
    size_t n_meta, cap_meta;
    arena_t arena;
} textfmt_doc_t;

typedef struct textfmt_options {
    bool openmetrics;    /* timestamps are float seconds (OpenMetrics) instead of integer ms */
    size_t max_samples;  /* 0: unlimited; more is a parse error */
} textfmt_options_t;

/* Parses body[0..len). Returns 0, or MS_EINVAL with err = "line N: why" (and *err_line = N when
 * not NULL) and an empty doc. Always call textfmt_doc_free afterwards. */
int textfmt_parse(const char *body, size_t len, const textfmt_options_t *opts, textfmt_doc_t *doc,
                  size_t *err_line, char *err, size_t err_len);
void textfmt_doc_free(textfmt_doc_t *doc); /* accepts zeroed docs */

/* Is this a metric family type the formats define (counter, gauge, histogram, summary,
 * untyped, and OpenMetrics' unknown, gaugehistogram, stateset, info)? */
bool textfmt_type_valid(const char *t, size_t n);

#endif
