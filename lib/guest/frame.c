#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "lib/guest/frame.h"

struct frame_reader {
        size_t max;
        uint8_t hdr[FRAME_HEADER_SIZE];
        size_t hdr_len;
        uint32_t body_len;  /* valid once hdr_len == 4 */
        uint8_t *body;
        size_t body_have;
        size_t body_cap;
        uint64_t skip;      /* bytes of an oversize body still to discard */
        uint32_t oversize_len;
        int ready;
};

int frame_reader_new(size_t max, struct frame_reader **ret)
{
        struct frame_reader *r = calloc(1, sizeof(*r));

        if (!r)
                return -ENOMEM;
        r->max = max;
        *ret = r;
        return 0;
}

void frame_reader_free(struct frame_reader *r)
{
        if (!r)
                return;
        free(r->body);
        free(r);
}

static int grow_body(struct frame_reader *r, size_t want)
{
        if (want <= r->body_cap)
                return 0;
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < want)
                cap *= 2;
        if (cap > (size_t)r->body_len + 1)
                cap = (size_t)r->body_len + 1;
        uint8_t *p = realloc(r->body, cap);
        if (!p)
                return -ENOMEM;
        r->body = p;
        r->body_cap = cap;
        return 0;
}

int frame_reader_feed(struct frame_reader *r, const uint8_t *data, size_t len, size_t *ret_consumed)
{
        size_t off = 0;

        while (off < len) {
                if (r->skip) {
                        size_t n = len - off < r->skip ? len - off : (size_t)r->skip;
                        r->skip -= n;
                        off += n;
                        continue;
                }
                if (r->hdr_len < FRAME_HEADER_SIZE) {
                        r->hdr[r->hdr_len++] = data[off++];
                        if (r->hdr_len < FRAME_HEADER_SIZE)
                                continue;
                        r->body_len = frame_get_header(r->hdr);
                        if (r->body_len > r->max) {
                                r->oversize_len = r->body_len;
                                r->skip = r->body_len;
                                r->hdr_len = 0;
                                *ret_consumed = off;
                                return FRAME_OVERSIZE;
                        }
                        r->body_have = 0;
                        /* The NUL terminator needs one byte even for "". */
                        if (grow_body(r, r->body_len < 4096 ? (size_t)r->body_len + 1 : 4096) < 0) {
                                *ret_consumed = off;
                                return -ENOMEM;
                        }
                }
                size_t want = r->body_len - r->body_have;
                size_t n = len - off < want ? len - off : want;
                if (grow_body(r, r->body_have + n + 1) < 0) {
                        *ret_consumed = off;
                        return -ENOMEM;
                }
                memcpy(r->body + r->body_have, data + off, n);
                r->body_have += n;
                off += n;
                if (r->body_have == r->body_len) {
                        r->body[r->body_len] = 0;
                        r->ready = 1;
                        *ret_consumed = off;
                        return FRAME_READY;
                }
        }
        *ret_consumed = off;
        return FRAME_NEED_MORE;
}

void frame_reader_take(struct frame_reader *r, uint8_t **ret_body, size_t *ret_len)
{
        *ret_body = r->body;
        *ret_len = r->body_len;
        r->body = NULL;
        r->body_cap = 0;
        r->body_have = 0;
        r->hdr_len = 0;
        r->ready = 0;
}

uint32_t frame_reader_oversize_len(const struct frame_reader *r)
{
        return r->oversize_len;
}

int frame_reader_idle(const struct frame_reader *r)
{
        return r->hdr_len == 0 && r->skip == 0;
}

/* An absolute deadline on the monotonic clock (ak_mono_ms); -1: none. */
static int64_t deadline_of(int timeout_ms)
{
        return timeout_ms < 0 ? -1 : ak_mono_ms() + timeout_ms;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
        struct pollfd p = { .fd = fd, .events = events };

        for (;;) {
                int64_t left = deadline < 0 ? -1 : deadline - ak_mono_ms();
                if (deadline >= 0 && left < 0)
                        left = 0;
                int n = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
                if (n > 0)
                        return 0;
                if (n == 0 && (deadline < 0 || ak_mono_ms() >= deadline))
                        return -ETIMEDOUT;
                if (n < 0 && errno != EINTR)
                        return -errno;
        }
}

/* Never blocks in the write itself (the fd may be blocking): a peer that
 * stops reading costs at most the deadline. */
static int write_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
        while (n) {
                ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w < 0 && errno == ENOTSOCK) {
                        /* A pipe: POLLOUT promises room for PIPE_BUF bytes. */
                        int r = wait_fd(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        w = write(fd, p, n < PIPE_BUF ? n : PIPE_BUF);
                }
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                int r = wait_fd(fd, POLLOUT, deadline);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        return -errno;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

static int read_all(int fd, uint8_t *p, size_t n, int64_t deadline)
{
        while (n) {
                int r = wait_fd(fd, POLLIN, deadline);
                if (r < 0)
                        return r;
                ssize_t got = read(fd, p, n);
                if (got < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (got == 0)
                        return -ECONNRESET;
                p += got;
                n -= (size_t)got;
        }
        return 0;
}

int frame_write(int fd, const void *body, size_t len, int timeout_ms)
{
        int64_t deadline = deadline_of(timeout_ms);
        uint8_t hdr[FRAME_HEADER_SIZE];
        int r;

        if (len > FRAME_MAX)
                return -EMSGSIZE;
        frame_put_header(hdr, (uint32_t)len);
        r = write_all(fd, hdr, sizeof(hdr), deadline);
        if (r < 0)
                return r;
        return write_all(fd, body, len, deadline);
}

int frame_read(int fd, size_t max, int timeout_ms, uint8_t **ret_body, size_t *ret_len)
{
        int64_t deadline = deadline_of(timeout_ms);
        uint8_t hdr[FRAME_HEADER_SIZE];
        int r = read_all(fd, hdr, sizeof(hdr), deadline);

        if (r < 0)
                return r;
        uint32_t len = frame_get_header(hdr);
        if (len > max)
                return -EMSGSIZE;
        uint8_t *body = malloc((size_t)len + 1);
        if (!body)
                return -ENOMEM;
        r = read_all(fd, body, len, deadline);
        if (r < 0) {
                free(body);
                return r;
        }
        body[len] = 0;
        *ret_body = body;
        *ret_len = len;
        return 0;
}
