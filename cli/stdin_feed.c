/* The -i feeder: poll our stdin and a wake-up pipe; send what is there (up
 * to a chunk: what arrives at once goes in one call, so typing is not held
 * back) with WriteStdin, waiting for each answer; send eof at our EOF. A
 * FAILED_PRECONDITION answer means the command closed its stdin or exited:
 * we stop quietly, as a pipe's writer does. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/stdin_feed.h"
#include "protos/ak/v1/scheduler.pb-c.h"

struct stdin_feed {
        struct rpc_channel *ch;
        struct rpc_call_options opts;
        int fd;
        int wake[2];
        const char *verb;
        char sandbox[128];
        char stream_id[80];
        uint8_t *buf;
        pthread_t th;
        char held[AK_ERROR_MAX]; /* an UNAVAILABLE answer, said at stop if it matters */
};

/* Waits for fd to be readable; false when woken to stop. */
static bool wait_readable(struct stdin_feed *f, int timeout_ms)
{
        struct pollfd p[2] = { { .fd = f->fd, .events = POLLIN }, { .fd = f->wake[0], .events = POLLIN } };
        for (;;) {
                int n = poll(p, 2, timeout_ms);
                if (n < 0 && errno == EINTR)
                        continue;
                return n > 0 && !(p[1].revents & POLLIN) && p[0].revents;
        }
}

/* Reads what is there now into buf (at least one read, which may block
 * until data or stop). Returns the bytes read, 0 at EOF, -1 to stop. */
static ssize_t fill(struct stdin_feed *f, bool *eof)
{
        size_t len = 0;
        int wait_ms = -1;
        while (len < STDIN_FEED_CHUNK) {
                if (!wait_readable(f, wait_ms))
                        break;
                ssize_t n = read(f->fd, f->buf + len, STDIN_FEED_CHUNK - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        break;
                if (n <= 0) {
                        if (n < 0)
                                fprintf(stderr, "ak %s: reading stdin: %s (closing the command's stdin)\n", f->verb,
                                        strerror(errno));
                        *eof = true;
                        break;
                }
                len += (size_t)n;
                wait_ms = 0; /* only what is already there joins this call */
        }
        if (!len && !*eof)
                return -1;
        return (ssize_t)len;
}

static void *feed_main(void *arg)
{
        struct stdin_feed *f = arg;
        bool eof = false;
        while (!eof) {
                ssize_t n = fill(f, &eof);
                if (n < 0)
                        break;
                Ak__V1__WriteStdinRequest req = AK__V1__WRITE_STDIN_REQUEST__INIT;
                req.sandbox = f->sandbox;
                req.stream_id = f->stream_id;
                req.data = (ProtobufCBinaryData){ (size_t)n, f->buf };
                req.eof = eof;
                ProtobufCMessage *resp = NULL;
                struct ak_error err = { 0 };
                int r = rpc_unary(f->ch, &ak__v1__scheduler__descriptor, "WriteStdin", &req.base, &f->opts, &resp,
                                  &err);
                if (r == RPC_OK) {
                        protobuf_c_message_free_unpacked(resp, NULL);
                        continue;
                }
                /* A one-shot run's sandbox goes once the command is done: a
                 * call in flight then finds no guest. Whether that matters
                 * is known at stop. */
                if (r == RPC_UNAVAILABLE)
                        snprintf(f->held, sizeof(f->held), "%s", err.msg);
                else if (r != RPC_FAILED_PRECONDITION && r != RPC_NOT_FOUND)
                        fprintf(stderr, "ak %s: sending stdin: %s (the rest of stdin is not sent)\n", f->verb,
                                err.msg);
                break;
        }
        return NULL;
}

int stdin_feed_start(struct rpc_channel *ch, const struct rpc_call_options *opts, int fd, const char *verb,
                     const char *sandbox, const char *stream_id, struct stdin_feed **ret)
{
        if (strlen(sandbox) >= sizeof(((struct stdin_feed *)0)->sandbox) ||
            strlen(stream_id) >= sizeof(((struct stdin_feed *)0)->stream_id))
                return -ENAMETOOLONG;
        struct stdin_feed *f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->ch = ch;
        f->opts = *opts;
        f->opts.timeout_ms = 0; /* a command may take its time to read */
        f->fd = fd;
        f->verb = verb;
        snprintf(f->sandbox, sizeof(f->sandbox), "%s", sandbox);
        snprintf(f->stream_id, sizeof(f->stream_id), "%s", stream_id);
        int r = 0;
        if (!(f->buf = malloc(STDIN_FEED_CHUNK)))
                r = -ENOMEM;
        else if (pipe2(f->wake, O_CLOEXEC) < 0)
                r = -errno;
        else if ((r = -pthread_create(&f->th, NULL, feed_main, f)) < 0) {
                close(f->wake[0]);
                close(f->wake[1]);
        }
        if (r < 0) {
                free(f->buf);
                free(f);
                return r;
        }
        *ret = f;
        return 0;
}

void stdin_feed_stop(struct stdin_feed *f, bool command_done)
{
        if (!f)
                return;
        (void)!write(f->wake[1], "x", 1);
        pthread_join(f->th, NULL);
        if (f->held[0] && !command_done)
                fprintf(stderr, "ak %s: sending stdin: %s (the rest of stdin is not sent)\n", f->verb, f->held);
        close(f->wake[0]);
        close(f->wake[1]);
        free(f->buf);
        free(f);
}
