/* A sandbox's or pool's VM (executor_vm.c): boot from an image with a
 * profile, prepared for the sandbox user, and disposal. Private to
 * services/executor. */
#pragma once

#include <limits.h>
#include <stdbool.h>

#include "lib/base/error.h"
#include "services/executor/profile.h"

struct executor;
struct net_reporter;
struct vm_config;
struct vmbox;
struct vmm_net_egress;

/* The network settings of vc (pool, denied CIDRs, DNS upstreams: the
 * executor's; egress and reporter as given), as evm_boot boots with and
 * executor_adopt.c takes a VM's network over with. */
void evm_net_settings(struct executor *ex, const struct vmm_net_egress *egress, struct net_reporter *reporter,
                      struct vm_config *vc);

/* Resolves image (under ex->images.lock, maybe building it), boots a VM in
 * a new directory under state_dir/v (written to dir), puts it in its cpu
 * cgroup and prepares the guest (the sandbox user; a read-only root for
 * the restrictive profile). Blocks for the boot; call without ex->lock. */
int evm_boot(struct executor *ex, const char *image, const struct profile *p, unsigned vcpus, unsigned memory_mb,
             bool network, const struct vmm_net_egress *egress, const struct vmm_net_secrets *secrets, char dir[PATH_MAX],
             struct vmbox **ret, struct ak_error *err);
/* Stops box, releases its cgroup and deletes dir. Call without ex->lock.
 * box NULL: only the directory and its books. */
void evm_dispose(struct executor *ex, struct vmbox *box, const char *dir);
/* executor_free with cfg.vm_supervisors: a supervised box is let go
 * running, any other stopped; dir (and the record in it) stays for the
 * next executor either way. */
void evm_release(struct executor *ex, struct vmbox *box, const char *dir);
