/* Recovery at spool_open: every segment is read and checked, damaged bytes
 * are copied aside to quarantine files, and every record that still checks
 * out is kept (see "Recovery" in spool.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/spool/crc32c.h"
#include "lib/spool/spool.h"
#include "lib/spool/spool_internal.h"

/* A byte range [from, to) of a segment file. */
struct range {
        uint64_t from, to;
};

/* What a segment holds: runs of good records, and the damage around them. */
struct scan {
        const uint8_t *p;        /* the file, mapped (NULL when empty) */
        uint64_t size;
        bool header_ok;
        struct range *runs;      /* consecutive good records, in file order */
        size_t n_runs, cap_runs;
        uint64_t end_pos;        /* after the last good record's position */
        uint64_t lost;           /* positions missing between good records */
        uint64_t valid_end;      /* after the last good record (>= header) */
        uint64_t dirty_end;      /* after the last non-zero byte (>= valid_end) */
};

static void scan_free(struct scan *sc)
{
        if (sc->p)
                munmap((void *)sc->p, sc->size);
        free(sc->runs);
}

/* A whole record at off with a position in [pos_min, pos_max] whose CRC
 * checks out. */
static bool record_at(const struct scan *sc, uint64_t off, uint64_t pos_min, uint64_t pos_max, uint32_t *ret_len,
                      uint64_t *ret_pos)
{
        uint32_t len, crc;
        uint64_t rpos;

        if (sc->size - off < SPOOL_RECORD_HEADER || !spool_header_decode(sc->p + off, &len, &crc, &rpos) ||
            rpos < pos_min || rpos > pos_max || sc->size - off - SPOOL_RECORD_HEADER < len)
                return false;
        if (spool_record_crc(crc32c(sc->p + off + SPOOL_RECORD_HEADER, len), rpos, len) != crc)
                return false;
        *ret_len = len;
        *ret_pos = rpos;
        return true;
}

static int add_run(struct scan *sc, uint64_t from, uint64_t to)
{
        if (sc->n_runs && sc->runs[sc->n_runs - 1].to == from) {
                sc->runs[sc->n_runs - 1].to = to;
                return 0;
        }
        if (sc->n_runs == sc->cap_runs) {
                size_t cap = sc->cap_runs ? sc->cap_runs * 2 : 8;
                struct range *n = realloc(sc->runs, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                sc->runs = n;
                sc->cap_runs = cap;
        }
        sc->runs[sc->n_runs++] = (struct range){ from, to };
        return 0;
}

/* Finds the good records of a mapped segment. Positions increase and stay
 * below pos_limit (the next segment's first). After damage, the next record
 * is searched for byte by byte: it must check out (CRC) and its position
 * must be one the damaged bytes could have held records for. */
static int scan_records(struct scan *sc, uint64_t first, uint64_t pos_limit)
{
        uint64_t off = SPOOL_SEGMENT_HEADER, pos = first;
        uint32_t len;
        uint64_t rpos;
        int r;

        sc->dirty_end = 0;
        for (uint64_t k = sc->size; k > 0; k--)
                if (sc->p[k - 1]) {
                        sc->dirty_end = k;
                        break;
                }
        while (off < sc->dirty_end && pos < pos_limit) {
                if (record_at(sc, off, pos, pos_limit - 1, &len, &rpos)) {
                        if ((r = add_run(sc, off, off + SPOOL_RECORD_HEADER + len)) < 0)
                                return r;
                        sc->lost += rpos - pos;
                        off += SPOOL_RECORD_HEADER + len;
                        pos = rpos + 1;
                        continue;
                }
                bool found = false;
                for (uint64_t k = off + 1; k < sc->dirty_end; k++) {
                        uint64_t gap = (k - off) / (SPOOL_RECORD_HEADER + 1);
                        uint64_t max = pos_limit - 1 - pos < gap ? pos_limit - 1 : pos + gap;
                        if (record_at(sc, k, pos, max, &len, &rpos)) {
                                off = k;
                                found = true;
                                break;
                        }
                }
                if (!found)
                        break;
        }
        sc->end_pos = pos;
        sc->valid_end = sc->n_runs ? sc->runs[sc->n_runs - 1].to : SPOOL_SEGMENT_HEADER;
        if (sc->dirty_end < sc->valid_end)
                sc->dirty_end = sc->valid_end;
        return 0;
}

static int map_segment(struct spool *s, const struct segment *seg, struct scan *sc, struct ak_error *err)
{
        char name[SPOOL_NAME_LEN + 1];
        _cleanup_close_ int fd = -1;
        struct stat st;

        spool_segment_name(seg->first, name);
        fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "spool %s: open %s", s->dir, name);
        sc->size = (uint64_t)st.st_size;
        if (sc->size == 0)
                return 0;
        void *p = mmap(NULL, sc->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
                return ak_error_errno(err, -errno, "spool %s: map %s", s->dir, name);
        sc->p = p;
        sc->header_ok = sc->size >= SPOOL_SEGMENT_HEADER && memcmp(sc->p, SPOOL_MAGIC, 8) == 0;
        if (sc->header_ok) {
                uint64_t f = 0;
                for (int i = 7; i >= 0; i--)
                        f = (f << 8) | sc->p[8 + i];
                sc->header_ok = f == seg->first;
        }
        return 0;
}

/* Copies bytes [from, to) of the segment to "<segment>-<from>.quarantine",
 * synced (the directory is synced by the caller). */
static int quarantine(struct spool *s, const struct segment *seg, const struct scan *sc, uint64_t from, uint64_t to,
                      struct ak_error *err)
{
        char name[80];
        _cleanup_close_ int fd = -1;
        int r;

        if (to <= from)
                return 0;
        /* Never over an earlier quarantine file: "-1", "-2", ... after its name. */
        for (unsigned k = 0; fd < 0 && k < 1000; k++) {
                if (k == 0)
                        snprintf(name, sizeof(name), "%020" PRIu64 "-%020" PRIu64 SPOOL_QUARANTINE_SUFFIX,
                                 seg->first, from);
                else
                        snprintf(name, sizeof(name), "%020" PRIu64 "-%020" PRIu64 "-%u" SPOOL_QUARANTINE_SUFFIX,
                                 seg->first, from, k);
                fd = openat(s->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd < 0 && errno != EEXIST)
                        return ak_error_errno(err, -errno, "spool %s: create %s", s->dir, name);
        }
        if (fd < 0)
                return ak_error_set(err, -EEXIST, "spool %s: 1000 quarantine files for offset %" PRIu64
                                    " of segment %" PRIu64 " already: move them away", s->dir, from, seg->first);
        struct iovec iov = { (void *)(sc->p + from), (size_t)(to - from) };
        r = ak_writev_full(fd, &iov, 1, 0);
        if (r == 0)
                r = spool_sync(s, fd, true);
        if (r < 0)
                return ak_error_errno(err, r, "spool %s: write %s", s->dir, name);
        s->quarantine_files++;
        return 0;
}

/* Writes the segment again with only its good records (header first), then
 * puts it in place of the damaged one. */
static int rewrite(struct spool *s, const struct segment *seg, const struct scan *sc, uint64_t *ret_size,
                   struct ak_error *err)
{
        char name[SPOOL_NAME_LEN + 1], tmp[SPOOL_NAME_LEN + 8];
        _cleanup_close_ int fd = -1;
        uint64_t off = SPOOL_SEGMENT_HEADER;
        int r;

        spool_segment_name(seg->first, name);
        snprintf(tmp, sizeof(tmp), "%s" SPOOL_TMP_SUFFIX, name);
        fd = openat(s->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return ak_error_errno(err, -errno, "spool %s: create %s", s->dir, tmp);
        r = spool_write_segment_header(fd, seg->first);
        for (size_t i = 0; r == 0 && i < sc->n_runs; i++) {
                struct iovec iov = { (void *)(sc->p + sc->runs[i].from), (size_t)(sc->runs[i].to - sc->runs[i].from) };
                r = ak_writev_full(fd, &iov, 1, (off_t)off);
                off += iov.iov_len;
        }
        if (r == 0)
                r = spool_sync(s, fd, true);
        if (r == 0 && renameat(s->dir_fd, tmp, s->dir_fd, name) < 0)
                r = -errno;
        if (r == 0)
                r = spool_sync(s, s->dir_fd, false);
        if (r < 0) {
                unlinkat(s->dir_fd, tmp, 0);
                return ak_error_errno(err, r, "spool %s: rewrite %s without its damaged bytes", s->dir, name);
        }
        *ret_size = off;
        return 0;
}

/* Zeros the tail after the good records (keeping a preallocated file's size). */
static int clear_tail(struct spool *s, const struct segment *seg, const struct scan *sc, struct ak_error *err)
{
        char name[SPOOL_NAME_LEN + 1];
        _cleanup_close_ int fd = -1;
        int r;

        spool_segment_name(seg->first, name);
        fd = openat(s->dir_fd, name, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return ak_error_errno(err, -errno, "spool %s: open %s", s->dir, name);
        r = spool_zero_range(fd, sc->valid_end, sc->dirty_end);
        if (r == 0)
                r = spool_sync(s, fd, true);
        if (r < 0)
                return ak_error_errno(err, r, "spool %s: clear the tail of %s", s->dir, name);
        return 0;
}

/* Checks one segment and repairs it: damaged bytes to quarantine files
 * first (synced), then the segment rewritten without them, or, when only
 * its tail is bad, the tail zeroed. */
static int recover_segment(struct spool *s, struct segment *seg, bool newest, uint64_t pos_limit,
                           struct ak_error *err)
{
        struct scan sc = { 0 };
        uint64_t damaged = 0;
        bool holes;
        int r;

        r = map_segment(s, seg, &sc, err);
        if (r < 0)
                goto out;
        if ((r = scan_records(&sc, seg->first, pos_limit)) < 0) {
                r = ak_error_errno(err, r, "spool %s", s->dir);
                goto out;
        }
        holes = !sc.header_ok || (sc.n_runs && sc.runs[0].from > SPOOL_SEGMENT_HEADER) || sc.n_runs > 1;
        seg->size = sc.size;
        seg->end = sc.end_pos;
        seg->valid_end = sc.valid_end;
        seg->dirty_end = sc.dirty_end;
        s->lost_records += sc.lost;
        if (!holes && sc.dirty_end == sc.valid_end)
                goto out; /* nothing damaged */

        /* Keep the damaged bytes aside before touching the segment. */
        if (!sc.header_ok) {
                uint64_t n = sc.size < SPOOL_SEGMENT_HEADER ? sc.size : SPOOL_SEGMENT_HEADER;
                if ((r = quarantine(s, seg, &sc, 0, n, err)) < 0)
                        goto out;
                damaged += n;
        }
        uint64_t prev = SPOOL_SEGMENT_HEADER;
        for (size_t i = 0; i < sc.n_runs; i++) {
                if ((r = quarantine(s, seg, &sc, prev, sc.runs[i].from, err)) < 0)
                        goto out;
                damaged += sc.runs[i].from - prev;
                prev = sc.runs[i].to;
        }
        if ((r = quarantine(s, seg, &sc, sc.valid_end, sc.dirty_end, err)) < 0)
                goto out;
        r = spool_sync(s, s->dir_fd, false);
        if (r < 0) {
                r = ak_error_errno(err, r, "spool %s: sync the directory", s->dir);
                goto out;
        }
        /* A torn tail of the newest segment was never acknowledged (its
         * write had no fsync); anything else is damage. */
        if (newest && !holes)
                s->truncated_bytes += sc.dirty_end - sc.valid_end;
        else
                damaged += sc.dirty_end - sc.valid_end;
        s->corrupt_bytes += damaged;
        if (holes) {
                r = rewrite(s, seg, &sc, &seg->size, err);
                seg->valid_end = seg->dirty_end = seg->size;
        } else {
                r = clear_tail(s, seg, &sc, err);
                seg->dirty_end = seg->valid_end;
        }
out:
        scan_free(&sc);
        return r;
}

static int cmp_segment(const void *a, const void *b)
{
        const struct segment *x = a, *y = b;

        return x->first < y->first ? -1 : x->first > y->first;
}

static bool is_segment_name(const char *name)
{
        return strlen(name) == SPOOL_NAME_LEN && strcmp(name + 20, ".seg") == 0 &&
               strspn(name, "0123456789") == 20;
}

static int list_segments(struct spool *s, struct ak_error *err)
{
        int dfd = fcntl(s->dir_fd, F_DUPFD_CLOEXEC, 0);
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (dfd < 0 || !(d = fdopendir(dfd))) {
                r = -errno;
                if (dfd >= 0)
                        close(dfd);
                return ak_error_errno(err, r, "spool %s: list", s->dir);
        }
        while ((de = readdir(d))) {
                struct segment seg = { 0 };
                char *end;
                size_t n = strlen(de->d_name);
                if (n == SPOOL_NAME_LEN + strlen(SPOOL_TMP_SUFFIX) &&
                    strcmp(de->d_name + SPOOL_NAME_LEN, SPOOL_TMP_SUFFIX) == 0) {
                        unlinkat(s->dir_fd, de->d_name, 0); /* a rewrite cut short: done again */
                        continue;
                }
                if (!is_segment_name(de->d_name))
                        continue;
                seg.first = strtoull(de->d_name, &end, 10);
                if (seg.first == 0)
                        continue;
                r = spool_add_segment(s, &seg);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return ak_error_errno(err, r, "spool %s", s->dir);
        if (s->n_segs > 1)
                qsort(s->segs, s->n_segs, sizeof(*s->segs), cmp_segment);
        return 0;
}

int spool_recover(struct spool *s, struct ak_error *err)
{
        int r;

        r = list_segments(s, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_segs; i++) {
                bool newest = i + 1 == s->n_segs;
                r = recover_segment(s, &s->segs[i], newest, newest ? UINT64_MAX : s->segs[i + 1].first, err);
                if (r < 0)
                        return r;
                s->bytes += s->segs[i].size;
        }
        if (s->n_segs == 0) {
                struct segment seg = { .first = 1, .end = 1, .valid_end = SPOOL_SEGMENT_HEADER,
                                       .size = SPOOL_SEGMENT_HEADER, .dirty_end = SPOOL_SEGMENT_HEADER };
                r = spool_create_segment(s, 1, &s->active_fd, err);
                if (r < 0)
                        return r;
                if (s->preallocate && spool_zero_range(s->active_fd, SPOOL_SEGMENT_HEADER, s->segment_bytes) == 0 &&
                    spool_sync(s, s->active_fd, true) == 0)
                        seg.size = s->segment_bytes > SPOOL_SEGMENT_HEADER ? s->segment_bytes : SPOOL_SEGMENT_HEADER;
                s->bytes = seg.size;
                s->next_pos = 1;
                return spool_add_segment(s, &seg);
        }
        struct segment *last = &s->segs[s->n_segs - 1];
        char name[SPOOL_NAME_LEN + 1];
        spool_segment_name(last->first, name);
        s->active_fd = openat(s->dir_fd, name, O_WRONLY | O_CLOEXEC);
        if (s->active_fd < 0)
                return ak_error_errno(err, -errno, "spool %s: open %s", s->dir, name);
        r = spool_sync(s, s->active_fd, true);
        if (r < 0)
                return ak_error_errno(err, r, "spool %s: fsync %s", s->dir, name);
        s->next_pos = last->end;
        return 0;
}
