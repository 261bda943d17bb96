#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/pathfmt.h"
#include "vmm/backend/console_ring.h"

struct console_ring {
        int in;              /* the pipe's read end */
        int out;             /* path, open for appending; -1 after a failure */
        uint64_t max, size;  /* size: bytes in path now */
        atomic_bool stop;
        pthread_t thread;
        char path[PATH_MAX], rotated[PATH_MAX];
};

static int open_log(const char *path)
{
        return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
}

/* path becomes path.1; a fresh path begins. */
static void rotate(struct console_ring *c)
{
        if (c->out >= 0)
                close(c->out);
        rename(c->path, c->rotated);
        c->out = open_log(c->path);
        c->size = 0;
}

static void append(struct console_ring *c, const char *p, size_t n)
{
        while (n) {
                if (c->size >= c->max)
                        rotate(c);
                size_t room = (size_t)(c->max - c->size), k = n < room ? n : room;
                /* A failed write (a full disk) drops the bytes: never block
                 * or stop reading, or the VMM would stall on the pipe. */
                if (c->out >= 0) {
                        ssize_t w = write(c->out, p, k);
                        (void)w;
                }
                c->size += k;
                p += k;
                n -= k;
        }
}

static void *ring_main(void *arg)
{
        struct console_ring *c = arg;
        char buf[65536];

        for (;;) {
                struct pollfd pfd = { .fd = c->in, .events = POLLIN };
                int n = poll(&pfd, 1, 100);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
                if (n == 0) {
                        if (atomic_load(&c->stop))
                                break;
                        continue;
                }
                ssize_t got = read(c->in, buf, sizeof(buf));
                if (got < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (got <= 0)
                        break;
                append(c, buf, (size_t)got);
        }
        return NULL;
}

int console_ring_start(int read_fd, const char *path, uint64_t max_bytes, struct console_ring **ret,
                       struct ak_error *err)
{
        int r;

        if (max_bytes == 0)
                max_bytes = CONSOLE_RING_MAX_BYTES;
        if (max_bytes > CONSOLE_RING_MAX_BYTES || max_bytes < CONSOLE_RING_MIN_BYTES) {
                close(read_fd);
                return ak_error_set(err, -EINVAL, "console limit %llu bytes: want %llu..%llu",
                                    (unsigned long long)max_bytes, (unsigned long long)CONSOLE_RING_MIN_BYTES,
                                    (unsigned long long)CONSOLE_RING_MAX_BYTES);
        }
        struct console_ring *c = calloc(1, sizeof(*c));
        if (!c) {
                close(read_fd);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        c->in = read_fd;
        c->max = max_bytes;
        if (pathfmt(c->path, sizeof(c->path), "%s", path) < 0 ||
            pathfmt(c->rotated, sizeof(c->rotated), "%s.1", path) < 0) {
                r = ak_error_set(err, -ENAMETOOLONG, "console log %s: path too long", path);
                goto fail;
        }
        unlink(c->rotated);
        if ((c->out = open_log(c->path)) < 0) {
                r = ak_error_errno(err, -errno, "open %s", c->path);
                goto fail;
        }
        if ((r = -pthread_create(&c->thread, NULL, ring_main, c)) < 0) {
                ak_error_errno(err, r, "start the console reader for %s", c->path);
                close(c->out);
                goto fail;
        }
        *ret = c;
        return 0;
fail:
        close(c->in);
        free(c);
        return r;
}

void console_ring_free(struct console_ring *c)
{
        if (!c)
                return;
        atomic_store(&c->stop, true);
        pthread_join(c->thread, NULL);
        close(c->in);
        if (c->out >= 0)
                close(c->out);
        free(c);
}
