/* See proxy.h. A connection moves PEEK (reading the first bytes into c2s)
 * -> CONNECTING (upstream connect in flight) -> RELAY (both ways), or is
 * closed. Deadlines (the first bytes', the connect's, idleness) are checked
 * by one periodic timerfd per proxy that scans its connections, instead of
 * a timerfd per connection (a third fd each).
 *
 * Teardown: handlers hold p->lock while they run and return at once once
 * p->closing is set, so proxy_free sets it, then removes every registration
 * (netloop_del waits out a running handler) without holding the lock, and
 * frees what is left with no handler able to touch it. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/netfilter_ipv4.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lib/base/time.h"
#include "vmm/net/inject.h"
#include "vmm/net/proxy.h"

#define PEEK_MAX (SNIFF_HELLO_MAX + 4096) /* the first bytes: a hello in fragments has record headers */
#define C2S_CAP 32768                     /* >= PEEK_MAX; 64 KiB each measured no faster under load */
#define S2C_CAP 32768
#define ACCEPT_BURST 64
#define PUMP_ROUNDS 8

_Static_assert(C2S_CAP >= PEEK_MAX, "the first bytes fit the client's buffer");

enum conn_state { PEEK, CONNECTING, RELAY };

struct buf {
        size_t off, len, cap;
        uint8_t *data;
};

/* What an observer is told about a connection (proxy_flow). */
struct flow {
        bool decided;                     /* the policy was asked (or it was malformed) */
        const char *refused;              /* the rule, when refused */
        enum sniff_proto proto;
        char name[SNIFF_NAME_MAX];        /* "": none */
        char dst_text[INET6_ADDRSTRLEN];
        uint16_t dst_port;
        char method[INJECT_METHOD_MAX + 1];
        char path[INJECT_PATH_MAX + 1];
        uint8_t answer[12];               /* the server's first bytes: its status line */
        size_t answer_len;
        uint64_t t0_ns, to_server, to_guest;
};

_Static_assert(PROXY_PATH_MAX == INJECT_PATH_MAX, "one path limit");

struct conn {
        struct proxy *p;
        struct conn *prev, *next;
        int cfd, ufd;
        enum conn_state state;
        uint64_t deadline_ns;
        struct flow flow;
        struct buf c2s, s2c;
        bool c_eof, u_eof;   /* read side saw EOF */
        bool c_shut, u_shut; /* we shut that side's write */
        uint32_t c_ev, u_ev; /* registered events */
        uint8_t mem[C2S_CAP + S2C_CAP];
};

struct proxy {
        struct proxy_config cfg;
        int lfd, tfd;
        uint16_t port;
        pthread_mutex_t lock;
        bool closing;
        unsigned n_conns;
        struct conn *conns;
};

/* Takes c off the list and frees it; its fds are the caller's business. */
static void conn_forget(struct conn *c)
{
        struct proxy *p = c->p;
        if (c->prev)
                c->prev->next = c->next;
        else
                p->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        p->n_conns--;
        free(c);
}

/* Tells the observer about c as it ends (not at teardown). */
static void conn_observe(struct conn *c)
{
        struct proxy *p = c->p;
        const struct flow *f = &c->flow;
        if (!p->cfg.observe || !f->decided || p->closing)
                return;
        struct proxy_flow out = {
                .proto = f->proto,
                .name = f->name[0] ? f->name : NULL,
                .dst_text = f->dst_text,
                .dst_port = f->dst_port,
                .method = f->method,
                .path = f->proto == SNIFF_HTTP && f->path[0] ? f->path : NULL,
                .status = f->proto == SNIFF_HTTP ? inject_answer_status(f->answer, f->answer_len) : 0,
                .to_server = f->to_server,
                .to_guest = f->to_guest,
                .duration_ms = (ak_mono_ns() - f->t0_ns) / 1000000,
                .refused = f->refused,
        };
        p->cfg.observe(p->cfg.observe_ctx, &out);
}

static void conn_close(struct conn *c)
{
        struct proxy *p = c->p;
        conn_observe(c);
        netloop_del(p->cfg.loop, c->cfd);
        close(c->cfd);
        if (c->ufd >= 0) {
                netloop_del(p->cfg.loop, c->ufd);
                close(c->ufd);
        }
        conn_forget(c);
}

/* Closes with a reset, as a refused connect looks to the guest. */
static void conn_reset(struct conn *c)
{
        struct linger l = { .l_onoff = 1, .l_linger = 0 };
        (void)setsockopt(c->cfd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        conn_close(c);
}

/* Epoll reports HUP/ERR whatever the events; level-triggered, a socket
 * with nothing to wait for would report its HUP in a loop, so "nothing" is
 * registered edge-triggered. */
static void set_events(struct proxy *p, int fd, uint32_t *cur, uint32_t want)
{
        if (!want)
                want = EPOLLET;
        if (*cur != want && netloop_mod(p->cfg.loop, fd, want) == 0)
                *cur = want;
}

static void conn_event(void *ctx, int fd, uint32_t events);

/* ---- refusing ---- */

static void refuse(struct conn *c, const struct proxy_request *req, const char *rule)
{
        char msg[SNIFF_NAME_MAX + PROXY_RULE_MAX + 256];
        int n = 0;
        if (req->proto == SNIFF_HTTP) {
                char body[SNIFF_NAME_MAX + PROXY_RULE_MAX + 96];
                int bn = snprintf(body, sizeof(body), "ak: this sandbox's egress policy does not allow %s (rule %s)\n",
                                  req->name ? req->name : "a request without a Host", rule);
                n = snprintf(msg, sizeof(msg),
                             "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                             "Connection: close\r\n\r\n%s",
                             bn, body);
        } else if (req->proto == SNIFF_TLS) {
                static const uint8_t alert[] = { 21, 3, 3, 0, 2, 2, 49 }; /* fatal access_denied */
                memcpy(msg, alert, sizeof(alert));
                n = sizeof(alert);
        }
        if (n > 0 && (size_t)n < sizeof(msg))
                (void)send(c->cfd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (c->p->cfg.reporter) {
                struct net_event ev = {
                        .kind = req->proto == SNIFF_TLS    ? NET_EVENT_TLS_SNI
                                : req->proto == SNIFF_HTTP ? NET_EVENT_HTTP_HOST
                                                           : NET_EVENT_CONNECT,
                        .protocol = IPPROTO_TCP,
                        .dst_port = req->dst_port,
                };
                snprintf(ev.dst, sizeof(ev.dst), "%s", req->dst_text);
                snprintf(ev.name, sizeof(ev.name), "%s", req->name ? req->name : "");
                snprintf(ev.rule, sizeof(ev.rule), "%s", rule);
                net_report(c->p->cfg.reporter, &ev);
        }
        c->flow.refused = rule; /* the caller's, alive until conn_close returns */
        shutdown(c->cfd, SHUT_WR);
        conn_close(c);
}

/* ---- connecting ---- */

static int upstream_socket(struct proxy *p)
{
        int fd = p->cfg.netns_fd >= 0 ? netns_socket(p->cfg.netns_fd, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)
                                      : socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return fd < 0 && p->cfg.netns_fd >= 0 ? fd : -errno;
        uint32_t mark = PROXY_MARK;
        if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0) {
                int r = -errno;
                close(fd);
                return r; /* without the mark the redirect would loop back here */
        }
        return fd;
}

static void conn_connect(struct conn *c, const struct proxy_request *req)
{
        struct proxy *p = c->p;
        int fd = upstream_socket(p);
        if (fd < 0) {
                conn_reset(c);
                return;
        }
        c->ufd = fd;
        if (connect(fd, (const struct sockaddr *)&req->dst, sizeof(struct sockaddr_in)) < 0 &&
            errno != EINPROGRESS) {
                conn_reset(c); /* no route, ...; a SYN the namespace's rules drop is
                                * EINPROGRESS and never completes: the deadline */
                return;
        }
        if (netloop_add(p->cfg.loop, fd, EPOLLOUT, conn_event, c) < 0) {
                conn_reset(c);
                return;
        }
}

/* ---- relaying ---- */

/* Where a side's relayed bytes are counted, and (for the server's side)
 * its first bytes kept. */
struct tally {
        uint64_t *sent;
        uint8_t *first;   /* NULL: none kept */
        size_t *first_len, first_max;
};

/* One read and one write; *moved counts the bytes (and an EOF as one). */
static int pump_step(int from, int to, struct buf *b, bool *eof, size_t *moved, const struct tally *t)
{
        if (!*eof && b->off + b->len < b->cap) {
                uint8_t *at = b->data + b->off + b->len;
                ssize_t n = read(from, at, b->cap - b->off - b->len);
                if (n > 0 && t->first && *t->first_len < t->first_max) {
                        size_t k = t->first_max - *t->first_len < (size_t)n ? t->first_max - *t->first_len : (size_t)n;
                        memcpy(t->first + *t->first_len, at, k);
                        *t->first_len += k;
                }
                if (n > 0)
                        b->len += (size_t)n, *moved += (size_t)n;
                else if (n == 0)
                        *eof = true, *moved += 1;
                else if (errno != EAGAIN && errno != EINTR)
                        return -errno;
        }
        if (b->len) {
                ssize_t n = send(to, b->data + b->off, b->len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n > 0) {
                        *moved += (size_t)n;
                        *t->sent += (uint64_t)n;
                        b->off += (size_t)n;
                        b->len -= (size_t)n;
                        if (b->len == 0)
                                b->off = 0;
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        return -errno;
                }
        }
        if (b->len && b->off + b->len == b->cap && b->off) {
                memmove(b->data, b->data + b->off, b->len);
                b->off = 0;
        }
        return 0;
}

/* Moves what it can from one side to the other: up to PUMP_ROUNDS reads
 * and writes while both make progress (one of each per event would cost an
 * epoll round trip per buffer). */
static int pump_one(int from, int to, struct buf *b, bool *eof, bool *shut, const struct tally *t)
{
        for (int i = 0; i < PUMP_ROUNDS; i++) {
                size_t moved = 0;
                int r = pump_step(from, to, b, eof, &moved, t);
                if (r < 0)
                        return r;
                if (moved == 0)
                        break;
        }
        if (*eof && b->len == 0 && !*shut) {
                shutdown(to, SHUT_WR);
                *shut = true;
        }
        return 0;
}

static void conn_pump(struct conn *c)
{
        struct proxy *p = c->p;
        struct flow *f = &c->flow;
        const struct tally up = { &f->to_server, NULL, NULL, 0 };
        const struct tally down = { &f->to_guest, f->answer, &f->answer_len, sizeof(f->answer) };
        if (pump_one(c->cfd, c->ufd, &c->c2s, &c->c_eof, &c->u_shut, &up) < 0 ||
            pump_one(c->ufd, c->cfd, &c->s2c, &c->u_eof, &c->c_shut, &down) < 0) {
                conn_reset(c);
                return;
        }
        if (c->u_shut && c->c_shut) {
                conn_close(c);
                return;
        }
        c->deadline_ns = ak_mono_ns() + (uint64_t)p->cfg.idle_ms * 1000000;
        bool c_room = !c->c_eof && c->c2s.off + c->c2s.len < c->c2s.cap;
        bool u_room = !c->u_eof && c->s2c.off + c->s2c.len < c->s2c.cap;
        set_events(p, c->cfd, &c->c_ev, (c_room ? EPOLLIN : 0) | (c->s2c.len ? EPOLLOUT : 0));
        set_events(p, c->ufd, &c->u_ev, (u_room ? EPOLLIN : 0) | (c->c2s.len ? EPOLLOUT : 0));
}

static void conn_connected(struct conn *c)
{
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
                conn_reset(c);
                return;
        }
        c->state = RELAY;
        c->u_ev = EPOLLOUT;
        conn_pump(c);
}

/* ---- the first bytes ---- */

/* What the observer will be told about req (head: the first bytes). */
static void flow_begin(struct flow *f, const struct proxy_request *req, const uint8_t *head, size_t len)
{
        f->decided = true;
        f->proto = req->proto;
        snprintf(f->name, sizeof(f->name), "%s", req->name ? req->name : "");
        snprintf(f->dst_text, sizeof(f->dst_text), "%s", req->dst_text);
        f->dst_port = req->dst_port;
        if (req->proto == SNIFF_TLS)
                snprintf(f->method, sizeof(f->method), "CONNECT");
        if (req->proto != SNIFF_HTTP)
                return;
        inject_request_line(head, len, f->method, f->path);
        size_t n = strlen(f->method);
        if (!n || strspn(f->method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n)
                f->method[0] = f->path[0] = 0; /* not a request line: nothing said of it */
}

static void conn_decide(struct conn *c, enum sniff_proto proto, int status, const char *name)
{
        struct proxy_request req = { .proto = proto, .name = status == SNIFF_NAME ? name : NULL };
        struct sockaddr_in *dst = (struct sockaddr_in *)&req.dst;
        socklen_t len = sizeof(*dst);
        if (getsockopt(c->cfd, SOL_IP, SO_ORIGINAL_DST, dst, &len) < 0 || dst->sin_family != AF_INET) {
                conn_reset(c); /* not a redirected connection */
                return;
        }
        req.dst_port = ntohs(dst->sin_port);
        inet_ntop(AF_INET, &dst->sin_addr, req.dst_text, sizeof(req.dst_text));
        if (dst->sin_addr.s_addr == htonl(INADDR_LOOPBACK) && req.dst_port == c->p->port) {
                conn_reset(c); /* to the listener itself */
                return;
        }
        flow_begin(&c->flow, &req, c->c2s.data, c->c2s.len);
        char rule[PROXY_RULE_MAX] = "";
        if (status == -EBADMSG) {
                snprintf(rule, sizeof(rule), "%s.malformed", sniff_proto_name(proto));
                refuse(c, &req, rule);
                return;
        }
        req.head = c->c2s.data;
        req.head_len = c->c2s.len;
        int verdict = c->p->cfg.policy(c->p->cfg.policy_ctx, &req, rule);
        if (verdict == PROXY_HANDOFF && c->p->cfg.handoff) {
                int fd = c->cfd;
                netloop_del(c->p->cfg.loop, fd);
                c->p->cfg.handoff(c->p->cfg.handoff_ctx, fd, &req); /* req.head is in c: free it after */
                conn_forget(c);
                return;
        }
        if (verdict == PROXY_HANDOFF)
                snprintf(rule, sizeof(rule), "proxy.handoff");
        if (verdict != 1) {
                refuse(c, &req, rule[0] ? rule : "egress.domain");
                return;
        }
        c->state = CONNECTING;
        c->deadline_ns = ak_mono_ns() + (uint64_t)c->p->cfg.peek_ms * 1000000;
        set_events(c->p, c->cfd, &c->c_ev, 0);
        conn_connect(c, &req);
}

static void conn_peek(struct conn *c)
{
        struct buf *b = &c->c2s;
        ssize_t n = read(c->cfd, b->data + b->len, PEEK_MAX - b->len);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                conn_close(c); /* gone before naming anything */
                return;
        }
        if (n < 0)
                return;
        b->len += (size_t)n;
        enum sniff_proto proto = SNIFF_OTHER;
        char name[SNIFF_NAME_MAX];
        int r = sniff(b->data, b->len, &proto, name);
        if (r == -EAGAIN && b->len < PEEK_MAX)
                return;
        conn_decide(c, proto, r == -EAGAIN ? -EBADMSG : r, name);
}

static void conn_event(void *ctx, int fd, uint32_t events)
{
        struct conn *c = ctx;
        struct proxy *p = c->p;
        pthread_mutex_lock(&p->lock);
        if (!p->closing) {
                if (c->state == PEEK)
                        conn_peek(c);
                else if (c->state == CONNECTING && fd == c->ufd)
                        conn_connected(c);
                else if (c->state == RELAY)
                        conn_pump(c);
                else if (events & (EPOLLHUP | EPOLLERR))
                        conn_reset(c); /* the guest left while connecting */
        }
        pthread_mutex_unlock(&p->lock);
}

/* ---- the listener and the clock ---- */

static void conn_accept(struct proxy *p, int fd)
{
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return;
        }
        *c = (struct conn){
                .p = p,
                .cfd = fd,
                .ufd = -1,
                .state = PEEK,
                .deadline_ns = ak_mono_ns() + (uint64_t)p->cfg.peek_ms * 1000000,
                .c2s = { .cap = C2S_CAP, .data = c->mem },
                .s2c = { .cap = S2C_CAP, .data = c->mem + C2S_CAP },
                .c_ev = EPOLLIN,
                .flow.t0_ns = ak_mono_ns(),
        };
        if (netloop_add(p->cfg.loop, fd, EPOLLIN, conn_event, c) < 0) {
                close(fd);
                free(c);
                return;
        }
        c->next = p->conns;
        if (p->conns)
                p->conns->prev = c;
        p->conns = c;
        p->n_conns++;
}

static void listener_event(void *ctx, int lfd, uint32_t events)
{
        struct proxy *p = ctx;
        (void)events;
        pthread_mutex_lock(&p->lock);
        for (int i = 0; !p->closing && i < ACCEPT_BURST; i++) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        break;
                if (p->n_conns >= p->cfg.max_conns) {
                        struct linger l = { .l_onoff = 1, .l_linger = 0 };
                        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
                        close(fd); /* over the bound: refused at once, no fd kept */
                        continue;
                }
                conn_accept(p, fd);
        }
        pthread_mutex_unlock(&p->lock);
}

static void timer_event(void *ctx, int tfd, uint32_t events)
{
        struct proxy *p = ctx;
        uint64_t ticks;
        (void)events;
        (void)!read(tfd, &ticks, sizeof(ticks));
        pthread_mutex_lock(&p->lock);
        if (!p->closing) {
                uint64_t now = ak_mono_ns();
                for (struct conn *c = p->conns, *next; c; c = next) {
                        next = c->next;
                        if (now >= c->deadline_ns)
                                conn_reset(c); /* silent guest, slow connect, or idle */
                }
        }
        pthread_mutex_unlock(&p->lock);
}

struct listen_args {
        uint16_t port;
};

static int listen_socket(void *arg)
{
        struct listen_args *a = arg;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int one = 1;
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(a->port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 128) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static unsigned tick_ms(const struct proxy_config *cfg)
{
        unsigned t = (cfg->peek_ms < cfg->idle_ms ? cfg->peek_ms : cfg->idle_ms) / 4;
        return t < 10 ? 10 : t > 1000 ? 1000 : t;
}

int proxy_new(const struct proxy_config *cfg, struct proxy **ret, struct ak_error *err)
{
        if (!cfg->loop || !cfg->policy)
                return ak_error_set(err, -EINVAL, "proxy: a loop and a policy are required");
        struct proxy *p = calloc(1, sizeof(*p));
        if (!p)
                return ak_error_set(err, -ENOMEM, "out of memory");
        p->cfg = *cfg;
        p->cfg.max_conns = cfg->max_conns ? cfg->max_conns : PROXY_DEFAULT_MAX_CONNS;
        p->cfg.peek_ms = cfg->peek_ms ? cfg->peek_ms : PROXY_DEFAULT_PEEK_MS;
        p->cfg.idle_ms = cfg->idle_ms ? cfg->idle_ms : PROXY_DEFAULT_IDLE_MS;
        p->tfd = -1;
        pthread_mutex_init(&p->lock, NULL);
        struct listen_args a = { cfg->port };
        int r;
        p->lfd = cfg->netns_fd >= 0 ? netns_call(cfg->netns_fd, listen_socket, &a) : listen_socket(&a);
        if (p->lfd < 0) {
                r = ak_error_errno(err, p->lfd, "proxy: listen on 127.0.0.1:%u in the VM's namespace", cfg->port);
                goto fail;
        }
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);
        if (getsockname(p->lfd, (struct sockaddr *)&sin, &len) < 0) {
                r = ak_error_errno(err, -errno, "proxy: getsockname");
                goto fail;
        }
        p->port = ntohs(sin.sin_port);
        unsigned t = tick_ms(&p->cfg);
        struct itimerspec its = { .it_interval = { t / 1000, (long)(t % 1000) * 1000000 } };
        its.it_value = its.it_interval;
        if ((p->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
            timerfd_settime(p->tfd, 0, &its, NULL) < 0) {
                r = ak_error_errno(err, -errno, "proxy: timerfd");
                goto fail;
        }
        if ((r = netloop_add(cfg->loop, p->tfd, EPOLLIN, timer_event, p)) < 0) {
                r = ak_error_errno(err, r, "proxy: serve the timer");
                goto fail;
        }
        if ((r = netloop_add(cfg->loop, p->lfd, EPOLLIN, listener_event, p)) < 0) {
                netloop_del(cfg->loop, p->tfd);
                r = ak_error_errno(err, r, "proxy: serve the listener");
                goto fail;
        }
        *ret = p;
        return 0;
fail:
        if (p->lfd >= 0)
                close(p->lfd);
        if (p->tfd >= 0)
                close(p->tfd);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return r;
}

uint16_t proxy_port(const struct proxy *p)
{
        return p->port;
}

unsigned proxy_conns(struct proxy *p)
{
        pthread_mutex_lock(&p->lock);
        unsigned n = p->n_conns;
        pthread_mutex_unlock(&p->lock);
        return n;
}

void proxy_free(struct proxy *p)
{
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->closing = true;
        pthread_mutex_unlock(&p->lock);
        struct netloop *l = p->cfg.loop;
        netloop_del(l, p->lfd);
        netloop_del(l, p->tfd);
        for (struct conn *c = p->conns; c; c = c->next) {
                netloop_del(l, c->cfd);
                if (c->ufd >= 0)
                        netloop_del(l, c->ufd);
        }
        while (p->conns)
                conn_reset(p->conns); /* netloop_del again: a no-op */
        close(p->lfd);
        close(p->tfd);
        pthread_mutex_destroy(&p->lock);
        free(p);
}

int proxy_nft_rules(uint16_t port, const uint16_t *ports, size_t n_ports, char **ret_table, char **ret_accept)
{
        if (port == 0 || n_ports == 0 || n_ports > 64)
                return -EINVAL;
        char list[64 * 7] = "";
        size_t off = 0;
        for (size_t i = 0; i < n_ports; i++) {
                if (ports[i] == 0)
                        return -EINVAL;
                off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%u", i ? ", " : "", ports[i]);
        }
        char *table = NULL, *accept = NULL;
        if (asprintf(&table,
                     "table inet ak_proxy {}\ndelete table inet ak_proxy\ntable inet ak_proxy {\n"
                     "\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n"
                     "\t\tmeta mark 0x%08x return\n"
                     "\t\toifname \"lo\" return\n"
                     "\t\tmeta nfproto ipv4 tcp dport { %s } redirect to :%u\n"
                     "\t}\n}\n",
                     PROXY_MARK, list, port) < 0)
                return -ENOMEM;
        if (asprintf(&accept, "\t\toifname \"lo\" meta l4proto tcp ct status dnat ct reply proto-src %u accept\n", port) < 0) {
                free(table);
                return -ENOMEM;
        }
        *ret_table = table;
        *ret_accept = accept;
        return 0;
}
