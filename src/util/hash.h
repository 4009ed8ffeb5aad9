/* hash.h owns the one hash function of the system (XXH3-64, from libxxhash). */
#ifndef MS_UTIL_HASH_H
#define MS_UTIL_HASH_H
#include <stddef.h>
#include <stdint.h>

uint64_t hash_bytes(const void *p, size_t n);

#endif
