/* A VM with a thread of its own. vm.h/vmm.h require the thread that starts
 * a VM to outlive it (the VMM dies with that thread: PR_SET_PDEATHSIG), and
 * RPC handler threads come and go; so each VM gets an owner thread that
 * starts it, waits for its guest agent, watches the VMM process, and stops
 * and frees it when asked. Everything else talks to the guest through the
 * hybrid vsock socket (vmbox_uds), never to the struct vm.
 *
 * Thread-safety: every function may be called from any thread; vmbox_free
 * once, when no other thread uses the box. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"
#include "vmm/vm.h"

#ifdef __cplusplus
extern "C" {
#endif

struct vmbox;

/* Starts the owner thread, which starts the VM from cfg (strings are copied)
 * and waits up to ready_timeout_ms for the guest agent. Returns once the
 * guest answers (0), or with the boot error (console tail included). */
int vmbox_boot(const struct vm_config *cfg, int ready_timeout_ms, struct vmbox **ret, struct ak_error *err);

const char *vmbox_uds(const struct vmbox *b);
pid_t vmbox_pid(const struct vmbox *b);
/* vm_bridge_tid: the VM's vsock bridge thread, 0 when it has none. */
pid_t vmbox_bridge_tid(const struct vmbox *b);
const char *vmbox_accel(const struct vmbox *b);
const char *vmbox_dir(const struct vmbox *b);
/* Monotonic milliseconds when the guest first answered. */
int64_t vmbox_ready_at_ms(const struct vmbox *b);
/* False once the VMM process has exited (seen within ~100 ms). */
bool vmbox_running(struct vmbox *b);

/* Asks the owner thread to stop the VM (QMP quit, then SIGKILL after
 * grace_ms), waits for it, frees. NULL is a no-op. For a supervised box:
 * SIGTERM to its ak-vmm (which quits the VM), SIGKILL to both after
 * grace_ms + 3 s. */
void vmbox_free(struct vmbox *b, int grace_ms);

/* ---- Supervised VMs: they outlive the calling process ----
 *
 * The VM runs under an `ak-vmm` supervisor (vmm/main.c) in a session of
 * its own, with the vsock bridge in that process, so the caller may exit
 * and a later process adopts the VM from its directory's vm.json
 * (vm_registry.h). Backends with a bridge only (QEMU). With network and
 * confinement (root), the VM's namespace is made by the calling process
 * (vmm_net_setup, whose resolver, proxy and denial log run here) and
 * handed to ak-vmm (--netns-fd), so it lives on with QEMU; a later
 * process takes it over in vmbox_adopt (vmm_net_adopt).
 * The vmbox_* accessors work on both kinds; vmbox_bridge_tid is 0. */

/* What ak-vmm is started with (its flags; see vmm/main.c). */
struct vmbox_supervisor {
        const char *bin;                /* ak-vmm */
        const char *dir, *name, *kernel, *initrd;
        const char *rootfs;             /* NULL: none */
        const char *image, *image_hash; /* NULL: ak-vmm's defaults */
        unsigned vcpus, memory_mb;      /* 0: VM_DEFAULT_* */
        enum vmm_accel accel;
        bool network;
        bool no_acpi;                   /* --no-acpi (vm_config.no_acpi) */
        int netns_fd;                   /* > 0: --netns-fd (passed as fd 3) */
        const char *resolv_conf;        /* with netns_fd: --resolv-conf */
        const char *cgroup;             /* NULL: ours; else --cgroup (vm_config.cgroup) */
};
/* posix_spawn of ak-vmm in a session of its own (it outlives the caller),
 * stdin /dev/null, stdout and stderr to dir/ak-vmm.log (created 0600,
 * O_NOFOLLOW, truncated at each spawn; bounded because ak-vmm writes only
 * its VM's life events, a handful of lines of at most lib/log's line size;
 * QEMU's own output goes to dir/vmm.log). ak-vmm logs with the caller's
 * lib/log format and level (ak_log_format_name, ak_log_level_name: an
 * executor started with --log-format json gets JSON lines from its VMs).
 * The caller reaps it while it is its child. 0 with its pid, or -errno. */
int vmbox_spawn_supervisor(const struct vmbox_supervisor *s, pid_t *ret);

/* Spawns vmm_bin (ak-vmm) for cfg (cfg->dir must exist and be private;
 * name and image_hash go into its record, vm.json) and waits up to ready_timeout_ms for vm.json
 * and the guest's answer (and, with network, sets the guest's up). On
 * failure the supervisor is killed and the namespace deleted, err says
 * why with the tail of its log. -EOPNOTSUPP for a backend ak-vmm does not
 * run. */
int vmbox_boot_supervised(const char *vmm_bin, const struct vm_config *cfg, const char *name, const char *image_hash,
                          int ready_timeout_ms,
                          struct vmbox **ret, struct ak_error *err);
/* Takes over the supervised VM recorded in dir: its supervisor and VMM
 * still run (pid and start time as recorded) and the guest answers a ping
 * within ping_timeout_ms. A VM with a namespace of its own (net_ifname: its
 * host end, vmbox_net_ifname of the box that booted it; NULL or "": none)
 * also gets its network's user-space side started again here, with net's
 * network settings (those it was booted with: net_pool, deny CIDRs,
 * egress, reporter, DNS upstreams). -ENOENT: no record; -ESRCH: a process
 * is gone; -ENODEV: the network's host end is gone; -ETIMEDOUT or another
 * error: the guest does not answer; err says which.
 * A VM that cannot be adopted is stopped (what is left of it). */
int vmbox_adopt(const char *dir, int ping_timeout_ms, const struct vm_config *net, const char *net_ifname,
                struct vmbox **ret, struct ak_error *err);
/* The host end ("akv<slot>") of a supervised box's network namespace, ""
 * when it has none. */
const char *vmbox_net_ifname(const struct vmbox *b);
bool vmbox_supervised(const struct vmbox *b);
/* The image hash recorded for a supervised box ("" otherwise). */
const char *vmbox_image_hash(const struct vmbox *b);
/* The supervisor of a supervised box (0 otherwise). */
pid_t vmbox_supervisor_pid(const struct vmbox *b);
/* Forgets a supervised box without stopping its VM (the process exits and
 * a later one adopts it): its network's user-space side stops, the
 * namespace stays. For an unsupervised box: vmbox_free. */
void vmbox_release(struct vmbox *b);

#ifdef __cplusplus
}
#endif
