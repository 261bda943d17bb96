/* One microVM with our vsock bridge: the VMM process (a struct vmm_ops
 * backend; QEMU microvm by default) plus, for QEMU, the vhost-user-vsock
 * back-end thread serving the hybrid vsock socket (backends with
 * native_vsock, Firecracker and apple, serve that socket themselves). This
 * is what the executor and `ak-vmm` build on.
 *
 * Files in cfg->dir (the caller owns the directory; keep the path short:
 * Unix socket paths hold 108 bytes):
 *   vsock.sock   hybrid vsock ("CONNECT <port>\n"), see vsock_bridge.h
 *   vhost.sock   the vhost-user socket QEMU connects to
 *   qmp.sock     QEMU's control socket (api.sock: Firecracker's API)
 *   console.log  the guest's serial console (QEMU: at most
 *                console_max_bytes, 1 MiB, then it becomes console.log.1)
 *   vmm.log      the VMM's own messages
 *   root/ tmp/   QEMU's confinement: its root's mount point, its TMPDIR
 * The directory must be ours and not writable by others (vm_start makes it
 * 0700, or refuses).
 * vm_free removes the sockets; the logs stay for the caller to read.
 *
 * Thread-safety: a struct vm belongs to one thread, which must outlive the
 * VM (see vmm.h). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"

struct vmm_net_egress;
struct vmm_net_secrets;
struct net_reporter;
#include "vmm/backend/vmm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VM_DEFAULT_VCPUS 1
#define VM_DEFAULT_MEMORY_MB 256
#define VM_DEFAULT_CID 3
/* The density settings (bench/density measures them against stock_boot):
 * kernel parameters that skip work a sandbox guest does not need (self
 * tests of crypto, the PS/2 controller, spare UARTs, timer and TSC checks,
 * waiting for entropy), TCG's translation cache at VM_TCG_TB_MB, and a
 * balloon with free page reporting. */
#define VM_LEAN_KERNEL_ARGS                                                                            \
        "cryptomgr.notests i8042.noaux i8042.nokbd i8042.nopnp 8250.nr_uarts=1 no_timer_check tsc=reliable " \
        "random.trust_cpu=on"
#define VM_TCG_TB_MB 32
/* The translation cache of a guest that runs from the initramfs (the base
 * image: busybox and ak-guest): its code fits in 16 MiB (a busybox workload
 * costs the same QEMU CPU as with 32), and an idle one then keeps 16 MiB of
 * cache instead of 22 (bench/density, vmm/DENSITY.md). Guests with a root
 * disk (Debian, OCI images) keep VM_TCG_TB_MB: python paid ~60% more CPU
 * with 16. */
#define VM_TCG_TB_MB_INITRAMFS 16
/* Free page reporting's granularity (ak-guest --page-reporting-order): the
 * kernel's default, 2 MiB blocks, never reports the DMA zone (16 MiB, under
 * its reporting watermark) nor the freed pieces of the kernel image: ~20 MiB
 * an idle guest touched at boot and keeps (vmm/DENSITY.md). */
#define VM_PAGE_REPORTING_ORDER 5
#define VM_PAGE_REPORTING_ORDER_MAX 10

struct vm_config {
        const char *dir;
        const char *kernel;
        const char *initrd;
        const char *root_disk;          /* NULL: run from the initramfs */
        enum vmm_disk_mode root_mode;   /* VMM_DISK_SNAPSHOT for shared images */
        unsigned vcpus;                 /* 0: VM_DEFAULT_VCPUS */
        unsigned memory_mb;             /* 0: VM_DEFAULT_MEMORY_MB */
        bool network;
        enum vmm_accel accel;
        uint64_t guest_cid;             /* 0: VM_DEFAULT_CID */
        uint64_t console_max_bytes;     /* 0: 1 MiB (vmm_config) */
        /* The settings before the density work: QEMU's default translation
         * cache, no balloon, no VM_LEAN_KERNEL_ARGS. For same-run
         * comparisons (bench/density) and to rule those settings out when a
         * guest misbehaves. */
        bool stock_boot;
        /* The kernel boots without ACPI (image_boot.no_acpi, vmm_config). */
        bool no_acpi;
        /* TCG's translation cache in MiB; 0: VM_TCG_TB_MB with a root disk,
         * VM_TCG_TB_MB_INITRAMFS without (QEMU's default with stock_boot). */
        unsigned tcg_tb_mb;
        /* The guest reports free blocks of 4 KiB << page_reporting_order
         * when page_reporting_order_set (0..VM_PAGE_REPORTING_ORDER_MAX),
         * else VM_PAGE_REPORTING_ORDER (the kernel's with stock_boot). */
        bool page_reporting_order_set;
        unsigned page_reporting_order;
        const struct vmm_ops *vmm;      /* NULL: vmm_qemu_ops */
        /* QEMU's confinement (vmm_jail.h): as root it runs as jail_uid:
         * jail_gid (0: VMM_JAIL_DEFAULT_ID) in a mount namespace of its
         * own (dir/root, dir/tmp); no_jail: with our uid and the host's
         * file system (seccomp, environment and fds stay minimal). */
        uid_t jail_uid;
        gid_t jail_gid;
        bool no_jail;
        /* Network policy of confined QEMU VMs (vmm_net.h): the /30 pool
         * (NULL: VMM_NET_DEFAULT_POOL) and the operator's denied CIDRs. */
        const char *net_pool;
        const char *const *net_deny_cidrs;
        size_t n_net_deny_cidrs;
        const struct vmm_net_egress *net_egress; /* the sandbox's own policy (vmm_net.h); NULL: none */
        bool net_allow_private;        /* net_egress->allow may re-open private/operator ranges */
        struct net_reporter *net_reporter; /* denials reported to it (vmm/net/net_event.h); NULL: none */
        const char *const *net_dns_upstreams; /* the VM resolver's upstreams; none: the host's resolv.conf */
        size_t n_net_dns_upstreams;
        const struct vmm_net_secrets *net_secrets; /* the sandbox's secrets at its egress (vmm_net.h); NULL: none */
        /* Run in this network namespace (an fd) with this resolv.conf
         * instead of making one (vmm_config.net_netns_fd); 0: none. */
        int net_netns_fd;
        const char *net_resolv_conf;
        /* Supervised VMs only (vmbox_boot_supervised): a cgroup v2
         * directory the supervisor joins before it starts the VMM, so the
         * supervisor, its bridge and QEMU all live there (ak-vmm
         * --cgroup). NULL: the caller's cgroup. */
        const char *cgroup;
};

struct vm;

/* Starts the bridge and the VMM. Returns when the VMM process runs; the
 * guest is not up yet (vm_wait_ready). */
int vm_start(const struct vm_config *cfg, struct vm **ret, struct ak_error *err);

/* Waits until the guest agent answers a ping through the hybrid vsock
 * socket (and, with network, gives the guest QEMU user networking's
 * 10.0.2.15/24, gateway 10.0.2.2, resolver 10.0.2.3; not for backends with
 * own_guest_network). Fails early when the
 * VMM exits, and on timeout; either way err ends with the tail of the
 * console log. */
int vm_wait_ready(struct vm *vm, int timeout_ms, struct ak_error *err);

/* What vm_wait_ready does for network VMs, for a VM reached only by its
 * hybrid vsock socket (`ak vm boot`): root_disk says where busybox is. */
int vm_guest_network_setup(const char *vsock_uds, bool root_disk, int timeout_ms, struct ak_error *err);

/* The guest's static busybox by absolute path: /bin/busybox in the
 * initramfs, /usr/local/bin/busybox in root filesystem images (put there
 * by every image build and import). Host-run setup in the guest uses it,
 * never the image's /bin/sh, which a minimal image does not have. */
const char *vm_guest_busybox(bool root_disk);

/* The user commands run as: a home, and lines in /etc/passwd and /etc/group
 * unless the image has that uid/gid already. */
struct vm_guest_user {
        unsigned id; /* uid and gid */
        const char *name;
        const char *home;
};

/* Before anyone uses the guest: the user (above), and with read_only_root
 * a 64 MiB tmpfs on /tmp and / remounted read-only. Run by the guest's
 * busybox, so it works in images without a shell or /etc. */
int vm_guest_prepare(const char *vsock_uds, bool root_disk, const struct vm_guest_user *user, bool read_only_root,
                     struct ak_error *err);

const char *vm_vsock_uds(const struct vm *vm);
const char *vm_console_log(const struct vm *vm);
pid_t vm_pid(const struct vm *vm);
/* The vhost-user-vsock bridge thread's id (gettid) in this process; 0 for
 * backends with native_vsock. */
pid_t vm_bridge_tid(const struct vm *vm);
const char *vm_accel(const struct vm *vm);

/* 1 and *ret_status once the VMM process has exited, else 0. */
int vm_poll_exit(struct vm *vm, int *ret_status);

/* Stops the VMM (asking first, up to grace_ms) and reaps it. */
int vm_stop(struct vm *vm, int grace_ms, int *ret_status);

/* Stops whatever still runs, removes the sockets, frees. NULL is a no-op. */
void vm_free(struct vm *vm);

#ifdef __cplusplus
}
#endif
