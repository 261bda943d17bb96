/* The spool: the auditor's durable, append-only log of records (events as
 * agentkernel JSON). "Acknowledged means on disk": spool_append returns 0
 * only after its records are written and fdatasync'ed.
 *
 * On disk, DIR holds segment files named by the position of their first
 * record ("00000000000000000001.seg"). A segment is a 16-byte header
 * ("AKSPOOL1", u64 first position, little-endian) and records:
 *
 *     u32 len | u32 crc | u64 position | len bytes of payload
 *
 * all little-endian, crc = CRC-32C of payload || position || len. Positions
 * start at 1 and are consecutive across the spool.
 *
 * Group commit: concurrent spool_append callers queue; one of them (the
 * leader) writes everything queued with one write and one fdatasync, then
 * wakes the others. A caller's records are all stored or none is.
 *
 * Recovery (spool_open): every segment is read and checked. A record is
 * good when its header and CRC check out and its position lies after the
 * previous good one (and before the next segment's first). After bytes that
 * are not a good record, the next good record is searched for byte by byte
 * (its position must fit the number of records the bad bytes could hold),
 * so damage loses only the records it hit:
 *   - damage in the middle of a segment (any segment, the newest too): the
 *     damaged bytes are copied to "<segment>-<offset>.quarantine" beside it
 *     (synced) and the segment is rewritten with every good record, before
 *     and after them. The damaged records' positions are missing from then
 *     on (readers skip them; stats.lost_records counts them), every other
 *     record, acknowledged or not, stays and is delivered. Counted in
 *     stats.corrupt_bytes.
 *   - bad bytes after the last good record of the newest segment: a torn
 *     tail from a crash before its fsync (never acknowledged, as appends
 *     are acknowledged only after it). Copied to a quarantine file too and
 *     zeroed in place; stats.truncated_bytes. (The same after the last good
 *     record of an older segment is damage: corrupt_bytes.)
 * Quarantine files are never read or deleted by the spool: the caller logs
 * them (stats.quarantine_files) and an operator may inspect and remove them.
 *
 * Fail closed: a failed fsync/fdatasync (of a segment, a new file or the
 * directory) or a failed write other than a full disk makes the spool refuse
 * every later append with -EIO (the message says why) until it is opened
 * again, which re-reads what really is on disk (after a failed fsync Linux
 * may drop the unwritten pages and report success on the next one, so
 * nothing written since can be trusted). stats.broken says so.
 *
 * Directories: every file the spool creates or renames is followed by a sync
 * of the spool directory before it is relied on, and spool_open syncs the
 * parent of every directory it creates on the way to `dir`.
 *
 * Preallocation: a background thread keeps one spare segment file written
 * full of zeros and synced, which becomes the next segment. Records then
 * overwrite blocks that are already allocated and sized, so their fdatasync
 * writes data only, not the inode and the journal (as databases recycle WAL
 * files). Zeros after the last record read as "no record". The spool's size
 * counts the files, preallocated bytes included.
 *
 * Limits: records are 1 .. SPOOL_MAX_RECORD bytes; the spool's size (sum of
 * its segment files) stays under max_bytes: an append that would pass it
 * fails with -ENOSPC ("spool full") and stores nothing. A full disk also
 * gives -ENOSPC (or -EDQUOT), with the partial write cut off again.
 *
 * Thread-safety: all functions may be called from any thread, except
 * spool_free (once, when no other call is running). A reader belongs to one
 * thread at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SPOOL_MAX_RECORD (1u << 20)
#define SPOOL_RECORD_HEADER 16
#define SPOOL_SEGMENT_HEADER 16
#define SPOOL_MAX_BATCH 10000

struct spool;

/* Every fsync and fdatasync the spool makes goes through sync (data_only:
 * fdatasync), which returns 0 or -errno. A seam for tests (failures,
 * counting); NULL in spool_options: the real calls. */
struct spool_io {
        int (*sync)(void *ctx, int fd, bool data_only);
        void *ctx;
};

struct spool_options {
        uint64_t max_bytes;       /* 0: 1 GiB */
        uint64_t segment_bytes;   /* a segment is closed once past this; 0: 8 MiB */
        bool no_preallocate;      /* see "Preallocation" above */
        const struct spool_io *io; /* NULL: fsync/fdatasync (the caller keeps it alive) */
};

/* Opens (creating if needed, mode 0700) the spool in dir and recovers it. A
 * lock file keeps a second process off the same spool (-EBUSY). */
int spool_open(const char *dir, const struct spool_options *opts, struct spool **ret, struct ak_error *err);

/* NULL is a no-op. */
void spool_free(struct spool *s);

/* Appends n records (1 .. SPOOL_MAX_BATCH) durably; *ret_first gets the
 * position of the first. Returns 0, -EINVAL (a record's size), -ENOSPC
 * (spool full or disk full), -EDQUOT, -EIO (the spool cannot be written any
 * more: after a failed fsync or write it refuses appends until reopened,
 * see "Fail closed"). */
int spool_append(struct spool *s, const struct iovec *records, size_t n, uint64_t *ret_first,
                 struct ak_error *err);

/* Waits up to timeout_ms until a record at `position` or later is stored
 * (true), or returns false. */
bool spool_wait(struct spool *s, uint64_t position, int timeout_ms);

/* Deletes every closed segment whose records all lie before `position`
 * (every destination has delivered them). Returns the bytes freed. */
uint64_t spool_release(struct spool *s, uint64_t position);

struct spool_stats {
        uint64_t oldest_position;    /* first record kept (== next when empty) */
        uint64_t next_position;      /* position the next record will get */
        uint64_t bytes;
        uint64_t max_bytes;
        uint64_t segments;
        uint64_t commits;            /* fdatasyncs of appended records */
        uint64_t committed_records;  /* records appended since open */
        uint64_t truncated_bytes;    /* torn tail cut off at open */
        uint64_t corrupt_bytes;      /* damaged bytes quarantined at open */
        uint64_t lost_records;       /* positions missing from segments at open */
        uint64_t quarantine_files;   /* made at open */
        int broken;                  /* 0, or -errno: appends are refused */
};

void spool_stats(struct spool *s, struct spool_stats *ret);

/* ---- reading ------------------------------------------------------------ */

struct spool_reader;

/* A reader from `position` (clamped to the oldest record kept; 0: oldest).
 * Returns 0, -ENOMEM. */
int spool_reader_new(struct spool *s, uint64_t position, struct spool_reader **ret);

/* The next stored record: returns 1 with its position and payload (valid
 * until the next call), 0 when the reader has reached the end of what is
 * stored, or -errno (EIO reading a segment). Records lost to corruption or
 * deleted under a slow reader are skipped: positions can jump forward. */
int spool_reader_next(struct spool_reader *r, uint64_t *ret_position, const char **ret_data, size_t *ret_len);

/* The position the next spool_reader_next will return at the earliest. */
uint64_t spool_reader_position(const struct spool_reader *r);

/* NULL is a no-op. */
void spool_reader_free(struct spool_reader *r);

#ifdef __cplusplus
}
#endif
