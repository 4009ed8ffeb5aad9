/* fuzz_remote_write.c is the libFuzzer target for the remote_write decoder: arbitrary bytes are
 * decoded and validated (no db), both as a raw protobuf and as a snappy-compressed body, and an
 * accepted request is checked against the decoder's invariants. */
#include "ingest/rw_decode.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_accepted(const rw_request_t *r)
{
    size_t nl = 0, ns = 0;
    for (size_t i = 0; i < r->n_series; i++) {
        const rw_series_t *s = &r->series[i];
        if (labels_validate(s->labels, s->n_labels) != LABELS_OK) abort();
        if (s->hash != labels_hash(s->labels, s->n_labels)) abort();
        nl += s->n_labels;
        ns += s->n_samples;
    }
    if (nl != r->n_labels || ns != r->n_samples) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rw_limits_t lim;
    rw_limits_default(&lim);
    lim.max_decompressed_bytes = 1 << 20;
    rw_request_t r;
    char msg[512];
    /* Exact-size copy so any read past the end is caught by ASan. */
    uint8_t *copy = malloc(size ? size : 1);
    if (size) memcpy(copy, data, size);
    if (rw_decode_proto(&lim, copy, size, &r, msg, sizeof msg) == RW_OK) check_accepted(&r);
    else if (msg[0] == 0) abort(); /* every rejection says why */
    rw_request_free(&r);
    if (rw_decode(&lim, "snappy", copy, size, &r, msg, sizeof msg) == RW_OK) check_accepted(&r);
    else if (msg[0] == 0) abort();
    rw_request_free(&r);
    free(copy);
    return 0;
}
