/* A VM's transparent proxy for domain rules (vmm/net/proxy.h) as vmm_net
 * sets it up, and the policy it asks: the sandbox's domain rules applied to
 * the TLS SNI / HTTP Host of the guest's TCP connections to ports 80 and
 * 443. Private to vmm_net. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"
#include "vmm/backend/vmm_net.h"

/* The policy, pure: given the name a connection carries (NULL: none) and
 * its original destination (an address), 1 to allow, 0 to deny.
 *   - a name matching a deny rule and no allow rule (the resolver's
 *     precedence): denied;
 *   - a destination the CIDR rules alone would not let out (so only the
 *     allow_dyn set, filled by the resolver for allowed names, admits it):
 *     the name must match an allow rule; no name: denied;
 *   - otherwise allowed (the namespace's rules still apply to the proxy's
 *     own connection to the destination).
 * "Let out by the CIDR rules": in egress.allow, else not in egress.deny,
 * the private ranges or the operator's deny list (operator_deny, canonical). */
int vmm_net_proxy_decide(const struct vmm_net_egress *e, const char *const *operator_deny, size_t n_operator_deny,
                         const char *name, const char *dst);

struct vmm_net_proxy;

/* Starts the proxy in the namespace netns_fd (with cfg->secrets, their
 * screening and relay: vmm_net_inject.h) on VMM_NET_PROXY_PORT and loads
 * its redirect table (proxy_nft_rules) there; files go to cfg->work_dir.
 * operator_deny (canonical) and cfg's egress are copied. */
int vmm_net_proxy_start(const struct vmm_net_config *cfg, int netns_fd, const char *const *operator_deny,
                        size_t n_operator_deny, struct vmm_net_proxy **ret, struct ak_error *err);

/* Stops serving (synchronous); before the namespace fd closes. NULL: no-op. */
void vmm_net_proxy_free(struct vmm_net_proxy *p);
