/* See executor_netaudit.h. */
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protos/ak/v1/audit.pb-c.h"
#include "services/executor/executor_audit.h"
#include "services/executor/executor_netaudit.h"
#include "services/executor/executor_state.h"
#include "vmm/net/net_event.h"

struct net_audit {
        struct net_audit *next;         /* ex->net_audits, under ex->lock */
        struct vmbox *box;
        struct executor *ex;
        struct net_reporter rep;
        pthread_mutex_t lock;           /* the names below */
        char sandbox[64], tenant[64];
};

static const char *protocol_name(int p)
{
        switch (p) {
        case IPPROTO_TCP:
                return "tcp";
        case IPPROTO_UDP:
                return "udp";
        case IPPROTO_ICMP:
                return "icmp";
        case IPPROTO_ICMPV6:
                return "icmpv6";
        default:
                return NULL;
        }
}

static const char *kind_name(enum net_event_kind k)
{
        switch (k) {
        case NET_EVENT_DNS:
                return "dns";
        case NET_EVENT_TLS_SNI:
                return "tls_sni";
        case NET_EVENT_HTTP_HOST:
                return "http_host";
        default:
                return "connect";
        }
}

/* A JSON string of text that holds no quote, backslash or control byte
 * (ours, or net_event's sanitized fields); others are replaced by '?'. */
static void json_str(char *out, size_t size, const char *s)
{
        size_t n = 0;
        for (; *s && n + 1 < size; s++)
                out[n++] = (unsigned char)*s < 0x20 || *s == '"' || *s == '\\' ? '?' : *s;
        out[n] = 0;
}

void net_audit_attributes(const char *dst, unsigned port, int protocol, const char *rule, const char *name,
                          uint64_t suppressed, char *buf, size_t size)
{
        char d[64], r[64], nm[260], proto[16];
        json_str(d, sizeof(d), dst);
        json_str(r, sizeof(r), rule);
        json_str(nm, sizeof(nm), name ? name : "");
        const char *pn = protocol_name(protocol);
        if (pn)
                snprintf(proto, sizeof(proto), "\"%s\"", pn);
        else
                snprintf(proto, sizeof(proto), "%d", protocol);
        snprintf(buf, size,
                 "{\"destination\":\"%s\",\"name\":\"%s\",\"port\":%u,\"protocol\":%s,\"rule\":\"%s\","
                 "\"suppressed\":%llu}",
                 d, nm, port, proto, r, (unsigned long long)suppressed);
}

/* On the network loop's thread: one denial passed on by the reporter. */
static void on_denied(void *ctx, const struct net_event *ev)
{
        struct net_audit *a = ctx;
        char sandbox[64], tenant[64], attrs[512], action[32];
        pthread_mutex_lock(&a->lock);
        memcpy(sandbox, a->sandbox, sizeof(sandbox));
        memcpy(tenant, a->tenant, sizeof(tenant));
        pthread_mutex_unlock(&a->lock);
        net_audit_attributes(ev->dst, ev->dst_port, ev->protocol, ev->rule, ev->name, ev->suppressed, attrs,
                             sizeof(attrs));
        snprintf(action, sizeof(action), "%s", kind_name(ev->kind));
        /* Never blocks (audit_queue_push); a full queue counts the loss. */
        (void)audit_emit_tenant(a->ex, NULL, tenant[0] ? tenant : NULL, "network_denied", action,
                                AK__V1__EVENT_OUTCOME__EVENT_OUTCOME_DENY, sandbox[0] ? sandbox : NULL, attrs);
}

struct net_audit *net_audit_new(struct executor *ex)
{
        struct net_audit *a = calloc(1, sizeof(*a));
        if (!a)
                return NULL;
        a->ex = ex;
        pthread_mutex_init(&a->lock, NULL);
        net_reporter_init(&a->rep, on_denied, a, 0, 0);
        return a;
}

struct net_reporter *net_audit_reporter(struct net_audit *a)
{
        return a ? &a->rep : NULL;
}

void net_audit_attach(struct executor *ex, struct net_audit *a, struct vmbox *box)
{
        if (!a)
                return;
        pthread_mutex_lock(&ex->lock);
        a->box = box;
        a->next = ex->net_audits;
        ex->net_audits = a;
        pthread_mutex_unlock(&ex->lock);
}

void net_audit_assign(struct executor *ex, struct vmbox *box, const char *sandbox, const char *tenant)
{
        pthread_mutex_lock(&ex->lock);
        for (struct net_audit *a = ex->net_audits; a; a = a->next)
                if (a->box == box) {
                        pthread_mutex_lock(&a->lock);
                        snprintf(a->sandbox, sizeof(a->sandbox), "%s", sandbox);
                        snprintf(a->tenant, sizeof(a->tenant), "%s", tenant ? tenant : "");
                        pthread_mutex_unlock(&a->lock);
                        break;
                }
        pthread_mutex_unlock(&ex->lock);
}

void net_audit_release(struct executor *ex, struct net_audit *a, struct vmbox *box)
{
        pthread_mutex_lock(&ex->lock);
        for (struct net_audit **p = &ex->net_audits; *p; p = &(*p)->next)
                if ((!a && (*p)->box == box) || (a && *p == a)) {
                        a = *p;
                        *p = a->next;
                        break;
                }
        if (a) {
                ex->net_denied_past += net_reporter_denied(&a->rep);
                ex->net_overruns_past += net_reporter_overruns(&a->rep);
        }
        pthread_mutex_unlock(&ex->lock);
        if (!a)
                return;
        net_reporter_destroy(&a->rep);
        pthread_mutex_destroy(&a->lock);
        free(a);
}

uint64_t net_audit_denied_total_locked(struct executor *ex)
{
        uint64_t n = ex->net_denied_past;
        for (struct net_audit *a = ex->net_audits; a; a = a->next)
                n += net_reporter_denied(&a->rep);
        return n;
}

uint64_t net_audit_overruns_total_locked(struct executor *ex)
{
        uint64_t n = ex->net_overruns_past;
        for (struct net_audit *a = ex->net_audits; a; a = a->next)
                n += net_reporter_overruns(&a->rep);
        return n;
}

static struct net_audit *find_locked(struct executor *ex, const char *sandbox)
{
        for (struct net_audit *a = ex->net_audits; a; a = a->next) {
                pthread_mutex_lock(&a->lock);
                bool match = strcmp(a->sandbox, sandbox) == 0;
                pthread_mutex_unlock(&a->lock);
                if (match)
                        return a;
        }
        return NULL;
}

uint64_t net_audit_denied_locked(struct executor *ex, const char *sandbox, uint64_t *ret_overruns)
{
        struct net_audit *a = find_locked(ex, sandbox);
        *ret_overruns = a ? net_reporter_overruns(&a->rep) : 0;
        return a ? net_reporter_denied(&a->rep) : 0;
}
