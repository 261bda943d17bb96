/* ak-vmm: the supervisor of one microVM started by `ak vm boot` or by
 * ak-executor --vm-supervisors. Runs the VMM (QEMU) and our vsock bridge
 * thread, writes <dir>/vm.json, and exits when the VMM exits; SIGTERM/SIGINT
 * stop the VM first (QMP quit, then kill). Its messages are lines of ak's
 * structured log (lib/log: --log-format text|json, --log-level L, service
 * "ak-vmm"). Flags, wiring and signals only: the work is in vm.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "lib/base/fs.h"
#include "lib/base/parse.h"
#include "lib/base/pathfmt.h"
#include "lib/log/log.h"
#include "vmm/vm.h"
#include "vmm/vm_registry.h"

static void usage(FILE *f)
{
        fputs("usage: ak-vmm --dir DIR --name NAME --kernel FILE --initrd FILE [--rootfs FILE]\n"
              "              [--vcpus N] [--memory-mb M] [--net] [--accel auto|kvm|tcg]\n"
              "              [--image NAME --image-hash HASH] [--stock-boot] [--tcg-tb-mb N]\n"
              "              [--page-reporting-order N]\n"
              "              [--netns-fd FD [--resolv-conf FILE]] [--cgroup DIR] [--no-acpi]\n"
              "              [--log-format text|json] [--log-level L]\n"
              "\n"
              "  --log-format text|json      stderr's lines as text or one JSON object a line\n"
              "                              (time, level, service, msg, fields; default text)\n"
              "  --log-level L               debug, info, warn or error (info)\n"
              "\n"
              "--log-format, --log-level: ak-executor and `ak vm boot` pass their own;\n"
              "ak-vmm's stderr is then DIR/ak-vmm.log.\n"
              "\n"
              "--no-acpi: the kernel cannot use QEMU microvm's ACPI tables (ak's small\n"
              "kernel, `ak image kernel`): boot with -M microvm,acpi=off and reboot=t.\n"
              "\n"
              "--cgroup: join the cgroup v2 directory DIR (write our pid into its\n"
              "cgroup.procs) before anything else, so ak-vmm, its vsock bridge and\n"
              "QEMU live there and not in the cgroup of the process that started us\n"
              "(ak-executor --vm-cgroup: VMs that outlive the executor's container).\n"
              "\n"
              "--netns-fd: with --net, run QEMU in the network namespace open as FD\n"
              "(set up by the process that started ak-vmm, which serves its resolver\n"
              "and proxy; the namespace then outlives that process while the VM runs)\n"
              "and give it FILE as /etc/resolv.conf.\n"
              "\n"
              "--stock-boot: without the density settings (lean kernel parameters, a\n"
              "small TCG translation cache, the free-page-reporting balloon), as\n"
              "bench/density compares them. --tcg-tb-mb: TCG's translation cache in MiB\n"
              "(default 32 with --rootfs, 16 from the initramfs; QEMU's own with\n"
              "--stock-boot). --page-reporting-order: the guest\n"
              "reports free blocks of 4 KiB << N (0..10) to the host (default 5; the\n"
              "kernel's 2 MiB with --stock-boot).\n"
              "\n"
              "Runs one microVM (QEMU microvm + the vhost-user-vsock bridge) until it\n"
              "exits or a SIGTERM stops it. Started by `ak vm boot`; see `ak vm --help`.\n",
              f);
}

struct opts {
        struct vm_config cfg;
        const char *name, *image, *image_hash, *cgroup, *log_format, *log_level;
        bool help;
};

/* One flag with its value into o. 0, or -EINVAL said in err. */
static int take_flag(int c, const char *arg, struct opts *o, struct ak_error *err)
{
        struct vm_config *cfg = &o->cfg;
        unsigned fd;
        switch (c) {
        case 'd': cfg->dir = arg; return 0;
        case 'n': o->name = arg; return 0;
        case 'k': cfg->kernel = arg; return 0;
        case 'i': cfg->initrd = arg; return 0;
        case 'r': cfg->root_disk = arg; return 0;
        case 'N': cfg->network = true; return 0;
        case 'I': o->image = arg; return 0;
        case 'H': o->image_hash = arg; return 0;
        case 'S': cfg->stock_boot = true; return 0;
        case 'A': cfg->no_acpi = true; return 0;
        case 'R': cfg->net_resolv_conf = arg; return 0;
        case 'G': o->cgroup = arg; return 0;
        case 'L': o->log_format = arg; return 0;
        case 'l': o->log_level = arg; return 0;
        case 'h': o->help = true; return 0;
        case 'c':
                if (ak_parse_uint(arg, 0, VMM_MAX_VCPUS, &cfg->vcpus) < 0 || !cfg->vcpus)
                        return ak_error_set(err, -EINVAL, "--vcpus %s: expected 1..%d", arg, VMM_MAX_VCPUS);
                return 0;
        case 'm':
                if (ak_parse_uint(arg, 0, VMM_MAX_MEMORY_MB, &cfg->memory_mb) < 0 || cfg->memory_mb < VMM_MIN_MEMORY_MB)
                        return ak_error_set(err, -EINVAL, "--memory-mb %s: expected %d..%d", arg, VMM_MIN_MEMORY_MB,
                                            VMM_MAX_MEMORY_MB);
                return 0;
        case 'a':
                if (vmm_accel_parse(arg, &cfg->accel) < 0)
                        return ak_error_set(err, -EINVAL, "--accel %s: expected auto, kvm or tcg", arg);
                return 0;
        case 'T':
                if (ak_parse_uint(arg, 0, VMM_MAX_TCG_TB_MB, &cfg->tcg_tb_mb) < 0 || !cfg->tcg_tb_mb)
                        return ak_error_set(err, -EINVAL, "--tcg-tb-mb %s: expected 1..%d", arg, VMM_MAX_TCG_TB_MB);
                return 0;
        case 'P':
                if (ak_parse_uint(arg, 0, VM_PAGE_REPORTING_ORDER_MAX, &cfg->page_reporting_order) < 0)
                        return ak_error_set(err, -EINVAL, "--page-reporting-order %s: expected 0..%d", arg,
                                            VM_PAGE_REPORTING_ORDER_MAX);
                cfg->page_reporting_order_set = true;
                return 0;
        case 'F':
                if (ak_parse_uint(arg, 0, 1 << 20, &fd) < 0 || fd < 3 || ioctl((int)fd, NS_GET_NSTYPE) != CLONE_NEWNET)
                        return ak_error_set(err, -EINVAL, "--netns-fd %s: not an open network namespace (fd 3 or "
                                            "above, inherited from the caller)", arg);
                cfg->net_netns_fd = (int)fd;
                fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* QEMU enters it with setns, keeps no fd */
                return 0;
        default:
                return ak_error_set(err, -EINVAL, "unknown flag or flag without its value: %s (see ak-vmm --help)",
                                    arg);
        }
}

/* argv into o, every flag read even after a bad one (so that the log
 * flags count for the message about it). 0, or -EINVAL with the first
 * problem in err. */
static int parse_flags(int argc, char **argv, struct opts *o, struct ak_error *err)
{
        static const struct option longopts[] = {
                { "dir", required_argument, NULL, 'd' },      { "name", required_argument, NULL, 'n' },
                { "kernel", required_argument, NULL, 'k' },   { "initrd", required_argument, NULL, 'i' },
                { "rootfs", required_argument, NULL, 'r' },   { "vcpus", required_argument, NULL, 'c' },
                { "memory-mb", required_argument, NULL, 'm' }, { "net", no_argument, NULL, 'N' },
                { "accel", required_argument, NULL, 'a' },    { "image", required_argument, NULL, 'I' },
                { "image-hash", required_argument, NULL, 'H' }, { "help", no_argument, NULL, 'h' },
                { "stock-boot", no_argument, NULL, 'S' },     { "tcg-tb-mb", required_argument, NULL, 'T' },
                { "page-reporting-order", required_argument, NULL, 'P' },
                { "netns-fd", required_argument, NULL, 'F' }, { "resolv-conf", required_argument, NULL, 'R' },
                { "cgroup", required_argument, NULL, 'G' }, { "no-acpi", no_argument, NULL, 'A' },
                { "log-format", required_argument, NULL, 'L' }, { "log-level", required_argument, NULL, 'l' },
                {},
        };
        struct ak_error first = { 0 };
        int c, bad = 0;

        opterr = 0; /* getopt's own words would not be log lines */
        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                struct ak_error e = { 0 };
                const char *arg = c == '?' ? argv[optind - 1] : optarg;
                if (take_flag(c, arg, o, &e) < 0 && !bad)
                        bad = -EINVAL, first = e;
        }
        const struct vm_config *cfg = &o->cfg;
        if (!bad && optind != argc)
                bad = ak_error_set(&first, -EINVAL, "unexpected argument %s (see ak-vmm --help)", argv[optind]);
        if (!bad && !o->help && (!cfg->dir || !o->name || !cfg->kernel || !cfg->initrd))
                bad = ak_error_set(&first, -EINVAL, "--dir, --name, --kernel and --initrd are required (see ak-vmm "
                                   "--help)");
        if (!bad && (((cfg->net_netns_fd || cfg->net_resolv_conf) && !cfg->network) ||
                     (cfg->net_resolv_conf && !cfg->net_netns_fd)))
                bad = ak_error_set(&first, -EINVAL, "--netns-fd needs --net, --resolv-conf needs --netns-fd");
        if (!bad && !o->help && (vm_name_check(o->name) < 0 || strlen(o->image) >= sizeof(((struct vm_record *)0)->image) ||
                                 strlen(o->image_hash) >= sizeof(((struct vm_record *)0)->image_hash)))
                bad = ak_error_set(&first, -EINVAL, "invalid --name, --image or --image-hash");
        if (bad)
                *err = first;
        return bad;
}

/* <dir>/vm.json: what `ak vm` lists and attaches to. */
static void record_fill(struct vm_record *rec, struct vm *vm, const struct vm_config *cfg, const char *name,
                        const char *image, const char *image_hash)
{
        snprintf(rec->name, sizeof(rec->name), "%s", name);
        rec->pid = getpid();
        vm_proc_start_time(rec->pid, &rec->pid_start);
        rec->vmm_pid = vm_pid(vm);
        vm_proc_start_time(rec->vmm_pid, &rec->vmm_start);
        snprintf(rec->dir, sizeof(rec->dir), "%s", cfg->dir);
        snprintf(rec->vsock_uds, sizeof(rec->vsock_uds), "%s", vm_vsock_uds(vm));
        snprintf(rec->console_log, sizeof(rec->console_log), "%s", vm_console_log(vm));
        snprintf(rec->image, sizeof(rec->image), "%s", image);
        snprintf(rec->image_hash, sizeof(rec->image_hash), "%s", image_hash);
        rec->vcpus = cfg->vcpus ? cfg->vcpus : VM_DEFAULT_VCPUS;
        rec->memory_mb = cfg->memory_mb ? cfg->memory_mb : VM_DEFAULT_MEMORY_MB;
        rec->network = cfg->network;
        snprintf(rec->accel, sizeof(rec->accel), "%s", vm_accel(vm));
        rec->created_at = (int64_t)time(NULL);
}

/* Into the cgroup v2 directory dir, before QEMU is started (it inherits
 * ours). 0, or -errno (logged). */
static int join_cgroup(const char *dir)
{
        char path[PATH_MAX];
        int r = pathfmt(path, sizeof(path), "%s/cgroup.procs", dir);
        if (r == 0)
                r = ak_write_kernel_file(path, "0");
        if (r < 0) {
                AK_LOG(AK_LOG_ERROR, "join cgroup failed", AK_LOG_S("cgroup", dir), AK_LOG_S("file", path),
                       AK_LOG_S("error", strerror(-r)),
                       AK_LOG_S("want", "a cgroup v2 directory this process may move into (ak-executor "
                                        "--vm-cgroup makes one per VM)"));
                return r;
        }
        AK_LOG(AK_LOG_INFO, "joined cgroup", AK_LOG_S("cgroup", dir), AK_LOG_I("pid", getpid()));
        return 0;
}

/* Until the VMM exits (its status as our exit code) or a stop signal (the
 * VM is stopped first: exit code 0). */
static int wait_for_exit(struct vm *vm, const char *name, const sigset_t *set)
{
        int status = 0, code = 0;
        pid_t qemu = vm_pid(vm);
        for (;;) {
                struct timespec tick = { 1, 0 };
                int sig = sigtimedwait(set, NULL, &tick);
                if (vm_poll_exit(vm, &status) == 1) {
                        AK_LOG(status == 0 ? AK_LOG_INFO : AK_LOG_WARN, "QEMU exited", AK_LOG_S("name", name),
                               AK_LOG_I("qemu_pid", qemu), AK_LOG_I("status", status));
                        code = status == 0 ? 0 : 1;
                        break;
                }
                if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
                        char reason[32];
                        snprintf(reason, sizeof(reason), "SIG%s", sigabbrev_np(sig));
                        AK_LOG(AK_LOG_INFO, "stopping VM", AK_LOG_S("name", name), AK_LOG_I("qemu_pid", qemu),
                               AK_LOG_S("reason", reason));
                        int r = vm_stop(vm, 3000, &status);
                        AK_LOG(r < 0 ? AK_LOG_WARN : AK_LOG_INFO, "VM stopped", AK_LOG_S("name", name),
                               AK_LOG_I("qemu_pid", qemu), AK_LOG_I("status", r < 0 ? -1 : status));
                        break;
                }
        }
        return code;
}

/* Blocks the stop signals (taken synchronously in wait_for_exit; the
 * bridge thread inherits the mask) into set. */
static void block_signals(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGHUP);
        sigaddset(set, SIGCHLD);
        sigprocmask(SIG_BLOCK, set, NULL);
        signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
        struct opts o = { .cfg = { .root_mode = VMM_DISK_SNAPSHOT }, .image = "base", .image_hash = "" };
        struct ak_error err = { 0 }, bad = { 0 };
        int parsed = parse_flags(argc, argv, &o, &bad);

        if (ak_log_setup("ak-vmm", o.log_format, o.log_level, &err) < 0) {
                fprintf(stderr, "ak-vmm: %s\n", err.msg);
                return 2;
        }
        if (o.help && parsed == 0) {
                usage(stdout);
                return 0;
        }
        if (parsed < 0) {
                AK_LOG(AK_LOG_ERROR, "invalid command line", AK_LOG_S("error", bad.msg));
                return 2;
        }
        if (o.cgroup && join_cgroup(o.cgroup) < 0)
                return 1;

        sigset_t set;
        block_signals(&set);
        struct vm_record rec = { 0 };
        struct vm *vm = NULL;
        if (vm_start(&o.cfg, &vm, &err) < 0) {
                AK_LOG(AK_LOG_ERROR, "start VM failed", AK_LOG_S("name", o.name), AK_LOG_S("error", err.msg));
                return 1;
        }
        record_fill(&rec, vm, &o.cfg, o.name, o.image, o.image_hash);
        if (vm_record_write(o.cfg.dir, &rec, &err) < 0) {
                AK_LOG(AK_LOG_ERROR, "write VM record failed", AK_LOG_S("name", o.name), AK_LOG_S("error", err.msg));
                vm_free(vm);
                return 1;
        }
        AK_LOG(AK_LOG_INFO, "VM running", AK_LOG_S("name", o.name), AK_LOG_I("pid", rec.pid),
               AK_LOG_I("qemu_pid", rec.vmm_pid), AK_LOG_S("accel", rec.accel), AK_LOG_S("vsock", rec.vsock_uds),
               AK_LOG_S("dir", o.cfg.dir));

        int code = wait_for_exit(vm, o.name, &set);
        vm_free(vm);
        return code;
}
