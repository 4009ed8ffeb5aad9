/* cursor.c owns the bounds-checked reads of cursor_t. */
#include "util/cursor.h"
#include <endian.h>
#include <string.h>

uint8_t cursor_u8(cursor_t *c)
{
    if (c->err || c->p >= c->end) { cursor_fail(c); return 0; }
    return *c->p++;
}

uint32_t cursor_u32le(cursor_t *c)
{
    const uint8_t *b = cursor_bytes(c, 4);
    if (!b) return 0;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

uint64_t cursor_u64le(cursor_t *c)
{
    /* one load instead of a byte loop: WAL replay reads a u64 per sample */
    if (c->err || (size_t)(c->end - c->p) < 8) {
        cursor_fail(c);
        return 0;
    }
    uint64_t v;
    memcpy(&v, c->p, 8);
    c->p += 8;
    return le64toh(v);
}

uint64_t cursor_uvarint(cursor_t *c)
{
    if (!c->err && c->end - c->p >= 10) {
        /* fast path: a whole varint's worth of bytes is there, so no per-byte end check */
        const uint8_t *p = c->p;
        uint64_t v = 0;
        for (unsigned i = 0; i < 10; i++) {
            uint8_t b = p[i];
            if (i == 9 && b > 1) break; /* overflows 64 bits */
            v |= (uint64_t)(b & 0x7f) << (7 * i);
            if (!(b & 0x80)) {
                c->p = p + i + 1;
                return v;
            }
        }
        cursor_fail(c);
        return 0;
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (c->err || c->p >= c->end) { cursor_fail(c); return 0; }
        uint8_t b = *c->p++;
        if (shift == 63 && b > 1) { cursor_fail(c); return 0; }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    cursor_fail(c);
    return 0;
}

int64_t cursor_varint(cursor_t *c)
{
    uint64_t u = cursor_uvarint(c);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

const uint8_t *cursor_bytes(cursor_t *c, size_t n)
{
    if (c->err || (size_t)(c->end - c->p) < n) { cursor_fail(c); return NULL; }
    const uint8_t *r = c->p;
    c->p += n;
    return r;
}

void cursor_skip(cursor_t *c, size_t n) { (void)cursor_bytes(c, n); }
