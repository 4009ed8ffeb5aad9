/* head_read.c owns reading a series' chunks: copying samples of a time range out under the
 * series lock (so concurrent appends never corrupt a reader) and range-presence checks. */
#include "storage/head.h"
#include "util/alloc.h"
#include <string.h>

void series_read(series_t *s, int64_t mint, int64_t maxt, sample_vec_t *out)
{
    for (uint32_t i = 0; i < s->nchunks; i++) {
        const xor_chunk_t *c = &s->chunks[i];
        if (c->maxt < mint) continue;
        if (c->mint > maxt) break;
        if (out->n + c->n > out->cap) XGROW(out->v, out->cap, out->n + c->n);
        chunk_iter_t it;
        chunk_iter_init(&it, c->b, c->nbits, c->n);
        while (chunk_iter_next(&it)) {
            if (it.t < mint) continue;
            if (it.t > maxt) break;
            double v;
            memcpy(&v, &it.vbits, sizeof(v));
            out->v[out->n++] = (sample_t){it.t, v};
        }
    }
}

bool series_has_data(series_t *s, int64_t mint, int64_t maxt)
{
    for (uint32_t i = 0; i < s->nchunks; i++) {
        const xor_chunk_t *c = &s->chunks[i];
        if (c->maxt < mint) continue;
        if (c->mint > maxt) return false;
        if (c->mint >= mint || c->maxt <= maxt) return true; /* an end sample lies in range */
        chunk_iter_t it;
        chunk_iter_init(&it, c->b, c->nbits, c->n);
        while (chunk_iter_next(&it)) {
            if (it.t > maxt) break;
            if (it.t >= mint) return true;
        }
    }
    return false;
}
