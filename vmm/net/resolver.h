/* A VM's DNS resolver, on the host side, served by the shared netloop.
 *
 * It listens on UDP and TCP in the VM's network namespace (127.0.0.1:53 there,
 * where slirp sends what the guest asks of 10.0.2.3: the jail's resolv.conf
 * names 127.0.0.1, and libslirp falls back to 127.0.0.1 when it has none),
 * and forwards allowed queries to upstream resolvers over sockets made in
 * the host's namespace (so the host's own 127.0.0.53 is reachable).
 *
 * Policy, per question name (lowercase):
 *   - matches allow: forwarded; the answer's addresses (through CNAMEs) are
 *     handed to on_addrs(ALLOW) so the VM's rules accept them;
 *   - matches deny and not allow, or matches nothing while deny_unlisted:
 *     answered NXDOMAIN and reported (NET_EVENT_DNS, rule "egress.domain").
 *     A name denied by a rule (not unlisted) is still resolved upstream and
 *     its addresses handed to on_addrs(DENY), so its IPs are dropped too.
 *     NXDOMAIN rather than REFUSED: a stub takes NXDOMAIN as final, while
 *     REFUSED sends it on to its other servers and search domains and
 *     reads as a broken resolver;
 *   - otherwise forwarded, addresses left to the CIDR rules.
 * Addresses in blocked (always-denied, private and operator CIDRs) are
 * never answered: the guest gets the answer without them (reported,
 * rule "dns-rebinding"), so a name cannot open them.
 *
 * The guest sees only what we rebuild (dns_msg_build_answer): the question,
 * the CNAME chain and the kept addresses. Upstream ids are random
 * (getrandom), a reply must come from the upstream asked, on the socket
 * made for that query, with its id and question. At most max_pending
 * queries per VM are in flight (more are answered SERVFAIL), each for at
 * most timeout_ms (then the next upstream is tried once, then SERVFAIL).
 *
 * TCP (slirp turns the guest's TCP to 10.0.2.3:53 into a connection to
 * 127.0.0.1:53): at most RESOLVER_MAX_TCP connections, one query at a time
 * each, idle ones closed after 10 s; asked upstream over UDP like the rest.
 * Record types other than A, AAAA and CNAME are not passed on.
 *
 * Threads: new/free from any thread but not from the loop's; everything
 * else runs on the loop. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/base/error.h"
#include "vmm/net/dns_msg.h"
#include "vmm/net/net_event.h"
#include "vmm/net/netloop.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RESOLVER_MAX_UPSTREAMS 8
#define RESOLVER_DEFAULT_PENDING 128
#define RESOLVER_DEFAULT_TIMEOUT_MS 2000
#define RESOLVER_MAX_TCP 8 /* guest TCP connections at once, per VM */

enum resolver_verdict { RESOLVER_ALLOW = 1, RESOLVER_DENY };

struct resolver_upstream {
        struct sockaddr_storage addr;
        socklen_t len;
};

/* Addresses to add to the VM's allow or deny set for at least ttl seconds. */
typedef void (*resolver_addrs_fn)(void *ctx, enum resolver_verdict v, const struct dns_addr *addrs, size_t n);

struct resolver_config {
        struct netloop *loop;
        int netns_fd;                /* the VM's namespace; -1: the caller's (tests) */
        uint16_t port;               /* 53; 0: any (tests read resolver_port) */
        const struct resolver_upstream *upstreams;
        size_t n_upstreams;          /* 1..RESOLVER_MAX_UPSTREAMS */
        const char *const *allow;    /* canonical domain rules (domain_rule_parse) */
        size_t n_allow;
        const char *const *deny;
        size_t n_deny;
        bool deny_unlisted;          /* names matching no allow rule are refused, not asked upstream */
        const char *const *blocked;  /* canonical CIDRs never answered */
        size_t n_blocked;
        struct net_reporter *reporter; /* NULL: none */
        resolver_addrs_fn on_addrs;  /* NULL: none */
        void *ctx;
        unsigned max_pending;        /* 0: RESOLVER_DEFAULT_PENDING */
        unsigned timeout_ms;         /* 0: RESOLVER_DEFAULT_TIMEOUT_MS */
};

struct resolver;

/* "ADDR", "ADDR:PORT", "[V6]:PORT" (port 53 by default) into u: 0 or
 * -EINVAL with err naming text. */
int resolver_upstream_parse(const char *text, struct resolver_upstream *u, struct ak_error *err);

/* The upstreams of a resolv.conf text (loopback ones included: we ask them
 * from the host's namespace): the count, up to max. */
size_t resolver_upstreams_from_resolv_conf(const char *text, struct resolver_upstream *out, size_t max);

/* Binds UDP and TCP 127.0.0.1:port in cfg->netns_fd and starts serving. cfg's arrays
 * must outlive the resolver. */
int resolver_new(const struct resolver_config *cfg, struct resolver **ret, struct ak_error *err);

/* The port it listens on (UDP and TCP). */
uint16_t resolver_port(const struct resolver *r);

/* Stops serving (synchronous), closes every socket. NULL: no-op. */
void resolver_free(struct resolver *r);

#ifdef __cplusplus
}
#endif
