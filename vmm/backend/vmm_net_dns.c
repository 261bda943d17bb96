#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/io.h"
#include "vmm/backend/vmm_net_dns.h"
#include "vmm/net/netloop.h"
#include "vmm/net/nft_sets.h"
#include "vmm/net/resolver.h"

#define SYSTEMD_UPSTREAMS "/run/systemd/resolve/resolv.conf"

struct vmm_net_dns {
        struct resolver *res;
        struct nft_sets *sets;
        struct resolver_upstream ups[RESOLVER_MAX_UPSTREAMS];
        char (*blocked)[64];
        const char **blocked_p;
        char **names;         /* allow names then deny names, copied */
};

bool vmm_net_egress_has_names(const struct vmm_net_egress *e)
{
        return e && (e->n_allow_names || e->n_deny_names);
}

bool vmm_net_egress_denies_all(const struct vmm_net_egress *e)
{
        for (size_t i = 0; e && i < e->n_deny; i++)
                if (strcmp(e->deny[i], "0.0.0.0/0") == 0 || strcmp(e->deny[i], "::/0") == 0)
                        return true;
        return false;
}

static size_t upstreams_from_file(const char *path, struct resolver_upstream *out)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        char buf[8192];
        ssize_t n = fd >= 0 ? ak_read_full(fd, buf, sizeof(buf) - 1) : -1;
        if (n < 0)
                return 0;
        buf[n] = 0;
        return resolver_upstreams_from_resolv_conf(buf, out, RESOLVER_MAX_UPSTREAMS);
}

static int upstreams(const struct vmm_net_config *cfg, struct resolver_upstream *out, size_t *n,
                     struct ak_error *err)
{
        int r;
        if (cfg->n_dns_upstreams > RESOLVER_MAX_UPSTREAMS)
                return ak_error_set(err, -E2BIG, "VM resolver: more than %d --dns-upstream", RESOLVER_MAX_UPSTREAMS);
        for (size_t i = 0; i < cfg->n_dns_upstreams; i++)
                if ((r = resolver_upstream_parse(cfg->dns_upstreams[i], &out[i], err)) < 0)
                        return r;
        *n = cfg->n_dns_upstreams;
        /* The host's own resolvers, loopback ones too (we ask from the
         * host's namespace): systemd-resolved's 127.0.0.53 keeps its split
         * DNS and caching. */
        if (!*n)
                *n = upstreams_from_file("/etc/resolv.conf", out);
        if (!*n)
                *n = upstreams_from_file(SYSTEMD_UPSTREAMS, out);
        return 0;
}

/* The resolver's on_addrs: into the VM's allow_dyn or deny_dyn sets. A
 * failure leaves the address out of allow_dyn: it stays denied (fails
 * closed); a deny_dyn miss leaves it to the CIDR rules. */
static void on_addrs(void *ctx, enum resolver_verdict v, const struct dns_addr *addrs, size_t n)
{
        struct vmm_net_dns *d = ctx;
        (void)nft_sets_add(d->sets, v == RESOLVER_ALLOW ? "allow_dyn" : "deny_dyn", addrs, n, NULL);
}

static int copy_names(struct vmm_net_dns *d, const struct vmm_net_egress *e)
{
        size_t n = e->n_allow_names + e->n_deny_names;
        if (!(d->names = calloc(n + 1, sizeof(char *))))
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *s = i < e->n_allow_names ? e->allow_names[i] : e->deny_names[i - e->n_allow_names];
                if (!(d->names[i] = strdup(s)))
                        return -ENOMEM;
        }
        return 0;
}

int vmm_net_dns_start(const struct vmm_net_config *cfg, int netns_fd, const char *const *blocked, size_t n_blocked,
                      struct vmm_net_dns **ret, struct ak_error *err)
{
        const struct vmm_net_egress *e = cfg->egress;
        struct netloop *loop;
        size_t n_ups = 0;
        int r;
        *ret = NULL;
        struct vmm_net_dns *d = calloc(1, sizeof(*d));
        if (!d)
                return ak_error_set(err, -ENOMEM, "out of memory");
        if ((r = upstreams(cfg, d->ups, &n_ups, err)) < 0)
                goto fail;
        if (!n_ups) {
                free(d);
                return 0;
        }
        if (!(d->blocked = calloc(n_blocked + 1, sizeof(*d->blocked))) ||
            !(d->blocked_p = calloc(n_blocked + 1, sizeof(char *))) || (e && copy_names(d, e) < 0)) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < n_blocked; i++) {
                snprintf(d->blocked[i], sizeof(d->blocked[i]), "%s", blocked[i]);
                d->blocked_p[i] = d->blocked[i];
        }
        bool names = vmm_net_egress_has_names(e);
        if (names && (r = nft_sets_new(netns_fd, &d->sets, err)) < 0)
                goto fail;
        if ((r = netloop_shared(&loop, err)) < 0)
                goto fail;
        struct resolver_config rc = {
                .loop = loop,
                .netns_fd = netns_fd,
                .port = 53,
                .upstreams = d->ups,
                .n_upstreams = n_ups,
                .allow = (const char *const *)d->names,
                .n_allow = e ? e->n_allow_names : 0,
                .deny = d->names ? (const char *const *)d->names + e->n_allow_names : NULL,
                .n_deny = e ? e->n_deny_names : 0,
                .deny_unlisted = vmm_net_egress_denies_all(e),
                .blocked = d->blocked_p,
                .n_blocked = n_blocked,
                .reporter = cfg->reporter,
                .on_addrs = names ? on_addrs : NULL,
                .ctx = d,
        };
        if ((r = resolver_new(&rc, &d->res, err)) < 0)
                goto fail;
        *ret = d;
        return 0;
fail:
        vmm_net_dns_free(d);
        return r;
}

void vmm_net_dns_free(struct vmm_net_dns *d)
{
        if (!d)
                return;
        resolver_free(d->res);
        nft_sets_free(d->sets);
        for (size_t i = 0; d->names && d->names[i]; i++)
                free(d->names[i]);
        free(d->names);
        free(d->blocked_p);
        free(d->blocked);
        free(d);
}
