#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "vmm/net/domain.h"
#include "vmm/net/resolver.h"

#define TICK_MS 200
#define TCP_IDLE_MS 10000

struct tcp_conn;

/* Where a guest's query came from and its answer goes. */
struct client {
        struct sockaddr_storage addr; /* UDP */
        socklen_t len;
        struct tcp_conn *tcp;         /* TCP: the connection; NULL for UDP */
};

/* A guest's TCP connection: one query at a time (2-byte length, then the
 * message, at most DNS_MSG_UDP_MAX), answered before the next is read. */
struct tcp_conn {
        int fd;                       /* -1: free */
        uint8_t buf[2 + DNS_MSG_UDP_MAX];
        size_t have;
        uint64_t deadline_ms;
        struct pending *p;            /* the query in flight, if any */
        struct resolver *r;
};

struct pending {
        int fd;                      /* -1: slot free; else connected to upstreams[up] */
        unsigned up, tries;
        uint16_t id;                 /* ours, sent upstream */
        bool answer_guest;           /* false: a denied name, resolved only for its addresses */
        enum resolver_verdict verdict; /* 0: neither list */
        struct dns_query query;      /* the guest's */
        struct client guest;
        uint64_t deadline_ms;
        struct resolver *r;
};

struct resolver {
        struct resolver_config cfg;
        int udp, tcp, timer;
        uint16_t port;
        struct pending *slots;
        struct tcp_conn conns[RESOLVER_MAX_TCP];
};

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int resolver_upstream_parse(const char *text, struct resolver_upstream *u, struct ak_error *err)
{
        char host[INET6_ADDRSTRLEN + 2];
        const char *port = NULL;
        unsigned long p = 53;
        memset(u, 0, sizeof(*u));
        if (text[0] == '[') {
                const char *close = strchr(text, ']');
                if (!close || (size_t)(close - text - 1) >= sizeof(host) || (close[1] && close[1] != ':'))
                        goto bad;
                memcpy(host, text + 1, (size_t)(close - text - 1));
                host[close - text - 1] = 0;
                port = close[1] ? close + 2 : NULL;
        } else {
                const char *colon = strchr(text, ':');
                bool v6 = colon && strchr(colon + 1, ':');
                size_t n = colon && !v6 ? (size_t)(colon - text) : strlen(text);
                if (n >= sizeof(host))
                        goto bad;
                memcpy(host, text, n);
                host[n] = 0;
                port = colon && !v6 ? colon + 1 : NULL;
        }
        if (port) {
                char *end;
                if (!*port || (p = strtoul(port, &end, 10), *end) || p == 0 || p > 65535)
                        goto bad;
        }
        struct sockaddr_in *s4 = (struct sockaddr_in *)&u->addr;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&u->addr;
        if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
                s4->sin_family = AF_INET;
                s4->sin_port = htons((uint16_t)p);
                u->len = sizeof(*s4);
        } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
                s6->sin6_family = AF_INET6;
                s6->sin6_port = htons((uint16_t)p);
                u->len = sizeof(*s6);
        } else {
                goto bad;
        }
        return 0;
bad:
        return ak_error_set(err, -EINVAL, "DNS upstream %s: want ADDR, ADDR:PORT or [IPV6]:PORT (e.g. "
                            "192.0.2.53:53)", text);
}

size_t resolver_upstreams_from_resolv_conf(const char *text, struct resolver_upstream *out, size_t max)
{
        size_t n = 0;
        for (const char *line = text; line && *line && n < max;) {
                const char *end = strchr(line, '\n');
                size_t len = end ? (size_t)(end - line) : strlen(line);
                char buf[128], word[16], addr[64];
                if (len < sizeof(buf)) {
                        memcpy(buf, line, len);
                        buf[len] = 0;
                        if (sscanf(buf, " %15s %63[^% \t]", word, addr) == 2 && strcmp(word, "nameserver") == 0 &&
                            !strchr(addr, ']') && resolver_upstream_parse(addr, &out[n], NULL) == 0)
                                n++;
                }
                line = end ? end + 1 : NULL;
        }
        return n;
}

/* Whether the address lies in the canonical CIDR. */
static bool in_cidr(const struct dns_addr *a, const char *cidr)
{
        char addr[INET6_ADDRSTRLEN];
        uint8_t net[16];
        const char *slash = strchr(cidr, '/');
        if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
                return false;
        memcpy(addr, cidr, (size_t)(slash - cidr));
        addr[slash - cidr] = 0;
        int af = strchr(addr, ':') ? AF_INET6 : AF_INET;
        unsigned len = (unsigned)atoi(slash + 1);
        if (af != a->family || inet_pton(af, addr, net) != 1)
                return false;
        for (unsigned bit = 0; bit < len; bit++)
                if ((a->bytes[bit / 8] ^ net[bit / 8]) & (0x80 >> (bit % 8)))
                        return false;
        return true;
}

static void report(struct resolver *r, const char *name, const char *rule, const struct dns_addr *a)
{
        if (!r->cfg.reporter)
                return;
        struct net_event ev = { .kind = NET_EVENT_DNS, .protocol = IPPROTO_UDP, .dst_port = 53 };
        snprintf(ev.name, sizeof(ev.name), "%s", name);
        snprintf(ev.rule, sizeof(ev.rule), "%s", rule);
        if (a)
                inet_ntop(a->family, a->bytes, ev.dst, sizeof(ev.dst));
        net_report(r->cfg.reporter, &ev);
}

static void tcp_close(struct tcp_conn *c)
{
        if (c->p) {
                /* Its query still resolves (for the sets), unanswered. */
                c->p->answer_guest = false;
                c->p->guest.tcp = NULL;
        }
        netloop_del(c->r->cfg.loop, c->fd);
        close(c->fd);
        c->fd = -1;
        c->p = NULL;
}

static void reply(struct resolver *r, const uint8_t *msg, int len, const struct client *to)
{
        if (len <= 0)
                return;
        if (!to->tcp) {
                (void)sendto(r->udp, msg, (size_t)len, MSG_DONTWAIT, (const struct sockaddr *)&to->addr, to->len);
                return;
        }
        struct tcp_conn *c = to->tcp;
        uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
        struct iovec iov[2] = { { hdr, 2 }, { (void *)msg, (size_t)len } };
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
        c->p = NULL;
        /* Small answers into an empty socket buffer: a short write means
         * a guest that does not read; it loses the connection. */
        if (sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) != len + 2) {
                tcp_close(c);
                return;
        }
        c->deadline_ms = now_ms() + TCP_IDLE_MS;
        (void)netloop_mod(r->cfg.loop, c->fd, EPOLLIN);
}

static void reply_error(struct resolver *r, const struct dns_query *q, uint8_t rcode, const struct client *to)
{
        uint8_t out[DNS_MSG_UDP_MAX];
        reply(r, out, dns_msg_build_error(q, rcode, out, sizeof(out)), to);
}

static void pending_end(struct pending *p)
{
        netloop_del(p->r->cfg.loop, p->fd);
        close(p->fd);
        p->fd = -1;
}

static void on_upstream(void *ctx, int fd, uint32_t events);

/* Sends p's question to upstream p->up from a fresh socket (fresh port and
 * id per try): 0 or -errno. */
static int pending_send(struct pending *p)
{
        struct resolver *r = p->r;
        const struct resolver_upstream *u = &r->cfg.upstreams[p->up];
        uint8_t msg[DNS_MSG_UDP_MAX];
        int len, fd, e;
        if (getrandom(&p->id, sizeof(p->id), 0) != sizeof(p->id))
                return -EIO;
        if ((len = dns_msg_build_query(p->id, p->query.flags, &p->query.q, msg, sizeof(msg))) < 0)
                return len;
        if ((fd = socket(u->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *)&u->addr, u->len) < 0 || send(fd, msg, (size_t)len, 0) < 0) {
                e = -errno;
                close(fd);
                return e;
        }
        if ((e = netloop_add(r->cfg.loop, fd, EPOLLIN, on_upstream, p)) < 0) {
                close(fd);
                return e;
        }
        p->fd = fd;
        p->deadline_ms = now_ms() + r->cfg.timeout_ms;
        return 0;
}

/* Hands the addresses on and answers the guest without blocked ones. */
static void answer(struct pending *p, const struct dns_answer *a)
{
        struct resolver *r = p->r;
        uint8_t keep[DNS_MSG_MAX_ADDRS], out[DNS_MSG_UDP_MAX];
        struct dns_addr ok[DNS_MSG_MAX_ADDRS];
        size_t n_ok = 0;
        const char *name = p->query.q.name;
        for (size_t i = 0; i < a->n_addrs; i++) {
                keep[i] = 1;
                for (size_t k = 0; k < r->cfg.n_blocked && keep[i]; k++)
                        if (in_cidr(&a->addrs[i], r->cfg.blocked[k]))
                                keep[i] = 0;
                if (keep[i])
                        ok[n_ok++] = a->addrs[i];
                else if (p->answer_guest)
                        report(r, name, "dns-rebinding", &a->addrs[i]);
        }
        if (n_ok && p->verdict && r->cfg.on_addrs)
                r->cfg.on_addrs(r->cfg.ctx, p->verdict, ok, n_ok);
        if (p->answer_guest)
                reply(r, out, dns_msg_build_answer(&p->query, a, keep, out, sizeof(out)), &p->guest);
}

static void on_upstream(void *ctx, int fd, uint32_t events)
{
        struct pending *p = ctx;
        uint8_t msg[DNS_MSG_UDP_MAX];
        struct dns_answer *a;
        (void)events;
        ssize_t n = recv(fd, msg, sizeof(msg), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        /* A connected UDP socket takes datagrams only from the upstream it
         * asked; the id and question must be what we sent. */
        if (n < 0 || !(a = malloc(sizeof(*a))))
                goto fail;
        if (dns_msg_parse_answer(msg, (size_t)n, a) < 0 || a->id != p->id || a->q.type != p->query.q.type ||
            a->q.klass != p->query.q.klass || strcmp(a->q.name, p->query.q.name) != 0) {
                free(a);
                return; /* not ours: keep waiting until the deadline */
        }
        answer(p, a);
        free(a);
        pending_end(p);
        return;
fail:
        if (p->answer_guest)
                reply_error(p->r, &p->query, DNS_RCODE_SERVFAIL, &p->guest);
        pending_end(p);
}

static void on_timer(void *ctx, int fd, uint32_t events)
{
        struct resolver *r = ctx;
        uint64_t ticks, now = now_ms();
        (void)events;
        if (read(fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
                return;
        for (unsigned i = 0; i < r->cfg.max_pending; i++) {
                struct pending *p = &r->slots[i];
                if (p->fd < 0 || p->deadline_ms > now)
                        continue;
                pending_end(p);
                if (++p->tries < 2 && r->cfg.n_upstreams > 1) {
                        p->up = (p->up + 1) % (unsigned)r->cfg.n_upstreams;
                        if (pending_send(p) == 0)
                                continue;
                }
                if (p->answer_guest)
                        reply_error(r, &p->query, DNS_RCODE_SERVFAIL, &p->guest);
        }
        for (unsigned i = 0; i < RESOLVER_MAX_TCP; i++)
                if (r->conns[i].fd >= 0 && !r->conns[i].p && r->conns[i].deadline_ms <= now)
                        tcp_close(&r->conns[i]);
}

/* The verdict for a name: RESOLVER_ALLOW, RESOLVER_DENY or 0 (neither). */
static enum resolver_verdict verdict(const struct resolver *r, const char *name, bool *unlisted)
{
        *unlisted = false;
        if (domain_match_any(r->cfg.allow, r->cfg.n_allow, name))
                return RESOLVER_ALLOW;
        if (domain_match_any(r->cfg.deny, r->cfg.n_deny, name))
                return RESOLVER_DENY;
        if (r->cfg.deny_unlisted) {
                *unlisted = true;
                return RESOLVER_DENY;
        }
        return 0;
}

/* One query from the guest (UDP or TCP): answered now, or in flight. */
static void handle_query(struct resolver *r, const uint8_t *msg, size_t n, const struct client *from)
{
        struct dns_query q;
        bool unlisted;
        int e = dns_msg_parse_query(msg, n, &q);
        if (e == -EOPNOTSUPP && n >= 12 && !(msg[2] & 0x80)) {
                /* Not one plain question: NOTIMP, with the header echoed. */
                uint8_t out[12] = { msg[0], msg[1], 0x80 | (msg[2] & 0x79), 0x04 };
                reply(r, out, sizeof(out), from);
                return;
        }
        if (e < 0) {
                if (from->tcp) /* garbage: no answer; over TCP, no connection either */
                        tcp_close(from->tcp);
                return;
        }
        enum resolver_verdict v = verdict(r, q.q.name, &unlisted);
        if (v == RESOLVER_DENY) {
                report(r, q.q.name, "egress.domain", NULL);
                reply_error(r, &q, DNS_RCODE_NXDOMAIN, from);
                if (unlisted)
                        return;
        }
        struct pending *p = NULL;
        for (unsigned i = 0; i < r->cfg.max_pending && !p; i++)
                if (r->slots[i].fd < 0)
                        p = &r->slots[i];
        if (!p) {
                if (v != RESOLVER_DENY)
                        reply_error(r, &q, DNS_RCODE_SERVFAIL, from);
                return;
        }
        *p = (struct pending){ .fd = -1, .answer_guest = v != RESOLVER_DENY, .verdict = v, .query = q,
                               .guest = *from, .r = r };
        if (v == RESOLVER_DENY)
                p->guest.tcp = NULL; /* answered already */
        if (pending_send(p) < 0) {
                if (p->answer_guest)
                        reply_error(r, &q, DNS_RCODE_SERVFAIL, from);
                return;
        }
        if (p->guest.tcp) {
                p->guest.tcp->p = p;
                /* No reading meanwhile; a reset (HUP/ERR) still wakes us. A
                 * guest that only half-closes still gets its answer. */
                (void)netloop_mod(r->cfg.loop, p->guest.tcp->fd, 0);
        }
}

static void on_query(void *ctx, int fd, uint32_t events)
{
        struct resolver *r = ctx;
        uint8_t msg[DNS_MSG_UDP_MAX];
        struct client from = { .len = sizeof(from.addr) };
        (void)events;
        ssize_t n = recvfrom(fd, msg, sizeof(msg), MSG_DONTWAIT, (struct sockaddr *)&from.addr, &from.len);
        if (n >= 0)
                handle_query(r, msg, (size_t)n, &from);
}

static void on_tcp_conn(void *ctx, int fd, uint32_t events)
{
        struct tcp_conn *c = ctx;
        if (c->p) { /* waiting for upstream: only a hang-up matters */
                if (events & (EPOLLHUP | EPOLLERR))
                        tcp_close(c);
                return;
        }
        ssize_t n = recv(fd, c->buf + c->have, sizeof(c->buf) - c->have, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                tcp_close(c);
                return;
        }
        c->have += (size_t)n;
        if (c->have < 2)
                return;
        size_t want = (size_t)c->buf[0] << 8 | c->buf[1];
        if (want == 0 || want > DNS_MSG_UDP_MAX) {
                tcp_close(c);
                return;
        }
        if (c->have < 2 + want)
                return;
        if (c->have > 2 + want) { /* pipelined: one at a time */
                tcp_close(c);
                return;
        }
        c->have = 0;
        struct client from = { .tcp = c };
        handle_query(c->r, c->buf + 2, want, &from);
}

static void on_tcp_accept(void *ctx, int fd, uint32_t events)
{
        struct resolver *r = ctx;
        (void)events;
        int a = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (a < 0)
                return;
        for (unsigned i = 0; i < RESOLVER_MAX_TCP; i++) {
                struct tcp_conn *c = &r->conns[i];
                if (c->fd >= 0)
                        continue;
                *c = (struct tcp_conn){ .fd = a, .deadline_ms = now_ms() + TCP_IDLE_MS, .r = r };
                if (netloop_add(r->cfg.loop, a, EPOLLIN, on_tcp_conn, c) == 0)
                        return;
                c->fd = -1;
                break;
        }
        close(a); /* all taken: the guest's resolver retries or gives up */
}

struct bind_args {
        uint16_t port;
        int udp, tcp;
};

/* UDP and TCP on 127.0.0.1:port (port 0: UDP's port for TCP too). */
static int bind_both(void *arg)
{
        struct bind_args *b = arg;
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(b->port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t alen = sizeof(a);
        int one = 1;
        if ((b->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
            bind(b->udp, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(b->udp, (struct sockaddr *)&a, &alen) < 0)
                return -errno;
        if ((b->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
            setsockopt(b->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(b->tcp, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(b->tcp, RESOLVER_MAX_TCP) < 0)
                return -errno;
        b->port = ntohs(a.sin_port);
        return 0;
}

int resolver_new(const struct resolver_config *cfg, struct resolver **ret, struct ak_error *err)
{
        int e;
        if (cfg->n_upstreams == 0 || cfg->n_upstreams > RESOLVER_MAX_UPSTREAMS)
                return ak_error_set(err, -EINVAL, "VM resolver: %zu upstream resolvers (want 1..%d: the host's "
                                    "resolv.conf has none? pass ak-executor --dns-upstream ADDR)",
                                    cfg->n_upstreams, RESOLVER_MAX_UPSTREAMS);
        struct resolver *r = calloc(1, sizeof(*r));
        if (!r)
                return ak_error_set(err, -ENOMEM, "out of memory");
        r->cfg = *cfg;
        r->udp = r->tcp = r->timer = -1;
        for (unsigned i = 0; i < RESOLVER_MAX_TCP; i++)
                r->conns[i].fd = -1;
        if (!r->cfg.max_pending)
                r->cfg.max_pending = RESOLVER_DEFAULT_PENDING;
        if (!r->cfg.timeout_ms)
                r->cfg.timeout_ms = RESOLVER_DEFAULT_TIMEOUT_MS;
        if (!(r->slots = calloc(r->cfg.max_pending, sizeof(*r->slots)))) {
                free(r);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        for (unsigned i = 0; i < r->cfg.max_pending; i++)
                r->slots[i].fd = -1;
        struct bind_args b = { cfg->port, -1, -1 };
        e = cfg->netns_fd >= 0 ? netns_call(cfg->netns_fd, bind_both, &b) : bind_both(&b);
        r->udp = b.udp;
        r->tcp = b.tcp;
        if (e < 0) {
                resolver_free(r);
                return ak_error_errno(err, e, "VM resolver: bind UDP and TCP 127.0.0.1:%u in the VM's namespace",
                                      (unsigned)cfg->port);
        }
        r->port = b.port;
        struct itimerspec its = { { 0, TICK_MS * 1000000L }, { 0, TICK_MS * 1000000L } };
        if ((r->timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)) < 0 ||
            timerfd_settime(r->timer, 0, &its, NULL) < 0) {
                e = -errno;
                resolver_free(r);
                return ak_error_errno(err, e, "VM resolver: timerfd");
        }
        if ((e = netloop_add(cfg->loop, r->timer, EPOLLIN, on_timer, r)) < 0 ||
            (e = netloop_add(cfg->loop, r->udp, EPOLLIN, on_query, r)) < 0 ||
            (e = netloop_add(cfg->loop, r->tcp, EPOLLIN, on_tcp_accept, r)) < 0) {
                resolver_free(r);
                return ak_error_errno(err, e, "VM resolver: serve");
        }
        *ret = r;
        return 0;
}

uint16_t resolver_port(const struct resolver *r)
{
        return r->port;
}

void resolver_free(struct resolver *r)
{
        if (!r)
                return;
        if (r->udp >= 0) {
                netloop_del(r->cfg.loop, r->udp);
                close(r->udp);
        }
        if (r->tcp >= 0) {
                netloop_del(r->cfg.loop, r->tcp);
                close(r->tcp);
        }
        if (r->timer >= 0) {
                netloop_del(r->cfg.loop, r->timer);
                close(r->timer);
        }
        for (unsigned i = 0; i < RESOLVER_MAX_TCP; i++)
                if (r->conns[i].fd >= 0)
                        tcp_close(&r->conns[i]);
        for (unsigned i = 0; r->slots && i < r->cfg.max_pending; i++)
                if (r->slots[i].fd >= 0)
                        pending_end(&r->slots[i]);
        free(r->slots);
        free(r);
}
