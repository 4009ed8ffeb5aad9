/* fuzz_block.c is the libFuzzer target for the block reader on damaged files (block_read.c, and
 * bchunk.c through it): the input becomes the meta, index and chunks files of one block
 * directory, which block_open checks and, if it accepts them, is read in full through the reader
 * interface (selects with every matcher kind over the whole and part of the range, every
 * series' samples, label names and values). Nothing may crash, hang, leak or read outside the
 * mapping; whatever is served must be well formed.
 *
 * Input: byte 0 is a mode, then the 64-byte meta, a u32le index length, the index, and the rest
 * is the chunks file. Mode bit 0 recomputes the meta CRC, bit 1 the index CRC (and the meta's
 * index size), so mutations reach the table-of-contents, entry, postings and chunk parsers
 * behind the checksums; both clear tests the checks themselves.
 * Seeds: FUZZ_BLOCK_SEEDS=<dir> makes the first run write seeds built by block_writer. */
#include "model/labels.h"
#include "model/matcher.h"
#include "storage/bchunk.h"
#include "storage/block.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/log.h"
#include "util/status.h"
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64], bdir[128];

static void cleanup(void)
{
    static const char *files[] = {"meta", "index", "chunks"};
    char path[256];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", bdir, files[i]);
        unlink(path);
    }
    rmdir(bdir);
    snprintf(path, sizeof path, "%s/seedgen", root);
    rmdir(path);
    rmdir(root);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void write_file(const char *name, const void *p, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", bdir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

static bool read_file(const char *dir, const char *name, buf_t *out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    uint8_t tmp[4096];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) buf_append(out, tmp, k);
    fclose(f);
    return true;
}

static void check_labels(labels_t l)
{
    for (size_t i = 0; i < l.n; i++)
        if (!l.v[i].name || !l.v[i].value || l.v[i].name[l.v[i].name_len] || l.v[i].value[l.v[i].value_len]) abort();
}

static void check_samples(const sample_vec_t *sv, size_t from, int64_t mint, int64_t maxt)
{
    for (size_t j = from; j < sv->n; j++)
        if (sv->v[j].t < mint || sv->v[j].t > maxt) abort();
}

static matcher_t *mk(match_type_t t, const char *n, const char *v)
{
    matcher_t *m = NULL;
    char err[128];
    if (matcher_new(t, n, strlen(n), v, strlen(v), &m, err, sizeof err) != MS_OK) abort();
    return m;
}

static void read_all(block_t *b)
{
    const block_meta_t *bm = block_meta(b);
    int64_t mid = bm->mint + (int64_t)(((uint64_t)bm->maxt - (uint64_t)bm->mint) / 2);
    const int64_t ranges[3][2] = {{INT64_MIN, INT64_MAX}, {mid, INT64_MAX}, {bm->mint, mid}};
    matcher_t *ms[6] = {mk(MATCH_RE, "__name__", ".+"), mk(MATCH_EQ, "job", "a"), mk(MATCH_NEQ, "job", "a"),
                        mk(MATCH_RE, "job", "a|b|"), mk(MATCH_NRE, "__name__", "m.*"), mk(MATCH_EQ, "nope", "")};
    const matcher_t *sets[5][2] = {{ms[0], NULL}, {ms[1], NULL}, {ms[0], ms[2]}, {ms[3], ms[4]}, {ms[5], ms[0]}};
    const size_t nset[5] = {1, 1, 2, 2, 2};
    for (int r = 0; r < 3; r++) {
        block_view_t *v = block_view_new(b);
        int64_t mint = ranges[r][0], maxt = ranges[r][1];
        for (int s = 0; s < 5; s++) {
            rs_vec_t out = {0};
            block_reader_ops.select(v, sets[s], nset[s], mint, maxt, &out);
            sample_vec_t sv = {0};
            for (size_t i = 0; i < out.n; i++) {
                check_labels(out.v[i].labels);
                size_t before = sv.n;
                block_reader_ops.samples(v, out.v[i].h, mint, maxt, &sv);
                check_samples(&sv, before, mint, maxt);
            }
            sample_vec_free(&sv);
            free(out.v);
        }
        str_vec_t names = {0};
        block_reader_ops.label_names(v, mint, maxt, &names);
        for (size_t i = 0; i < names.n && i < 16; i++) {
            str_vec_t vals = {0};
            if (names.s[i][names.len[i]]) abort();
            block_reader_ops.label_values(v, names.s[i], names.len[i], mint, maxt, &vals);
            for (size_t k = 0; k < vals.n; k++)
                if (vals.s[k][vals.len[k]]) abort();
            free(vals.s);
            free(vals.len);
        }
        free(names.s);
        free(names.len);
        (void)block_view_errors(v);
        block_view_free(v);
    }
    (void)block_read_errors(b);
    for (int i = 0; i < 6; i++) matcher_free(ms[i]);
}

/* Builds a real block with block_writer and writes it out as a seed in the input format. */
static void write_seed(const char *seeddir, const char *name, int nseries, int nsamples, int zlevel, uint8_t mode)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/seedgen", root);
    mkdir(tmp, 0755);
    block_writer_t *w;
    if (block_writer_open(tmp, 1, zlevel, false, &w) != MS_OK) abort();
    static const char *jobs[] = {"a", "b", "c"};
    for (int s = 0; s < nseries; s++) {
        char metric[16], inst[16];
        snprintf(metric, sizeof metric, "m%02d", s / 3);
        snprintf(inst, sizeof inst, "i%d", s);
        label_t l[3] = {{"__name__", metric, 8, (uint32_t)strlen(metric)},
                        {"instance", inst, 8, (uint32_t)strlen(inst)},
                        {"job", jobs[s % 3], 3, 1}};
        sample_t smp[200];
        for (int k = 0; k < nsamples; k++)
            smp[k] = (sample_t){1700000000000LL + k * 15000 + (k % 3), s % 2 ? k * 0.5 : (double)(k * k) / 3.0};
        if (block_writer_add(w, l, 3, smp, (size_t)nsamples) != MS_OK) abort();
    }
    if (block_writer_finish(w, NULL) != MS_OK) abort();
    char dir[256];
    snprintf(dir, sizeof dir, "%s/00000001", tmp);
    buf_t meta = BUF_INIT, index = BUF_INIT, chunks = BUF_INIT, out = BUF_INIT;
    if (!read_file(dir, "meta", &meta) || !read_file(dir, "index", &index) || !read_file(dir, "chunks", &chunks)) abort();
    buf_putc(&out, (char)mode);
    buf_append(&out, meta.data, meta.len);
    uint8_t l4[4];
    put32(l4, (uint32_t)index.len);
    buf_append(&out, l4, 4);
    buf_append(&out, index.data, index.len);
    buf_append(&out, chunks.data, chunks.len);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", seeddir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(out.data, 1, out.len, f);
    fclose(f);
    buf_free(&meta);
    buf_free(&index);
    buf_free(&chunks);
    buf_free(&out);
    block_rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        snprintf(root, sizeof root, "/dev/shm/ms-fuzz-block-XXXXXX"); /* tmpfs: three files per input */
        if (!mkdtemp(root)) {
            snprintf(root, sizeof root, "/tmp/ms-fuzz-block-XXXXXX");
            if (!mkdtemp(root)) abort();
        }
        snprintf(bdir, sizeof bdir, "%s/00000001", root);
        mkdir(bdir, 0755);
        atexit(cleanup);
        log_set_level(LOG_ERROR);
        const char *seeds = getenv("FUZZ_BLOCK_SEEDS");
        if (seeds) {
            write_seed(seeds, "gen_small_raw", 3, 5, 0, 3);
            write_seed(seeds, "gen_small_zstd", 4, 40, 3, 3);
            write_seed(seeds, "gen_9series_raw", 9, 120, 0, 3);
            write_seed(seeds, "gen_1series_nofix", 1, 2, 0, 0);
        }
    }
    if (size < 1 + BLOCK_META_LEN + 4 || size > 1 << 18) return 0;
    uint8_t mode = data[0];
    uint8_t meta[BLOCK_META_LEN];
    memcpy(meta, data + 1, BLOCK_META_LEN);
    size_t off = 1 + BLOCK_META_LEN;
    uint32_t ilen = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 | (uint32_t)data[off + 2] << 16 |
                    (uint32_t)data[off + 3] << 24;
    off += 4;
    if (ilen > size - off) ilen = (uint32_t)(size - off);
    uint8_t *index = malloc(ilen ? ilen : 1);
    memcpy(index, data + off, ilen);
    off += ilen;
    if ((mode & 2) && ilen >= 8) {
        put32(index + ilen - 8, crc32c(0, index, ilen - 8));
        put64(meta + 48, ilen);
    }
    if (mode & 1) put32(meta + 60, crc32c(0, meta, 60));
    write_file("meta", meta, sizeof meta);
    write_file("index", index, ilen);
    write_file("chunks", data + off, size - off);
    free(index);
    block_t *b = NULL;
    char err[512];
    if (block_open(bdir, 1, &b, err, sizeof err) == MS_OK) {
        read_all(b);
        block_close(b);
    }
    return 0;
}
