/* What a VM's network refused, as its host-side parts (the nftables denial
 * log, the DNS resolver, the SNI/Host proxy) report it: one event per
 * refusal, counted always, passed on to the owner's callback at most at a
 * rate per VM, so a guest that floods refused connections cannot flood the
 * audit spool (the events it loses are counted in the next one passed on).
 *
 * Thread-safe: reporters run on the network loop and other threads. */
#pragma once

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum net_event_kind {
        NET_EVENT_CONNECT = 1, /* a packet or connection to a denied address or port */
        NET_EVENT_DNS,         /* a name the policy denies, asked of the VM's resolver */
        NET_EVENT_TLS_SNI,     /* a TLS ClientHello naming a denied host */
        NET_EVENT_HTTP_HOST,   /* an HTTP request naming a denied host */
};

struct net_event {
        enum net_event_kind kind;
        int protocol;                   /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, ...; 0 unknown */
        char dst[INET6_ADDRSTRLEN];     /* "" when there is no address (a DNS name) */
        uint16_t dst_port;              /* 0 when none */
        char name[256];                 /* the DNS name, SNI or Host; "" when none */
        char rule[64];                  /* the rule that refused it: "loopback", "host", "link-local",
                                         * "private", "operator-deny", "egress.deny", "egress.ports",
                                         * "egress.domain", ... */
        uint64_t suppressed;            /* events not passed on (rate) since the previous one passed on */
};

typedef void (*net_event_fn)(void *ctx, const struct net_event *ev);

/* A VM's event counter and rate limit (a token bucket). */
struct net_reporter {
        net_event_fn fn; /* NULL: count only */
        void *ctx;
        pthread_mutex_t lock;
        double tokens, rate, burst;
        uint64_t last_ns;
        uint64_t denied;     /* every event reported */
        uint64_t passed;     /* those passed on to fn */
        uint64_t suppressed; /* those not, since the last passed on */
        uint64_t overruns;   /* a source lost events it cannot count (net_reporter_overrun) */
};

#define NET_EVENT_DEFAULT_RATE 20  /* events per second per VM passed on */
#define NET_EVENT_DEFAULT_BURST 50

/* rate per second, burst: 0 take the defaults above. */
void net_reporter_init(struct net_reporter *r, net_event_fn fn, void *ctx, unsigned rate, unsigned burst);
void net_reporter_destroy(struct net_reporter *r);

/* Counts ev and passes it on (with ev->suppressed filled in) when the rate
 * allows. Returns 1 when passed on, 0 when only counted. */
int net_report(struct net_reporter *r, struct net_event *ev);

/* Every denial reported so far (passed on or not). */
uint64_t net_reporter_denied(struct net_reporter *r);

/* A source lost denials it cannot count (the denial log's socket
 * overflowed): from then on net_reporter_denied is a lower bound. */
void net_reporter_overrun(struct net_reporter *r);
uint64_t net_reporter_overruns(struct net_reporter *r);

#ifdef __cplusplus
}
#endif
