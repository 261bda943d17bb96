/* The executor's audit queue on disk: a spool and one cursor (audit_disk.h). */
#include "services/executor/audit_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/spool/cursor.h"
#include "lib/spool/spool.h"

#define CURSOR_NAME "auditor"
#define DEFAULT_MAX_BYTES (64ull << 20)

struct audit_disk {
        struct spool *spool;
        struct spool_reader *reader;  /* the sender's */
        int dir_fd;
        pthread_mutex_t lock;         /* acked */
        uint64_t acked;               /* last position the auditor acknowledged */
};

void audit_disk_free(struct audit_disk *d)
{
        if (!d)
                return;
        spool_reader_free(d->reader);
        spool_free(d->spool);
        if (d->dir_fd >= 0)
                close(d->dir_fd);
        pthread_mutex_destroy(&d->lock);
        free(d);
}

int audit_disk_open(const char *dir, uint64_t max_bytes, struct audit_disk **ret, struct ak_error *err)
{
        struct audit_disk *d = calloc(1, sizeof(*d));
        int r;

        if (!d)
                return ak_error_set(err, -ENOMEM, "out of memory");
        d->dir_fd = -1;
        pthread_mutex_init(&d->lock, NULL);
        if (!max_bytes)
                max_bytes = DEFAULT_MAX_BYTES;
        /* Segments of an eighth of the queue, so that acknowledged ones are
         * deleted long before it is full. */
        uint64_t seg = max_bytes / 8;
        seg = seg < 4096 ? 4096 : seg > (4ull << 20) ? 4ull << 20 : seg;
        struct spool_options o = { .max_bytes = max_bytes, .segment_bytes = seg };
        r = spool_open(dir, &o, &d->spool, err);
        if (r < 0) {
                ak_error_wrap(err, "audit queue %s", dir);
                goto fail;
        }
        d->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->dir_fd < 0) {
                r = ak_error_errno(err, -errno, "audit queue %s: open", dir);
                goto fail;
        }
        r = cursor_load(d->dir_fd, CURSOR_NAME, &d->acked, err);
        if (r < 0) {
                ak_error_wrap(err, "audit queue %s", dir);
                goto fail;
        }
        r = spool_reader_new(d->spool, d->acked + 1, &d->reader);
        if (r < 0) {
                r = ak_error_errno(err, r, "audit queue %s", dir);
                goto fail;
        }
        *ret = d;
        return 0;
fail:
        audit_disk_free(d);
        return r;
}

int audit_disk_append(struct audit_disk *d, const uint8_t *data, size_t len, struct ak_error *err)
{
        struct iovec iov = { (void *)data, len };
        uint64_t first;
        int r = spool_append(d->spool, &iov, 1, &first, err);

        if (r == -ENOSPC)
                ak_error_wrap(err, "audit queue full (the auditor is behind or down; events are not dropped, so "
                                   "this operation is refused)");
        else if (r < 0)
                ak_error_wrap(err, "audit queue (this operation is refused)");
        return r;
}

int audit_disk_next_batch(struct audit_disk *d, size_t max, int wait_ms, struct audit_disk_record *recs,
                          size_t *ret_n, uint64_t *ret_last)
{
        size_t n = 0;
        uint64_t pos = 0;
        int r = 0;

        if (wait_ms > 0)
                spool_wait(d->spool, spool_reader_position(d->reader), wait_ms);
        while (n < max) {
                const char *data;
                size_t len;
                r = spool_reader_next(d->reader, &pos, &data, &len);
                if (r <= 0)
                        break;
                recs[n].data = malloc(len);
                if (!recs[n].data) {
                        r = -ENOMEM;
                        break;
                }
                memcpy(recs[n].data, data, len);
                recs[n].len = len;
                n++;
                *ret_last = pos;
        }
        if (r < 0) {
                while (n > 0)
                        free(recs[--n].data);
                return r;
        }
        *ret_n = n;
        return 0;
}

int audit_disk_ack(struct audit_disk *d, uint64_t position, struct ak_error *err)
{
        int r = cursor_store(d->dir_fd, CURSOR_NAME, position, err);

        if (r < 0)
                return r;
        pthread_mutex_lock(&d->lock);
        d->acked = position;
        pthread_mutex_unlock(&d->lock);
        spool_release(d->spool, position + 1);
        return 0;
}

uint64_t audit_disk_waiting(struct audit_disk *d)
{
        struct spool_stats st;
        uint64_t acked;

        spool_stats(d->spool, &st);
        pthread_mutex_lock(&d->lock);
        acked = d->acked;
        pthread_mutex_unlock(&d->lock);
        return st.next_position - 1 > acked ? st.next_position - 1 - acked : 0;
}
