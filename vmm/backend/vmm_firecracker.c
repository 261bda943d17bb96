/* The Firecracker backend: the process, the API conversation that
 * configures and starts it, and its shutdown. See vmm_firecracker.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/pathfmt.h"
#include "lib/base/proc.h"
#include "lib/base/time.h"
#include "vmm/backend/vmm.h"
#include "vmm/backend/vmm_firecracker.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/backend/vmm_proc.h"

#define FC_BIN "firecracker"
#define FC_MAX_VCPUS 32
#define API_UP_MS 5000
#define API_CALL_MS 5000

struct vmm {
        struct vmm_proc proc;
        char api[108]; /* Unix socket paths */
        char uds[108];
        char disk_copy[PATH_MAX]; /* "" when the disk is used in place */
        struct vmm_net *net;      /* the VM's namespace and tap (network) */
};

static bool env_is(const char *name, const char *value)
{
        const char *v = getenv(name);
        return v && strcmp(v, value) == 0;
}

static int check(const struct vmm_config *cfg, struct ak_error *err)
{
        char why[256];
        int r;

        if ((r = vmm_config_check(cfg, err)) < 0)
                return r;
        if (!cfg->vsock_uds || cfg->guest_cid < 3)
                return ak_error_set(err, -EINVAL, "firecracker: a hybrid vsock socket and a guest CID >= 3 are required");
        if (cfg->vcpus > FC_MAX_VCPUS)
                return ak_error_set(err, -EINVAL, "firecracker: vcpus %u: Firecracker allows 1..%d", cfg->vcpus,
                                    FC_MAX_VCPUS);
        if (cfg->network && geteuid() != 0)
                return ak_error_set(err, -EPERM,
                                    "firecracker: networking needs a tap device in a network namespace of the "
                                    "VM's own, which only root can make: run the executor as root, or ask for a "
                                    "sandbox without network (NETWORK_OFF, or the restrictive profile)");
        if (cfg->accel == VMM_ACCEL_TCG)
                return ak_error_set(err, -EINVAL, "firecracker runs on KVM only: --accel tcg is not possible");
        if (!env_is("AK_FIRECRACKER_SKIP_KVM_CHECK", "1") && !vmm_kvm_usable(why, sizeof(why)))
                return ak_error_set(err, -ENODEV, "firecracker needs KVM, which is not usable here: %s", why);
        return 0;
}

static int find_binary(char *buf, size_t size, struct ak_error *err)
{
        const char *env = getenv("AK_FIRECRACKER");
        if (env && *env) {
                if (access(env, X_OK) < 0)
                        return ak_error_errno(err, -errno, "AK_FIRECRACKER=%s", env);
                return pathfmt(buf, size, "%s", env) < 0 ? ak_error_set(err, -ENAMETOOLONG, "AK_FIRECRACKER: too long")
                                                         : 0;
        }
        if (proc_which(FC_BIN, buf, size) < 0)
                return ak_error_set(err, -ENOENT,
                                    FC_BIN " not found in PATH: install a release binary from "
                                    "https://github.com/firecracker-microvm/firecracker/releases "
                                    "(firecracker-vX.Y.Z-x86_64 renamed to firecracker) or set AK_FIRECRACKER");
        return 0;
}

/* The API socket accepts once Firecracker is up; fails early if it exits. */
static int wait_api(struct vmm *vm, const char *log_file, struct ak_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        int status;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", vm->api);
        for (int waited = 0; waited < API_UP_MS; waited += 10) {
                if (vmm_proc_poll(&vm->proc, &status) == 1) {
                        char tail[1024] = "";
                        if (log_file)
                                vmm_log_tail(log_file, 5, tail, sizeof(tail));
                        return ak_error_set(err, -ECHILD, "firecracker exited with status %d before its API socket "
                                            "%s came up%s%s", status, vm->api, tail[0] ? ": " : "", tail);
                }
                _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return ak_error_errno(err, -errno, "socket");
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                        return 0;
                nanosleep(&ts, NULL);
        }
        return ak_error_set(err, -ETIMEDOUT, "firecracker's API socket %s did not come up within %d ms", vm->api,
                            API_UP_MS);
}

static int configure(struct vmm *vm, const struct vmm_config *cfg, const char *kernel, struct ak_error *err)
{
        const char *paths[FC_MAX_CALLS];
        char *bodies[FC_MAX_CALLS];
        const char *root = cfg->root_disk ? (vm->disk_copy[0] ? vm->disk_copy : cfg->root_disk) : NULL;
        int n = fc_config_calls(cfg, kernel, root, paths, bodies), r = 0;

        if (n < 0)
                return ak_error_errno(err, n, "firecracker: API request bodies");
        for (int i = 0; i < n; i++) {
                if (r == 0 && (r = fc_api_put(vm->api, paths[i], bodies[i], API_CALL_MS, err)) < 0)
                        ak_error_wrap(err, "firecracker");
                free(bodies[i]);
        }
        return r;
}

static void fc_free(struct vmm *vm);

/* The VM's namespace (vmm_net.h, tap mode): Firecracker attaches to the
 * tap "tap0" there, owned by our uid, so it needs no CAP_NET_ADMIN. Rule
 * files go to the VM directory (the control socket's). */
static int net_prepare(struct vmm *vm, const struct vmm_config *cfg, struct ak_error *err)
{
        char dir[PATH_MAX];
        const char *slash = strrchr(vm->api, '/');
        if (pathfmt(dir, sizeof(dir), "%.*s", slash ? (int)(slash - vm->api) : 1, slash ? vm->api : ".") < 0)
                return ak_error_set(err, -ENAMETOOLONG, "firecracker: VM directory too long");
        /* Tap mode: Firecracker opens the tap as our uid. */
        struct vmm_net_config nc = VMM_NET_CONFIG_OF(cfg, dir);
        nc.tap = VMM_NET_TAP_NAME;
        nc.tap_uid = geteuid();
        nc.tap_gid = getegid();
        return vmm_net_setup(&nc, &vm->net, err);
}

struct child {
        char *const *argv;
        int netns_fd; /* -1: stay in ours */
};

/* Firecracker is not confined here (no jailer), but with network it must
 * not undo the namespace: it joins the VM's and loses the capabilities that
 * would change its rules (NET_ADMIN), leave it (SYS_ADMIN), or go around
 * them (NET_RAW, BPF, SYS_MODULE, SYS_PTRACE), for good (bounding set). */
static int drop_caps(void)
{
        static const int caps[] = { CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE, 39 };
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2];
        for (size_t i = 0; i < AK_ARRAY_SIZE(caps); i++)
                if (prctl(PR_CAPBSET_DROP, caps[i], 0, 0, 0) < 0 && errno != EINVAL) /* EINVAL: unknown here */
                        return -errno;
        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        for (size_t i = 0; i < AK_ARRAY_SIZE(caps); i++) {
                unsigned bit = 1u << (caps[i] % 32);
                d[caps[i] / 32].effective &= ~bit;
                d[caps[i] / 32].permitted &= ~bit;
                d[caps[i] / 32].inheritable &= ~bit;
        }
        return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static void run_child(void *arg)
{
        extern char **environ;
        static const char setns_failed[] = "ak: firecracker: joining the VM's network namespace failed\n";
        static const char caps_failed[] = "ak: firecracker: dropping capabilities failed\n";
        const struct child *c = arg;
        if (c->netns_fd >= 0) {
                if (setns(c->netns_fd, CLONE_NEWNET) < 0) {
                        (void)!write(2, setns_failed, sizeof(setns_failed) - 1);
                        return;
                }
                if (drop_caps() < 0) {
                        (void)!write(2, caps_failed, sizeof(caps_failed) - 1);
                        return;
                }
        }
        execve(c->argv[0], c->argv, environ);
}

static int fc_start(const struct vmm_config *cfg, struct vmm **ret, struct ak_error *err)
{
        _cleanup_close_ int con = -1, log = -1;
        char bin[PATH_MAX];
        int r;

        if ((r = check(cfg, err)) < 0 || (r = find_binary(bin, sizeof(bin), err)) < 0)
                return r;
        const char *kernel = getenv("AK_FIRECRACKER_KERNEL");
        if (!kernel || !*kernel)
                kernel = cfg->kernel;
        else if (access(kernel, R_OK) < 0)
                return ak_error_errno(err, -errno, "AK_FIRECRACKER_KERNEL=%s", kernel);
        struct vmm *vm = calloc(1, sizeof(*vm));
        if (!vm)
                return ak_error_set(err, -ENOMEM, "out of memory");
        vm->proc.pid = -1;
        if (pathfmt(vm->api, sizeof(vm->api), "%s", cfg->control_socket) < 0 ||
            pathfmt(vm->uds, sizeof(vm->uds), "%s", cfg->vsock_uds) < 0) {
                free(vm);
                return ak_error_set(err, -ENAMETOOLONG, "firecracker: socket path too long");
        }
        /* Stale sockets of an earlier run would make Firecracker fail. */
        unlink(vm->api);
        unlink(vm->uds);
        if (cfg->root_disk && cfg->root_mode == VMM_DISK_SNAPSHOT) {
                /* No copy-on-write in Firecracker: the VM gets its own copy,
                 * beside the control socket (in the VM directory). */
                const char *slash = strrchr(vm->api, '/');
                int dl = slash ? (int)(slash - vm->api) : 1;
                if (pathfmt(vm->disk_copy, sizeof(vm->disk_copy), "%.*s/rootfs.copy", dl, slash ? vm->api : ".") <
                    0) {
                        r = ak_error_set(err, -ENAMETOOLONG, "firecracker: disk copy path too long");
                        goto fail;
                }
                if ((r = fc_copy_disk(cfg->root_disk, vm->disk_copy, err)) < 0) {
                        vm->disk_copy[0] = 0;
                        ak_error_wrap(err, "firecracker: root disk snapshot");
                        goto fail;
                }
        }
        con = open(cfg->console_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (con < 0) {
                r = ak_error_errno(err, -errno, "open %s", cfg->console_log);
                goto fail;
        }
        log = open(cfg->log_file ? cfg->log_file : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (log < 0) {
                r = ak_error_errno(err, -errno, "open %s", cfg->log_file);
                goto fail;
        }
        if (cfg->network && (r = net_prepare(vm, cfg, err)) < 0)
                goto fail;
        char *argv[] = { bin, (char *)"--api-sock", vm->api, NULL };
        struct child c = { argv, vm->net ? vmm_net_netns_fd(vm->net) : -1 };
        if ((r = vmm_proc_fork(&vm->proc, run_child, &c, con, log, err)) < 0 ||
            (r = wait_api(vm, cfg->log_file, err)) < 0 || (r = configure(vm, cfg, kernel, err)) < 0)
                goto fail;
        *ret = vm;
        return 0;
fail:
        fc_free(vm);
        return r;
}

static pid_t fc_pid(const struct vmm *vm)
{
        return vm->proc.pid;
}

static int fc_poll_exit(struct vmm *vm, int *ret_status)
{
        return vmm_proc_poll(&vm->proc, ret_status);
}

static int fc_stop(struct vmm *vm, int grace_ms, int *ret_status)
{
        if (vmm_proc_poll(&vm->proc, ret_status) == 1)
                return 1;
        if (grace_ms > 0) {
                long long t0 = ak_mono_ms();
                /* The guest's orderly shutdown; Firecracker exits on its reset. */
                fc_api_put(vm->api, "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", grace_ms, NULL);
                int left = grace_ms - (int)(ak_mono_ms() - t0);
                if (vmm_proc_wait(&vm->proc, left > 0 ? left : 0, ret_status) == 1)
                        return 1;
        }
        return vmm_proc_kill(&vm->proc, ret_status);
}

static void fc_free(struct vmm *vm)
{
        if (!vm)
                return;
        vmm_proc_kill(&vm->proc, NULL);
        unlink(vm->api);
        unlink(vm->uds);
        if (vm->disk_copy[0])
                unlink(vm->disk_copy);
        vmm_net_free(vm->net);
        free(vm);
}

static const char *fc_accel(const struct vmm *vm)
{
        return "kvm";
}

const struct vmm_ops vmm_firecracker_ops = {
        .name = "firecracker",
        .native_vsock = true,
        .control_socket_name = "api.sock",
        .start = fc_start,
        .pid = fc_pid,
        .poll_exit = fc_poll_exit,
        .stop = fc_stop,
        .free = fc_free,
        .accel = fc_accel,
};
