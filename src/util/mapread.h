/* mapread.h owns reading a read-only file mapping front to back through a bounded resident
 * window: pages ahead of the reader are mapped in with one call per step, pages well behind it
 * are given back (they stay in the page cache, not in the process's memory). Used by WAL replay
 * and the head snapshot loader, so files of any size never sit in RSS whole. */
#ifndef MS_UTIL_MAPREAD_H
#define MS_UTIL_MAPREAD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mapread {
    const uint8_t *base; /* page-aligned start of the mapping */
    size_t len;          /* bytes that may be touched (the file's length) */
    size_t dropped, populated;
    bool mapped;         /* false: a plain buffer, nothing to do */
} mapread_t;

void mapread_init(mapread_t *m, const uint8_t *base, size_t len, bool mapped);
/* The reader is at p (inside [base, base + len]): maps ahead, gives back behind. */
void mapread_at(mapread_t *m, const uint8_t *p);
/* CRC32C (util/crc32c.h) of [p, p + n), read through such a window when mapped. */
uint32_t mapread_crc32c(const uint8_t *p, size_t n, bool mapped);

#endif
