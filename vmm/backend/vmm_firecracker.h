/* The Firecracker backend (vmm_firecracker_ops in vmm.h) and its API client,
 * exposed for tests and the fuzzer.
 *
 * start spawns `firecracker --api-sock <control_socket>` ($AK_FIRECRACKER,
 * else `firecracker` in PATH) in its own process group, tied to the calling
 * thread with PR_SET_PDEATHSIG; its stdout (the guest's serial console) goes
 * to console_log, its stderr to log_file. Then, over the API socket:
 *
 *   PUT /machine-config  {"vcpu_count":N,"mem_size_mib":M}
 *   PUT /boot-source     {"kernel_image_path":K,"initrd_path":I,"boot_args":A}
 *   PUT /drives/rootfs   {"drive_id":"rootfs","path_on_host":P,"is_root_device":true,
 *                         "is_read_only":B}                     (with root_disk)
 *   PUT /network-interfaces/eth0 {"iface_id":"eth0","host_dev_name":"tap0",
 *                         "guest_mac":FC_GUEST_MAC}             (with network)
 *   PUT /vsock           {"guest_cid":C,"uds_path":U}
 *   PUT /actions         {"action_type":"InstanceStart"}
 *
 * Any answer but 2xx is an error carrying Firecracker's fault_message.
 * Firecracker's hybrid vsock is the convention our vsock bridge speaks, so
 * the backend is native_vsock. stop sends SendCtrlAltDel, waits, then kills
 * the process group.
 *
 * What Firecracker does not have, and what the backend does instead:
 *   - KVM only: accel() is "kvm"; start fails when vmm_kvm_usable() says no
 *     (or --accel tcg was asked for), unless AK_FIRECRACKER_SKIP_KVM_CHECK=1
 *     (tests against the API double, which needs no KVM).
 *   - No copy-on-write disks: VMM_DISK_SNAPSHOT copies root_disk into the VM
 *     directory (a reflink where the filesystem can, else a sparse copy)
 *     and boots the copy, which free removes.
 *   - No user networking: with network (root only), the backend makes the
 *     VM's network namespace in vmm_net's tap mode (vmm_net.h: a tap "tap0"
 *     owned by our uid, 10.0.2.2/24, forwarded through the same policy chain
 *     as QEMU's slirp, masqueraded, 10.0.2.3:53 DNATed to the resolver),
 *     and Firecracker runs in that namespace without CAP_NET_ADMIN,
 *     CAP_NET_RAW, CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE and
 *     CAP_BPF, so it can neither change the rules nor leave the namespace.
 *     The guest's side is slirp's layout (vm.c sets 10.0.2.15, gateway
 *     10.0.2.2, DNS 10.0.2.3 through the agent, as for QEMU). Firecracker
 *     is not otherwise confined (no jailer, no uid change).
 *   - On x86_64 it boots an uncompressed ELF vmlinux, not the bzImage the
 *     image store downloads: $AK_FIRECRACKER_KERNEL replaces cfg->kernel.
 *     Build it with virtio_mmio, virtio_blk and the virtio vsock transport
 *     in (Firecracker's guest configs do): Firecracker describes its devices
 *     with virtio_mmio.device= on the command line, which ak-guest's init
 *     does not hand to modules it loads. */
#pragma once

#include <stddef.h>

#include "lib/base/error.h"
#include "vmm/backend/vmm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Answers above this are cut off (an error). */
#define FC_API_MAX_RESPONSE (64 * 1024)

/* One request on the API socket at sock: method ("PUT", "GET") on path
 * ("/actions"), body JSON or NULL. Returns 0 with the HTTP status and the
 * body (malloc'd, NUL-terminated; may be ""), or -errno with err set when no
 * answer came (connect, timeout, oversized answer). */
int fc_api_request(const char *sock, const char *method, const char *path, const char *body, int timeout_ms,
                   long *ret_status, char **ret_body, struct ak_error *err);

/* fc_api_request, and any status but 2xx an error (-EIO) reading
 * "PUT <path>: HTTP <status>: <fault_message>". */
int fc_api_put(const char *sock, const char *path, const char *body, int timeout_ms, struct ak_error *err);

/* The fault_message of an error body ({"fault_message": "..."}) into buf
 * (NUL-terminated, cut to size; NULs and control bytes become '?').
 * 0, or -EINVAL when body is not such an object. Outside bytes: fuzzed. */
int fc_fault_message(const char *body, size_t len, char *buf, size_t size);

/* The JSON bodies start sends, for cfg (after its own checks), in order:
 * ret_paths[i] gets the path, ret_bodies[i] the body (malloc'd). Returns the
 * count (at most FC_MAX_CALLS) or -errno. kernel and root replace
 * cfg->kernel and cfg->root_disk (the snapshot copy). */
#define FC_MAX_CALLS 7
#define FC_NET_IFACE "eth0"
#define FC_GUEST_MAC "06:00:0a:00:02:0f"
int fc_config_calls(const struct vmm_config *cfg, const char *kernel, const char *root,
                    const char *ret_paths[FC_MAX_CALLS], char *ret_bodies[FC_MAX_CALLS]);

/* Copies src to dst (created, mode 0600): FICLONE where the filesystem
 * shares extents, else a copy that keeps holes. */
int fc_copy_disk(const char *src, const char *dst, struct ak_error *err);

#ifdef __cplusplus
}
#endif
