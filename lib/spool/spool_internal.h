/* The spool's insides, shared by spool.c (writing, recovery) and
 * spool_reader.c. Not part of the contract. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/base/error.h"
#include "lib/spool/spool.h"

#define SPOOL_MAGIC "AKSPOOL1"
#define SPOOL_NAME_LEN 24 /* 20 digits + ".seg" */
#define SPOOL_SPARE "spare.tmp"
#define SPOOL_TMP_SUFFIX ".tmp"               /* a segment being rewritten */
#define SPOOL_QUARANTINE_SUFFIX ".quarantine" /* damaged bytes kept aside */

struct segment {
        uint64_t first;       /* position of its first record (its name) */
        uint64_t end;         /* position after its last readable record */
        uint64_t valid_end;   /* bytes of header + readable records */
        uint64_t size;        /* bytes of the file */
        uint64_t dirty_end;   /* after its last non-zero byte (>= valid_end), at open */
};

struct pending;

struct spool {
        char *dir;
        int dir_fd;
        int lock_fd;
        uint64_t max_bytes;
        uint64_t segment_bytes;

        pthread_mutex_t mu;
        pthread_cond_t cond;         /* broadcast after every commit */
        struct segment *segs;        /* by position; the last is being written */
        size_t n_segs;
        size_t cap_segs;
        uint64_t bytes;              /* sum of segs[].size */
        uint64_t next_pos;           /* committed: the next record's position */
        struct pending *queue_head;  /* appends waiting for a leader */
        struct pending *queue_tail;
        bool flushing;               /* a leader is writing */
        int broken;                  /* 0, or why appends are refused (-errno) */
        char broken_msg[320];        /* says so, once broken */

        struct spool_io io;          /* fixed at open */

        int active_fd;               /* the last segment, for writing (leader only) */

        bool preallocate;
        bool spare_ready;            /* SPOOL_SPARE is zero-filled and synced */
        bool prep_stop;
        bool prep_started;
        pthread_t prep_thread;
        pthread_cond_t prep_cond;

        uint64_t commits;
        uint64_t committed_records;
        uint64_t truncated_bytes;
        uint64_t corrupt_bytes;
        uint64_t lost_records;
        uint64_t quarantine_files;
};

/* fsync (or, data_only, fdatasync) through s->io. 0 or -errno. */
int spool_sync(struct spool *s, int fd, bool data_only);

/* Refuses every later append (a failed fsync, or write other than a full
 * disk): sets s->broken and its message once. Takes s->mu. */
void spool_break(struct spool *s, int code, const char *what);

void spool_segment_name(uint64_t first, char ret[SPOOL_NAME_LEN + 1]);

/* The 12 bytes after the payload that the record CRC covers. */
uint32_t spool_record_crc(uint32_t payload_crc, uint64_t position, uint32_t len);

/* Decodes a record header at p; false if len is out of range. */
bool spool_header_decode(const uint8_t *p, uint32_t *ret_len, uint32_t *ret_crc, uint64_t *ret_pos);

void spool_put_le32(uint8_t *p, uint32_t v);
void spool_put_le64(uint8_t *p, uint64_t v);

/* Zeros over [from, to). 0 or -errno. */
int spool_zero_range(int fd, uint64_t from, uint64_t to);

/* Appends a segment record to s->segs (under s->mu when the spool is open). */
int spool_add_segment(struct spool *s, const struct segment *seg);
int spool_write_segment_header(int fd, uint64_t first);
/* Creates the segment whose first record will be `first`, durably (file and
 * directory entry synced); *ret_fd is open for writing. */
int spool_create_segment(struct spool *s, uint64_t first, int *ret_fd, struct ak_error *err);

/* Lists, checks and repairs the segments at open (spool_recover.c). */
int spool_recover(struct spool *s, struct ak_error *err);

/* The preallocation thread (spool_append.c). */
void *spool_prepare(void *arg);
