/* fuzz_textfmt.c is the libFuzzer target for the import decoders: the text exposition parser
 * (src/ingest/textfmt.h, both 0.0.4 and OpenMetrics timestamp modes) and the JSON-lines decoder
 * (src/ingest/jsonl.h). Beyond memory safety it checks their promises: an error names a line
 * and returns nothing; a success returns labels inside the input or its arena, with valid lines. */
#include "ingest/jsonl.h"
#include "ingest/textfmt.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    char *s = malloc(size ? size : 1); /* exact size and no NUL, so an overread is caught */
    memcpy(s, data, size);
    char err[512];
    size_t line = 0;
    for (int om = 0; om < 2; om++) {
        textfmt_options_t o = {om == 1, 1000};
        textfmt_doc_t d;
        err[0] = 0;
        if (textfmt_parse(s, size, &o, &d, &line, err, sizeof err) != 0) {
            if (!err[0] || line == 0 || d.n_samples || d.n_meta) abort();
        } else {
            for (size_t i = 0; i < d.n_samples; i++) {
                const textfmt_sample_t *t = &d.samples[i];
                if (t->n_labels < 1 || t->line == 0 || t->line > size) abort();
                if (t->labels[0].value_len == 0) abort(); /* the metric name is never empty */
                for (size_t j = 0; j < t->n_labels; j++) {
                    volatile char c = 0;
                    for (size_t k = 0; k < t->labels[j].value_len; k++) c ^= t->labels[j].value[k];
                    (void)c;
                }
            }
            for (size_t i = 0; i < d.n_meta; i++)
                if (!d.meta[i].metric[0] ||
                    (d.meta[i].type[0] && !textfmt_type_valid(d.meta[i].type, strlen(d.meta[i].type))))
                    abort();
        }
        textfmt_doc_free(&d);
    }
    jsonl_doc_t j;
    err[0] = 0;
    if (jsonl_parse(s, size, 1000, &j, &line, err, sizeof err) != 0) {
        if (!err[0] || line == 0 || j.n_series) abort();
    } else {
        size_t total = 0;
        for (size_t i = 0; i < j.n_series; i++) total += j.series[i].n_samples;
        if (total > j.n_samples) abort();
    }
    jsonl_doc_free(&j);
    free(s);
    return 0;
}
