#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "vmm/virtio/vsock_dev_impl.h"
#include "vmm/virtio/vsock_pkt.h"

static unsigned hash_key(uint32_t local, uint32_t peer)
{
        uint32_t h = local * 0x9e3779b1u ^ peer * 0x85ebca6bu;
        return (h ^ h >> 16) % HASH_SIZE;
}

struct conn *vsock_conn_find(struct vsock_dev *d, uint32_t local, uint32_t peer)
{
        for (struct conn *c = d->hash[hash_key(local, peer)]; c; c = c->hnext)
                if (c->local_port == local && c->peer_port == peer)
                        return c;
        return NULL;
}

static bool local_port_used(struct vsock_dev *d, uint32_t local)
{
        for (unsigned i = 0; i < HASH_SIZE; i++)
                for (struct conn *c = d->hash[i]; c; c = c->hnext)
                        if (c->local_port == local)
                                return true;
        return false;
}

void vsock_pending_add(struct vsock_dev *d, struct conn *c)
{
        if (c->pending || c->dead)
                return;
        c->pending = true;
        c->pnext = NULL;
        c->pprev = d->ptail;
        if (d->ptail)
                d->ptail->pnext = c;
        else
                d->phead = c;
        d->ptail = c;
}

void vsock_pending_remove(struct vsock_dev *d, struct conn *c)
{
        if (!c->pending)
                return;
        if (c->pprev)
                c->pprev->pnext = c->pnext;
        else
                d->phead = c->pnext;
        if (c->pnext)
                c->pnext->pprev = c->pprev;
        else
                d->ptail = c->pprev;
        c->pending = false;
        c->pnext = c->pprev = NULL;
}

void vsock_conn_destroy(struct vsock_dev *d, struct conn *c)
{
        if (c->dead)
                return;
        struct conn **pp = &d->hash[hash_key(c->local_port, c->peer_port)];
        while (*pp && *pp != c)
                pp = &(*pp)->hnext;
        if (*pp)
                *pp = c->hnext;
        vsock_pending_remove(d, c);
        if (c->state == CONN_CONNECTING)
                d->n_connecting--;
        /* Closing the fd also takes it out of the epoll set. */
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        free(c->buf);
        c->buf = NULL;
        c->dead = true;
        c->dnext = d->dead;
        d->dead = c;
        d->n_conns--;
}

/* Conns are freed only between entry points: an epoll batch may still
 * name one that was destroyed while handling an earlier event. */
void vsock_reap_dead(struct vsock_dev *d)
{
        while (d->dead) {
                struct conn *c = d->dead;
                d->dead = c->dnext;
                free(c);
        }
}

void vsock_queue_rst(struct vsock_dev *d, uint32_t src_port, uint32_t dst_port)
{
        if (d->rst_len == d->rst_cap)
                return; /* the guest is not taking packets: its own timeout will do */
        d->rsts[(d->rst_head + d->rst_len) % d->rst_cap] = (struct rst_entry){ src_port, dst_port };
        d->rst_len++;
}

uint32_t vsock_conn_peer_free(const struct conn *c)
{
        uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;
        return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

bool vsock_conn_data_allowed(const struct conn *c)
{
        return c->state == CONN_ESTABLISHED && !c->aborting && !c->peer_shut_rcv && !c->host_eof &&
               vsock_conn_peer_free(c) > 0;
}

bool vsock_conn_has_work(const struct conn *c)
{
        return c->todo || (c->want_read && vsock_conn_data_allowed(c));
}

void vsock_conn_update_epoll(struct vsock_dev *d, struct conn *c)
{
        uint32_t ev = 0;

        if (c->dead || c->hup || c->fd < 0)
                return;
        if (c->state == CONN_ESTABLISHED && !c->aborting && !c->want_read && !c->host_eof && !c->peer_shut_rcv)
                ev |= EPOLLIN;
        if (c->buf_len)
                ev |= EPOLLOUT;
        if (c->in_epoll && ev == c->ep_events)
                return;
        struct epoll_event e = { .events = ev, .data.ptr = c };
        if (epoll_ctl(d->epfd, c->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &e) == 0) {
                c->in_epoll = true;
                c->ep_events = ev;
        }
}

/* Resets the connection: only a RST is sent (if the guest knows of it), the
 * host socket is closed now. */
void vsock_conn_abort(struct vsock_dev *d, struct conn *c)
{
        bool guest_knows = c->state == CONN_ESTABLISHED || c->request_sent;

        if (!guest_knows) {
                vsock_conn_destroy(d, c);
                return;
        }
        vsock_queue_rst(d, c->local_port, c->peer_port);
        vsock_conn_destroy(d, c);
}

/* After any change: finish the connection when both directions are done. */
void vsock_conn_check(struct vsock_dev *d, struct conn *c)
{
        if (c->dead)
                return;
        if (c->state == CONN_ESTABLISHED) {
                /* Guest to host finished: pass the EOF on. */
                if (c->peer_shut_send && !c->buf_len && !c->host_wr_shut && c->fd >= 0) {
                        shutdown(c->fd, SHUT_WR);
                        c->host_wr_shut = true;
                }
                /* Host to guest finished: say so once. A host that closed
                 * (rather than half-closed) reads no more either: the guest
                 * is told both, as a Linux peer's close() tells it, so that
                 * it can tell "no more input" from "nobody is listening"
                 * (the agent kills a cancelled command on the latter). */
                if (c->host_eof) {
                        uint32_t want = VSOCK_SHUTDOWN_SEND | (c->host_closed ? VSOCK_SHUTDOWN_RCV : 0);
                        if ((c->shutdown_sent & want) != want) {
                                c->todo |= TODO_SHUTDOWN;
                                c->shutdown_flags = want;
                        }
                }
                bool out_done = c->peer_shut_send && !c->buf_len;
                bool in_done = c->peer_shut_rcv || (c->host_eof && (c->shutdown_sent & VSOCK_SHUTDOWN_SEND));
                /* Closed by the host: nothing the guest sends can go
                 * anywhere, so the close completes at once (Linux would wait
                 * up to 8 s for the guest's RST). */
                bool closed = c->host_closed && c->shutdown_sent == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
                if (((out_done && in_done) || closed) && !(c->todo & TODO_RST))
                        c->todo |= TODO_RST; /* graceful: after everything else */
        }
        vsock_conn_update_epoll(d, c);
        if (vsock_conn_has_work(c))
                vsock_pending_add(d, c);
}

struct conn *vsock_conn_new(struct vsock_dev *d, int fd, uint32_t local, uint32_t peer)
{
        struct conn *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->fd = fd;
        c->local_port = local;
        c->peer_port = peer;
        unsigned h = hash_key(local, peer);
        c->hnext = d->hash[h];
        d->hash[h] = c;
        d->n_conns++;
        return c;
}

int vsock_dev_new(const struct vsock_dev_config *cfg, const struct vsock_dev_ops *ops, void *userdata,
                  struct vsock_dev **ret)
{
        if (cfg->guest_cid < 3 || cfg->guest_cid > UINT32_MAX - 1 || cfg->buf_alloc > (64u << 20) ||
            cfg->max_conns > VSOCK_DEV_MAX_CONNS)
                return -EINVAL;
        struct vsock_dev *d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->cfg = *cfg;
        if (!d->cfg.buf_alloc)
                d->cfg.buf_alloc = VSOCK_DEV_BUF_ALLOC;
        if (!d->cfg.max_conns)
                d->cfg.max_conns = VSOCK_DEV_MAX_CONNS;
        if (!d->cfg.connect_timeout_ms)
                d->cfg.connect_timeout_ms = VSOCK_DEV_CONNECT_TIMEOUT_MS;
        d->ops = ops;
        d->userdata = userdata;
        d->next_local_port = FIRST_LOCAL_PORT;
        d->rst_cap = d->cfg.max_conns + 64;
        d->rsts = calloc(d->rst_cap, sizeof(*d->rsts));
        d->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (!d->rsts || d->epfd < 0) {
                int r = d->epfd < 0 ? -errno : -ENOMEM;
                vsock_dev_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

static void drop_all(struct vsock_dev *d)
{
        for (unsigned i = 0; i < HASH_SIZE; i++)
                while (d->hash[i])
                        vsock_conn_destroy(d, d->hash[i]);
        d->rst_len = 0;
        vsock_reap_dead(d);
}

void vsock_dev_free(struct vsock_dev *d)
{
        if (!d)
                return;
        drop_all(d);
        if (d->epfd >= 0)
                close(d->epfd);
        free(d->rsts);
        free(d);
}

int vsock_dev_fd(const struct vsock_dev *d)
{
        return d->epfd;
}

void vsock_dev_set_queues(struct vsock_dev *d, struct vq *rx, struct vq *tx)
{
        bool running = rx && tx;

        if (d->running && !running)
                drop_all(d);
        d->rx = rx;
        d->tx = tx;
        d->running = running;
}

bool vsock_dev_running(const struct vsock_dev *d)
{
        return d->running;
}

int vsock_dev_host_connect(struct vsock_dev *d, int fd, uint32_t port)
{
        if (!d->running)
                return -ENOTCONN;
        if (d->n_conns >= d->cfg.max_conns)
                return -EMFILE;
        uint32_t local;
        do {
                local = d->next_local_port++;
                if (d->next_local_port == 0)
                        d->next_local_port = FIRST_LOCAL_PORT;
        } while (local_port_used(d, local));
        struct conn *c = vsock_conn_new(d, fd, local, port);
        if (!c)
                return -ENOMEM;
        c->state = CONN_CONNECTING;
        d->n_connecting++;
        c->deadline_ms = ak_mono_ms() + d->cfg.connect_timeout_ms;
        c->todo = TODO_REQUEST;
        vsock_conn_update_epoll(d, c); /* hang-ups only, until the guest answers */
        vsock_pending_add(d, c);
        vsock_dev_process_rx(d);
        return 0;
}
