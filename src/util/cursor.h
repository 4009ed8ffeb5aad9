/* cursor.h owns cursor_t, the one bounds-checked reader for untrusted or persisted bytes.
 * Its error is sticky: after the first overrun or malformed varint every read returns 0 and
 * cursor_ok() is false, so callers check once at the end. Never assert on such bytes. */
#ifndef MS_UTIL_CURSOR_H
#define MS_UTIL_CURSOR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cursor {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
} cursor_t;

static inline void cursor_init(cursor_t *c, const void *p, size_t n)
{
    c->p = (const uint8_t *)p;
    c->end = c->p + n;
    c->err = false;
}
static inline bool cursor_ok(const cursor_t *c) { return !c->err; }
static inline size_t cursor_left(const cursor_t *c) { return c->err ? 0 : (size_t)(c->end - c->p); }
static inline bool cursor_done(const cursor_t *c) { return c->err || c->p == c->end; }
static inline void cursor_fail(cursor_t *c) { c->err = true; c->p = c->end; }

uint8_t cursor_u8(cursor_t *c);
uint32_t cursor_u32le(cursor_t *c);
uint64_t cursor_u64le(cursor_t *c);
uint64_t cursor_uvarint(cursor_t *c);   /* protobuf/LEB128 varint, at most 10 bytes */
int64_t cursor_varint(cursor_t *c);     /* zig-zag */
/* Returns a pointer to the next n bytes (borrowed from the underlying buffer) or NULL. */
const uint8_t *cursor_bytes(cursor_t *c, size_t n);
void cursor_skip(cursor_t *c, size_t n);

#endif
