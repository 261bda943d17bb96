/* The executor's audit queue on disk (--audit-queue-dir): serialized events
 * in a lib/spool spool, appended and fsynced before the action they describe
 * is acknowledged, and a cursor ("cursor-<hash>" of "auditor", lib/spool/
 * cursor.h) at the last one the auditor acknowledged. After a restart the
 * events after the cursor are sent again (their uids let the sinks drop the
 * ones already delivered before a crash). Private to services/executor.
 *
 * Thread-safety: audit_disk_append from any thread; audit_disk_next_batch and
 * audit_disk_ack from one thread (the sender); _waiting from any. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

struct audit_disk;

/* One record read back: data is owned by the caller after a batch (free). */
struct audit_disk_record {
        uint8_t *data;
        size_t len;
};

/* Opens (creating, 0700) the queue in dir. max_bytes: the spool's limit
 * (0: 64 MiB). Returns 0, -EBUSY (another executor uses dir), -errno. */
int audit_disk_open(const char *dir, uint64_t max_bytes, struct audit_disk **ret, struct ak_error *err);
/* NULL is a no-op. */
void audit_disk_free(struct audit_disk *d);

/* Appends one serialized event durably. 0, -ENOSPC (queue full: the
 * auditor is behind), -EIO (the disk failed: refused until a restart),
 * -errno; err says which and what to do. */
int audit_disk_append(struct audit_disk *d, const uint8_t *data, size_t len, struct ak_error *err);

/* Up to max records after the ones handed out so far (from the cursor on
 * at first), copied into recs; *ret_n (0: nothing waiting) and *ret_last
 * (the position of the last). Waits up to wait_ms for one. 0 or -errno. */
int audit_disk_next_batch(struct audit_disk *d, size_t max, int wait_ms, struct audit_disk_record *recs,
                          size_t *ret_n, uint64_t *ret_last);

/* The auditor acknowledged everything up to `position`: stores the cursor
 * durably and deletes the segments it covers. 0 or -errno. */
int audit_disk_ack(struct audit_disk *d, uint64_t position, struct ak_error *err);

/* Events stored and not yet acknowledged. */
uint64_t audit_disk_waiting(struct audit_disk *d);
