/* quarantine.h owns moving damaged on-disk files aside instead of deleting them: a block
 * directory that fails its checks at open goes to <data_dir>/quarantine/<name>-<unix seconds>
 * with a <that>.reason text file beside it, and the quarantine directory is listed for the
 * status endpoint. Internal to src/storage. Stateless: the directory itself is the record, so
 * counts survive restarts and two databases in one process never share anything. */
#ifndef MS_STORAGE_QUARANTINE_H
#define MS_STORAGE_QUARANTINE_H
#include <stddef.h>
#include <stdint.h>

/* Called when block_open(dir) failed with status rc and message reason. MS_ECORRUPT (the bytes
 * fail a check, or a file is missing or truncated) moves dir into quarantine and logs why; any
 * other status (e.g. EMFILE, EACCES: nothing proves the block bad) only logs and leaves it in
 * place. Either way the caller skips the block. Returns MS_OK when moved. */
int quarantine_block(const char *data_dir, const char *dir, int rc, const char *reason);

typedef struct quarantine_entry {
    char *name;     /* e.g. "00000003-1764230400" (malloc'd) */
    char *reason;   /* first line of the .reason file, "" if absent (malloc'd) */
    int64_t time_s; /* unix seconds of the move, parsed from the name */
    uint64_t bytes; /* size of the files inside */
} quarantine_entry_t;

/* Lists <data_dir>/quarantine (sorted by name); *out malloc'd, free with quarantine_list_free.
 * A missing directory is an empty list. */
int quarantine_list(const char *data_dir, quarantine_entry_t **out, size_t *n);
void quarantine_list_free(quarantine_entry_t *v, size_t n);

#endif
