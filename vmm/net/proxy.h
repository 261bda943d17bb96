/* A VM's transparent TCP proxy for domain rules: the namespace's nft rules
 * (proxy_nft_rules) redirect the guest's TCP connections to ports 80 and
 * 443 (slirp's sockets are local processes in the namespace: the nat output
 * hook) to this proxy's listener on 127.0.0.1 in the namespace. For each
 * connection the proxy reads the first bytes (bounded, with a deadline),
 * finds the TLS SNI or HTTP Host (sniff.h) and asks the policy callback
 * about (name, original destination). Allowed: it connects to the original
 * destination with a socket made in the namespace (so the namespace's
 * filter rules apply to it again; its mark exempts it from the redirect)
 * and relays both ways with bounded buffers. Denied: TLS gets a fatal
 * access_denied alert, HTTP a "403 Forbidden" naming the host, then the
 * connection is closed and a NET_EVENT_TLS_SNI / NET_EVENT_HTTP_HOST (or
 * NET_EVENT_CONNECT for another protocol) is reported.
 *
 * Served by a netloop (all handlers on its thread, none blocks). At most
 * max_conns connections at once; more are accepted and closed at once, so a
 * guest cannot exhaust the process's fds (each connection holds two). */
#pragma once

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/base/error.h"
#include "vmm/net/net_event.h"
#include "vmm/net/netloop.h"
#include "vmm/net/sniff.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROXY_MARK 0x616b0001u /* SO_MARK of the proxy's own upstream sockets */
#define PROXY_DEFAULT_MAX_CONNS 256
#define PROXY_DEFAULT_PEEK_MS 10000
#define PROXY_DEFAULT_IDLE_MS 600000
#define PROXY_RULE_MAX 64

/* What the policy is asked about one connection. */
struct proxy_request {
        enum sniff_proto proto;
        const char *name;                   /* SNI or Host, lowercase; NULL: the connection names none */
        struct sockaddr_storage dst;        /* the original destination (SO_ORIGINAL_DST) */
        char dst_text[INET6_ADDRSTRLEN];
        uint16_t dst_port;
        const uint8_t *head;                /* the first bytes read from the guest (a ClientHello, */
        size_t head_len;                    /* a request head); valid during the call only */
};

/* Returns 1 to allow, 0 to deny with rule (PROXY_RULE_MAX bytes, e.g.
 * "egress.domain") filled in, or PROXY_HANDOFF to give the connection to
 * cfg.handoff (without one: denied, rule "proxy.handoff"). Runs on the
 * loop's thread: must not block. */
#define PROXY_HANDOFF 2
typedef int (*proxy_policy_fn)(void *ctx, const struct proxy_request *req, char rule[PROXY_RULE_MAX]);

/* Takes a connection the policy handed off: fd (the guest's, non-blocking,
 * O_CLOEXEC) is the callee's to close; req and req->head (the bytes already
 * read from fd, to be replayed) are valid during the call only. The proxy
 * forgets the connection before the call (it no longer counts against
 * max_conns). Runs on the loop's thread: must not block. */
typedef void (*proxy_handoff_fn)(void *ctx, int fd, const struct proxy_request *req);

/* One connection the proxy decided about, when it ends (proxy hooks):
 * never a header, a body or the query. */
struct proxy_flow {
        enum sniff_proto proto;
        const char *name;         /* SNI or Host; NULL: none */
        const char *dst_text;     /* the original destination */
        uint16_t dst_port;
        const char *method;       /* plain HTTP: the first request's ("GET"); TLS: "CONNECT"
                                   * (a tunnel: its requests are not seen); else "" */
        const char *path;         /* plain HTTP: the first request's path, no query or fragment
                                   * (at most PROXY_PATH_MAX bytes); else NULL */
        int status;               /* plain HTTP: the server's first status; 0: none */
        uint64_t to_server;       /* bytes relayed to the server (the whole connection) */
        uint64_t to_guest;        /* bytes relayed back to the guest */
        uint64_t duration_ms;     /* from the accept to the end */
        const char *refused;      /* the rule that refused it; NULL: relayed */
};
#define PROXY_PATH_MAX 255

/* Called on the loop's thread for each connection the policy allowed, when
 * it ends, and for each refused one (not for handed-off connections, nor
 * at proxy_free): must be quick and not block on the network. */
typedef void (*proxy_observe_fn)(void *ctx, const struct proxy_flow *f);

struct proxy_config {
        struct netloop *loop;         /* required; outlives the proxy */
        int netns_fd;                 /* the VM's network namespace; -1: the caller's */
        proxy_policy_fn policy;       /* required */
        void *policy_ctx;
        proxy_handoff_fn handoff;     /* NULL: the policy never hands off */
        void *handoff_ctx;
        proxy_observe_fn observe;     /* NULL: connections are not observed */
        void *observe_ctx;
        struct net_reporter *reporter; /* NULL: denials are not reported */
        uint16_t port;                /* the listener's port on 127.0.0.1; 0: any free one */
        unsigned max_conns;           /* 0: PROXY_DEFAULT_MAX_CONNS */
        unsigned peek_ms;             /* the first bytes' deadline; 0: PROXY_DEFAULT_PEEK_MS */
        unsigned idle_ms;             /* a relayed connection with no traffic either way; 0: default */
};

struct proxy;

/* Creates the listener in the namespace and serves it. */
int proxy_new(const struct proxy_config *cfg, struct proxy **ret, struct ak_error *err);

/* The listener's port (to redirect to). */
uint16_t proxy_port(const struct proxy *p);

/* Connections held now. Thread-safe. */
unsigned proxy_conns(struct proxy *p);

/* Removes every registration from the loop, closes every socket and frees
 * p, synchronously. Must not be called from the loop's thread. NULL: no-op. */
void proxy_free(struct proxy *p);

/* The nft rules that send the namespace's TCP connections to ports[] to
 * the proxy at port (IPv4; the namespace has no IPv6 route): a table
 * "inet ak_proxy" with a nat output chain, text for `nft -f` (*ret_table,
 * malloc'd), and the one line (*ret_accept, malloc'd, with its tab and
 * newline) that the namespace's filter output chain must hold before its
 * `oifname "lo" drop`, or redirected connections (which go to 127.0.0.1)
 * are dropped there. Connections the redirect did not make (a guest aiming
 * at 10.0.2.2, which slirp maps to 127.0.0.1) still are. 0 or -EINVAL (no
 * ports, or a port 0) / -ENOMEM. */
int proxy_nft_rules(uint16_t port, const uint16_t *ports, size_t n_ports, char **ret_table, char **ret_accept);

#ifdef __cplusplus
}
#endif
