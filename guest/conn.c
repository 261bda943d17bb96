/* One host connection: reads frames, hands requests to dispatch, and owns a
 * bounded output queue that is written without blocking. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest/agent_impl.h"
#include "lib/guest/frame.h"

struct out_chunk {
        struct out_chunk *next;
        uint8_t *data;
        size_t len;
        size_t off;
};

struct conn {
        struct obj obj;
        struct agent *agent;
        struct watch w;
        struct frame_reader *reader;
        uint8_t *inbuf;
        size_t in_off;
        size_t in_len;
        struct out_chunk *out_head;
        struct out_chunk *out_tail;
        size_t out_bytes;
        bool read_eof;
        bool congested; /* above CONN_OUT_HIGH since the last drain */
        unsigned n_runs;
        struct run *runs;
        struct conn *prev;
        struct conn *next;
};

static void conn_update(struct conn *c);
static void conn_process_input(struct conn *c);

struct agent *conn_agent(const struct conn *c)
{
        return c->agent;
}

size_t conn_queued(const struct conn *c)
{
        return c->out_bytes;
}

bool conn_congested(const struct conn *c)
{
        return c->out_bytes >= CONN_OUT_HIGH;
}

static bool can_read(const struct conn *c)
{
        return !c->read_eof && !c->obj.dead && c->out_bytes < CONN_OUT_HIGH && c->n_runs < CONN_MAX_RUNS &&
               !c->agent->shutdown_requested;
}

static void conn_free(struct obj *o)
{
        struct conn *c = container_of(o, struct conn, obj);

        while (c->out_head) {
                struct out_chunk *ch = c->out_head;
                c->out_head = ch->next;
                free(ch->data);
                free(ch);
        }
        watch_close(c->agent, &c->w);
        frame_reader_free(c->reader);
        free(c->inbuf);
        free(c);
}

void conn_kill(struct conn *c)
{
        struct agent *a = c->agent;

        if (c->obj.dead)
                return;
        /* Dead first, so nothing below reads requests or queues answers;
         * the memory goes after this batch. */
        obj_kill(a, &c->obj);
        while (c->runs)
                run_abort(c->runs);
        shell_abort_conn(a, c);
        feed_forget_conn(a, c);
        if (c->prev)
                c->prev->next = c->next;
        else
                a->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        if (a->shutdown_conn == c)
                a->shutdown_conn = NULL;
        watch_set(a, &c->w, 0);
        agent_conn_closed(a);
}

/* Whether the host hung up (closed, or shut down both ways) rather than
 * only half-closed. Over vsock a peer's close arrives as SHUTDOWN(RCV|SEND)
 * and RST, which Linux reports to poll as EOF and RDHUP only (POLLHUP needs
 * our own shutdown too); a send then fails with EPIPE, or ENOTCONN once the
 * socket is reset. AF_UNIX fails it with EPIPE as well. An empty send
 * writes nothing, so asking costs the host nothing. */
static bool host_hung_up(const struct conn *c)
{
        if (send(c->w.fd, NULL, 0, MSG_NOSIGNAL | MSG_DONTWAIT) == 0)
                return false;
        return errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN;
}

static void maybe_finish(struct conn *c)
{
        /* After the host's EOF: close once every answer is out. */
        if (c->read_eof && !c->n_runs && !c->out_bytes)
                conn_kill(c);
}

static void flush(struct conn *c)
{
        while (c->out_head) {
                struct out_chunk *ch = c->out_head;
                ssize_t n = send(c->w.fd, ch->data + ch->off, ch->len - ch->off, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        conn_kill(c);
                        return;
                }
                ch->off += (size_t)n;
                c->out_bytes -= (size_t)n;
                if (ch->off < ch->len)
                        continue;
                c->out_head = ch->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                free(ch->data);
                free(ch);
        }
        if (c->congested && c->out_bytes < CONN_OUT_LOW) {
                c->congested = false;
                for (struct run *r = c->runs; r; r = run_next(r))
                        run_resume(r);
                shell_resume_conn(c->agent, c);
        }
}

void conn_send_frame(struct conn *c, uint8_t *buf, size_t len)
{
        if (c->obj.dead) {
                free(buf);
                return;
        }
        struct out_chunk *ch = calloc(1, sizeof(*ch));
        if (!ch) {
                free(buf);
                conn_kill(c);
                return;
        }
        ch->data = buf;
        ch->len = len;
        if (c->out_tail)
                c->out_tail->next = ch;
        else
                c->out_head = ch;
        c->out_tail = ch;
        c->out_bytes += len;
        if (c->out_bytes >= CONN_OUT_HIGH)
                c->congested = true;
        flush(c);
        if (!c->obj.dead)
                conn_update(c);
}

void conn_send_error(struct conn *c, const char *id, const char *msg)
{
        struct proto_response r = { .id = id, .error = msg };

        conn_send(c, &r);
}

void conn_send(struct conn *c, const struct proto_response *r)
{
        uint8_t *buf;
        size_t len;
        int e = proto_response_frame(r, &buf, &len);

        if (e == -EMSGSIZE && !r->error) {
                /* Callers size their payloads; this is the last safety net. */
                struct proto_response err = { .id = r->id, .error = "Response too large" };
                e = proto_response_frame(&err, &buf, &len);
        }
        if (e == -EMSGSIZE) {
                /* Even the id does not fit (a host sent a ~10 MiB id). */
                struct proto_response err = { .id = "", .error = "Response too large" };
                e = proto_response_frame(&err, &buf, &len);
        }
        if (e < 0) {
                conn_kill(c);
                return;
        }
        conn_send_frame(c, buf, len);
}

void conn_run_added(struct conn *c, struct run *r)
{
        (void)r;
        c->n_runs++;
}

void conn_run_done(struct conn *c, struct run *r)
{
        (void)r;
        c->n_runs--;
        if (c->obj.dead)
                return;
        conn_process_input(c);
        if (!c->obj.dead)
                conn_update(c);
        if (!c->obj.dead)
                maybe_finish(c);
}

struct run **conn_runs_head(struct conn *c)
{
        return &c->runs;
}

static void handle_frame(struct conn *c, uint8_t *body, size_t len)
{
        struct proto_request *req;
        struct proto_error err;
        int r = proto_request_parse(body, len, &req, &err);

        free(body);
        if (r < 0) {
                conn_send_error(c, err.id ? err.id : "", r == -ENOMEM ? "Out of memory" : err.message);
                proto_error_done(&err);
                return;
        }
        dispatch_request(c, req);
        proto_request_free(req);
}

static void conn_process_input(struct conn *c)
{
        while (c->in_off < c->in_len && can_read(c)) {
                size_t used;
                int r = frame_reader_feed(c->reader, c->inbuf + c->in_off, c->in_len - c->in_off, &used);
                c->in_off += used;
                if (r < 0) {
                        conn_kill(c);
                        return;
                }
                if (r == FRAME_READY) {
                        uint8_t *body;
                        size_t len;
                        frame_reader_take(c->reader, &body, &len);
                        handle_frame(c, body, len);
                } else if (r == FRAME_OVERSIZE) {
                        char msg[96];
                        snprintf(msg, sizeof(msg), "Request too large: %u bytes (limit %u)",
                                 frame_reader_oversize_len(c->reader), FRAME_MAX);
                        conn_send_error(c, "", msg);
                }
        }
        if (c->in_off == c->in_len)
                c->in_off = c->in_len = 0;
}

static void on_readable(struct conn *c)
{
        /* Bounded work per wakeup so one busy host cannot starve the rest. */
        for (int i = 0; i < 16 && can_read(c); i++) {
                if (c->in_off < c->in_len) {
                        conn_process_input(c);
                        continue;
                }
                ssize_t n = recv(c->w.fd, c->inbuf, CONN_INBUF_SIZE, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                conn_kill(c);
                        return;
                }
                if (n == 0) {
                        c->read_eof = true;
                        /* Hung up: nobody reads the answers, so the runs
                         * are killed (a cancelled Exec ends here). */
                        if (host_hung_up(c)) {
                                conn_kill(c);
                                return;
                        }
                        /* Half-closed: no more input, answers still go out;
                         * its shells end now. */
                        shell_abort_conn(c->agent, c);
                        maybe_finish(c);
                        return;
                }
                c->in_off = 0;
                c->in_len = (size_t)n;
                conn_process_input(c);
        }
}

static void on_event(struct watch *w, uint32_t events)
{
        struct conn *c = container_of(w, struct conn, w);

        if (events & EPOLLERR) {
                conn_kill(c);
                return;
        }
        if (events & EPOLLOUT) {
                flush(c);
                /* Requests left in the input buffer can go on once drained. */
                if (!c->obj.dead)
                        conn_process_input(c);
        }
        if (!c->obj.dead && (events & EPOLLIN))
                on_readable(c);
        if (!c->obj.dead && (events & EPOLLHUP) && (c->read_eof || !(events & EPOLLIN))) {
                /* Both directions are closed: nobody will read our answers. */
                conn_kill(c);
                return;
        }
        /* Not reading (after a half-close, or paused): a later close shows
         * only as RDHUP over vsock. */
        if (!c->obj.dead && (events & EPOLLRDHUP) && host_hung_up(c)) {
                conn_kill(c);
                return;
        }
        if (!c->obj.dead)
                conn_update(c);
        if (!c->obj.dead)
                maybe_finish(c);
}

static void conn_update(struct conn *c)
{
        uint32_t ev = 0;

        if (can_read(c))
                ev |= EPOLLIN;
        if (c->out_head)
                ev |= EPOLLOUT;
        /* EPOLLHUP/ERR are reported whatever the mask, but a vsock peer's
         * close is not a HUP (see host_hung_up): when not reading, wait
         * for RDHUP, edge-triggered (it stays set after a half-close), and
         * ask then. */
        if (!(ev & EPOLLIN))
                ev |= EPOLLRDHUP | EPOLLET;
        if (watch_set(c->agent, &c->w, ev) < 0)
                conn_kill(c);
}

int conn_new(struct agent *a, int fd)
{
        struct conn *c = calloc(1, sizeof(*c));
        int r;

        if (!c)
                return -ENOMEM;
        c->obj.free = conn_free;
        c->agent = a;
        watch_init(&c->w, -1, &c->obj, on_event);
        c->inbuf = malloc(CONN_INBUF_SIZE);
        r = frame_reader_new(FRAME_MAX, &c->reader);
        if (r < 0 || !c->inbuf) {
                frame_reader_free(c->reader);
                free(c->inbuf);
                free(c);
                return -ENOMEM;
        }
        c->w.fd = fd;
        r = watch_set(a, &c->w, EPOLLIN);
        if (r < 0) {
                c->w.fd = -1;
                conn_free(&c->obj);
                return r;
        }
        c->next = a->conns;
        if (a->conns)
                a->conns->prev = c;
        a->conns = c;
        return 0;
}
