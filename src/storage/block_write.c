/* block_write.c owns building one block directory: chunk records appended to `chunks` as series
 * arrive in label order, then the symbol table, series entries, postings and TOC of `index`,
 * then `meta`; every file fsynced, the tmp dir renamed into place (docs/format/block.md). */
#include "storage/bchunk.h"
#include "storage/block.h"
#include "storage/strmap.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/fio.h"
#include "util/hash.h"
#include "util/log.h"
#include "util/status.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct wchunk {
    int64_t mint, maxt;
    uint64_t off;
} wchunk_t;

typedef struct wseries {
    uint32_t first_label, nlabels; /* into w->lbl */
    uint32_t first_chunk, nchunks; /* into w->chk */
} wseries_t;

typedef struct wlabel {
    char *name, *value; /* interned in w->syms (strmap keys own nothing; strings in w->strs) */
    uint32_t nlen, vlen;
} wlabel_t;

typedef struct wsym {
    char *s; /* owned, NUL-terminated (may also hold NUL bytes: len is the truth) */
    size_t n;
} wsym_t;

struct block_writer {
    char *parent, *tmp, *final;
    int zlevel;
    bool sync;
    uint32_t seq;
    int cfd;
    uint64_t coff; /* chunks file size */
    buf_t cbuf;    /* pending chunk bytes */
    strmap_t syms; /* symbol -> (uintptr) id+1, assigned at finish */
    wsym_t *strs;  /* owned symbol strings */
    size_t nstrs, capstrs;
    wseries_t *ser;
    size_t nser, capser;
    wlabel_t *lbl;
    size_t nlbl, caplbl;
    wchunk_t *chk;
    size_t nchk, capchk;
    block_meta_t meta;
};

static int io_err(void) { return fio_errno_status(errno ? errno : EIO) == MS_ENOSPC ? MS_ENOSPC : MS_EIO; }

/* Every file write goes through util/fio (the fault-injection seam); both kinds of failure are
 * reported as MS_ENOSPC or MS_EIO so the caller can keep the data in the head and retry. */
static int write_all(int fd, const void *p, size_t n)
{
    int rc = fio_write_all(fd, p, n, NULL);
    return rc == MS_OK ? MS_OK : rc == MS_ENOSPC ? MS_ENOSPC : MS_EIO;
}

static int fsync_fd(int fd)
{
    int rc = fio_fsync(fd);
    return rc == MS_OK ? MS_OK : rc == MS_ENOSPC ? MS_ENOSPC : MS_EIO;
}

static int fsync_path(const char *path)
{
    int fd;
    int rc = fio_open(path, O_RDONLY, 0, &fd);
    if (rc != MS_OK) return MS_EIO;
    rc = fsync_fd(fd);
    close(fd);
    return rc;
}

int block_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? MS_OK : MS_EIO;
    struct dirent *e;
    char p[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    return rmdir(dir) == 0 ? MS_OK : MS_EIO;
}

int block_writer_open(const char *parent, uint32_t seq, int zlevel, bool sync, block_writer_t **out)
{
    char p[PATH_MAX];
    block_writer_t *w = xcalloc(1, sizeof(*w));
    w->parent = xstrdup(parent);
    snprintf(p, sizeof(p), "%s/%08u.tmp", parent, seq);
    w->tmp = xstrdup(p);
    snprintf(p, sizeof(p), "%s/%08u", parent, seq);
    w->final = xstrdup(p);
    w->zlevel = zlevel;
    w->seq = seq;
    w->sync = sync;
    w->cfd = -1;
    w->meta.mint = INT64_MAX;
    w->meta.maxt = INT64_MIN;
    block_rmdir(w->tmp);
    int rc = MS_OK;
    if (mkdir(w->tmp, 0755) != 0) rc = io_err();
    if (rc == MS_OK) {
        snprintf(p, sizeof(p), "%s/chunks", w->tmp);
        if (fio_open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644, &w->cfd) != MS_OK) rc = io_err();
    }
    if (rc == MS_OK) {
        const uint8_t hdr[8] = {'M', 'S', 'B', 'C', 1, 0, 0, 0};
        buf_append(&w->cbuf, hdr, sizeof(hdr));
        w->coff = sizeof(hdr);
    }
    if (rc != MS_OK) {
        log_error("block: create %s: %s", w->tmp, strerror(errno));
        block_writer_abort(w);
        return rc;
    }
    *out = w;
    return MS_OK;
}

static char *intern(block_writer_t *w, const char *s, size_t n)
{
    uint64_t h = hash_bytes(s, n);
    char *k = strmap_get(&w->syms, s, n, h);
    if (k) return k;
    k = xmemdup0(s, n);
    if (w->nstrs == w->capstrs) XGROW(w->strs, w->capstrs, w->nstrs + 1);
    w->strs[w->nstrs++] = (wsym_t){k, n};
    strmap_put(&w->syms, k, n, h, k);
    return k;
}

int block_writer_add(block_writer_t *w, const label_t *ls, size_t nl, const sample_t *s, size_t n)
{
    if (!w || nl == 0 || n == 0) return MS_EINVAL;
    if (w->nser == w->capser) XGROW(w->ser, w->capser, w->nser + 1);
    wseries_t *ws = &w->ser[w->nser++];
    ws->first_label = (uint32_t)w->nlbl;
    ws->nlabels = (uint32_t)nl;
    if (w->nlbl + nl > w->caplbl) XGROW(w->lbl, w->caplbl, w->nlbl + nl);
    for (size_t i = 0; i < nl; i++)
        w->lbl[w->nlbl++] = (wlabel_t){intern(w, ls[i].name, ls[i].name_len), intern(w, ls[i].value, ls[i].value_len),
                                      (uint32_t)ls[i].name_len, (uint32_t)ls[i].value_len};
    ws->first_chunk = (uint32_t)w->nchk;
    ws->nchunks = 0;
    for (size_t off = 0; off < n; off += BCHUNK_MAX_SAMPLES) {
        size_t k = n - off < BCHUNK_MAX_SAMPLES ? n - off : BCHUNK_MAX_SAMPLES;
        if (w->nchk == w->capchk) XGROW(w->chk, w->capchk, w->nchk + 1);
        w->chk[w->nchk++] = (wchunk_t){s[off].t, s[off + k - 1].t, w->coff};
        ws->nchunks++;
        size_t before = w->cbuf.len;
        bchunk_encode(s + off, k, w->zlevel, &w->cbuf);
        w->coff += w->cbuf.len - before;
    }
    if (s[0].t < w->meta.mint) w->meta.mint = s[0].t;
    if (s[n - 1].t > w->meta.maxt) w->meta.maxt = s[n - 1].t;
    w->meta.nseries++;
    w->meta.nsamples += n;
    w->meta.nchunks += ws->nchunks;
    if (w->cbuf.len >= (1u << 20)) {
        int rc = write_all(w->cfd, w->cbuf.data, w->cbuf.len);
        buf_reset(&w->cbuf);
        if (rc != MS_OK) return rc;
    }
    return MS_OK;
}

static int str_cmp(const void *a, const void *b)
{
    const wsym_t *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->n < y->n ? x->n : y->n);
    if (c) return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

typedef struct ptrip {
    uint32_t name, value, series;
} ptrip_t;

static int ptrip_cmp(const void *a, const void *b)
{
    const ptrip_t *x = a, *y = b;
    if (x->name != y->name) return x->name < y->name ? -1 : 1;
    if (x->value != y->value) return x->value < y->value ? -1 : 1;
    return x->series < y->series ? -1 : x->series > y->series;
}

static uint32_t sym_id(block_writer_t *w, const char *s, size_t n)
{
    return (uint32_t)(uintptr_t)strmap_get(&w->syms, s, n, hash_bytes(s, n)) - 1;
}

static void put_u32le_at(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void build_index(block_writer_t *w, buf_t *b)
{
    const uint8_t hdr[8] = {'M', 'S', 'B', 'I', 1, 0, 0, 0};
    buf_append(b, hdr, sizeof(hdr));
    /* symbols: sort, then reuse the map's values as ids */
    qsort(w->strs, w->nstrs, sizeof(wsym_t), str_cmp);
    uint32_t *soff = xmalloc((w->nstrs ? w->nstrs : 1) * sizeof(uint32_t));
    uint64_t s_off = b->len;
    strmap_free(&w->syms);
    memset(&w->syms, 0, sizeof(w->syms));
    for (size_t i = 0; i < w->nstrs; i++) {
        size_t n = w->strs[i].n;
        strmap_put(&w->syms, w->strs[i].s, n, hash_bytes(w->strs[i].s, n), (void *)(uintptr_t)(i + 1));
        soff[i] = (uint32_t)b->len;
        buf_put_uvarint(b, n);
        buf_append(b, w->strs[i].s, n + 1);
    }
    uint64_t st_off = b->len;
    for (size_t i = 0; i < w->nstrs; i++) buf_put_u32le(b, soff[i]);
    free(soff);
    /* series */
    uint64_t e_off = b->len;
    uint64_t *eoff = xmalloc((w->nser ? w->nser : 1) * sizeof(uint64_t));
    ptrip_t *pt = xmalloc((w->nlbl ? w->nlbl : 1) * sizeof(ptrip_t));
    size_t npt = 0;
    for (size_t i = 0; i < w->nser; i++) {
        const wseries_t *ws = &w->ser[i];
        eoff[i] = b->len;
        buf_put_uvarint(b, ws->nlabels);
        for (uint32_t k = 0; k < ws->nlabels; k++) {
            const wlabel_t *l = &w->lbl[ws->first_label + k];
            uint32_t ni = sym_id(w, l->name, l->nlen), vi = sym_id(w, l->value, l->vlen);
            buf_put_uvarint(b, ni);
            buf_put_uvarint(b, vi);
            pt[npt++] = (ptrip_t){ni, vi, (uint32_t)i};
        }
        buf_put_uvarint(b, ws->nchunks);
        for (uint32_t k = 0; k < ws->nchunks; k++) {
            const wchunk_t *c = &w->chk[ws->first_chunk + k];
            buf_put_varint(b, c->mint);
            buf_put_uvarint(b, (uint64_t)c->maxt - (uint64_t)c->mint);
            buf_put_uvarint(b, c->off);
        }
    }
    uint64_t et_off = b->len;
    for (size_t i = 0; i < w->nser; i++) buf_put_u64le(b, eoff[i]);
    free(eoff);
    /* postings */
    qsort(pt, npt, sizeof(*pt), ptrip_cmp);
    uint64_t p_off = b->len;
    buf_t table = BUF_INIT;
    uint64_t npost = 0;
    for (size_t i = 0; i < npt;) {
        size_t j = i;
        while (j < npt && pt[j].name == pt[i].name && pt[j].value == pt[i].value) j++;
        buf_put_u32le(&table, pt[i].name);
        buf_put_u32le(&table, pt[i].value);
        buf_put_u64le(&table, b->len);
        npost++;
        buf_put_uvarint(b, j - i);
        uint32_t prev = 0;
        for (size_t k = i; k < j; k++) {
            buf_put_uvarint(b, pt[k].series - prev);
            prev = pt[k].series;
        }
        i = j;
    }
    free(pt);
    buf_append(b, table.data, table.len);
    buf_free(&table);
    uint64_t toc[8] = {s_off, w->nstrs, st_off, e_off, w->nser, et_off, p_off, npost};
    for (int i = 0; i < 8; i++) buf_put_u64le(b, toc[i]);
    buf_put_u32le(b, crc32c(0, b->data, b->len));
    buf_put_u32le(b, 0);
}

static void encode_meta(const block_meta_t *m, uint8_t out[BLOCK_META_LEN])
{
    buf_t b = BUF_INIT;
    const uint8_t hdr[8] = {'M', 'S', 'B', 'M', 1, 0, 0, 0};
    buf_append(&b, hdr, sizeof(hdr));
    buf_put_u64le(&b, (uint64_t)m->mint);
    buf_put_u64le(&b, (uint64_t)m->maxt);
    buf_put_u64le(&b, m->nseries);
    buf_put_u64le(&b, m->nsamples);
    buf_put_u64le(&b, m->nchunks);
    buf_put_u64le(&b, m->index_size);
    buf_put_u32le(&b, 0);
    memcpy(out, b.data, 60);
    put_u32le_at(out + 60, crc32c(0, out, 60));
    buf_free(&b);
}

static int write_file(const char *dir, const char *name, const void *p, size_t n, bool sync)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd;
    if (fio_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, &fd) != MS_OK) return io_err();
    int rc = write_all(fd, p, n);
    if (rc == MS_OK && sync) rc = fsync_fd(fd);
    if (rc == MS_OK && fio_close(fd) != MS_OK) rc = MS_EIO;
    else if (rc != MS_OK) close(fd);
    return rc;
}

int block_writer_finish(block_writer_t *w, block_meta_t *meta_out)
{
    if (!w) return MS_EINVAL;
    if (w->nser == 0) {
        block_writer_abort(w);
        return MS_ENOENT;
    }
    int rc = write_all(w->cfd, w->cbuf.data, w->cbuf.len);
    if (rc == MS_OK && w->sync) rc = fsync_fd(w->cfd);
    if (rc == MS_OK && fio_close(w->cfd) != MS_OK) rc = MS_EIO;
    else if (rc != MS_OK) close(w->cfd);
    w->cfd = -1;
    buf_t ix = BUF_INIT;
    if (rc == MS_OK) {
        build_index(w, &ix);
        w->meta.index_size = ix.len;
        rc = write_file(w->tmp, "index", ix.data, ix.len, w->sync);
    }
    buf_free(&ix);
    uint8_t meta[BLOCK_META_LEN];
    encode_meta(&w->meta, meta);
    if (rc == MS_OK) rc = write_file(w->tmp, "meta", meta, sizeof(meta), w->sync);
    if (rc == MS_OK && w->sync) rc = fsync_path(w->tmp);
    if (rc == MS_OK && fio_rename(w->tmp, w->final) != MS_OK) rc = io_err();
    if (rc == MS_OK && w->sync) rc = fsync_path(w->parent);
    if (rc != MS_OK) {
        /* debug only: the caller (cut, compaction) logs the failure, rate-limited, and retries */
        log_debug("block: writing %s failed: %s (%s)", w->final, ms_strerror(rc), strerror(errno));
        block_writer_abort(w);
        return rc;
    }
    if (meta_out) *meta_out = w->meta;
    free(w->tmp);
    w->tmp = NULL; /* nothing to remove */
    block_writer_abort(w);
    return MS_OK;
}

void block_writer_abort(block_writer_t *w)
{
    if (!w) return;
    if (w->cfd >= 0) close(w->cfd);
    if (w->tmp) block_rmdir(w->tmp);
    for (size_t i = 0; i < w->nstrs; i++) free(w->strs[i].s);
    free(w->strs);
    strmap_free(&w->syms);
    free(w->ser);
    free(w->lbl);
    free(w->chk);
    buf_free(&w->cbuf);
    free(w->parent);
    free(w->tmp);
    free(w->final);
    free(w);
}

uint32_t block_writer_seq(const block_writer_t *w) { return w->seq; }
const char *block_writer_final_dir(const block_writer_t *w) { return w->final; }
