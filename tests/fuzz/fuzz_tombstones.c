/* fuzz_tombstones.c is the libFuzzer target for the tombstones file decoder
 * (storage/tombstones.c, docs/format/tombstones.md): any bytes must either be refused with a
 * reason or decode into a set that re-encodes to exactly the same bytes (the format has one
 * encoding per set, so a decoder accepting anything else would be lax) and whose entries are
 * valid: sorted, merged intervals, found again by their labels. */
#include "storage/tombstones.h"
#include "util/buf.h"
#include "util/status.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tomb_snap_t *s = NULL;
    char why[128];
    int rc = tomb_decode(data, size, &s, why, sizeof why);
    if (rc != MS_OK) {
        if (s || !why[0]) abort();
        return 0;
    }
    buf_t b = BUF_INIT;
    tomb_encode(s, &b);
    if (b.len != size || memcmp(b.data, data, size) != 0) abort();
    for (size_t i = 0; i < tomb_snap_len(s); i++) {
        const tomb_ent_t *e = tomb_snap_at(s, i);
        if (!e->niv || tomb_snap_find(s, e->labels.v, e->labels.n, e->hash) != e) abort();
        for (size_t k = 0; k < e->niv; k++) {
            if (e->iv[k].mint > e->iv[k].maxt) abort();
            if (k && e->iv[k].mint <= e->iv[k - 1].maxt) abort();
        }
    }
    buf_free(&b);
    tomb_snap_put(s);
    return 0;
}
