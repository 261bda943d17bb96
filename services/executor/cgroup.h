/* CPU quotas on VMM processes through cgroups: v2 (a cgroup2 mount whose
 * cgroup.subtree_control can enable "cpu") or v1 (the "cpu" controller's
 * cfs_quota_us), whichever the host offers, under a directory
 * "ak-executor-<pid>" of our own that cgroup_free removes.
 *
 * Thread-safety: cgroup_limit/cgroup_release may be called from any thread
 * (each touches its own child directory). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "lib/base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cgroup;

/* Finds a usable hierarchy. -ENOTSUP (err says why) when there is none:
 * the caller reports "cpu quota unavailable: <why>" and runs without. */
int cgroup_new(struct cgroup **ret, struct ak_error *err);
void cgroup_free(struct cgroup *cg);
/* "v1" or "v2" and the directory. */
const char *cgroup_kind(const struct cgroup *cg);
const char *cgroup_dir(const struct cgroup *cg);

/* Puts pid (a whole process) into child cgroup `name` limited to percent
 * of one CPU (1..6400). */
int cgroup_limit(struct cgroup *cg, const char *name, pid_t pid, unsigned percent, struct ak_error *err);
/* Moves thread tid of this process into child `name` (made by
 * cgroup_limit first), so a thread that does a VM's work (its vsock bridge)
 * is charged to the VM's quota. v1: tid into the child's `tasks`. v2:
 * -EOPNOTSUPP, err says why: threads of one process may sit in different
 * cgroups only inside one threaded subtree, which would mean moving the
 * executor itself under our directory and making every VM cgroup
 * "threaded", where domain controllers (memory, io) can no longer be
 * enabled for it — a VM's memory limit matters more than its bridge's CPU.
 * The thread must leave (exit) before cgroup_release. */
int cgroup_add_thread(struct cgroup *cg, const char *name, pid_t tid, struct ak_error *err);
/* Removes child `name` (its processes and threads must have exited). */
void cgroup_release(struct cgroup *cg, const char *name);
/* Beside our own directory: each "ak-executor-<pid>" whose pid no longer
 * runs ak-executor (an earlier executor that was killed, whose VMs a later
 * one took into its own cgroups) loses its empty child cgroups and, once
 * empty, itself. Ones with processes in them stay. The number of
 * directories removed. */
int cgroup_sweep(struct cgroup *cg);

#ifdef __cplusplus
}
#endif
