/* See vmm_net.h for the design. The parent does everything here, before
 * QEMU's fork: a helper thread makes the namespace (unshare(CLONE_NEWNET)
 * changes only the calling thread, and the executor has other threads),
 * ip(8) and nft(8) configure it through nsenter(1) by /proc/<pid>/fd/<fd>,
 * so no name under /run/netns is ever made (nothing to leak). The child only
 * calls setns(2) (vmm_jail_enter). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/backend/vmm_net_dns.h"
#include "vmm/backend/vmm_net_proxy.h"
#include "vmm/backend/vmm_net_sys.h"
#include "vmm/net/domain.h"
#include "vmm/net/nflog.h"

#define MAX_BLOCKED (VMM_NET_MAX_HOST_ADDRS + VMM_NET_MAX_DENY + 16)

struct vmm_net {
        int netns_fd;
        char ifname[IFNAMSIZ];
        char resolv_conf[PATH_MAX];
        struct nflog *log; /* the denial log's reader, with a reporter */
        struct vmm_net_dns *dns;
        struct vmm_net_proxy *proxy; /* with domain rules */
};

/* Takes the first free slot from a pid-dependent start: 0 with the host end
 * named and created, its peer "eth0" in the namespace. */
static int make_veth(struct vmm_net *n, const struct vmm_net_pool *p, unsigned *ret_slot, struct ak_error *err)
{
        unsigned slots = 1u << (30 - p->prefix), start = (unsigned)getpid() % slots;
        char ns[64];
        snprintf(ns, sizeof(ns), "/proc/%d/fd/%d", (int)getpid(), n->netns_fd);
        for (unsigned k = 0; k < slots; k++) {
                unsigned slot = (start + k) % slots;
                snprintf(n->ifname, sizeof(n->ifname), "akv%u", slot);
                if (if_nametoindex(n->ifname))
                        continue;
                const char *argv[] = { "ip", "link", "add", n->ifname, "type", "veth", "peer", "name", "eth0",
                                       "netns", ns, NULL };
                int r = vmm_net_run(argv, err);
                if (r == -EEXIST)
                        continue;
                if (r < 0) {
                        n->ifname[0] = 0;
                        return r;
                }
                *ret_slot = slot;
                return 0;
        }
        n->ifname[0] = 0;
        return ak_error_set(err, -EADDRNOTAVAIL, "VM network pool %s: all %u /30s in use", p->cidr, slots);
}

static int configure(struct vmm_net *n, const struct vmm_net_pool *p, unsigned slot, const char *dir, const char *rules,
                     struct ak_error *err)
{
        char h[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN], text[512], path[PATH_MAX], nft_path[PATH_MAX], ns[80];
        int r;
        vmm_net_pool_addr(p, slot, 1, h);
        vmm_net_pool_addr(p, slot, 2, g);
        snprintf(text, sizeof(text), "addr add %s/30 dev %s\nlink set %s up\n", h, n->ifname, n->ifname);
        if ((r = vmm_net_write_file(dir, "net-host.ip", text, path, err)) < 0 ||
            (r = vmm_net_run((const char *const[]){ "ip", "-batch", path, NULL }, err)) < 0)
                return r;
        snprintf(ns, sizeof(ns), "--net=/proc/%d/fd/%d", (int)getpid(), n->netns_fd);
        /* addrgenmode none: no IPv6 link-local address on eth0, so the
         * namespace's own kernel sends no router solicitations, MLD reports
         * or DAD probes, which its rules would deny and audit as the VM's
         * (the pool is IPv4; slirp's IPv6 never had a route here). */
        snprintf(text, sizeof(text), "link set lo up\nlink set eth0 addrgenmode none\naddr add %s/30 dev eth0\n"
                 "link set eth0 up\nroute add default via %s\n", g, h);
        if ((r = vmm_net_write_file(dir, "net-ns.ip", text, path, err)) < 0 ||
            (r = vmm_net_run((const char *const[]){ "nsenter", ns, "ip", "-batch", path, NULL }, err)) < 0)
                return r;
        if ((r = vmm_net_write_file(dir, "net-ns.nft", rules, nft_path, err)) < 0)
                return r;
        return vmm_net_run((const char *const[]){ "nsenter", ns, "nft", "-f", nft_path, NULL }, err);
}

/* What the resolver never answers: what the namespace always drops, and
 * the private and operator ranges unless the sandbox may re-open them. */
static size_t blocked_cidrs(const struct vmm_net_config *cfg, const char *pool, const char *const *host,
                            size_t n_host, const char *const *deny, const char **out)
{
        size_t n = 0;
        for (size_t i = 0; i < vmm_net_n_always_denied; i++)
                out[n++] = vmm_net_always_denied[i];
        out[n++] = pool;
        for (size_t i = 0; i < n_host; i++)
                out[n++] = host[i];
        if (cfg->allow_private)
                return n;
        for (size_t i = 0; i < vmm_net_n_private_ranges; i++)
                out[n++] = vmm_net_private_ranges[i];
        for (size_t i = 0; i < cfg->n_deny_cidrs; i++)
                out[n++] = deny[i];
        return n;
}

/* The VM's resolver and the resolv.conf naming it. */
static int start_dns(struct vmm_net *n, const struct vmm_net_config *cfg, const char *const *blocked,
                     size_t n_blocked, struct ak_error *err)
{
        int r;
        if ((r = vmm_net_dns_start(cfg, n->netns_fd, blocked, n_blocked, &n->dns, err)) < 0 || !n->dns)
                return r;
        if ((r = vmm_net_write_file(cfg->work_dir, "net-resolv.conf", "nameserver 127.0.0.1\n", n->resolv_conf, err)) < 0)
                return r;
        /* QEMU reads it as its own uid. */
        if (chmod(n->resolv_conf, 0644) < 0)
                return ak_error_errno(err, -errno, "VM network: chmod %s", n->resolv_conf);
        return 0;
}

static int check_names(const struct vmm_net_egress *e, struct ak_error *err)
{
        char canon[DOMAIN_MAX + 1];
        if (!e)
                return 0;
        if (e->n_allow + e->n_allow_names > VMM_NET_MAX_EGRESS || e->n_deny + e->n_deny_names > VMM_NET_MAX_EGRESS)
                return ak_error_set(err, -E2BIG, "VM network: more than %d egress entries in a list",
                                    VMM_NET_MAX_EGRESS);
        for (size_t i = 0; i < e->n_allow_names; i++)
                if (domain_rule_parse(e->allow_names[i], canon, sizeof(canon), err) < 0)
                        return ak_error_wrap(err, "egress.allow");
        for (size_t i = 0; i < e->n_deny_names; i++)
                if (domain_rule_parse(e->deny_names[i], canon, sizeof(canon), err) < 0)
                        return ak_error_wrap(err, "egress.deny");
        return 0;
}

/* What setup and adopt both check: the pool, the operator's denied CIDRs
 * (canonical, into deny/deny_ptrs) and the sandbox's egress policy. */
static int check_config(const struct vmm_net_config *cfg, struct vmm_net_pool *p, char (*deny)[64],
                        const char **deny_ptrs, struct vmm_net_egress *with_proxy, const struct vmm_net_egress **ret_e,
                        struct ak_error *err)
{
        int r;
        if ((r = vmm_net_pool_parse(cfg->pool ? cfg->pool : VMM_NET_DEFAULT_POOL, p, err)) < 0)
                return r;
        if (cfg->n_deny_cidrs > VMM_NET_MAX_DENY)
                return ak_error_set(err, -E2BIG, "VM network: more than %d denied CIDRs", VMM_NET_MAX_DENY);
        for (size_t i = 0; i < cfg->n_deny_cidrs; i++) {
                if ((r = vmm_net_cidr_parse(cfg->deny_cidrs[i], deny[i], 64, err)) < 0)
                        return r;
                deny_ptrs[i] = deny[i];
        }
        const struct vmm_net_egress *e = cfg->egress;
        bool secrets = vmm_net_secrets_proxied(cfg->secrets);
        if (secrets && cfg->tap)
                return ak_error_set(err, -EOPNOTSUPP, "VM network: secrets and proxy hooks are served by the proxy "
                                    "of QEMU's user networking; this VMM (tap mode) has none: use the QEMU backend");
        if (secrets) {
                *with_proxy = e ? *e : (struct vmm_net_egress){ 0 };
                with_proxy->proxy = true;
                e = with_proxy;
        }
        if (e && (e->n_allow > VMM_NET_MAX_EGRESS || e->n_deny > VMM_NET_MAX_EGRESS ||
                  e->n_ports > VMM_NET_MAX_EGRESS))
                return ak_error_set(err, -E2BIG, "VM network: more than %d egress entries in a list",
                                    VMM_NET_MAX_EGRESS);
        for (size_t i = 0; e && i < e->n_allow; i++)
                if ((r = vmm_net_egress_check(e->allow[i], deny_ptrs, cfg->n_deny_cidrs, cfg->allow_private,
                                              err)) < 0)
                        return ak_error_wrap(err, "egress.allow");
        for (size_t i = 0; e && i < e->n_deny; i++)
                if (vmm_net_cidr_overlaps(e->deny[i], e->deny[i]) < 0)
                        return ak_error_set(err, -EINVAL, "egress.deny %s: not a canonical CIDR", e->deny[i]);
        if ((r = check_names(e, err)) < 0)
                return r;
        for (size_t i = 0; e && i < e->n_ports; i++)
                if (e->ports[i] == 0)
                        return ak_error_set(err, -EINVAL, "egress.ports: 0 is not a port (want 1..65535)");
        *ret_e = e;
        return 0;
}

/* The user-space side in the namespace: the denial log's reader, the VM's
 * resolver, the domain rules' proxy. */
static int start_user_side(struct vmm_net *n, const struct vmm_net_config *cfg, const struct vmm_net_egress *e,
                           const char *pool, const char *const *host, size_t n_host, const char *const *deny,
                           struct ak_error *err)
{
        bool secrets = vmm_net_secrets_proxied(cfg->secrets);
        const char *blocked[MAX_BLOCKED];
        int r;
        if (cfg->reporter && (r = nflog_start(n->netns_fd, VMM_NET_NFLOG_GROUP, cfg->reporter, &n->log, err)) < 0)
                return r;
        size_t n_blocked = blocked_cidrs(cfg, pool, host, n_host, deny, blocked);
        if ((r = start_dns(n, cfg, blocked, n_blocked, err)) < 0)
                return r;
        if (cfg->tap && (r = vmm_net_tap_setup(n->netns_fd, cfg, n->dns != NULL, err)) < 0)
                return r;
        if (!cfg->tap && (vmm_net_egress_has_names(e) || secrets) &&
            (r = vmm_net_proxy_start(cfg, n->netns_fd, deny, cfg->n_deny_cidrs, &n->proxy, err)) < 0)
                return r;
        return 0;
}

int vmm_net_setup(const struct vmm_net_config *cfg, struct vmm_net **ret, struct ak_error *err)
{
        struct vmm_net_pool p;
        char (*addrs)[64] = NULL, deny[VMM_NET_MAX_DENY][64];
        const char *host_ptrs[VMM_NET_MAX_HOST_ADDRS], *deny_ptrs[VMM_NET_MAX_DENY];
        char *rules = NULL;
        size_t n_addrs = 0;
        unsigned slot = 0;
        int r;

        struct vmm_net_egress with_proxy;
        const struct vmm_net_egress *e = NULL;
        if ((r = check_config(cfg, &p, deny, deny_ptrs, &with_proxy, &e, err)) < 0)
                return r;
        struct vmm_net *n = calloc(1, sizeof(*n));
        if (!n || !(addrs = calloc(VMM_NET_MAX_HOST_ADDRS, sizeof(*addrs)))) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        n->netns_fd = -1;
        if ((r = vmm_net_host_addrs(&p, addrs, &n_addrs, err)) < 0 ||
            (r = vmm_net_pool_routes(&p, "/proc/net/route", err)) < 0)
                goto fail;
        for (size_t i = 0; i < n_addrs; i++)
                host_ptrs[i] = addrs[i];
        /* The VM's resolver serves DNS (start_dns): slirp asks it, a tap
         * guest's is DNATed to it; nothing needs port 53 to the host's. */
        if ((r = vmm_net_ns_rules(p.cidr, host_ptrs, n_addrs, deny_ptrs, cfg->n_deny_cidrs, NULL, 0, e, &rules)) < 0) {
                r = ak_error_set(err, r, "out of memory");
                goto fail;
        }
        if ((r = vmm_net_host_rules(cfg->work_dir, &p, err)) < 0)
                goto fail;
        if ((n->netns_fd = vmm_net_new_netns(err)) < 0) {
                r = n->netns_fd;
                goto fail;
        }
        if ((r = make_veth(n, &p, &slot, err)) < 0 || (r = configure(n, &p, slot, cfg->work_dir, rules, err)) < 0 ||
            (r = start_user_side(n, cfg, e, p.cidr, host_ptrs, n_addrs, deny_ptrs, err)) < 0)
                goto fail;
        free(rules);
        free(addrs);
        *ret = n;
        return 0;
fail:
        free(rules);
        free(addrs);
        vmm_net_free(n);
        return r;
}

int vmm_net_adopt(const struct vmm_net_config *cfg, int netns_fd, const char *ifname, struct vmm_net **ret,
                  struct ak_error *err)
{
        struct vmm_net_pool p;
        char (*addrs)[64] = NULL, deny[VMM_NET_MAX_DENY][64];
        const char *host_ptrs[VMM_NET_MAX_HOST_ADDRS], *deny_ptrs[VMM_NET_MAX_DENY];
        size_t n_addrs = 0;
        int r;

        struct vmm_net *n = calloc(1, sizeof(*n));
        if (!n) {
                close(netns_fd);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        n->netns_fd = netns_fd;
        if (cfg->tap) {
                r = ak_error_set(err, -EOPNOTSUPP, "VM network: a tap-mode network cannot be taken over");
                goto fail;
        }
        struct vmm_net_egress with_proxy;
        const struct vmm_net_egress *e = NULL;
        if ((r = check_config(cfg, &p, deny, deny_ptrs, &with_proxy, &e, err)) < 0)
                goto fail;
        if (!ifname || strncmp(ifname, "akv", 3) != 0 || strlen(ifname) >= sizeof(n->ifname) ||
            !if_nametoindex(ifname)) {
                r = ak_error_set(err, -ENODEV, "VM network: its host end %.32s is gone (remove the sandbox)",
                                 ifname ? ifname : "(none)");
                goto fail;
        }
        snprintf(n->ifname, sizeof(n->ifname), "%s", ifname);
        if (!(addrs = calloc(VMM_NET_MAX_HOST_ADDRS, sizeof(*addrs)))) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        if ((r = vmm_net_host_addrs(&p, addrs, &n_addrs, err)) < 0)
                goto fail;
        for (size_t i = 0; i < n_addrs; i++)
                host_ptrs[i] = addrs[i];
        /* The rules, sets and routes are the namespace's and still there;
         * only what ran in the process that made them is started again. */
        if ((r = start_user_side(n, cfg, e, p.cidr, host_ptrs, n_addrs, deny_ptrs, err)) < 0)
                goto fail;
        free(addrs);
        *ret = n;
        return 0;
fail:
        free(addrs);
        n->ifname[0] = 0; /* not ours to delete on a failed take-over */
        vmm_net_free(n);
        return r;
}

int vmm_net_netns_fd(const struct vmm_net *n)
{
        return n->netns_fd;
}

const char *vmm_net_host_ifname(const struct vmm_net *n)
{
        return n->ifname;
}

const char *vmm_net_resolv_conf(const struct vmm_net *n)
{
        return n->resolv_conf[0] ? n->resolv_conf : NULL;
}

static void stop_user_side(struct vmm_net *n)
{
        nflog_stop(n->log);
        vmm_net_proxy_free(n->proxy);
        vmm_net_dns_free(n->dns);
        n->log = NULL;
        n->proxy = NULL;
        n->dns = NULL;
}

void vmm_net_release(struct vmm_net *n)
{
        if (!n)
                return;
        stop_user_side(n);
        if (n->netns_fd >= 0)
                close(n->netns_fd);
        free(n);
}

void vmm_net_free(struct vmm_net *n)
{
        if (!n)
                return;
        nflog_stop(n->log);
        n->log = NULL;
        if (n->ifname[0]) {
                struct ak_error e = { 0 };
                (void)vmm_net_run((const char *const[]){ "ip", "link", "del", n->ifname, NULL }, &e);
        }
        vmm_net_release(n);
}
