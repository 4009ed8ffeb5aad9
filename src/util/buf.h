/* buf.h owns buf_t, a growable byte buffer used to build responses, WAL records and encodings.
 * Ownership: the buf owns its bytes; buf_free releases them; buf_reset keeps the capacity. */
#ifndef MS_UTIL_BUF_H
#define MS_UTIL_BUF_H
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

void buf_free(buf_t *b);
void buf_reset(buf_t *b);
void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_putc(buf_t *b, char c);
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_put_u32le(buf_t *b, uint32_t v);
void buf_put_u64le(buf_t *b, uint64_t v);
void buf_put_uvarint(buf_t *b, uint64_t v);
void buf_put_varint(buf_t *b, int64_t v); /* zig-zag */
/* Leaves the buffer NUL-terminated (the NUL is not counted in len) and returns data as char*. */
char *buf_cstr(buf_t *b);

#endif
