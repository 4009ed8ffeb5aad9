/* fuzz_wal_replay.c is the libFuzzer target for WAL segment replay on corrupt bytes: the input
 * becomes the segment files of a data dir that db_open replays (wal.c framing, record.c payloads,
 * head_replay.c applying them); the replayed head is then read back in full. Nothing may crash,
 * hang or leak, and a db that opens must serve its series.
 *
 * Input: byte 0 is a mode. Mode bit 0 clear: the rest is written raw as segment 00000001 (tests
 * header checks, framing, torn tails, CRC mismatches). Bit 0 set: the rest is a list of
 * [type u8][len u8][payload] items framed into records with correct CRCs after a valid header,
 * so mutations reach the payload decoders and the head; bit 1 set splits the records over two
 * segments. */
#include "fuzz_db.h"
#include "model/matcher.h"
#include "storage/record.h"
#include "storage/storage.h"
#include "storage/wal.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/log.h"
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];
static char wal_dir[96];

static void write_file(int idx, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%08d", wal_dir, idx);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
}

static void seg_header(buf_t *b)
{
    static const uint8_t h[WAL_SEG_HEADER_LEN] = {'M', 'S', 'W', 'L', 1, 0, 0, 0};
    buf_append(b, h, sizeof h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        snprintf(root, sizeof root, "/tmp/ms-fuzz-wal-XXXXXX");
        if (!mkdtemp(root)) abort();
        snprintf(wal_dir, sizeof wal_dir, "%s/wal", root);
        mkdir(wal_dir, 0755);
        log_set_level(LOG_ERROR);
    }
    if (size < 1 || size > 1 << 16) return 0;
    fuzz_clear_dir(wal_dir);
    uint8_t mode = data[0];
    data++, size--;
    if (!(mode & 1)) {
        write_file(1, data, size);
    } else {
        buf_t seg[2] = {BUF_INIT, BUF_INIT};
        seg_header(&seg[0]);
        seg_header(&seg[1]);
        size_t i = 0, k = 0;
        while (i + 2 <= size) {
            uint8_t type = data[i], len = data[i + 1];
            i += 2;
            if (len > size - i) len = (uint8_t)(size - i);
            buf_t *b = &seg[(mode & 2) ? (k++ & 1) : 0];
            /* Mostly the three known types; a set high bit keeps the byte (unknown types). */
            size_t h = record_begin(b, (type & 0x80) ? type : (uint8_t)(REC_SERIES + type % 3));
            buf_append(b, data + i, len);
            record_end(b, h);
            i += len;
        }
        write_file(1, seg[0].data, seg[0].len);
        if (mode & 2) write_file(2, seg[1].data, seg[1].len);
        buf_free(&seg[0]);
        buf_free(&seg[1]);
    }
    db_options_t o;
    db_options_default(&o);
    o.data_dir = root;
    o.wal_fsync = WAL_FSYNC_NEVER;
    o.retention_ms = 0;
    o.no_head_snapshot = true; /* replay every time (fuzz_head_snapshot covers snapshots) */
    db_t *db = NULL;
    char err[512];
    if (db_open(&o, &db, err, sizeof err) == 0) {
        fuzz_read_all(db, true);
        db_close(db);
    }
    return 0;
}
