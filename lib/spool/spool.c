/* The spool: opening and recovery, waiting, release of delivered segments
 * (appending is in spool_append.c). See spool.h for the format and guarantees. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/time.h"
#include "lib/spool/crc32c.h"
#include "lib/spool/spool.h"
#include "lib/spool/spool_internal.h"

void spool_put_le32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

void spool_put_le64(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
        uint64_t v = 0;

        for (int i = n - 1; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

void spool_segment_name(uint64_t first, char ret[SPOOL_NAME_LEN + 1])
{
        snprintf(ret, SPOOL_NAME_LEN + 1, "%020" PRIu64 ".seg", first);
}

uint32_t spool_record_crc(uint32_t payload_crc, uint64_t position, uint32_t len)
{
        uint8_t tail[12];

        spool_put_le64(tail, position);
        spool_put_le32(tail + 8, len);
        return crc32c_extend(payload_crc, tail, sizeof(tail));
}

bool spool_header_decode(const uint8_t *p, uint32_t *ret_len, uint32_t *ret_crc, uint64_t *ret_pos)
{
        *ret_len = (uint32_t)get_le(p, 4);
        *ret_crc = (uint32_t)get_le(p + 4, 4);
        *ret_pos = get_le(p + 8, 8);
        return *ret_len >= 1 && *ret_len <= SPOOL_MAX_RECORD;
}

/* ---- I/O helpers -------------------------------------------------------- */

static int real_sync(void *ctx, int fd, bool data_only)
{
        (void)ctx;
        while ((data_only ? fdatasync(fd) : fsync(fd)) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

int spool_sync(struct spool *s, int fd, bool data_only)
{
        return s->io.sync(s->io.ctx, fd, data_only);
}

static int pread_full(int fd, void *buf, size_t n, uint64_t off, size_t *ret_got)
{
        size_t got = 0;

        while (got < n) {
                ssize_t k = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                got += (size_t)k;
        }
        *ret_got = got;
        return 0;
}

/* Writes every byte of iov[0..cnt) at off (handles short writes, IOV_MAX). */
int spool_pwritev_full(int fd, struct iovec *iov, size_t cnt, uint64_t off)
{
        while (cnt > 0) {
                int c = cnt > IOV_MAX ? IOV_MAX : (int)cnt;
                ssize_t k = pwritev(fd, iov, c, (off_t)off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                off += (uint64_t)k;
                while (cnt > 0 && (size_t)k >= iov->iov_len) {
                        k -= (ssize_t)iov->iov_len;
                        iov++;
                        cnt--;
                }
                if (cnt > 0) {
                        iov->iov_base = (char *)iov->iov_base + k;
                        iov->iov_len -= (size_t)k;
                }
        }
        return 0;
}

/* Writes zeros over [from, to). 0 or -errno. */
int spool_zero_range(int fd, uint64_t from, uint64_t to)
{
        static const uint8_t zeros[64 * 1024];

        while (from < to) {
                size_t n = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
                struct iovec iov = { (void *)zeros, n };
                int r = spool_pwritev_full(fd, &iov, 1, from);
                if (r < 0)
                        return r;
                from += n;
        }
        return 0;
}

/* ---- recovery ----------------------------------------------------------- */

int spool_add_segment(struct spool *s, const struct segment *seg)
{
        if (s->n_segs == s->cap_segs) {
                size_t cap = s->cap_segs ? s->cap_segs * 2 : 16;
                struct segment *n = realloc(s->segs, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                s->segs = n;
                s->cap_segs = cap;
        }
        s->segs[s->n_segs++] = *seg;
        return 0;
}

/* Reads a segment and finds how far it is valid. */
static int scan_segment(struct spool *s, struct segment *seg, struct ak_error *err)
{
        char name[SPOOL_NAME_LEN + 1];
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t hdr[SPOOL_SEGMENT_HEADER];
        struct stat st;
        uint64_t off, pos;
        size_t got;
        int r;

        spool_segment_name(seg->first, name);
        fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return ak_error_errno(err, -errno, "spool %s: open %s", s->dir, name);
        seg->size = (uint64_t)st.st_size;
        seg->valid_end = 0;
        seg->end = seg->first;
        r = pread_full(fd, hdr, sizeof(hdr), 0, &got);
        if (r < 0)
                return ak_error_errno(err, r, "spool %s: read %s", s->dir, name);
        if (got < sizeof(hdr) || memcmp(hdr, SPOOL_MAGIC, 8) != 0 || get_le(hdr + 8, 8) != seg->first)
        {
                seg->dirty_end = seg->size;
                return 0; /* no valid header: nothing readable */
        }
        buf = malloc(SPOOL_RECORD_HEADER + SPOOL_MAX_RECORD);
        if (!buf)
                return ak_error_errno(err, -ENOMEM, "spool %s", s->dir);
        off = SPOOL_SEGMENT_HEADER;
        pos = seg->first;
        for (;;) {
                uint32_t len, crc;
                uint64_t rpos;

                r = pread_full(fd, buf, SPOOL_RECORD_HEADER, off, &got);
                if (r < 0)
                        return ak_error_errno(err, r, "spool %s: read %s", s->dir, name);
                if (got < SPOOL_RECORD_HEADER || !spool_header_decode(buf, &len, &crc, &rpos) || rpos != pos)
                        break;
                r = pread_full(fd, buf + SPOOL_RECORD_HEADER, len, off + SPOOL_RECORD_HEADER, &got);
                if (r < 0)
                        return ak_error_errno(err, r, "spool %s: read %s", s->dir, name);
                if (got < len || spool_record_crc(crc32c(buf + SPOOL_RECORD_HEADER, len), rpos, len) != crc)
                        break;
                off += SPOOL_RECORD_HEADER + len;
                pos++;
        }
        seg->valid_end = off;
        seg->end = pos;
        /* Zeros after the last record are preallocation; anything else is
         * a torn tail or damage. */
        seg->dirty_end = off;
        for (uint64_t at = off; at < seg->size;) {
                size_t n = seg->size - at < SPOOL_MAX_RECORD ? (size_t)(seg->size - at) : SPOOL_MAX_RECORD;
                r = pread_full(fd, buf, n, at, &got);
                if (r < 0)
                        return ak_error_errno(err, r, "spool %s: read %s", s->dir, name);
                for (size_t k = got; k-- > 0;)
                        if (buf[k]) {
                                seg->dirty_end = at + k + 1;
                                break;
                        }
                if (got < n)
                        break;
                at += n;
        }
        return 0;
}

int spool_write_segment_header(int fd, uint64_t first)
{
        uint8_t hdr[SPOOL_SEGMENT_HEADER];
        struct iovec iov = { hdr, sizeof(hdr) };

        memcpy(hdr, SPOOL_MAGIC, 8);
        spool_put_le64(hdr + 8, first);
        return spool_pwritev_full(fd, &iov, 1, 0);
}

/* Creates the segment whose first record will be `first`, durably. */
int spool_create_segment(struct spool *s, uint64_t first, int *ret_fd, struct ak_error *err)
{
        char name[SPOOL_NAME_LEN + 1];
        _cleanup_close_ int fd = -1;
        int r;

        spool_segment_name(first, name);
        fd = openat(s->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return ak_error_errno(err, -errno, "spool %s: create %s", s->dir, name);
        r = spool_write_segment_header(fd, first);
        if (r == 0)
                r = spool_sync(s, fd, true);
        if (r == 0)
                r = spool_sync(s, s->dir_fd, false);
        if (r < 0) {
                unlinkat(s->dir_fd, name, 0);
                return ak_error_errno(err, r, "spool %s: create %s", s->dir, name);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int cmp_segment(const void *a, const void *b)
{
        const struct segment *x = a, *y = b;

        return x->first < y->first ? -1 : x->first > y->first;
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
                if (strlen(de->d_name) != SPOOL_NAME_LEN || strcmp(de->d_name + 20, ".seg") != 0 ||
                    strspn(de->d_name, "0123456789") != 20)
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

static int recover(struct spool *s, struct ak_error *err)
{
        int r;

        r = list_segments(s, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n_segs; i++) {
                r = scan_segment(s, &s->segs[i], err);
                if (r < 0)
                        return r;
                s->bytes += s->segs[i].size;
        }
        if (s->n_segs == 0) {
                struct segment seg = { .first = 1, .end = 1, .valid_end = SPOOL_SEGMENT_HEADER,
                                       .size = SPOOL_SEGMENT_HEADER };
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
        for (size_t i = 0; i + 1 < s->n_segs; i++)
                s->corrupt_bytes += s->segs[i].dirty_end - s->segs[i].valid_end;
        struct segment *last = &s->segs[s->n_segs - 1];
        char name[SPOOL_NAME_LEN + 1];
        spool_segment_name(last->first, name);
        s->active_fd = openat(s->dir_fd, name, O_WRONLY | O_CLOEXEC);
        if (s->active_fd < 0)
                return ak_error_errno(err, -errno, "spool %s: open %s", s->dir, name);
        if (last->valid_end < SPOOL_SEGMENT_HEADER) {
                /* Torn while being created: write its header again. */
                if (ftruncate(s->active_fd, 0) < 0 || spool_write_segment_header(s->active_fd, last->first) < 0)
                        return ak_error_errno(err, -errno, "spool %s: repair %s", s->dir, name);
                s->bytes = s->bytes - last->size + SPOOL_SEGMENT_HEADER;
                last->valid_end = last->dirty_end = last->size = SPOOL_SEGMENT_HEADER;
        }
        if (last->dirty_end > last->valid_end) {
                /* The torn tail, written but never acknowledged: zero it, so
                 * that what follows the next records reads as "no record". */
                r = spool_zero_range(s->active_fd, last->valid_end, last->dirty_end);
                if (r < 0)
                        return ak_error_errno(err, r, "spool %s: clear the torn tail of %s", s->dir, name);
                s->truncated_bytes += last->dirty_end - last->valid_end;
                last->dirty_end = last->valid_end;
        }
        r = spool_sync(s, s->active_fd, true);
        if (r < 0)
                return ak_error_errno(err, r, "spool %s: fsync %s", s->dir, name);
        s->next_pos = last->end;
        return 0;
}

int spool_open(const char *dir, const struct spool_options *opts, struct spool **ret, struct ak_error *err)
{
        pthread_condattr_t ca;
        struct spool *s;
        int r;

        r = ak_mkdir_p(dir, 0700, false);
        if (r < 0)
                return ak_error_errno(err, r, "spool %s: create the directory", dir);
        s = calloc(1, sizeof(*s));
        if (!s)
                return ak_error_errno(err, -ENOMEM, "spool %s", dir);
        s->dir_fd = s->lock_fd = s->active_fd = -1;
        pthread_mutex_init(&s->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&s->cond, &ca);
        pthread_cond_init(&s->prep_cond, &ca);
        pthread_condattr_destroy(&ca);
        s->preallocate = !(opts && opts->no_preallocate);
        s->io = opts && opts->io ? *opts->io : (struct spool_io){ real_sync, NULL };
        s->max_bytes = opts && opts->max_bytes ? opts->max_bytes : (uint64_t)1 << 30;
        s->segment_bytes = opts && opts->segment_bytes ? opts->segment_bytes : 8 << 20;
        s->dir = strdup(dir);
        if (!s->dir) {
                r = ak_error_errno(err, -ENOMEM, "spool %s", dir);
                goto fail;
        }
        s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd < 0) {
                r = ak_error_errno(err, -errno, "spool %s: open", dir);
                goto fail;
        }
        s->lock_fd = openat(s->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lock_fd < 0) {
                r = ak_error_errno(err, -errno, "spool %s: open lock", dir);
                goto fail;
        }
        if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? ak_error_set(err, -EBUSY, "spool %s: in use by another auditor", dir)
                                         : ak_error_errno(err, -errno, "spool %s: lock", dir);
                goto fail;
        }
        r = recover(s, err);
        if (r < 0)
                goto fail;
        unlinkat(s->dir_fd, SPOOL_SPARE, 0); /* maybe half made: made again */
        if (s->preallocate) {
                r = pthread_create(&s->prep_thread, NULL, spool_prepare, s);
                if (r != 0) {
                        r = ak_error_errno(err, -r, "spool %s: start the preallocation thread", dir);
                        goto fail;
                }
                s->prep_started = true;
        }
        *ret = s;
        return 0;
fail:
        spool_free(s);
        return r;
}

void spool_free(struct spool *s)
{
        if (!s)
                return;
        if (s->prep_started) {
                pthread_mutex_lock(&s->mu);
                s->prep_stop = true;
                pthread_cond_signal(&s->prep_cond);
                pthread_mutex_unlock(&s->mu);
                pthread_join(s->prep_thread, NULL);
        }
        if (s->active_fd >= 0)
                close(s->active_fd);
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        if (s->dir_fd >= 0)
                close(s->dir_fd);
        pthread_cond_destroy(&s->cond);
        pthread_cond_destroy(&s->prep_cond);
        pthread_mutex_destroy(&s->mu);
        free(s->segs);
        free(s->dir);
        free(s);
}

bool spool_wait(struct spool *s, uint64_t position, int timeout_ms)
{
        struct timespec until;
        bool ok;

        until = ak_timespec_after(CLOCK_MONOTONIC, timeout_ms);
        pthread_mutex_lock(&s->mu);
        while (s->next_pos <= position)
                if (pthread_cond_timedwait(&s->cond, &s->mu, &until) == ETIMEDOUT)
                        break;
        ok = s->next_pos > position;
        pthread_mutex_unlock(&s->mu);
        return ok;
}

uint64_t spool_release(struct spool *s, uint64_t position)
{
        uint64_t firsts[64], freed = 0;
        size_t n = 0, drop = 0;

        pthread_mutex_lock(&s->mu);
        while (drop + 1 < s->n_segs && s->segs[drop].end <= position && n < AK_ARRAY_SIZE(firsts)) {
                firsts[n++] = s->segs[drop].first;
                freed += s->segs[drop].size;
                drop++;
        }
        if (drop) {
                memmove(s->segs, s->segs + drop, (s->n_segs - drop) * sizeof(*s->segs));
                s->n_segs -= drop;
                s->bytes -= freed;
        }
        pthread_mutex_unlock(&s->mu);
        for (size_t i = 0; i < n; i++) {
                char name[SPOOL_NAME_LEN + 1];
                spool_segment_name(firsts[i], name);
                unlinkat(s->dir_fd, name, 0);
        }
        return freed;
}

void spool_stats(struct spool *s, struct spool_stats *ret)
{
        pthread_mutex_lock(&s->mu);
        ret->oldest_position = s->n_segs ? s->segs[0].first : s->next_pos;
        if (s->n_segs && s->segs[0].end == s->segs[0].first && s->n_segs == 1)
                ret->oldest_position = s->next_pos;
        ret->next_position = s->next_pos;
        ret->bytes = s->bytes;
        ret->max_bytes = s->max_bytes;
        ret->segments = s->n_segs;
        ret->commits = s->commits;
        ret->committed_records = s->committed_records;
        ret->truncated_bytes = s->truncated_bytes;
        ret->corrupt_bytes = s->corrupt_bytes;
        pthread_mutex_unlock(&s->mu);
}
