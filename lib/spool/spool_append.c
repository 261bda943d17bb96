/* The spool's appends: group commit (one leader writes and syncs what every
 * waiting caller queued), segment rotation, and the preallocation thread. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "lib/base/time.h"
#include "lib/spool/crc32c.h"
#include "lib/spool/spool.h"
#include "lib/spool/spool_internal.h"

struct pending {
        const struct iovec *recs;
        size_t n;
        uint8_t (*hdrs)[SPOOL_RECORD_HEADER];
        uint32_t *crcs;
        uint64_t bytes;
        uint64_t first;
        int result;
        char msg[256];
        bool done;
        struct pending *next;
};

static void fail_pending(struct pending *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail_pending(struct pending *p, int code, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
        va_end(ap);
        p->result = code;
}

/* Fails p with the spool's "broken" message, if it is broken. */
static bool fail_broken(struct spool *s, struct pending *p)
{
        pthread_mutex_lock(&s->mu);
        int broken = s->broken;
        if (broken)
                fail_pending(p, broken, "%s", s->broken_msg);
        pthread_mutex_unlock(&s->mu);
        return broken != 0;
}

/* A run of pendings bound for the active segment. */
struct chunk {
        struct pending **ps;
        size_t n;
        uint64_t bytes;
        uint64_t first_pos;
        uint64_t next_pos;
};

/* Writes and syncs one chunk at the end of the active segment. Leader only,
 * without the lock. */
static void commit_chunk(struct spool *s, struct chunk *c)
{
        struct segment *last;
        uint64_t off;
        size_t n_iov = 0;
        struct iovec *iov;
        int r;

        if (c->n == 0)
                return;
        pthread_mutex_lock(&s->mu);
        off = s->segs[s->n_segs - 1].valid_end;
        pthread_mutex_unlock(&s->mu);
        for (size_t i = 0; i < c->n; i++)
                n_iov += 2 * c->ps[i]->n;
        iov = malloc(n_iov * sizeof(*iov));
        if (!iov) {
                r = -ENOMEM;
                goto failed;
        }
        n_iov = 0;
        for (size_t i = 0; i < c->n; i++)
                for (size_t k = 0; k < c->ps[i]->n; k++) {
                        iov[n_iov++] = (struct iovec){ c->ps[i]->hdrs[k], SPOOL_RECORD_HEADER };
                        iov[n_iov++] = c->ps[i]->recs[k];
                }
        r = ak_writev_full(s->active_fd, iov, n_iov, (off_t)off);
        free(iov);
        if (r == 0)
                r = spool_sync(s, s->active_fd, true);
        if (r < 0) {
                /* A full disk: nothing acknowledged is at risk, the partial
                 * write is cut off and later appends may fit. Any other
                 * failure (a failed fsync above all) breaks the spool. */
                if (r != -ENOSPC && r != -EDQUOT)
                        spool_break(s, r, "write");
                /* Cut the partial write off (and the preallocation after it),
                 * so later records follow valid ones. */
                int t = ftruncate(s->active_fd, (off_t)off) < 0 ? -errno : spool_sync(s, s->active_fd, true);
                if (t < 0)
                        spool_break(s, t, "truncate");
                pthread_mutex_lock(&s->mu);
                last = &s->segs[s->n_segs - 1];
                if (last->size > off) {
                        s->bytes -= last->size - off;
                        last->size = off;
                }
                pthread_mutex_unlock(&s->mu);
                goto failed;
        }
        pthread_mutex_lock(&s->mu);
        last = &s->segs[s->n_segs - 1];
        last->valid_end += c->bytes;
        if (last->valid_end > last->size) {
                s->bytes += last->valid_end - last->size;
                last->size = last->valid_end;
        }
        last->end = c->next_pos;
        s->next_pos = c->next_pos;
        s->commits++;
        s->committed_records += c->next_pos - c->first_pos;
        pthread_mutex_unlock(&s->mu);
        for (size_t i = 0; i < c->n; i++)
                c->ps[i]->result = 0;
        c->n = 0;
        c->bytes = 0;
        c->first_pos = c->next_pos;
        return;
failed:
        for (size_t i = 0; i < c->n; i++) {
                if (fail_broken(s, c->ps[i]))
                        continue;
                if (r == -ENOSPC || r == -EDQUOT)
                        fail_pending(c->ps[i], r, "spool %s: disk full (%s): free space on its filesystem",
                                     s->dir, strerror(-r));
                else
                        fail_pending(c->ps[i], r, "spool %s: write: %s", s->dir, strerror(-r));
        }
        c->n = 0;
        c->bytes = 0;
        c->next_pos = c->first_pos;
}

/* Makes the preallocated spare the segment starting at `first`. */
static int take_spare(struct spool *s, uint64_t first, int *ret_fd)
{
        char name[SPOOL_NAME_LEN + 1];
        int fd, r = 0;

        spool_segment_name(first, name);
        fd = openat(s->dir_fd, SPOOL_SPARE, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = spool_write_segment_header(fd, first);
        if (r == 0)
                r = spool_sync(s, fd, true);
        if (r == 0 && renameat(s->dir_fd, SPOOL_SPARE, s->dir_fd, name) < 0)
                r = -errno;
        if (r == 0)
                r = spool_sync(s, s->dir_fd, false);
        if (r < 0) {
                close(fd);
                unlinkat(s->dir_fd, SPOOL_SPARE, 0);
                return r;
        }
        *ret_fd = fd;
        return 0;
}

static int rotate(struct spool *s, uint64_t first, bool spare_ok, struct ak_error *err)
{
        struct segment seg = { .first = first, .end = first, .valid_end = SPOOL_SEGMENT_HEADER,
                               .size = SPOOL_SEGMENT_HEADER, .dirty_end = SPOOL_SEGMENT_HEADER };
        bool spare;
        int fd = -1, r;

        pthread_mutex_lock(&s->mu);
        spare = spare_ok && s->spare_ready;
        if (spare)
                s->spare_ready = false;
        pthread_mutex_unlock(&s->mu);
        if (spare) {
                r = take_spare(s, first, &fd);
                /* Renamed (or gone): the preparer may make the next one. */
                pthread_mutex_lock(&s->mu);
                pthread_cond_signal(&s->prep_cond);
                pthread_mutex_unlock(&s->mu);
                if (r == 0)
                        seg.size = s->segment_bytes;
                else
                        spare = false;
        }
        if (!spare && (r = spool_create_segment(s, first, &fd, err)) < 0)
                return r;
        pthread_mutex_lock(&s->mu);
        r = spool_add_segment(s, &seg);
        if (r == 0) {
                s->bytes += seg.size;
                close(s->active_fd);
                s->active_fd = fd;
        }
        pthread_mutex_unlock(&s->mu);
        if (r < 0) {
                char name[SPOOL_NAME_LEN + 1];
                spool_segment_name(first, name);
                close(fd);
                unlinkat(s->dir_fd, name, 0);
                return ak_error_errno(err, r, "spool %s", s->dir);
        }
        return 0;
}

/* ---- preallocation ------------------------------------------------------ */

static int make_spare(struct spool *s)
{
        struct statvfs vfs;
        int fd, r;

        /* Never take the last free space from the records themselves. */
        if (fstatvfs(s->dir_fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < 4 * s->segment_bytes)
                return -ENOSPC;
        fd = openat(s->dir_fd, SPOOL_SPARE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = spool_zero_range(fd, 0, s->segment_bytes);
        if (r == 0)
                r = spool_sync(s, fd, true);
        close(fd);
        if (r < 0)
                unlinkat(s->dir_fd, SPOOL_SPARE, 0);
        return r;
}

void *spool_prepare(void *arg)
{
        struct spool *s = arg;

        pthread_mutex_lock(&s->mu);
        while (!s->prep_stop) {
                if (s->spare_ready) {
                        pthread_cond_wait(&s->prep_cond, &s->mu);
                        continue;
                }
                pthread_mutex_unlock(&s->mu);
                int r = make_spare(s);
                pthread_mutex_lock(&s->mu);
                if (r == 0) {
                        s->spare_ready = true;
                } else if (!s->prep_stop) {
                        /* Disk full, most likely: segments are made unprepared
                         * meanwhile; try again in a while. */
                        struct timespec until = ak_timespec_after(CLOCK_MONOTONIC, 1000);
                        pthread_cond_timedwait(&s->prep_cond, &s->mu, &until);
                }
        }
        pthread_mutex_unlock(&s->mu);
        return NULL;
}

static void snapshot(struct spool *s, uint64_t *ret_bytes, uint64_t *ret_seg_used, uint64_t *ret_seg_size,
                     int *ret_broken)
{
        pthread_mutex_lock(&s->mu);
        *ret_bytes = s->bytes;
        *ret_seg_used = s->segs[s->n_segs - 1].valid_end;
        *ret_seg_size = s->segs[s->n_segs - 1].size;
        *ret_broken = s->broken;
        pthread_mutex_unlock(&s->mu);
}

/* Bytes the spool grows by when `add` more bytes follow `used` bytes in a
 * segment file of `size` bytes (preallocated bytes are counted already). */
static uint64_t growth(uint64_t used, uint64_t size, uint64_t add)
{
        uint64_t end = used + add;

        return end > size ? end - (size > used ? size : used) : 0;
}

static void fail_full(struct spool *s, struct pending *p, uint64_t bytes)
{
        fail_pending(p, -ENOSPC, "spool %s: full (%" PRIu64 " of %" PRIu64 " bytes): destinations are behind",
                     s->dir, bytes, s->max_bytes);
}

/* The leader's work: everything in `list`, in order. */
static void lead(struct spool *s, struct pending *list, size_t count)
{
        struct chunk c = { 0 };
        uint64_t bytes, seg_used, seg_size;
        int broken;

        c.ps = malloc(count * sizeof(*c.ps));
        if (!c.ps) {
                for (struct pending *p = list; p; p = p->next)
                        fail_pending(p, -ENOMEM, "spool %s: out of memory", s->dir);
                return;
        }
        snapshot(s, &bytes, &seg_used, &seg_size, &broken);
        pthread_mutex_lock(&s->mu);
        c.first_pos = c.next_pos = s->next_pos;
        pthread_mutex_unlock(&s->mu);

        for (struct pending *p = list; p; p = p->next) {
                if (broken && fail_broken(s, p))
                        continue;
                if (seg_used + c.bytes > SPOOL_SEGMENT_HEADER && seg_used + c.bytes + p->bytes > s->segment_bytes) {
                        struct ak_error e;
                        uint64_t committed = c.bytes;
                        if (bytes + growth(seg_used, seg_size, committed) + SPOOL_SEGMENT_HEADER + p->bytes >
                            s->max_bytes) {
                                fail_full(s, p, bytes + growth(seg_used, seg_size, committed));
                                continue;
                        }
                        commit_chunk(s, &c);
                        snapshot(s, &bytes, &seg_used, &seg_size, &broken);
                        if (broken && fail_broken(s, p))
                                continue;
                        /* A preallocated segment only if it fits under the limit. */
                        bool spare_ok = bytes + s->segment_bytes + growth(SPOOL_SEGMENT_HEADER, s->segment_bytes,
                                                                           p->bytes) <= s->max_bytes;
                        int r = rotate(s, c.next_pos, spare_ok, &e);
                        snapshot(s, &bytes, &seg_used, &seg_size, &broken);
                        if (r < 0 && (e.code == -ENOSPC || e.code == -EDQUOT)) {
                                fail_pending(p, e.code, "spool %s: disk full (%s): free space on its filesystem",
                                             s->dir, strerror(-e.code));
                                continue;
                        }
                        if (r < 0) {
                                fail_pending(p, e.code, "%s", e.msg);
                                continue;
                        }
                        if (broken && fail_broken(s, p))
                                continue;
                }
                if (bytes + growth(seg_used, seg_size, c.bytes + p->bytes) > s->max_bytes) {
                        fail_full(s, p, bytes + growth(seg_used, seg_size, c.bytes));
                        continue;
                }
                p->first = c.next_pos;
                for (size_t k = 0; k < p->n; k++) {
                        uint8_t *h = p->hdrs[k];
                        uint32_t len = (uint32_t)p->recs[k].iov_len;
                        spool_put_le32(h, len);
                        spool_put_le32(h + 4, spool_record_crc(p->crcs[k], c.next_pos, len));
                        spool_put_le64(h + 8, c.next_pos);
                        c.next_pos++;
                }
                c.ps[c.n++] = p;
                c.bytes += p->bytes;
        }
        commit_chunk(s, &c);
        free(c.ps);
}

int spool_append(struct spool *s, const struct iovec *records, size_t n, uint64_t *ret_first, struct ak_error *err)
{
        struct pending p = { .recs = records, .n = n };
        size_t count;
        int r;

        if (n == 0 || n > SPOOL_MAX_BATCH)
                return ak_error_set(err, -EINVAL, "spool: %zu records in one append (1 to %d)", n, SPOOL_MAX_BATCH);
        p.hdrs = malloc(n * sizeof(*p.hdrs));
        p.crcs = malloc(n * sizeof(*p.crcs));
        if (!p.hdrs || !p.crcs) {
                r = ak_error_errno(err, -ENOMEM, "spool");
                goto out;
        }
        for (size_t i = 0; i < n; i++) {
                if (records[i].iov_len == 0 || records[i].iov_len > SPOOL_MAX_RECORD) {
                        r = ak_error_set(err, -EINVAL, "spool: record %zu has %zu bytes (1 to %u)", i,
                                         records[i].iov_len, SPOOL_MAX_RECORD);
                        goto out;
                }
                p.crcs[i] = crc32c(records[i].iov_base, records[i].iov_len);
                p.bytes += SPOOL_RECORD_HEADER + records[i].iov_len;
        }

        pthread_mutex_lock(&s->mu);
        if (s->queue_tail)
                s->queue_tail->next = &p;
        else
                s->queue_head = &p;
        s->queue_tail = &p;
        while (!p.done) {
                if (s->flushing) {
                        pthread_cond_wait(&s->cond, &s->mu);
                        continue;
                }
                /* Lead: take the whole queue, write it with one sync. */
                struct pending *list = s->queue_head;
                s->queue_head = s->queue_tail = NULL;
                s->flushing = true;
                count = 0;
                for (struct pending *q = list; q; q = q->next)
                        count++;
                pthread_mutex_unlock(&s->mu);
                lead(s, list, count);
                pthread_mutex_lock(&s->mu);
                for (struct pending *q = list, *next; q; q = next) {
                        next = q->next;
                        q->done = true;
                }
                s->flushing = false;
                pthread_cond_broadcast(&s->cond);
        }
        pthread_mutex_unlock(&s->mu);
        r = p.result;
        if (r < 0)
                ak_error_set(err, r, "%s", p.msg);
        else
                *ret_first = p.first;
out:
        free(p.hdrs);
        free(p.crcs);
        return r;
}
