/* ak-vmm: the supervisor of one microVM started by `ak vm boot`. Runs the
 * VMM (QEMU) and our vsock bridge thread, writes <dir>/vm.json, and exits
 * when the VMM exits; SIGTERM/SIGINT stop the VM first (QMP quit, then
 * kill). Flags, wiring and signals only: the work is in vm.h. */
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
#include "vmm/vm.h"
#include "vmm/vm_registry.h"

static void usage(FILE *f)
{
        fputs("usage: ak-vmm --dir DIR --name NAME --kernel FILE --initrd FILE [--rootfs FILE]\n"
              "              [--vcpus N] [--memory-mb M] [--net] [--accel auto|kvm|tcg]\n"
              "              [--image NAME --image-hash HASH] [--stock-boot] [--tcg-tb-mb N]\n"
              "              [--page-reporting-order N]\n"
              "              [--netns-fd FD [--resolv-conf FILE]] [--cgroup DIR] [--no-acpi]\n"
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
 * ours). 0, or -errno said on stderr. */
static int join_cgroup(const char *dir)
{
        char path[PATH_MAX];
        int r = pathfmt(path, sizeof(path), "%s/cgroup.procs", dir);
        if (r == 0)
                r = ak_write_kernel_file(path, "0");
        if (r < 0)
                fprintf(stderr, "ak-vmm: --cgroup %s: join (write 0 into %s): %s: want a cgroup v2 directory this "
                        "process may move into (ak-executor --vm-cgroup makes one per VM)\n", dir, path,
                        strerror(-r));
        return r;
}

/* Until the VMM exits (its status as our exit code) or a stop signal (the
 * VM is stopped first: exit code 0). */
static int wait_for_exit(struct vm *vm, const char *name, const sigset_t *set)
{
        int status = 0, code = 0;
        for (;;) {
                struct timespec tick = { 1, 0 };
                int sig = sigtimedwait(set, NULL, &tick);
                if (vm_poll_exit(vm, &status) == 1) {
                        fprintf(stderr, "ak-vmm: VM %s exited with status %d\n", name, status);
                        code = status == 0 ? 0 : 1;
                        break;
                }
                if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
                        fprintf(stderr, "ak-vmm: stopping VM %s (signal %d)\n", name, sig);
                        vm_stop(vm, 3000, &status);
                        break;
                }
        }
        return code;
}

int main(int argc, char **argv)
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
                {},
        };
        struct vm_config cfg = { .root_mode = VMM_DISK_SNAPSHOT };
        struct vm_record rec = { 0 };
        const char *name = NULL, *image = "base", *image_hash = "", *cgroup = NULL;
        int c;

        while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        cfg.dir = optarg;
                        break;
                case 'n':
                        name = optarg;
                        break;
                case 'k':
                        cfg.kernel = optarg;
                        break;
                case 'i':
                        cfg.initrd = optarg;
                        break;
                case 'r':
                        cfg.root_disk = optarg;
                        break;
                case 'c':
                        if (ak_parse_uint(optarg, 0, VMM_MAX_VCPUS, &cfg.vcpus) < 0 || !cfg.vcpus) {
                                fprintf(stderr, "ak-vmm: --vcpus %s: expected 1..%d\n", optarg, VMM_MAX_VCPUS);
                                return 2;
                        }
                        break;
                case 'm':
                        if (ak_parse_uint(optarg, 0, VMM_MAX_MEMORY_MB, &cfg.memory_mb) < 0 ||
                            cfg.memory_mb < VMM_MIN_MEMORY_MB) {
                                fprintf(stderr, "ak-vmm: --memory-mb %s: expected %d..%d\n", optarg,
                                        VMM_MIN_MEMORY_MB, VMM_MAX_MEMORY_MB);
                                return 2;
                        }
                        break;
                case 'N':
                        cfg.network = true;
                        break;
                case 'a':
                        if (vmm_accel_parse(optarg, &cfg.accel) < 0) {
                                fprintf(stderr, "ak-vmm: --accel %s: expected auto, kvm or tcg\n", optarg);
                                return 2;
                        }
                        break;
                case 'I':
                        image = optarg;
                        break;
                case 'H':
                        image_hash = optarg;
                        break;
                case 'S':
                        cfg.stock_boot = true;
                        break;
                case 'A':
                        cfg.no_acpi = true;
                        break;
                case 'T':
                        if (ak_parse_uint(optarg, 0, VMM_MAX_TCG_TB_MB, &cfg.tcg_tb_mb) < 0 || !cfg.tcg_tb_mb) {
                                fprintf(stderr, "ak-vmm: --tcg-tb-mb %s: expected 1..%d\n", optarg, VMM_MAX_TCG_TB_MB);
                                return 2;
                        }
                        break;
                case 'P':
                        if (ak_parse_uint(optarg, 0, VM_PAGE_REPORTING_ORDER_MAX, &cfg.page_reporting_order) < 0) {
                                fprintf(stderr, "ak-vmm: --page-reporting-order %s: expected 0..%d\n", optarg,
                                        VM_PAGE_REPORTING_ORDER_MAX);
                                return 2;
                        }
                        cfg.page_reporting_order_set = true;
                        break;
                case 'F': {
                        unsigned fd;
                        if (ak_parse_uint(optarg, 0, 1 << 20, &fd) < 0 || fd < 3 ||
                            ioctl((int)fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
                                fprintf(stderr, "ak-vmm: --netns-fd %s: not an open network namespace (fd 3 or "
                                        "above, inherited from the caller)\n", optarg);
                                return 2;
                        }
                        cfg.net_netns_fd = (int)fd;
                        fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* QEMU enters it with setns, keeps no fd */
                        break;
                }
                case 'R':
                        cfg.net_resolv_conf = optarg;
                        break;
                case 'G':
                        cgroup = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (!cfg.dir || !name || !cfg.kernel || !cfg.initrd || optind != argc ||
            ((cfg.net_netns_fd || cfg.net_resolv_conf) && !cfg.network) || (cfg.net_resolv_conf && !cfg.net_netns_fd)) {
                usage(stderr);
                return 2;
        }
        if (vm_name_check(name) < 0 || strlen(image) >= sizeof(rec.image) || strlen(image_hash) >= sizeof(rec.image_hash)) {
                fprintf(stderr, "ak-vmm: invalid --name, --image or --image-hash\n");
                return 2;
        }
        if (cgroup && join_cgroup(cgroup) < 0)
                return 1;

        /* Signals are taken synchronously; the bridge thread inherits the mask. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGCHLD);
        sigprocmask(SIG_BLOCK, &set, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct ak_error err = { 0 };
        struct vm *vm = NULL;
        if (vm_start(&cfg, &vm, &err) < 0) {
                fprintf(stderr, "ak-vmm: start VM %s: %s\n", name, err.msg);
                return 1;
        }
        record_fill(&rec, vm, &cfg, name, image, image_hash);
        if (vm_record_write(cfg.dir, &rec, &err) < 0) {
                fprintf(stderr, "ak-vmm: %s\n", err.msg);
                vm_free(vm);
                return 1;
        }
        fprintf(stderr, "ak-vmm: VM %s running: %s pid %d (%s), vsock %s\n", name, "qemu", (int)rec.vmm_pid,
                rec.accel, rec.vsock_uds);

        int code = wait_for_exit(vm, name, &set);
        vm_free(vm);
        return code;
}
