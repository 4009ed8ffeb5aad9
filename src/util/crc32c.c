/* crc32c.c owns the CRC32C implementation: hardware (SSE4.2 crc32 instruction) when present,
 * else a slicing-by-one table. Both give identical results (tested). */
#include "util/crc32c.h"
#include <pthread.h>
#include <string.h>

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static int have_hw;

static void table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    have_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t n)
{
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = __builtin_ia32_crc32di(c, w);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&table_once, table_init);
    crc = ~crc;
#if defined(__x86_64__)
    if (have_hw) return ~crc_hw(crc, p, n);
#endif
    return ~crc_sw(crc, p, n);
}

/* Exposed for the unit test that checks hardware and software agree. */
uint32_t crc32c_software(uint32_t crc, const void *p, size_t n);
uint32_t crc32c_software(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&table_once, table_init);
    return ~crc_sw(~crc, p, n);
}
