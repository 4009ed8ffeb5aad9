/* crc32c.h owns the CRC32C (Castagnoli) checksum used by the WAL and on-disk formats. */
#ifndef MS_UTIL_CRC32C_H
#define MS_UTIL_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* Extends crc (start with 0) over n bytes. Uses SSE4.2 when the CPU has it. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
