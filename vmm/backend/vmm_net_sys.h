/* vmm_net's private helpers, shared by its files (vmm_net.c: setup and
 * teardown; vmm_net_rules.c: rule text; vmm_net_host.c: the host side;
 * vmm_net_tap.c, vmm_net_proxy.c): running ip(8)/nft(8), the files they
 * read, the rule text's building blocks. Not for other modules. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/base/error.h"

struct vmm_net_config;

/* The private and shared ranges (canonical CIDRs) the namespace drops
 * unless egress.allow re-opens them. */
extern const char *const *const vmm_net_private_ranges;
extern const size_t vmm_net_n_private_ranges;
/* Dropped whatever the sandbox's policy says (with the pool and the
 * host's addresses): loopback, link-local, multicast, reserved. */
extern const char *const *const vmm_net_always_denied;
extern const size_t vmm_net_n_always_denied;

/* Appends printf text to the malloc'd *buf (growing it): 0, -ENOMEM. */
int vmm_net_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* "ip6" for an IPv6 CIDR, else "ip" (an nft address family). */
const char *vmm_net_family(const char *cidr);

#define VMM_NET_MAX_HOST_ADDRS 256

/* The VM address pool: /30 per VM. */
struct vmm_net_pool {
        uint32_t base; /* host order */
        unsigned prefix;
        char cidr[64];
};

/* An IPv4 /16../28 CIDR into p: 0 or -EINVAL with err. */
int vmm_net_pool_parse(const char *text, struct vmm_net_pool *p, struct ak_error *err);

/* -EADDRINUSE (with the route in err) when route_file (/proc/net/route's
 * format) has a route other than a default one or a VM veth's ("akv*")
 * that overlaps the pool: with the executor in a node's network namespace
 * (Kubernetes' hostNetwork) a pool over the pod or service network would
 * steal its traffic. */
int vmm_net_pool_routes(const struct vmm_net_pool *p, const char *route_file, struct ak_error *err);

/* Slot's address number host (1: the host end, 2: the namespace's). */
void vmm_net_pool_addr(const struct vmm_net_pool *p, unsigned slot, unsigned host, char out[16]);

/* The host's addresses (/32 or /128, up to VMM_NET_MAX_HOST_ADDRS) into
 * out; -EADDRINUSE when one not on a VM's veth lies in the pool. */
int vmm_net_host_addrs(const struct vmm_net_pool *p, char (*out)[64], size_t *n, struct ak_error *err);

/* The host's tables: ip ak_net_<pool> (the pool's masquerade) and inet
 * ak_net (shared: input and VM-to-VM drops), loaded with nft -f. */
int vmm_net_host_rules(const char *dir, const struct vmm_net_pool *p, struct ak_error *err);

/* A new network namespace, made on a helper thread: its fd, or -errno. */
int vmm_net_new_netns(struct ak_error *err);

/* Runs argv (10 s at most): 0, -EEXIST when it said "File exists", else
 * -EIO with err holding its last lines. */
int vmm_net_run(const char *const *argv, struct ak_error *err);

/* Writes text to dir/name (0600, truncated), its path into path. */
int vmm_net_write_file(const char *dir, const char *name, const char *text, char path[PATH_MAX],
                       struct ak_error *err);

/* Tap mode in the namespace netns_fd (an fd of ours): the tap device with
 * the gateway address, IPv4 forwarding, vmm_net_tap_rules with the guest's
 * DNS sent to the VM's resolver on 127.0.0.1 when vm_resolver (else the
 * guest has no DNS). Files go to cfg->work_dir. */
int vmm_net_tap_setup(int netns_fd, const struct vmm_net_config *cfg, bool vm_resolver, struct ak_error *err);
