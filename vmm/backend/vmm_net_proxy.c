/* See vmm_net_proxy.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/backend/vmm_net_inject.h"
#include "vmm/backend/vmm_net_proxy.h"
#include "vmm/backend/vmm_net_sys.h"
#include "vmm/net/domain.h"
#include "vmm/net/netloop.h"
#include "vmm/net/proxy.h"

struct vmm_net_proxy {
        struct proxy *proxy;
        struct vmm_net_inject *inject; /* with secrets */
        const struct vmm_net_secrets *hooks; /* with proxy hooks: their on_request */
        struct vmm_net_egress e;     /* points into the copies below */
        char **strs;                 /* every copied string, NULL-terminated */
        const char **allow, **deny, **allow_names, **deny_names, **op;
        size_t n_op;
};

static bool in_any(const char *addr, const char *const *cidrs, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (vmm_net_cidr_overlaps(addr, cidrs[i]) == 1)
                        return true;
        return false;
}

/* Whether the namespace's CIDR rules alone let dst out (see the header). */
static bool cidrs_admit(const struct vmm_net_egress *e, const char *const *op, size_t n_op, const char *dst)
{
        char a[64];
        if (snprintf(a, sizeof(a), "%s/%d", dst, strchr(dst, ':') ? 128 : 32) >= (int)sizeof(a))
                return false;
        if (e && in_any(a, e->allow, e->n_allow))
                return true;
        if (e && in_any(a, e->deny, e->n_deny))
                return false;
        if (in_any(a, vmm_net_private_ranges, vmm_net_n_private_ranges))
                return false;
        return !in_any(a, op, n_op);
}

int vmm_net_proxy_decide(const struct vmm_net_egress *e, const char *const *operator_deny, size_t n_operator_deny,
                         const char *name, const char *dst)
{
        bool allowed_name = name && e && domain_match_any(e->allow_names, e->n_allow_names, name);
        if (name && !allowed_name && e && domain_match_any(e->deny_names, e->n_deny_names, name))
                return 0;
        if (!cidrs_admit(e, operator_deny, n_operator_deny, dst))
                return allowed_name ? 1 : 0;
        return 1;
}

static int policy(void *ctx, const struct proxy_request *req, char rule[PROXY_RULE_MAX])
{
        struct vmm_net_proxy *p = ctx;
        if (p->inject && vmm_net_inject_screen(p->inject, req, rule) == 0)
                return 0;
        if (!vmm_net_proxy_decide(&p->e, p->op, p->n_op, req->name, req->dst_text)) {
                snprintf(rule, PROXY_RULE_MAX, "egress.domain");
                return 0;
        }
        return p->inject && vmm_net_inject_wants(p->inject, req) ? PROXY_HANDOFF : 1;
}

/* proxy_observe_fn: what the proxy carried or refused, to the hooks. */
static void observe(void *ctx, const struct proxy_flow *f)
{
        struct vmm_net_proxy *p = ctx;
        struct vmm_net_request_event ev = {
                .host = f->name ? f->name : f->dst_text,
                .port = f->dst_port,
                .method = f->method,
                .path = f->path,
                .rule = f->refused,
                .status = f->status,
                .request_bytes = f->to_server,
                .response_bytes = f->to_guest,
                .duration_ms = f->duration_ms,
                .outcome = f->refused ? "refused" : f->proto == SNIFF_TLS ? "tunneled" : "done",
        };
        p->hooks->on_request(p->hooks->ctx, &ev);
}

/* Copies n strings into a fresh pointer array, each also kept in p->strs. */
static const char **copy(struct vmm_net_proxy *p, size_t *k, const char *const *src, size_t n)
{
        const char **out = calloc(n + 1, sizeof(char *));
        for (size_t i = 0; out && i < n; i++) {
                if (!(p->strs[*k] = strdup(src[i])))
                        return out; /* counted as a failure by the caller */
                out[i] = p->strs[(*k)++];
        }
        return out;
}

static int copy_policy(struct vmm_net_proxy *p, const struct vmm_net_egress *e, const char *const *op, size_t n_op)
{
        static const char *const none[1] = { NULL };
        struct vmm_net_egress z = { 0 };
        if (!e)
                e = &z;
        size_t total = e->n_allow + e->n_deny + e->n_allow_names + e->n_deny_names + n_op, k = 0;
        if (!(p->strs = calloc(total + 1, sizeof(char *))))
                return -ENOMEM;
        p->allow = copy(p, &k, e->allow ? e->allow : none, e->n_allow);
        p->deny = copy(p, &k, e->deny ? e->deny : none, e->n_deny);
        p->allow_names = copy(p, &k, e->allow_names ? e->allow_names : none, e->n_allow_names);
        p->deny_names = copy(p, &k, e->deny_names ? e->deny_names : none, e->n_deny_names);
        p->op = copy(p, &k, op ? op : none, n_op);
        if (!p->allow || !p->deny || !p->allow_names || !p->deny_names || !p->op || k != total)
                return -ENOMEM;
        p->n_op = n_op;
        p->e = (struct vmm_net_egress){ .allow = p->allow, .n_allow = e->n_allow, .deny = p->deny,
                                        .n_deny = e->n_deny, .allow_names = p->allow_names,
                                        .n_allow_names = e->n_allow_names, .deny_names = p->deny_names,
                                        .n_deny_names = e->n_deny_names };
        return 0;
}

static int load_table(const struct vmm_net_config *cfg, int netns_fd, struct ak_error *err)
{
        static const uint16_t ports[] = { 80, 443 };
        char *table = NULL, *accept = NULL, path[PATH_MAX], ns[80];
        int r = proxy_nft_rules(VMM_NET_PROXY_PORT, ports, 2, &table, &accept);
        if (r < 0)
                return ak_error_errno(err, r, "VM network: the proxy's rules");
        snprintf(ns, sizeof(ns), "--net=/proc/%d/fd/%d", (int)getpid(), netns_fd);
        if ((r = vmm_net_write_file(cfg->work_dir, "net-proxy.nft", table, path, err)) == 0)
                r = vmm_net_run((const char *const[]){ "nsenter", ns, "nft", "-f", path, NULL }, err);
        free(table);
        free(accept);
        return r;
}

int vmm_net_proxy_start(const struct vmm_net_config *cfg, int netns_fd, const char *const *operator_deny,
                        size_t n_operator_deny, struct vmm_net_proxy **ret, struct ak_error *err)
{
        struct netloop *loop;
        int r;
        struct vmm_net_proxy *p = calloc(1, sizeof(*p));
        if (!p || copy_policy(p, cfg->egress, operator_deny, n_operator_deny) < 0) {
                vmm_net_proxy_free(p);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        struct proxy_config pc = {
                .netns_fd = netns_fd,
                .policy = policy,
                .policy_ctx = p,
                .reporter = cfg->reporter,
                .port = VMM_NET_PROXY_PORT,
        };
        if (cfg->secrets && cfg->secrets->on_request) {
                p->hooks = cfg->secrets;
                pc.observe = observe;
                pc.observe_ctx = p;
        }
        if (cfg->secrets && cfg->secrets->set) {
                if ((r = vmm_net_inject_new(cfg->secrets, netns_fd, cfg->reporter, &p->inject, err)) < 0)
                        goto fail;
                pc.handoff = vmm_net_inject_handoff;
                pc.handoff_ctx = p->inject;
        }
        if ((r = netloop_shared(&loop, err)) < 0)
                goto fail;
        pc.loop = loop;
        if ((r = proxy_new(&pc, &p->proxy, err)) < 0) {
                ak_error_wrap(err, "VM network: the domain rules' proxy");
                goto fail;
        }
        if ((r = load_table(cfg, netns_fd, err)) < 0)
                goto fail;
        *ret = p;
        return 0;
fail:
        vmm_net_proxy_free(p);
        return r;
}

void vmm_net_proxy_free(struct vmm_net_proxy *p)
{
        if (!p)
                return;
        proxy_free(p->proxy); /* no handoff after this */
        vmm_net_inject_free(p->inject);
        for (size_t i = 0; p->strs && p->strs[i]; i++)
                free(p->strs[i]);
        free(p->strs);
        free(p->allow);
        free(p->deny);
        free(p->allow_names);
        free(p->deny_names);
        free(p->op);
        free(p);
}
