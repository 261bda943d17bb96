/* Reading the spool: a cursor over stored records, segment by segment. A
 * reader keeps its segment's fd open, so a segment released under it can
 * still be read to its end. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/spool/crc32c.h"
#include "lib/spool/spool.h"
#include "lib/spool/spool_internal.h"

#define READ_CHUNK (256 * 1024)

struct spool_reader {
        struct spool *s;
        uint64_t pos;          /* the next position wanted */
        uint64_t seg_first;    /* the open segment (fd >= 0) */
        uint64_t seg_end_pos;  /* its end position, as last seen */
        uint64_t seg_limit;    /* its readable bytes, as last seen */
        int fd;
        uint64_t off;          /* file offset of the next record */
        uint8_t *buf;          /* bytes [buf_off, buf_off + buf_len) of the file */
        size_t buf_cap;
        uint64_t buf_off;
        size_t buf_len;
};

int spool_reader_new(struct spool *s, uint64_t position, struct spool_reader **ret)
{
        struct spool_reader *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        r->s = s;
        r->pos = position;
        r->fd = -1;
        *ret = r;
        return 0;
}

void spool_reader_free(struct spool_reader *r)
{
        if (!r)
                return;
        if (r->fd >= 0)
                close(r->fd);
        free(r->buf);
        free(r);
}

uint64_t spool_reader_position(const struct spool_reader *r)
{
        return r->pos;
}

static void close_segment(struct spool_reader *r)
{
        if (r->fd >= 0)
                close(r->fd);
        r->fd = -1;
        r->buf_len = 0;
}

/* Under s->mu: the index of the segment holding r->pos (moving r->pos
 * forward over released or lost records), or -1 when past the end. */
static long locate(struct spool_reader *r)
{
        struct spool *s = r->s;

        if (s->n_segs == 0)
                return -1;
        if (r->pos < s->segs[0].first)
                r->pos = s->segs[0].first;
        for (size_t i = s->n_segs; i-- > 0;) {
                if (s->segs[i].first > r->pos)
                        continue;
                if (r->pos < s->segs[i].end || i + 1 == s->n_segs)
                        return (long)i;
                /* Lost records at the end of segment i: go to the next. */
                r->pos = s->segs[i + 1].first;
                return (long)i + 1;
        }
        return -1;
}

/* Makes bytes [off, off + n) available in r->buf; false at the limit or on
 * a read error (*ret_err). */
static bool fill(struct spool_reader *r, uint64_t off, size_t n, uint64_t limit, int *ret_err)
{
        size_t want, got = 0;

        if (off + n > limit)
                return false;
        if (off >= r->buf_off && off + n <= r->buf_off + r->buf_len)
                return true;
        want = n > READ_CHUNK ? n : READ_CHUNK;
        if (off + want > limit)
                want = (size_t)(limit - off);
        if (want > r->buf_cap) {
                uint8_t *b = realloc(r->buf, want);
                if (!b) {
                        *ret_err = -ENOMEM;
                        return false;
                }
                r->buf = b;
                r->buf_cap = want;
        }
        while (got < want) {
                ssize_t k = pread(r->fd, r->buf + got, want - got, (off_t)(off + got));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        *ret_err = -errno;
                        r->buf_len = 0;
                        return false;
                }
                if (k == 0)
                        break;
                got += (size_t)k;
        }
        r->buf_off = off;
        r->buf_len = got;
        return got >= n;
}

int spool_reader_next(struct spool_reader *r, uint64_t *ret_position, const char **ret_data, size_t *ret_len)
{
        struct spool *s = r->s;

        for (;;) {
                uint64_t limit, seg_end;
                bool is_last;
                long i;

                pthread_mutex_lock(&s->mu);
                if (r->fd >= 0) {
                        /* Refresh the open segment's limit, if it is still listed. */
                        /* A released segment was closed: what we saw last stands. */
                        limit = r->seg_limit;
                        is_last = false;
                        seg_end = r->seg_end_pos;
                        for (size_t k = 0; k < s->n_segs; k++)
                                if (s->segs[k].first == r->seg_first) {
                                        limit = s->segs[k].valid_end;
                                        seg_end = s->segs[k].end;
                                        is_last = k + 1 == s->n_segs;
                                        break;
                                }
                } else {
                        if (r->pos >= s->next_pos) {
                                pthread_mutex_unlock(&s->mu);
                                return 0;
                        }
                        i = locate(r);
                        if (i < 0) {
                                pthread_mutex_unlock(&s->mu);
                                return 0;
                        }
                        char name[SPOOL_NAME_LEN + 1];
                        spool_segment_name(s->segs[i].first, name);
                        r->seg_first = s->segs[i].first;
                        limit = s->segs[i].valid_end;
                        seg_end = s->segs[i].end;
                        is_last = (size_t)i + 1 == s->n_segs;
                        r->fd = openat(s->dir_fd, name, O_RDONLY | O_CLOEXEC);
                        r->off = SPOOL_SEGMENT_HEADER;
                        r->buf_len = 0;
                        if (r->fd < 0) {
                                int e = errno;
                                pthread_mutex_unlock(&s->mu);
                                if (e == ENOENT)
                                        continue; /* released meanwhile: locate again */
                                return -e;
                        }
                }
                r->seg_end_pos = seg_end;
                r->seg_limit = limit;
                pthread_mutex_unlock(&s->mu);

                uint32_t len, crc;
                uint64_t rpos;
                int err = 0;
                if (!fill(r, r->off, SPOOL_RECORD_HEADER, limit, &err) ||
                    !spool_header_decode(r->buf + (r->off - r->buf_off), &len, &crc, &rpos) ||
                    !fill(r, r->off, SPOOL_RECORD_HEADER + (size_t)len, limit, &err)) {
                        if (err)
                                return err;
                        if (is_last)
                                return 0; /* the end of what is stored */
                        /* The end of a closed segment: on to the next. */
                        close_segment(r);
                        if (r->pos < seg_end)
                                r->pos = seg_end;
                        continue;
                }
                const uint8_t *rec = r->buf + (r->off - r->buf_off);
                if (spool_record_crc(crc32c(rec + SPOOL_RECORD_HEADER, len), rpos, len) != crc) {
                        /* Damaged (checked at open, so only by a later hand): skip the segment's rest. */
                        r->off = limit;
                        continue;
                }
                r->off += SPOOL_RECORD_HEADER + len;
                if (rpos < r->pos)
                        continue;
                r->pos = rpos + 1;
                *ret_position = rpos;
                *ret_data = (const char *)rec + SPOOL_RECORD_HEADER;
                *ret_len = len;
                return 1;
        }
}
