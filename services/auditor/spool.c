/* The spool: opening and recovery, group-committed appends, release of
 * delivered segments. See spool.h for the format and the guarantees. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "services/auditor/crc32c.h"
#include "services/auditor/spool.h"
#include "services/auditor/spool_internal.h"

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

static void *prepare(void *arg);

static void put_le32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
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

        put_le64(tail, position);
        put_le32(tail + 8, len);
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
static int pwritev_full(int fd, struct iovec *iov, size_t cnt, uint64_t off)
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

static int mkdir_p(const char *path)
{
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *c = p + 1; *c; c++) {
                if (*c != '/')
                        continue;
                *c = '\0';
                if (mkdir(p, 0700) < 0 && errno != EEXIST)
                        return -errno;
                *c = '/';
        }
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Writes zeros over [from, to). 0 or -errno. */
static int zero_range(int fd, uint64_t from, uint64_t to)
{
        static const uint8_t zeros[64 * 1024];

        while (from < to) {
                size_t n = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
                struct iovec iov = { (void *)zeros, n };
                int r = pwritev_full(fd, &iov, 1, from);
                if (r < 0)
                        return r;
                from += n;
        }
        return 0;
}

/* ---- recovery ----------------------------------------------------------- */

static int add_segment(struct spool *s, const struct segment *seg)
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

static int write_segment_header(int fd, uint64_t first)
{
        uint8_t hdr[SPOOL_SEGMENT_HEADER];
        struct iovec iov = { hdr, sizeof(hdr) };

        memcpy(hdr, SPOOL_MAGIC, 8);
        put_le64(hdr + 8, first);
        return pwritev_full(fd, &iov, 1, 0);
}

/* Creates the segment whose first record will be `first`, durably. */
static int create_segment(struct spool *s, uint64_t first, int *ret_fd, struct ak_error *err)
{
        char name[SPOOL_NAME_LEN + 1];
        _cleanup_close_ int fd = -1;
        int r;

        spool_segment_name(first, name);
        fd = openat(s->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return ak_error_errno(err, -errno, "spool %s: create %s", s->dir, name);
        r = write_segment_header(fd, first);
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r == 0 && fsync(s->dir_fd) < 0)
                r = -errno;
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
                r = add_segment(s, &seg);
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
                r = create_segment(s, 1, &s->active_fd, err);
                if (r < 0)
                        return r;
                if (s->preallocate && zero_range(s->active_fd, SPOOL_SEGMENT_HEADER, s->segment_bytes) == 0 &&
                    fdatasync(s->active_fd) == 0)
                        seg.size = s->segment_bytes > SPOOL_SEGMENT_HEADER ? s->segment_bytes : SPOOL_SEGMENT_HEADER;
                s->bytes = seg.size;
                s->next_pos = 1;
                return add_segment(s, &seg);
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
                if (ftruncate(s->active_fd, 0) < 0 || write_segment_header(s->active_fd, last->first) < 0)
                        return ak_error_errno(err, -errno, "spool %s: repair %s", s->dir, name);
                s->bytes = s->bytes - last->size + SPOOL_SEGMENT_HEADER;
                last->valid_end = last->dirty_end = last->size = SPOOL_SEGMENT_HEADER;
        }
        if (last->dirty_end > last->valid_end) {
                /* The torn tail, written but never acknowledged: zero it, so
                 * that what follows the next records reads as "no record". */
                r = zero_range(s->active_fd, last->valid_end, last->dirty_end);
                if (r < 0)
                        return ak_error_errno(err, r, "spool %s: clear the torn tail of %s", s->dir, name);
                s->truncated_bytes += last->dirty_end - last->valid_end;
                last->dirty_end = last->valid_end;
        }
        if (fdatasync(s->active_fd) < 0)
                return ak_error_errno(err, -errno, "spool %s: fsync %s", s->dir, name);
        s->next_pos = last->end;
        return 0;
}

int spool_open(const char *dir, const struct spool_options *opts, struct spool **ret, struct ak_error *err)
{
        pthread_condattr_t ca;
        struct spool *s;
        int r;

        r = mkdir_p(dir);
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
                r = pthread_create(&s->prep_thread, NULL, prepare, s);
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

/* ---- appending ---------------------------------------------------------- */

static void fail_pending(struct pending *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fail_pending(struct pending *p, int code, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
        va_end(ap);
        p->result = code;
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
        r = pwritev_full(s->active_fd, iov, n_iov, off);
        free(iov);
        if (r == 0 && fdatasync(s->active_fd) < 0)
                r = -errno;
        if (r < 0) {
                /* Cut the partial write off (and the preallocation after it),
                 * so later records follow valid ones. */
                int t = ftruncate(s->active_fd, (off_t)off) < 0 || fdatasync(s->active_fd) < 0 ? -EIO : 0;
                pthread_mutex_lock(&s->mu);
                last = &s->segs[s->n_segs - 1];
                if (last->size > off) {
                        s->bytes -= last->size - off;
                        last->size = off;
                }
                if (t < 0)
                        s->broken = t;
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
        r = write_segment_header(fd, first);
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r == 0 && renameat(s->dir_fd, SPOOL_SPARE, s->dir_fd, name) < 0)
                r = -errno;
        if (r == 0 && fsync(s->dir_fd) < 0)
                r = -errno;
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
        if (!spare && (r = create_segment(s, first, &fd, err)) < 0)
                return r;
        pthread_mutex_lock(&s->mu);
        r = add_segment(s, &seg);
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
        r = zero_range(fd, 0, s->segment_bytes);
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        close(fd);
        if (r < 0)
                unlinkat(s->dir_fd, SPOOL_SPARE, 0);
        return r;
}

static void *prepare(void *arg)
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
                        struct timespec until;
                        clock_gettime(CLOCK_MONOTONIC, &until);
                        until.tv_sec += 1;
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
                if (broken) {
                        fail_pending(p, broken, "spool %s: unwritable since a failed fsync; restart the auditor",
                                     s->dir);
                        continue;
                }
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
                        if (broken) {
                                fail_pending(p, broken, "spool %s: unwritable since a failed fsync", s->dir);
                                continue;
                        }
                }
                if (bytes + growth(seg_used, seg_size, c.bytes + p->bytes) > s->max_bytes) {
                        fail_full(s, p, bytes + growth(seg_used, seg_size, c.bytes));
                        continue;
                }
                p->first = c.next_pos;
                for (size_t k = 0; k < p->n; k++) {
                        uint8_t *h = p->hdrs[k];
                        uint32_t len = (uint32_t)p->recs[k].iov_len;
                        put_le32(h, len);
                        put_le32(h + 4, spool_record_crc(p->crcs[k], c.next_pos, len));
                        put_le64(h + 8, c.next_pos);
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

bool spool_wait(struct spool *s, uint64_t position, int timeout_ms)
{
        struct timespec until;
        bool ok;

        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
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
