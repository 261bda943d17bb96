/* `ak vm boot|list|stop`: microVMs by hand, like firectl for Firecracker.
 * boot starts an `ak-vmm` supervisor (QEMU + our vsock bridge) that keeps
 * running after ak exits, waits until the guest agent answers a ping over
 * vsock and prints the VM as JSON; list shows them; stop ends one and
 * removes its files. State: $AK_HOME/vms/<name>/. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/opt.h"
#include "cli/progress.h"
#include "lib/base/binpath.h"
#include "lib/base/cleanup.h"
#include "lib/base/fs.h"
#include "lib/base/parse.h"
#include "lib/base/pathfmt.h"
#include "lib/base/time.h"
#include "lib/guest/guest_client.h"
#include "lib/json/writer.h"
#include "vmm/backend/vmm_proc.h"
#include "vmm/image/image.h"
#include "vmm/vm.h"
#include "vmm/vm_registry.h"
#include "vmm/vmbox.h"


#define BOOT_TIMEOUT_S 120
#define STOP_WAIT_MS 10000

const char cli_vm_help[] =
        "Usage: ak vm boot NAME [--image base|IMAGE] [--vcpus N] [--memory-mb M] [--net]\n"
        "                       [--accel auto|kvm|tcg] [--timeout SECONDS]\n"
        "       ak vm list [--json]\n"
        "       ak vm stop [-t D] NAME...\n"
        "\n"
        "boot starts a microVM (QEMU microvm; KVM where the CPU allows, else TCG\n"
        "emulation) from an image (`base`, built on first use, or one made with\n"
        "`ak image build`), waits until its guest agent answers a ping through the\n"
        "vsock bridge, and prints the VM as JSON: name, pid (QEMU), supervisor_pid,\n"
        "vsock_uds (Firecracker-style hybrid vsock: connect, write \"CONNECT 52000\\n\",\n"
        "read \"OK <port>\\n\", then speak the guest protocol), console_log, dir.\n"
        "If the guest does not come up, it prints the end of the console log and\n"
        "cleans up. The VM keeps running after ak exits, until `ak vm stop`.\n"
        "\n"
        "  --image NAME     image to boot (default base)\n"
        "  --vcpus N        virtual CPUs, 1..64 (default 1)\n"
        "  --memory-mb M    guest memory in MiB, 64..262144 (default 256)\n"
        "  --net            user-mode networking (virtio-net)\n"
        "  --accel A        auto (default), kvm or tcg\n"
        "  --timeout S      how long to wait for the guest agent (default 120)\n"
        "\n"
        "stop sends each VM SIGTERM and kills it (SIGKILL) if it has not ended\n"
        "within the grace time, as docker stop:\n"
        "  -t, --time D     the grace time: 0 (at once), 10s (default), 2m; at most 10m\n"
        "\n"
        "Examples:\n"
        "  ak vm boot dev\n"
        "  ak vm boot py --image python --vcpus 2 --memory-mb 1024\n"
        "  ak vm list\n"
        "  ak vm list --json | jq -r '.[].vsock_uds'\n"
        "  ak vm stop dev\n";

static const struct cli_command cli_cmd_vm = { "vm", "boot, list and stop microVMs", cli_vm_run, cli_vm_help };

/* Ends a VM's supervisor (and with it QEMU) and waits for both. */
static void kill_vm(const struct vm_record *r, long long wait_ms)
{
        if (vm_proc_alive(r->pid, r->pid_start))
                kill(r->pid, SIGTERM);
        for (long long end = ak_mono_ms() + wait_ms; ak_mono_ms() < end;) {
                if (!vm_proc_alive(r->pid, r->pid_start) && !vm_proc_alive(r->vmm_pid, r->vmm_start))
                        return;
                usleep(20000);
        }
        if (vm_proc_alive(r->pid, r->pid_start))
                kill(r->pid, SIGKILL);
        if (vm_proc_alive(r->vmm_pid, r->vmm_start))
                kill(r->vmm_pid, SIGKILL);
        for (int i = 0; i < 100 && (vm_proc_alive(r->pid, r->pid_start) || vm_proc_alive(r->vmm_pid, r->vmm_start)); i++)
                usleep(20000);
}

static void print_tail(const char *path, const char *what)
{
        char tail[4096];
        vmm_log_tail(path, 20, tail, sizeof(tail));
        if (tail[0])
                fprintf(stderr, "--- %s (%s) ---\n%s\n---\n", what, path, tail);
}

static void put_str(FILE *f, const char *key, const char *v, bool comma)
{
        char *q = NULL;
        size_t n;
        fprintf(f, "%s\"%s\":", comma ? "," : "", key);
        if (json_quote(v, strlen(v), &q, &n) == 0)
                fwrite(q, 1, n, f);
        else
                fputs("null", f);
        free(q);
}

static void print_vm_json(FILE *f, const struct vm_record *r, long long boot_ms, bool running)
{
        fputc('{', f);
        put_str(f, "name", r->name, false);
        fprintf(f, ",\"pid\":%d,\"supervisor_pid\":%d", (int)r->vmm_pid, (int)r->pid);
        put_str(f, "vsock_uds", r->vsock_uds, true);
        put_str(f, "console_log", r->console_log, true);
        put_str(f, "dir", r->dir, true);
        put_str(f, "image", r->image, true);
        fprintf(f, ",\"vcpus\":%u,\"memory_mb\":%u,\"network\":%s", r->vcpus, r->memory_mb,
                r->network ? "true" : "false");
        put_str(f, "accel", r->accel, true);
        put_str(f, "state", running ? "running" : "exited", true);
        if (boot_ms >= 0)
                fprintf(f, ",\"boot_ms\":%lld", boot_ms);
        fputc('}', f);
}

struct boot_opts {
        const char *name, *image, *accel;
        unsigned vcpus, memory_mb, timeout_s;
        bool net;
};

static int vm_boot(const struct boot_opts *o)
{
        char dir[PATH_MAX], home[PATH_MAX], images[PATH_MAX], vmm[PATH_MAX], sock[PATH_MAX], vmlog[PATH_MAX];
        struct ak_error err = { 0 };
        struct vm_record rec;
        int r;

        if ((r = vm_registry_dir(o->name, dir, &err)) < 0 || (r = vm_registry_ak_home(home, &err)) < 0) {
                fprintf(stderr, "ak vm boot: %s\n", err.msg);
                return r == -EINVAL ? 2 : 1;
        }
        /* Before anything is written under it (the image store is). */
        if (ak_private_dir(home, &err) < 0) {
                fprintf(stderr, "ak vm boot: %s\n", err.msg);
                return 1;
        }
        if ((size_t)snprintf(sock, sizeof(sock), "%s/vsock.sock", dir) > 107) {
                fprintf(stderr, "ak vm boot: %s is too long for a Unix socket path (108 bytes): use a shorter "
                                "AK_HOME or VM name\n", sock);
                return 1;
        }
        if (vm_record_read(dir, &rec, NULL) == 0) {
                if (vm_proc_alive(rec.pid, rec.pid_start)) {
                        fprintf(stderr, "ak vm boot: a VM named %s is running (pid %d); `ak vm stop %s` first\n",
                                o->name, (int)rec.vmm_pid, o->name);
                        return 1;
                }
        }
        ak_rm_rf(dir); /* a stale one */
        if (binpath_find("vmm/ak-vmm", "AK_VMM_BIN", vmm, sizeof(vmm)) < 0) {
                fprintf(stderr, "ak vm boot: ak-vmm not found: build //vmm:ak-vmm (./ak does) "
                                "or set AK_VMM_BIN\n");
                return 1;
        }
        pathfmt(images, sizeof(images), "%s/images", home);
        struct image_store *store = NULL;
        struct image_boot b;
        struct cli_progress pr;
        cli_progress_init(&pr);
        struct image_progress ip = { cli_progress_report, &pr };
        if ((r = image_store_open(images, &store, &err)) == 0)
                r = image_resolve_boot(store, o->image, &ip, &b, &err);
        image_store_free(store);
        cli_progress_done(&pr);
        if (r < 0) {
                fprintf(stderr, "ak vm boot: %s\n", err.msg);
                return 1;
        }
        char root[PATH_MAX];
        vm_registry_root(root, NULL);
        /* 0700 and ours: vsock.sock is root in the guest, qmp.sock controls QEMU. */
        if (ak_private_dir(home, &err) < 0 || ak_private_dir(root, &err) < 0 || ak_private_dir(dir, &err) < 0) {
                fprintf(stderr, "ak vm boot: %s\n", err.msg);
                return 1;
        }
        long long t0 = ak_mono_ms();
        pid_t sup;
        enum vmm_accel accel = VMM_ACCEL_AUTO;
        vmm_accel_parse(o->accel, &accel);
        const struct vmbox_supervisor sv = {
                .bin = vmm, .dir = dir, .name = o->name, .kernel = b.kernel, .initrd = b.initrd,
                .rootfs = b.rootfs, .image = o->image, .image_hash = b.hash, .vcpus = o->vcpus,
                .memory_mb = o->memory_mb, .accel = accel, .network = o->net, .no_acpi = b.no_acpi,
        };
        if ((r = vmbox_spawn_supervisor(&sv, &sup)) < 0) {
                fprintf(stderr, "ak vm boot: start %s: %s\n", vmm, strerror(-r));
                ak_rm_rf(dir);
                return 1;
        }
        if (isatty(2))
                fprintf(stderr, "ak: booting %s...\r", o->name);
        pathfmt(vmlog, sizeof(vmlog), "%s/ak-vmm.log", dir);
        long long deadline = t0 + (long long)o->timeout_s * 1000;
        bool have_record = false, ready = false, gone = false;
        int status = 0, last = -ETIMEDOUT;
        while (ak_mono_ms() < deadline) {
                if (waitpid(sup, &status, WNOHANG) == sup) {
                        gone = true;
                        break;
                }
                if (!have_record)
                        have_record = vm_record_read(dir, &rec, NULL) == 0;
                if (have_record) {
                        long long left = deadline - ak_mono_ms();
                        last = guest_client_ping(rec.vsock_uds, left < 2000 ? (int)(left > 0 ? left : 1) : 2000);
                        if (last == 0) {
                                ready = true;
                                break;
                        }
                }
                usleep(50000);
        }
        if (isatty(2))
                fputs("\033[K", stderr);
        if (!ready) {
                if (gone)
                        fprintf(stderr, "ak vm boot: the VM exited before its guest agent answered (status %d)\n",
                                WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
                else
                        fprintf(stderr, "ak vm boot: the guest agent did not answer within %u s (%s)\n",
                                o->timeout_s, strerror(-last));
                print_tail(vmlog, "ak-vmm log");
                char console[PATH_MAX];
                pathfmt(console, sizeof(console), "%s/console.log", dir);
                print_tail(console, "console");
                if (have_record)
                        kill_vm(&rec, STOP_WAIT_MS);
                else
                        kill(sup, SIGKILL);
                waitpid(sup, &status, 0);
                ak_rm_rf(dir);
                return 1;
        }
        if (o->net && vm_guest_network_setup(rec.vsock_uds, strcmp(o->image, IMAGE_BASE) != 0, 30000, &err) < 0) {
                fprintf(stderr, "ak vm boot: %s\n", err.msg);
                kill_vm(&rec, STOP_WAIT_MS);
                waitpid(sup, &status, 0);
                ak_rm_rf(dir);
                return 1;
        }
        print_vm_json(stdout, &rec, ak_mono_ms() - t0, true);
        fputc('\n', stdout);
        return 0;
}

enum { VB_IMAGE = 1, VB_VCPUS, VB_MEMORY, VB_NET, VB_ACCEL, VB_TIMEOUT, VB_JSON };
static const struct cli_option boot_opts[] = {
        { "image", 0, true, VB_IMAGE },  { "vcpus", 0, true, VB_VCPUS }, { "memory-mb", 0, true, VB_MEMORY },
        { "net", 0, false, VB_NET },     { "accel", 0, true, VB_ACCEL }, { "timeout", 0, true, VB_TIMEOUT },
        { NULL, 0, false, 0 },
};
static const struct cli_option list_opts[] = { { "json", 0, false, VB_JSON }, { NULL, 0, false, 0 } };
static const struct cli_option *const boot_tables[] = { boot_opts, NULL };
static const struct cli_option *const list_tables[] = { list_opts, NULL };

static int boot_flag(struct boot_opts *o, const struct cli_opts *p, int id)
{
        switch (id) {
        case VB_IMAGE:
                o->image = p->arg;
                return 0;
        case VB_VCPUS:
                if (ak_parse_uint(p->arg, 1, VMM_MAX_VCPUS, &o->vcpus) < 0)
                        return cli_opts_bad_value(p, "expected 1..%d", VMM_MAX_VCPUS);
                return 0;
        case VB_MEMORY:
                if (ak_parse_uint(p->arg, VMM_MIN_MEMORY_MB, VMM_MAX_MEMORY_MB, &o->memory_mb) < 0)
                        return cli_opts_bad_value(p, "expected %d..%d", VMM_MIN_MEMORY_MB, VMM_MAX_MEMORY_MB);
                return 0;
        case VB_NET:
                o->net = true;
                return 0;
        case VB_ACCEL:
                if (strcmp(p->arg, "auto") && strcmp(p->arg, "kvm") && strcmp(p->arg, "tcg"))
                        return cli_opts_bad_value(p, "expected auto, kvm or tcg");
                o->accel = p->arg;
                return 0;
        default: /* VB_TIMEOUT */
                if (ak_parse_uint(p->arg, 1, 3600, &o->timeout_s) < 0)
                        return cli_opts_bad_value(p, "expected 1..3600 seconds");
                return 0;
        }
}

static int cmd_boot(int argc, char **argv)
{
        struct boot_opts o = { .image = IMAGE_BASE, .accel = "auto", .vcpus = 1, .memory_mb = 256,
                               .timeout_s = BOOT_TIMEOUT_S };
        const char *name = NULL;
        struct cli_opts p;
        int c, r;

        cli_opts_init(&p, &cli_cmd_vm, boot_tables, argc, argv);
        while ((c = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == CLI_OPT_POSITIONAL && name)
                        return cli_usage_error(&cli_cmd_vm, "boot takes exactly one NAME (also given %s)", p.arg);
                if (c == CLI_OPT_POSITIONAL)
                        name = p.arg;
                else if ((r = boot_flag(&o, &p, c)) != 0)
                        return r;
        }
        for (int i = p.dashdash ? cli_opts_index(&p) : argc; i < argc; i++) {
                if (name)
                        return cli_usage_error(&cli_cmd_vm, "boot takes exactly one NAME (also given %s)", argv[i]);
                name = argv[i];
        }
        if (!name)
                return cli_usage_error(&cli_cmd_vm, "boot takes exactly one NAME");
        o.name = name;
        if (vm_name_check(o.name) < 0)
                return cli_usage_error(&cli_cmd_vm, "invalid VM name '%s': use a-z, 0-9, '.', '_', '-'", o.name);
        if (image_name_check(o.image) < 0)
                return cli_usage_error(&cli_cmd_vm, "invalid image name '%s'", o.image);
        return vm_boot(&o);
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_list(int argc, char **argv)
{
        bool json = false;
        char root[PATH_MAX];
        struct ak_error err = { 0 };

        struct cli_opts p;
        int c;
        cli_opts_init(&p, &cli_cmd_vm, list_tables, argc, argv);
        while ((c = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == CLI_OPT_POSITIONAL)
                        return cli_usage_error(&cli_cmd_vm, "list: unexpected %s", p.arg);
                json = true;
        }
        if (p.dashdash && cli_opts_index(&p) < argc)
                return cli_usage_error(&cli_cmd_vm, "list: unexpected %s", argv[cli_opts_index(&p)]);
        if (vm_registry_root(root, &err) < 0) {
                fprintf(stderr, "ak vm list: %s\n", err.msg);
                return 1;
        }
        char *names[1024];
        size_t n = 0;
        DIR *d = opendir(root);
        if (d) {
                struct dirent *de;
                while ((de = readdir(d)) && n < 1024)
                        if (vm_name_check(de->d_name) == 0)
                                names[n++] = strdup(de->d_name);
                closedir(d);
        }
        qsort(names, n, sizeof(char *), cmp_names);
        if (json)
                fputc('[', stdout);
        else
                printf("%-20s %-8s %-8s %-12s %5s %7s  %s\n", "NAME", "STATE", "PID", "IMAGE", "VCPUS", "MEMORY",
                       "VSOCK");
        bool first = true;
        for (size_t i = 0; i < n; i++) {
                char dir[PATH_MAX];
                struct vm_record rec;
                if (vm_registry_dir(names[i], dir, NULL) < 0 || vm_record_read(dir, &rec, NULL) < 0) {
                        free(names[i]);
                        continue;
                }
                bool running = vm_proc_alive(rec.pid, rec.pid_start) && vm_proc_alive(rec.vmm_pid, rec.vmm_start);
                if (json) {
                        if (!first)
                                fputc(',', stdout);
                        print_vm_json(stdout, &rec, -1, running);
                } else {
                        char mem[16];
                        snprintf(mem, sizeof(mem), "%uM", rec.memory_mb);
                        printf("%-20s %-8s %-8d %-12s %5u %7s  %s\n", rec.name, running ? "running" : "exited",
                               (int)rec.vmm_pid, rec.image, rec.vcpus, mem, rec.vsock_uds);
                }
                first = false;
                free(names[i]);
        }
        if (json)
                fputs("]\n", stdout);
        return 0;
}

/* One VM: 0, or 1 reported. */
static int stop_one(const char *name, long long wait_ms)
{
        char dir[PATH_MAX];
        struct ak_error err = { 0 };
        struct vm_record rec;
        struct stat st;

        if (vm_registry_dir(name, dir, &err) < 0) {
                fprintf(stderr, "ak vm stop: %s\n", err.msg);
                return 1;
        }
        if (stat(dir, &st) < 0) {
                fprintf(stderr, "ak vm stop: no VM named %s (see `ak vm list`)\n", name);
                return 1;
        }
        if (vm_record_read(dir, &rec, NULL) == 0)
                kill_vm(&rec, wait_ms);
        int r = ak_rm_rf(dir);
        if (r < 0) {
                fprintf(stderr, "ak vm stop: remove %s: %s\n", dir, strerror(-r));
                return 1;
        }
        printf("stopped %s\n", name);
        return 0;
}

enum { STOP_TIME = 1 };
static const struct cli_option stop_opts[] = { { "time", 't', true, STOP_TIME }, { NULL, 0, false, 0 } };
static const struct cli_option *const stop_tables[] = { stop_opts, NULL };

/* stop [-t D] NAME...: every NAME is tried; 1 if any failed. */
static int cmd_stop(int argc, char **argv)
{
        uint64_t wait_s = STOP_WAIT_MS / 1000;
        const char *names[64];
        size_t n = 0;
        struct cli_opts p;
        int c;
        cli_opts_init(&p, &cli_cmd_vm, stop_tables, argc, argv);
        while ((c = cli_opts_next(&p)) != CLI_OPT_DONE) {
                if (c == CLI_OPT_ERROR)
                        return 2;
                if (c == STOP_TIME) {
                        if (strcmp(p.arg, "0") != 0 && ak_parse_duration(p.arg, 1, 600, &wait_s) < 0)
                                return cli_opts_bad_value(&p, "want 0, 10s, 2m (at most 10m)");
                        if (strcmp(p.arg, "0") == 0)
                                wait_s = 0;
                        continue;
                }
                if (n == sizeof(names) / sizeof(names[0]))
                        return cli_usage_error(&cli_cmd_vm, "stop: at most %zu NAMEs at a time", n);
                names[n++] = p.arg;
        }
        for (int i = cli_opts_index(&p); p.dashdash && i < argc; i++) {
                if (n == sizeof(names) / sizeof(names[0]))
                        return cli_usage_error(&cli_cmd_vm, "stop: at most %zu NAMEs at a time", n);
                names[n++] = argv[i];
        }
        if (!n)
                return cli_usage_error(&cli_cmd_vm, "stop: which VM? give its NAME (`ak vm list`)");
        int code = 0;
        for (size_t i = 0; i < n; i++)
                if (stop_one(names[i], (long long)wait_s * 1000))
                        code = 1;
        return code;
}

int cli_vm_run(int argc, char **argv)
{
        if (argc < 2)
                return cli_usage_error(&cli_cmd_vm, "missing subcommand: boot, list or stop");
        const char *sub = argv[1];
        if (strcmp(sub, "boot") == 0)
                return cmd_boot(argc - 1, argv + 1);
        if (strcmp(sub, "list") == 0)
                return cmd_list(argc - 1, argv + 1);
        if (strcmp(sub, "stop") == 0)
                return cmd_stop(argc - 1, argv + 1);
        return cli_usage_error(&cli_cmd_vm, "unknown subcommand '%s': boot, list or stop", sub);
}

const struct cli_sub cli_vm_subs[] = {
        { "boot", boot_tables }, { "list", list_tables }, { "stop", stop_tables }, { NULL, NULL },
};
