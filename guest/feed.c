/* A `run`'s stdin fed by the host (extension "stdin": true on `run`): the
 * host sends `shell_input` frames whose session_id is the run's id, and one
 * with "eof": true to close the command's stdin.
 *
 * Flow control: a feed holds at most one input at a time, and answers it
 * only once every byte of it is in the pipe (or the command closed its
 * stdin, or exited). A host that waits for each answer before it sends the
 * next input therefore makes the agent hold at most one frame of input per
 * run, however much it sends in all. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "guest/agent_impl.h"

struct feed {
        struct watch w;       /* the pipe's write end; fd -1 once closed */
        struct agent *agent;
        char *id;             /* the run's id */
        uint8_t *buf;         /* the input being written */
        size_t len, off;
        bool eof;             /* close the pipe once buf is written */
        struct conn *ack_conn; /* who waits for the answer (NULL: nobody) */
        char *ack_id;
        struct feed *next;
};

/* Answers the waiting input: ok, or err. */
static void answer(struct feed *f, const char *err)
{
        if (f->ack_conn) {
                if (err) {
                        conn_send_error(f->ack_conn, f->ack_id, err);
                } else {
                        struct proto_response ok = { .id = f->ack_id, .has_exit_code = true, .exit_code = 0 };
                        conn_send(f->ack_conn, &ok);
                }
        }
        f->ack_conn = NULL;
        free(f->ack_id);
        f->ack_id = NULL;
        free(f->buf);
        f->buf = NULL;
        f->len = f->off = 0;
}

static void close_pipe(struct feed *f)
{
        if (f->w.fd >= 0)
                watch_close(f->agent, &f->w);
}

static void pump(struct feed *f)
{
        while (f->off < f->len) {
                ssize_t n = write(f->w.fd, f->buf + f->off, f->len - f->off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                watch_set(f->agent, &f->w, EPOLLOUT);
                                return;
                        }
                        /* EPIPE: the command closed its stdin; what it did
                         * not read is dropped. */
                        close_pipe(f);
                        answer(f, "Failed to write to session: the command closed its stdin");
                        return;
                }
                f->off += (size_t)n;
        }
        watch_set(f->agent, &f->w, 0);
        if (f->eof)
                close_pipe(f);
        answer(f, NULL);
}

static void on_writable(struct watch *w, uint32_t events)
{
        (void)events;
        pump(container_of(w, struct feed, w));
}

int feed_new(struct agent *a, struct obj *owner, const char *id, int fd, struct feed **ret)
{
        struct feed *f = calloc(1, sizeof(*f));
        if (!f || !(f->id = strdup(id))) {
                free(f);
                return -ENOMEM;
        }
        f->agent = a;
        watch_init(&f->w, fd, owner, on_writable);
        f->next = a->feeds;
        a->feeds = f;
        *ret = f;
        return 0;
}

void feed_free(struct feed *f)
{
        if (!f)
                return;
        struct agent *a = f->agent;
        for (struct feed **p = &a->feeds; *p; p = &(*p)->next)
                if (*p == f) {
                        *p = f->next;
                        break;
                }
        close_pipe(f);
        answer(f, "Failed to write to session: the command has exited");
        free(f->id);
        free(f);
}

struct feed *feed_find(struct agent *a, const char *id)
{
        for (struct feed *f = a->feeds; f; f = f->next)
                if (!f->w.owner->dead && strcmp(f->id, id) == 0)
                        return f;
        return NULL;
}

void feed_input(struct feed *f, struct conn *c, const char *req_id, uint8_t *data, size_t len, bool eof)
{
        if (f->ack_conn || f->len) {
                free(data);
                conn_send_error(c, req_id, "Failed to write to session: input pending (wait for its answer)");
                return;
        }
        if (f->w.fd < 0) {
                free(data);
                conn_send_error(c, req_id, f->eof ? "Failed to write to session: stdin already closed"
                                                  : "Failed to write to session: the command closed its stdin");
                return;
        }
        if (!(f->ack_id = strdup(req_id))) {
                free(data);
                conn_send_error(c, req_id, "Out of memory");
                return;
        }
        f->ack_conn = c;
        f->buf = data;
        f->len = data ? len : 0;
        f->off = 0;
        f->eof = eof;
        pump(f);
}

void feed_forget_conn(struct agent *a, struct conn *c)
{
        for (struct feed *f = a->feeds; f; f = f->next)
                if (f->ack_conn == c)
                        f->ack_conn = NULL;
}
