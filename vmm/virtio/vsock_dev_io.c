/* Packets between the guest and host sockets: filling rx buffers (device to
 * guest), taking tx packets (guest to device), and host socket readiness. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "vmm/virtio/vsock_dev_impl.h"
#include "vmm/virtio/vsock_pkt.h"

static void fill_hdr(struct vsock_dev *d, struct conn *c, struct vsock_hdr *h, uint16_t op)
{
        memset(h, 0, sizeof(*h));
        h->src_cid = VSOCK_HOST_CID;
        h->dst_cid = d->cfg.guest_cid;
        h->type = VSOCK_TYPE_STREAM;
        h->op = op;
        if (c) {
                h->src_port = c->local_port;
                h->dst_port = c->peer_port;
                h->buf_alloc = d->cfg.buf_alloc;
                h->fwd_cnt = c->fwd_cnt;
                c->last_fwd_sent = c->fwd_cnt;
        }
}

static size_t put_hdr(const struct vq_chain *ch, const struct vsock_hdr *h)
{
        uint8_t b[VSOCK_HDR_SIZE];

        vsock_hdr_encode(h, b);
        vq_chain_write(ch, 0, b, sizeof(b));
        return VSOCK_HDR_SIZE;
}

/* Whether the host end of fd is gone for both directions (close() or
 * shutdown(SHUT_RDWR) there; AF_UNIX then reports POLLHUP). */
static bool host_hung_up(int fd)
{
        struct pollfd p = { .fd = fd, .events = 0 };

        return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* Reads host bytes straight into the guest's buffer. Returns the packet
 * length, 0 when there was nothing to read (the socket is re-armed). */
static size_t fill_data(struct vsock_dev *d, struct conn *c, const struct vq_chain *ch)
{
        struct iovec iov[VQ_MAX_IOV];
        size_t max = ch->in_len - VSOCK_HDR_SIZE;
        uint32_t credit = vsock_conn_peer_free(c);

        if (max > VSOCK_MAX_PKT_PAYLOAD)
                max = VSOCK_MAX_PKT_PAYLOAD;
        if (max > credit)
                max = credit;
        if (max == 0)
                return 0;
        unsigned n = vq_chain_in_iov(ch, VSOCK_HDR_SIZE, max, iov, VQ_MAX_IOV);
        ssize_t got;
        do
                got = readv(c->fd, iov, (int)n);
        while (got < 0 && errno == EINTR);
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                c->want_read = false;
                vsock_conn_update_epoll(d, c);
                return 0;
        }
        if (got < 0) {
                c->aborting = true;
                c->todo = TODO_RST;
                return 0;
        }
        if (got == 0) {
                c->want_read = false;
                c->host_eof = true;
                /* The peer's close and its shutdown(SHUT_WR) both read as
                 * EOF; only the close also hangs the socket up. */
                if (!c->host_wr_shut && host_hung_up(c->fd))
                        c->host_closed = true;
                vsock_conn_check(d, c);
                return 0;
        }
        struct vsock_hdr h;
        fill_hdr(d, c, &h, VSOCK_OP_RW);
        h.len = (uint32_t)got;
        c->rx_cnt += (uint32_t)got;
        put_hdr(ch, &h);
        return VSOCK_HDR_SIZE + (size_t)got;
}

/* One packet the connection owes the guest into ch. Returns its length, or
 * 0 when the connection has nothing (more) to send now. */
static size_t conn_fill(struct vsock_dev *d, struct conn *c, const struct vq_chain *ch)
{
        struct vsock_hdr h;

        if (c->aborting)
                c->todo &= TODO_RST;
        if (c->todo & TODO_REQUEST) {
                c->todo &= ~TODO_REQUEST;
                c->request_sent = true;
                fill_hdr(d, c, &h, VSOCK_OP_REQUEST);
                return put_hdr(ch, &h);
        }
        if (c->todo & TODO_RESPONSE) {
                c->todo &= ~TODO_RESPONSE;
                fill_hdr(d, c, &h, VSOCK_OP_RESPONSE);
                return put_hdr(ch, &h);
        }
        if (c->todo & TODO_CREDIT) {
                c->todo &= ~TODO_CREDIT;
                fill_hdr(d, c, &h, VSOCK_OP_CREDIT_UPDATE);
                return put_hdr(ch, &h);
        }
        if (c->want_read && vsock_conn_data_allowed(c)) {
                size_t n = fill_data(d, c, ch);
                if (n)
                        return n;
        }
        if (c->todo & TODO_SHUTDOWN) {
                c->todo &= ~TODO_SHUTDOWN;
                c->shutdown_sent |= c->shutdown_flags;
                fill_hdr(d, c, &h, VSOCK_OP_SHUTDOWN);
                h.flags = c->shutdown_flags;
                put_hdr(ch, &h);
                vsock_conn_check(d, c);
                return VSOCK_HDR_SIZE;
        }
        if (c->todo & TODO_RST) {
                fill_hdr(d, c, &h, VSOCK_OP_RST);
                put_hdr(ch, &h);
                vsock_conn_destroy(d, c);
                return VSOCK_HDR_SIZE;
        }
        return 0;
}

void vsock_dev_process_rx(struct vsock_dev *d)
{
        struct vq_chain ch;
        unsigned pushed = 0;

        while (d->running && (d->rst_len || d->phead)) {
                int r = vq_pop(d->rx, &ch);
                if (r == 0 || r == -EPIPE)
                        break;
                if (r < 0 || ch.n_out || ch.in_len < VSOCK_HDR_SIZE) {
                        d->stats.bad_chains++;
                        vq_push(d->rx, ch.head, 0);
                        pushed++;
                        continue;
                }
                size_t len = 0;
                if (d->rst_len) {
                        struct rst_entry *e = &d->rsts[d->rst_head];
                        struct vsock_hdr h;
                        fill_hdr(d, NULL, &h, VSOCK_OP_RST);
                        h.src_port = e->src_port;
                        h.dst_port = e->dst_port;
                        len = put_hdr(&ch, &h);
                        d->rst_head = (d->rst_head + 1) % d->rst_cap;
                        d->rst_len--;
                } else {
                        struct conn *c = d->phead;
                        len = conn_fill(d, c, &ch);
                        /* Round robin: whoever still has work goes to the back.
                         * One that could send nothing waits for its next event. */
                        if (!c->dead) {
                                vsock_pending_remove(d, c);
                                if (len && vsock_conn_has_work(c))
                                        vsock_pending_add(d, c);
                        }
                }
                if (!len) {
                        vq_unpop(d->rx);
                        continue;
                }
                vq_push(d->rx, ch.head, (uint32_t)len);
                d->stats.rx_packets++;
                pushed++;
        }
        if (pushed)
                d->ops->notify(d->userdata, VSOCK_QUEUE_RX);
        vsock_reap_dead(d);
}

/* The guest's view of our free buffer is low: tell it what we forwarded. */
static void maybe_credit(struct vsock_dev *d, struct conn *c)
{
        uint32_t unacked = c->guest_tx_cnt - c->last_fwd_sent;
        uint32_t view = unacked >= d->cfg.buf_alloc ? 0 : d->cfg.buf_alloc - unacked;
        uint32_t low = d->cfg.buf_alloc / 2 < VSOCK_MAX_PKT_PAYLOAD ? d->cfg.buf_alloc / 2 : VSOCK_MAX_PKT_PAYLOAD;

        if (c->fwd_cnt != c->last_fwd_sent && view < low)
                c->todo |= TODO_CREDIT;
}

/* Writes buffered guest bytes to the host socket. -errno on a dead socket. */
static int flush_buf(struct vsock_dev *d, struct conn *c)
{
        uint32_t cap = d->cfg.buf_alloc;

        while (c->buf_len) {
                struct iovec iov[2];
                int n = 0;
                uint32_t first = cap - c->buf_head < c->buf_len ? cap - c->buf_head : c->buf_len;
                iov[n++] = (struct iovec){ c->buf + c->buf_head, first };
                if (first < c->buf_len)
                        iov[n++] = (struct iovec){ c->buf, c->buf_len - first };
                struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
                ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        break;
                if (w < 0)
                        return -errno;
                c->buf_head = (uint32_t)((c->buf_head + (uint32_t)w) % cap);
                c->buf_len -= (uint32_t)w;
                c->fwd_cnt += (uint32_t)w;
        }
        if (!c->buf_len)
                c->buf_head = 0;
        maybe_credit(d, c);
        return 0;
}

/* RW from the guest: straight to the host socket, the rest buffered. */
static void rx_payload(struct vsock_dev *d, struct conn *c, const struct vq_chain *ch, uint32_t len)
{
        /* The guest may not exceed the credit we gave it. */
        if (c->peer_shut_send || (uint64_t)(c->guest_tx_cnt - c->last_fwd_sent) + len > d->cfg.buf_alloc) {
                d->stats.bad_packets++;
                vsock_conn_abort(d, c);
                return;
        }
        c->guest_tx_cnt += len;
        size_t done = 0;
        if (!c->buf_len) {
                struct iovec iov[VQ_MAX_IOV];
                unsigned n = vq_chain_out_iov(ch, VSOCK_HDR_SIZE, len, iov, VQ_MAX_IOV);
                struct msghdr mh = { .msg_iov = iov, .msg_iovlen = n };
                ssize_t w;
                do
                        w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                while (w < 0 && errno == EINTR);
                if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                        vsock_conn_abort(d, c);
                        return;
                }
                if (w > 0) {
                        done = (size_t)w;
                        c->fwd_cnt += (uint32_t)w;
                }
        }
        if (done < len) {
                uint32_t cap = d->cfg.buf_alloc;
                if (!c->buf && !(c->buf = malloc(cap))) {
                        vsock_conn_abort(d, c);
                        return;
                }
                size_t left = len - done;
                while (left) {
                        uint32_t tail = (c->buf_head + c->buf_len) % cap;
                        size_t room = c->buf_len == cap ? 0 : tail >= c->buf_head ? cap - tail : c->buf_head - tail;
                        if (!room) { /* cannot happen within credit; be safe */
                                vsock_conn_abort(d, c);
                                return;
                        }
                        if (room > left)
                                room = left;
                        vq_chain_read(ch, VSOCK_HDR_SIZE + done, c->buf + tail, room);
                        c->buf_len += (uint32_t)room;
                        done += room;
                        left -= room;
                }
                vsock_conn_update_epoll(d, c);
        }
        maybe_credit(d, c);
        vsock_conn_check(d, c);
}

/* A packet for a connection: credit info first (every packet carries it). */
static void conn_packet(struct vsock_dev *d, struct conn *c, const struct vsock_hdr *h, const struct vq_chain *ch)
{
        c->peer_buf_alloc = h->buf_alloc;
        c->peer_fwd_cnt = h->fwd_cnt;

        switch (h->op) {
        case VSOCK_OP_RESPONSE:
                if (c->state != CONN_CONNECTING || !c->request_sent) {
                        d->stats.bad_packets++;
                        vsock_conn_abort(d, c);
                        return;
                }
                c->state = CONN_ESTABLISHED;
                d->n_connecting--;
                char line[32];
                int n = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
                /* A fresh socket's send buffer takes a short line whole. */
                if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
                        vsock_conn_abort(d, c);
                        return;
                }
                break;
        case VSOCK_OP_RW:
                if (c->state != CONN_ESTABLISHED) {
                        d->stats.bad_packets++;
                        vsock_conn_abort(d, c);
                        return;
                }
                if (h->len)
                        rx_payload(d, c, ch, h->len);
                return;
        case VSOCK_OP_CREDIT_UPDATE:
                break;
        case VSOCK_OP_CREDIT_REQUEST:
                if (c->state == CONN_ESTABLISHED)
                        c->todo |= TODO_CREDIT;
                break;
        case VSOCK_OP_SHUTDOWN:
                if (c->state != CONN_ESTABLISHED || (h->flags & ~(VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))) {
                        d->stats.bad_packets++;
                        vsock_conn_abort(d, c);
                        return;
                }
                if (h->flags & VSOCK_SHUTDOWN_RCV)
                        c->peer_shut_rcv = true;
                if (h->flags & VSOCK_SHUTDOWN_SEND)
                        c->peer_shut_send = true;
                break;
        case VSOCK_OP_RST:
                vsock_conn_destroy(d, c);
                return;
        default: /* REQUEST on a live connection, INVALID, unknown */
                d->stats.bad_packets++;
                vsock_conn_abort(d, c);
                return;
        }
        vsock_conn_check(d, c);
}

/* A REQUEST from the guest to a host port. */
static void guest_connect(struct vsock_dev *d, const struct vsock_hdr *h)
{
        int fd = -1;

        if (d->n_conns >= d->cfg.max_conns || d->ops->connect(d->userdata, h->dst_port, &fd) < 0) {
                vsock_queue_rst(d, h->dst_port, h->src_port);
                return;
        }
        struct conn *c = vsock_conn_new(d, fd, h->dst_port, h->src_port);
        if (!c) {
                close(fd);
                vsock_queue_rst(d, h->dst_port, h->src_port);
                return;
        }
        c->state = CONN_ESTABLISHED;
        c->peer_buf_alloc = h->buf_alloc;
        c->peer_fwd_cnt = h->fwd_cnt;
        c->todo = TODO_RESPONSE;
        vsock_conn_check(d, c);
}

static void tx_packet(struct vsock_dev *d, const struct vq_chain *ch)
{
        uint8_t b[VSOCK_HDR_SIZE];
        struct vsock_hdr h;

        if (vq_chain_read(ch, 0, b, sizeof(b)) != sizeof(b)) {
                d->stats.bad_chains++;
                return;
        }
        vsock_hdr_decode(b, &h);
        d->stats.tx_packets++;
        /* Packets that are not from this guest to the host are dropped: we
         * cannot answer for another address. */
        if (h.src_cid != d->cfg.guest_cid || h.dst_cid != VSOCK_HOST_CID) {
                d->stats.bad_packets++;
                return;
        }
        struct conn *c = vsock_conn_find(d, h.dst_port, h.src_port);
        bool bad = h.type != VSOCK_TYPE_STREAM || h.op < VSOCK_OP_REQUEST || h.op > VSOCK_OP_CREDIT_REQUEST ||
                   h.len > VSOCK_MAX_PKT_PAYLOAD ||
                   h.len > ch->out_len - VSOCK_HDR_SIZE || (h.op != VSOCK_OP_RW && h.len);
        if (bad) {
                d->stats.bad_packets++;
                if (c)
                        vsock_conn_abort(d, c);
                else if (h.op != VSOCK_OP_RST)
                        vsock_queue_rst(d, h.dst_port, h.src_port);
                return;
        }
        if (c) {
                conn_packet(d, c, &h, ch);
                return;
        }
        if (h.op == VSOCK_OP_REQUEST) {
                guest_connect(d, &h);
                return;
        }
        /* Anything else on an unknown connection is answered with RST (as
         * Linux does), except a RST. */
        if (h.op != VSOCK_OP_RST)
                vsock_queue_rst(d, h.dst_port, h.src_port);
}

void vsock_dev_process_tx(struct vsock_dev *d)
{
        struct vq_chain ch;
        unsigned pushed = 0;

        d->tx_more = false;
        while (d->running) {
                if (pushed == TX_BATCH) {
                        d->tx_more = true;
                        break;
                }
                int r = vq_pop(d->tx, &ch);
                if (r == 0 || r == -EPIPE)
                        break;
                if (r < 0 || ch.out_len < VSOCK_HDR_SIZE)
                        d->stats.bad_chains++;
                else
                        tx_packet(d, &ch);
                vq_push(d->tx, ch.head, 0);
                pushed++;
        }
        if (pushed)
                d->ops->notify(d->userdata, VSOCK_QUEUE_TX);
        vsock_dev_process_rx(d);
}

static void host_event(struct vsock_dev *d, struct conn *c, uint32_t ev)
{
        if (ev & EPOLLERR) {
                vsock_conn_abort(d, c);
                return;
        }
        if (ev & EPOLLHUP) {
                /* Both directions are shut: level-triggered HUP cannot be
                 * masked, so leave epoll and finish by reading what is left. */
                if (c->in_epoll)
                        epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
                c->in_epoll = false;
                c->hup = true;
                /* Not by our own SHUT_WR: the host closed (or shut down both
                 * ways, as a cancelled executor call does). */
                if (!c->host_wr_shut)
                        c->host_closed = true;
                if (c->state == CONN_CONNECTING) {
                        vsock_conn_abort(d, c);
                        return;
                }
                c->want_read = !c->host_eof;
        }
        if ((ev & EPOLLOUT) || (c->hup && c->buf_len)) {
                if (flush_buf(d, c) < 0) {
                        vsock_conn_abort(d, c);
                        return;
                }
        }
        if (ev & EPOLLIN)
                c->want_read = true;
        vsock_conn_check(d, c);
}

void vsock_dev_host_events(struct vsock_dev *d)
{
        struct epoll_event evs[64];

        int n = epoll_wait(d->epfd, evs, 64, 0);
        for (int i = 0; i < n; i++) {
                struct conn *c = evs[i].data.ptr;
                if (!c->dead)
                        host_event(d, c, evs[i].events);
        }
        vsock_dev_process_rx(d);
}

int vsock_dev_timeout_ms(const struct vsock_dev *d)
{
        if (d->tx_more)
                return 0;
        if (!d->n_connecting)
                return -1;
        uint64_t now = ak_mono_ms(), next = UINT64_MAX;
        for (unsigned i = 0; i < HASH_SIZE; i++)
                for (struct conn *c = d->hash[i]; c; c = c->hnext)
                        if (c->state == CONN_CONNECTING && c->deadline_ms < next)
                                next = c->deadline_ms;
        if (next <= now)
                return 0;
        return next - now > 60000 ? 60000 : (int)(next - now);
}

void vsock_dev_tick(struct vsock_dev *d)
{
        if (d->tx_more)
                vsock_dev_process_tx(d);
        if (d->n_connecting) {
                uint64_t now = ak_mono_ms();
                for (unsigned i = 0; i < HASH_SIZE; i++) {
                        struct conn *c = d->hash[i];
                        while (c) {
                                struct conn *next = c->hnext;
                                if (c->state == CONN_CONNECTING && c->deadline_ms <= now)
                                        vsock_conn_abort(d, c);
                                c = next;
                        }
                }
        }
        vsock_dev_process_rx(d);
}

void vsock_dev_get_config(const struct vsock_dev *d, uint8_t buf[VSOCK_DEV_CONFIG_SIZE])
{
        for (int i = 0; i < 8; i++)
                buf[i] = (uint8_t)(d->cfg.guest_cid >> (8 * i));
}

void vsock_dev_get_stats(const struct vsock_dev *d, struct vsock_dev_stats *ret)
{
        *ret = d->stats;
        ret->conns = d->n_conns;
}
