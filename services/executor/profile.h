/* Security profiles, agentkernel's permissions.rs mapped onto a microVM:
 *
 * | profile     | network | ro root (+ /tmp tmpfs 64m) | memory | cpu  |
 * | permissive  | yes     | no                         | -      | -    |
 * | moderate    | yes     | no                         | 512 MB | 100% |
 * | restrictive | no      | yes                        | 256 MB | 50%  |
 *
 * Network off means no network device at all; memory is guest RAM (0: the
 * VM default); cpu is a CFS quota on the VMM process in percent of one CPU
 * (0: none). mount_cwd / mount_home / pass_env are the client's business:
 * the executor shares no host directory with a guest in any profile (in a
 * fleet the client's disk is not the executor's). `ak run --profile
 * permissive` copies the client's working directory into the guest and
 * passes its environment (cli/copy_in.h); the home directory is not copied.
 * Static data, thread-safe. */
#pragma once

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct profile {
        const char *name;
        bool network;
        bool mount_cwd, mount_home, pass_env;
        bool read_only_root;
        unsigned memory_mb;
        unsigned cpu_percent;
};

#define PROFILE_DEFAULT "moderate"

/* The profile called name ("" → moderate), or NULL. */
const struct profile *profile_find(const char *name);

#ifdef __cplusplus
}
#endif
