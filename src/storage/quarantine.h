/* quarantine.h owns moving damaged on-disk files aside instead of deleting them: a block
 * directory that fails its checks at open goes to <data_dir>/quarantine/<name>-<unix seconds>
 * with a <that>.reason text file beside it, and the quarantine directory is listed for the
 * status endpoint. Internal to src/storage. Stateless: the directory itself is the record, so
 * counts survive restarts and two databases in one process never share anything. */
#ifndef MS_STORAGE_QUARANTINE_H
#define MS_STORAGE_QUARANTINE_H
#include "storage/storage.h"
#include <stddef.h>
#include <stdint.h>

/* Called when block_open(dir) failed with status rc and message reason. MS_ECORRUPT (the bytes
 * fail a check, or a file is missing or truncated) moves dir into quarantine and logs why; any
 * other status (e.g. EMFILE, EACCES: nothing proves the block bad) only logs and leaves it in
 * place. Either way the caller skips the block. Returns MS_OK when moved. */
int quarantine_block(const char *data_dir, const char *dir, int rc, const char *reason);

/* Lists <data_dir>/quarantine (sorted by name); a missing directory is an empty list. The
 * db-level db_quarantined (storage.h) calls this; free with db_quarantined_free. */
int quarantine_list(const char *data_dir, db_quarantined_t **out, size_t *n);

#endif
