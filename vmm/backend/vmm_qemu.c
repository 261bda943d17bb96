/* The QEMU microvm backend. The command line, in full:
 *
 *   qemu-system-x86_64 -M microvm,memory-backend=mem -accel kvm|tcg -cpu host|max
 *     -nodefaults -no-user-config -display none -no-reboot
 *     -object memory-backend-memfd,id=mem,size=<M>M,share=on -m <M>M -smp <N>
 *     -kernel <vmlinuz> -initrd <initrd> -append "console=ttyS0 <cmdline>"
 *     -serial file:<console log> -qmp unix:<qmp>,server=on,wait=off
 *     -chardev socket,id=vsock0,path=<vhost-user socket>
 *     -device vhost-user-vsock-device,chardev=vsock0
 *     [-drive id=root,file=<disk>,format=raw,if=none[,snapshot=on|readonly=on]
 *      -device virtio-blk-device,drive=root]
 *     [-netdev user,id=n0 -device virtio-net-device,netdev=n0]
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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/cleanup.h"
#include "lib/base/proc.h"
#include "lib/base/time.h"
#include "vmm/backend/qmp.h"
#include "vmm/backend/vmm.h"
#include "vmm/backend/vmm_proc.h"
#include "vmm/backend/vmm_qemu.h"

#define QEMU_BIN "qemu-system-x86_64"
#define MAX_ARGS 64

struct vmm {
        struct vmm_proc proc;
        bool kvm;
        char *qmp_path;
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

int vmm_qemu_argv(const struct vmm_config *cfg, const char *qemu, bool kvm, char ***ret)
{
        char **v = calloc(MAX_ARGS, sizeof(char *));
        size_t n = 0;

        if (!v)
                return -ENOMEM;
        add(v, &n, "%s", qemu);
        add(v, &n, "-M");
        add(v, &n, "microvm,memory-backend=mem");
        add(v, &n, "-accel");
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
        char tsc[48] = "";
        unsigned long khz = kvm ? 0 : vmm_qemu_host_tsc_khz();
        if (khz)
                snprintf(tsc, sizeof(tsc), " tsc_early_khz=%lu", khz);
        /* Kernel parameters must come before the "--" that starts init's. */
        const char *cl = cfg->cmdline ? cfg->cmdline : "";
        const char *dashes = strstr(cl, " -- ");
        if (dashes)
                add(v, &n, "console=ttyS0%s %.*s%s", tsc, (int)(dashes - cl), cl, dashes);
        else
                add(v, &n, "console=ttyS0%s%s%s", tsc, *cl ? " " : "", cl);
        add(v, &n, "-serial");
        add(v, &n, "file:%s", cfg->console_log);
        add(v, &n, "-qmp");
        add(v, &n, "unix:%s,server=on,wait=off", cfg->control_socket);
        if (cfg->vhost_user_socket) {
                add(v, &n, "-chardev");
                add(v, &n, "socket,id=vsock0,path=%s", cfg->vhost_user_socket);
                add(v, &n, "-device");
                add(v, &n, "vhost-user-vsock-device,chardev=vsock0");
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

static int qemu_start(const struct vmm_config *cfg, struct vmm **ret, struct ak_error *err)
{
        char qemu[PATH_MAX], why[256];
        char **argv = NULL;
        bool kvm = false;
        int r;

        if ((r = vmm_config_check(cfg, err)) < 0)
                return r;
        if (proc_which(QEMU_BIN, qemu, sizeof(qemu)) < 0)
                return ak_error_set(err, -ENOENT, QEMU_BIN " not found: apt-get install qemu-system-x86");
        if (cfg->accel != VMM_ACCEL_TCG) {
                kvm = vmm_kvm_usable(why, sizeof(why));
                if (!kvm && cfg->accel == VMM_ACCEL_KVM)
                        return ak_error_set(err, -ENODEV, "KVM asked for but not usable: %s", why);
        }
        if ((r = vmm_qemu_argv(cfg, qemu, kvm, &argv)) < 0)
                return ak_error_errno(err, r, "QEMU command line");
        struct vmm *vm = calloc(1, sizeof(*vm));
        if (!vm || !(vm->qmp_path = strdup(cfg->control_socket))) {
                free(vm);
                strv_free(argv);
                return ak_error_set(err, -ENOMEM, "out of memory");
        }
        vm->kvm = kvm;
        /* Everything the child needs is ready before fork: it only makes
         * async-signal-safe calls, then execs. */
        unlink(cfg->control_socket);
        int log = open(cfg->log_file ? cfg->log_file : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (log < 0) {
                r = ak_error_errno(err, -errno, "open %s", cfg->log_file);
                goto fail;
        }
        r = vmm_proc_exec(&vm->proc, argv, log, log, err);
        close(log);
        if (r < 0)
                goto fail;
        strv_free(argv);
        *ret = vm;
        return 0;
fail:
        free(vm->qmp_path);
        free(vm);
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
