/* vmm_net's private helpers, shared by vmm_net.c and vmm_net_tap.c: running
 * ip(8)/nft(8) and writing the files they read. Not for other modules. */
#pragma once

#include <limits.h>
#include <stddef.h>

#include "lib/base/error.h"

struct vmm_net_config;

/* Runs argv (10 s at most): 0, -EEXIST when it said "File exists", else
 * -EIO with err holding its last lines. */
int vmm_net_run(const char *const *argv, struct ak_error *err);

/* Writes text to dir/name (0600, truncated), its path into path. */
int vmm_net_write_file(const char *dir, const char *name, const char *text, char path[PATH_MAX],
                       struct ak_error *err);

/* Tap mode in the namespace netns_fd (an fd of ours): the tap device with
 * the gateway address, IPv4 forwarding, vmm_net_tap_rules with the guest's
 * DNS sent to the first IPv4 address of resolvers (none: no DNS). Files go
 * to cfg->work_dir. */
int vmm_net_tap_setup(int netns_fd, const struct vmm_net_config *cfg, char (*resolvers)[64], size_t n_resolvers,
                      struct ak_error *err);
