/* A VM's resolver (vmm/net/resolver.h) as vmm_net sets it up: its
 * upstreams (the operator's, or the host's resolv.conf, loopback ones
 * included), its names (the sandbox's egress domain rules), what it never
 * answers (the always-denied, private and operator ranges, the host's
 * addresses), and the nftables sets its answers fill (nft_sets.h).
 * Private to vmm_net.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"
#include "vmm/backend/vmm_net.h"

struct vmm_net_dns;

/* Whether egress has any domain rule. */
bool vmm_net_egress_has_names(const struct vmm_net_egress *e);

/* Whether egress.deny holds a default route (0.0.0.0/0 or ::/0): then a
 * name no allow rule lists is refused without asking upstream (with every
 * address denied, such a query could only carry data out). */
bool vmm_net_egress_denies_all(const struct vmm_net_egress *e);

/* Starts the resolver in the namespace netns_fd. blocked are canonical
 * CIDRs (copied). No upstream anywhere: 0 and *ret NULL (the guest has no
 * DNS, as before). */
int vmm_net_dns_start(const struct vmm_net_config *cfg, int netns_fd, const char *const *blocked, size_t n_blocked,
                      struct vmm_net_dns **ret, struct ak_error *err);

void vmm_net_dns_free(struct vmm_net_dns *d);
