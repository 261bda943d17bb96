/* The QEMU microvm backend. The command line, in full:
 *
 *   qemu-system-x86_64
 *     -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny
 *     -M microvm[,acpi=off],memory-backend=mem -accel kvm|tcg[,tb-size=N] -cpu host|max
 *     -nodefaults -no-user-config -display none -no-reboot
 *     -object memory-backend-memfd,id=mem,size=<M>M,share=on -m <M>M -smp <N>
 *     -kernel <vmlinuz> -initrd <initrd>
 *     -append "console=ttyS0 [reboot=t] [tsc_early_khz=K] <cmdline>"
 *     (acpi=off and reboot=t with vmm_config.no_acpi)
 *     -chardev socket,id=con0,fd=<console socket> -serial chardev:con0 (one
 *     end of a socketpair; console_ring.c reads the other into the capped
 *     console log)
 *     -chardev socket,id=qmp,fd=<listening QMP socket>,server=on,wait=off
 *     -mon chardev=qmp,mode=control
 *     -chardev socket,id=vsock0,fd=<connected vhost-user socket>
 *     -device vhost-user-vsock-device,chardev=vsock0
 *     [-device virtio-balloon-device,free-page-reporting=on]
 *     [-drive id=root,file=<disk>,format=raw,if=none[,snapshot=on|readonly=on]
 *      -device virtio-blk-device,drive=root]
 *     [-netdev user,id=n0 -device virtio-net-device,netdev=n0]
 *
 * QEMU gets its sockets and console as fds we opened, and with a jail_dir
 * (vm.c always gives one) runs confined by vmm_jail.h: as root, under its
 * own uid in a mount namespace with only the base system, its kernel,
 * initramfs and disk; the environment is PATH only. Confined with network,
 * it also runs in a network namespace of its own (vmm_net.h), so that the
 * user networking reaches the public internet and not the host.
 *
 * Guest memory is a shared memfd because our vhost-user back-end maps it.
 * The vsock device has no guest-cid property: QEMU asks the back-end
 * (VHOST_USER_GET_CONFIG).
 *
 * Under TCG the guest calibrates its TSC against the PIT, which fails when
 * the host is busy (emulation is too slow for the calibration window) and
 * the kernel then hangs before init. Guest TSC reads are host TSC reads
 * under TCG, so we measure the host's rate and pass it as tsc_early_khz,
 * and use `-cpu max` (qemu64 lacks what the kernel wants here). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/pathfmt.h"
#include "lib/base/proc.h"
#include "lib/base/time.h"
#include "vmm/backend/console_ring.h"
#include "vmm/backend/qmp.h"
#include "vmm/backend/vmm.h"
#include "vmm/backend/vmm_jail.h"
#include "vmm/backend/vmm_net.h"
#include "vmm/backend/vmm_proc.h"
#include "vmm/backend/vmm_qemu.h"

#define QEMU_BIN "qemu-system-x86_64"
#define MAX_ARGS 64

struct vmm {
        struct vmm_proc proc;
        bool kvm;
        char *qmp_path;
        struct console_ring *console;
        struct vmm_net *net; /* the VM's network namespace (confined VMs with network) */
};

static void strv_free(char **v)
{
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

__attribute__((format(printf, 3, 4))) static void add(char **v, size_t *n, const char *fmt, ...)
{
        va_list ap;
        if (*n + 1 >= MAX_ARGS)
                return;
        va_start(ap, fmt);
        if (vasprintf(&v[*n], fmt, ap) < 0)
                v[*n] = NULL;
        else
                (*n)++;
        va_end(ap);
}

unsigned long vmm_qemu_host_tsc_khz(void)
{
        static unsigned long cached;
        if (cached)
                return cached;
        /* 20 ms of TSC against the raw monotonic clock: within 0.1%. */
        uint64_t t0 = ak_clock_ns(CLOCK_MONOTONIC_RAW), c0 = __builtin_ia32_rdtsc(), t1, c1;
        do {
                t1 = ak_clock_ns(CLOCK_MONOTONIC_RAW);
                c1 = __builtin_ia32_rdtsc();
        } while (t1 - t0 < 20 * 1000 * 1000);
        if (c1 <= c0)
                return 0;
        cached = (unsigned long)((c1 - c0) * 1000000ull / (t1 - t0));
        return cached;
}

int vmm_qemu_guest_ram_bytes(pid_t pid, uint64_t *ret)
{
        static const char memfd[] = "/memfd:memory-backend-memfd";
        char dir[64], target[PATH_MAX];
        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        int r = -ENOENT;
        struct dirent *de;
        while (r == -ENOENT && (de = readdir(d))) {
                ssize_t n = readlinkat(dirfd(d), de->d_name, target, sizeof(target) - 1);
                if (n <= 0)
                        continue;
                target[n] = 0;
                struct stat st;
                if (strncmp(target, memfd, sizeof(memfd) - 1) != 0 || fstatat(dirfd(d), de->d_name, &st, 0) < 0)
                        continue;
                *ret = (uint64_t)st.st_blocks * 512;
                r = 0;
        }
        closedir(d);
        return r;
}

/* QEMU's -name guest=... with the VM's directory (where its console log
 * lives): confined, QEMU's arguments name no other path of the VM, and `ps`
 * should still say which VM a QEMU is. Commas are doubled (QEMU's option
 * syntax); NULL when there is no directory to name. */
static char *guest_name(const char *console_log)
{
        const char *slash = console_log ? strrchr(console_log, '/') : NULL;
        if (!slash || slash == console_log)
                return NULL;
        size_t len = (size_t)(slash - console_log), commas = 0;
        for (size_t i = 0; i < len; i++)
                commas += console_log[i] == ',';
        char *out = malloc(strlen("guest=") + len + commas + 1), *o = out;
        if (!out)
                return NULL;
        o = stpcpy(o, "guest=");
        for (size_t i = 0; i < len; i++) {
                *o++ = console_log[i];
                if (console_log[i] == ',')
                        *o++ = ',';
        }
        *o = 0;
        return out;
}

int vmm_qemu_argv(const struct vmm_config *cfg, const char *qemu, bool kvm, const struct vmm_qemu_fds *fds,
                  char ***ret)
{
        const struct vmm_qemu_fds none = { -1, -1, -1 };
        char **v = calloc(MAX_ARGS, sizeof(char *));
        size_t n = 0;

        if (!v)
                return -ENOMEM;
        if (!fds)
                fds = &none;
        add(v, &n, "%s", qemu);
        /* seccomp: no obsolete calls, no set*id, no fork/exec, no
         * scheduler or affinity changes. */
        add(v, &n, "-sandbox");
        add(v, &n, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
        char *name = guest_name(cfg->console_log);
        if (name) {
                add(v, &n, "-name");
                add(v, &n, "%s", name);
                free(name);
        }
        add(v, &n, "-M");
        add(v, &n, "microvm,%smemory-backend=mem", cfg->no_acpi ? "acpi=off," : "");
        add(v, &n, "-accel");
        if (!kvm && cfg->tcg_tb_mb)
                add(v, &n, "tcg,tb-size=%u", cfg->tcg_tb_mb);
        else
                add(v, &n, "%s", kvm ? "kvm" : "tcg");
        add(v, &n, "-cpu");
        add(v, &n, "%s", kvm ? "host" : "max");
        add(v, &n, "-nodefaults");
        add(v, &n, "-no-user-config");
        add(v, &n, "-display");
        add(v, &n, "none");
        add(v, &n, "-no-reboot");
        add(v, &n, "-object");
        add(v, &n, "memory-backend-memfd,id=mem,size=%uM,share=on", cfg->memory_mb);
        add(v, &n, "-m");
        add(v, &n, "%uM", cfg->memory_mb);
        add(v, &n, "-smp");
        add(v, &n, "%u", cfg->vcpus);
        add(v, &n, "-kernel");
        add(v, &n, "%s", cfg->kernel);
        add(v, &n, "-initrd");
        add(v, &n, "%s", cfg->initrd);
        add(v, &n, "-append");
        char tsc[64] = "";
        unsigned long khz = kvm ? 0 : vmm_qemu_host_tsc_khz();
        snprintf(tsc, sizeof(tsc), "%s", cfg->no_acpi ? " reboot=t" : "");
        if (khz)
                snprintf(tsc + strlen(tsc), sizeof(tsc) - strlen(tsc), " tsc_early_khz=%lu", khz);
        /* Kernel parameters must come before the "--" that starts init's. */
        const char *cl = cfg->cmdline ? cfg->cmdline : "";
        const char *dashes = strstr(cl, " -- ");
        /* Without ACPI QEMU appends the virtio-mmio devices to the command
         * line; after a "--" the kernel would hand them to init. So init's
         * arguments go without it (the kernel passes on what it does not
         * know and has no '.' or '='). */
        if (dashes && cfg->no_acpi)
                add(v, &n, "console=ttyS0%s %.*s %s", tsc, (int)(dashes - cl), cl, dashes + 4);
        else if (dashes)
                add(v, &n, "console=ttyS0%s %.*s%s", tsc, (int)(dashes - cl), cl, dashes);
        else
                add(v, &n, "console=ttyS0%s%s%s", tsc, *cl ? " " : "", cl);
        if (fds->console >= 0) {
                add(v, &n, "-chardev");
                add(v, &n, "socket,id=con0,fd=%d", fds->console);
                add(v, &n, "-serial");
                add(v, &n, "chardev:con0");
        } else {
                add(v, &n, "-serial");
                add(v, &n, "file:%s", cfg->console_log);
        }
        if (fds->qmp >= 0) {
                add(v, &n, "-chardev");
                add(v, &n, "socket,id=qmp,fd=%d,server=on,wait=off", fds->qmp);
                add(v, &n, "-mon");
                add(v, &n, "chardev=qmp,mode=control");
        } else {
                add(v, &n, "-qmp");
                add(v, &n, "unix:%s,server=on,wait=off", cfg->control_socket);
        }
        if (cfg->vhost_user_socket) {
                add(v, &n, "-chardev");
                if (fds->vhost >= 0)
                        add(v, &n, "socket,id=vsock0,fd=%d", fds->vhost);
                else
                        add(v, &n, "socket,id=vsock0,path=%s", cfg->vhost_user_socket);
                add(v, &n, "-device");
                add(v, &n, "vhost-user-vsock-device,chardev=vsock0");
        }
        if (cfg->balloon) {
                add(v, &n, "-device");
                add(v, &n, "virtio-balloon-device,free-page-reporting=on");
        }
        if (cfg->root_disk) {
                add(v, &n, "-drive");
                add(v, &n, "id=root,file=%s,format=raw,if=none%s", cfg->root_disk,
                    cfg->root_mode == VMM_DISK_SNAPSHOT ? ",snapshot=on"
                    : cfg->root_mode == VMM_DISK_RO     ? ",readonly=on"
                                                        : "");
                add(v, &n, "-device");
                add(v, &n, "virtio-blk-device,drive=root");
        }
        if (cfg->network) {
                add(v, &n, "-netdev");
                add(v, &n, "user,id=n0");
                add(v, &n, "-device");
                add(v, &n, "virtio-net-device,netdev=n0");
        }
        /* A failed vasprintf or too many arguments left a gap. */
        if (n + 1 >= MAX_ARGS || !v[n - 1]) {
                strv_free(v);
                return -ENOMEM;
        }
        v[n] = NULL;
        *ret = v;
        return 0;
}

static int unix_socket(const char *path, bool listen_on, int *ret_fd, struct ak_error *err)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (strlen(path) >= sizeof(sa.sun_path))
                return ak_error_set(err, -ENAMETOOLONG, "socket path %s: longer than %zu bytes", path,
                                    sizeof(sa.sun_path) - 1);
        strcpy(sa.sun_path, path);
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return ak_error_errno(err, -errno, "socket for %s", path);
        if (!listen_on) {
                if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        return ak_error_errno(err, -errno, "connect %s", path);
        } else {
                unlink(path);
                int r;
                if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                        return ak_error_errno(err, -errno, "bind %s", path);
                if ((r = ak_private_file(path, err)) < 0)
                        return r;
                if (listen(fd, 8) < 0)
                        return ak_error_errno(err, -errno, "listen %s", path);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* What QEMU may see: the base system, its kernel, initramfs and disk,
 * /dev/kvm, the host's resolver config (user networking answers the
 * guest's DNS), and a temporary directory of its own for snapshot overlays. */
static int jail_prepare(const struct vmm_config *cfg, bool kvm, const char *qemu, struct vmm_jail *j,
                        struct ak_error *err)
{
        char root[PATH_MAX], tmp[PATH_MAX];
        uid_t uid = cfg->jail_uid ? cfg->jail_uid : VMM_JAIL_DEFAULT_ID;
        gid_t gid = cfg->jail_gid ? cfg->jail_gid : VMM_JAIL_DEFAULT_ID;
        bool confine = cfg->jail_dir != NULL;
        int r;

        if (confine && (pathfmt(root, sizeof(root), "%s/root", cfg->jail_dir) < 0 ||
                        pathfmt(tmp, sizeof(tmp), "%s/tmp", cfg->jail_dir) < 0))
                return ak_error_set(err, -ENAMETOOLONG, "VM directory %s: too long", cfg->jail_dir);
        if ((r = vmm_jail_init(j, confine, uid, gid, confine ? root : NULL, err)) < 0 || !j->confine)
                return r;
        if ((mkdir(root, 0700) < 0 && errno != EEXIST) || (mkdir(tmp, 0700) < 0 && errno != EEXIST) ||
            chown(tmp, uid, gid) < 0 || chmod(tmp, 0700) < 0)
                return ak_error_errno(err, -errno, "jail directories in %s", cfg->jail_dir);
        if (strncmp(qemu, "/usr/", 5) != 0 && (r = vmm_jail_bind(j, qemu, VMM_JAIL_EXEC, err)) < 0)
                return r;
        if ((r = vmm_jail_bind(j, cfg->kernel, 0, err)) < 0 || (r = vmm_jail_bind(j, cfg->initrd, 0, err)) < 0)
                return r;
        if (cfg->root_disk &&
            (r = vmm_jail_bind(j, cfg->root_disk, cfg->root_mode == VMM_DISK_RW ? VMM_JAIL_RW : 0, err)) < 0)
                return r;
        if ((r = vmm_jail_tmp(j, tmp, err)) < 0)
                return r;
        if (kvm && (r = vmm_jail_device(j, "/dev/kvm", err)) < 0)
                return r;
        return 0;
}

struct child {
        char **argv;
        struct vmm_jail *jail;
};

static void run_child(void *arg)
{
        const struct child *c = arg;
        if (vmm_jail_enter(c->jail) == 0)
                execve(c->argv[0], c->argv, c->jail->envp);
}

/* The parent's ends of what the child gets as fds: QMP's listening socket
 * (created here, 0600, so QEMU needs no directory to create it in), a
 * connection to our vhost-user back-end, one end of the console's socket
 * pair (a file chardev has no size limit: console_ring reads the other end
 * into cfg->console_log with one). */
static int open_fds(const struct vmm_config *cfg, struct vmm_jail *j, int fds[3], struct vmm_qemu_fds *ret,
                    struct console_ring **ret_console, struct ak_error *err)
{
        int r, pair[2];
        if ((r = unix_socket(cfg->control_socket, true, &fds[0], err)) < 0)
                return r;
        if (cfg->vhost_user_socket && (r = unix_socket(cfg->vhost_user_socket, false, &fds[1], err)) < 0)
                return r;
        /* A connected socket: QEMU takes one as a chardev (fd=), which it
         * does not for a pipe through an fdset. */
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
                return ak_error_errno(err, -errno, "console socket pair for %s", cfg->console_log);
        fds[2] = pair[1];
        if ((r = console_ring_start(pair[0], cfg->console_log, cfg->console_max_bytes, ret_console, err)) < 0)
                return r;
        ret->qmp = vmm_jail_add_fd(j, fds[0]);
        ret->vhost = fds[1] >= 0 ? vmm_jail_add_fd(j, fds[1]) : -1;
        ret->console = vmm_jail_add_fd(j, fds[2]);
        return 0;
}

/* Confined VMs with a network device get a network namespace of their own
 * (vmm_net.h: only the public internet is reachable, not the host nor its
 * private networks) and the resolv.conf slirp reads there. Unconfined
 * (not root): the host's namespace, as before, and its resolv.conf. */
static int net_prepare(const struct vmm_config *cfg, struct vmm_jail *j, struct vmm_net **ret, struct ak_error *err)
{
        int r;
        const char *resolv;
        if (cfg->network && !j->confine && vmm_net_secrets_proxied(cfg->net_secrets))
                return ak_error_set(err, -EOPNOTSUPP, "VM network: secrets and proxy hooks need the VM's own network "
                                    "namespace, which an unconfined VM (not root, or no jail) does not have: run "
                                    "the executor as root");
        if (!cfg->network || !j->confine)
                return 0;
        if (cfg->net_netns_fd > 0) {
                /* Set up by the process that started us (vmbox.h). */
                if ((r = vmm_jail_netns(j, cfg->net_netns_fd)) < 0)
                        return ak_error_errno(err, r, "VM network namespace");
                resolv = cfg->net_resolv_conf;
                if (resolv && access(resolv, R_OK) == 0 &&
                    (r = vmm_jail_bind_at(j, resolv, "/etc/resolv.conf", 0, err)) < 0)
                        return r;
                return 0;
        }
        struct vmm_net_config nc = VMM_NET_CONFIG_OF(cfg, cfg->jail_dir);
        if ((r = vmm_net_setup(&nc, ret, err)) < 0)
                return r;
        if ((r = vmm_jail_netns(j, vmm_net_netns_fd(*ret))) < 0)
                return ak_error_errno(err, r, "VM network namespace");
        resolv = vmm_net_resolv_conf(*ret);
        if (resolv && access(resolv, R_OK) == 0 &&
            (r = vmm_jail_bind_at(j, resolv, "/etc/resolv.conf", 0, err)) < 0)
                return r;
        return 0;
}

static int qemu_start(const struct vmm_config *cfg, struct vmm **ret, struct ak_error *err)
{
        char found[PATH_MAX], qemu[PATH_MAX], why[256];
        char **argv = NULL;
        bool kvm = false;
        int fds[3] = { -1, -1, -1 }, log = -1, r;
        struct vmm_qemu_fds child_fds;

        if ((r = vmm_config_check(cfg, err)) < 0)
                return r;
        /* /bin is a link to /usr/bin on Debian: name it by its real path,
         * which is also the path inside the jail. */
        if (proc_which(QEMU_BIN, found, sizeof(found)) < 0 || !realpath(found, qemu))
                return ak_error_set(err, -ENOENT, QEMU_BIN " not found: apt-get install qemu-system-x86");
        if (cfg->accel != VMM_ACCEL_TCG) {
                kvm = vmm_kvm_usable(why, sizeof(why));
                if (!kvm && cfg->accel == VMM_ACCEL_KVM)
                        return ak_error_set(err, -ENODEV, "KVM asked for but not usable: %s", why);
        }
        struct vmm *vm = calloc(1, sizeof(*vm));
        struct vmm_jail *jail = calloc(1, sizeof(*jail));
        if (!vm || !jail || !(vm->qmp_path = strdup(cfg->control_socket))) {
                r = ak_error_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        vm->kvm = kvm;
        /* Everything the child needs is ready before fork: it only makes
         * async-signal-safe calls, then execs. */
        if ((r = jail_prepare(cfg, kvm, qemu, jail, err)) < 0 || (r = net_prepare(cfg, jail, &vm->net, err)) < 0 ||
            (r = open_fds(cfg, jail, fds, &child_fds, &vm->console, err)) < 0)
                goto fail;
        if ((r = vmm_qemu_argv(cfg, qemu, kvm, &child_fds, &argv)) < 0) {
                r = ak_error_errno(err, r, "QEMU command line");
                goto fail;
        }
        log = open(cfg->log_file ? cfg->log_file : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (log < 0) {
                r = ak_error_errno(err, -errno, "open %s", cfg->log_file);
                goto fail;
        }
        struct child c = { argv, jail };
        r = vmm_proc_fork(&vm->proc, run_child, &c, log, log, err);
        if (r < 0)
                goto fail;
        close(log);
        for (int i = 0; i < 3; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        free(jail);
        strv_free(argv);
        *ret = vm;
        return 0;
fail:
        if (log >= 0)
                close(log);
        for (int i = 0; i < 3; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        if (fds[0] >= 0)
                unlink(cfg->control_socket);
        if (vm) {
                console_ring_free(vm->console);
                free(vm->qmp_path);
                vmm_net_free(vm->net);
        }
        free(vm);
        free(jail);
        strv_free(argv);
        return r;
}

static pid_t qemu_pid(const struct vmm *vm)
{
        return vm->proc.pid;
}

static int qemu_poll_exit(struct vmm *vm, int *ret_status)
{
        return vmm_proc_poll(&vm->proc, ret_status);
}

static int qemu_stop(struct vmm *vm, int grace_ms, int *ret_status)
{
        if (qemu_poll_exit(vm, ret_status) == 1)
                return 1;
        if (grace_ms > 0) {
                _cleanup_close_ int fd = -1;
                char *reply = NULL;
                if (qmp_connect(vm->qmp_path, grace_ms / 2, &fd) == 0 &&
                    qmp_command(fd, "{\"execute\":\"quit\"}", grace_ms / 2, &reply) >= 0)
                        free(reply);
                if (vmm_proc_wait(&vm->proc, grace_ms, ret_status) == 1)
                        return 1;
        }
        return vmm_proc_kill(&vm->proc, ret_status);
}

static void qemu_free(struct vmm *vm)
{
        if (!vm)
                return;
        qemu_stop(vm, 0, NULL);
        /* QEMU is gone: the pipe ends, the reader writes the rest. */
        console_ring_free(vm->console);
        vmm_net_free(vm->net);
        unlink(vm->qmp_path);
        free(vm->qmp_path);
        free(vm);
}

static const char *qemu_accel(const struct vmm *vm)
{
        return vm->kvm ? "kvm" : "tcg";
}

const struct vmm_ops vmm_qemu_ops = {
        .name = "qemu",
        .control_socket_name = "qmp.sock",
        .start = qemu_start,
        .pid = qemu_pid,
        .poll_exit = qemu_poll_exit,
        .stop = qemu_stop,
        .free = qemu_free,
        .accel = qemu_accel,
};
