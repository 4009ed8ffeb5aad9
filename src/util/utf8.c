/* utf8.c owns the UTF-8 validator; an ASCII fast path covers the common case. */
#include "util/utf8.h"
#include <stdint.h>

bool utf8_valid(const char *str, size_t n)
{
    const uint8_t *s = (const uint8_t *)str, *e = s + n;
    while (s < e) {
        uint8_t c = *s;
        if (c < 0x80) { s++; continue; }
        size_t need;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
        else return false;
        if ((size_t)(e - s) <= need) return false;
        for (size_t i = 1; i <= need; i++) {
            if ((s[i] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if (need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
        if (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
        s += need + 1;
    }
    return true;
}
