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
#include "lib/base/io.h"
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
        int r = s->io.sync(s->io.ctx, fd, data_only);

        if (r < 0)
                spool_break(s, r, "fsync");
        return r;
}

/* After a failed fsync, Linux may have dropped the dirty pages it could not
 * write and the next fsync "succeeds": nothing written since the last good
 * sync can be trusted, so the spool refuses every append until reopened. */
void spool_break(struct spool *s, int code, const char *what)
{
        pthread_mutex_lock(&s->mu);
        if (!s->broken) {
                s->broken = -EIO;
                snprintf(s->broken_msg, sizeof(s->broken_msg),
                         "spool %s: refusing appends since a failed %s (%s); reopen it (restart the service) "
                         "to go on from what is on disk",
                         s->dir, what, strerror(-code));
        }
        pthread_mutex_unlock(&s->mu);
}

/* Writes zeros over [from, to). 0 or -errno. */
int spool_zero_range(int fd, uint64_t from, uint64_t to)
{
        static const uint8_t zeros[64 * 1024];

        while (from < to) {
                size_t n = to - from < sizeof(zeros) ? (size_t)(to - from) : sizeof(zeros);
                struct iovec iov = { (void *)zeros, n };
                int r = ak_writev_full(fd, &iov, 1, (off_t)from);
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

int spool_write_segment_header(int fd, uint64_t first)
{
        uint8_t hdr[SPOOL_SEGMENT_HEADER];
        struct iovec iov = { hdr, sizeof(hdr) };

        memcpy(hdr, SPOOL_MAGIC, 8);
        spool_put_le64(hdr + 8, first);
        return ak_writev_full(fd, &iov, 1, 0);
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

/* Syncs the directory that holds path (its last component's entry). */
static int sync_parent(struct spool *s, const char *path)
{
        char parent[PATH_MAX];
        const char *slash = strrchr(path, '/');
        _cleanup_close_ int fd = -1;

        if (!slash)
                snprintf(parent, sizeof(parent), ".");
        else if (slash == path)
                snprintf(parent, sizeof(parent), "/");
        else
                snprintf(parent, sizeof(parent), "%.*s", (int)(slash - path), path);
        fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return spool_sync(s, fd, false);
}

/* mkdir -p dir (mode 0700), then syncs the parent of every directory it
 * made: a directory's entry is durable only once its parent is synced, and
 * a crash must not take away a spool that acknowledged records. */
static int make_dirs(struct spool *s, const char *dir)
{
        char path[PATH_MAX];
        size_t n = strlen(dir), first_missing = SIZE_MAX;
        struct stat st;
        int r;

        while (n > 1 && dir[n - 1] == '/')
                n--;
        if (n == 0 || n >= sizeof(path))
                return n ? -ENAMETOOLONG : -EINVAL;
        memcpy(path, dir, n);
        path[n] = '\0';
        /* The first component (from the top) that does not exist yet. */
        for (size_t i = 1; i <= n; i++) {
                if (i < n && path[i] != '/')
                        continue;
                path[i] = '\0';
                bool exists = stat(path, &st) == 0;
                if (i < n)
                        path[i] = '/';
                if (!exists) {
                        first_missing = i;
                        break;
                }
        }
        if (first_missing == SIZE_MAX)
                return 0;
        r = ak_mkdir_p(path, 0700, false);
        if (r < 0)
                return r;
        for (size_t i = first_missing; i <= n; i++) {
                if (i < n && path[i] != '/')
                        continue;
                path[i] = '\0';
                r = sync_parent(s, path);
                if (i < n)
                        path[i] = '/';
                if (r < 0)
                        return r;
        }
        return 0;
}

int spool_open(const char *dir, const struct spool_options *opts, struct spool **ret, struct ak_error *err)
{
        pthread_condattr_t ca;
        struct spool *s;
        int r;

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
        r = make_dirs(s, dir);
        if (r < 0) {
                r = ak_error_errno(err, r, "spool %s: create the directory", dir);
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
                r = errno == EWOULDBLOCK ? ak_error_set(err, -EBUSY, "spool %s: in use by another process (its lock file is held)", dir)
                                         : ak_error_errno(err, -errno, "spool %s: lock", dir);
                goto fail;
        }
        r = spool_recover(s, err);
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
        ret->lost_records = s->lost_records;
        ret->quarantine_files = s->quarantine_files;
        ret->broken = s->broken;
        pthread_mutex_unlock(&s->mu);
}
