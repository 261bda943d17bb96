#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/pathfmt.h"
#include "lib/base/time.h"
#include "lib/base/utf8.h"
#include "lib/guest/guest_client.h"
#include "vmm/backend/vmm_proc.h"
#include "vmm/virtio/vsock_bridge.h"
#include "vmm/vm.h"

#define GUEST_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct vm {
        bool network, root_disk;
        const struct vmm_ops *ops;
        struct vmm *vmm;
        struct vsock_bridge *bridge;
        char uds[PATH_MAX], vhost[PATH_MAX], qmp[PATH_MAX], console[PATH_MAX], log[PATH_MAX];
};

int vm_start(const struct vm_config *cfg, struct vm **ret, struct ak_error *err)
{
        char cmdline[1024];
        int r;

        /* Its sockets are root in the guest (vsock.sock) and control of the
         * VMM (qmp.sock): the directory must be ours and 0700. */
        if ((r = ak_private_dir(cfg->dir, err)) < 0)
                return ak_error_wrap(err, "VM directory");
        struct vm *vm = calloc(1, sizeof(*vm));
        if (!vm)
                return ak_error_set(err, -ENOMEM, "out of memory");
        vm->ops = cfg->vmm ? cfg->vmm : &vmm_qemu_ops;
        /* A container runtime configures its guests' network itself. */
        vm->network = cfg->network && !vm->ops->own_guest_network;
        vm->root_disk = cfg->root_disk != NULL;
        if (pathfmt(vm->uds, 108, "%s/vsock.sock", cfg->dir) < 0 ||
            pathfmt(vm->vhost, 108, "%s/vhost.sock", cfg->dir) < 0 ||
            pathfmt(vm->qmp, 108, "%s/%s", cfg->dir,
                    vm->ops->control_socket_name ? vm->ops->control_socket_name : "control.sock") < 0 ||
            pathfmt(vm->console, sizeof(vm->console), "%s/console.log", cfg->dir) < 0 ||
            pathfmt(vm->log, sizeof(vm->log), "%s/vmm.log", cfg->dir) < 0) {
                free(vm);
                return ak_error_set(err, -ENAMETOOLONG,
                                    "VM directory %s: too long for Unix socket paths (at most 96 bytes)", cfg->dir);
        }
        uint64_t cid = cfg->guest_cid ? cfg->guest_cid : VM_DEFAULT_CID;
        struct vsock_bridge_config bc = {
                .vhost_path = vm->vhost,
                .uds_path = vm->uds,
                .guest_cid = cid,
        };
        /* A native-vsock backend serves vm->uds itself. */
        if (!vm->ops->native_vsock && (r = vsock_bridge_new(&bc, &vm->bridge, err)) < 0)
                goto fail;
        /* The guest agent is PID 1: modules, optional root switch, listen. */
        char report[40] = "";
        if (cfg->page_reporting_order_set || !cfg->stock_boot)
                snprintf(report, sizeof(report), " --page-reporting-order %u",
                         cfg->page_reporting_order_set ? cfg->page_reporting_order : VM_PAGE_REPORTING_ORDER);
        if (pathfmt(cmdline, sizeof(cmdline),
                    "quiet panic=-1 %srdinit=/sbin/ak-guest PATH=" GUEST_PATH " -- --init --modules %s%s%s",
                    cfg->stock_boot ? "" : VM_LEAN_KERNEL_ARGS " ", cfg->network ? "/etc/ak/modules-net" : "/etc/ak/modules",
                    cfg->root_disk ? " --root /dev/vda" : "", report) < 0) {
                r = ak_error_set(err, -E2BIG, "kernel command line too long");
                goto fail;
        }
        struct vmm_config mc = {
                .kernel = cfg->kernel,
                .initrd = cfg->initrd,
                .cmdline = cmdline,
                .root_disk = cfg->root_disk,
                .root_mode = cfg->root_mode,
                .vcpus = cfg->vcpus ? cfg->vcpus : VM_DEFAULT_VCPUS,
                .memory_mb = cfg->memory_mb ? cfg->memory_mb : VM_DEFAULT_MEMORY_MB,
                .network = cfg->network,
                .accel = cfg->accel,
                .tcg_tb_mb = cfg->tcg_tb_mb    ? cfg->tcg_tb_mb
                             : cfg->stock_boot ? 0
                             : cfg->root_disk  ? VM_TCG_TB_MB
                                               : VM_TCG_TB_MB_INITRAMFS,
                .balloon = !cfg->stock_boot,
                .no_acpi = cfg->no_acpi,
                .console_log = vm->console,
                .console_max_bytes = cfg->console_max_bytes,
                .control_socket = vm->qmp,
                .log_file = vm->log,
                .vhost_user_socket = vm->ops->native_vsock ? NULL : vm->vhost,
                .vsock_uds = vm->uds,
                .guest_cid = cid,
                .jail_dir = cfg->no_jail ? NULL : cfg->dir,
                .jail_uid = cfg->jail_uid,
                .jail_gid = cfg->jail_gid,
                .net_pool = cfg->net_pool,
                .net_deny_cidrs = cfg->net_deny_cidrs,
                .n_net_deny_cidrs = cfg->n_net_deny_cidrs,
                .net_egress = cfg->net_egress,
                .net_allow_private = cfg->net_allow_private,
                .net_reporter = cfg->net_reporter,
                .net_dns_upstreams = cfg->net_dns_upstreams,
                .n_net_dns_upstreams = cfg->n_net_dns_upstreams,
                .net_secrets = cfg->net_secrets,
                .net_netns_fd = cfg->net_netns_fd,
                .net_resolv_conf = cfg->net_resolv_conf,
        };
        /* The back-end socket listens before QEMU starts (QEMU connects at
         * once); the thread starts after the fork. */
        if ((r = vm->ops->start(&mc, &vm->vmm, err)) < 0)
                goto fail;
        if (vm->bridge && (r = vsock_bridge_start(vm->bridge, err)) < 0)
                goto fail;
        *ret = vm;
        return 0;
fail:
        vm_free(vm);
        return r;
}

/* QEMU user networking: a fixed address, gateway and resolver, set with
 * busybox (/bin/busybox in the initramfs, /usr/local/bin/busybox in root
 * filesystem images). */
const char *vm_guest_busybox(bool root_disk)
{
        return root_disk ? "/usr/local/bin/busybox" : "/bin/busybox";
}

int vm_guest_network_setup(const char *vsock_uds, bool root_disk, int timeout_ms, struct ak_error *err)
{
        const char *bb = vm_guest_busybox(root_disk);
        /* /etc may be missing (a FROM scratch image imported before the
         * import made it). */
        const char *argv[] = {
                bb, "sh", "-c",
                "B=$0; $B ip link set lo up && $B ip link set eth0 up && $B ip addr add 10.0.2.15/24 dev eth0 && "
                "$B ip route add default via 10.0.2.2 && $B mkdir -p /etc && "
                "echo nameserver 10.0.2.3 > /etc/resolv.conf",
                bb,
        };
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.id = "net";
        a.type = "run";
        a.command = argv;
        a.n_command = 5;
        _cleanup_close_ int fd = -1;
        struct proto_reply *rep = NULL;
        int r = guest_client_connect(vsock_uds, GUEST_AGENT_PORT, timeout_ms > 0 ? timeout_ms : 1, &fd);
        if (r == 0)
                r = guest_client_call(fd, &a, timeout_ms > 0 ? timeout_ms : 1, &rep);
        if (r < 0)
                return ak_error_errno(err, r, "set up the guest's network");
        if (rep->stderr_str)
                utf8_sanitize(rep->stderr_str, rep->stderr_len); /* guest text */
        if (!rep->has_exit_code || rep->exit_code != 0)
                r = ak_error_set(err, -EIO, "set up the guest's network: %s%s", rep->error ? rep->error : "",
                                 rep->stderr_str ? rep->stderr_str : "");
        proto_reply_free(rep);
        return r;
}

int vm_guest_prepare(const char *vsock_uds, bool root_disk, const struct vm_guest_user *u, bool read_only_root,
                     struct ak_error *err)
{
        char script[2048];
        const char *bb = vm_guest_busybox(root_disk);
        /* $B: busybox's applets by its path; echo, { } and >> are the
         * shell's own. */
        int n = snprintf(script, sizeof(script),
                         "B=$0; $B mkdir -p /etc '%s' && $B chown %u:%u '%s' && $B chmod 0755 '%s' && "
                         "{ $B grep -q '^[^:]*:[^:]*:%u:' /etc/passwd 2>/dev/null || "
                         "echo '%s:x:%u:%u:ak sandbox:%s:/bin/sh' >> /etc/passwd; } && "
                         "{ $B grep -q '^[^:]*:[^:]*:%u:' /etc/group 2>/dev/null || echo '%s:x:%u:' >> /etc/group; }%s",
                         u->home, u->id, u->id, u->home, u->home, u->id, u->name, u->id, u->id, u->home, u->id, u->name,
                         u->id,
                         read_only_root ? " && $B mkdir -p /tmp && $B mount -t tmpfs -o size=64m,mode=1777 tmpfs /tmp"
                                          " && $B mount -o remount,ro /"
                                        : "");
        if (n < 0 || (size_t)n >= sizeof(script) || strchr(u->home, '\'') || strchr(u->name, '\'') ||
            strchr(u->name, ':') || strchr(u->home, ':'))
                return ak_error_set(err, -EINVAL, "preparing the guest: user '%s' home '%s': too long, or a ' or :",
                                    u->name, u->home);
        const char *const cmd[] = { bb, "sh", "-c", script, bb };
        struct proto_request_args req = PROTO_REQUEST_ARGS_INIT;
        struct proto_reply *rep = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        req.id = "prepare";
        req.type = "run";
        req.command = cmd;
        req.n_command = 5;
        req.timeout_ms = 20000;
        if ((r = guest_client_connect(vsock_uds, GUEST_AGENT_PORT, 10000, &fd)) < 0)
                return ak_error_errno(err, r, "preparing the guest: connect");
        if ((r = guest_client_call(fd, &req, 30000, &rep)) < 0)
                return ak_error_errno(err, r, "preparing the guest: run its setup");
        if (!rep->has_exit_code || rep->exit_code != 0) {
                if (rep->stderr_str)
                        utf8_sanitize(rep->stderr_str, rep->stderr_len); /* guest text */
                r = ak_error_set(err, -EIO, "preparing the guest (user %s%s) with %s failed: %.200s%.200s", u->name,
                                 read_only_root ? ", read-only root" : "", bb, rep->stderr_str ? rep->stderr_str : "",
                                 rep->error ? rep->error : "");
        }
        proto_reply_free(rep);
        return r;
}

int vm_wait_ready(struct vm *vm, int timeout_ms, struct ak_error *err)
{
        long long deadline = ak_mono_ms() + timeout_ms;
        char tail[2048];
        int status, r = -ETIMEDOUT;

        for (;;) {
                if (vm->ops->poll_exit(vm->vmm, &status) == 1) {
                        vmm_log_tail(vm->console, 15, tail, sizeof(tail));
                        char log[1024];
                        vmm_log_tail(vm->log, 5, log, sizeof(log));
                        return ak_error_set(err, -ECHILD, "%s exited with status %d before the guest agent answered%s%s\n"
                                            "console (last lines of %s):\n%s", vm->ops->name, status,
                                            log[0] ? ": " : "", log, vm->console, tail);
                }
                long long left = deadline - ak_mono_ms();
                if (left <= 0)
                        break;
                r = guest_client_ping(vm->uds, left < 2000 ? (int)left : 2000);
                if (r == 0)
                        return vm->network ? vm_guest_network_setup(vm->uds, vm->root_disk,
                                                                    (int)(deadline - ak_mono_ms()), err)
                                           : 0;
                struct timespec ts = { 0, 50 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        vmm_log_tail(vm->console, 15, tail, sizeof(tail));
        return ak_error_set(err, -ETIMEDOUT, "the guest agent did not answer within %d ms (last error: %s)\n"
                            "console (last lines of %s):\n%s", timeout_ms, strerror(-r), vm->console, tail);
}

const char *vm_vsock_uds(const struct vm *vm)
{
        return vm->uds;
}

const char *vm_console_log(const struct vm *vm)
{
        return vm->console;
}

pid_t vm_pid(const struct vm *vm)
{
        return vm->ops->pid(vm->vmm);
}

pid_t vm_bridge_tid(const struct vm *vm)
{
        return vm->bridge ? vsock_bridge_tid(vm->bridge) : 0;
}

const char *vm_accel(const struct vm *vm)
{
        return vm->ops->accel(vm->vmm);
}

int vm_poll_exit(struct vm *vm, int *ret_status)
{
        return vm->ops->poll_exit(vm->vmm, ret_status);
}

int vm_stop(struct vm *vm, int grace_ms, int *ret_status)
{
        return vm->ops->stop(vm->vmm, grace_ms, ret_status);
}

void vm_free(struct vm *vm)
{
        if (!vm)
                return;
        if (vm->vmm)
                vm->ops->free(vm->vmm);
        vsock_bridge_free(vm->bridge);
        free(vm);
}
