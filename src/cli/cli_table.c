/* cli_table.c owns the command-line tool's aligned tables: cells are collected, then every
 * column is padded to its widest cell, counting UTF-8 code points rather than bytes. */
#include "cli/cli.h"
#include "util/alloc.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void table_init(table_t *t, size_t cols)
{
    memset(t, 0, sizeof *t);
    t->cols = cols ? cols : 1;
}

void table_add(table_t *t, const char *cell)
{
    XGROW(t->cells, t->cap, t->n + 1);
    t->cells[t->n++] = xstrdup(cell ? cell : "");
}

void table_addf(table_t *t, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    table_add(t, tmp);
}

static size_t width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80) w++;
    return w;
}

void table_print(const table_t *t)
{
    size_t *w = xcalloc(t->cols, sizeof *w);
    for (size_t i = 0; i < t->n; i++) {
        size_t cw = width(t->cells[i]);
        if (cw > w[i % t->cols]) w[i % t->cols] = cw;
    }
    for (size_t i = 0; i < t->n; i++) {
        size_t c = i % t->cols;
        bool last = c + 1 == t->cols || i + 1 == t->n;
        fputs(t->cells[i], stdout);
        if (!last)
            for (size_t k = width(t->cells[i]); k < w[c] + 2; k++) putchar(' ');
        if (last) {
            putchar('\n');
            if (i < t->cols) { /* rule under the header */
                size_t total = 0;
                for (size_t k = 0; k < t->cols; k++) total += w[k] + (k + 1 < t->cols ? 2 : 0);
                for (size_t k = 0; k < total; k++) putchar('-');
                putchar('\n');
            }
        }
    }
    free(w);
}

void table_free(table_t *t)
{
    for (size_t i = 0; i < t->n; i++) free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}
