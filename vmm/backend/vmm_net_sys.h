/* vmm_net's private helpers, shared by vmm_net.c and vmm_net_tap.c: running
 * ip(8)/nft(8) and writing the files they read. Not for other modules. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/base/error.h"

struct vmm_net_config;

/* The private and shared ranges (canonical CIDRs) the namespace drops
 * unless egress.allow re-opens them. */
extern const char *const *const vmm_net_private_ranges;
extern const size_t vmm_net_n_private_ranges;

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
