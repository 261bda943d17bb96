/* See nflog.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/net/netloop.h"
#include "vmm/net/nflog.h"

#define RCVBUF_BYTES (8 << 20)
#define RECV_BYTES 65536
#define READS_PER_WAKE 16

struct nflog {
        int fd;
        struct netloop *loop;
        struct net_reporter *rep;
        _Atomic uint64_t overruns;
        unsigned char buf[RECV_BYTES];
};

/* ---- parsing (outside bytes) ---- */

static uint16_t be16(const unsigned char *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

/* L4 destination port at l4 (TCP and UDP put it at bytes 2..3). */
static void l4_port(struct net_event *ev, const unsigned char *l4, size_t len)
{
        if ((ev->protocol == IPPROTO_TCP || ev->protocol == IPPROTO_UDP) && len >= 4)
                ev->dst_port = be16(l4 + 2);
}

static int parse_ipv4(const unsigned char *p, size_t len, struct net_event *ev)
{
        if (len < 20)
                return -EBADMSG;
        size_t ihl = (size_t)(p[0] & 0x0f) * 4;
        if (ihl < 20 || ihl > len)
                return -EBADMSG;
        ev->protocol = p[9];
        inet_ntop(AF_INET, p + 16, ev->dst, sizeof(ev->dst));
        /* A fragment past the first has no L4 header. */
        if ((be16(p + 6) & 0x1fff) == 0)
                l4_port(ev, p + ihl, len - ihl);
        return 0;
}

static int parse_ipv6(const unsigned char *p, size_t len, struct net_event *ev)
{
        if (len < 40)
                return -EBADMSG;
        inet_ntop(AF_INET6, p + 24, ev->dst, sizeof(ev->dst));
        unsigned next = p[6];
        size_t off = 40;
        /* Hop-by-hop, routing, destination options, fragment: a few, then
         * whatever follows is the protocol. */
        for (int i = 0; i < 8; i++) {
                if (next == IPPROTO_FRAGMENT) {
                        if (len - off < 8)
                                break;
                        bool first = (be16(p + off + 2) & 0xfff8) == 0;
                        next = p[off];
                        off += 8;
                        if (!first) {
                                ev->protocol = (int)next;
                                return 0;
                        }
                } else if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS) {
                        if (len - off < 8)
                                break;
                        size_t ext = ((size_t)p[off + 1] + 1) * 8;
                        next = p[off];
                        if (ext > len - off) {
                                off = len;
                                break;
                        }
                        off += ext;
                } else {
                        break;
                }
        }
        ev->protocol = (int)next;
        l4_port(ev, p + off, len - off);
        return 0;
}

/* The prefix as the rule name: printable ASCII but quotes and backslashes
 * (it is ours, but the bytes come through the kernel unchecked here, and the
 * name goes into JSON). */
static void set_rule(struct net_event *ev, const unsigned char *p, size_t len)
{
        size_t n = 0;
        for (size_t i = 0; i < len && p[i] && n + 1 < sizeof(ev->rule); i++)
                ev->rule[n++] = p[i] > 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\' ? (char)p[i] : '?';
        ev->rule[n] = 0;
}

/* One NFULNL_MSG_PACKET's attributes (after the nfgenmsg): 1 and *ev
 * filled, 0 to skip, -EBADMSG. */
static int parse_packet(const unsigned char *p, size_t len, struct net_event *ev)
{
        const unsigned char *payload = NULL, *prefix = NULL;
        size_t payload_len = 0, prefix_len = 0;
        while (len >= sizeof(struct nlattr)) {
                struct nlattr a;
                memcpy(&a, p, sizeof(a));
                if (a.nla_len < sizeof(a) || a.nla_len > len)
                        return -EBADMSG;
                const unsigned char *v = p + sizeof(a);
                size_t vlen = a.nla_len - sizeof(a);
                switch (a.nla_type & NLA_TYPE_MASK) {
                case NFULA_PAYLOAD:
                        payload = v;
                        payload_len = vlen;
                        break;
                case NFULA_PREFIX:
                        prefix = v;
                        prefix_len = vlen;
                        break;
                default:
                        break;
                }
                size_t step = NLA_ALIGN(a.nla_len);
                if (step >= len)
                        break;
                p += step;
                len -= step;
        }
        memset(ev, 0, sizeof(*ev));
        ev->kind = NET_EVENT_CONNECT;
        if (prefix)
                set_rule(ev, prefix, prefix_len);
        if (!ev->rule[0])
                snprintf(ev->rule, sizeof(ev->rule), "unknown");
        if (!payload || payload_len < 1)
                return 0;
        switch (payload[0] >> 4) {
        case 4:
                return parse_ipv4(payload, payload_len, ev) == 0 ? 1 : 0;
        case 6:
                return parse_ipv6(payload, payload_len, ev) == 0 ? 1 : 0;
        default:
                return 0;
        }
}

int nflog_parse(const void *buf, size_t len, nflog_event_fn fn, void *ctx)
{
        const unsigned char *p = buf;
        int n = 0;
        while (len >= sizeof(struct nlmsghdr)) {
                struct nlmsghdr h;
                memcpy(&h, p, sizeof(h));
                if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > len)
                        return -EBADMSG;
                const unsigned char *body = p + sizeof(h);
                size_t blen = h.nlmsg_len - sizeof(h);
                if (h.nlmsg_type == NLMSG_ERROR) {
                        struct nlmsgerr e;
                        if (blen < sizeof(e.error))
                                return -EBADMSG;
                        memcpy(&e.error, body, sizeof(e.error));
                        if (e.error < 0)
                                return e.error;
                } else if (h.nlmsg_type == ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET) &&
                           blen >= sizeof(struct nfgenmsg)) {
                        struct net_event ev;
                        int r = parse_packet(body + NLMSG_ALIGN(sizeof(struct nfgenmsg)),
                                             blen - NLMSG_ALIGN(sizeof(struct nfgenmsg)), &ev);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                fn(ctx, &ev);
                                n++;
                        }
                }
                size_t step = NLMSG_ALIGN(h.nlmsg_len);
                if (step >= len)
                        break;
                p += step;
                len -= step;
        }
        return n;
}

/* ---- the socket ---- */

struct config_msg {
        struct nlmsghdr h;
        struct nfgenmsg g;
        unsigned char attrs[32];
};

static void put_attr(struct config_msg *m, uint16_t type, const void *data, size_t len)
{
        struct nlattr *a = (struct nlattr *)((unsigned char *)m + NLMSG_ALIGN(m->h.nlmsg_len));
        a->nla_type = type;
        a->nla_len = (uint16_t)(sizeof(*a) + len);
        memcpy(a + 1, data, len);
        m->h.nlmsg_len = NLMSG_ALIGN(m->h.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

static void on_ack_event(void *ctx, struct net_event *ev)
{
}

/* Sends one NFULNL_MSG_CONFIG and waits for its ack: 0 or -errno. */
static int config(int fd, uint8_t family, uint16_t group, uint16_t type, const void *data, size_t len, uint32_t seq)
{
        struct config_msg m;
        memset(&m, 0, sizeof(m));
        m.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct nfgenmsg));
        m.h.nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
        m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        m.h.nlmsg_seq = seq;
        m.g.nfgen_family = family;
        m.g.version = NFNETLINK_V0;
        m.g.res_id = htons(group);
        put_attr(&m, type, data, len);
        if (send(fd, &m, m.h.nlmsg_len, 0) < 0)
                return -errno;
        unsigned char buf[1024];
        struct pollfd pfd = { fd, POLLIN, 0 };
        if (poll(&pfd, 1, 2000) <= 0)
                return -ETIMEDOUT;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0)
                return -errno;
        int r = nflog_parse(buf, (size_t)n, on_ack_event, NULL);
        return r < 0 ? r : 0;
}

static void report(void *ctx, struct net_event *ev)
{
        (void)net_report(ctx, ev);
}

static void on_readable(void *ctx, int fd, uint32_t events)
{
        struct nflog *l = ctx;
        for (int i = 0; i < READS_PER_WAKE; i++) {
                ssize_t n = recv(fd, l->buf, sizeof(l->buf), MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == ENOBUFS) {
                                atomic_fetch_add(&l->overruns, 1);
                                net_reporter_overrun(l->rep);
                                continue;
                        }
                        return; /* EAGAIN, or nothing we can do here */
                }
                (void)nflog_parse(l->buf, (size_t)n, report, l->rep);
        }
}

int nflog_open(int netns_fd, uint16_t group, struct ak_error *err)
{
        int fd = netns_socket(netns_fd, AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK, NETLINK_NETFILTER), r;
        if (fd < 0)
                return ak_error_errno(err, fd, "VM denial log: an NFLOG socket in the VM's namespace");
        int size = RCVBUF_BYTES;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        struct nfulnl_msg_config_cmd bind_cmd = { NFULNL_CFG_CMD_BIND };
        struct nfulnl_msg_config_mode mode = { .copy_range = htonl(NFLOG_COPY_RANGE),
                                               .copy_mode = NFULNL_COPY_PACKET };
        uint32_t flush = htonl(1); /* deliver within 1/100 s */
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                r = ak_error_errno(err, -errno, "VM denial log: bind the NFLOG socket");
                goto fail;
        }
        if ((r = config(fd, AF_UNSPEC, group, NFULA_CFG_CMD, &bind_cmd, sizeof(bind_cmd), 1)) < 0) {
                r = ak_error_errno(err, r, "VM denial log: bind NFLOG group %u (is nfnetlink_log available? "
                                   "modprobe nfnetlink_log)", (unsigned)group);
                goto fail;
        }
        if ((r = config(fd, AF_UNSPEC, group, NFULA_CFG_MODE, &mode, sizeof(mode), 2)) < 0 ||
            (r = config(fd, AF_UNSPEC, group, NFULA_CFG_TIMEOUT, &flush, sizeof(flush), 3)) < 0) {
                r = ak_error_errno(err, r, "VM denial log: configure NFLOG group %u", (unsigned)group);
                goto fail;
        }
        return fd;
fail:
        close(fd);
        return r;
}

int nflog_start(int netns_fd, uint16_t group, struct net_reporter *rep, struct nflog **ret, struct ak_error *err)
{
        struct nflog *l = calloc(1, sizeof(*l));
        int r;
        if (!l)
                return ak_error_set(err, -ENOMEM, "out of memory");
        l->rep = rep;
        if ((l->fd = nflog_open(netns_fd, group, err)) < 0) {
                r = l->fd;
                free(l);
                return r;
        }
        if ((r = netloop_shared(&l->loop, err)) < 0)
                goto fail;
        if ((r = netloop_add(l->loop, l->fd, EPOLLIN, on_readable, l)) < 0) {
                r = ak_error_errno(err, r, "VM denial log: serve the NFLOG socket");
                goto fail;
        }
        *ret = l;
        return 0;
fail:
        close(l->fd);
        free(l);
        return r;
}

uint64_t nflog_overruns(struct nflog *l)
{
        return atomic_load(&l->overruns);
}

void nflog_stop(struct nflog *l)
{
        if (!l)
                return;
        netloop_del(l->loop, l->fd);
        close(l->fd);
        free(l);
}
