/* bench/density: what an idle sandbox costs the host, and how long it takes
 * to boot, for several VM settings in the same run.
 *
 * Each variant boots --vms VMs under `ak-vmm` (the supervisor with the
 * vsock bridge, QEMU microvm under it), boots interleaved across variants so
 * that all see the same machine load; once every VM answers a ping they idle
 * together for --settle seconds (free page reporting waits 2 s before it
 * reports), then for every VM the bench reads /proc/PID/smaps of QEMU and
 * ak-vmm and the guest memfd's allocated size:
 *
 *   guest RAM held   blocks of QEMU's memory-backend-memfd (what the guest
 *                    touched and has not given back; shared with the bridge)
 *   TCG cache        Pss of QEMU's executable anonymous mappings (the
 *                    translation buffer)
 *   QEMU anon        Pss of QEMU's other anonymous mappings (heap, stacks)
 *   QEMU files       Pss of QEMU's file mappings (binary, libraries; shared
 *                    by all QEMUs, so Pss falls as VMs are added)
 *   ak-vmm           Pss of the supervisor without the guest memfd
 *   per sandbox      the sum: what one more idle sandbox costs the node
 *
 * The page cache of kernel and initramfs (and a root image) is shared by
 * every VM on the node and printed once.
 *
 *   bazel run -c opt //bench/density -- [--vms N] [--settle S]
 *       [--image NAME] [--variants stock,lean,tb16,...]
 *   bazel run -c opt //bench/density -- --fit N [--settle S] [--variants V]
 *
 * --fit N boots idle VMs of the first variant one after another until N
 * run or the node reaches the executor's memory-pressure limit (capacity.h:
 * under 10% of MemTotal available, or PSI), and reports their cost; what
 * more would fit is printed as an extrapolation, labelled as one.
 *
 * Variants: "stock" (ak-vmm --stock-boot: the settings before the density
 * work), "lean" (the defaults), "small" (the defaults on ak's small kernel:
 * the kernel and base image of the store --small-store DIR, where `ak image
 * kernel bazel-bin/vmm/kernel/bzImage` installed it), "tbN" (the defaults with a TCG translation
 * cache of N MiB; "smalltbN" both), "prN" (the defaults, the guest reporting free blocks of
 * 4 KiB << N; pr9 is the kernel's own 2 MiB). The first listed is the
 * baseline. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/base/binpath.h"
#include "lib/base/fs.h"
#include "lib/base/time.h"
#include "lib/guest/guest_client.h"
#include "lib/guest/protocol.h"
#include "services/executor/capacity.h"
#include "vmm/backend/vmm_qemu.h"
#include "vmm/image/image.h"
#include "vmm/vm_registry.h"

extern char **environ;

#define MAX_VARIANTS 6
#define MAX_VMS 64
#define MAX_FIT 1000
#define MAX_WORK 20

struct mem {
        double guest, tcg, anon, files, vmm; /* MiB */
};

struct vm_run {
        pid_t sup;
        struct vm_record rec;
        char dir[PATH_MAX];
        double boot_ms;
        uint64_t cpu_ticks0; /* QEMU's utime + stime when the idle window began */
        double idle_cpu_pct; /* of one core, over the idle window */
        struct mem m;
        double exec_ms;
        double boot_cpu_ms;  /* QEMU's utime + stime from its start to the agent's answer */
        double work_ms[MAX_WORK], work_cpu_ms[MAX_WORK];
        double tcg_after;    /* TCG cache Pss after the workload, MiB */
};

struct variant {
        char name[16];
        const struct image_boot *ib; /* kernel + initramfs (+ root) it boots */
        bool stock;
        bool small;   /* boots the --small-store's kernel (ak's small kernel) */
        unsigned tb_mb;
        int report_order; /* -1: ak-vmm's default */
        struct vm_run *vms; /* g_vms of them (--fit: g_fit) */
        int n_ready;
};

static int g_vms = 4, g_settle = 12, g_fit, g_work;
static const char *g_image = "base", *g_small_store;

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* The p-th quantile of v[0..n) (sorted in place). Fails loudly when empty. */
static double quantile(double *v, int n, double p)
{
        if (n <= 0) {
                fprintf(stderr, "density: no samples\n");
                exit(1);
        }
        qsort(v, (size_t)n, sizeof(double), cmp_double);
        return v[(int)(p * (n - 1) + 0.5)];
}

static bool is_anon(const char *path)
{
        return !*path || path[0] == '[';
}

/* Adds the Pss of pid's mappings to m (QEMU's by kind, ak-vmm's all in
 * m->vmm), except the guest memfd's: that is counted once, by its blocks. */
static int smaps_read(pid_t pid, bool qemu, struct mem *m)
{
        char path[64], line[512], name[PATH_MAX] = "", perms[8] = "";
        snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                unsigned long lo, hi, kib;
                int off = 0;
                if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &off) == 3 && off > 0) {
                        snprintf(name, sizeof(name), "%s", line + off);
                        name[strcspn(name, "\n")] = 0;
                        continue;
                }
                if (sscanf(line, "Pss: %lu kB", &kib) != 1)
                        continue;
                double mib = kib / 1024.0;
                if (strncmp(name, "/memfd:memory-backend-memfd", 27) == 0)
                        continue; /* counted once, by its blocks */
                if (!qemu)
                        m->vmm += mib;
                else if ((is_anon(name) && strchr(perms, 'x')) || strncmp(name, "/memfd:tcg-jit", 14) == 0)
                        m->tcg += mib;
                else if (is_anon(name))
                        m->anon += mib;
                else
                        m->files += mib;
        }
        fclose(f);
        return 0;
}

/* utime + stime of pid, in clock ticks. */
static int cpu_ticks(pid_t pid, uint64_t *ret)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *p = strrchr(buf, ')'); /* the command may hold spaces */
        unsigned long long ut, st;
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
                return -EINVAL;
        *ret = ut + st;
        return 0;
}

static int boot_one(const char *vmm_bin, struct variant *v, int i, const char *base)
{
        const struct image_boot *ib = v->ib;
        struct vm_run *run = &v->vms[i];
        char tb[16], order[16], name[32], dir[PATH_MAX];
        snprintf(name, sizeof(name), "d-%s-%d", v->name, i);
        snprintf(dir, sizeof(dir), "%s/%s", base, name);
        memcpy(run->dir, dir, sizeof(dir));
        snprintf(tb, sizeof(tb), "%u", v->tb_mb);
        mkdir(run->dir, 0700);
        const char *argv[20] = { vmm_bin, "--dir", run->dir, "--name", name, "--kernel", ib->kernel,
                                 "--initrd", ib->initrd };
        int n = 9;
        if (*ib->rootfs) {
                argv[n++] = "--rootfs";
                argv[n++] = ib->rootfs;
        }
        if (v->stock)
                argv[n++] = "--stock-boot";
        if (ib->no_acpi)
                argv[n++] = "--no-acpi";
        if (v->tb_mb) {
                argv[n++] = "--tcg-tb-mb";
                argv[n++] = tb;
        }
        if (v->report_order >= 0) {
                snprintf(order, sizeof(order), "%d", v->report_order);
                argv[n++] = "--page-reporting-order";
                argv[n++] = order;
        }
        argv[n] = NULL;
        uint64_t t0 = ak_mono_ns();
        if (posix_spawn(&run->sup, vmm_bin, NULL, NULL, (char *const *)argv, environ) != 0) {
                fprintf(stderr, "density: spawn %s: %s\n", vmm_bin, strerror(errno));
                return -1;
        }
        while (ak_mono_ns() - t0 < 120ull * 1000 * 1000 * 1000) {
                if (vm_record_read(run->dir, &run->rec, NULL) == 0 && guest_client_ping(run->rec.vsock_uds, 1000) == 0) {
                        run->boot_ms = (ak_mono_ns() - t0) / 1e6;
                        uint64_t ticks = 0;
                        if (cpu_ticks(run->rec.vmm_pid, &ticks) == 0)
                                run->boot_cpu_ms = 1000.0 * (double)ticks / (double)sysconf(_SC_CLK_TCK);
                        v->n_ready++;
                        return 0;
                }
                if (waitpid(run->sup, NULL, WNOHANG) == run->sup) {
                        run->sup = 0;
                        break;
                }
                usleep(5000);
        }
        fprintf(stderr, "density: VM %s (%s) did not answer; see %s/console.log\n", name, v->name, run->dir);
        return -1;
}

static double exec_true_ms(const char *uds)
{
        const char *argv[] = { "true" };
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.id = "d";
        a.type = "run";
        a.command = argv;
        a.n_command = 1;
        int fd = -1;
        double best = -1;
        if (guest_client_connect(uds, GUEST_AGENT_PORT, 10000, &fd) < 0)
                return -1;
        for (int i = 0; i < 10; i++) {
                struct proto_reply *r = NULL;
                uint64_t t0 = ak_mono_ns();
                int rc = guest_client_call(fd, &a, 30000, &r);
                double ms = (ak_mono_ns() - t0) / 1e6;
                bool ok = rc == 0 && r && r->exit_code == 0;
                proto_reply_free(r);
                if (!ok) {
                        best = -1;
                        break;
                }
                if (i >= 2 && (best < 0 || ms < best)) /* two warm-up calls */
                        best = ms;
        }
        close(fd);
        return best;
}

/* A workload that runs much guest code (busybox or coreutils, the kernel's
 * file, pipe and process paths; python3 importing a dozen modules where the
 * image has it), for the TCG cache's size: wall and QEMU CPU milliseconds
 * per run. */
#define WORKLOAD                                                                                       \
        "cd /tmp; tar cf m.tar /lib/modules /bin 2>/dev/null; for i in 1 2 3; do "                     \
        "gzip -c m.tar | gunzip -c | md5sum >/dev/null; done; seq 1 4000 | "                            \
        "awk '{s+=$1*$1} END{print s}' | sed s/0/x/g >/dev/null; find / -xdev 2>/dev/null | sort | "    \
        "wc -l >/dev/null; for i in 1 2 3 4 5 6 7 8; do ls -l /bin >/dev/null; done; rm -f m.tar; "     \
        "if command -v python3 >/dev/null; then python3 -c 'import json, re, collections, decimal, "    \
        "fractions, statistics, email.parser, xml.dom.minidom, unittest, argparse, csv; "      \
        "print(sum(len(json.dumps(list(range(i)))) for i in range(300)))' >/dev/null; fi"

static int workload(struct vm_run *run, int i)
{
        const char *argv[] = { "/bin/sh", "-c", WORKLOAD };
        struct proto_request_args a = PROTO_REQUEST_ARGS_INIT;
        a.id = "w";
        a.type = "run";
        a.command = argv;
        a.n_command = 3;
        int fd = -1;
        uint64_t c0 = 0, c1 = 0;
        struct proto_reply *r = NULL;
        if (guest_client_connect(run->rec.vsock_uds, GUEST_AGENT_PORT, 10000, &fd) < 0)
                return -1;
        uint64_t t0 = ak_mono_ns();
        int rc = cpu_ticks(run->rec.vmm_pid, &c0);
        if (rc == 0)
                rc = guest_client_call(fd, &a, 300000, &r);
        run->work_ms[i] = (ak_mono_ns() - t0) / 1e6;
        if (rc == 0)
                rc = cpu_ticks(run->rec.vmm_pid, &c1);
        close(fd);
        bool ok = rc == 0 && r && r->exit_code == 0;
        if (!ok)
                fprintf(stderr, "density: workload on %s: %s\n", run->dir,
                        rc < 0 ? strerror(-rc) : r && r->stderr_str ? r->stderr_str : "non-zero exit");
        proto_reply_free(r);
        run->work_cpu_ms[i] = 1000.0 * (double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK);
        return ok ? 0 : -1;
}

static void report_work(struct variant *v)
{
        static double wall[MAX_VMS * MAX_WORK], cpu[MAX_VMS * MAX_WORK], tcg[MAX_VMS];
        int n = 0, m = 0;
        for (int i = 0; i < g_vms; i++) {
                for (int k = 0; k < g_work; k++, n++) {
                        wall[n] = v->vms[i].work_ms[k];
                        cpu[n] = v->vms[i].work_cpu_ms[k];
                }
                tcg[m++] = v->vms[i].tcg_after;
        }
        printf("%-8s workload x%d per VM | wall p50 %6.0f ms (min %6.0f) | QEMU CPU p50 %6.0f ms (min %6.0f) | "
               "TCG cache after %5.1f MiB\n",
               v->name, g_work, quantile(wall, n, 0.5), quantile(wall, n, 0), quantile(cpu, n, 0.5), quantile(cpu, n, 0),
               quantile(tcg, m, 0.5));
}

static int measure(struct vm_run *run)
{
        memset(&run->m, 0, sizeof(run->m));
        uint64_t guest = 0;
        if (vmm_qemu_guest_ram_bytes(run->rec.vmm_pid, &guest) < 0)
                return -1;
        run->m.guest = guest / 1048576.0;
        if (smaps_read(run->rec.vmm_pid, true, &run->m) < 0 ||
            smaps_read(run->sup, false, &run->m) < 0)
                return -1;
        run->exec_ms = exec_true_ms(run->rec.vsock_uds);
        return run->exec_ms < 0 ? -1 : 0;
}

static void report(struct variant *v, const struct variant *base)
{
        double boot[MAX_VMS], cpu[MAX_VMS], guest[MAX_VMS], tcg[MAX_VMS], anon[MAX_VMS], files[MAX_VMS], vmm[MAX_VMS],
                total[MAX_VMS], exec[MAX_VMS], bcpu[MAX_VMS];
        int n = 0;
        for (int i = 0; i < g_vms; i++) {
                struct vm_run *r = &v->vms[i];
                if (!r->sup || r->exec_ms < 0)
                        continue;
                boot[n] = r->boot_ms;
                bcpu[n] = r->boot_cpu_ms;
                cpu[n] = r->idle_cpu_pct;
                guest[n] = r->m.guest, tcg[n] = r->m.tcg, anon[n] = r->m.anon, files[n] = r->m.files;
                vmm[n] = r->m.vmm, exec[n] = r->exec_ms;
                total[n] = r->m.guest + r->m.tcg + r->m.anon + r->m.files + r->m.vmm;
                n++;
        }
        printf("%-8s %2d VMs | boot p50 %6.0f ms (min %5.0f max %5.0f), QEMU CPU p50 %5.0f ms | run[true] %5.1f ms | "
               "idle CPU %.1f%%\n",
               v->name, n, quantile(boot, n, 0.5), quantile(boot, n, 0), quantile(boot, n, 1), quantile(bcpu, n, 0.5),
               quantile(exec, n, 0.5), quantile(cpu, n, 0.5));
        printf("         MiB p50: guest RAM held %6.1f  TCG cache %5.1f  QEMU anon %5.1f  QEMU files %5.1f  "
               "ak-vmm %4.1f  = per sandbox %6.1f (max %6.1f)%s\n",
               quantile(guest, n, 0.5), quantile(tcg, n, 0.5), quantile(anon, n, 0.5), quantile(files, n, 0.5),
               quantile(vmm, n, 0.5), quantile(total, n, 0.5), quantile(total, n, 1),
               v == base ? "  (baseline)" : "");
}

static void stop_all(struct variant *vs, int nv)
{
        for (int k = 0; k < nv; k++)
                for (int i = 0; i < g_vms; i++)
                        if (vs[k].vms[i].sup > 0)
                                kill(vs[k].vms[i].sup, SIGTERM);
        for (int k = 0; k < nv; k++)
                for (int i = 0; i < g_vms; i++)
                        if (vs[k].vms[i].sup > 0)
                                waitpid(vs[k].vms[i].sup, NULL, 0);
}

/* MemAvailable and MemTotal now, through the executor's own reader; the
 * pressure check is the executor's refusal (10% kept free, PSI). */
static int probe(struct capacity_probe *p, bool *ret_pressure, char *why, size_t why_size)
{
        struct ak_error err = { 0 };
        if (capacity_probe_read(NULL, p, &err) < 0) {
                fprintf(stderr, "density: %s\n", err.msg);
                return -1;
        }
        *ret_pressure = capacity_pressure_check(p, &err) < 0;
        snprintf(why, why_size, "%s", err.msg);
        return 0;
}

static double loadavg1(void)
{
        double l = -1;
        FILE *f = fopen("/proc/loadavg", "re");
        if (f) {
                if (fscanf(f, "%lf", &l) != 1)
                        l = -1;
                fclose(f);
        }
        return l;
}

/* --fit N: boots idle sandboxes of the first variant one after another
 * until N run or the node reaches the executor's memory-pressure limit
 * (under 10% of MemTotal available, or PSI), then reports what N cost:
 * MemAvailable's fall (the host's view, noisy on a shared machine) and the
 * per-VM smaps breakdown (QEMU + ak-vmm + guest RAM held). */
static int fit(const char *vmm_bin, struct variant *v, const char *base)
{
        struct capacity_probe p0, p;
        bool pressure = false;
        char why[AK_ERROR_MAX];
        if (probe(&p0, &pressure, why, sizeof(why)) < 0)
                return 1;
        printf("bench/density --fit %d (%s, image %s): MemTotal %.0f MiB, MemAvailable %.0f MiB at start, load %.1f\n",
               g_fit, v->name, g_image, p0.mem_total_kib / 1024.0, p0.mem_available_kib / 1024.0, loadavg1());
        if (pressure) {
                printf("stopped before the first VM: %s\n", why);
                return 1;
        }
        uint64_t t0 = ak_mono_ns();
        int n = 0, failed = 0;
        while (n < g_fit) {
                if (probe(&p, &pressure, why, sizeof(why)) < 0 || pressure)
                        break;
                if (boot_one(vmm_bin, v, n, base) < 0) {
                        failed = 1;
                        break;
                }
                n++;
                if ((n % 5 == 0 || n == g_fit) && probe(&p, &pressure, why, sizeof(why)) == 0)
                        printf("  %4d VMs  MemAvailable %8.0f MiB  (%.1f MiB less per VM)  %.0f s  load %.1f\n", n,
                               p.mem_available_kib / 1024.0,
                               ((double)p0.mem_available_kib - (double)p.mem_available_kib) / 1024.0 / n,
                               (ak_mono_ns() - t0) / 1e9, loadavg1());
        }
        if (pressure)
                printf("stopped at %d VMs: %s\n", n, why);
        if (n && !failed) {
                sleep((unsigned)g_settle);
                double total = 0, pss[MAX_FIT];
                for (int i = 0; i < n; i++) {
                        struct vm_run *r = &v->vms[i];
                        uint64_t g = 0;
                        memset(&r->m, 0, sizeof(r->m));
                        if (vmm_qemu_guest_ram_bytes(r->rec.vmm_pid, &g) < 0 || smaps_read(r->rec.vmm_pid, true, &r->m) < 0 ||
                            smaps_read(r->sup, false, &r->m) < 0) {
                                fprintf(stderr, "density: measuring VM %d failed\n", i);
                                failed = 1;
                                break;
                        }
                        pss[i] = g / 1048576.0 + r->m.tcg + r->m.anon + r->m.files + r->m.vmm;
                        total += pss[i];
                }
                if (!failed && probe(&p, &pressure, why, sizeof(why)) == 0) {
                        double fell = ((double)p0.mem_available_kib - (double)p.mem_available_kib) / 1024.0;
                        double usable = (p0.mem_total_kib * 0.9 - (p0.mem_total_kib - p0.mem_available_kib)) / 1024.0;
                        double per = total / n;
                        printf("%d idle VMs after %d s settle: PSS sum %.0f MiB (p50 %.1f MiB per VM); MemAvailable fell "
                               "%.0f MiB (%.1f per VM, includes other work on this machine)\n",
                               n, g_settle, total, quantile(pss, n, 0.5), fell, fell / n);
                        printf("EXTRAPOLATED, not booted: %.0f MiB were usable above the 10%% reserve at the start "
                               "-> %.0f VMs in all at %.1f MiB each (memory only; vCPUs and boot CPU not counted)\n",
                               usable, usable / per, per);
                }
        }
        for (int i = 0; i < g_fit; i++)
                if (v->vms[i].sup > 0)
                        kill(v->vms[i].sup, SIGTERM);
        for (int i = 0; i < g_fit; i++)
                if (v->vms[i].sup > 0)
                        waitpid(v->vms[i].sup, NULL, 0);
        return failed || n == 0;
}

static int parse_variants(const char *s, struct variant *vs, int *ret_n)
{
        char buf[256];
        int n = 0;
        snprintf(buf, sizeof(buf), "%s", s);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (n == MAX_VARIANTS)
                        return -E2BIG;
                struct variant *v = &vs[n++];
                snprintf(v->name, sizeof(v->name), "%s", t);
                v->report_order = -1;
                if (strncmp(t, "small", 5) == 0) { /* "small", or "smalltbN": the small kernel with tbN */
                        v->small = true;
                        t += 5;
                        if (!*t)
                                continue;
                }
                if (strcmp(t, "stock") == 0 && !v->small)
                        v->stock = true;
                else if (strncmp(t, "tb", 2) == 0 && atoi(t + 2) > 0 && atoi(t + 2) <= 4096)
                        v->tb_mb = (unsigned)atoi(t + 2);
                else if (strncmp(t, "pr", 2) == 0 && t[2] >= '0' && t[2] <= '9' && atoi(t + 2) <= 10)
                        v->report_order = atoi(t + 2);
                else if (strcmp(t, "lean") != 0)
                        return -EINVAL;
        }
        *ret_n = n;
        return n ? 0 : -EINVAL;
}

/* The boot inputs of g_image in the store at dir. */
static int resolve(const char *dir, struct image_boot *ret, struct ak_error *err)
{
        struct image_store *s = NULL;
        int r = image_store_open(dir, &s, err);
        if (r == 0)
                r = image_resolve_boot(s, g_image, NULL, ret, err);
        image_store_free(s);
        return r;
}

static double file_mib(const char *path)
{
        struct stat st;
        return *path && stat(path, &st) == 0 ? st.st_size / 1048576.0 : 0;
}

int main(int argc, char **argv)
{
        static struct variant vs[MAX_VARIANTS];
        const char *variants = "stock,lean";
        int nv = 0;
        for (int i = 1; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--vms") == 0)
                        g_vms = atoi(argv[i + 1]);
                else if (strcmp(argv[i], "--settle") == 0)
                        g_settle = atoi(argv[i + 1]);
                else if (strcmp(argv[i], "--image") == 0)
                        g_image = argv[i + 1];
                else if (strcmp(argv[i], "--small-store") == 0)
                        g_small_store = argv[i + 1];
                else if (strcmp(argv[i], "--variants") == 0)
                        variants = argv[i + 1];
                else if (strcmp(argv[i], "--workload") == 0)
                        g_work = atoi(argv[i + 1]);
                else if (strcmp(argv[i], "--fit") == 0 && (g_fit = atoi(argv[i + 1])) < 1)
                        g_fit = -1;
                else if (strcmp(argv[i], "--fit") != 0 && strcmp(argv[i], "--workload") != 0)
                        g_vms = -1;
        }
        if (argc % 2 == 0 || g_vms < 1 || g_vms > MAX_VMS || g_settle < 0 || g_fit < 0 || g_fit > MAX_FIT || g_work < 0 ||
            g_work > MAX_WORK ||
            parse_variants(variants, vs, &nv) < 0) {
                fprintf(stderr, "usage: density [--vms 1..%d] [--settle S] [--image NAME] "
                                "[--variants stock,lean,small,tbN,prN,...] [--small-store DIR] [--workload 0..%d]\n"
                                "       density --fit 1..%d [--settle S] [--image NAME] [--variants V]\n",
                        MAX_VMS, MAX_WORK, MAX_FIT);
                return 2;
        }
        for (int k = 0; k < nv; k++)
                if (!(vs[k].vms = calloc((size_t)(g_fit ? g_fit : g_vms), sizeof(struct vm_run)))) {
                        fprintf(stderr, "density: out of memory\n");
                        return 1;
                }
        signal(SIGPIPE, SIG_IGN);
        char vmm_bin[PATH_MAX], home[PATH_MAX], dir[PATH_MAX];
        struct ak_error err = { 0 };
        if (binpath_find("vmm/ak-vmm", "AK_VMM_BIN", vmm_bin, sizeof(vmm_bin)) < 0) {
                fprintf(stderr, "density: ak-vmm not found (build //vmm:ak-vmm or set AK_VMM_BIN)\n");
                return 1;
        }
        static struct image_boot ib, ib_small;
        if (vm_registry_ak_home(home, &err) < 0 || snprintf(dir, sizeof(dir), "%s/images", home) >= (int)sizeof(dir) ||
            resolve(dir, &ib, &err) < 0) {
                fprintf(stderr, "density: image %s: %s\n", g_image, err.msg);
                return 1;
        }
        for (int k = 0; k < nv; k++) {
                vs[k].ib = vs[k].small ? &ib_small : &ib;
                if (vs[k].small && !g_small_store) {
                        fprintf(stderr, "density: the small variant needs --small-store DIR (an image store whose "
                                        "kernel is ak's small one: AK_HOME=X ak image kernel bazel-bin/vmm/kernel/bzImage "
                                        "makes X/images)\n");
                        return 2;
                }
        }
        if (g_small_store && resolve(g_small_store, &ib_small, &err) < 0) {
                fprintf(stderr, "density: image %s in %s: %s\n", g_image, g_small_store, err.msg);
                return 1;
        }
        char base[] = "/tmp/akdens.XXXXXX";
        if (!mkdtemp(base)) {
                perror("density: mkdtemp");
                return 1;
        }
        if (g_fit) {
                int r = fit(vmm_bin, &vs[0], base);
                ak_rm_rf(base);
                return r;
        }
        printf("bench/density: %d idle VMs per variant (image %s, 1 vCPU, 256 MiB), settle %d s, boots interleaved\n",
               g_vms, g_image, g_settle);
        int failed = 0;
        for (int i = 0; i < g_vms; i++)
                for (int k = 0; k < nv; k++) /* rotate which variant boots first */
                        failed |= boot_one(vmm_bin, &vs[(k + i) % nv], i, base) < 0;
        uint64_t t0 = ak_mono_ns();
        for (int k = 0; k < nv; k++)
                for (int i = 0; i < g_vms && !failed; i++)
                        failed |= cpu_ticks(vs[k].vms[i].rec.vmm_pid, &vs[k].vms[i].cpu_ticks0) < 0;
        if (!failed) {
                sleep((unsigned)g_settle);
                double secs = (ak_mono_ns() - t0) / 1e9, hz = (double)sysconf(_SC_CLK_TCK);
                for (int k = 0; k < nv; k++)
                        for (int i = 0; i < g_vms; i++) {
                                uint64_t t1 = 0;
                                struct vm_run *run = &vs[k].vms[i];
                                failed |= cpu_ticks(run->rec.vmm_pid, &t1) < 0;
                                run->idle_cpu_pct = 100.0 * (double)(t1 - run->cpu_ticks0) / hz / secs;
                        }
                for (int k = 0; k < nv; k++)
                        for (int i = 0; i < g_vms; i++)
                                if (measure(&vs[k].vms[i]) < 0) {
                                        fprintf(stderr, "density: measuring %s VM %d failed\n", vs[k].name, i);
                                        failed = 1;
                                }
                /* Rounds across every VM of every variant, rotated, so load
                 * from other work falls on all alike. */
                for (int w = 0; w < g_work && !failed; w++)
                        for (int i = 0; i < g_vms && !failed; i++)
                                for (int k = 0; k < nv && !failed; k++)
                                        failed |= workload(&vs[(k + i + w) % nv].vms[i], w) < 0;
                for (int k = 0; k < nv && g_work && !failed; k++)
                        for (int i = 0; i < g_vms; i++) {
                                struct mem m = { 0 };
                                failed |= smaps_read(vs[k].vms[i].rec.vmm_pid, true, &m) < 0;
                                vs[k].vms[i].tcg_after = m.tcg;
                        }
        }
        if (!failed) {
                printf("accel %s; shared once per node (page cache): kernel %.1f MiB, initrd %.1f MiB, root %.1f MiB\n",
                       vs[0].vms[0].rec.accel, file_mib(ib.kernel), file_mib(ib.initrd), file_mib(ib.rootfs));
                if (g_small_store)
                        printf("small kernel (%s): kernel %.1f MiB, initrd %.1f MiB\n", ib_small.kernel,
                               file_mib(ib_small.kernel), file_mib(ib_small.initrd));
                for (int k = 0; k < nv; k++)
                        report(&vs[k], &vs[0]);
                for (int k = 0; k < nv && g_work; k++)
                        report_work(&vs[k]);
        }
        stop_all(vs, nv);
        ak_rm_rf(base);
        return failed;
}
