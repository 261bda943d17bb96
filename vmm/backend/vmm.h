/* Virtual machine monitors behind one interface. A backend is a static
 * const ops table (like kvmtool's virtio_ops), so adding one touches one
 * file (plus its row in vmm_find): vmm_qemu.c is QEMU's microvm machine,
 * vmm_firecracker.c drives a `firecracker` process over its API socket,
 * vmm_apple.c runs an Apple container through the `container` CLI.
 *
 * A backend starts one VMM process for a config, in its own process group,
 * and guarantees that after stop (or free) the process is dead and reaped,
 * and the files it was told to create (console log excepted) are gone.
 *
 * Thread-safety: a struct vmm belongs to one thread. start/free must run
 * on a thread that outlives the VM (the process is tied to it with
 * PR_SET_PDEATHSIG, so a dying parent takes its VMs along). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/base/error.h"

struct vmm_net_egress;
struct vmm_net_secrets;
struct net_reporter;

#ifdef __cplusplus
extern "C" {
#endif

#define VMM_MAX_VCPUS 64
#define VMM_MIN_MEMORY_MB 64
#define VMM_MAX_MEMORY_MB (256 * 1024)
#define VMM_MAX_TCG_TB_MB 4096

enum vmm_accel {
        VMM_ACCEL_AUTO, /* KVM where the CPU and /dev/kvm allow it, else TCG */
        VMM_ACCEL_KVM,
        VMM_ACCEL_TCG,
};

enum vmm_disk_mode {
        VMM_DISK_RW,       /* guest writes go to the file */
        VMM_DISK_SNAPSHOT, /* writes go to a temporary overlay, dropped at exit */
        VMM_DISK_RO,       /* the guest sees a read-only disk */
};

struct vmm_config {
        const char *kernel;
        const char *initrd;
        const char *cmdline;           /* kernel command line (the backend adds its console) */
        const char *root_disk;         /* NULL: none */
        enum vmm_disk_mode root_mode;
        unsigned vcpus;                /* 1..VMM_MAX_VCPUS */
        unsigned memory_mb;            /* VMM_MIN_MEMORY_MB..VMM_MAX_MEMORY_MB */
        bool network;                  /* user-mode networking (virtio-net) */
        enum vmm_accel accel;
        /* QEMU under TCG: the translation cache in MiB (-accel
         * tcg,tb-size=N), 1..VMM_MAX_TCG_TB_MB; 0: QEMU's default (a 1 GiB
         * reservation, filled as guest code is translated). Not used with KVM. */
        unsigned tcg_tb_mb;
        /* QEMU: a virtio-balloon device with free page reporting, so pages
         * the guest frees go back to the host (QEMU punches them out of the
         * shared memfd). The guest must load virtio_balloon (the base
         * initramfs does). */
        bool balloon;
        /* QEMU: a kernel that cannot use microvm's ACPI tables (ak's small
         * kernel, image_kernel.no_acpi): -M microvm,acpi=off, which puts the
         * virtio-mmio devices on the kernel command line, and reboot=t
         * (a triple fault) so a panic still resets, and -no-reboot exits,
         * without ACPI's reset register. */
        bool no_acpi;
        const char *console_log;       /* the guest's serial console goes here */
        /* Most bytes console_log holds before it is rotated to
         * console_log.1 (QEMU; console_ring.h): 0 → 1 MiB, only lower. */
        uint64_t console_max_bytes;
        const char *control_socket;    /* QMP (QEMU) or API (Firecracker) socket */
        const char *log_file;          /* the VMM's own stderr (NULL: /dev/null) */
        /* QEMU: our vhost-user-vsock back-end listens here. */
        const char *vhost_user_socket;
        /* Backends with native_vsock: the hybrid vsock socket the backend
         * serves ("CONNECT <port>\n" / "OK <n>\n", see vsock_bridge.h) and the
         * guest's CID (>= 3). The backend removes the socket on free. */
        const char *vsock_uds;
        uint64_t guest_cid;
        /* Container backends (apple): the OCI image reference to run; NULL:
         * $AK_APPLE_IMAGE. */
        const char *image;
        /* QEMU's confinement (vmm_jail.h). The process always gets
         * -sandbox (seccomp), a PATH-only environment and only the fds it
         * needs. As root, with jail_dir set, it also runs as
         * jail_uid:jail_gid (0: VMM_JAIL_DEFAULT_ID) in a mount namespace
         * of its own, whose tmpfs root is mounted on <jail_dir>/root and
         * whose TMPDIR is <jail_dir>/tmp (snapshot overlays). */
        const char *jail_dir;
        uid_t jail_uid;
        gid_t jail_gid;
        /* Confined QEMU with network (vmm_net.h): the pool of /30s the VMs'
         * veths take (NULL: VMM_NET_DEFAULT_POOL) and the operator's extra
         * denied CIDRs. */
        const char *net_pool;
        const char *const *net_deny_cidrs;
        size_t n_net_deny_cidrs;
        const struct vmm_net_egress *net_egress; /* the sandbox's own policy (vmm_net.h); NULL: none */
        bool net_allow_private;        /* net_egress->allow may re-open private/operator ranges */
        struct net_reporter *net_reporter; /* denials reported to it (vmm/net/net_event.h); NULL: none */
        const char *const *net_dns_upstreams; /* the VM resolver's upstreams, "ADDR[:PORT]"; none: the
                                               * host's resolv.conf nameservers */
        size_t n_net_dns_upstreams;
        const struct vmm_net_secrets *net_secrets; /* the sandbox's secrets at its egress (vmm_net.h); NULL: none */
        /* A namespace someone else set up (vmm_net_setup in the process
         * that started ak-vmm, which keeps its user-space side): QEMU runs
         * in this fd's namespace, with net_resolv_conf as its resolv.conf,
         * and none is made. 0: none. The fd stays the caller's. */
        int net_netns_fd;
        const char *net_resolv_conf;
};

struct vmm;

struct vmm_ops {
        const char *name;
        /* The backend serves cfg->vsock_uds itself (Firecracker's hybrid vsock,
         * or a container exec per connection): vm.c starts no vhost-user
         * bridge for it. */
        bool native_vsock;
        /* The guest's network is set up by the VMM (a container runtime):
         * vm_wait_ready configures none. */
        bool own_guest_network;
        /* The control socket's file name in a VM directory ("qmp.sock"). */
        const char *control_socket_name;
        /* Validates cfg and spawns the VMM. */
        int (*start)(const struct vmm_config *cfg, struct vmm **ret, struct ak_error *err);
        pid_t (*pid)(const struct vmm *vm);
        /* Non-blocking: 1 and *ret_status (exit code, or 128 + signal) once
         * the process has exited (it is then reaped), 0 while it runs. */
        int (*poll_exit)(struct vmm *vm, int *ret_status);
        /* Asks the VMM to quit (QMP "quit", Firecracker's SendCtrlAltDel,
         * `container stop`), waits up to grace_ms, then kills the process
         * group; always reaps. Returns its status as poll_exit. */
        int (*stop)(struct vmm *vm, int grace_ms, int *ret_status);
        /* Stops (grace 0) if still running, removes the control socket,
         * frees. NULL is a no-op. */
        void (*free)(struct vmm *vm);
        /* Which accelerator the VM got: "kvm", "tcg" (or "vz": Apple's
         * Virtualization.framework). */
        const char *(*accel)(const struct vmm *vm);
};

extern const struct vmm_ops vmm_qemu_ops;
extern const struct vmm_ops vmm_firecracker_ops;
extern const struct vmm_ops vmm_apple_ops;

/* The backend called name ("qemu", "firecracker", "apple"), or NULL. */
const struct vmm_ops *vmm_find(const char *name);

/* Whether KVM can be used here: the CPU advertises vmx or svm in
 * /proc/cpuinfo, /dev/kvm opens read-write, and the KVM API answers
 * (KVM_GET_API_VERSION, KVM_CREATE_VM). On false, why (for a log line). */
bool vmm_kvm_usable(char *why, size_t why_size);

/* "auto", "kvm" or "tcg" (a flag's value): 0, else -EINVAL. */
int vmm_accel_parse(const char *s, enum vmm_accel *ret);

/* Checks vcpus, memory and paths of cfg: 0 or -EINVAL with err set. */
int vmm_config_check(const struct vmm_config *cfg, struct ak_error *err);

#ifdef __cplusplus
}
#endif
