/* CPU quotas on VMM processes through cgroups: v2 (a cgroup2 mount whose
 * cgroup.subtree_control can enable "cpu") or v1 (the "cpu" controller's
 * cfs_quota_us), whichever the host offers, under a directory
 * "ak-executor-<pid>" of our own that cgroup_free removes.
 *
 * Or, with `ak-executor --vm-cgroup PATH` (cgroup_new_home), every VM's
 * processes in a cgroup PATH/<name> of their own, outside the executor's
 * container: a container runtime stopping the executor's container kills
 * its cgroup (cgroup.kill, or SIGKILL to each pid of its cgroup.procs) and
 * that does not reach them, so with --vm-supervisors the VMs outlive a
 * container restart as they outlive a process restart.
 *
 * Thread-safety: cgroup_limit/cgroup_release may be called from any thread
 * (each touches its own child directory). */
#pragma once

#include <stdbool.h>
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
/* The VMs' home at PATH (cgroup v2): made if missing (each new level gets
 * "+cpu" in its cgroup.subtree_control where its parent offers cpu), and
 * checked: absolute, not under Kubernetes' pod cgroups ("kubepods", which
 * the kubelet removes with the pod), on a cgroup2 mount, inside no cgroup
 * that holds this process (walking up to the mount's root), and able to
 * take a child cgroup. err says which check failed and what to set.
 * PATH stays on cgroup_free (children are made and removed per VM); one
 * executor (one state directory) per PATH. cgroup_has_cpu says whether
 * cgroup_limit can set quotas there; VMs are placed either way. */
int cgroup_new_home(const char *path, struct cgroup **ret, struct ak_error *err);
bool cgroup_is_home(const struct cgroup *cg);
/* Whether cgroup_limit can set a cpu quota (always for cgroup_new). */
bool cgroup_has_cpu(const struct cgroup *cg);
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
/* Makes child `name` (if missing) and writes its directory into ret_dir
 * (size bytes), for a process that joins it itself (ak-vmm --cgroup). */
int cgroup_prepare(struct cgroup *cg, const char *name, char *ret_dir, size_t size, struct ak_error *err);
/* Moves pid (a whole process, every thread) into child `name`, made if
 * missing; no limits are set. */
int cgroup_enter(struct cgroup *cg, const char *name, pid_t pid, struct ak_error *err);
/* Removes child `name` once its processes have exited (waits up to 3 s
 * for ones just killed to leave it). */
void cgroup_release(struct cgroup *cg, const char *name);
/* A home (cgroup_new_home): its empty "vm<N>" children (VMs that ended
 * while no executor ran) are removed. Otherwise, beside our own
 * directory: each "ak-executor-<pid>" whose pid no longer runs
 * ak-executor (an earlier executor that was killed, whose VMs a later one
 * took into its own cgroups) loses its empty child cgroups and, once
 * empty, itself. Ones with processes in them stay. The number of
 * directories removed. */
int cgroup_sweep(struct cgroup *cg);

#ifdef __cplusplus
}
#endif
